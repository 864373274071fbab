"""The unified social credit code (GB 32100-2015): alphabet, length, check character."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.credit_code import (
    check_character,
    is_valid_credit_code,
    validate_credit_code,
    with_check_character,
)
from domain.errors import InvalidInput

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]

first_17 = st.text(alphabet=ALPHABET, min_size=17, max_size=17)


def recount_check(body: str) -> str:
    """The standard's formula, written out again here so the test does not trust the code."""
    total = 0
    for position, char in enumerate(body):
        total += ALPHABET.index(char) * WEIGHTS[position]
    value = 31 - total % 31
    return ALPHABET[0 if value == 31 else value]


@pytest.mark.parametrize(
    "code",
    [
        "91350100M000100Y43",  # a specimen commonly cited for the format
        "911100007109288314",
        "91110108551385082Q",
    ],
)
def test_published_codes_are_valid(code: str) -> None:
    assert validate_credit_code(code) == code
    assert is_valid_credit_code(code)


@given(first_17)
def test_check_character_matches_the_standard(body: str) -> None:
    assert check_character(body) == recount_check(body)
    assert is_valid_credit_code(body + recount_check(body))


@given(first_17, st.integers(0, 17), st.sampled_from(ALPHABET))
def test_any_single_wrong_character_is_caught(body: str, position: int, new: str) -> None:
    code = with_check_character(body)
    if code[position] == new:
        return
    typo = code[:position] + new + code[position + 1 :]
    assert not is_valid_credit_code(typo)


def test_lower_case_and_spaces_are_normalised() -> None:
    assert validate_credit_code("  91350100m000100y43 ") == "91350100M000100Y43"


def test_wrong_check_character_names_rule_and_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_credit_code("91350100M000100Y44", field="enterprise_code")
    assert caught.value.rule == "credit-code-check"
    assert caught.value.field == "enterprise_code"
    assert "'3'" in caught.value.message


@pytest.mark.parametrize(
    "code",
    [
        "",
        "91350100M000100Y4",  # 17 characters
        "91350100M000100Y433",  # 19
        "91350100I000100Y43",  # I is not in the alphabet
        "91350100O000100Y43",  # O
        "91350100S000100Y43",  # S
        "91350100V000100Y43",  # V
        "91350100Z000100Y43",  # Z
        "91350100-000100Y43",
    ],
)
def test_malformed_codes_are_refused(code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_credit_code(code)
    assert caught.value.rule == "credit-code-format"
    assert caught.value.field == "credit_code"
    assert not is_valid_credit_code(code)


def test_check_character_needs_17_characters_of_the_alphabet() -> None:
    with pytest.raises(InvalidInput):
        check_character("9135")
    with pytest.raises(InvalidInput):
        check_character("91350100M000100IO")
