"""Fixtures every integration test shares: ledgers opened on the test's store."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import uuid
from collections.abc import Callable, Iterator

import nats
import psycopg
import pytest
from nats.js.errors import NotFoundError

from api.http.request_log import LOGGER_NAME, JsonFormatter
from ledger.application import FundLedger
from ledger.persistence.scratch import scratch_database
from ledger.settings import Settings
from ledger.shards import ShardMap
from projections.nats_relay import RelayTarget
from tests.conftest import PG_ADMIN_URL

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


# -- two districts on two PostgreSQL databases (test_shards, test_city_audit) -----------------

WEST_DISTRICT = "110105"  # on the shard "west"; every other district on "east", the default


@pytest.fixture
def nats_tag() -> Iterator[str]:
    """A tag for the test's own JetStream streams, deleted afterwards."""
    require_nats()
    tag = uuid.uuid4().hex[:10]
    yield tag
    asyncio.run(delete_streams(f"FLSHARD_{tag}_"))


async def delete_streams(prefix: str) -> None:
    connection = await nats.connect(NATS_URL)
    try:
        js = connection.jetstream()
        for name in await js.streams_info():
            if name.config.name and name.config.name.startswith(prefix):
                with contextlib.suppress(NotFoundError):
                    await js.delete_stream(name.config.name)
    finally:
        await connection.close()


@pytest.fixture
def pg_shard_map(pg_database: str, nats_tag: str) -> Iterator[ShardMap]:
    """Two shard databases of their own (east, the default; west); the city's global tables
    in a schema of the session's database."""
    schema = f"city_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        with scratch_database(PG_ADMIN_URL, "fundledger_east") as east, \
                scratch_database(PG_ADMIN_URL, "fundledger_west") as west:
            yield ShardMap(city=f"{pg_database}?schema={schema}", default="east",
                           shards={"east": east, "west": west},
                           districts={WEST_DISTRICT: "west"}, nats_url=NATS_URL,
                           nats_stream=f"FLSHARD_{nats_tag}", subject_prefix=f"flshard{nats_tag}")
    finally:
        with psycopg.connect(pg_database, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
