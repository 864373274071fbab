"""Request and response bodies shared by the routes.

Requests forbid unknown fields, so a client cannot set what the server owns (ids, balances,
tallies: API3). Dates are ISO strings only: ``"2026-01-05"`` is a date, ``20260105`` is not.

Responses are typed (``schemas_*.py`` per resource, on the bases here), so the OpenAPI
document describes every answer. An amount is an ``int`` of fen; its ``*_yuan`` twin is a
computed field (``yuan_of``), derived in one place and documented as read-only, and an area
in hundredths of a m² has its ``*_m2`` twin the same way (``m2_of``).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Generic, Self, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, computed_field

from api.http.amounts import yuan
from domain.money import format_area

NAME_CHARS_MAX = 100
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
Code = Field(min_length=1, max_length=NAME_CHARS_MAX)
Item = TypeVar("Item", bound=BaseModel)

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
    """A command's answer: what it wrote, and the log position a later read can wait for.

    ``written`` is the one word every write answer uses for what it wrote (a record's own
    ``kind``, such as a committee's, stays a field of that record)."""

    written: str = Field(description="What the request wrote: `deposit:top_up`, `vote`, "
                                     "`filing`, ...")
    position: int | None = Field(
        default=None,
        description="The highest log position this request wrote (null when it wrote nothing"
                    "); pass it as min_position to a read to see the write.")

    @classmethod
    def carrying(cls, written: str, record: BaseModel) -> Self:
        """The answer that carries ``record``, the ``*Public`` model this answer extends."""
        return cls(written=written, **dict(record))

    def answer(self) -> dict[str, Any]:
        """The command's result for ``run_idempotent``, which adds the position it wrote."""
        return self.model_dump(exclude={"position"})


class Page(BaseModel, Generic[Item]):
    items: list[Item]
    next_after: int | str | None = Field(
        description="Pass as `after` for the next page; null on the last page.")


# A recorded time as ``datetime.isoformat`` writes it (``+00:00``), as answers always gave it,
# where pydantic would write ``Z``.
IsoDateTime = Annotated[datetime, PlainSerializer(datetime.isoformat, return_type=str)]


def yuan_of(fen_field: str, *, nullable: bool = False) -> property:
    """A read-only ``*_yuan`` field: the ``fen_field`` amount as a decimal string of yuan
    (null where the amount is: ``nullable``).

    Declared ``deposits_yuan: ClassVar[property] = yuan_of("deposits_fen")``: it is a
    property, so a class attribute to mypy (whose pydantic plugin would otherwise take it for
    an untyped field), which pydantic serializes and documents as a read-only field.
    """

    def amount_yuan(self: BaseModel) -> str | None:
        amount_fen = getattr(self, fen_field)
        return None if amount_fen is None else yuan(amount_fen)

    return computed_field(return_type=str | None if nullable else str,
                          description=f"`{fen_field}` in yuan, a decimal string.",
                          )(property(amount_yuan))


def m2_of(hundredths_field: str, *, nullable: bool = False) -> property:
    """A read-only ``*_m2`` field: the area in ``hundredths_field`` as a decimal string
    (null where the area is: ``nullable``). Declared as ``yuan_of`` says."""

    def area_m2(self: BaseModel) -> str | None:
        hundredths = getattr(self, hundredths_field)
        return None if hundredths is None else format_area(hundredths)

    return computed_field(return_type=str | None if nullable else str,
                          description=f"`{hundredths_field}` in m², a decimal string.",
                          )(property(area_m2))
