"""Owner ids are pseudonyms: the log is immutable, so no personal data may ever enter it.

The register's ``owner_id`` names an owner the way the fund office's own files do, by a
pseudonym that only the office can resolve (its mapping lives outside the ledger, where it can
be corrected or erased). An id shaped like a resident identity card number (15 or 18
characters, GB 11643), a mainland mobile number or an e-mail address is personal data written
by mistake: it is refused here, on every path that writes owner ids (registration, sale, the
electorate frozen for a vote), before any event is made.
"""

from __future__ import annotations

import re

from domain.errors import InvalidInput

OWNER_ID_CHARS_MAX = 64
# Printable ASCII without the voter-key separator "+" or spaces: the same on every path.
OWNER_ID_PATTERN = re.compile(rf"[A-Za-z0-9_.:@-]{{1,{OWNER_ID_CHARS_MAX}}}")
PSEUDONYMOUS_RULE = "pseudonymous-id"

# Checked on each part between separators, so "owner-13800138000" is caught but the 12-hex
# digest of a pseudonym ("owner-570c00ae8657") cannot be mistaken for one.
_SEGMENT_SEPARATORS = re.compile(r"[-_.:@]")
_RESIDENT_ID = re.compile(r"\d{15}|\d{17}[\dXx]")
_MOBILE = re.compile(r"(?:0?86)?1[3-9]\d{9}")
_EMAIL = re.compile(r"[^@]+@[^@]+\.[A-Za-z]{2,}")


def looks_personal(owner_id: str) -> str | None:
    """What personal datum the id looks like, or None for a plausible pseudonym."""
    if _EMAIL.fullmatch(owner_id):
        return "an e-mail address"
    for segment in _SEGMENT_SEPARATORS.split(owner_id):
        if _RESIDENT_ID.fullmatch(segment):
            return "a resident identity card number"
        if _MOBILE.fullmatch(segment):
            return "a mobile phone number"
    return None


def check_owner_id(owner_id: str, field: str = "owner_id") -> None:
    """Refuse an owner id that is malformed or carries personal data, naming the rule."""
    if not isinstance(owner_id, str) or not OWNER_ID_PATTERN.fullmatch(owner_id):
        raise InvalidInput(
            f"owner id {owner_id!r} is malformed: 1–{OWNER_ID_CHARS_MAX} characters of "
            "A–Z a–z 0–9 _ . : @ -", rule="input-format", field=field)
    personal = looks_personal(owner_id)
    if personal is not None:
        raise InvalidInput(
            f"owner id {owner_id!r} looks like {personal}; the ledger keeps pseudonymous ids "
            "only (the fund office maps them to people outside the log)",
            rule=PSEUDONYMOUS_RULE, field=field)
