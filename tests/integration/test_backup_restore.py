"""A backup restored into a fresh database is the same ledger: verify passes, views agree.

The procedure is docs/upgrades.md's: PostgreSQL with ``pg_dump --format=custom`` of the
ledger's schema and ``pg_restore`` into a new database; SQLite with ``fundledger backup``
(SQLite's online backup API). The ledger is the previous release's fixture, migrated, with a
posting written by this code on top and every view caught up, so the copy carries events of
both releases, the views, the seal, the checkpoint and the schema version.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from ledger.application import FundLedger
from ledger.commands import DepositLine
from ledger.persistence.migrations import SCHEMA_VERSION
from ledger.persistence.scratch import scratch_database
from ledger.settings import Settings
from tests.conftest import PG_ADMIN_URL, REQUIRE_PG
from tests.integration.test_schema_upgrade import V0_EVENTS, Store, run_cli, view_checksums


def a_ledger_in_use(url: str, tmp_path: Path) -> Store:
    """The previous release's ledger, migrated, a top-up posted, every view caught up."""
    store = Store(url)
    store.load_v0()
    assert run_cli(url, tmp_path, "migrate").exit_code == 0
    app = FundLedger(Settings(db=url))
    try:
        app.post_deposit(DepositLine(
            reference="BK-FX-NEW-2", community_code="CY-0009", building="1", unit="201",
            amount_fen=2_000_000, paid_on=date(2026, 11, 3), kind="top_up"), actor="test")
    finally:
        app.close()
    ran = run_cli(url, tmp_path, "projections", "run")
    assert ran.exit_code == 0, ran.output
    return store


def assert_same_ledger(original: Store, copy_url: str, tmp_path: Path) -> None:
    copy = Store(copy_url)
    assert copy.events_digest() == original.events_digest()
    assert len(copy.events_digest()) == V0_EVENTS + 2
    verified = run_cli(copy_url, tmp_path, "verify")
    assert verified.exit_code == 0, verified.output
    assert f"verified {V0_EVENTS + 2} events" in verified.output
    assert view_checksums(copy_url) == view_checksums(original.url)
    assert copy.versions() == list(range(1, SCHEMA_VERSION + 1))
    assert run_cli(copy_url, tmp_path, "migrate", "--check").exit_code == 0


def test_a_pg_dump_restored_into_a_fresh_database_verifies_with_the_same_views(
        pg_url: str, tmp_path: Path) -> None:
    tools = [shutil.which(tool) for tool in ("pg_dump", "pg_restore")]
    if None in tools:
        if REQUIRE_PG:
            pytest.fail("pg_dump and pg_restore are needed (FUNDLEDGER_REQUIRE_PG is set)")
        pytest.skip("pg_dump or pg_restore is not installed")
    original = a_ledger_in_use(pg_url, tmp_path)
    dump = tmp_path / "ledger.dump"
    subprocess.run([tools[0], "--format=custom", "--no-owner", f"--schema={original.schema}",
                    f"--file={dump}", original.database], check=True, timeout=120)
    with scratch_database(PG_ADMIN_URL, "fundledger_restore") as fresh:
        subprocess.run([tools[1], "--no-owner", "--exit-on-error", f"--dbname={fresh}",
                        str(dump)], check=True, timeout=120)
        restored = f"{fresh}?schema={original.schema}"
        assert_same_ledger(original, restored, tmp_path)
        # The restored ledger takes writes: a new posting goes on after the last position.
        app = FundLedger(Settings(db=restored))
        try:
            posted = app.post_deposit(DepositLine(
                reference="BK-FX-AFTER-RESTORE", community_code="CY-0009", building="2",
                unit="102", amount_fen=100_000, paid_on=date(2026, 11, 4), kind="top_up"),
                actor="test")
            assert not posted.already_posted
            assert app.recorder.max_notification_id() == V0_EVENTS + 3
        finally:
            app.close()


def test_fundledger_backup_copies_a_sqlite_ledger_that_verifies_with_the_same_views(
        sqlite_url: str, tmp_path: Path) -> None:
    original = a_ledger_in_use(sqlite_url, tmp_path)
    copy = tmp_path / "backup" / "copy.db"
    copy.parent.mkdir()
    made = run_cli(sqlite_url, tmp_path, "backup", str(copy))
    assert made.exit_code == 0, made.output
    assert f"{V0_EVENTS + 2} events" in made.output
    assert_same_ledger(original, str(copy), tmp_path)
    again = run_cli(sqlite_url, tmp_path, "backup", str(copy))
    assert again.exit_code == 2 and "never overwrites" in again.output


def test_backup_on_postgresql_points_to_pg_dump(pg_url: str, tmp_path: Path) -> None:
    refused = run_cli(pg_url, tmp_path, "backup", str(tmp_path / "copy.db"))
    assert refused.exit_code == 2 and "pg_dump" in refused.output
    assert not (tmp_path / "copy.db").exists()
