"""Fixtures every integration test shares: ledgers opened on the test's store."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import uuid
from collections.abc import Callable, Iterator

import nats
import pytest
from nats.js.errors import NotFoundError

from api.http.request_log import LOGGER_NAME, JsonFormatter
from ledger.application import FundLedger
from ledger.settings import Settings
from projections.nats_relay import RelayTarget

NATS_URL = os.environ.get("FUNDLEDGER_TEST_NATS_URL", "nats://127.0.0.1:4222")
REQUIRE_NATS = os.environ.get("FUNDLEDGER_REQUIRE_NATS", "") not in ("", "0", "no")


@pytest.fixture
def open_ledger(db_url: str) -> Iterator[Callable[[], FundLedger]]:
    """Opens FundLedger instances on the test's store and closes them all afterwards."""
    opened: list[FundLedger] = []

    def make() -> FundLedger:
        app = FundLedger(Settings(db=db_url))
        opened.append(app)
        return app

    yield make
    for app in opened:
        app.close()


@pytest.fixture
def app(open_ledger: Callable[[], FundLedger]) -> FundLedger:
    """An empty ledger on the test's store."""
    return open_ledger()


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the request log writes, formatted as ``serve`` formats it by default."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(LOGGER_NAME)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def _delete_stream(target: RelayTarget) -> None:
    connection = await nats.connect(target.url)
    try:
        await connection.jetstream().delete_stream(target.stream)
    except NotFoundError:
        pass
    finally:
        await connection.close()


def require_nats() -> None:
    """The test NATS server answers, or the test skips (fails when FUNDLEDGER_REQUIRE_NATS)."""
    async def reachable() -> None:
        connection = await nats.connect(NATS_URL, connect_timeout=2, max_reconnect_attempts=0)
        await connection.close()

    try:
        asyncio.run(reachable())
    except Exception as error:
        if REQUIRE_NATS:
            pytest.fail(f"NATS not reachable at {NATS_URL}: {error!r}")
        pytest.skip(f"NATS not reachable at {NATS_URL}: {error!r}")


@pytest.fixture
def target() -> Iterator[RelayTarget]:
    """A JetStream stream of the test's own on the test NATS server, deleted afterwards
    (skipped without a server, failed when FUNDLEDGER_REQUIRE_NATS is set)."""
    require_nats()
    tag = uuid.uuid4().hex[:10]
    relay_target = RelayTarget(url=NATS_URL, stream=f"FLTEST_{tag}", subject_prefix=f"fl{tag}")
    yield relay_target
    asyncio.run(_delete_stream(relay_target))
