"""The community's yearly disclosure (F10) in the page and as a download, labelled in the
reader's language (cost kinds and sources by name, not by code).

An owner reads their own community's; staff name a community in their scope.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.web.disclosure_csv import disclosure_csv
from api.web.pages import (
    PageNotFound,
    ServicesDep,
    SignedIn,
    Viewer,
    beijing_today,
    lang_of,
    render,
)
from domain.errors import NotFound
from projections.history.disclosure import YEAR_MAX, YEAR_MIN, Disclosure, disclosure

router = APIRouter()
Year = Annotated[int | None, Query(ge=YEAR_MIN, le=YEAR_MAX)]
CommunityQuery = Annotated[str | None, Query(min_length=1, max_length=100)]


def _community(svc: ServicesDep, viewer: Viewer, asked: str | None) -> str | None:
    if viewer.session.community_code is not None:
        return viewer.session.community_code
    if asked is None:
        return None
    try:
        place = svc.community_place(asked)
    except NotFound:
        raise PageNotFound() from None
    if not viewer.session.principal.scope.holds(place):
        raise PageNotFound()
    return asked


def _disclosure(svc: ServicesDep, code: str, year: int) -> Disclosure:
    return disclosure(svc.ledger, code, year)


@router.get("/disclosure")
def disclosure_page(request: Request, viewer: SignedIn, svc: ServicesDep, year: Year = None,
                    community: CommunityQuery = None) -> HTMLResponse:
    code = _community(svc, viewer, community)
    year = year or beijing_today().year
    if code is None:
        return render(request, "disclosure.html", {"d": None, "year": year}, viewer=viewer)
    found = _disclosure(svc, code, year)
    mine = set(viewer.session.unit_keys)
    return render(request, "disclosure.html", {
        "d": found, "year": year, "code": code,
        "my_units": [u for u in found.units if u.unit in mine]}, viewer=viewer)


@router.get("/disclosure.csv")
def disclosure_download(request: Request, viewer: SignedIn, svc: ServicesDep,
                        year: Year = None, community: CommunityQuery = None) -> Response:
    code = _community(svc, viewer, community)
    if code is None:
        raise PageNotFound()
    year = year or beijing_today().year
    body = disclosure_csv(_disclosure(svc, code, year), lang_of(request))
    return Response(body, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="disclosure-{code}-{year}.csv"',
        "Cache-Control": "no-store"})
