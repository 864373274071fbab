"""Amounts over HTTP: decimal strings in yuan, at most two decimals, parsed exactly to fen.

A JSON number is refused (strict string), because a client's float may already have lost a
fen before it reached us. The parsing is the ledger's own (``domain.money``), so the API and
the bank files accept exactly the same amounts. Responses give each amount as such a string
and as an integer of fen.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StrictStr

from domain.errors import InvalidInput
from domain.money import format_fen, parse_yuan

# The amounts ``parse_yuan`` accepts, in the document's own terms (JSON Schema has no bounds
# for a string): more than zero, at most AMOUNT_FEN_MAX (a billion yuan), two decimals, and
# no leading zero (``007.50`` is a typo). ``tests/unit/test_http_patterns.py`` checks
# the patterns against the parsers.
YUAN_PATTERN = (r"^(?:[1-9][0-9]{0,8}(?:\.[0-9]{1,2})?|0\.(?:0[1-9]|[1-9][0-9]?)"
                r"|1000000000(?:\.0{1,2})?)$")
AREA_PATTERN = r"^(?:[1-9][0-9]{0,6}(?:\.[0-9]{1,2})?|0\.(?:0[1-9]|[1-9][0-9]?))$"


def _amount(text: str) -> str:
    try:
        parse_yuan(text)
    except InvalidInput as error:
        raise ValueError(f"{error.rule}: {error.message}") from None
    return text


Yuan = Annotated[StrictStr, Field(pattern=YUAN_PATTERN, examples=["1234.50"],
                                  description="Yuan, a decimal string with at most two "
                                              "decimals, more than zero."),
                 AfterValidator(_amount)]
Area = Annotated[StrictStr, Field(pattern=AREA_PATTERN, examples=["89.65"],
                                  description="Exclusive floor area in m², at most two "
                                              "decimals, more than zero.")]


def fen(text: str) -> int:
    return parse_yuan(text)


def yuan(amount_fen: int) -> str:
    return format_fen(amount_fen)
