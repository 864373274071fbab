"""What the enterprise routes answer: the registry, contracts, credit events and scores.

Points are integers in hundredths (``*_hundredths``) beside their decimal strings.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.http.models import Written, m2_of, yuan_of


class _CreditEvent(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    ref: str
    effective_date: date


class CommendationPublic(_CreditEvent):
    type: Literal["commendation"] = "commendation"
    kind: str
    authority: str
    note: str
    community_code: str | None


class ViolationPublic(_CreditEvent):
    type: Literal["violation"] = "violation"
    kind: str
    authority: str
    note: str
    source_ref: str
    community_code: str | None


class FinePublic(_CreditEvent):
    type: Literal["fine"] = "fine"
    amount_fen: int
    amount_yuan: ClassVar[property] = yuan_of("amount_fen")
    authority: str
    note: str
    community_code: str | None


class TicketPublic(_CreditEvent):
    type: Literal["ticket"] = "ticket"
    ticket_id: str
    responded: bool
    resolved: bool
    satisfied: bool
    community_code: str | None


CreditEventPublic = Annotated[
    CommendationPublic | ViolationPublic | FinePublic | TicketPublic,
    Field(discriminator="type")]


class EnterprisePublic(BaseModel):
    credit_code: str
    name: str
    registered_on: date
    contracts_engaged: int
    credit_events: int


class EnterpriseRegistered(Written, EnterprisePublic):
    pass


class EnterpriseRecord(EnterprisePublic):
    """An enterprise's registry record with its dated credit record (E3)."""

    credit_record: list[CreditEventPublic]


class ContractPublic(BaseModel):
    """A contract: its terms, notice, termination, handover deadline and items (E1, E2)."""

    community_code: str
    reference: str
    enterprise_code: str
    starts_on: date
    filed_on: date
    open_ended: bool
    ends_on: date | None
    area_m2_hundredths: int
    area_m2: ClassVar[property] = m2_of("area_m2_hundredths")
    emergency_standin: bool
    resolution_id: str | None
    notice_on: date | None
    notice_reason: str | None
    earliest_termination: date | None
    terminated_on: date | None
    handover_deadline: date | None
    handed_over: dict[str, date]
    outstanding_handover_items: list[str]
    version: int


class ContractWritten(Written, ContractPublic):
    """A contract started, noticed, terminated or handed over, as it stands after."""


class SelfManagementRecorded(Written):
    reference: str


class HandoversChecked(Written):
    as_of: date
    violations_recorded: list[str]


class CreditEventRecorded(Written):
    """The event recorded, or ``already_recorded`` (and no event) for a repeat."""

    enterprise_code: str
    already_recorded: bool
    event: CreditEventPublic | None


class ProjectPoints(BaseModel):
    community_code: str
    area_m2_hundredths: int
    points_hundredths: int
    points: str


class ScoreLinePublic(BaseModel):
    """Points caused by one event (or the base), with the reason and the event itself."""

    event_ref: str
    kind: str
    points_hundredths: int
    points: str
    explanation: str
    event: CreditEventPublic | None


class ScorePublic(BaseModel):
    """A half-year's score and grade, every point with the event behind it (E3)."""

    enterprise_code: str
    name: str
    period: str
    scheme: str
    score_hundredths: int
    score: str
    grade: str | None
    rank: int | None
    served_area_m2_hundredths: int
    served_area_m2: ClassVar[property] = m2_of("served_area_m2_hundredths")
    projects: list[ProjectPoints]
    lines: list[ScoreLinePublic]


class RankedEnterprise(BaseModel):
    rank: int
    grade: str
    enterprise_code: str
    name: str
    score_hundredths: int
    score: str


class CreditRanking(BaseModel):
    """Every enterprise that served in the half-year, ranked and graded (E3)."""

    period: str
    scheme: str
    items: list[RankedEnterprise]
