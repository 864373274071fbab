"""Stored events with their log positions, cut at a business date or a recorded time, folded.

What every answer of the auditor's history is built from (``replay``, ``community_events``,
``statements``): a stream read straight from the events table with each event's log position
(notification id), so every answer can be checked against the log itself; snapshots are
never used.

How a business-date cut folds (the choice, and why). Events of one aggregate are not always
in business-date order: a back-dated deposit is recorded after a withdrawal dated later. A
cut that stops at the first event dated after ``as_of`` (a prefix) would leave the
back-dated deposit out, so the cut *filters*: every event dated on or before ``as_of`` is
in. It then folds the kept events in business-date order (ties in version order, which is
the order they were decided in), the creation event always first, with the events' own
``apply`` (the domain's mutators). Sums (balances, totals) come out the same in any order;
last-writer state (a unit's owners after two sales entered out of date order) is right only
in business-date order. One thing is not re-derived: state the domain *derived* from a
running balance when it recorded an event (the F4 re-raise flag is its own event, dated as
the posting that raised it) is shown as the recorded F4 events dated on or before ``as_of``
leave it. After back-dated postings the ledger's recorded demands can differ from what the
rule would say of the business-date balance path; the replay reports what was recorded
rather than inventing demands the ledger never made. With no ``as_of`` the fold is the
library's own ``mutate`` in version order: exactly the aggregate as the repository would
give it at that point of the log.

A creation event dated after ``as_of`` is still folded first when later events of the
aggregate are dated on or before it (a deposit dated before the register was imported, as
the statements count it); with none, the aggregate did not exist as of that date.

The answer names the last event it includes: the one latest by (business date, log
position) under ``as_of``, else the one latest in the log. A creation event included only to
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from ledger.application import FundLedger
from ledger.persistence.chunks import chunks
from ledger.persistence.connection_loss import retry_if_lost
from ledger.persistence.transcoder import event_decoder

_IDS_PER_QUERY = 400


# -- what an answer names -------------------------------------------------------------------


@dataclass(frozen=True)
class EventRef:
    """One stored event, as an auditor cites it."""

    originator_id: UUID
    originator_version: int
    position: int  # the event's notification id: its place in the one log
    topic: str
    event: str  # the event class's qualified name, e.g. UnitAccount.ToppedUp
    business_date: date | None
    recorded_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "originator_id": str(self.originator_id),
            "originator_version": self.originator_version,
            "position": self.position,
            "topic": self.topic,
            "event": self.event,
            "business_date": self.business_date.isoformat() if self.business_date else None,
            "recorded_at": self.recorded_at.isoformat(),
        }



# -- reading streams with their log positions -----------------------------------------------


@dataclass(frozen=True)
class Logged:
    """A domain event and its place in the one log."""

    position: int
    event: Any  # the domain event

    @property
    def version(self) -> int:
        return int(self.event.originator_version)

    @property
    def business_date(self) -> date | None:
        return business_date(self.event)

    def ref(self) -> EventRef:
        return EventRef(
            originator_id=self.event.originator_id, originator_version=self.version,
            position=self.position, topic=get_topic(type(self.event)),
            event=type(self.event).__qualname__, business_date=self.business_date,
            recorded_at=self.event.timestamp)


def business_date(event: Any) -> date | None:
    day = getattr(event, "effective_date", None)
    return day if isinstance(day, date) else None


def read_streams(app: FundLedger, ids: Sequence[UUID]) -> dict[UUID, list[Logged]]:
    """Every stored event of each id with its log position, by version; snapshots unused."""
    rows = _select_positions(app, list(dict.fromkeys(ids)))
    streams: dict[UUID, list[Logged]] = {i: [] for i in ids}
    to_domain_event = event_decoder(app.mapper)
    for position, originator_id, version, topic, state in rows:
        stored = StoredEvent(originator_id, version, topic, bytes(state))
        streams[originator_id].append(Logged(position, to_domain_event(stored)))
    for stream in streams.values():
        stream.sort(key=lambda logged: logged.version)
    return streams


@retry_if_lost
def _select_positions(
    app: FundLedger, ids: list[UUID]
) -> list[tuple[int, UUID, int, str, bytes]]:
    """(position, originator id, version, topic, state) rows of the ids, from either store."""
    from eventsourcing.sqlite import SQLiteApplicationRecorder

    recorder: Any = app.recorder
    table = recorder.events_table_name
    rows: list[tuple[int, UUID, int, str, bytes]] = []
    if isinstance(recorder, SQLiteApplicationRecorder):
        with recorder.datastore.transaction(commit=False) as c:
            for chunk in chunks(ids, _IDS_PER_QUERY):
                # The ids asked for, by the text SQLite stores: no UUID parsed per row.
                by_hex = {i.hex: i for i in chunk}
                marks = ",".join("?" * len(chunk))
                c.execute(f"SELECT rowid, originator_id, originator_version, topic, state "
                          f"FROM {table} WHERE originator_id IN ({marks})", list(by_hex))
                rows.extend((r[0], by_hex[r[1]], r[2], r[3], r[4]) for r in c.fetchall())
        return rows
    from psycopg.rows import tuple_row
    from psycopg.sql import SQL, Identifier

    statement = SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state "
        "FROM {}.{} WHERE originator_id = ANY(%s)"
    ).format(Identifier(recorder.datastore.schema), Identifier(table))
    uuid_column = recorder.datastore.originator_id_type == "uuid"
    with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
        for chunk in chunks(ids, 10_000):
            curs.execute(statement, (list(chunk) if uuid_column else [i.hex for i in chunk],))
            rows.extend((r[0], r[1] if uuid_column else UUID(r[1]), r[2], r[3], r[4])
                        for r in curs.fetchall())
    return rows


def event_position(app: FundLedger, originator_id: UUID, version: int) -> int | None:
    """The log position (notification id) of one stored event; None if none is stored.

    One indexed row: the events table's key is (originator id, version)."""
    from eventsourcing.sqlite import SQLiteApplicationRecorder

    recorder: Any = app.recorder
    table = recorder.events_table_name
    if isinstance(recorder, SQLiteApplicationRecorder):
        with recorder.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT rowid FROM {table} WHERE originator_id = ? "
                      f"AND originator_version = ?", (originator_id.hex, version))
            row = c.fetchone()
        return None if row is None else int(row[0])
    from psycopg.rows import tuple_row
    from psycopg.sql import SQL, Identifier

    statement = SQL(
        "SELECT notification_id FROM {}.{} WHERE originator_id = %s AND originator_version = %s"
    ).format(Identifier(recorder.datastore.schema), Identifier(table))
    uuid_column = recorder.datastore.originator_id_type == "uuid"
    with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
        curs.execute(statement, (originator_id if uuid_column else originator_id.hex, version))
        found = curs.fetchone()
    return None if found is None else int(found[0])


# -- cutting and folding --------------------------------------------------------------------


@dataclass
class Cut:
    """The events of one stream a cut includes, and what it left out."""

    events: list[Logged]  # in fold order; empty if the aggregate did not exist at the cut
    dated_later: int = 0
    creation_dated_later: bool = False


def as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cut(stream: list[Logged], as_of: date | None, known_at: datetime | None) -> Cut:
    """The events a cut includes, in fold order (see the module's docstring)."""
    recorded: list[Logged] = []
    for logged in stream:
        if known_at is not None and logged.event.timestamp > as_utc(known_at):
            break  # the ledger held a prefix of the stream at known_at
        recorded.append(logged)
    if as_of is None or not recorded:
        return Cut(recorded)
    first, later = recorded[0], recorded[1:]
    dated = [e for e in later if e.business_date is None or e.business_date <= as_of]
    dated.sort(key=lambda e: (e.business_date or date.min, e.version))
    created_later = first.business_date is not None and first.business_date > as_of
    if not dated and created_later:
        return Cut([], len(later))
    return Cut([first, *dated], len(later) - len(dated), created_later)


def fold(cut_events: list[Logged], *, business_order: bool) -> Any:
    """The aggregate after the events, by the domain's own mutators."""
    aggregate = cut_events[0].event.mutate(None)
    for logged in cut_events[1:]:
        if not business_order:
            aggregate = logged.event.mutate(aggregate)  # the library's checked path
            continue
        # Out of version order the library's mutate refuses; apply is the same mutator.
        # The version is set as mutate would have it, for mutators that read it.
        aggregate.version = logged.version - 1
        logged.event.apply(aggregate)
        aggregate.version = logged.version
        aggregate.modified_on = logged.event.timestamp
    return aggregate


def last_event(cuts: Sequence[Cut], business_order: bool) -> Logged:
    def rank(logged: Logged, c: Cut) -> tuple[date, int]:
        if not business_order:
            return (date.min, logged.position)
        if c.creation_dated_later and logged is c.events[0]:
            return (date.min, logged.position)
        return (logged.business_date or date.min, logged.position)

    return max(((e, c) for c in cuts for e in c.events), key=lambda ec: rank(*ec))[0]

