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

# For the OpenAPI document; the validator below is what decides.
YUAN_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"


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
Area = Annotated[StrictStr, Field(pattern=r"^[0-9]{1,7}(\.[0-9]{1,2})?$", examples=["89.65"],
                                  description="Exclusive floor area in m², at most two "
                                              "decimals.")]


def fen(text: str) -> int:
    return parse_yuan(text)


def yuan(amount_fen: int) -> str:
    return format_fen(amount_fen)
