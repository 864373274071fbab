"""The officials' pages: the three-rates dashboard, live.

A staff session (an official's, custodian's or auditor's token exchanged once) sees the
places its scope holds and nothing above; an owner's session has no dashboard (404). The
page is complete as served; its script draws the charts and follows the view's changes in
the viewer's part of the city (SSE) to refresh the page in place.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sse_starlette import EventSourceResponse

from api.http.positions import LOG_POSITION_MAX
from api.http.services import Services
from api.web.pages import PageNotFound, ServicesDep, SignedIn, Viewer, beijing_today, render
from api.web.rates import OutOfScope, dashboard
from projections.changes import ViewChanges, Within
from projections.three_rates import LEVELS

router = APIRouter()
IDLE_POLL_S = 0.25
PING_S = 15
LevelQuery = Annotated[str, Query(pattern="^(" + "|".join(LEVELS) + ")$")]
CodeQuery = Annotated[str | None, Query(min_length=1, max_length=100)]
YearQuery = Annotated[int | None, Query(ge=2000, le=2100)]


def staff(viewer: Viewer) -> Viewer:
    if viewer.owner_id is not None:
        raise PageNotFound()
    return viewer


def _place(viewer: Viewer, level: str | None, code: str | None) -> tuple[str, str | None]:
    """The place asked for, or the viewer's own scope when none is."""
    if level is None:
        scope = viewer.session.principal.scope
        return scope.level, scope.code or None
    return level, code


def community_names(svc: Services, viewer: Viewer) -> dict[str, str]:
    """The names of the communities in the viewer's scope, from the balance view (one query,
    where loading each community would load its every unit)."""
    return {f.community_code: f.name
            for f in svc.balance.funds(**viewer.session.principal.scope.filters())}


@router.get("/rates")
def rates_page(request: Request, viewer: SignedIn, svc: ServicesDep,
               level: Annotated[str | None, Query(pattern="^(" + "|".join(LEVELS) + ")$")]
               = None, code: CodeQuery = None, year: YearQuery = None) -> HTMLResponse:
    staff(viewer)
    level, code = _place(viewer, level, code)
    year = year or beijing_today().year
    position = svc.runner.position(svc.three_rates)
    scope = viewer.session.principal.scope
    try:
        board = dashboard(svc.three_rates, community_names(svc, viewer), scope, level, code,
                          year)
    except OutOfScope:
        raise PageNotFound() from None
    return render(request, "rates.html", {
        "board": board, "position": position, "chart": board.chart_data()}, viewer=viewer)


@router.get("/rates/changes", response_class=EventSourceResponse)
async def rates_changes(
    request: Request, viewer: SignedIn, svc: ServicesDep, level: LevelQuery,
    code: CodeQuery = None, after: Annotated[int, Query(ge=0, le=LOG_POSITION_MAX)] = 0,
) -> EventSourceResponse:
    """One ``changed`` event (its id the log position) whenever the view applies an event
    in the place: the page then reloads its figures. Nothing about the event itself."""
    staff(viewer)
    try:
        await run_in_threadpool(dashboard, svc.three_rates, {},
                                viewer.session.principal.scope, level, code, 2000)
    except OutOfScope:
        raise PageNotFound() from None
    within = Within(**({} if level == "city" else {level: code}))
    changes = ViewChanges(svc.ledger, svc.runner, svc.three_rates)

    async def events() -> AsyncIterator[dict[str, Any]]:
        position = after
        while not await request.is_disconnected():
            found, position = await run_in_threadpool(changes.after, position, within)
            if found:
                yield {"id": str(position), "event": "changed", "data": str(position)}
            else:
                await asyncio.sleep(IDLE_POLL_S)

    return EventSourceResponse(events(), ping=PING_S)
