"""``fundledger`` as a custodian runs it: a real subprocess on a SQLite file, tiny CSV files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.application import FundLedger
from ledger.settings import Settings
from projections.history.statements import fund_statement

UNITS_CSV = """\
community_code,community_name,district,street,building,unit,area_m2,area_source,owner_id
CY-E2E,Garden,Chaoyang,Jianwai,1,101,89.50,register,owner-a
CY-E2E,Garden,Chaoyang,Jianwai,1,102,120.00,surveyed,owner-b;owner-c
CY-E2E,Garden,Chaoyang,Jianwai,2,101,64.25,contract,developer
"""
# the default rate is 200 yuan per m²: 89.50 m² -> 17900.00, 120.00 -> 24000.00, 64.25 -> 12850.00
DEPOSITS_CSV = """\
reference,community_code,building,unit,amount_yuan,paid_on,kind
B-1,CY-E2E,1,101,17900.00,2024-01-10,first
B-2,CY-E2E,1,102,24000.00,2024-01-10,first
B-3,CY-E2E,2,101,12850.00,2024-01-11,first
B-4,CY-E2E,1,101,100.50,2024-03-01,top_up
"""
BAD_CSV = """\
reference,community_code,building,unit,amount_yuan,paid_on,kind
B-5,CY-E2E,1,102,10.00,2024-04-01,top_up
B-6,CY-E2E,1,101,1e3,2024-04-01,top_up
B-7,CY-E2E,2,101,10.00,2024-04-01,top_up
"""
COMMAND_TIMEOUT_S = 60


def fundledger(
    cwd: Path, *args: str, expect: int = 0
) -> subprocess.CompletedProcess[str]:
    # the developer's own FUNDLEDGER_* settings (rate, database) must not leak in
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDLEDGER_")}
    env.update(FUNDLEDGER_DB=str(cwd / "ledger.db"), FUNDLEDGER_ACTOR="e2e", COLUMNS="200")
    done = subprocess.run([sys.executable, "-m", "ledger", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    assert done.returncode == expect, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def said(text: str) -> str:
    """What the terminal shows, with the console's line wrapping undone."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def ledger_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ledger with units registered and one bank batch posted, shared by the reads below."""
    cwd = tmp_path_factory.mktemp("cli")
    (cwd / "units.csv").write_text(UNITS_CSV, encoding="utf-8")
    (cwd / "deposits.csv").write_text(DEPOSITS_CSV, encoding="utf-8")
    (cwd / "bad.csv").write_text(BAD_CSV, encoding="utf-8")
    registered = fundledger(cwd, "import", "units", "units.csv", "--registered-on", "2024-01-01")
    assert "3 units registered" in said(registered.stdout)
    posted = fundledger(cwd, "import", "deposits", "deposits.csv")
    assert "posted 4 deposits, 54850.50 yuan" in said(posted.stdout)
    return cwd


def statement_json(cwd: Path, *args: str) -> dict[str, object]:
    done = fundledger(cwd, "statement", "CY-E2E", "--json", *args)
    parsed: dict[str, object] = json.loads(done.stdout)
    return parsed


def what_is_stored(cwd: Path) -> tuple[int | None, dict[str, int]]:
    """The last event's position and every unit's balance, read in-process (no CLI start)."""
    app = FundLedger(Settings(db=str(cwd / "ledger.db")))
    try:
        balances = {u.unit_key: u.balance_fen for u in fund_statement(app, "CY-E2E").units}
        return app.recorder.max_notification_id(), balances
    finally:
        app.close()


def fen_fields(value: object) -> list[tuple[str, object]]:
    """Every (name, value) whose name ends in ``_fen``, at any depth."""
    found: list[tuple[str, object]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("_fen"):
                found.append((key, item))
            found.extend(fen_fields(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(fen_fields(item))
    return found


def test_importing_the_same_deposits_again_posts_nothing(ledger_dir: Path) -> None:
    before = what_is_stored(ledger_dir)
    again = fundledger(ledger_dir, "import", "deposits", "deposits.csv")
    assert "nothing posted" in said(again.stdout)
    assert "4 lines were already posted" in said(again.stdout)
    assert what_is_stored(ledger_dir) == before


def test_a_bad_file_exits_3_names_line_and_field_and_posts_nothing(ledger_dir: Path) -> None:
    before = what_is_stored(ledger_dir)
    rejected = fundledger(ledger_dir, "import", "deposits", "bad.csv", expect=3)
    message = said(rejected.stderr)
    assert "nothing posted" in message
    assert "line 3" in message
    assert "field amount_yuan" in message
    assert "amount-format" in message
    assert what_is_stored(ledger_dir) == before


def test_f10_statement_json_gives_integer_fen(ledger_dir: Path) -> None:
    statement = statement_json(ledger_dir)
    fields = fen_fields(statement)
    assert {name for name, _ in fields} >= {"balance_fen", "bank_balance_fen", "deposits_fen"}
    for name, value in fields:
        # first_deposit_fen is null for a unit that has not paid yet; none here
        assert type(value) is int, (name, value)
    assert statement["balance_fen"] == statement["bank_balance_fen"] == 5_485_050
    units = {u["unit"]: u for u in statement["units"]}  # type: ignore[attr-defined]
    assert units["1-101"]["balance_fen"] == 1_790_000 + 10_050
    assert units["1-102"]["owner_ids"] == ["owner-b", "owner-c"]


def test_f10_statement_of_one_unit_as_of_a_date(ledger_dir: Path) -> None:
    in_february = statement_json(ledger_dir, "--unit", "1-101", "--as-of", "2024-02-01")
    (unit,) = in_february["units"]  # type: ignore[misc]
    assert (unit["unit"], unit["balance_fen"], unit["deposits_fen"]) == ("1-101", 1_790_000,
                                                                       1_790_000)
    assert in_february["as_of"] == "2024-02-01"
    in_march = fundledger(ledger_dir, "statement", "CY-E2E", "--unit", "1-101",
                          "--as-of", "2024-03-01")
    assert "as of 2024-03-01" in said(in_march.stdout)
    assert "18000.50" in in_march.stdout  # 17900.00 + the top-up of 1 March
    assert "1-102" not in in_march.stdout


def test_statement_refuses_a_date_that_does_not_parse(ledger_dir: Path) -> None:
    refused = fundledger(ledger_dir, "statement", "CY-E2E", "--as-of", "2024-02-30", expect=3)
    assert "field as_of" in said(refused.stderr)
    assert "date-format" in said(refused.stderr)
