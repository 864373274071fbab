"""The JetStream relay publishes every event once, in log order, across kills and restarts.

Needs the NATS server with JetStream at 127.0.0.1:4222 (FUNDLEDGER_TEST_NATS_URL); without it
these tests skip with the reason, unless FUNDLEDGER_REQUIRE_NATS=1 (CI) makes that a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import nats
from nats.js.errors import NotFoundError

from domain.unit_account import first_deposit_due_fen
from ledger.application import FundLedger
from ledger.commands import DepositLine, UnitRow
from ledger.settings import Settings
from projections.nats_relay import NatsRelay, RelayTarget
from projections.views import VIEWS

CODE = "NR-1"
ROOT = Path(__file__).resolve().parents[2]


async def _messages(target: RelayTarget) -> list[tuple[str, dict[str, object], str]]:
    """Every message of the stream in stream order: (Nats-Msg-Id, CloudEvent, subject)."""
    connection = await nats.connect(target.url)
    try:
        js = connection.jetstream()
        try:
            info = await js.stream_info(target.stream)
        except NotFoundError:
            return []  # the relay has not created it yet
        if not info.state.messages:
            return []
        found = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(target.stream, seq)
            assert msg.headers is not None and msg.data is not None
            found.append((msg.headers["Nats-Msg-Id"], json.loads(msg.data), msg.subject))
        return found
    finally:
        await connection.close()


def _ledger_with_units(db: str, units: int = 12) -> FundLedger:
    app = FundLedger(Settings(db=db))
    app.register_units([UnitRow(CODE, "Relay Court", "110105", "110105001", "1", str(100 + n),
                                8_000 + n, "register", [f"o{n}"]) for n in range(units)],
                       effective_date=date(2026, 1, 1), actor="test")
    return app


def _deposit(app: FundLedger, n: int) -> None:
    unit = 100 + n % 12
    if n < 12:
        line = DepositLine(f"D-{n}", CODE, "1", str(unit),
                           first_deposit_due_fen(8_000 + n, app.settings.deposit_rate_fen_per_m2),
                           date(2026, 2, 1), "first")
    else:
        line = DepositLine(f"D-{n}", CODE, "1", str(unit), 100 + n, date(2026, 3, 1), "top_up")
    app.post_deposit(line, actor="test")


def _expected_ids(app: FundLedger) -> list[str]:
    """Each position's view changes (the views whose handlers take its topic, in VIEWS
    order), then the event itself."""
    handled = {name: set(object.__new__(view).topic_handlers()) for name, view in VIEWS.items()}
    ids: list[str] = []
    start = 0
    while page := app.recorder.select_notifications(start, 500, inclusive_of_start=False):
        for n in page:
            ids += [f"{n.id}:{name}" for name, topics in handled.items() if n.topic in topics]
            ids.append(str(n.id))
        start = page[-1].id
    return ids


def _assert_every_event_once_in_order(app: FundLedger, target: RelayTarget) -> None:
    messages = asyncio.run(_messages(target))
    last = app.recorder.max_notification_id()
    events = [msg_id for msg_id, _, _ in messages if ":" not in msg_id]
    assert [int(msg_id) for msg_id in events] == list(range(1, (last or 0) + 1))
    assert [msg_id for msg_id, _, _ in messages] == _expected_ids(app)  # no gap, no repeat
    for msg_id, event, subject in messages:
        position, _, view = msg_id.partition(":")
        assert event["id"] == position
        if view:
            assert event["view"] == view
            assert subject.startswith(f"{target.subject_prefix}.view.{view}.")


class _CutShort(NatsRelay):
    """A relay that stops publishing after the first message of one position."""

    def __init__(self, app: FundLedger, target: RelayTarget, position: int) -> None:
        super().__init__(app, target)
        self.position = position

    def messages(self, notification: Any, *, after_view: str | None = None
                 ) -> list[tuple[str, str, bytes]]:
        found = super().messages(notification, after_view=after_view)
        return found[:1] if notification.id == self.position else found


def test_the_relay_resumes_where_the_stream_stops(db_url: str, target: RelayTarget) -> None:
    app = _ledger_with_units(db_url)
    try:
        for n in range(20):
            _deposit(app, n)
        # A relay that dies inside position 7: only the first of its messages went out.
        assert asyncio.run(_CutShort(app, target, 7).relay(max_events=7)) == 7
        assert [m for m, _, _ in asyncio.run(_messages(target))][-1] == "7:balance"
        remaining = (app.recorder.max_notification_id() or 0) - 7
        assert asyncio.run(NatsRelay(app, target).relay()) == remaining
        assert asyncio.run(NatsRelay(app, target).relay()) == 0
        _assert_every_event_once_in_order(app, target)

        messages = asyncio.run(_messages(target))
        _, deposit, subject = next(m for m in messages if ":" not in m[0] and m[1]["type"] ==
                                   "fundledger.UnitAccount.ToppedUp")
        assert subject == f"{target.subject_prefix}.event.UnitAccount.ToppedUp.{CODE}"
        assert deposit["specversion"] == "1.0"
        data = deposit["data"]
        assert isinstance(data, dict) and data["amount_fen"] == data["bank_delta_fen"] > 0
    finally:
        app.close()


def test_a_relay_killed_mid_stream_neither_skips_nor_repeats(
    sqlite_url: str, target: RelayTarget
) -> None:
    app = _ledger_with_units(sqlite_url)
    env = {**os.environ, "FUNDLEDGER_DB": sqlite_url}
    command = [sys.executable, "-m", "ledger", "relay", "nats", "--url", target.url,
               "--stream", target.stream, "--subject-prefix", target.subject_prefix, "--follow"]
    relay = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        for n in range(40):
            _deposit(app, n)
        deadline = time.monotonic() + 30
        while not asyncio.run(_messages(target)) and time.monotonic() < deadline:
            time.sleep(0.2)
        relay.send_signal(signal.SIGKILL)  # wherever it is: mid-page, mid-ack, idle
        relay.wait(timeout=10)
        for n in range(40, 60):
            _deposit(app, n)
        asyncio.run(NatsRelay(app, target).relay())
        _assert_every_event_once_in_order(app, target)
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait()
        app.close()
