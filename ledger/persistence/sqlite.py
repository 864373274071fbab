"""SQLite recorders: posting references, fast bulk inserts, bulk reads.

Select with ``PERSISTENCE_MODULE=ledger.persistence.sqlite:FundSQLiteFactory``.

Inserts
    Events are inserted with one ``executemany`` (the library does one ``execute`` per event to
    read each rowid). Notification ids are the rowids: inside the write transaction no other
    connection can insert (SQLite has a single writer), and a row inserted without a rowid gets
    ``max(rowid) + 1``, so the batch's rowids are contiguous and ``max(rowid)`` read after the
    insert, in the same transaction, is the last of them. References are inserted with
    ``executemany`` in the same transaction; a duplicate makes the whole save fail with
    ``eventsourcing.persistence.IntegrityError``.

Bulk reads
    Queries are chunked to stay under SQLite's bound-variable limit (999 on old builds).
    Originator ids are stored as hex text, as the library stores them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import (
    SQLiteAggregateRecorder,
    SQLiteApplicationRecorder,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteFactory,
)

from ledger.persistence.chunks import chunks
from ledger.persistence.migrations import (
    SchemaDb,
    auto_migrate_setting,
    open_schema,
    record_creation,
)
from ledger.persistence.references import REFERENCES_TABLE_NAME, PostingReference

__all__ = [
    "FundSQLiteAggregateRecorder",
    "FundSQLiteApplicationRecorder",
    "FundSQLiteFactory",
]

# Bound variables per query stay below 999, the limit of SQLite builds before 3.32.
_IDS_PER_QUERY = 400
_REFERENCES_PER_QUERY = 500


def _db_id(originator_id: uuid.UUID | str) -> str:
    # As the library: a UUID is stored as its hex, a string as itself.
    return originator_id.hex if isinstance(originator_id, uuid.UUID) else originator_id


class _SQLiteBulkReads:
    """Bulk stream reads shared by the application recorder and the snapshot recorder."""

    datastore: SQLiteDatastore
    events_table_name: str

    def _stored_id(self, value: str) -> uuid.UUID | str:
        # As the library's convert_originator_id().
        return uuid.UUID(value) if self.datastore.originator_id_type == "uuid" else value

    def _stored_event(self, row: Any) -> StoredEvent:
        return StoredEvent(
            originator_id=self._stored_id(row["originator_id"]),
            originator_version=row["originator_version"],
            topic=row["topic"],
            state=row["state"],
        )

    def select_streams(self, after: Mapping[uuid.UUID, int]) -> dict[uuid.UUID, list[StoredEvent]]:
        """Each id's stored events with version > ``after[id]`` (0 for all), by version.

        Every requested id is a key of the result; an id without such events maps to ``[]``.
        """
        streams: dict[uuid.UUID, list[StoredEvent]] = {originator_id: [] for originator_id in after}
        by_db_id = {_db_id(originator_id): originator_id for originator_id in after}
        originator_ids = list(after)
        with self.datastore.transaction(commit=False) as c:
            for chunk in chunks(originator_ids, _IDS_PER_QUERY):
                # CROSS JOIN makes the requested ids the outer loop (a primary-key probe each).
                values = ",".join(["(?,?)"] * len(chunk))
                c.execute(
                    f"WITH a(originator_id, after_version) AS (VALUES {values}) "
                    "SELECT e.originator_id, e.originator_version, e.topic, e.state "
                    f"FROM a CROSS JOIN {self.events_table_name} AS e "
                    "WHERE e.originator_id = a.originator_id "
                    "AND e.originator_version > a.after_version",
                    [p for oid in chunk for p in (_db_id(oid), after[oid])],
                )
                for row in c.fetchall():
                    streams[by_db_id[row["originator_id"]]].append(self._stored_event(row))
        for stream in streams.values():
            stream.sort(key=lambda e: e.originator_version)
        return streams

    def select_first_events(
        self, originator_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, StoredEvent]:
        """Each id's first event (version 1), for what it fixes for good; ids without any
        are absent."""
        first: dict[uuid.UUID, StoredEvent] = {}
        by_db_id = {_db_id(originator_id): originator_id for originator_id in originator_ids}
        with self.datastore.transaction(commit=False) as c:
            for chunk in chunks(list(by_db_id), _IDS_PER_QUERY):
                marks = ",".join("?" * len(chunk))
                c.execute(
                    "SELECT originator_id, originator_version, topic, state "
                    f"FROM {self.events_table_name} "
                    f"WHERE originator_id IN ({marks}) AND originator_version = 1",
                    chunk,
                )
                for row in c.fetchall():
                    first[by_db_id[row["originator_id"]]] = self._stored_event(row)
        return first


class FundSQLiteAggregateRecorder(_SQLiteBulkReads, SQLiteAggregateRecorder):
    """The snapshot recorder: the library's, plus ``select_streams`` and ``select_latest_many``."""

    def select_latest_many(
        self, originator_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, StoredEvent]:
        """The highest-version stored event of each id; ids without any are absent."""
        latest: dict[uuid.UUID, StoredEvent] = {}
        by_db_id = {_db_id(originator_id): originator_id for originator_id in originator_ids}
        if not by_db_id:
            return latest
        table = self.events_table_name
        with self.datastore.transaction(commit=False) as c:
            for chunk in chunks(list(by_db_id), _IDS_PER_QUERY):
                marks = ",".join("?" * len(chunk))
                c.execute(
                    "SELECT e.originator_id, e.originator_version, e.topic, e.state "
                    "FROM (SELECT originator_id, MAX(originator_version) AS max_version "
                    f"FROM {table} WHERE originator_id IN ({marks}) "
                    "GROUP BY originator_id) AS m "
                    f"CROSS JOIN {table} AS e "
                    "WHERE e.originator_id = m.originator_id "
                    "AND e.originator_version = m.max_version",
                    list(chunk),
                )
                for row in c.fetchall():
                    latest[by_db_id[row["originator_id"]]] = self._stored_event(row)
        return latest


class FundSQLiteApplicationRecorder(_SQLiteBulkReads, SQLiteApplicationRecorder):
    """The application recorder: posting references, executemany inserts, bulk reads."""

    def __init__(
        self,
        datastore: SQLiteDatastore,
        events_table_name: str = "stored_events",
    ):
        # Set before super().__init__(), which builds the create-table statements.
        self.references_table_name = REFERENCES_TABLE_NAME
        super().__init__(datastore, events_table_name)
        self.insert_references_statement = (
            f"INSERT INTO {self.references_table_name} "
            "(reference, kind, digest, originator_id, originator_version) VALUES (?,?,?,?,?)"
        )

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {self.references_table_name} ("
            "reference TEXT PRIMARY KEY, "
            "kind TEXT NOT NULL, "
            "digest TEXT NOT NULL, "
            "originator_id TEXT NOT NULL, "
            "originator_version BIGINT NOT NULL) "
            "WITHOUT ROWID"
        )
        return statements

    def _create_table(self, c: SQLiteCursor) -> None:
        # A database without the event log is new: it is made at the code's schema version
        # and says so, in this transaction (ledger.persistence.migrations).
        db = SchemaDb(c, schema=None, events_table=self.events_table_name)
        fresh = not db.exists(self.events_table_name)
        super()._create_table(c)
        record_creation(db, fresh=fresh)

    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        references: Sequence[PostingReference] = (),
        **kwargs: Any,
    ) -> Sequence[int] | None:
        """Insert events and their posting references in one transaction.

        Returns the events' notification ids (rowids) in order. A duplicate event or reference
        raises ``IntegrityError`` and nothing is written.
        """
        return super().insert_events(stored_events, references=references, **kwargs)

    def _insert_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> Sequence[int] | None:
        notification_ids: list[int] = []
        if stored_events:
            c.executemany(
                self.insert_events_statement,
                [
                    (_db_id(s.originator_id), s.originator_version, s.topic, s.state)
                    for s in stored_events
                ],
            )
            # See the module docstring: the batch's rowids are the top len(stored_events).
            last = self._max_notification_id(c)
            notification_ids = list(range(last - len(stored_events) + 1, last + 1))
        references: Sequence[PostingReference] = kwargs.get("references") or ()
        if references:
            c.executemany(
                self.insert_references_statement,
                [
                    (r.reference, r.kind, r.digest, _db_id(r.originator_id), r.originator_version)
                    for r in references
                ],
            )
        return notification_ids

    def select_references(self, references: Sequence[str]) -> dict[str, PostingReference]:
        """The recorded references among ``references``, keyed by reference."""
        if isinstance(references, str):
            msg = "select_references() takes a sequence of references, not one string"
            raise TypeError(msg)
        found: dict[str, PostingReference] = {}
        if not references:
            return found
        with self.datastore.transaction(commit=False) as c:
            for chunk in chunks(list(dict.fromkeys(references)), _REFERENCES_PER_QUERY):
                marks = ",".join("?" * len(chunk))
                c.execute(
                    "SELECT reference, kind, digest, originator_id, originator_version "
                    f"FROM {self.references_table_name} WHERE reference IN ({marks})",
                    list(chunk),
                )
                for row in c.fetchall():
                    found[row["reference"]] = PostingReference(
                        reference=row["reference"],
                        kind=row["kind"],
                        digest=row["digest"],
                        originator_id=uuid.UUID(row["originator_id"]),
                        originator_version=row["originator_version"],
                    )
        return found


class FundSQLiteFactory(SQLiteFactory):
    """``SQLiteFactory`` whose application and aggregate (snapshot) recorders are ours."""

    aggregate_recorder_class = FundSQLiteAggregateRecorder
    application_recorder_class = FundSQLiteApplicationRecorder

    def aggregate_recorder(self, purpose: str = "events") -> FundSQLiteAggregateRecorder:
        recorder = super().aggregate_recorder(purpose)
        assert isinstance(recorder, FundSQLiteAggregateRecorder)
        return recorder

    def application_recorder(self) -> FundSQLiteApplicationRecorder:
        recorder = super().application_recorder()
        assert isinstance(recorder, FundSQLiteApplicationRecorder), (
            "APPLICATION_RECORDER_TOPIC must name a FundSQLiteApplicationRecorder subclass"
        )
        if self.env.get("CHECK_SCHEMA", "y") != "n":
            open_schema(recorder, auto_migrate=self.env_create_table() and auto_migrate_setting(
                self.env.get("AUTO_MIGRATE"), postgres=False))
        return recorder
