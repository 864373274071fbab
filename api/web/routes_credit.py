"""Enterprise credit in the browser (E3): the half-year ranking, and per enterprise the score
with every line and the event behind it, its entries, exits and overdue handovers.

The same reads as ``GET /v1/credit-ranking`` and ``GET /v1/enterprises/{code}/credit``, for
the same readers (officials and auditors: the enterprise registry is the city's).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from api.web.credit_lines import CreditWords
from api.web.pages import (
    PageNotFound,
    ServicesDep,
    SignedIn,
    Viewer,
    beijing_today,
    lang_of,
    render,
)
from domain.credit import Period
from domain.errors import InvalidInput, NotFound
from domain.service_contract import ServiceContract
from ledger.access import Role
from ledger.loading import load_many

router = APIRouter()
READERS = (Role.official, Role.auditor)
HalfYear = Annotated[str | None, Query(pattern=r"^[0-9]{4}H[12]$")]


def _reader(viewer: Viewer) -> None:
    if viewer.owner_id is not None or viewer.session.principal.role not in READERS:
        raise PageNotFound()


def _period(text: str | None) -> Period:
    try:
        return Period.parse(text) if text else Period.containing(beijing_today())
    except InvalidInput:  # a half-year outside the scheme's years: as if absent
        raise PageNotFound() from None


def _periods(chosen: Period) -> list[str]:
    """The chosen half-year and the three before it, for the selector."""
    year, half = chosen.year, chosen.half
    out = []
    for _ in range(4):
        out.append(f"{year}H{half}")
        year, half = (year, 1) if half == 2 else (year - 1, 2)
    return out


@router.get("/credit")
def ranking_page(request: Request, viewer: SignedIn, svc: ServicesDep,
                 period: HalfYear = None) -> HTMLResponse:
    _reader(viewer)
    half = _period(period)
    graded = svc.ledger.credit_ranking(half)
    names = {e.credit_code: e.name for e in svc.ledger.enterprises()}
    return render(request, "credit.html", {
        "period": str(half), "periods": _periods(half), "graded": graded, "names": names,
        "scheme": svc.ledger.credit_scheme.name}, viewer=viewer)


def _contracts(svc: ServicesDep, ids: list[str]) -> list[ServiceContract]:
    found = load_many(svc.ledger, [UUID(i) for i in ids])
    contracts = [c for c in found.values() if isinstance(c, ServiceContract)]
    return sorted(contracts, key=lambda c: (c.starts_on, c.community_code))


@router.get("/credit/{credit_code}")
def enterprise_page(request: Request, viewer: SignedIn, svc: ServicesDep,
                    credit_code: Annotated[str, Path(min_length=1, max_length=18)],
                    period: HalfYear = None) -> HTMLResponse:
    _reader(viewer)
    half = _period(period)
    try:
        enterprise = svc.ledger.enterprise(credit_code)
    except NotFound:
        raise PageNotFound() from None
    score = svc.ledger.credit_score(enterprise.credit_code, half)
    graded = next((g for g in svc.ledger.credit_ranking(half)
                   if g.enterprise_code == enterprise.credit_code), None)
    events: dict[str, Any] = {e.ref: e for e in enterprise.credit_events()}
    today = beijing_today()
    contracts = _contracts(svc, list(enterprise.engaged_contract_ids))
    overdue = [c for c in contracts if c.handover_deadline is not None
               and c.handover_deadline < today and c.outstanding_handover_items]
    words = CreditWords(svc.ledger.credit_scheme, lang_of(request))
    why = words.explain(score, events)
    return render(request, "enterprise.html", {
        "enterprise": enterprise, "period": str(half), "periods": _periods(half),
        "score": score, "graded": graded, "events": events, "contracts": contracts,
        "why": why,
        "overdue": overdue, "today": today, "event_fields": words.fields,
        "handover_items": words.handover_items}, viewer=viewer)
