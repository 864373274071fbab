"""What the views' routes answer: audit entries (also a unit's statement) and the rates."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from api.http.models import IsoDateTime, yuan_of


class AuditEntryPublic(BaseModel):
    """A money movement or governance decision, at its log position."""

    model_config = ConfigDict(from_attributes=True)
    notification_id: int
    kind: str
    community_code: str
    unit_key: str | None
    units: str | None
    amount_fen: int | None
    amount_yuan: ClassVar[property] = yuan_of("amount_fen", nullable=True)
    actor: str
    business_date: date
    recorded_at: IsoDateTime
    reference: str | None
    cites: str | None


class CityAuditEntryPublic(AuditEntryPublic):
    """An audit entry of one district's log as the city holds it: ``notification_id`` is
    that shard's log position, (shard, notification_id) the entry's key and order
    (``projections.city_audit``)."""

    shard: str


class RateFigures(BaseModel):
    count: int
    basis_points: int | None
    target_met: bool | None


class RatesPublic(BaseModel):
    """R1's three rates of a scope in a year, with counts and whether each meets its target."""

    level: str
    code: str | None
    year: int
    communities: int
    rates: dict[str, RateFigures]
    all_targets_met: bool | None


class YearRates(BaseModel):
    """A scope's three rates at the end of one year (by business date), with the year's
    target per rate in percent (none before the first target year)."""

    year: int
    communities: int
    rates: dict[str, RateFigures]
    targets: dict[str, int] | None
    all_targets_met: bool | None


class RatesTrendPublic(BaseModel):
    """R1's three rates of a scope across years, oldest first."""

    level: str
    code: str | None
    years: list[YearRates]
