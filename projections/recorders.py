"""The views' recorders: eventsourcing's tracking recorders, extended to hold a view's tables.

A view's recorder is the library's ``PostgresTrackingRecorder`` or ``SQLiteTrackingRecorder``
(single-row tracking: one row per application, its position only ever moves forward) with
three additions:

* the view's own tables, created with the tracking table and dropped with it (``drop``);
* ``commit_batch``: the view's changes for a batch of events AND the batch's one tracking
  position, in one transaction. The position is written first, by a conditional upsert (the
  library's, with one more condition) that refuses (``IntegrityError``) unless the view is
  still before the batch's first event, so a batch that was already committed even in part
  (a runner restarted after a crash, or a second runner reading pages of another size) rolls
  back before touching the view — each event applies exactly once;
* a shared ``projection_status`` table recording the event a view failed on and the error,
  cleared in the transaction that finally commits past that event.

The view tables live beside the event log (same SQLite file, same PostgreSQL schema), on the
application's own datastore. Each view names its tracking table ``<view>_tracking``, as the
library's PostgreSQL factory does; on SQLite the library fixes one ``tracking`` table for
everybody, so the SQLite recorder renames it per view.
"""

from __future__ import annotations

import hashlib
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore, SQLiteTrackingRecorder
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier, Literal

from ledger.persistence.postgres import SerializedTableCreation
from projections.view_locks import postgres_view_lock, sqlite_view_lock

STATUS_TABLE_NAME = "projection_status"
ERROR_TEXT_MAX = 4_000  # a traceback's tail is enough to find the handler
TBatch = TypeVar("TBatch")


@dataclass(frozen=True)
class Failure:
    """The event a view stopped on, and why."""

    view_name: str
    application_name: str
    notification_id: int
    topic: str
    error: str


class ViewRecorder(TrackingRecorder, Generic[TBatch]):
    """What the runner and the CLI need of any view's recorder, on either store."""

    view_name: ClassVar[str]

    @abstractmethod
    def commit_batch(self, batch: TBatch, tracking: Tracking, *,
                     page_start: int | None = None) -> None:
        """Write the batch and its tracking position in one transaction.

        ``page_start`` is the position of the page's first event. Runners may share a view,
        each reading pages of its own size, so the tracking upsert is refused (IntegrityError)
        unless the view is still before the page's first event: a page another runner has
        applied even in part is never applied again (without it, only a page ending at or
        before the view's position was refused, and an overlapping longer page applied its
        head twice).
        """

    @abstractmethod
    def record_failure(self, failure: Failure) -> None: ...

    @abstractmethod
    def failure(self) -> Failure | None: ...

    @abstractmethod
    def drop(self) -> None:
        """Drop the view's tables and tracking, and create them again, empty."""

    @abstractmethod
    def lock(self, *, exclusive: bool) -> AbstractContextManager[None]:
        """Hold the view's lock, shared by its runners or exclusive for a rebuild, or raise
        ``ViewBusy`` (see ``projections.view_locks``)."""

    @abstractmethod
    def checksum(self) -> str:
        """A digest of every row of the view, in a fixed order."""

    def deferred_indexes(self) -> AbstractContextManager[None]:
        """Without the view's secondary indexes while inside, built again on the way out.

        For a rebuild, which holds the view's lock alone: a million rows indexed in one sort
        at the end cost a fraction of a million index insertions. Only the indexes that serve
        the view's reads are dropped (``view_index_statements``), never a key its writes look
        up by; a rebuild killed inside leaves them missing until the view is next opened
        (``create_table`` makes what is missing).
        """
        return nullcontext()


def digest_rows(tables: Iterable[tuple[str, Iterable[Sequence[Any]]]]) -> str:
    """SHA-256 over each table's name and its rows, values by ``repr`` (stable per store)."""
    digest = hashlib.sha256()
    for name, rows in tables:
        digest.update(f"table {name}\n".encode())
        for row in rows:
            digest.update(repr(tuple(row)).encode())
            digest.update(b"\n")
    return digest.hexdigest()


def _advance_tracking(cursor: Any, statement: Any, tracking: Tracking,
                      page_start: int | None, *, view_name: str | None = None,
                      **execute_options: Any) -> None:
    """Move the view's position to the page's last event, or refuse (IntegrityError) if the
    view has reached the page's first event already (see ``ViewRecorder.commit_batch``)."""
    params = {
        "application_name": tracking.application_name,
        "notification_id": tracking.notification_id,
        "page_start": tracking.notification_id if page_start is None else page_start,
    }
    if view_name is not None:
        params["view_name"] = view_name
    cursor.execute(statement, params, **execute_options)
    if cursor.fetchone() is None:
        raise IntegrityError(f"the view is at or past position {page_start or 0} already: "
                             f"tracking {tracking.application_name} "
                             f"{tracking.notification_id} refused")


def _failure_text(error: str) -> str:
    return error if len(error) <= ERROR_TEXT_MAX else "..." + error[-ERROR_TEXT_MAX:]


_retrying = retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)


class PostgresViewRecorder(
    SerializedTableCreation, PostgresTrackingRecorder, ViewRecorder[TBatch]
):
    """A view on PostgreSQL: subclasses add ``view_tables`` and ``_write_batch``."""

    # Table names (without schema), each with the columns that order its rows for checksum.
    view_tables: ClassVar[tuple[tuple[str, str], ...]] = ()
    # Set for each view transaction, in one round trip. A view's commit need not wait for
    # its WAL to reach the disk: a server crash can lose the last few view transactions, but
    # each with its tracking position (one transaction), so their events are applied again
    # — still exactly once — and the log itself stays synchronous. A fifth off catch-up.
    transaction_settings: ClassVar[dict[str, str]] = {"synchronous_commit": "off"}

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        tracking_table_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            datastore,
            tracking_table_name=tracking_table_name or f"{self.view_name}_tracking",
            **kwargs,
        )
        assert datastore.single_row_tracking, "views need single-row tracking"
        self.schema = Identifier(datastore.schema)
        status = Identifier(STATUS_TABLE_NAME)
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {schema}.{status} ("
            "view_name text PRIMARY KEY, application_name text NOT NULL, "
            "notification_id bigint NOT NULL, topic text NOT NULL, error text NOT NULL, "
            "failed_at timestamptz NOT NULL DEFAULT now())"
        ).format(schema=self.schema, status=status))
        self.sql_create_statements.extend(self.view_create_statements())
        self.index_statements = self.view_index_statements()
        self.sql_create_statements.extend(statement for _, statement in self.index_statements)
        self.settings_statement = SQL("SELECT {}").format(SQL(", ").join(
            SQL("set_config({}, {}, true)").format(Literal(name), Literal(value))
            for name, value in self.transaction_settings.items()))
        self.record_failure_statement = SQL(
            "INSERT INTO {schema}.{status} "
            "(view_name, application_name, notification_id, topic, error) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (view_name) DO UPDATE SET "
            "application_name = excluded.application_name, "
            "notification_id = excluded.notification_id, topic = excluded.topic, "
            "error = excluded.error, failed_at = now()"
        ).format(schema=self.schema, status=status)
        self.select_failure_statement = SQL(
            "SELECT application_name, notification_id, topic, error "
            "FROM {schema}.{status} WHERE view_name = %s"
        ).format(schema=self.schema, status=status)
        self.advance_tracking_statement = SQL(
            "INSERT INTO {0}.{1} VALUES (%(application_name)s, %(notification_id)s) "
            "ON CONFLICT (application_name) DO UPDATE SET notification_id = %(notification_id)s "
            "WHERE {0}.{1}.notification_id < %(page_start)s RETURNING notification_id"
        ).format(self.schema, Identifier(self.tracking_table_name))
        # A batch's first statement, in one round trip: the transaction's settings, the
        # failure cleared that this batch gets past, and the guarded move of the position
        # (a refusal rolls all of it back). Three round trips before.
        self.begin_batch_statement = SQL(
            "WITH settings AS ({settings}), cleared AS ({clear}) "
            "INSERT INTO {schema}.{tracking} "
            "SELECT %(application_name)s, %(notification_id)s FROM settings "
            "ON CONFLICT (application_name) DO UPDATE SET notification_id = %(notification_id)s "
            "WHERE {schema}.{tracking}.notification_id < %(page_start)s RETURNING notification_id"
        ).format(settings=self.settings_statement, schema=self.schema,
                 tracking=Identifier(self.tracking_table_name),
                 clear=SQL("DELETE FROM {schema}.{status} WHERE view_name = %(view_name)s "
                           "AND notification_id <= %(notification_id)s").format(
                               schema=self.schema, status=status))

    def table(self, name: str) -> Composed:
        """``schema.name`` as a quoted identifier pair."""
        return SQL("{}.{}").format(self.schema, Identifier(name))

    @abstractmethod
    def view_create_statements(self) -> list[Composed]: ...

    def view_index_statements(self) -> list[tuple[str, Composed]]:
        """The view's secondary indexes (name, CREATE INDEX IF NOT EXISTS), created after
        its tables; a rebuild builds them once at its end (``deferred_indexes``)."""
        return []

    @contextmanager
    def deferred_indexes(self) -> Iterator[None]:
        if not self.index_statements:
            yield
            return
        with self.datastore.transaction(commit=True) as curs:
            for name, _ in self.index_statements:
                curs.execute(SQL("DROP INDEX IF EXISTS {}").format(self.table(name)))
        try:
            yield
        finally:
            self._build_indexes()

    def _build_indexes(self) -> None:
        """Each index on a connection of its own, at once: on 2 cores the audit view's two
        (200,000 rows) took 0.4 s one after the other, an eighth of its rebuild."""
        def build(statement: Composed) -> None:
            with self.datastore.transaction(commit=True) as curs:
                curs.execute(statement)

        statements = [statement for _, statement in self.index_statements]
        with ThreadPoolExecutor(max_workers=len(statements),
                                thread_name_prefix="view-index") as builders:
            for built in [builders.submit(build, s) for s in statements]:
                built.result()

    @abstractmethod
    def _write_batch(self, curs: Cursor[DictRow], batch: TBatch) -> None: ...

    @_retrying
    def commit_batch(self, batch: TBatch, tracking: Tracking, *,
                     page_start: int | None = None) -> None:
        with self.datastore.transaction(commit=True) as curs:
            _advance_tracking(curs, self.begin_batch_statement, tracking, page_start,
                              view_name=self.view_name, prepare=True)
            self._write_batch(curs, batch)

    @_retrying
    def record_failure(self, failure: Failure) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self.record_failure_statement, (
                failure.view_name, failure.application_name, failure.notification_id,
                failure.topic, _failure_text(failure.error)))

    @_retrying
    def failure(self) -> Failure | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_failure_statement, (self.view_name,))
            row = curs.fetchone()
        if row is None:
            return None
        return Failure(self.view_name, row["application_name"], row["notification_id"],
                       row["topic"], row["error"])

    def lock(self, *, exclusive: bool) -> AbstractContextManager[None]:
        return postgres_view_lock(self.datastore, self.view_name, exclusive=exclusive)

    def drop(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            for name in [self.tracking_table_name, *(t for t, _ in self.view_tables)]:
                curs.execute(SQL("DROP TABLE IF EXISTS {}").format(self.table(name)))
            curs.execute(SQL("DELETE FROM {} WHERE view_name = %s").format(
                self.table(STATUS_TABLE_NAME)), (self.view_name,))
        # As for a recorder that never saw the table: create_table() inserts the migration row.
        self.tracking_table_exists = False
        self.tracking_migration_previous = self.tracking_migration_current = None
        self.create_table()

    def checksum(self) -> str:
        # Every table read in one snapshot, each into a cursor of its own, and turned into
        # Python once the transaction has ended: a million rows take the client longer than
        # the server lets a connection sit idle in a transaction (see SealStore._fetch_all).
        with self.datastore.get_connection() as conn, ExitStack() as cursors:
            read = [(name, cursors.enter_context(conn.cursor())) for name, _ in self.view_tables]
            with conn.transaction():
                read[0][1].execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                for (name, order), (_, curs) in zip(self.view_tables, read, strict=True):
                    curs.execute(SQL("SELECT * FROM {} ORDER BY {}").format(
                        self.table(name), SQL(", ").join(Identifier(c) for c in order.split(","))))
            return digest_rows([(name, [tuple(row.values()) for row in curs.fetchall()])
                                for name, curs in read])


class SQLiteViewRecorder(SQLiteTrackingRecorder, ViewRecorder[TBatch]):
    """A view on SQLite: subclasses add ``view_tables`` and ``_write_batch``.

    Table names are our own constants, never input, so they are written into the SQL text.
    """

    view_tables: ClassVar[tuple[tuple[str, str], ...]] = ()

    def __init__(
        self,
        datastore: SQLiteDatastore,
        *,
        tracking_table_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        # Before super().__init__(), which builds the create statements.
        self.tracking_table_name = tracking_table_name or f"{self.view_name}_tracking"
        super().__init__(datastore, **kwargs)
        assert datastore.single_row_tracking, "views need single-row tracking"
        t = self.tracking_table_name
        # The library's statements, on this view's tracking table instead of "tracking".
        self.insert_tracking_statement = (
            f"INSERT INTO {t} VALUES (:application_name, :notification_id) "
            "ON CONFLICT (application_name) DO UPDATE SET notification_id = :notification_id "
            f"WHERE {t}.notification_id < :notification_id RETURNING notification_id"
        )
        self.select_max_tracking_id_statement = (
            f"SELECT MAX(notification_id) FROM {t} WHERE application_name=?"
        )
        self.advance_tracking_statement = (
            f"INSERT INTO {t} VALUES (:application_name, :notification_id) "
            "ON CONFLICT (application_name) DO UPDATE SET notification_id = :notification_id "
            f"WHERE {t}.notification_id < :page_start RETURNING notification_id"
        )

    def construct_create_table_statements(self) -> list[str]:
        # The library's tracking table (single-row form), named for this view.
        return [
            f"CREATE TABLE IF NOT EXISTS {self.tracking_table_name} ("
            "application_name TEXT, notification_id INTEGER, "
            "PRIMARY KEY (application_name)) WITHOUT ROWID",
            f"CREATE TABLE IF NOT EXISTS {STATUS_TABLE_NAME} ("
            "view_name TEXT PRIMARY KEY, application_name TEXT NOT NULL, "
            "notification_id INTEGER NOT NULL, topic TEXT NOT NULL, error TEXT NOT NULL, "
            "failed_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
            *self.view_create_statements(),
            *(statement for _, statement in self.view_index_statements()),
        ]

    @abstractmethod
    def view_create_statements(self) -> list[str]: ...

    def view_index_statements(self) -> list[tuple[str, str]]:
        """As ``PostgresViewRecorder.view_index_statements``."""
        return []

    @contextmanager
    def deferred_indexes(self) -> Iterator[None]:
        indexes = self.view_index_statements()
        if not indexes:
            yield
            return
        with self.datastore.transaction(commit=True) as c:
            for name, _ in indexes:
                c.execute(f"DROP INDEX IF EXISTS {name}")
        try:
            yield
        finally:
            with self.datastore.transaction(commit=True) as c:
                for _, statement in indexes:
                    c.execute(statement)

    @abstractmethod
    def _write_batch(self, c: SQLiteCursor, batch: TBatch) -> None: ...

    def commit_batch(self, batch: TBatch, tracking: Tracking, *,
                     page_start: int | None = None) -> None:
        with self.datastore.transaction(commit=True) as c:
            _advance_tracking(c, self.advance_tracking_statement, tracking, page_start)
            self._write_batch(c, batch)
            c.execute(f"DELETE FROM {STATUS_TABLE_NAME} WHERE view_name = ? "
                      "AND notification_id <= ?", (self.view_name, tracking.notification_id))

    def record_failure(self, failure: Failure) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f"INSERT INTO {STATUS_TABLE_NAME} "
                "(view_name, application_name, notification_id, topic, error) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (view_name) DO UPDATE SET "
                "application_name = excluded.application_name, "
                "notification_id = excluded.notification_id, topic = excluded.topic, "
                "error = excluded.error, failed_at = CURRENT_TIMESTAMP",
                (failure.view_name, failure.application_name, failure.notification_id,
                 failure.topic, _failure_text(failure.error)))

    def failure(self) -> Failure | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT application_name, notification_id, topic, error "
                      f"FROM {STATUS_TABLE_NAME} WHERE view_name = ?", (self.view_name,))
            row = c.fetchone()
        if row is None:
            return None
        return Failure(self.view_name, row["application_name"], row["notification_id"],
                       row["topic"], row["error"])

    def lock(self, *, exclusive: bool) -> AbstractContextManager[None]:
        return sqlite_view_lock(self.datastore, self.view_name, exclusive=exclusive)

    def drop(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            for name in [self.tracking_table_name, *(t for t, _ in self.view_tables)]:
                c.execute(f"DROP TABLE IF EXISTS {name}")
            c.execute(f"DELETE FROM {STATUS_TABLE_NAME} WHERE view_name = ?", (self.view_name,))
        self.tracking_table_exists = False
        self.tracking_migration_previous = self.tracking_migration_current = None
        self.create_table()

    def checksum(self) -> str:
        with self.datastore.transaction(commit=False) as c:
            tables = []
            for name, order in self.view_tables:
                c.execute(f"SELECT * FROM {name} ORDER BY {order}")
                tables.append((name, [tuple(row) for row in c.fetchall()]))
            return digest_rows(tables)
