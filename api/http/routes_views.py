"""The auditor's and the city's views over HTTP: the audit trail and the three rates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.http.models import Day, Page
from api.http.positions import AfterPosition, MinPosition
from api.http.problems import Problem
from api.http.schemas_views import (
    AuditEntryPublic,
    RateFigures,
    RatesPublic,
    RatesTrendPublic,
    YearRates,
)
from api.http.security import READERS, ServicesDep, allow
from api.http.services import Services
from ledger.access import Place, Principal, Role
from projections.audit import PAGE_SIZE_MAX, AuditFilter
from projections.three_rates import (
    LEVELS,
    RATES,
    TREND_YEARS_MAX,
    ThreeRates,
    target_percents,
    trend_years,
)

router = APIRouter(prefix="/v1", tags=["views"])


def _community_place(svc: Services, code: str) -> Place | None:
    found = svc.balance.funds(community=code)
    return Place(found[0].district, found[0].street, code) if found else None


@router.get("/audit")
def audit(
    svc: ServicesDep, principal: Annotated[Principal, allow(Role.auditor, Role.official,
                                                            Role.custodian, Role.admin)],
    community: Annotated[str | None, Query(max_length=100)] = None,
    unit: Annotated[str | None, Query(max_length=100, description="BUILDING-UNIT")] = None,
    kind: Annotated[str | None, Query(max_length=100)] = None,
    date_from: Day | None = None, date_to: Day | None = None,
    after: AfterPosition = 0,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 100,
    min_position: MinPosition = None,
) -> Page[AuditEntryPublic]:
    """Money movements and governance decisions in log order, filtered, keyset-paged."""
    if community is None and principal.scope.level != "city":
        raise Problem(422, "a caller scoped below the city names the community to read",
                      rule="scope", field="community")
    if community is not None:
        place = _community_place(svc, community)
        if place is None or not principal.scope.holds(place):
            # as for a community with no entries
            return Page[AuditEntryPublic](items=[], next_after=None)
    svc.caught_up(svc.audit, min_position)
    entries = svc.audit.entries(AuditFilter(community, unit, kind, date_from, date_to),
                                after=after, limit=limit)
    return Page[AuditEntryPublic](
        items=[AuditEntryPublic.model_validate(e) for e in entries],
        next_after=entries[-1].notification_id if len(entries) == limit else None)


def _check_rates_scope(svc: Services, principal: Principal, level: str,
                       code: str | None) -> None:
    """A place the caller may read the rates of, or the problem to answer instead."""
    if (level == "city") != (code is None):
        raise Problem(422, "give a code for a community, street or district, none for the city",
                      rule="scope", field="code")
    scope = principal.scope
    allowed = (scope.level == "city" or (scope.level == level and scope.code == code)
               or (level == "community" and code is not None
                   and (place := _community_place(svc, code)) is not None
                   and scope.holds(place)))
    if not allowed:
        raise Problem(404, f"no {level} {code!r} in your scope", rule="scope", field="code")


def _figures(result: ThreeRates) -> dict[str, RateFigures]:
    return {rate: RateFigures(count=result.count(rate), basis_points=result.basis_points(rate),
                              target_met=result.target_met(rate)) for rate in RATES}


LevelQuery = Annotated[str, Query(pattern="^(" + "|".join(LEVELS) + ")$")]
CodeQuery = Annotated[str | None, Query(min_length=1, max_length=100)]


@router.get("/rates")
def rates(
    svc: ServicesDep, principal: Annotated[Principal, allow(*READERS)],
    year: Annotated[int, Query(ge=2000, le=2100, description=(
        "The year whose targets the present counts are compared with; the counts as they "
        "stood at a past year's end are GET /v1/rates/trend's."))],
    level: LevelQuery = "city", code: CodeQuery = None, min_position: MinPosition = None,
) -> RatesPublic:
    """R1's three rates (committee, service, party) of a scope, with counts and targets."""
    _check_rates_scope(svc, principal, level, code)
    svc.caught_up(svc.three_rates, min_position)
    result = svc.three_rates.rates(level, code, year=year)
    return RatesPublic(
        level=result.level, code=result.code, year=result.year,
        communities=result.communities, rates=_figures(result),
        all_targets_met=result.all_targets_met)


@router.get("/rates/trend")
def rates_trend(
    svc: ServicesDep, principal: Annotated[Principal, allow(*READERS)],
    to_year: Annotated[int, Query(ge=2000, le=2100, description="the last year shown")],
    from_year: Annotated[int | None, Query(
        ge=2000, le=2100, description="the first year shown; the first target year (2020) "
        "when not given")] = None,
    level: LevelQuery = "city", code: CodeQuery = None, min_position: MinPosition = None,
) -> RatesTrendPublic:
    """R1's three rates of a scope at the end of each year, by business date, each against
    that year's targets."""
    _check_rates_scope(svc, principal, level, code)
    years = trend_years(to_year, from_year)
    if not years or len(years) > TREND_YEARS_MAX:
        raise Problem(422, f"from_year must be at most to_year, and at most {TREND_YEARS_MAX} "
                      "years before it", rule="R1", field="from_year")
    svc.caught_up(svc.three_rates, min_position)
    trend = svc.three_rates.trend(level, code, years=years)
    return RatesTrendPublic(level=level, code=code, years=[
        YearRates(year=t.year, communities=t.communities, rates=_figures(t),
                  targets=target_percents(t.year), all_targets_met=t.all_targets_met)
        for t in trend])
