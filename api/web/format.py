"""Numbers as an owner reads them: 元 with thousands separators, m² with two decimals.

Money stays an ``int`` of fen until here; this only prints it.
"""

from __future__ import annotations

from domain.money import FEN_PER_YUAN

MINUS = "−"  # U+2212: a minus sign a screen reader says, not a hyphen


def yuan_text(amount_fen: int, *, signed: bool = False) -> str:
    """12345678 -> "123,456.78 元"; with ``signed``, "+" or "−" before a movement."""
    whole, frac = divmod(abs(amount_fen), FEN_PER_YUAN)
    sign = MINUS if amount_fen < 0 else ("+" if signed and amount_fen > 0 else "")
    return f"{sign}{whole:,}.{frac:02d} 元"


def yuan_plain(amount_fen: int) -> str:
    """For a spreadsheet cell: "123456.78", no separator, no unit (a CSV reads it as a
    number)."""
    sign = "-" if amount_fen < 0 else ""
    whole, frac = divmod(abs(amount_fen), FEN_PER_YUAN)
    return f"{sign}{whole}.{frac:02d}"


def area_text(area_m2_hundredths: int) -> str:
    whole, frac = divmod(area_m2_hundredths, 100)
    return f"{whole:,}.{frac:02d}"
