"""A large save on PostgreSQL formats its COPY rows itself: what it writes reads back exactly."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import InfrastructureFactory, StoredEvent
from eventsourcing.utils import Environment

from ledger.application import FundLedger
from ledger.commands import DepositLine, UnitRow
from ledger.persistence.pg_binary import (
    COPY_BLOCK_ROWS,
    event_copy_blocks,
    reference_copy_blocks,
)
from ledger.persistence.postgres import FundPostgresApplicationRecorder, FundPostgresFactory
from ledger.persistence.references import PostingReference
from ledger.settings import Settings


def odd_batch(n: int) -> tuple[list[StoredEvent], list[PostingReference]]:
    """Events and references with every kind of byte and character a row can hold."""
    events: list[StoredEvent] = []
    references: list[PostingReference] = []
    for i in range(n):
        originator_id: uuid.UUID | str = uuid.uuid4()
        if i % 3 == 0:
            originator_id = str(originator_id)  # the library's reads give either form
        version = 2**62 + i if i % 7 == 0 else i + 1
        topic = "tests.\u5c0f\u533a:Event" if i % 2 else "tests:Event"
        state = bytes(range(256)) * (i % 4) + f"\u5f20{i}".encode()
        events.append(StoredEvent(originator_id, version, topic, state))
        references.append(PostingReference(
            f"ref-{i}-\u94f6\u884c-\"q\"\t\\", f"kind-{i % 3}-\u00e9", f"{i:064x}",
            uuid.UUID(str(originator_id)), version))
    return events, references


@pytest.fixture
def recorder(pg_url: str) -> Any:
    env = Settings(db=pg_url).eventsourcing_env()
    factory = InfrastructureFactory.construct(Environment(name="FundLedger", env=env))
    assert isinstance(factory, FundPostgresFactory)
    try:
        yield factory.application_recorder()
    finally:
        factory.close()


def test_hand_made_rows_match_psycopgs(recorder: FundPostgresApplicationRecorder) -> None:
    """The rows' bytes are what psycopg's own binary COPY formatting writes."""
    events, references = odd_batch(COPY_BLOCK_ROWS * 2 + 17)  # several blocks, one partial
    with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
        copy = psycopg.copy.Copy(curs, binary=True)  # type: ignore[call-arg]
        formatter = copy.formatter
        formatter._signature_sent = True  # type: ignore[attr-defined]
        copy.set_types(["uuid", "int8", "text", "bytea"])
        written = bytearray()
        for event in events:  # write_row hands back its buffer when full
            written += formatter.write_row((uuid.UUID(str(event.originator_id)),
                                            event.originator_version, event.topic, event.state))
        written += formatter._write_buffer  # type: ignore[attr-defined]
        blocks = list(event_copy_blocks(events))
        assert len(blocks) == 3
        assert b"".join(blocks) == written
        formatter._write_buffer.clear()  # type: ignore[attr-defined]
        written.clear()
        copy.set_types(["text", "text", "text", "uuid", "int8"])
        for r in references:
            written += formatter.write_row((r.reference, r.kind, r.digest, r.originator_id,
                                            r.originator_version))
        written += formatter._write_buffer  # type: ignore[attr-defined]
        blocks = list(reference_copy_blocks(references))
        assert len(blocks) == 3
        assert b"".join(blocks) == written


def test_large_save_reads_back_exactly(recorder: FundPostgresApplicationRecorder) -> None:
    events, references = odd_batch(recorder.SMALL_SAVE_MAX_EVENTS + 300)
    ids = recorder.insert_events(events, references=references)
    assert ids is not None and len(ids) == len(events)
    notifications = recorder.select_notifications(ids[0], limit=len(events))
    assert [(n.id, n.originator_id, n.originator_version, n.topic, n.state)
            for n in notifications] == [
        (i, uuid.UUID(str(e.originator_id)), e.originator_version, e.topic, e.state)
        for i, e in zip(ids, events, strict=True)]
    found = recorder.select_references([r.reference for r in references])
    assert found == {r.reference: r for r in references}


def test_a_batch_through_the_ledger_reads_back(pg_url: str) -> None:
    """The ledger's lazily mapped batch: every event stored, decodable, equal to the live one."""
    app = FundLedger(Settings(db=pg_url))
    try:
        rows = [UnitRow("C1", "Garden", "d", "s", "1", str(u), 9_000 + u, "register", [f"o{u}"])
                for u in range(400)]
        app.register_units(rows, effective_date=date(2026, 1, 1), actor="t")
        rate = app.settings.deposit_rate_fen_per_m2
        lines = [DepositLine(f"B-{u}-{k}", "C1", "1", str(u),
                             (9_000 + u) * rate // 100 if k == 0 else 1_000 + k,
                             date(2026, 1, 2 + k), "first" if k == 0 else "top_up", 2 + 3 * u + k)
                 for u in range(400) for k in range(3)]
        result = app.import_deposits(lines, actor="t")
        assert result.posted == len(lines)
        for u in (0, 199, 399):
            live = app.unit_account("C1", "1", str(u))
            history = app.repository.event_store.get(live.id)
            assert [e.originator_version for e in history] == [1, 2, 3, 4]
            assert live.balance_fen == sum(
                line.amount_fen for line in lines if line.unit == str(u))
        again = app.import_deposits(lines, actor="t")
        assert (again.posted, again.already_posted) == (0, len(lines))
    finally:
        app.close()


class NotifiedLedger(FundLedger):
    """A ledger whose ``_notify`` reads the recordings (the batch path builds them then)."""

    def __init__(self, settings: Settings) -> None:
        self.notified: list[Any] = []
        super().__init__(settings)

    def _notify(self, recordings: Any) -> None:
        self.notified.append(list(recordings))


def test_a_batch_notifies_its_recordings_when_notify_is_overridden(db_url: str) -> None:
    app = NotifiedLedger(Settings(db=db_url))
    try:
        rows = [UnitRow("C2", "Lake", "d", "s", "1", str(u), 8_000, "register", [f"o{u}"])
                for u in range(600)]
        app.register_units(rows, effective_date=date(2026, 1, 1), actor="t")
        rate = app.settings.deposit_rate_fen_per_m2
        lines = [DepositLine(f"N-{u}-{k}", "C2", "1", str(u),
                             8_000 * rate // 100 if k == 0 else 500, date(2026, 2, 1 + k),
                             "first" if k == 0 else "top_up", 2 + 2 * u + k)
                 for u in range(600) for k in range(2)]
        app.import_deposits(lines, actor="t")
        batch = app.notified[-1]
        assert len(batch) == len(lines)
        ids = [r.notification.id for r in batch]
        assert ids == list(range(ids[0], ids[0] + len(lines)))
        assert app.recorder.max_notification_id() == ids[-1]
        for recording in batch[:3] + batch[-3:]:
            event = recording.domain_event
            assert recording.notification.originator_id == event.originator_id
            assert recording.notification.originator_version == event.originator_version
            assert app.mapper.to_domain_event(recording.notification) == event
    finally:
        app.close()
