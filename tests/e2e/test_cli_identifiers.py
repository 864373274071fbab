"""On the command line too, a malformed scope is refused and an identifier is normalised."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_cli import UNITS_CSV, fundledger
from tests.e2e.test_cli_errors import log_length


@pytest.mark.parametrize("scope", ["community:CY-0001,CY-0003", "district:%", "community:*",
                                   "district:1101"])
def test_tokens_create_refuses_a_malformed_scope_with_the_expected_form(
        tmp_path: Path, scope: str) -> None:
    done = fundledger(tmp_path, "tokens", "create", "--role", "official", "--scope", scope,
                      expect=3)
    assert "rule scope" in done.stderr and "community:<code>" in done.stderr
    assert "flt_" not in done.stdout


def test_tokens_create_refuses_the_developers_id_city_wide_and_names_the_form(
        tmp_path: Path) -> None:
    done = fundledger(tmp_path, "tokens", "create", "--role", "owner", "--scope",
                      "owner:developer", expect=3)
    assert "rule scope" in done.stderr
    assert "owner:developer/<community code>" in done.stderr.replace("\n", "")
    assert "flt_" not in done.stdout
    made = fundledger(tmp_path, "tokens", "create", "--role", "owner", "--scope",
                      "owner:developer/CY-0001")
    assert made.stdout.startswith("flt_") and "owner:developer/CY-0001" in made.stderr


def test_a_full_width_door_and_reference_on_the_command_line_are_the_ascii_ones(
        tmp_path: Path) -> None:
    (tmp_path / "units.csv").write_text(UNITS_CSV, encoding="utf-8")
    fundledger(tmp_path, "import", "units", "units.csv", "--registered-on", "2026-01-01")
    sale = ("--buyer", "owner-z", "--sold-on", "2026-03-01")
    first = fundledger(tmp_path, "sell", "CY-E2E", "１-１０１", *sale, "--reference", "ＳＡＬＥ-１")
    assert "posted: SALE-1" in first.stdout
    before = log_length(tmp_path)
    again = fundledger(tmp_path, "sell", "CY-E2E", "1-101", *sale, "--reference", "SALE-1")
    assert "already posted: SALE-1" in again.stdout
    assert log_length(tmp_path) == before
