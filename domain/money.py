"""Money as integer fen, parsed and printed exactly, and apportioned without losing a fen.

``Decimal`` appears only where text is parsed or printed; arithmetic is on ``int``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from domain.errors import InvalidInput

FEN_PER_YUAN = 100
# A posting above a billion yuan is a typo, not a deposit; the bound keeps sums in range.
AMOUNT_FEN_MAX = 100_000_000_000

# Digits, optionally a point and one or two digits. No sign, no exponent, no spaces,
# no thousands separators: a bank file that carries any of those is wrong.
_YUAN_PATTERN = re.compile(r"(?P<whole>\d{1,12})(?:\.(?P<frac>\d{1,2}))?", re.ASCII)
_AREA_PATTERN = re.compile(r"(?P<whole>\d{1,7})(?:\.(?P<frac>\d{1,2}))?", re.ASCII)


def parse_yuan(text: str, *, field: str = "amount_yuan") -> int:
    """Parse a positive amount of yuan with at most two decimals into fen."""
    if not isinstance(text, str):
        raise InvalidInput(
            "an amount must be a decimal string such as \"1234.50\", not a number",
            rule="amount-format",
            field=field,
        )
    stripped = text.strip()
    if stripped.startswith("-"):
        raise InvalidInput(f"amount {text!r} is negative", rule="amount-positive", field=field)
    match = _YUAN_PATTERN.fullmatch(stripped)
    if match is None:
        if re.fullmatch(r"\d+\.\d{3,}", stripped):
            rule, why = "amount-two-decimals", "has more than two decimals"
        else:
            rule, why = "amount-format", "is not a decimal number of yuan like 1234.50"
        raise InvalidInput(f"amount {text!r} {why}", rule=rule, field=field)
    fen = int(match["whole"]) * FEN_PER_YUAN + int((match["frac"] or "").ljust(2, "0"))
    if fen <= 0:
        raise InvalidInput(f"amount {text!r} is zero", rule="amount-positive", field=field)
    if fen > AMOUNT_FEN_MAX:
        raise InvalidInput(
            f"amount {text!r} exceeds {format_fen(AMOUNT_FEN_MAX)} yuan",
            rule="amount-max",
            field=field,
        )
    return fen


def parse_area_m2(text: str, *, field: str = "area_m2") -> int:
    """Parse a floor area in m² with at most two decimals into hundredths of a m²."""
    match = _AREA_PATTERN.fullmatch(text.strip())
    if match is None:
        raise InvalidInput(
            f"area {text!r} is not a number of m² with at most two decimals",
            rule="area-format",
            field=field,
        )
    hundredths = int(match["whole"]) * 100 + int((match["frac"] or "").ljust(2, "0"))
    if hundredths <= 0:
        raise InvalidInput(f"area {text!r} is zero", rule="area-positive", field=field)
    return hundredths


def format_fen(amount_fen: int) -> str:
    """Print fen as yuan with two decimals: 123450 -> "1234.50"."""
    sign = "-" if amount_fen < 0 else ""
    whole, frac = divmod(abs(amount_fen), FEN_PER_YUAN)
    return f"{sign}{whole}.{frac:02d}"


def format_area(area_m2_hundredths: int) -> str:
    whole, frac = divmod(area_m2_hundredths, 100)
    return f"{whole}.{frac:02d}"


def apportion(total_fen: int, weights: Sequence[int]) -> list[int]:
    """Split ``total_fen`` in proportion to ``weights`` by the largest-remainder method.

    Shares sum exactly to the total and each differs from its exact share by less than one
    fen. Ties in the remainder go to the earlier weight, so the same input always gives the
    same split (F5, F8).
    """
    if total_fen < 0:
        raise ValueError("total_fen must not be negative")
    weight_sum = sum(weights)
    if weight_sum <= 0:
        raise ValueError("weights must have a positive sum")
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    floors: list[int] = []
    remainders: list[tuple[int, int]] = []
    for index, weight in enumerate(weights):
        share, remainder = divmod(total_fen * weight, weight_sum)
        floors.append(share)
        remainders.append((-remainder, index))
    leftover = total_fen - sum(floors)
    for _, index in sorted(remainders)[:leftover]:
        floors[index] += 1
    assert sum(floors) == total_fen
    return floors
