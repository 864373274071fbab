"""The unified social credit code (统一社会信用代码, GB 32100-2015) that names an enterprise.

Eighteen characters from a 31-character alphabet (digits and the capitals except I, O, S, V,
Z, which read like digits); the 18th is a check character over the first 17. We check the
alphabet, the length and the check character; the inner structure (registration authority,
administrative division, organisation code) is not validated, because the registry that
issued the code already did, and a wrong guess here would lock out a real enterprise.
"""

from __future__ import annotations

from domain.errors import InvalidInput

CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_LENGTH = 18
# Weight of position i is 3**i mod 31 (GB 32100-2015, 5.2); written out so it can be compared
# with the standard at a glance.
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_MODULUS = len(CREDIT_CODE_CHARSET)  # 31
_VALUE = {char: value for value, char in enumerate(CREDIT_CODE_CHARSET)}

RULE_FORMAT = "credit-code-format"
RULE_CHECK = "credit-code-check"


def check_character(first_17: str) -> str:
    """The 18th character for the first 17: ``31 - (Σ value × weight mod 31)``, with 31 → "0".

    Raises ``InvalidInput`` if ``first_17`` is not 17 characters of the code's alphabet.
    """
    _require_charset(first_17, CREDIT_CODE_LENGTH - 1, field="credit_code")
    pairs = zip(first_17, CREDIT_CODE_WEIGHTS, strict=True)
    total = sum(_VALUE[char] * weight for char, weight in pairs)
    return CREDIT_CODE_CHARSET[(_MODULUS - total % _MODULUS) % _MODULUS]


def with_check_character(first_17: str) -> str:
    """A complete, valid code from its first 17 characters (for tests and the demo)."""
    normalized = first_17.strip().upper()
    return normalized + check_character(normalized)


def validate_credit_code(code: str, *, field: str = "credit_code") -> str:
    """Return the code in canonical form (trimmed, upper case), or raise ``InvalidInput``.

    Upper-casing is safe because the alphabet has no lower-case letters; it makes the same
    enterprise typed two ways get the same id.
    """
    if not isinstance(code, str):
        raise InvalidInput(
            "a unified social credit code must be text", rule=RULE_FORMAT, field=field
        )
    normalized = code.strip().upper()
    _require_charset(normalized, CREDIT_CODE_LENGTH, field=field)
    expected = check_character(normalized[:-1])
    if normalized[-1] != expected:
        raise InvalidInput(
            f"unified social credit code {normalized!r} has check character "
            f"{normalized[-1]!r}, expected {expected!r}",
            rule=RULE_CHECK,
            field=field,
        )
    return normalized


def is_valid_credit_code(code: str) -> bool:
    try:
        validate_credit_code(code)
    except InvalidInput:
        return False
    return True


def _require_charset(text: str, length: int, *, field: str) -> None:
    if len(text) != length:
        raise InvalidInput(
            f"{text!r} has {len(text)} characters; a unified social credit code has "
            f"{CREDIT_CODE_LENGTH} (the last one a check character)",
            rule=RULE_FORMAT,
            field=field,
        )
    bad = sorted({char for char in text if char not in _VALUE})
    if bad:
        raise InvalidInput(
            f"{text!r} contains {''.join(bad)!r}, outside the code alphabet "
            f"{CREDIT_CODE_CHARSET} (no I, O, S, V, Z)",
            rule=RULE_FORMAT,
            field=field,
        )
