"""The OpenAPI document's patterns accept exactly what the ledger's own parsers accept."""

from __future__ import annotations

import re
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from api.http.amounts import AREA_PATTERN, YUAN_PATTERN
from api.http.models import DAY_PATTERN
from domain.checks import BUSINESS_DATE_FIRST, BUSINESS_DATE_LAST
from domain.errors import InvalidInput
from domain.money import AMOUNT_FEN_MAX, format_fen, parse_area_m2, parse_yuan

AMOUNT_TEXT = st.from_regex(r"\A[0-9]{1,12}(\.[0-9]{1,2})?\Z")


def accepted(parse: object, text: str) -> bool:
    try:
        parse(text)  # type: ignore[operator]
    except InvalidInput:
        return False
    return True


@given(AMOUNT_TEXT)
def test_the_yuan_pattern_is_what_parse_yuan_accepts_without_leading_zeros(text: str) -> None:
    canonical = not re.match(r"0[0-9]", text)
    assert bool(re.search(YUAN_PATTERN, text)) == (accepted(parse_yuan, text) and canonical)


def test_the_yuan_pattern_refuses_zero_and_stops_at_the_ledgers_maximum() -> None:
    for zero in ("0", "0.0", "0.00"):
        assert not re.search(YUAN_PATTERN, zero)
    assert re.search(YUAN_PATTERN, format_fen(AMOUNT_FEN_MAX))
    assert not re.search(YUAN_PATTERN, format_fen(AMOUNT_FEN_MAX + 1))
    assert re.search(YUAN_PATTERN, "0.01")


@given(st.from_regex(r"\A[0-9]{1,7}(\.[0-9]{1,2})?\Z"))
def test_the_area_pattern_is_what_parse_area_accepts_without_leading_zeros(text: str) -> None:
    canonical = not re.match(r"0[0-9]", text)
    assert bool(re.search(AREA_PATTERN, text)) == (accepted(parse_area_m2, text) and canonical)


@given(st.dates(min_value=date(1000, 1, 1), max_value=date(9999, 12, 31)))
def test_the_day_pattern_is_the_business_date_range(day: date) -> None:
    inside = BUSINESS_DATE_FIRST <= day <= BUSINESS_DATE_LAST
    assert bool(re.search(DAY_PATTERN, day.isoformat())) == inside


def test_the_day_pattern_ends_exactly_at_the_bounds() -> None:
    for day, inside in ((BUSINESS_DATE_FIRST, True), (BUSINESS_DATE_LAST, True),
                        (BUSINESS_DATE_FIRST - timedelta(days=1), False),
                        (BUSINESS_DATE_LAST + timedelta(days=1), False)):
        assert bool(re.search(DAY_PATTERN, day.isoformat())) == inside
