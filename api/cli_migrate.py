"""``fundledger migrate`` and ``fundledger backup``: schema upgrades and SQLite copies.

``migrate`` brings the database's schema to this code's version (``ledger.persistence.
migrations``), under the schema lock, and says what it applied; ``--check`` only says whether
it would (exit 1 when it would, or when the database is newer than the code). ``backup``
copies a SQLite database with SQLite's online backup API, consistent while others write;
a PostgreSQL database is copied with ``pg_dump`` (docs/upgrades.md).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment
from rich.markup import escape

from api.cli_common import cli, err, out
from ledger.application import FundLedger
from ledger.persistence.migrations import (
    SCHEMA_VERSION,
    SchemaVersionError,
    migrate,
    schema_history,
    schema_version,
)
from ledger.persistence.preflight import check_database
from ledger.settings import Settings

JsonOption = Annotated[bool, typer.Option("--json", help="Answer in JSON.")]


def _refuse(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]{escape(message)}[/]")
    return typer.Exit(code)


def _existing_sqlite(settings: Settings) -> Path:
    check_database(settings, may_create=False)  # a missing file: one line, exit 5
    return Path(settings.db)


@contextmanager
def _recorder(settings: Settings, *, create: bool) -> Iterator[Any]:
    """The ledger's application recorder, opened without the schema check that
    ``FundLedger`` makes (this command is what that check asks for)."""
    if not settings.is_postgres:
        _existing_sqlite(settings)  # a mistyped path must not become a new database
    env = {**settings.eventsourcing_env(), "CHECK_SCHEMA": "n",
           "CREATE_TABLE": "y" if create else "n"}
    factory = InfrastructureFactory.construct(Environment(name=FundLedger.name, env=env))
    try:
        yield factory.application_recorder()
    finally:
        factory.close()


@cli.command("migrate")
def migrate_command(
    check: Annotated[bool, typer.Option(
        "--check", help="Only say whether a migration is due: exit 1 if it is (or if the "
        "database is newer than this code), 0 if not.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Bring the database's schema to this code's version (docs/upgrades.md)."""
    settings = Settings()
    started = time.perf_counter()
    with _recorder(settings, create=not check) as recorder:
        if check:
            found = schema_version(recorder)
            _answer_check(found, schema_history(recorder), as_json)
            return
        try:
            report = migrate(recorder)
        except SchemaVersionError as error:
            raise _refuse(str(error), 1) from None
        history = schema_history(recorder)
    seconds = time.perf_counter() - started
    if as_json:
        out.print_json(json.dumps({
            "before": report.before, "after": report.after, "code_needs": SCHEMA_VERSION,
            "applied": [{"version": m.version, "description": m.description}
                        for m in report.applied],
            "history": [{"version": v, "applied_at": at, "description": d}
                        for v, at, d in history],
            "seconds": round(seconds, 3)}, ensure_ascii=False))
        return
    if report.applied:
        out.print(f"schema version {report.before} → {report.after} in {seconds:.2f} s:")
        for m in report.applied:
            out.print(f"  {m.version}: {escape(m.description)}")
    else:
        out.print(f"schema version {report.after}: up to date, nothing to apply")


def _answer_check(found: int, history: list[tuple[int, str, str]], as_json: bool) -> None:
    due = 0 < found < SCHEMA_VERSION
    if as_json:
        out.print_json(json.dumps({
            "version": found, "code_needs": SCHEMA_VERSION, "due": due,
            "newer_than_code": found > SCHEMA_VERSION,
            "history": [{"version": v, "applied_at": at, "description": d}
                        for v, at, d in history]}, ensure_ascii=False))
    elif found == 0:
        out.print("no event log yet: it is made at the code's version when first opened")
    elif found == SCHEMA_VERSION:
        out.print(f"schema version {found}: up to date")
    else:
        out.print(str(SchemaVersionError(found, SCHEMA_VERSION)))
    if due or found > SCHEMA_VERSION:
        raise typer.Exit(1)


@cli.command("backup")
def backup_command(
    target: Annotated[Path, typer.Argument(help="The copy to write (must not exist).")],
    as_json: JsonOption = False,
) -> None:
    """Copy the SQLite database consistently, even while others write (PostgreSQL: pg_dump)."""
    settings = Settings()
    if settings.is_postgres:
        raise _refuse("backup copies a SQLite database; a PostgreSQL one is copied with "
                      "pg_dump --format=custom (docs/upgrades.md)")
    source = _existing_sqlite(settings)
    if target.exists():
        raise _refuse(f"{target} exists: a backup never overwrites a file")
    started = time.perf_counter()
    try:
        with closing(sqlite3.connect(source)) as db, closing(sqlite3.connect(target)) as copy:
            # One step: the whole copy is read under one read lock, so it is one moment.
            db.backup(copy)
            events = copy.execute("SELECT count(*) FROM stored_events").fetchone()[0]
    except sqlite3.Error as error:
        target.unlink(missing_ok=True)
        raise _refuse(f"backup failed, nothing written: {error}", 1) from None
    seconds = time.perf_counter() - started
    if as_json:
        out.print_json(json.dumps({"source": str(source), "target": str(target),
                                   "events": events, "bytes": target.stat().st_size,
                                   "seconds": round(seconds, 3)}))
        return
    out.print(f"copied {source} to {target}: {events:,} events, "
              f"{target.stat().st_size:,} bytes in {seconds:.2f} s")
