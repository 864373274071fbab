"""The character sets of identifiers, and the one normalisation every entry point applies.

An identifier names something the ledger keys by it: a community code makes the community's
id, building and door make the unit's, a bank reference makes the posting's. Two spellings
of one identifier would make two sub-accounts (door ``１０１`` beside ``101``) or post one bank
line twice (``HG-1`` and ``HG-１`` from a re-encoded file). So:

* the entry points (CSV files, CLI options, HTTP bodies) pass every identifier through
  ``normalise`` — Unicode NFKC, which folds full-width and other compatibility forms to
  ASCII, then surrounding white space trimmed — before anything else looks at it;
* the domain accepts only identifiers inside their character set (``check_identifier``):
  what was not normalised falls outside it and is refused, naming the field and the rule,
  so a forgotten edge cannot write a second spelling.

Every set is printable ASCII, starts with a letter or digit and has no space, comma or
slash: an identifier is a CSV cell, a URL path segment and part of an id's natural key as it
stands. Free text (names, titles, purposes, notes, reasons) may be any language but carries
no control character, line break or bidirectional override (``check_text``): an event is
shown on one line of a statement, a CSV disclosure or a terminal, and must read there as it
reads in the log.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from domain.errors import InvalidInput

IDENTIFIER_RULE = "identifier-format"
TEXT_RULE = "text-format"


@dataclass(frozen=True)
class CharacterSet:
    """One kind of identifier: its pattern (also published in the OpenAPI document)."""

    kind: str
    pattern: str  # an unanchored regular expression, the same in Python and JSON Schema
    description: str

    def matches(self, value: str) -> bool:
        return re.fullmatch(self.pattern, value, re.ASCII) is not None

    @property
    def json_pattern(self) -> str:
        return f"^{self.pattern}$"


# Community, district and street codes. A district code written in digits is a GB/T 2260
# county-level code, 6 digits; a street code in digits a 9-digit township code (GB/T 10114).
# Names such as ``Chaoyang`` or ``D1`` stay valid: the register has always accepted them.
CODE = CharacterSet("code", r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}",  # 64: CODE_CHARS_MAX
                    "1–64 of A–Z a–z 0–9 _ . -, starting with a letter or digit")
PLACE_DIGITS = {"district": 6, "street": 9}


def place_code_json_pattern(level: str) -> str:
    """The same for JSON Schema: the level's digits, or a code with a non-digit in it (the
    length, at most 64, is stated beside it)."""
    return (rf"^(?:[0-9]{{{PLACE_DIGITS[level]}}}|[0-9]+[A-Za-z_.-][A-Za-z0-9_.-]*"
            r"|[A-Za-z][A-Za-z0-9_.-]*)$")


CODE_CHARS_MAX = 64
# A building has no hyphen, so a unit key ``<building>-<unit>`` splits one way only:
# building 3, door 2-601 is ``3-2-601`` and cannot also be building 3-2, door 601.
BUILDING = CharacterSet("building", r"[A-Za-z0-9]{1,16}", "1–16 of A–Z a–z 0–9")
UNIT = CharacterSet("unit", r"[A-Za-z0-9][A-Za-z0-9-]{0,15}",
                    "1–16 of A–Z a–z 0–9 -, starting with a letter or digit")
UNIT_KEY = CharacterSet("unit key", rf"{BUILDING.pattern}-{UNIT.pattern}",
                        "<building>-<unit>, as 3-601 or 3-2-601")
# Bank references, vote, committee and contract references, resolution, emergency and
# ticket ids: what an office or a bank writes, in a URL path segment as it stands.
REFERENCE = CharacterSet("reference", r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}",
                         "1–64 of A–Z a–z 0–9 _ . : -, starting with a letter or digit")

# C0 and C1 controls (tab, newline, NUL...), line and paragraph separators, bidirectional
# embeddings and isolates, and lone surrogates (not text at all: they cannot be stored).
# Written as escapes, so the OpenAPI document shows them as such (Python, Rust and ECMAScript
# regular expressions all read them).
_FORBIDDEN = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
FORBIDDEN_IN_TEXT = re.compile(rf"[{_FORBIDDEN}\ud800-\udfff]")
# For JSON Schema: at least one character that is not a space, none forbidden.
TEXT_JSON_PATTERN = f"^[^{_FORBIDDEN}]*[^\\s{_FORBIDDEN}][^{_FORBIDDEN}]*$"
OPTIONAL_TEXT_JSON_PATTERN = f"^[^{_FORBIDDEN}]*$"


def normalise(text: str) -> str:
    """An identifier as the ledger keys it: NFKC (``１０１`` is ``101``), trimmed."""
    return unicodedata.normalize("NFKC", text).strip()


def parse_identifier(text: str, charset: CharacterSet, field: str) -> str:
    """What an entry point does with an identifier it reads: normalise, then check."""
    return check_identifier(normalise(text), charset, field)


def check_identifier(value: object, charset: CharacterSet, field: str) -> str:
    """Refuse an identifier outside its character set (an un-normalised one is outside)."""
    if not isinstance(value, str) or not charset.matches(value):
        raise InvalidInput(
            f"{field} {value!r} is not a {charset.kind}: {charset.description}",
            rule=IDENTIFIER_RULE, field=field)
    return value


def check_place_code(value: object, level: str, field: str) -> str:
    """A district or street code: a code; in digits, a GB/T code of the level's length."""
    code = check_identifier(value, CODE, field)
    digits = PLACE_DIGITS[level]
    if code.isdigit() and len(code) != digits:
        raise InvalidInput(f"{field} {code!r} is all digits, so a {digits}-digit "
                           f"{'GB/T 2260' if level == 'district' else 'township'} code",
                           rule=IDENTIFIER_RULE, field=field)
    return code


def check_district_and_street(district: str, street: str) -> None:
    """Codes of the city's hierarchy; in digits they are GB/T codes, the street's within the
    district's (110105001 lies in 110105)."""
    check_place_code(district, "district", "district")
    check_place_code(street, "street", "street")
    if district.isdigit() and street.isdigit() and not street.startswith(district):
        raise InvalidInput(f"street {street} does not lie in district {district} (its code "
                           "starts with the district's)", rule=IDENTIFIER_RULE, field="street")


def check_text(value: object, field: str, *, rule: str = TEXT_RULE) -> str:
    """Refuse free text carrying a control character, a line break or a bidi override."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text", rule=rule, field=field)
    found = FORBIDDEN_IN_TEXT.search(value)
    if found is not None:
        raise InvalidInput(
            f"{field} contains the control character U+{ord(found.group()):04X} at "
            f"{found.start()}; text in the ledger is one line of printable characters",
            rule=rule, field=field)
    return value
