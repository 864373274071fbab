"""PostgreSQL recorders: posting references, one-round-trip saves, large saves, bulk reads.

Select with ``PERSISTENCE_MODULE=ledger.persistence.postgres:FundPostgresFactory``.

Small saves
    eventsourcing's pipelined insert (BEGIN, SET LOCAL lock_timeout, LOCK TABLE, NOTIFY,
    INSERT, sync, COMMIT) costs a single posting two round trips and a dozen psycopg
    pipeline calls: some 2.3 ms here, against 0.9 ms for a raw one-row transaction. A save of
    up to ``SMALL_SAVE_MAX_EVENTS`` events/references and ``SMALL_SAVE_MAX_BYTES`` bytes calls
    one PL/pgSQL function instead (``fundledger_insert_<table>``, created with the tables),
    in autocommit: one statement, so one implicit transaction and one round trip. The
    function takes the same steps as the library's path, in the same order: it sets
    ``lock_timeout`` for the transaction, takes the EXCLUSIVE table lock that keeps
    notification ids in commit order (which the library's own function path,
    ``POSTGRES_ENABLE_DB_FUNCTIONS``, skips), NOTIFYs the channel, inserts the events
    returning their ids, then the references. Any failure rolls the whole statement back.

Large saves
    With psycopg 3.3 a single statement of roughly 0.9 MB or more inside a pipeline can hang
    forever in pipeline sync, and one huge function call would send every event as one
    array; so a save over either limit is one ordinary transaction that takes the same
    EXCLUSIVE table lock (with ``lock_timeout``), NOTIFYs the channel, writes the references
    and then the events with ``COPY ... FROM STDIN (FORMAT BINARY)``, and commits.

COPY rows
    With uuid ids and a UTF-8 connection the binary rows are formatted by
    ``ledger.persistence.pg_binary`` (cached id bytes and topics, a few packs a row, joined
    in blocks), which is several times cheaper than psycopg's ``write_row`` with its Python
    uuid dumper; otherwise ``write_row`` formats them. Blocks are sent as they are made, so
    the server stores rows while the client formats (and, for a lazily mapped batch, maps)
    the next. The server indexes references faster than the client sends them, so between
    reference blocks the client maps events ahead; the events' COPY, where the client is the
    slower side, then has less to do.

Notification ids of a COPY
    COPY returns no rows, so the ids are derived from the table's ``notification_id`` sequence.
    Under the EXCLUSIVE lock no other transaction inserts into the events table, and COPY draws
    ``nextval`` once per row, in row order. So with ``last_before`` the sequence's last value
    read after the lock and before the COPY (the start value - 1 if it was never used), and
    ``last`` its ``currval`` after, the ids are
    ``last_before + 1 .. last`` in insertion order, provided ``last - last_before`` equals the
    number of rows (the n distinct values drawn, all above ``last_before`` and at most
    ``last``, are then exactly that range). This is checked; a mismatch (someone calling
    ``nextval`` on the sequence outside an insert, or a sequence with a cache or increment
    other than 1) rolls the save back with ``ProgrammingError``. Reading ``max(notification_id)``
    instead would be wrong: values drawn by rolled-back saves leave gaps above it.

References
    ``posting_references`` (in the datastore's schema) is created with the application
    recorder's tables. References are inserted after the events table's lock is taken (after
    the events on the small-save path, before them on the large-save path), so concurrent
    writers always take locks in the same order.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qsl

from eventsourcing.persistence import (
    DataError,
    IntegrityError,
    InterfaceError,
    Notification,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from psycopg import Cursor
from psycopg.rows import DictRow, TupleRow, tuple_row
from psycopg.sql import SQL, Composed, Identifier, Literal

from domain.eventsourcing_internals import build_frozen
from ledger.persistence import migrations
from ledger.persistence.chunks import chunks
from ledger.persistence.connection_loss import (
    LOST_CONNECTION_ATTEMPTS_MAX,
    ConnectionLost,
    DatabaseUnavailable,
    retry_if_lost,
)
from ledger.persistence.migrations import (
    SchemaDb,
    auto_migrate_setting,
    open_schema,
    record_creation,
)
from ledger.persistence.pg_binary import (
    PACK_ERRORS,
    copy_blocks,
    event_copy_blocks,
    reference_copy_blocks,
)
from ledger.persistence.pg_datastore import FundPostgresDatastore
from ledger.persistence.references import REFERENCES_TABLE_NAME, PostingReference
from ledger.settings import LIBPQ_PARAMETERS_ENV

__all__ = [
    "FundPostgresAggregateRecorder",
    "FundPostgresApplicationRecorder",
    "FundPostgresFactory",
]

P = ParamSpec("P")
R = TypeVar("R")


OPERATIONAL_ATTEMPTS_MAX = 10  # eventsourcing's own policy for its recorder methods
OPERATIONAL_RETRY_WAIT_S = 0.2


def _retrying_operational(func: Callable[P, R]) -> Callable[P, R]:
    """eventsourcing's retry policy (10 attempts, 0.2 s apart) for an operational error
    raised by the server (a lock timeout, a cancelled statement), which rolled the statement
    back; never for a lost connection (the caller decides what a retry may do) nor for an
    unreachable database (retrying for a minute would only delay the 503)."""

    @functools.wraps(func)
    def retrying(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, OPERATIONAL_ATTEMPTS_MAX + 1):
            try:
                return func(*args, **kwargs)
            except (ConnectionLost, DatabaseUnavailable):
                raise
            except (InterfaceError, OperationalError):
                if attempt == OPERATIONAL_ATTEMPTS_MAX:
                    raise
                time.sleep(OPERATIONAL_RETRY_WAIT_S)
        raise AssertionError("unreachable")

    return retrying


def _retrying(func: Callable[P, R]) -> Callable[P, R]:
    """A read's retry policy: again on a lost connection, and eventsourcing's policy for
    the server's operational errors."""
    return retry_if_lost(_retrying_operational(func))


def _as_uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


EVENTS_AHEAD_PER_BLOCK = 100  # events mapped after each block of references is sent


def _mapping_ahead(
    blocks: Iterable[bytes], stored_events: Iterable[StoredEvent]
) -> Iterator[bytes]:
    """The blocks; after each, the next ``EVENTS_AHEAD_PER_BLOCK`` of ``stored_events`` taken.

    A lazily mapped batch keeps what was taken, mapped, for the events' COPY.
    """
    ahead = iter(stored_events)
    for block in blocks:
        yield block
        for _ in islice(ahead, EVENTS_AHEAD_PER_BLOCK):
            pass


JIT_OFF_IDS_MIN = 500
_JIT_OFF = SQL("SET LOCAL jit = off")


class _PostgresBulkReads:
    """Bulk stream reads shared by the application recorder and the snapshot recorder.

    Both queries take the ids as one binary array and return ``a.n``, the 1-based position of
    the id in that array, instead of the stored id: no uuid is parsed per row. Rows come as
    tuples, with binary results (cheaper to load than dicts of text results).

    The queries run in a read transaction with ``SET LOCAL jit = off``: a chunk of 10,000 ids
    is estimated costly enough (the more so before the table is analyzed) for PostgreSQL to
    JIT-compile the plan, which took longer (~70 ms per chunk) than running it (~50 ms).
    """

    datastore: PostgresDatastore
    events_table_name: str

    # Ids per query: one query for any realistic batch, bounded for giants.
    SELECT_STREAMS_CHUNK_SIZE = 10_000

    def _init_bulk_reads(self) -> None:
        # LATERAL with ORDER BY is not flattened into a join, so each id is one probe of the
        # primary key (originator_id, originator_version), whatever the table's size; a plain
        # join got a hash join over the whole table, or a merge join along its whole index.
        names = {"id_type": Identifier(self.datastore.originator_id_type),
                 "schema": Identifier(self.datastore.schema),
                 "table": Identifier(self.events_table_name)}
        self.select_streams_statement: Composed = SQL(
            "SELECT a.n, e.originator_version, e.topic, e.state "
            "FROM unnest(%b::{id_type}[], %b::bigint[]) WITH ORDINALITY "
            "AS a(originator_id, after_version, n) "
            "CROSS JOIN LATERAL ("
            "SELECT originator_version, topic, state FROM {schema}.{table} "
            "WHERE originator_id = a.originator_id AND originator_version > a.after_version "
            "ORDER BY originator_version) AS e "
            "ORDER BY a.n, e.originator_version"
        ).format(**names)
        self.select_first_events_statement: Composed = SQL(
            "SELECT a.n, e.topic, e.state "
            "FROM unnest(%b::{id_type}[]) WITH ORDINALITY AS a(originator_id, n) "
            "JOIN {schema}.{table} AS e ON e.originator_id = a.originator_id "
            "AND e.originator_version = 1"
        ).format(**names)

    @contextmanager
    def _bulk_read_cursor(self, id_count: int) -> Iterator[Cursor[TupleRow]]:
        # JIT only pays (badly) on big reads; a small read skips the transaction and the
        # SET, which would cost a single posting two more round trips.
        with self.datastore.get_connection() as conn:
            if id_count < JIT_OFF_IDS_MIN:
                with conn.cursor(row_factory=tuple_row) as curs:
                    yield curs
                return
            with conn.transaction(), conn.cursor(row_factory=tuple_row) as curs:
                curs.execute(_JIT_OFF, prepare=True)
                yield curs

    def _db_ids(self, originator_ids: Iterable[uuid.UUID | str]) -> list[uuid.UUID] | list[str]:
        # As the library's inserts store ids: UUIDs in a uuid column; in a text column
        # (ORIGINATOR_ID_TYPE=text) a string as itself and a UUID as its hex (psycopg's form).
        if self.datastore.originator_id_type == "uuid":
            return [_as_uuid(originator_id) for originator_id in originator_ids]
        return [
            originator_id.hex if isinstance(originator_id, uuid.UUID) else originator_id
            for originator_id in originator_ids
        ]

    @_retrying
    def select_streams(self, after: Mapping[uuid.UUID, int]) -> dict[uuid.UUID, list[StoredEvent]]:
        """Each id's stored events with version > ``after[id]`` (0 for all), by version.

        Every requested id is a key of the result; an id without such events maps to ``[]``.
        """
        streams: dict[uuid.UUID, list[StoredEvent]] = {originator_id: [] for originator_id in after}
        originator_ids = list(after)
        with self._bulk_read_cursor(len(originator_ids)) as curs:
            for chunk in chunks(originator_ids, self.SELECT_STREAMS_CHUNK_SIZE):
                # The id as stored (what the library's reads return), and the caller's key.
                db_ids = self._db_ids(chunk)
                chunk_streams = [streams[originator_id] for originator_id in chunk]
                curs.execute(
                    self.select_streams_statement,
                    (db_ids, [after[originator_id] for originator_id in chunk]),
                    prepare=True,
                    binary=True,
                )
                for n, version, topic, state in curs.fetchall():
                    chunk_streams[n - 1].append(StoredEvent(db_ids[n - 1], version, topic, state))
        return streams

    @_retrying
    def select_first_events(
        self, originator_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, StoredEvent]:
        """Each id's first event (version 1), for what it fixes for good; ids without any
        are absent. One index probe per id, however long the streams have grown."""
        first: dict[uuid.UUID, StoredEvent] = {}
        unique_ids = list(dict.fromkeys(originator_ids))
        with self._bulk_read_cursor(len(unique_ids)) as curs:
            for chunk in chunks(unique_ids, self.SELECT_STREAMS_CHUNK_SIZE):
                db_ids = self._db_ids(chunk)
                curs.execute(self.select_first_events_statement, (db_ids,), prepare=True,
                             binary=True)
                for n, topic, state in curs.fetchall():
                    first[chunk[n - 1]] = StoredEvent(db_ids[n - 1], 1, topic, state)
        return first


SCHEMA_LOCK_KEY = migrations.SCHEMA_LOCK_KEY  # "fund": one advisory lock for every CREATE


class SerializedTableCreation:
    """Creating tables one process at a time.

    ``CREATE TABLE IF NOT EXISTS`` is not safe against itself: two processes opening the
    ledger at once on a new database (an API and a runner) can fail with "tuple concurrently
    updated". A transaction-level advisory lock makes the second wait for the first.
    """

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        curs.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,), prepare=False)
        super()._create_table(curs)  # type: ignore[misc]


class FundPostgresAggregateRecorder(
    SerializedTableCreation, _PostgresBulkReads, PostgresAggregateRecorder
):
    """The snapshot recorder: the library's, plus ``select_streams`` and ``select_latest_many``."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        events_table_name: str = "stored_events",
    ):
        super().__init__(datastore, events_table_name=events_table_name)
        self._init_bulk_reads()
        self.select_latest_many_statement = SQL(
            "SELECT a.n, e.originator_version, e.topic, e.state "
            "FROM unnest(%b::{id_type}[]) WITH ORDINALITY AS a(originator_id, n) "
            "CROSS JOIN LATERAL ("
            "SELECT originator_version, topic, state FROM {schema}.{table} "
            "WHERE originator_id = a.originator_id "
            "ORDER BY originator_version DESC LIMIT 1) AS e"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
            id_type=Identifier(self.datastore.originator_id_type),
        )

    @_retrying
    def select_latest_many(
        self, originator_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, StoredEvent]:
        """The highest-version stored event of each id; ids without any are absent."""
        latest: dict[uuid.UUID, StoredEvent] = {}
        if not originator_ids:
            return latest
        unique_ids = list(dict.fromkeys(originator_ids))
        with self._bulk_read_cursor(len(unique_ids)) as curs:
            for chunk in chunks(unique_ids, self.SELECT_STREAMS_CHUNK_SIZE):
                db_ids = self._db_ids(chunk)
                curs.execute(
                    self.select_latest_many_statement, (db_ids,), prepare=True, binary=True
                )
                for n, version, topic, state in curs.fetchall():
                    latest[chunk[n - 1]] = StoredEvent(db_ids[n - 1], version, topic, state)
        return latest


class FundPostgresApplicationRecorder(
    SerializedTableCreation, _PostgresBulkReads, PostgresApplicationRecorder
):
    """The application recorder: posting references, one-round-trip small saves,
    one-transaction large saves, bulk reads."""

    # A save above either limit is a large save (see the module docstring).
    SMALL_SAVE_MAX_EVENTS = 500
    SMALL_SAVE_MAX_BYTES = 256 * 1024
    # Ids read in one statement with their snapshots (``select_snapshots_and_streams``): a
    # ballot's or a sale's handful. Its cost grows with each id (three index probes and a
    # branch to plan): at 8 ids 0.3 ms against 0.6 ms for the two bulk statements, even at
    # 10-12, beyond that dearer; a batch takes the chunked two-statement path.
    FEW_IDS_MAX = 8

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        events_table_name: str = "stored_events",
    ):
        super().__init__(datastore, events_table_name=events_table_name)
        self._init_bulk_reads()
        self._select_notifications_statements: dict[tuple[bool, bool, bool, bool], Composed] = {}
        self._snapshots_and_streams_statements: dict[tuple[str, int], Composed] = {}
        self.references_table_name = REFERENCES_TABLE_NAME
        self.check_identifier_length(self.references_table_name)
        schema = Identifier(self.datastore.schema)
        table = Identifier(self.references_table_name)
        id_type = Identifier(self.datastore.originator_id_type)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{table} ("
                "reference text PRIMARY KEY, "
                "kind text NOT NULL, "
                "digest text NOT NULL, "
                "originator_id {id_type} NOT NULL, "
                "originator_version bigint NOT NULL)"
            ).format(schema=schema, table=table, id_type=id_type)
        )
        events_table = Identifier(self.events_table_name)
        self.copy_events_statement = SQL(
            "COPY {schema}.{table} (originator_id, originator_version, topic, state) "
            "FROM STDIN (FORMAT BINARY)"
        ).format(schema=schema, table=events_table)
        self.copy_references_statement = SQL(
            "COPY {schema}.{table} (reference, kind, digest, originator_id, originator_version) "
            "FROM STDIN (FORMAT BINARY)"
        ).format(schema=schema, table=table)
        # The notification id sequence (see the module docstring), by the events table's name.
        serial_sequence = SQL(
            "pg_get_serial_sequence(quote_ident(%s) || '.' || quote_ident(%s), 'notification_id')"
            "::regclass"
        )
        self.select_sequence_statement = SQL(
            "SELECT pg_sequence_last_value(s.seqrelid) AS last_value, "
            "s.seqstart AS start_value, s.seqincrement AS increment, s.seqcache AS cache "
            "FROM pg_catalog.pg_sequence AS s WHERE s.seqrelid = {serial_sequence}"
        ).format(serial_sequence=serial_sequence)
        self.select_sequence_currval_statement = SQL(
            "SELECT currval({serial_sequence}) AS currval"
        ).format(serial_sequence=serial_sequence)
        self._init_insert_function(schema, table, id_type)
        # Which of a save's events are stored, in the save's order, and whether the first
        # is the save's own (see insert_events).
        self.select_written_statement = SQL(
            "SELECT e.notification_id, a.n = 1 AND e.topic = %b AND e.state = %b "
            "FROM unnest(%b::{id_type}[], %b::bigint[]) WITH ORDINALITY "
            "AS a(originator_id, originator_version, n) "
            "JOIN {schema}.{events} AS e USING (originator_id, originator_version) "
            "ORDER BY a.n"
        ).format(schema=schema, events=events_table, id_type=id_type)
        self.select_references_statement = SQL(
            "SELECT reference, kind, digest, originator_id, originator_version "
            "FROM {schema}.{table} WHERE reference = ANY(%b::text[])"
        ).format(schema=schema, table=table)

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        # A database without the event log is new: it is made at the code's schema version
        # and says so, in this transaction, under the lock (ledger.persistence.migrations).
        curs.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,), prepare=False)
        db = SchemaDb(curs, schema=self.datastore.schema or "public",
                      events_table=self.events_table_name)
        fresh = not db.exists(self.events_table_name)
        super()._create_table(curs)
        record_creation(db, fresh=fresh)

    def _init_insert_function(
        self, schema: Identifier, references_table: Identifier, id_type: Identifier
    ) -> None:
        """The small-save function (see the module docstring), created with the tables."""
        self.insert_function_name = f"fundledger_insert_{self.events_table_name}"
        self.check_identifier_length(self.insert_function_name)
        function = Identifier(self.insert_function_name)
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{function}("
                "ids {id_type}[], versions bigint[], topics text[], states bytea[], "
                "refs text[], kinds text[], digests text[], ref_ids {id_type}[], "
                "ref_versions bigint[], lock_timeout text) "
                "RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ "
                "BEGIN "
                "PERFORM set_config('lock_timeout', lock_timeout, true); "
                "LOCK TABLE {schema}.{events} IN EXCLUSIVE MODE; "
                "NOTIFY {channel}; "
                "RETURN QUERY INSERT INTO {schema}.{events} "
                "(originator_id, originator_version, topic, state) "
                "SELECT * FROM unnest(ids, versions, topics, states) "
                "RETURNING notification_id; "
                "INSERT INTO {schema}.{references} "
                "(reference, kind, digest, originator_id, originator_version) "
                "SELECT * FROM unnest(refs, kinds, digests, ref_ids, ref_versions); "
                "END $BODY$"
            ).format(
                schema=schema,
                function=function,
                id_type=id_type,
                events=Identifier(self.events_table_name),
                channel=Identifier(self.channel_name),
                references=references_table,
            )
        )
        self.call_insert_function_statement = SQL(
            "SELECT * FROM {schema}.{function}(%b::{id_type}[], %b::bigint[], %b::text[], "
            "%b::bytea[], %b::text[], %b::text[], %b::text[], %b::{id_type}[], %b::bigint[], "
            "%b::text)"
        ).format(schema=schema, function=function, id_type=id_type)
        self.lock_timeout_setting = f"{self.datastore.lock_timeout}s"

    def select_snapshot_and_stream(
        self, originator_id: uuid.UUID, snapshots_table_name: str
    ) -> tuple[StoredEvent | None, list[StoredEvent]]:
        """One id's latest snapshot (from ``snapshots_table_name``, in this datastore's
        schema) and its stored events after that snapshot, by version, in one statement.

        ``select_latest_many`` then ``select_streams`` give the same in two round trips,
        which on a single posting were a quarter of its time.
        """
        db_id = self._db_ids([originator_id])[0]
        rows = self._select_few(snapshots_table_name, [db_id])
        snapshot: StoredEvent | None = None
        stream: list[StoredEvent] = []
        for _, is_snapshot, version, topic, state in rows:
            if is_snapshot:
                snapshot = StoredEvent(db_id, version, topic, state)
            else:
                stream.append(StoredEvent(db_id, version, topic, state))
        return snapshot, stream

    def select_snapshots_and_streams(
        self, originator_ids: Sequence[uuid.UUID], snapshots_table_name: str
    ) -> tuple[dict[uuid.UUID, StoredEvent], dict[uuid.UUID, list[StoredEvent]]]:
        """``select_snapshot_and_stream`` for a few ids (at most ``FEW_IDS_MAX``) at once:
        each id's latest snapshot and its events after it, in one statement.

        A ballot reads its vote and the voter's roll entry: two statements (snapshots, then
        the streams after them) were one of its three round trips. The statement is the
        single id's, once per id, joined by UNION ALL (one per count of ids, prepared): the
        ids as one array through ``unnest`` and a LATERAL join cost the server twice as much
        (two ids: 0.17 ms against 0.33 ms, the two statements 0.49 ms).
        """
        unique_ids = list(dict.fromkeys(originator_ids))
        if len(unique_ids) == 1:  # a single posting: its own lean path
            snapshot, stream = self.select_snapshot_and_stream(unique_ids[0],
                                                               snapshots_table_name)
            return ({} if snapshot is None else {unique_ids[0]: snapshot},
                    {unique_ids[0]: stream})
        if len(unique_ids) > self.FEW_IDS_MAX:
            raise ValueError(f"at most {self.FEW_IDS_MAX} ids in one statement, "
                             f"not {len(unique_ids)}")
        db_ids = self._db_ids(unique_ids)
        snapshots: dict[uuid.UUID, StoredEvent] = {}
        streams: dict[uuid.UUID, list[StoredEvent]] = {i: [] for i in unique_ids}
        for n, is_snapshot, version, topic, state in self._select_few(snapshots_table_name,
                                                                      db_ids):
            stored = StoredEvent(db_ids[n], version, topic, state)
            if is_snapshot:
                snapshots[unique_ids[n]] = stored
            else:
                streams[unique_ids[n]].append(stored)
        return snapshots, streams

    @_retrying
    def _select_few(self, snapshots_table_name: str,
                    db_ids: Sequence[uuid.UUID | str]) -> list[TupleRow]:
        """Rows (index of the id, is a snapshot, version, topic, state) of each id's latest
        snapshot and the events after it, ordered by index, snapshot first, version."""
        key = (snapshots_table_name, len(db_ids))
        statement = self._snapshots_and_streams_statements.get(key)
        if statement is None:
            statement = self._snapshots_and_streams_statements[key] = self._few_ids_statement(
                snapshots_table_name, len(db_ids))
        with (
            self.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row) as curs,
        ):
            curs.execute(statement, {f"id{n}": db_id for n, db_id in enumerate(db_ids)},
                         prepare=True, binary=True)
            return curs.fetchall()

    def _few_ids_statement(self, snapshots_table_name: str, count: int) -> Composed:
        names = {"schema": Identifier(self.datastore.schema),
                 "snapshots": Identifier(snapshots_table_name),
                 "events": Identifier(self.events_table_name)}
        branches = [SQL(
            "(SELECT {n}, true, originator_version, topic, state FROM {schema}.{snapshots} "
            "WHERE originator_id = %({id})s ORDER BY originator_version DESC LIMIT 1) "
            "UNION ALL "
            "(SELECT {n}, false, originator_version, topic, state FROM {schema}.{events} "
            "WHERE originator_id = %({id})s AND originator_version > coalesce(("
            "SELECT max(originator_version) FROM {schema}.{snapshots} "
            "WHERE originator_id = %({id})s), 0))"
        ).format(n=Literal(n), id=SQL(f"id{n}"), **names) for n in range(count)]
        return SQL(" UNION ALL ").join(branches) + SQL(" ORDER BY 1, 2 DESC, 3")

    # -- writing ---------------------------------------------------------------------------

    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        references: Sequence[PostingReference] = (),
        **kwargs: Any,
    ) -> Sequence[int] | None:
        """Insert events and their posting references in one transaction.

        Returns the events' notification ids in order (``None`` when no events are given).
        A duplicate event or reference raises ``IntegrityError`` and nothing is written.

        A lost connection leaves the save's outcome unknown: the commit may have happened
        before the connection died. The same rows are then sent again on a working
        connection (up to ``LOST_CONNECTION_ATTEMPTS_MAX`` attempts in all). That is safe for
        any save: an event's key (aggregate id, version) can be written once, so a repeat
        either writes the rows (no earlier attempt did) or conflicts. On a conflict after a
        loss the first event is read back: if it holds this save's own bytes, the
        transaction that wrote it committed all of the save, and its notification ids are
        returned as if the lost answer had arrived. Only another writer's events still raise
        ``IntegrityError``.
        """
        if not stored_events and not references:
            return None
        if self._needs_plain_transaction(stored_events, references, kwargs):
            def insert() -> list[int]:
                return self._insert_in_plain_transaction(stored_events, references, **kwargs)
        else:
            def insert() -> list[int]:
                return self._insert_by_function(stored_events, references)
        for attempt in range(1, LOST_CONNECTION_ATTEMPTS_MAX + 1):
            try:
                return insert()
            except ConnectionLost:
                if attempt == LOST_CONNECTION_ATTEMPTS_MAX:
                    raise
            except IntegrityError:
                written = None if attempt == 1 else self._ids_if_written(
                    stored_events, references)
                if written is None:
                    raise
                return written
        raise AssertionError("unreachable")

    def _needs_plain_transaction(
        self,
        stored_events: Sequence[StoredEvent],
        references: Sequence[PostingReference],
        kwargs: Mapping[str, Any],
    ) -> bool:
        if not stored_events or kwargs.get("tracking") is not None:
            # References alone, or a subclass's tracking record (written by _insert_events).
            return True
        if max(len(stored_events), len(references)) > self.SMALL_SAVE_MAX_EVENTS:
            return True
        size = sum(len(e.state) + len(e.topic) for e in stored_events)
        size += sum(len(r.reference) + len(r.kind) + len(r.digest) for r in references)
        return size > self.SMALL_SAVE_MAX_BYTES

    @_retrying_operational
    def _insert_by_function(
        self, stored_events: Sequence[StoredEvent], references: Sequence[PostingReference]
    ) -> list[int]:
        # get_connection() translates psycopg errors to eventsourcing's (UniqueViolation ->
        # IntegrityError, a version beyond bigint -> DataError); the pooled connection is in
        # autocommit, so the call is its own transaction and a failure leaves nothing behind.
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(
                self.call_insert_function_statement,
                (
                    self._db_ids([e.originator_id for e in stored_events]),
                    [e.originator_version for e in stored_events],
                    [e.topic for e in stored_events],
                    [e.state for e in stored_events],
                    [r.reference for r in references],
                    [r.kind for r in references],
                    [r.digest for r in references],
                    self._db_ids([r.originator_id for r in references]),
                    [r.originator_version for r in references],
                    self.lock_timeout_setting,
                ),
                prepare=True,
                binary=True,
            )
            # Drawn from the sequence in row order under the table lock, so ascending.
            return sorted(row[0] for row in curs.fetchall())

    @_retrying_operational
    def _insert_in_plain_transaction(
        self,
        stored_events: Sequence[StoredEvent],
        references: Sequence[PostingReference],
        **kwargs: Any,
    ) -> list[int]:
        notification_ids: list[int] = []
        # get_connection() translates psycopg errors to eventsourcing's (UniqueViolation ->
        # IntegrityError); conn.transaction() rolls everything back on any error.
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as curs,
        ):
            self._insert_events(curs, stored_events, references=references, **kwargs)
            self._lock_table(curs)
            self._notify_channel(curs)
            try:
                by_hand = self._copies_by_hand(curs)
                if references and by_hand:
                    # References first: the server indexes them faster than they are sent,
                    # so between blocks the client maps events ahead (when they are mapped
                    # lazily, see ledger.persistence.transcoder.StoredEventsBatch).
                    copy_blocks(
                        curs,
                        self.copy_references_statement,
                        _mapping_ahead(reference_copy_blocks(references), stored_events),
                    )
                if stored_events:
                    first = self._next_notification_id(curs)
                    if by_hand:
                        copy_blocks(
                            curs, self.copy_events_statement, event_copy_blocks(stored_events)
                        )
                    else:
                        db_ids = self._db_ids([e.originator_id for e in stored_events])
                        self._copy(
                            curs,
                            self.copy_events_statement,
                            (self.datastore.originator_id_type, "int8", "text", "bytea"),
                            (
                                (db_id, e.originator_version, e.topic, e.state)
                                for db_id, e in zip(db_ids, stored_events, strict=True)
                            ),
                        )
                    last = first + len(stored_events) - 1
                    self._check_last_notification_id(curs, last)
                    notification_ids = list(range(first, last + 1))
                if references and not by_hand:
                    db_ids = self._db_ids([r.originator_id for r in references])
                    self._copy(
                        curs,
                        self.copy_references_statement,
                        ("text", "text", "text", self.datastore.originator_id_type, "int8"),
                        (
                            (r.reference, r.kind, r.digest, db_id, r.originator_version)
                            for db_id, r in zip(db_ids, references, strict=True)
                        ),
                    )
            except PACK_ERRORS as error:
                # A version beyond bigint: as the server would say for an INSERT.
                msg = f"Can't write the save: {error}"
                raise DataError(msg) from error
        return notification_ids

    @_retrying
    def _ids_if_written(
        self, stored_events: Sequence[StoredEvent], references: Sequence[PostingReference]
    ) -> list[int] | None:
        """The events' notification ids if this very save is stored (its first event with
        the same bytes; a save is one transaction, so then all of it), else None. A save of
        references alone: [] if each is stored as given, else None."""
        if not stored_events:
            found = self.select_references([r.reference for r in references])
            return [] if all(found.get(r.reference) == r for r in references) else None
        first = stored_events[0]
        db_ids = self._db_ids([e.originator_id for e in stored_events])
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self.select_written_statement, (
                first.topic, first.state, db_ids, [e.originator_version for e in stored_events]),
                binary=True)
            rows = curs.fetchall()
        if len(rows) != len(stored_events) or not rows[0][1]:
            return None
        return [row[0] for row in rows]

    @staticmethod
    def _copy(
        curs: Cursor[DictRow],
        statement: Composed,
        types: Sequence[str],
        rows: Iterable[tuple[Any, ...]],
    ) -> None:
        with curs.copy(statement) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)

    def _copies_by_hand(self, curs: Cursor[DictRow]) -> bool:
        """Whether rows can be formatted here (uuid ids, UTF-8 text) rather than by psycopg."""
        return (
            self.datastore.originator_id_type == "uuid"
            and curs.connection.info.encoding == "utf-8"
        )

    def _sequence_params(self) -> tuple[str, str]:
        return (self.datastore.schema, self.events_table_name)

    def _next_notification_id(self, curs: Cursor[DictRow]) -> int:
        """The id the next inserted event gets; call with the table locked."""
        curs.execute(self.select_sequence_statement, self._sequence_params(), prepare=True)
        row = curs.fetchone()
        if row is None:  # pragma: no cover - the library's table always has the bigserial
            msg = f"No notification_id sequence for table {self.events_table_name!r}"
            raise ProgrammingError(msg)
        if row["increment"] != 1 or row["cache"] != 1:  # pragma: no cover - not the library's
            msg = "The notification_id sequence must have INCREMENT 1 and CACHE 1"
            raise ProgrammingError(msg)
        last_value: int | None = row["last_value"]
        return int(row["start_value"]) if last_value is None else last_value + 1

    def _check_last_notification_id(self, curs: Cursor[DictRow], expected: int) -> None:
        curs.execute(self.select_sequence_currval_statement, self._sequence_params(), prepare=True)
        row = curs.fetchone()
        assert row is not None
        if row["currval"] != expected:  # pragma: no cover - see the module docstring
            # Inside the transaction, so it rolls back; not an error that is retried.
            msg = (
                f"notification ids are not contiguous: the sequence is at {row['currval']}, "
                f"expected {expected}"
            )
            raise ProgrammingError(msg)

    # -- reading ---------------------------------------------------------------------------

    @_retrying
    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """The library's ``select_notifications`` (same rows, same order, same arguments),
        about twice as fast: rows come as tuples in binary format, where the library builds a
        dict per row and parses every value from text, and each ``Notification`` is built
        without its frozen dataclass's ``__init__`` (one ``object.__setattr__`` per field).
        Every view's catch-up, the sealer and the relay read the log through this."""
        key = (start is not None, inclusive_of_start, stop is not None, bool(topics))
        statement = self._select_notifications_statements.get(key)
        if statement is None:
            statement = self._select_notifications_statements[key] = (
                self._select_notifications_statement(*key))
        params: list[Any] = []
        if start is not None:
            params.append(start)
        if stop is not None:
            params.append(stop)
        if topics:
            params.append(list(topics))
        params.append(limit)
        build = build_frozen
        notifications = []
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(statement, params, prepare=True, binary=True)
            for notification_id, originator_id, originator_version, topic, state in (
                    curs.fetchall()):
                notifications.append(build(Notification, {
                    "id": notification_id, "originator_id": originator_id,
                    "originator_version": originator_version, "topic": topic,
                    "state": state}))
        return notifications

    def _select_notifications_statement(
        self, has_start: bool, inclusive_of_start: bool, has_stop: bool, has_topics: bool
    ) -> Composed:
        conditions = []
        if has_start:
            conditions.append(SQL("notification_id >= %s") if inclusive_of_start
                              else SQL("notification_id > %s"))
        if has_stop:
            conditions.append(SQL("notification_id <= %s"))
        if has_topics:
            conditions.append(SQL("topic = ANY(%s)"))
        where = SQL(" WHERE ") + SQL(" AND ").join(conditions) if conditions else SQL("")
        return SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {schema}.{table}{where} ORDER BY notification_id LIMIT %s"
        ).format(schema=Identifier(self.datastore.schema),
                 table=Identifier(self.events_table_name), where=where)

    @_retrying
    def select_references(self, references: Sequence[str]) -> dict[str, PostingReference]:
        """The recorded references among ``references`` (one query), keyed by reference."""
        if isinstance(references, str):
            msg = "select_references() takes a sequence of references, not one string"
            raise TypeError(msg)
        found: dict[str, PostingReference] = {}
        if not references:
            return found
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_references_statement, (list(references),), prepare=True)
            for row in curs.fetchall():
                found[row["reference"]] = PostingReference(
                    reference=row["reference"],
                    kind=row["kind"],
                    digest=row["digest"],
                    originator_id=_as_uuid(row["originator_id"]),
                    originator_version=row["originator_version"],
                )
        return found


class FundPostgresFactory(PostgresFactory):
    """``PostgresFactory`` whose application and aggregate (snapshot) recorders are ours."""

    aggregate_recorder_class = FundPostgresAggregateRecorder
    application_recorder_class = FundPostgresApplicationRecorder

    def aggregate_recorder(self, purpose: str = "events") -> FundPostgresAggregateRecorder:
        recorder = super().aggregate_recorder(purpose)
        assert isinstance(recorder, FundPostgresAggregateRecorder)
        return recorder

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        # The library's factory builds a PostgresDatastore itself; ours only adds a method.
        assert type(self.datastore) is PostgresDatastore
        self.datastore.__class__ = FundPostgresDatastore
        # The URL's libpq parameters (sslmode, application_name, connect_timeout, ...), which
        # the library's factory has no setting for: every pooled connection is made with them.
        pool_kwargs = self.datastore.pool.kwargs
        assert isinstance(pool_kwargs, dict)  # the library gives a dict, not a function
        pool_kwargs.update(
            parse_qsl(self.env.get(LIBPQ_PARAMETERS_ENV) or "", keep_blank_values=True))

    def application_recorder(self) -> FundPostgresApplicationRecorder:
        recorder = super().application_recorder()
        assert isinstance(recorder, FundPostgresApplicationRecorder), (
            "APPLICATION_RECORDER_TOPIC must name a FundPostgresApplicationRecorder subclass"
        )
        if self.env.get("CHECK_SCHEMA", "y") != "n":
            open_schema(recorder, auto_migrate=self.env_create_table() and auto_migrate_setting(
                self.env.get("AUTO_MIGRATE"), postgres=True))
        return recorder
