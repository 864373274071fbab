"""Idempotency keys and written positions: what the HTTP API builds its guarantees on.

A key is recorded in the transaction that wrote the events it produced, so a repeat finds it
exactly when the first request's events exist; concurrent repeats produce one event.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from domain.errors import NotFound
from ledger.application import FundLedger
from ledger.base import IdempotencyKeyUsed
from ledger.commands import DepositLine
from tests.integration.test_fund_ledger import ACTOR, CODE, THREAD_JOIN_S, funded

AMOUNT_FEN = 12_345


def deposit(reference: str, unit: str = "101") -> DepositLine:
    return DepositLine(reference, CODE, "1", unit, AMOUNT_FEN, date(2024, 2, 1), "top_up")


def test_a_key_is_recorded_with_the_events_and_names_the_first(
    app: FundLedger, tmp_path: Path
) -> None:
    funded(app, tmp_path)
    app.forget_position()
    with app.idempotent("key-1", "digest-a"):
        posted = app.post_deposit(deposit("BANK-1"), actor=ACTOR)
    position = app.position_written()
    assert position == app.recorder.max_notification_id()
    found = app.find_idempotency_key("key-1")
    assert found is not None
    assert (found.digest, found.originator_id, found.originator_version) == (
        "digest-a", posted.originator_id, posted.originator_version)
    assert app.find_idempotency_key("key-2") is None


def test_a_refused_command_records_no_key(app: FundLedger, tmp_path: Path) -> None:
    funded(app, tmp_path)
    with pytest.raises(NotFound, match="no registered unit"), app.idempotent("key-1", "digest-a"):
        app.post_deposit(deposit("BANK-1", unit="999"), actor=ACTOR)
    assert app.find_idempotency_key("key-1") is None
    app.forget_position()
    assert app.position_written() is None


def test_a_key_reused_for_another_request_is_refused_and_writes_nothing(
    app: FundLedger, tmp_path: Path
) -> None:
    funded(app, tmp_path)
    with app.idempotent("key-1", "digest-a"):
        app.post_deposit(deposit("BANK-1"), actor=ACTOR)
    last = app.recorder.max_notification_id()
    with pytest.raises(IdempotencyKeyUsed) as raised, app.idempotent("key-1", "digest-b"):
        app.post_deposit(deposit("BANK-2", unit="102"), actor=ACTOR)
    assert not raised.value.same_request
    assert raised.value.rule == "idempotency-key"
    assert app.recorder.max_notification_id() == last


def test_racing_repeats_of_one_key_write_once(
    open_ledger: Callable[[], FundLedger], tmp_path: Path
) -> None:
    setup = open_ledger()
    funded(setup, tmp_path)
    before = setup.recorder.max_notification_id()
    outcomes: list[str] = []
    barrier = threading.Barrier(3)

    def repeat() -> None:
        app = open_ledger()
        barrier.wait()
        # Different bank references, so only the key can make the repeats collide.
        try:
            with app.idempotent("key-1", "digest-a"):
                app.post_deposit(deposit(f"BANK-{threading.get_ident()}"), actor=ACTOR)
            outcomes.append("wrote")
        except IdempotencyKeyUsed as used:
            assert used.same_request
            outcomes.append("replay")

    threads = [threading.Thread(target=repeat) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(THREAD_JOIN_S)
    assert sorted(outcomes) == ["replay", "replay", "wrote"]
    assert setup.recorder.max_notification_id() == (before or 0) + 1
