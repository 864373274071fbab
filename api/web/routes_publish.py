"""The disclosure fit to publish (F10; quarterly per Beijing's rules, art. 84): the page as it
will be printed, and its PDF. For anyone signed in whose scope holds the community (an owner:
their own community's), as the disclosure page itself.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, Response

from api.render.disclosure_print import STYLESHEET, Issue, pdf_bytes, print_html
from api.web.i18n import labeller
from api.web.pages import (
    WEB_PREFIX,
    PageNotFound,
    ServicesDep,
    SignedIn,
    Viewer,
    beijing_today,
)
from api.web.routes_disclosure import CommunityQuery, Year, _community
from api.web.routes_proofs import fingerprint
from projections.history.disclosure import disclosure
from projections.seal.sealer import latest_checkpoint

router = APIRouter()
Quarter = Annotated[int | None, Query(ge=1, le=4)]


def _issuer(viewer: Viewer) -> str:
    """Who issues it: the signed-in person's role and name as the ledger knows them."""
    principal = viewer.session.principal
    return f"{labeller('zh')('role', principal.role.value)}（{principal.name}）"


def _page(request: Request, viewer: Viewer, svc: ServicesDep, community: str | None,
          year: int | None, quarter: int | None, *, for_pdf: bool) -> tuple[str, str]:
    code = _community(svc, viewer, community)
    if code is None:
        raise PageNotFound()
    year = year or beijing_today().year
    found = disclosure(svc.ledger, code, year, quarter)
    checkpoint = latest_checkpoint(svc.ledger, svc.sealer().store)
    base = str(request.base_url).rstrip("/")
    issue = Issue(
        issuer=_issuer(viewer), issued_on=beijing_today(),
        log_position=svc.ledger.recorder.max_notification_id() or 0, checkpoint=checkpoint,
        fingerprint=fingerprint(checkpoint.public_key) if checkpoint else None,
        proof_url=f"{base}{WEB_PREFIX}/proofs?community={code}",
        details_url=f"{base}{WEB_PREFIX}/disclosure.csv?community={code}&year={year}")
    name = f"disclosure-{code}-{year}" + (f"Q{quarter}" if quarter else "")
    href = None if for_pdf else f"{WEB_PREFIX}/disclosure/publish.css"
    return print_html(found, issue, href), name


@router.get("/disclosure/publish")
def publish_page(request: Request, viewer: SignedIn, svc: ServicesDep,
                 community: CommunityQuery = None, year: Year = None,
                 quarter: Quarter = None) -> HTMLResponse:
    html, _ = _page(request, viewer, svc, community, year, quarter, for_pdf=False)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/disclosure/publish.css")
def publish_stylesheet() -> FileResponse:
    return FileResponse(STYLESHEET, media_type="text/css")


@router.get("/disclosure/publish.pdf")
async def publish_pdf(request: Request, viewer: SignedIn, svc: ServicesDep,
                      community: CommunityQuery = None, year: Year = None,
                      quarter: Quarter = None) -> Response:
    html, name = await run_in_threadpool(
        lambda: _page(request, viewer, svc, community, year, quarter, for_pdf=True))
    pdf = await run_in_threadpool(pdf_bytes, html)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{name}.pdf"',
        "Cache-Control": "no-store"})
