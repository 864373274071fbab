"""Request and response bodies shared by the routes.

Requests forbid unknown fields, so a client cannot set what the server owns (ids, balances,
tallies: API3). Dates are ISO strings only: ``"2026-01-05"`` is a date, ``20260105`` is not.

The OpenAPI document states what the server enforces, in keywords JSON Schema knows
(``pattern``, ``minLength``...), so a client generated from it is not refused for a request
that looks valid: identifiers carry the pattern of their character set
(``domain.identifiers``), free text excludes control characters, dates the business range.
Identifiers are normalised (NFKC, trimmed) before the pattern is checked, as on the CLI and
in CSV files, and free text is trimmed: a full-width ``１０１`` is door ``101``.

Responses are typed (``schemas_*.py`` per resource, on the bases here), so the OpenAPI
document describes every answer. An amount is an ``int`` of fen; its ``*_yuan`` twin is a
computed field (``yuan_of``), derived in one place and documented as read-only, and an area
in hundredths of a m² has its ``*_m2`` twin the same way (``m2_of``).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Generic, Self, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    computed_field,
)

from api.http.amounts import yuan
from domain.checks import BUSINESS_DATE_FIRST, BUSINESS_DATE_LAST
from domain.credit_code import CREDIT_CODE_CHARSET, CREDIT_CODE_LENGTH
from domain.identifiers import (
    BUILDING,
    CODE,
    CODE_CHARS_MAX,
    OPTIONAL_TEXT_JSON_PATTERN,
    REFERENCE,
    TEXT_JSON_PATTERN,
    UNIT,
    UNIT_KEY,
    CharacterSet,
    normalise,
    place_code_json_pattern,
)
from domain.money import format_area
from domain.owner_ids import OWNER_ID_CHARS_MAX, OWNER_ID_PATTERN

NAME_CHARS_MAX = 100
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
Item = TypeVar("Item", bound=BaseModel)
# A field with no character set of its own (a kind checked against the domain's list).
Code = Field(min_length=1, max_length=NAME_CHARS_MAX)


def _normalised(value: Any) -> Any:
    # Not a string: left for the type check to refuse (a number is not an identifier).
    return normalise(value) if isinstance(value, str) else value


def _trimmed(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _identifier(charset: CharacterSet, pattern: str | None = None) -> Any:
    return Field(pattern=pattern or charset.json_pattern,
                 description=f"A {charset.kind}: {charset.description}. Normalised first "
                             "(Unicode NFKC, trimmed).")


# Each alias checks its pattern after normalising: a BeforeValidator runs before what precedes
# it in ``Annotated``, and so the pattern stays on the string (and in the OpenAPI document).
Normalised = BeforeValidator(_normalised)
Trimmed = BeforeValidator(_trimmed)
# A community code in a request body (a path's code is looked up, so it needs no pattern).
CommunityCodeIn = Annotated[str, _identifier(CODE), Normalised]
# District and street codes: as community codes; in digits, 6 (GB/T 2260) and 9 digits.
DistrictCode = Annotated[str, _identifier(CODE, place_code_json_pattern("district")),
                         Field(max_length=CODE_CHARS_MAX), Normalised]
StreetCode = Annotated[str, _identifier(CODE, place_code_json_pattern("street")),
                       Field(max_length=CODE_CHARS_MAX), Normalised]
Building = Annotated[str, _identifier(BUILDING), Normalised]
Unit = Annotated[str, _identifier(UNIT), Normalised]
UnitKey = Annotated[str, _identifier(UNIT_KEY), Normalised]
ReferenceIn = Annotated[str, _identifier(REFERENCE), Normalised]
# A candidate or committee member: an owner id that the vote's and the committee's own checks
# also accept (so neither "@" nor "/").
MemberId = Annotated[str, Field(
    pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
    description="A member's (an owner's) id: 1–64 of A–Z a–z 0–9 _ . : -. Normalised first."),
    Normalised]
CREDIT_CODE_JSON_PATTERN = (
    f"^[{CREDIT_CODE_CHARSET}{CREDIT_CODE_CHARSET.lower()}]{{{CREDIT_CODE_LENGTH}}}$")
CREDIT_CODE_DESCRIPTION = ("A unified social credit code: 18 of 0–9 and the capitals but I O S "
                           "V Z, the last a check character (GB 32100).")
CreditCode = Annotated[str, Field(pattern=CREDIT_CODE_JSON_PATTERN,
                                  description=CREDIT_CODE_DESCRIPTION), Normalised]
OwnerId = Annotated[str, Field(
    pattern=f"^{OWNER_ID_PATTERN.pattern}$", max_length=OWNER_ID_CHARS_MAX,
    description="A pseudonymous owner id: 1–64 of A–Z a–z 0–9 _ . : @ - (never a resident "
                "ID, phone number or e-mail address). Normalised first (NFKC, trimmed)."),
    Normalised]
# Free text: one line of printable characters, trimmed; give the length at the field:
# ``title: Text = Field(max_length=200)``.
Text = Annotated[str, Field(
    min_length=1, pattern=TEXT_JSON_PATTERN,
    description="Text on one line: no control characters or line breaks; trimmed."), Trimmed]
OptionalText = Annotated[str, Field(
    pattern=OPTIONAL_TEXT_JSON_PATTERN,
    description="Text on one line, may be empty: no control characters or line breaks."),
    Trimmed]

def _iso_text(value: Any) -> Any:
    # Lax parsing would take 0 or "0" for 1970-01-01: a date is written out, or refused.
    if not isinstance(value, str) or not ISO_DATE.fullmatch(value):
        raise ValueError("a date is an ISO string such as \"2026-01-05\"")
    return value


# Bounded, so a rule's deadline (published + 15 days, notice + 90) never leaves the calendar.
# JSON Schema has no bounds for a date, so the document states the range as a pattern
# (tests/unit/test_http_patterns.py holds it to BUSINESS_DATE_FIRST and _LAST).
DAY_PATTERN = r"^(?:19[0-9]{2}|2[0-9]{3})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])$"
# A recorded time: a date (the end of that day), or a date and time with an optional zone.
MOMENT_PATTERN = (DAY_PATTERN[:-1] + r"(?:[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9]"
                  r"(?:\.[0-9]{1,6})?)?(?:Z|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])?)?$")
_DAY_DESCRIPTION = f"An ISO date from {BUSINESS_DATE_FIRST} to {BUSINESS_DATE_LAST}."
Day = Annotated[date, BeforeValidator(_iso_text),
                Field(ge=BUSINESS_DATE_FIRST, le=BUSINESS_DATE_LAST),
                WithJsonSchema({"type": "string", "format": "date", "pattern": DAY_PATTERN,
                                "description": _DAY_DESCRIPTION})]


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
