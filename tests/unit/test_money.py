"""Money in fen: strict parsing of bank amounts, exact printing, apportionment without loss."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.money import AMOUNT_FEN_MAX, apportion, format_fen, parse_area_m2, parse_yuan


@pytest.mark.parametrize(
    ("text", "fen"),
    [("1", 100), ("1.5", 150), ("1234.50", 123_450), ("0.01", 1), ("1234.05", 123_405)],
)
def test_parse_yuan_accepts_plain_decimal_strings(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("0", "amount-positive"),
        ("0.00", "amount-positive"),
        ("-1", "amount-positive"),
        ("1.234", "amount-two-decimals"),
        ("1e3", "amount-format"),
        ("1,000", "amount-format"),
        ("", "amount-format"),
        (" ", "amount-format"),
        ("abc", "amount-format"),
        # full-width digits: Python's \d matches them unless the pattern is ASCII-only
        ("１２", "amount-format"),
        ("+1", "amount-format"),
        (".5", "amount-format"),
    ],
)
def test_parse_yuan_refuses_with_the_rule_and_field(text: str, rule: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_yuan(text, field="invoice_yuan")
    assert refused.value.rule == rule
    assert refused.value.field == "invoice_yuan"


def test_parse_yuan_default_field_is_amount_yuan() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_yuan("1.234")
    assert refused.value.field == "amount_yuan"


@pytest.mark.parametrize("number", [1000, 1.5, 1e3, Decimal("12.50"), None])
def test_parse_yuan_refuses_a_json_number(number: object) -> None:
    """A JSON body with ``"amount_yuan": 1e3`` arrives as a number, never silently a float."""
    with pytest.raises(InvalidInput) as refused:
        parse_yuan(number)  # type: ignore[arg-type]
    assert refused.value.rule == "amount-format"
    assert refused.value.field == "amount_yuan"


def test_parse_yuan_refuses_more_than_the_maximum() -> None:
    assert parse_yuan(format_fen(AMOUNT_FEN_MAX)) == AMOUNT_FEN_MAX
    with pytest.raises(InvalidInput) as refused:
        parse_yuan(format_fen(AMOUNT_FEN_MAX + 1))
    assert refused.value.rule == "amount-max"


def test_parse_area_refuses_full_width_digits() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_area_m2("８０.５")
    assert (refused.value.rule, refused.value.field) == ("area-format", "area_m2")


@given(st.integers(min_value=1, max_value=AMOUNT_FEN_MAX))
def test_format_fen_round_trips_through_parse_yuan(amount_fen: int) -> None:
    text = format_fen(amount_fen)
    assert parse_yuan(text) == amount_fen
    assert Decimal(text) * 100 == amount_fen


@given(st.integers(min_value=-AMOUNT_FEN_MAX, max_value=AMOUNT_FEN_MAX))
def test_format_fen_is_exact_for_any_sign(amount_fen: int) -> None:
    assert Decimal(format_fen(amount_fen)) * 100 == amount_fen
    assert format_fen(amount_fen).count(".") == 1
    assert len(format_fen(amount_fen).split(".")[1]) == 2


def test_format_fen_examples() -> None:
    assert format_fen(123_450) == "1234.50"
    assert format_fen(5) == "0.05"
    assert format_fen(-5) == "-0.05"
    assert format_fen(0) == "0.00"


weights_strategy = st.lists(st.integers(min_value=0, max_value=10_000_000), min_size=1,
                            max_size=60).filter(lambda ws: sum(ws) > 0)


@given(total_fen=st.integers(min_value=0, max_value=AMOUNT_FEN_MAX), weights=weights_strategy)
def test_f5_f8_apportion_is_exact_fair_and_deterministic(
    total_fen: int, weights: list[int]
) -> None:
    shares = apportion(total_fen, weights)
    assert len(shares) == len(weights)
    assert sum(shares) == total_fen
    weight_sum = sum(weights)
    for weight, share in zip(weights, shares, strict=True):
        exact = Fraction(total_fen * weight, weight_sum)
        assert abs(share - exact) < 1
        if weight == 0:
            assert share == 0
    assert apportion(total_fen, list(weights)) == shares
    assert apportion(total_fen, tuple(weights)) == shares


def test_f5_f8_apportion_gives_ties_to_the_earlier_weight() -> None:
    assert apportion(1, [1, 1]) == [1, 0]
    assert apportion(2, [1, 1, 1]) == [1, 1, 0]
    assert apportion(100, [1, 1, 1]) == [34, 33, 33]
    assert apportion(5, [0, 3, 0, 3]) == [0, 3, 0, 2]


def test_apportion_refuses_meaningless_inputs() -> None:
    with pytest.raises(ValueError):
        apportion(-1, [1])
    with pytest.raises(ValueError):
        apportion(1, [0, 0])
    with pytest.raises(ValueError):
        apportion(1, [])
    with pytest.raises(ValueError):
        apportion(1, [2, -1])
