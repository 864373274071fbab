"""Bank and register files are read strictly: a doubtful line refuses the whole file."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.errors import BatchRejected
from ledger.csv_files import read_deposits, read_paper_ballots, read_units

DEPOSIT_HEADER = "reference,community_code,building,unit,amount_yuan,paid_on,kind\n"
UNIT_HEADER = ("community_code,community_name,district,street,building,unit,area_m2,"
               "area_source,owner_id\n")


def refusal(tmp_path: Path, text: str | bytes, read: object = read_deposits) -> BatchRejected:
    path = tmp_path / "file.csv"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(BatchRejected) as raised:
        read(path)  # type: ignore[operator]
    return raised.value


def test_co_owners_split_by_a_comma_refuse_the_line_instead_of_dropping_one(
        tmp_path: Path) -> None:
    rejected = refusal(tmp_path, UNIT_HEADER
                       + "CY-1,Garden,D,S,1,101,80.00,register,owner-a\n"
                       + "CY-1,Garden,D,S,1,102,80.00,register,alice,bob\n", read_units)
    assert (rejected.line, rejected.rule, rejected.field) == (3, "csv-columns", "owner_id")
    assert "10 cells but the header 9" in rejected.message


def test_an_amount_with_a_thousands_separator_names_the_amount(tmp_path: Path) -> None:
    rejected = refusal(tmp_path, DEPOSIT_HEADER + "B-1,CY-1,1,101,1,000.00,2026-01-10,first\n")
    assert (rejected.line, rejected.field, rejected.rule) == (2, "amount_yuan", "amount-format")
    assert "1,000.00" in rejected.message


def test_a_quoted_amount_with_a_thousands_separator_names_the_amount(tmp_path: Path) -> None:
    rejected = refusal(tmp_path, DEPOSIT_HEADER + 'B-1,CY-1,1,101,"1,000.00",2026-01-10,first\n')
    assert (rejected.line, rejected.field) == (2, "amount_yuan")


def test_a_gbk_file_is_refused_naming_the_encoding_and_the_line(tmp_path: Path) -> None:
    text = (DEPOSIT_HEADER + "B-1,CY-1,1,101,10.00,2026-01-10,first\n"
            + "B-2,望京,1,101,10.00,2026-01-10,first\n")
    rejected = refusal(tmp_path, text.encode("gbk"))
    assert (rejected.line, rejected.rule, rejected.field) == (3, "csv-encoding", "file")
    assert "not UTF-8" in rejected.message


def test_a_file_with_a_bom_and_exactly_the_header_cells_reads(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_bytes(("\ufeff" + DEPOSIT_HEADER + "B-1,CY-1,1,101,10.00,2026-01-10,first\n")
                     .encode("utf-8"))
    [line] = read_deposits(path)
    assert (line.reference, line.amount_fen, line.line) == ("B-1", 1000, 2)


@pytest.mark.parametrize("paid_on", ["9999-12-31", "1899-12-31"])
def test_a_date_outside_the_business_range_is_refused_as_the_api_refuses_it(
        tmp_path: Path, paid_on: str) -> None:
    rejected = refusal(tmp_path, DEPOSIT_HEADER + f"B-1,CY-1,1,101,10.00,{paid_on},first\n")
    assert (rejected.line, rejected.field, rejected.rule) == (2, "paid_on", "date-range")


def test_paper_ballots_read_their_ids_as_every_entry_point_does(tmp_path: Path) -> None:
    path = tmp_path / "ballots.csv"
    path.write_text("owner_id,choice,candidates\n"
                    "ａｌｉｃｅ ,agree,ｂｏ;chen\n"
                    "chen,abstain,\n", encoding="utf-8")
    assert read_paper_ballots(path) == [("alice", "agree", ["bo", "chen"]),
                                        ("chen", "abstain", [])]


def test_a_paper_ballot_without_a_choice_refuses_the_file_naming_its_line(
        tmp_path: Path) -> None:
    rejected = refusal(tmp_path, "owner_id,choice\nalice,agree\nbo,\n", read_paper_ballots)
    assert (rejected.line, rejected.rule, rejected.field) == (3, "field-required", "choice")
