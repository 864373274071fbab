"""The governance and enterprise CLI as a user runs it: one process per command, one SQLite file.

A tiny community is imported from CSV files, votes on a fund use (one ballot per voter, the
second refused with exit code 2), and an auditor recounts the tally with ``vote tally --json``;
then an enterprise is registered, enters the community, and its credit is printed as JSON.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from domain.credit_code import with_check_character
from domain.unit_account import first_deposit_due_fen
from ledger.settings import Settings

COMMUNITY = "E2E-1"
VOTE = f"{COMMUNITY}/ROOF-2026"
ENTERPRISE = with_check_character("91110105MA01E2E00")
# building, door, area m², owners: one owner, two co-owners, the developer's unsold flat
UNITS = [("1", "101", "90.00", "alice"), ("1", "102", "80.00", "bo;chen"),
         ("1", "103", "30.00", "developer")]
COMMAND_TIMEOUT_S = 60


class Fundledger:
    """Runs ``python -m ledger`` as a user would, on the test's own SQLite file."""

    def __init__(self, tmp_path: Path) -> None:
        self.cwd = tmp_path
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDLEDGER_")}
        self.env.update(FUNDLEDGER_DB=str(tmp_path / "ledger.db"),
                        FUNDLEDGER_ACTOR="e2e:clerk", COLUMNS="200", NO_COLOR="1")

    def __call__(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "ledger", *args], cwd=self.cwd,
                              env=self.env, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT_S, check=False)
        assert done.returncode == expect, (args, done.stdout, done.stderr)
        return done

    def together(self, *commands: list[str]) -> list[str]:
        """Independent commands run at once, as two clerks would; returns their stdout."""
        running = [subprocess.Popen([sys.executable, "-m", "ledger", *args], cwd=self.cwd,
                                    env=self.env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
                   for args in commands]
        outputs = []
        for args, process in zip(commands, running, strict=True):
            stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT_S)
            assert process.returncode == 0, (args, stdout, stderr)
            outputs.append(stdout)
        return outputs


@pytest.fixture
def fundledger(tmp_path: Path) -> Fundledger:
    return Fundledger(tmp_path)


def test_a_vote_and_an_enterprise_through_the_cli(fundledger: Fundledger, tmp_path: Path) -> None:
    rate = Settings().deposit_rate_fen_per_m2
    units = tmp_path / "units.csv"
    units.write_text(
        "community_code,community_name,district,street,building,unit,area_m2,area_source,"
        "owner_id\n" + "".join(f"{COMMUNITY},Small Garden,Chaoyang,Maizidian,{b},{u},{a},"
                                f"register,{o}\n" for b, u, a, o in UNITS), encoding="utf-8")
    deposits = tmp_path / "deposits.csv"
    lines = []
    for b, u, area, _ in UNITS:
        fen = first_deposit_due_fen(int(area.replace(".", "")), rate)
        lines.append(f"FD-{b}-{u},{COMMUNITY},{b},{u},{fen // 100}.{fen % 100:02d},"
                     "2026-01-10,first\n")
    deposits.write_text("reference,community_code,building,unit,amount_yuan,paid_on,kind\n"
                        + "".join(lines), encoding="utf-8")

    fundledger("import", "units", str(units), "--registered-on", "2026-01-01")
    posted, registered = fundledger.together(
        ["import", "deposits", str(deposits)],
        ["enterprise", "register", ENTERPRISE, "Small Garden Property Services",
         "--registered-on", "2026-01-01"])
    assert "posted 3 deposits" in posted
    assert f"enterprise {ENTERPRISE}" in registered
    fundledger.together(*(["deliver", COMMUNITY, unit, "--delivered-on", "2026-01-20"]
                          for unit in ("1-101", "1-102")))

    fundledger("vote", "propose", VOTE, "--matter", "fund_use", "--title", "Roof repair",
               "--proposed-on", "2026-03-01", "--building", "1", "--amount-yuan", "5000.00",
               "--purpose", "Roof waterproofing of building 1")
    fundledger("vote", "publish", VOTE, "--published-on", "2026-03-01")
    opened = fundledger("vote", "open", VOTE, "--opened-on", "2026-03-16").stdout
    assert "3 voters" in opened
    receipt = fundledger("vote", "ballot", VOTE, "--owner", "alice", "--choice", "agree",
                         "--cast-on", "2026-03-20").stdout
    assert "receipt" in receipt
    # Chen's ballot is on paper, entered from a file typed with a full-width id.
    paper = tmp_path / "paper.csv"
    paper.write_text("owner_id,choice\nｃｈｅｎ ,agree\n", encoding="utf-8")
    unreadable = tmp_path / "unreadable.csv"
    unreadable.write_text("owner,choice\nchen,agree\n", encoding="utf-8")
    refused_file = fundledger("vote", "ballots", VOTE, str(unreadable), "--cast-on",
                              "2026-03-20", expect=3)
    assert "line 1" in refused_file.stderr and "owner_id" in refused_file.stderr
    assert "1 ballots accepted" in fundledger("vote", "ballots", VOTE, str(paper),
                                              "--cast-on", "2026-03-20").stdout
    refused = fundledger("vote", "ballot", VOTE, "--owner", "bo", "--choice", "disagree",
                         "--cast-on", "2026-03-21", expect=4)  # a conflict
    assert "V5" in refused.stderr and "already voted" in refused.stderr
    running = fundledger("vote", "tally", VOTE).stdout
    assert "PROVISIONAL" in running and "PASSED" not in running and "FAILED" not in running
    assert json.loads(fundledger("vote", "tally", VOTE, "--json").stdout)["provisional"] is True
    fundledger("vote", "close", VOTE, "--closed-on", "2026-03-31")

    tally = json.loads(fundledger("vote", "tally", VOTE, "--json").stdout)
    assert tally["recount_matches_recorded"] is True
    assert tally["status"] == "closed" and tally["provisional"] is False
    recorded = tally["recorded"]
    assert recorded == tally["recount"]
    # 2 of 3 heads (exactly 2/3: the quorum is met) and 170 of 200 m² took part; both agreed.
    assert (recorded["electorate_heads"], recorded["electorate_area_m2_hundredths"]) == (
        3, 20_000)
    assert {k: recorded[k] for k in ("participating_area_m2_hundredths", "participating_heads",
                                     "agreeing_area_m2_hundredths", "agreeing_heads")} == {
        "participating_area_m2_hundredths": 17_000, "participating_heads": 2,
        "agreeing_area_m2_hundredths": 17_000, "agreeing_heads": 2}
    assert (recorded["quorum_fraction"], recorded["majority_fraction"]) == ([2, 3], [1, 2])
    assert recorded["quorum_met"] and recorded["passed"]

    # A voter checks the receipt kept from casting against the counted ballots.
    digest = re.search(r"[0-9a-f]{64}", receipt).group(0)  # type: ignore[union-attr]
    checked = fundledger("vote", "receipt", VOTE, digest).stdout
    assert "(agree)" in checked and "counted in the recorded tally" in checked
    fundledger("vote", "receipt", VOTE, "0" * 64, expect=1)

    fundledger("enterprise", "enter", COMMUNITY, ENTERPRISE, "--contract-reference", "C-1",
               "--starts-on", "2026-01-01", "--filed-on", "2026-01-05")
    credit = json.loads(fundledger("credit", ENTERPRISE, "--period", "2026H1", "--json").stdout)
    assert credit["enterprise_code"] == ENTERPRISE
    assert credit["period"] == "2026H1"
    assert (credit["score"], credit["grade"], credit["rank"]) == ("100.00", "A", 1)
    assert [(line["event"], line["points"]) for line in credit["lines"]] == [("base", "100")]
