"""Request and response bodies shared by the routes.

Requests forbid unknown fields, so a client cannot set what the server owns (ids, balances,
tallies: API3). Dates are ISO strings only: ``"2026-01-05"`` is a date, ``20260105`` is not.
"""

from __future__ import annotations

import re
from dataclasses import asdict, is_dataclass
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from api.http.amounts import yuan

NAME_CHARS_MAX = 100
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
Code = Field(min_length=1, max_length=NAME_CHARS_MAX)




def _iso_text(value: Any) -> Any:
    # Lax parsing would take 0 or "0" for 1970-01-01: a date is written out, or refused.
    if not isinstance(value, str) or not ISO_DATE.fullmatch(value):
        raise ValueError("a date is an ISO string such as \"2026-01-05\"")
    return value


FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)
# Bounded, so a rule's deadline (published + 15 days, notice + 90) never leaves the calendar.
Day = Annotated[date, BeforeValidator(_iso_text),
                Field(ge=FIRST_DAY, le=LAST_DAY,
                      description="An ISO date from 1900-01-01 to 2999-12-31.")]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Written(BaseModel):
    """What a command wrote: the log position a later read can wait for."""

    reference: str | None = None
    kind: str
    already_posted: bool = False
    position: int | None = Field(
        description="The highest log position this request wrote (null when it wrote nothing"
                    "); pass it as min_position to a read to see the write.")


class Page(BaseModel):
    items: list[dict[str, Any]]
    next_after: int | str | None = Field(
        description="Pass as `after` for the next page; null on the last page.")


def with_yuan(record: Any) -> dict[str, Any]:
    """A record's fields, each ``*_fen`` amount also given as a ``*_yuan`` decimal string."""
    is_record = is_dataclass(record) and not isinstance(record, type)
    data: dict[str, Any] = asdict(record) if is_record else dict(record)
    out: dict[str, Any] = {}
    for name, value in data.items():
        out[name] = value
        if name.endswith("_fen") and isinstance(value, int) and not isinstance(value, bool):
            out[name[:-4] + "_yuan"] = yuan(value)
    return out
