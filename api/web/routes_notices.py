"""Notices of the owner's community, newest first; the page polls for new ones (htmx,
every minute), and works without script as a plain page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.web.notices import community_notices
from api.web.pages import Owner, ServicesDep, render

router = APIRouter()


@router.get("/notices")
def notices_page(request: Request, viewer: Owner, svc: ServicesDep) -> HTMLResponse:
    return _notices(request, viewer, svc, "notices.html")


@router.get("/notices/list")
def notices_list(request: Request, viewer: Owner, svc: ServicesDep) -> HTMLResponse:
    """The list alone, which the page swaps in when it polls."""
    return _notices(request, viewer, svc, "notices_list.html")


def _notices(request: Request, viewer: Owner, svc: ServicesDep, template: str) -> HTMLResponse:
    assert viewer.session.community_code is not None
    notices = community_notices(svc.ledger, svc.audit, viewer.session.community_code)
    return render(request, template, {"notices": notices}, viewer=viewer)
