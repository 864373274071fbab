"""Input checks shared by the governance aggregates: who acts, and on what calendar day."""

from __future__ import annotations

import re
from datetime import date

from domain.errors import InvalidInput

ACTOR_PATTERN = re.compile(r"[A-Za-z0-9_.:@+-]{1,64}")
# The business dates any entry point accepts (the CLI and the HTTP API alike): far enough
# for old paper records and long contracts, near enough that a typo such as 9999 is caught.
BUSINESS_DATE_FIRST, BUSINESS_DATE_LAST = date(1900, 1, 1), date(2999, 12, 31)


def check_actor(actor: str) -> None:
    if not isinstance(actor, str) or not ACTOR_PATTERN.fullmatch(actor):
        raise InvalidInput(f"actor {actor!r} is malformed", rule="input-format", field="actor")


def check_date(value: date, field: str) -> None:
    # datetime is a subclass of date; an event date is a calendar day, not an instant.
    if type(value) is not date:
        raise InvalidInput(f"{field} must be a date", rule="input-format", field=field)
