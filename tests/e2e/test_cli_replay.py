"""``fundledger replay``, ``history`` and ``disclosure`` through typer's runner on a SQLite file."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

import api.cli  # noqa: F401  (importing it registers every command on the one app)
from api.cli_common import cli
from ledger.application import FundLedger
from ledger.commands import DepositLine, UnitRow, WithdrawalRequest
from ledger.settings import Settings

CODE = "CY-CLI"
ACTOR = "e2e"
UNITS = [("1", "101", 8_950), ("1", "102", 12_000)]


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ledger.db"
    for name in ("FUNDLEDGER_DEPOSIT_RATE_FEN_PER_M2", "FUNDLEDGER_RERAISE_THRESHOLD_PERCENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FUNDLEDGER_DB", str(path))
    app = FundLedger(Settings(db=str(path)))
    try:
        app.register_units([UnitRow(CODE, "Garden <i>", "Chaoyang", "Jianwai", b, u, area,
                                    "register", [f"o-{u}"], n)
                            for n, (b, u, area) in enumerate(UNITS)],
                           effective_date=date(2026, 1, 1), actor=ACTOR)
        app.declare_emergency(community_code=CODE, emergency_id="E-1", category="roof_leak",
                              description="", declared_on=date(2026, 1, 1), actor=ACTOR)
        app.import_deposits([DepositLine(f"F-{u}", CODE, b, u, (area * 20_000 + 50) // 100,
                                         date(2026, 2, 1), "first")
                             for b, u, area in UNITS], actor=ACTOR)
        app.withdraw(WithdrawalRequest("W-1", CODE, "roof", "roof_waterproofing", 100_001,
                                       date(2026, 5, 1), buildings=["1"], emergency_id="E-1"),
                     actor=ACTOR)
        app.post_deposit(DepositLine("T-1", CODE, "1", "101", 500, date(2026, 3, 1), "top_up"),
                         actor=ACTOR)  # back-dated: recorded after the withdrawal
    finally:
        app.close()
    return path


def test_replay_as_of_a_date_as_json_and_refusals(db: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(cli, ["replay", "unit", f"{CODE}/1-101", "--as-of", "2026-03-31",
                               "--json"])
    assert done.exit_code == 0, done.output
    answer = json.loads(done.stdout)
    assert answer["state"]["balance_fen"] == (8_950 * 20_000 + 50) // 100 + 500
    assert answer["events_dated_later"] == 1  # the withdrawal of 1 May
    assert answer["last_event"]["event"] == "UnitAccount.ToppedUp"
    assert answer["last_event"]["business_date"] == "2026-03-01"
    assert isinstance(answer["last_event"]["position"], int)
    text = runner.invoke(cli, ["replay", "fund", CODE, "--known-at", "2000-01-01"])
    assert text.exit_code == 3 and "known_at" in text.output
    unknown = runner.invoke(cli, ["replay", "vote", f"{CODE}/NOPE"])
    assert unknown.exit_code == 3 and "vote_reference" in unknown.output


def test_history_pages_as_json(db: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["history", CODE, "--limit", "3", "--json"])
    assert first.exit_code == 0, first.output
    page = json.loads(first.stdout)
    assert len(page["events"]) == 3 and not page["at_end"]
    positions = [e["position"] for e in page["events"]]
    assert positions == sorted(positions)
    rest = json.loads(runner.invoke(cli, ["history", CODE, "--after", str(page["next_after"]),
                                          "--limit", "1000", "--json"]).stdout)
    assert rest["at_end"] and rest["events"][0]["position"] > positions[-1]
    assert any(e["event"] == "WorksWithdrawal.WorksWithdrawalPaid" for e in rest["events"])


def test_f10_disclosure_writes_csv_and_html(db: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out_csv, out_html = tmp_path / "d.csv", tmp_path / "d.html"
    done = runner.invoke(cli, ["disclosure", CODE, "--year", "2026", "--csv", str(out_csv),
                               "--html", str(out_html)])
    assert done.exit_code == 0, done.output
    assert "1 projects, 2 units" in " ".join(done.output.split())
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text(encoding="utf-8"))))
    shares = [int(r["amount_fen"]) for r in rows if r["record"] == "share"]
    assert sum(shares) == 100_001
    page = out_html.read_text(encoding="utf-8")
    assert "Garden &lt;i&gt;" in page and "<i>" not in page
