"""Bank and register files as the fund office receives them, parsed strictly.

A bad line rejects the whole file with the line number (as an editor counts it, the header
being line 1), the field and the rule, before anything is posted. Identifiers (codes,
building, door, owner ids, references) are normalised as on every entry point
(``domain.identifiers.normalise``), so a re-encoded file names the same units and
references as the original.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import TypeVar

from domain.checks import BUSINESS_DATE_FIRST, BUSINESS_DATE_LAST
from domain.errors import BatchRejected, DomainError, InvalidInput
from domain.identifiers import (
    BUILDING,
    CODE,
    REFERENCE,
    UNIT,
    check_district_and_street,
    check_text,
    normalise,
    parse_identifier,
)
from domain.money import parse_area_m2, parse_yuan
from ledger.commands import DEPOSIT_KINDS, DepositLine, UnitRow

UNIT_COLUMNS = ("community_code", "community_name", "district", "street", "building", "unit",
                "area_m2", "area_source", "owner_id")
DEPOSIT_COLUMNS = ("reference", "community_code", "building", "unit", "amount_yuan", "paid_on",
                   "kind")
PAPER_BALLOT_COLUMNS = ("owner_id", "choice")
PAPER_BALLOT_OPTIONAL = ("candidates",)
FIELD_LENGTH_MAX = 200
OWNER_SEPARATOR = ";"  # co-owners of one unit share the owner_id field
CANDIDATE_SEPARATOR = ";"  # an election ballot's candidates share the candidates field

R = TypeVar("R")
# (owner id, choice, candidates): what FundLedger.cast_ballots takes, one per paper ballot.
PaperBallot = tuple[str, str, list[str]]


_DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# "1,000.00" written unquoted splits into "1" and "000.00": two cells that only make sense
# together, so the refusal names the amount rather than a column the number spilled into.
_THOUSANDS_HEAD = re.compile(r"\d{1,3}", re.ASCII)
_THOUSANDS_TAIL = re.compile(r"\d{3}(\.\d*)?", re.ASCII)


def parse_date(text: str, field: str) -> date:
    try:
        if _DATE_PATTERN.fullmatch(text) is None:
            raise ValueError
        parsed = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a date written YYYY-MM-DD", rule="date-format",
                           field=field) from None
    if not BUSINESS_DATE_FIRST <= parsed <= BUSINESS_DATE_LAST:
        raise InvalidInput(f"{text} is outside {BUSINESS_DATE_FIRST} to {BUSINESS_DATE_LAST}",
                           rule="date-range", field=field)
    return parsed


def _text(path: Path) -> str:
    """The file as text, or a refusal naming the line of the first byte that is not UTF-8.

    Bank exports are often GBK or GB18030; decoding them as anything but what the file says
    it is would post mangled references, so the file is refused and nothing is written.
    """
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        byte = data[error.start:error.start + 1].hex().upper()
        raise BatchRejected(line, InvalidInput(
            f"the file is not UTF-8 text (byte 0x{byte} at offset {error.start}); "
            "save it as UTF-8 (a GBK or GB18030 export must be converted first)",
            rule="csv-encoding", field="file")) from None


def _too_many_cells(values: Sequence[str], header: Sequence[str]) -> InvalidInput:
    """Why a line has more cells than the header: a thousands separator, or an unquoted comma."""
    if "amount_yuan" in header:
        at = header.index("amount_yuan")
        if (at + 1 < len(values) and _THOUSANDS_HEAD.fullmatch(values[at].strip())
                and _THOUSANDS_TAIL.fullmatch(values[at + 1].strip())):
            return InvalidInput(
                f"amount {values[at].strip()},{values[at + 1].strip()} has a thousands "
                "separator; write it without one (1000.00)",
                rule="amount-format", field="amount_yuan")
    return InvalidInput(
        f"the line has {len(values)} cells but the header {len(header)}; a value holding a "
        f"comma must be quoted (co-owners are separated by '{OWNER_SEPARATOR}')",
        rule="csv-columns", field=header[-1])


def _records(path: Path, columns: Sequence[str], optional: Sequence[str] = ()
             ) -> Iterator[tuple[int, dict[str, str]]]:
    """Each line's cells by column: ``columns`` required, ``optional`` ones "" when empty or
    absent from the header."""
    reader = csv.reader(io.StringIO(_text(path), newline=""))
    header = next(reader, None)
    if header is None:
        raise BatchRejected(1, InvalidInput("the file is empty", rule="csv-header",
                                            field="header"))
    header = [h.strip() for h in header]
    missing = [c for c in columns if c not in header]
    if missing:
        raise BatchRejected(1, InvalidInput(
            f"missing column(s) {', '.join(missing)}; expected {','.join(columns)}",
            rule="csv-header", field=missing[0]))
    index = {c: header.index(c) for c in (*columns, *optional) if c in header}
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(header):
            raise BatchRejected(line, _too_many_cells(values, header))
        record: dict[str, str] = {}
        for column, position in index.items():
            value = values[position].strip() if position < len(values) else ""
            if not value and column not in optional:
                raise BatchRejected(line, InvalidInput(f"{column} is missing",
                                                       rule="field-required", field=column))
            if len(value) > FIELD_LENGTH_MAX:
                raise BatchRejected(line, InvalidInput(
                    f"{column} is longer than {FIELD_LENGTH_MAX} characters",
                    rule="field-length", field=column))
            record[column] = value
        yield line, record


def _parse(path: Path, columns: Sequence[str],
           build: Callable[[int, dict[str, str]], R], optional: Sequence[str] = ()) -> list[R]:
    parsed: list[R] = []
    for line, record in _records(path, columns, optional):
        try:
            parsed.append(build(line, record))
        except DomainError as error:
            raise BatchRejected(line, error) from None
    return parsed


def _unit_row(line: int, r: dict[str, str]) -> UnitRow:
    district, street = normalise(r["district"]), normalise(r["street"])
    check_district_and_street(district, street)
    return UnitRow(
        community_code=parse_identifier(r["community_code"], CODE, "community_code"),
        community_name=check_text(r["community_name"], "community_name"),
        district=district, street=street,
        building=parse_identifier(r["building"], BUILDING, "building"),
        unit=parse_identifier(r["unit"], UNIT, "unit"),
        area_m2_hundredths=parse_area_m2(r["area_m2"]), area_source=r["area_source"],
        owner_ids=[normalise(o) for o in r["owner_id"].split(OWNER_SEPARATOR)], line=line)


def _deposit_line(line: int, r: dict[str, str]) -> DepositLine:
    if r["kind"] not in DEPOSIT_KINDS:
        raise InvalidInput(f"kind {r['kind']!r} is not one of {', '.join(DEPOSIT_KINDS)}",
                           rule="deposit-kind", field="kind")
    return DepositLine(
        reference=parse_identifier(r["reference"], REFERENCE, "reference"),
        community_code=parse_identifier(r["community_code"], CODE, "community_code"),
        building=parse_identifier(r["building"], BUILDING, "building"),
        unit=parse_identifier(r["unit"], UNIT, "unit"),
        amount_fen=parse_yuan(r["amount_yuan"]),
        paid_on=parse_date(r["paid_on"], "paid_on"), kind=r["kind"], line=line)


def read_units(path: Path) -> list[UnitRow]:
    return _parse(path, UNIT_COLUMNS, _unit_row)


def read_deposits(path: Path) -> list[DepositLine]:
    return _parse(path, DEPOSIT_COLUMNS, _deposit_line)


def _paper_ballot(line: int, r: dict[str, str]) -> PaperBallot:
    candidates = [normalise(c) for c in r.get("candidates", "").split(CANDIDATE_SEPARATOR)]
    return normalise(r["owner_id"]), r["choice"], [c for c in candidates if c]


def read_paper_ballots(path: Path) -> list[PaperBallot]:
    """A vote's paper ballots, one line each: owner_id, choice and (in an election) the
    candidates chosen, separated by ';'."""
    return _parse(path, PAPER_BALLOT_COLUMNS, _paper_ballot, PAPER_BALLOT_OPTIONAL)
