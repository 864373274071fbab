"""A database made by the release before schema versions upgrades, keeping every event.

``tests/fixtures/schema_v0_{sqlite,postgres}.sql`` are a small ledger written by commit
5348212's own code (``schema_v0_recipe.sh``): its tables, 31 events (three ``ReraiseDemanded``
in their first shape), views, seal and signed checkpoint, a token and a sign-in code. Each
test loads it into the test's store, as a custodian's database would be when the new release
is installed, and checks what the custodian would: the new code refuses it or migrates it as
configured, ``fundledger migrate`` keeps every event byte for byte, ``verify`` passes, the
views rebuild to the same checksums, old events read in their new shape, and new writes work.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from api.cli import cli
from api.cli_common import EXIT_UNAVAILABLE
from domain.unit_account import UnitAccount, reraise_threshold_fen
from ledger.application import FundLedger
from ledger.commands import DepositLine
from ledger.persistence import migrations
from ledger.persistence.migrations import (
    MIGRATIONS,
    SCHEMA_TABLE,
    SCHEMA_VERSION,
    SchemaVersionError,
)
from ledger.persistence.transcoder import event_decoder
from ledger.settings import Settings
from projections.runner import open_projection
from projections.views import VIEWS

FIXTURES = Path(__file__).parent.parent / "fixtures"
V0_EVENTS = 31  # what the recipe wrote


class Store:
    """Plain SQL on the test's store, beside the ledger: what a DBA would look at."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.postgres = url.startswith("postgresql")
        if self.postgres:
            self.database, _, self.schema = url.partition("?schema=")
        self.events = "fundledger_events" if self.postgres else "stored_events"

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        if self.postgres:
            with psycopg.connect(self.database, autocommit=True) as conn:
                yield conn.cursor()
        else:
            with closing_sqlite(self.url) as conn:
                yield conn.cursor()

    def q(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """``{s}`` is the schema prefix, ``?`` a parameter."""
        prefix = f'"{self.schema}".' if self.postgres else ""
        text = statement.replace("{s}", prefix)
        if self.postgres:
            text = text.replace("?", "%s")
        with self._cursor() as c:
            c.execute(text, params)
            return list(c.fetchall()) if c.description else []

    def load_v0(self) -> None:
        if self.postgres:
            script = (FIXTURES / "schema_v0_postgres.sql").read_text(encoding="utf-8")
            with psycopg.connect(self.database, autocommit=True) as conn:
                conn.execute(script.replace("__SCHEMA__", self.schema).encode())
        else:
            script = (FIXTURES / "schema_v0_sqlite.sql").read_text(encoding="utf-8")
            with closing_sqlite(self.url) as conn:
                conn.executescript(script)

    def events_digest(self) -> list[tuple[Any, ...]]:
        """Every stored event: position, stream, version, topic and SHA-256 of its bytes."""
        position = "notification_id" if self.postgres else "rowid"
        rows = self.q(f"SELECT {position}, originator_id, originator_version, topic, state "
                      f"FROM {{s}}{self.events} ORDER BY {position}")
        return [(n, str(o).replace("-", ""), v, t, hashlib.sha256(bytes(s)).hexdigest())
                for n, o, v, t, s in rows]

    def versions(self) -> list[int]:
        return [r[0] for r in self.q(f"SELECT version FROM {{s}}{SCHEMA_TABLE} ORDER BY version")]

    def has_table(self, name: str) -> bool:
        if self.postgres:
            return bool(self.q("SELECT 1 FROM information_schema.tables WHERE table_schema = ? "
                               "AND table_name = ?", (self.schema, name)))
        return bool(self.q("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                           (name,)))

    def event_indexes(self, table: str | None = None) -> dict[str, str]:
        """The events table's indexes (or ``table``'s): name -> definition (schema name left
        out)."""
        if self.postgres:
            rows = self.q("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = ? "
                          "AND tablename = ?", (self.schema, table or self.events))
            return {n: d.replace(self.schema, "S") for n, d in rows}
        rows = self.q("SELECT name, coalesce(sql, '') FROM sqlite_master WHERE type = 'index' "
                      "AND tbl_name = ?", (table or self.events,))
        return dict(rows)


@contextmanager
def closing_sqlite(path: str) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(path)
    try:
        yield conn
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def v0(db_url: str) -> Store:
    store = Store(db_url)
    store.load_v0()
    return store


def cli_env(url: str, tmp_path: Path) -> dict[str, str]:
    # No signing key here: verify checks each checkpoint against the key it names.
    return {"FUNDLEDGER_DB": url, "FUNDLEDGER_SIGNING_KEY_FILE": str(tmp_path / "none.key"),
            "COLUMNS": "200"}


def run_cli(url: str, tmp_path: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env=cli_env(url, tmp_path))


def view_checksums(url: str) -> dict[str, str]:
    app = FundLedger(Settings(db=url))
    try:
        return {name: open_projection(app, view).view.checksum() for name, view in VIEWS.items()}
    finally:
        app.close()


# -- the upgrade ------------------------------------------------------------------------------


def test_migrate_keeps_every_event_verifies_and_the_views_rebuild_equal(
        v0: Store, tmp_path: Path) -> None:
    before = v0.events_digest()
    assert len(before) == V0_EVENTS
    assert not v0.has_table(SCHEMA_TABLE)
    due = run_cli(v0.url, tmp_path, "migrate", "--check")
    assert due.exit_code == 1
    assert f"schema version 1, this code needs {SCHEMA_VERSION}: run fundledger migrate" in (
        due.output)

    migrated = run_cli(v0.url, tmp_path, "migrate")
    assert migrated.exit_code == 0, migrated.output
    assert f"schema version 1 → {SCHEMA_VERSION}" in migrated.output
    assert all(m.description in migrated.output for m in MIGRATIONS)
    assert v0.versions() == list(range(1, SCHEMA_VERSION + 1))
    assert v0.events_digest() == before  # every event, in place, byte for byte

    verified = run_cli(v0.url, tmp_path, "verify")
    assert verified.exit_code == 0, verified.output
    assert f"verified {V0_EVENTS} events" in verified.output

    # The views the old release built, then rebuilt from event one by this code: identical;
    # a view this release reshapes was dropped by its migration, and its next run catches up
    # from event one to what a rebuild makes.
    assert not v0.has_table("three_rates_tracking")
    caught_up = run_cli(v0.url, tmp_path, "projections", "run")
    assert caught_up.exit_code == 0, caught_up.output
    built_by_v0 = view_checksums(v0.url)
    for name in VIEWS:
        rebuilt = run_cli(v0.url, tmp_path, "projections", "rebuild", name)
        assert rebuilt.exit_code == 0, rebuilt.output
        assert built_by_v0[name] in rebuilt.output, name
    assert v0.has_table("three_rates_history")

    again = run_cli(v0.url, tmp_path, "migrate")
    assert again.exit_code == 0 and "up to date, nothing to apply" in again.output
    assert v0.versions() == list(range(1, SCHEMA_VERSION + 1))


def test_a_migrated_database_has_the_indexes_of_a_new_one(
        v0: Store, tmp_path: Path, db_url: str) -> None:
    assert run_cli(v0.url, tmp_path, "migrate").exit_code == 0
    if v0.postgres:
        fresh_url = f"{v0.database}?schema={v0.schema}_new"
        with psycopg.connect(v0.database, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{v0.schema}_new"'.encode())
    else:
        fresh_url = str(tmp_path / "new.db")
    try:
        FundLedger(Settings(db=fresh_url)).close()
        fresh = Store(fresh_url)
        assert fresh.versions() == v0.versions() == list(range(1, SCHEMA_VERSION + 1))
        new_indexes = fresh.event_indexes()
        assert new_indexes == v0.event_indexes()  # each with its schema's name as "S"
        assert f"{v0.events}_stream_starts" in new_indexes
        # The seal's digests as a new seal makes them (the old release's, sealed, migrated).
        sealed = run_cli(fresh_url, tmp_path, "seal")
        assert sealed.exit_code == 0, sealed.output
        digest_indexes = fresh.event_indexes("event_digests")
        assert digest_indexes == v0.event_indexes("event_digests")
        if v0.postgres:  # by position alone: a stream's digest is found through its event
            assert list(digest_indexes) == ["event_digests_pkey"]
        made = fresh.q(f"SELECT description FROM {{s}}{SCHEMA_TABLE} ORDER BY version")
        assert all(d.startswith("created: ") for (d,) in made)
    finally:
        if v0.postgres:
            with psycopg.connect(v0.database, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{v0.schema}_new" CASCADE'.encode())


def test_old_reraise_demands_read_in_the_new_shape_and_new_writes_work(
        v0: Store, tmp_path: Path) -> None:
    assert run_cli(v0.url, tmp_path, "migrate").exit_code == 0
    app = FundLedger(Settings(db=v0.url))
    try:
        topic = "domain.unit_account:UnitAccount.ReraiseDemanded"
        old = app.recorder.select_notifications(1, 100, topics=[topic])
        assert len(old) == 3 and all(b"class_version" not in n.state for n in old)
        fast = event_decoder(app.mapper)
        for stored in old:
            event = app.mapper.to_domain_event(stored)
            assert vars(fast(stored)) == vars(event)
            assert event.threshold_fen == reraise_threshold_fen(event.first_deposit_fen, 30)
            assert event.balance_fen < event.threshold_fen
        # Replaying each unit's whole old log gives the flags the old release's view holds.
        flagged = {a.key for a in (app.unit_account("CY-0009", b, u) for b, u in (
            ("1", "101"), ("1", "102"), ("1", "201"), ("2", "101"), ("2", "102")))
            if a.reraise_demanded}
        assert flagged == {"1-102", "1-201"}  # 1-101 was topped up (ReraiseSatisfied)
        # A top-up written by this code on the migrated database lifts a flag.
        app.post_deposit(DepositLine(
            reference="BK-FX-NEW-1", community_code="CY-0009", building="1", unit="102",
            amount_fen=1_000_000, paid_on=date(2026, 11, 2), kind="top_up"), actor="test")
        assert not app.unit_account("CY-0009", "1", "102").reraise_demanded
    finally:
        app.close()
    # (Sealing them would sign with a new key: the recipe's was thrown away.)
    verified = run_cli(v0.url, tmp_path, "verify")
    assert verified.exit_code == 0, verified.output
    assert f"verified {V0_EVENTS + 2} events" in verified.output  # the top-up and its flag
    assert "unsealed: 2" in verified.output


def test_auto_migrate_on_opening_follows_the_setting(v0: Store) -> None:
    before = v0.events_digest()
    with pytest.raises(SchemaVersionError, match=(
            f"^schema version 1, this code needs {SCHEMA_VERSION}: run fundledger migrate$")):
        FundLedger(Settings(db=v0.url, auto_migrate=False))
    assert not v0.has_table(SCHEMA_TABLE) and v0.events_digest() == before  # nothing changed
    if v0.postgres:  # the default on PostgreSQL: a DBA migrates
        with pytest.raises(SchemaVersionError):
            FundLedger(Settings(db=v0.url))
        FundLedger(Settings(db=v0.url, auto_migrate=True)).close()
    else:  # the default on SQLite: the embedded store migrates itself
        FundLedger(Settings(db=v0.url)).close()
    assert v0.versions() == list(range(1, SCHEMA_VERSION + 1))
    assert v0.events_digest() == before


def test_a_schema_newer_than_the_code_is_refused(v0: Store, tmp_path: Path) -> None:
    assert run_cli(v0.url, tmp_path, "migrate").exit_code == 0
    newer = SCHEMA_VERSION + 1
    v0.q(f"INSERT INTO {{s}}{SCHEMA_TABLE} VALUES (?, ?, ?)",
         (newer, "2030-01-01T00:00:00+00:00", "from a later release"))
    line = f"schema version {newer} is newer than this code's {SCHEMA_VERSION}"
    with pytest.raises(SchemaVersionError, match=line):
        FundLedger(Settings(db=v0.url, auto_migrate=True))
    refused = run_cli(v0.url, tmp_path, "migrate")
    assert refused.exit_code == 1 and line in refused.output
    assert run_cli(v0.url, tmp_path, "migrate", "--check").exit_code == 1
    assert v0.versions()[-1] == newer


def test_two_migrations_at_once_apply_each_version_once(v0: Store, tmp_path: Path) -> None:
    # Two processes, as two operators (or an operator and a starting service) would be.
    env = {**os.environ, **cli_env(v0.url, tmp_path)}
    migrators = [subprocess.Popen([sys.executable, "-m", "ledger", "migrate"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(2)]
    answers = [m.communicate(timeout=120)[0] for m in migrators]
    assert [m.returncode for m in migrators] == [0, 0], answers
    assert sorted("nothing to apply" in a for a in answers) == [False, True], answers
    assert v0.versions() == list(range(1, SCHEMA_VERSION + 1))


def test_a_new_database_records_its_version_when_made(db_url: str, tmp_path: Path) -> None:
    FundLedger(Settings(db=db_url)).close()
    store = Store(db_url)
    assert store.versions() == list(range(1, SCHEMA_VERSION + 1))
    checked = run_cli(db_url, tmp_path, "migrate", "--check", "--json")
    assert checked.exit_code == 0, checked.output
    assert '"due": false' in checked.output


def test_migrate_never_makes_a_database_at_a_mistyped_path(tmp_path: Path) -> None:
    missing = tmp_path / "fundledgr.db"
    refused = run_cli(str(missing), tmp_path, "migrate")
    assert refused.exit_code == EXIT_UNAVAILABLE and "no ledger at" in refused.output
    assert not missing.exists()


def test_the_old_fixture_holds_reraise_demands_in_their_first_shape() -> None:
    # What makes the upcasting test above mean something.
    text = (FIXTURES / "schema_v0_sqlite.sql").read_text(encoding="utf-8")
    assert text.count("UnitAccount.ReraiseDemanded") == 3
    assert UnitAccount.ReraiseDemanded.class_version == 2


@pytest.mark.parametrize("command", [["statement", "CY-0009"], ["serve", "--port", "0"]])
def test_a_command_on_an_unmigrated_database_answers_one_line(
        v0: Store, tmp_path: Path, command: list[str]) -> None:
    """Exit 5 (unavailable until migrated), one line; ``serve`` says it before uvicorn
    starts, not as a traceback from the app's startup."""
    env = {**os.environ, **cli_env(v0.url, tmp_path), "FUNDLEDGER_AUTO_MIGRATE": "no"}
    answer = subprocess.run([sys.executable, "-m", "ledger", *command], env=env,
                            capture_output=True, text=True, timeout=120)
    assert answer.returncode == EXIT_UNAVAILABLE and answer.stdout == ""
    lines = answer.stderr.strip().splitlines()
    assert len(lines) == 1, answer.stderr
    assert f"schema version 1, this code needs {SCHEMA_VERSION}: run fundledger migrate" in (
        lines[0])
    assert not v0.has_table(SCHEMA_TABLE)


def test_a_failing_migration_leaves_the_previous_version_whole(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    FundLedger(Settings(db=db_url)).close()
    store = Store(db_url)

    def half_done(db: migrations.SchemaDb) -> None:
        db.execute(f"CREATE TABLE {db.table('half_done')} (x INTEGER)")
        raise RuntimeError("the disk filled up")

    failing = migrations.Migration(SCHEMA_VERSION + 1, "a change that fails", half_done)
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, failing))
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(RuntimeError, match="the disk filled up"):
        FundLedger(Settings(db=db_url, auto_migrate=True))
    assert store.versions() == list(range(1, SCHEMA_VERSION + 1))
    assert not store.has_table("half_done")
