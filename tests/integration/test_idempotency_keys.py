"""Idempotency keys and written positions: what the HTTP API builds its guarantees on.

A key is recorded in the transaction that wrote the events it produced, so a repeat finds it
exactly when the first request's events exist; concurrent repeats produce one event. Key and
position travel in the ``WriteContext`` the caller passes to the command (``write=``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from domain.credit_code import with_check_character
from domain.errors import NotFound
from ledger.application import FundLedger
from ledger.base import IdempotencyKeyUsed
from ledger.commands import DepositLine
from ledger.write_context import WriteContext
from projections.history.streams import event_position
from tests.integration.test_fund_ledger import ACTOR, CODE, THREAD_JOIN_S, funded

AMOUNT_FEN = 12_345


def deposit(reference: str, unit: str = "101") -> DepositLine:
    return DepositLine(reference, CODE, "1", unit, AMOUNT_FEN, date(2024, 2, 1), "top_up")


def test_a_key_is_recorded_with_the_events_and_names_the_last(
    app: FundLedger, tmp_path: Path
) -> None:
    """The key names the save's last event: its position is the highest the save wrote, the
    one the request answered with (a repeat whose answer was lost answers with it again)."""
    funded(app, tmp_path)
    write = WriteContext.idempotent("key-1", "digest-a")
    posted = app.post_deposit(deposit("BANK-1"), actor=ACTOR, write=write)
    position = write.position
    assert position == app.recorder.max_notification_id()
    found = app.find_idempotency_key("key-1")
    assert found is not None
    assert (found.digest, found.originator_id, found.originator_version) == (
        "digest-a", posted.originator_id, posted.originator_version)
    assert app.find_idempotency_key("key-2") is None
    batch = WriteContext.idempotent("key-2", "digest-b")
    app.import_deposits([DepositLine(f"BATCH-{unit}", CODE, "1", unit, AMOUNT_FEN,
                                     date(2024, 2, 1), "top_up", line)
                         for line, unit in enumerate(("101", "102", "201"), start=1)],
                        actor=ACTOR, write=batch)
    found = app.find_idempotency_key("key-2")
    assert found is not None and batch.position == app.recorder.max_notification_id()
    assert batch.position == event_position(app, found.originator_id,
                                            found.originator_version) == position + 3


def test_a_refused_command_records_no_key(app: FundLedger, tmp_path: Path) -> None:
    funded(app, tmp_path)
    write = WriteContext.idempotent("key-1", "digest-a")
    with pytest.raises(NotFound, match="no registered unit"):
        app.post_deposit(deposit("BANK-1", unit="999"), actor=ACTOR, write=write)
    assert app.find_idempotency_key("key-1") is None
    assert write.position is None


def test_a_key_reused_for_another_request_is_refused_and_writes_nothing(
    app: FundLedger, tmp_path: Path
) -> None:
    funded(app, tmp_path)
    app.post_deposit(deposit("BANK-1"), actor=ACTOR,
                     write=WriteContext.idempotent("key-1", "digest-a"))
    last = app.recorder.max_notification_id()
    with pytest.raises(IdempotencyKeyUsed) as raised:
        app.post_deposit(deposit("BANK-2", unit="102"), actor=ACTOR,
                         write=WriteContext.idempotent("key-1", "digest-b"))
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
            app.post_deposit(deposit(f"BANK-{threading.get_ident()}"), actor=ACTOR,
                             write=WriteContext.idempotent("key-1", "digest-a"))
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


def test_a_repeat_with_its_key_known_as_recorded_finds_the_earlier_posting_and_writes_nothing(
    app: FundLedger, tmp_path: Path
) -> None:
    """The repeat-after-crash path of the HTTP API: the key is recorded, its response is not."""
    funded(app, tmp_path)
    first = app.post_deposit(deposit("BANK-1"), actor=ACTOR,
                             write=WriteContext.idempotent("key-1", "digest-a"))
    last = app.recorder.max_notification_id()
    repeat = WriteContext.idempotent("key-1", "digest-a", recorded=True)
    posted = app.post_deposit(deposit("BANK-1"), actor=ACTOR, write=repeat)
    assert posted.already_posted
    assert (posted.originator_id, posted.originator_version) == (
        first.originator_id, first.originator_version)
    assert repeat.position is None
    assert app.recorder.max_notification_id() == last


def test_each_context_keeps_its_own_key_and_position_and_a_key_binds_to_the_first_save(
    app: FundLedger, tmp_path: Path
) -> None:
    """Nothing rides on the thread: two contexts used in turn on one thread stay apart, and
    one context across two commands binds its key to the first and keeps the higher
    position; a command called in between without one touches neither."""
    funded(app, tmp_path)
    one = WriteContext.idempotent("key-1", "digest-a")
    other = WriteContext.idempotent("key-2", "digest-b")
    first = app.post_deposit(deposit("BANK-1"), actor=ACTOR, write=one)
    at_first = app.recorder.max_notification_id()
    second = app.post_deposit(deposit("BANK-2", unit="102"), actor=ACTOR, write=other)
    at_second = app.recorder.max_notification_id()
    app.post_deposit(deposit("BANK-3", unit="201"), actor=ACTOR)
    third = app.post_deposit(deposit("BANK-4"), actor=ACTOR, write=one)
    assert (one.position, other.position) == (app.recorder.max_notification_id(), at_second)
    assert at_first is not None and at_second is not None and one.position is not None
    assert at_first < at_second < one.position
    for key, posted in (("key-1", first), ("key-2", second)):
        found = app.find_idempotency_key(key)
        assert found is not None
        assert (found.originator_id, found.originator_version) == (
            posted.originator_id, posted.originator_version)
    assert (third.originator_id, third.originator_version) != (
        first.originator_id, first.originator_version)


def test_a_command_saved_through_the_library_save_records_its_key_and_position(
    app: FundLedger,
) -> None:
    """Most governance and enterprise commands save with ``Application.save``, not the
    batch path the deposits take; the key and the position travel the same way there."""
    write = WriteContext.idempotent("key-1", "digest-a")
    enterprise = app.register_enterprise(
        credit_code=with_check_character("91110105MA01WCAA0"), name="Context Property",
        registered_on=date(2026, 1, 1), actor=ACTOR, write=write)
    assert write.position == app.recorder.max_notification_id()
    found = app.find_idempotency_key("key-1")
    assert found is not None
    assert (found.digest, found.originator_id, found.originator_version) == (
        "digest-a", enterprise.id, 1)
