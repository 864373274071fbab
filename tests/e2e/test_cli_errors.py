"""What a user sees when something goes wrong: one line, never a traceback unless asked."""

from __future__ import annotations

from pathlib import Path

from ledger.application import FundLedger
from ledger.settings import Settings
from tests.e2e.test_cli import UNITS_CSV, fundledger

DEPOSITS = ("reference,community_code,building,unit,amount_yuan,paid_on,kind\n"
            "B-1,CY-E2E,1,101,10.00,2026-01-10,first\n"
            "B-2,CY-E2E,1,101,10.00,2026-01-10,first\n"
            "B-望京,CY-E2E,1,101,10.00,2026-01-10,first\n")


def log_length(cwd: Path) -> int:
    app = FundLedger(Settings(db=str(cwd / "ledger.db")))
    try:
        return app.recorder.max_notification_id() or 0
    finally:
        app.close()


def test_a_non_utf8_bank_file_is_one_line_exit_3_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "units.csv").write_text(UNITS_CSV, encoding="utf-8")
    fundledger(tmp_path, "import", "units", "units.csv", "--registered-on", "2026-01-01")
    before = log_length(tmp_path)
    (tmp_path / "gbk.csv").write_bytes(DEPOSITS.encode("gbk"))
    done = fundledger(tmp_path, "import", "deposits", "gbk.csv", expect=3)
    assert "Traceback" not in done.stderr
    assert "line 4" in done.stderr and "not UTF-8" in done.stderr
    assert log_length(tmp_path) == before


def test_an_unexpected_error_is_one_line_and_the_traceback_needs_debug(tmp_path: Path) -> None:
    # A directory where the SQLite file should be: an error no command foresees (a command
    # that may start a ledger: the others refuse a missing file first, exit 5).
    (tmp_path / "ledger.db").mkdir()
    (tmp_path / "units.csv").write_text(UNITS_CSV, encoding="utf-8")
    done = fundledger(tmp_path, "import", "units", "units.csv", expect=1)
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "--debug" in done.stderr
    debug = fundledger(tmp_path, "--debug", "import", "units", "units.csv", expect=1)
    assert "Traceback" in debug.stderr
