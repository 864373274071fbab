"""Schema versions: the database says which shape its tables have, ``migrate`` brings it up.

The version lives in the database, in ``fundledger_schema`` (one row per version applied:
``version``, ``applied_at``, ``description``), beside the event log and in the same schema on
PostgreSQL. ``SCHEMA_VERSION`` is what this code needs.

Version 1
    The tables as the releases before schema versions made them (the library's event and
    snapshot tables, ``posting_references``, the small-save function, the views', the seal's,
    the tokens' and the web pages' tables). A database holding the event log but no version
    row is such a database: it is version 1, recognised, not changed, until it is migrated.

Later versions
    Each is one ``Migration``: plain SQL (per store) run in order, each in the same
    transaction as its version row, under the schema lock (PostgreSQL: the advisory lock that
    serialises every fundledger ``CREATE``; SQLite: the database's write lock), so two
    processes never both migrate and a failed migration leaves the previous version whole.

A new database
    is created at version 1 by the recorders' ``CREATE TABLE IF NOT EXISTS`` statements, then
    given every later migration and its version rows in the same transaction: a fresh database
    and a migrated one have the same tables and indexes (``tests/integration/test_schema_
    upgrade.py`` compares them), and the migrations are the one place a change is written.
    Tables made later by their owners (a view's on its first run, the web pages' on ``serve``)
    are made in their current shape by their own code; a migration that changes one of them
    changes it only where it already exists.

Opening a database (``open_schema``, called by the factories after the tables are made)
    at the code's version goes on; older is migrated when ``auto_migrate`` allows (the
    default for SQLite, the embedded single-user store) or refused with one line naming both
    versions and ``fundledger migrate`` (the default for PostgreSQL, where a DBA decides when
    the schema changes); newer is always refused: old code must not write into tables whose
    meaning it does not know. See docs/upgrades.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SCHEMA_TABLE = "fundledger_schema"
BASELINE_VERSION = 1
BASELINE_DESCRIPTION = "the baseline: the tables as made before schema versions"

# Shared with ledger.persistence.postgres.SerializedTableCreation: "fund" in ASCII.
SCHEMA_LOCK_KEY = 0x66756E64


class SchemaVersionError(Exception):
    """The database's schema is not the one this code needs; nothing was changed."""

    def __init__(self, found: int, needed: int) -> None:
        self.found, self.needed = found, needed
        if found > needed:
            message = (f"schema version {found} is newer than this code's {needed}: run the "
                       "release that migrated it (a schema is never downgraded)")
        else:
            message = f"schema version {found}, this code needs {needed}: run fundledger migrate"
        super().__init__(message)


class SchemaDb:
    """One transaction's cursor on either store, with the few things a migration needs:
    a table's name as SQL, whether a table exists, and statements with ``{p}`` placeholders."""

    def __init__(self, cursor: Any, *, schema: str | None, events_table: str) -> None:
        self.cursor = cursor
        self.schema = schema  # None on SQLite
        self.postgres = schema is not None
        self.events_table = events_table
        self.p = "%s" if self.postgres else "?"

    def table(self, name: str) -> str:
        """``name`` as SQL: schema-qualified and quoted on PostgreSQL."""
        if self.schema is None:
            return name
        return f'"{self.schema}"."{name}"'

    def execute(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run ``statement`` (``{p}`` marks a parameter); its rows, if it returns any."""
        text = statement.replace("{p}", self.p)
        if self.postgres:
            self.cursor.execute(text, tuple(params), prepare=False)
        else:
            self.cursor.execute(text, tuple(params))
        return list(self.cursor.fetchall()) if text.startswith("SELECT") else []

    def exists(self, table: str) -> bool:
        if self.postgres:
            rows = self.execute("SELECT 1 AS found FROM information_schema.tables "
                                "WHERE table_schema = {p} AND table_name = {p}",
                                (self.schema, table))
        else:
            rows = self.execute("SELECT 1 AS found FROM sqlite_master "
                                "WHERE type = 'table' AND name = {p}", (table,))
        return bool(rows)

    def version(self) -> int:
        """The recorded version; 1 for a log without one (the baseline); 0 for no log."""
        if self.exists(SCHEMA_TABLE):
            rows = self.execute(f"SELECT max(version) AS version FROM {self.table(SCHEMA_TABLE)}")
            if rows and rows[0]["version"] is not None:
                return int(rows[0]["version"])
        return BASELINE_VERSION if self.exists(self.events_table) else 0

    def history(self) -> list[tuple[int, str, str]]:
        """The version rows: (version, applied_at as ISO text, description), oldest first."""
        if not self.exists(SCHEMA_TABLE):
            return []
        rows = self.execute("SELECT version, applied_at, description FROM "
                            f"{self.table(SCHEMA_TABLE)} ORDER BY version")
        return [(int(r["version"]), _iso(r["applied_at"]), str(r["description"])) for r in rows]


def _iso(moment: Any) -> str:
    return moment.isoformat() if isinstance(moment, datetime) else str(moment)


@dataclass(frozen=True)
class Migration:
    """From ``version - 1`` to ``version``: ``apply`` runs its statements (both stores)."""

    version: int
    description: str
    apply: Callable[[SchemaDb], None]


def _index_stream_starts(db: SchemaDb) -> None:
    # Every stream's first event, in log order: what exporting a community's history
    # (``projections.seal.evidence.community_streams``, the disclosure bundle) reads. Without
    # this index that read is a scan of the whole log, states and all; with it, one entry per
    # stream. Partial, so a posting (version > 1) adds nothing to it.
    # On a very large PostgreSQL log build it first without blocking writers, then migrate
    # (IF NOT EXISTS finds it): CREATE INDEX CONCURRENTLY stored_events_stream_starts ...
    name = f"{db.events_table}_stream_starts"
    column = "notification_id" if db.postgres else "originator_version"  # SQLite adds rowid
    quoted = f'"{name}"' if db.postgres else name
    db.execute(f"CREATE INDEX IF NOT EXISTS {quoted} ON {db.table(db.events_table)} "
               f"({column}) WHERE originator_version = 1")


def _drop_view(view_name: str) -> Callable[[SchemaDb], None]:
    """A view whose tables this release reshapes and that must be read from event one to
    fill them: drop its tables, tracking and status row, so its next run (``projections run``,
    ``serve``) makes them in the new shape and catches up from the first event: a rebuild.
    Views are always rebuildable; the log is untouched."""
    def drop(db: SchemaDb) -> None:
        pattern = view_name.replace("_", "\\_") + "\\_%"
        if db.postgres:
            rows = db.execute("SELECT table_name AS name FROM information_schema.tables WHERE "
                              "table_schema = {p} AND table_name LIKE {p} ESCAPE '\\'",
                              (db.schema, pattern))
        else:
            rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND "
                              "name LIKE {p} ESCAPE '\\'", (pattern,))
        for row in rows:
            db.execute(f"DROP TABLE IF EXISTS {db.table(str(row['name']))}")
        if db.exists(VIEW_STATUS_TABLE):
            db.execute(f"DELETE FROM {db.table(VIEW_STATUS_TABLE)} WHERE view_name = {{p}}",
                       (view_name,))
    return drop


# projections.recorders.STATUS_TABLE_NAME (the write side does not import the read side).
VIEW_STATUS_TABLE = "projection_status"
# projections.seal.sealer.DIGESTS, likewise.
DIGESTS_TABLE = "event_digests"


def _drop_digest_stream_index(db: SchemaDb) -> None:
    """PostgreSQL: the seal's digests lose their unique index on (originator_id, version).
    Keyed by random stream ids, it cost the seal a random index page per digest, which at a
    city's size no longer fit the server's buffers (at 17M digests, 13 µs a digest written
    against 2.5 without it); the seal finds a stream's digest through the events' own key.
    SQLite keeps it (a constraint there goes only with its table, and a city does not run on
    the embedded store)."""
    if not db.postgres or not db.exists(DIGESTS_TABLE):
        return
    for row in db.execute(
            "SELECT c.conname AS name FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = {p} AND "
            "t.relname = {p} AND c.contype = 'u'", (db.schema, DIGESTS_TABLE)):
        db.execute(f'ALTER TABLE {db.table(DIGESTS_TABLE)} DROP CONSTRAINT "{row["name"]}"')

MIGRATIONS: tuple[Migration, ...] = (
    Migration(2, "index of each stream's first event (exporting a community's history)",
              _index_stream_starts),
    Migration(3, "three-rates view dropped, rebuilt by its next run with its year history",
              _drop_view("three_rates")),
    Migration(4, "three-rates view dropped, rebuilt by its next run keeping each "
                 "community's flags and each street's counts and year changes",
              _drop_view("three_rates")),
    Migration(5, "the seal's digests lose their unique index on (originator_id, version) "
                 "(PostgreSQL)", _drop_digest_stream_index),
)
SCHEMA_VERSION = MIGRATIONS[-1].version if MIGRATIONS else BASELINE_VERSION
assert [m.version for m in MIGRATIONS] == list(
    range(BASELINE_VERSION + 1, SCHEMA_VERSION + 1)), "migrations are numbered 2, 3, ... in order"


def _create_version_table(db: SchemaDb) -> None:
    if db.postgres:
        db.execute(f"CREATE TABLE IF NOT EXISTS {db.table(SCHEMA_TABLE)} (version integer "
                   "PRIMARY KEY, applied_at timestamptz NOT NULL, description text NOT NULL)")
    else:
        db.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (version INTEGER PRIMARY KEY, "
                   "applied_at TEXT NOT NULL, description TEXT NOT NULL)")


def _record(db: SchemaDb, version: int, description: str) -> None:
    now = datetime.now(UTC)
    db.execute(f"INSERT INTO {db.table(SCHEMA_TABLE)} (version, applied_at, description) "
               "VALUES ({p}, {p}, {p})",
               (version, now if db.postgres else now.isoformat(), description))


def _apply(db: SchemaDb, found: int) -> list[Migration]:
    """Every migration after ``found``, each with its version row; the ones applied."""
    _create_version_table(db)
    if found == BASELINE_VERSION and not db.history():
        _record(db, BASELINE_VERSION, f"recognised: {BASELINE_DESCRIPTION}")
    applied = [m for m in MIGRATIONS if m.version > found]
    for migration in applied:
        migration.apply(db)
        _record(db, migration.version, migration.description)
    return applied


def record_creation(db: SchemaDb, *, fresh: bool) -> None:
    """After the application recorder's tables are made: a database that had no event log
    (``fresh``) is brought to ``SCHEMA_VERSION`` and says so, in the creating transaction."""
    if not fresh or db.history():
        return
    _create_version_table(db)
    _record(db, BASELINE_VERSION, f"created: {BASELINE_DESCRIPTION}")
    for migration in MIGRATIONS:
        migration.apply(db)
        _record(db, migration.version, f"created: {migration.description}")


# -- opening and migrating -------------------------------------------------------------------


def _schema_db(recorder: Any, cursor: Any) -> SchemaDb:
    # Duck-typed, so this module imports no driver: only the PostgreSQL datastore has a
    # schema (the library makes it "public" when none is given).
    return SchemaDb(cursor, schema=_pg_schema(recorder), events_table=recorder.events_table_name)


def _pg_schema(recorder: Any) -> str | None:
    schema = getattr(recorder.datastore, "schema", None)
    return None if schema is None else schema or "public"


@contextmanager
def _reading(recorder: Any) -> Iterator[SchemaDb]:
    with recorder.datastore.transaction(commit=False) as cursor:
        yield _schema_db(recorder, cursor)


@contextmanager
def _locked(recorder: Any) -> Iterator[SchemaDb]:
    """One committed transaction holding the schema lock (rolled back on an error)."""
    with recorder.datastore.transaction(commit=True) as cursor:
        db = _schema_db(recorder, cursor)
        if db.postgres:
            db.execute("SELECT pg_advisory_xact_lock({p})", (SCHEMA_LOCK_KEY,))
        else:
            # The library's BEGIN is deferred: a write takes SQLite's write lock now, before
            # the version is read, so a second migrator waits (busy timeout) and then reads
            # what the first recorded.
            _create_version_table(db)
            db.execute(f"DELETE FROM {SCHEMA_TABLE} WHERE version < 0")
        yield db


def schema_version(recorder: Any) -> int:
    """The database's schema version (0: no event log yet)."""
    with _reading(recorder) as db:
        return db.version()


def schema_history(recorder: Any) -> list[tuple[int, str, str]]:
    with _reading(recorder) as db:
        return db.history()


@dataclass(frozen=True)
class MigrationReport:
    before: int
    after: int
    applied: tuple[Migration, ...]


def migrate(recorder: Any) -> MigrationReport:
    """Bring the database to ``SCHEMA_VERSION`` under the schema lock; refuse a newer one."""
    with _locked(recorder) as db:
        found = db.version()
        if found > SCHEMA_VERSION:
            raise SchemaVersionError(found, SCHEMA_VERSION)
        applied = _apply(db, found) if BASELINE_VERSION <= found < SCHEMA_VERSION else []
    return MigrationReport(found, max(found, SCHEMA_VERSION) if found else 0, tuple(applied))


def open_schema(recorder: Any, *, auto_migrate: bool) -> None:
    """Check the schema of a database being opened: go on, migrate or refuse (see above)."""
    found = schema_version(recorder)
    if found in (0, SCHEMA_VERSION):
        return  # no log (tables not made: nothing to check), or the code's version
    if found > SCHEMA_VERSION or not auto_migrate:
        raise SchemaVersionError(found, SCHEMA_VERSION)
    migrate(recorder)


def auto_migrate_setting(value: str | None, *, postgres: bool) -> bool:
    """``FUNDLEDGER_AUTO_MIGRATE``: yes/no; unset means yes on SQLite, no on PostgreSQL."""
    if value is None or value.strip() == "":
        return not postgres
    return value.strip().lower() in ("1", "y", "yes", "true", "on")
