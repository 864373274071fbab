"""Before a command opens the ledger: is the database there, reachable, and ours?

Opening the application creates its tables (``CREATE TABLE IF NOT EXISTS``) and, on SQLite,
the file itself; and a pool whose server does not answer retries in the background while the
caller waits. So a command that only reads would, on a mistyped path, silently make a new
empty ledger and report on it, and on a wrong host wait and then fail with a traceback.

``check_database`` runs first, with one plain connection:

* PostgreSQL: connect with libpq's ``connect_timeout`` (``Settings.db_connect_timeout_s``
  unless the URL sets one): no answer is ``DatabaseUnreachable`` naming host and port;
* then, unless the command may start a new ledger, the events table must exist (in the
  URL's schema on PostgreSQL; in the file on SQLite, opened read-only so that a missing file
  stays missing): otherwise ``NoLedger``.

Both are one-line messages; the CLI exits 5 with them (see ``api.cli_common``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ledger.settings import Settings

# The events table each store's factory names for the application "FundLedger".
SQLITE_EVENTS_TABLE = "stored_events"
POSTGRES_EVENTS_TABLE = "fundledger_events"


class DatabaseProblem(Exception):
    """The configured database cannot serve the command; the message is one line."""


class DatabaseUnreachable(DatabaseProblem):
    """No connection to the database server."""


class NoLedger(DatabaseProblem):
    """The database (or the file) is not there, or holds no ledger."""


def check_database(settings: Settings, *, may_create: bool) -> None:
    """Raise ``DatabaseProblem`` unless the ledger can be opened for the command."""
    if settings.is_postgres:
        _check_postgres(settings, may_create=may_create)
    elif not may_create:
        _check_sqlite(settings)


def _check_sqlite(settings: Settings) -> None:
    path = Path(settings.db)
    hint = "check FUNDLEDGER_DB, or create a ledger with `fundledger demo` or `import units`"
    if settings.db.startswith("file:") or ":memory:" in settings.db:
        return  # a URI or an in-memory database: nothing to look for on disk
    if not path.is_file():
        raise NoLedger(f"no ledger at {settings.describe_db()}: the file does not exist "
                       f"({hint})")
    try:
        # mode=ro: a file that is not a database is not rewritten, and nothing is created.
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as conn:
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                 "name = ?", (SQLITE_EVENTS_TABLE,)).fetchone()
    except sqlite3.DatabaseError as error:
        raise NoLedger(f"no ledger at {settings.describe_db()}: {error}") from None
    if found is None:
        raise NoLedger(f"no ledger at {settings.describe_db()}: it has no "
                       f"{SQLITE_EVENTS_TABLE} table ({hint})")


def _check_postgres(settings: Settings, *, may_create: bool) -> None:
    import psycopg  # only for PostgreSQL: the SQLite path needs no driver

    parameters = settings.connection_parameters()
    where = f"{parameters['host']}:{parameters['port']}"
    try:
        conn = psycopg.connect(**parameters)  # type: ignore[arg-type]
    except psycopg.OperationalError as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise DatabaseUnreachable(
            f"cannot reach PostgreSQL at {where} (database {parameters['dbname']}, "
            f"connect timeout {parameters['connect_timeout']} s): {reason}") from None
    with conn:
        if may_create:
            return
        schema = settings.postgres_schema or "public"
        row = conn.execute("SELECT to_regclass(%s)",
                           (f'"{schema}"."{POSTGRES_EVENTS_TABLE}"',)).fetchone()
    if row is None or row[0] is None:
        raise NoLedger(f"no ledger at {settings.describe_db()}: it has no "
                       f"{POSTGRES_EVENTS_TABLE} table (check FUNDLEDGER_DB and its "
                       "?schema=, or create a ledger with `fundledger import units`)")
