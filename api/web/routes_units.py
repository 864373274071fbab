"""My units: each unit the owner holds, and one unit's movements and balance as of a date.

A unit that is not the owner's answers exactly like one that does not exist (404): the
owner's id must be among the unit's owners in the register now.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from api.web.owners import unit_page, unit_summaries
from api.web.pages import Owner, PageNotFound, ServicesDep, render
from domain.errors import NotFound

router = APIRouter()
PartCode = Annotated[str, Path(min_length=1, max_length=100)]


@router.get("/units")
def my_units(request: Request, viewer: Owner, svc: ServicesDep) -> HTMLResponse:
    session = viewer.session
    assert session.community_code is not None and viewer.owner_id is not None
    units = unit_summaries(svc.ledger, session.community_code, viewer.owner_id,
                           session.unit_keys)
    community = svc.ledger.community(session.community_code)
    return render(request, "units.html", {"units": units, "community": community},
                  viewer=viewer)


@router.get("/units/{building}/{unit}")
def one_unit(
    request: Request, viewer: Owner, svc: ServicesDep, building: PartCode, unit: PartCode,
    as_of: Annotated[date | None, Query(description="A business date.")] = None,
) -> HTMLResponse:
    community_code = viewer.session.community_code
    assert community_code is not None
    try:
        page = unit_page(svc.ledger, community_code, building, unit, as_of)
    except NotFound:
        raise PageNotFound() from None
    # Whose it is now, not on the chosen date: a seller no longer sees the unit (F7).
    current = svc.ledger.unit_account(community_code, building, unit)
    if viewer.owner_id not in current.owner_ids:
        raise PageNotFound()
    return render(request, "unit.html", {"page": page, "as_of": as_of}, viewer=viewer)
