"""The officials' pages: the three-rates dashboard, live.

A staff session (an official's, custodian's or auditor's token exchanged once) sees the
places its scope holds and nothing above; an owner's session has no dashboard (404). The
page is complete as served; its script draws the charts and follows the view's changes in
the viewer's part of the city (SSE) to refresh the page in place.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sse_starlette import EventSourceResponse

from api.http.positions import LOG_POSITION_MAX
from api.http.services import Services
from api.web.pages import (
    PageNotFound,
    ServicesDep,
    SignedIn,
    Viewer,
    beijing_today,
    render,
)
from api.web.rates import Names, OutOfScope, dashboard
from projections.balance import BalanceProjection
from projections.changes import ViewChanges, Within
from projections.three_rates import LEVELS

router = APIRouter()
IDLE_POLL_S = 0.25
CITY_POLL_S = 1.0  # below the gateway, each poll reads every district's position
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
    where loading each community would load its every unit); the city's, from every
    district's."""
    return _names(svc, viewer.session.principal.scope.filters())


def names_of(svc: Services) -> Names:
    """The names of the communities a dashboard shows, by code, from the balance view (every
    district's, under the gateway): those codes only, however large the place."""
    def names(codes: Iterable[str]) -> dict[str, str]:
        wanted = list(codes)
        return {code: name for balance in _balances(svc)
                for code, name in balance.community_names(wanted).items()}
    return names


def _names(svc: Services, filters: dict[str, str]) -> dict[str, str]:
    return {f.community_code: f.name for balance in _balances(svc)
            for f in balance.funds(**filters)}


def _balances(svc: Services) -> list[BalanceProjection]:
    shards = svc.city_shards or svc.sibling_shards
    return [svc.balance] if shards is None else [shard.services.balance for shard in shards()]


def _no_names(codes: Iterable[str]) -> dict[str, str]:
    """For a dashboard computed only to compare its figures: no names read."""
    return {}


def shard_positions(svc: Services) -> list[tuple[str, int]]:
    """Below the shard gateway, how far the city views have read each district's log: read
    at most once a poll in this process, whoever asks (every open page polls it)."""
    assert svc.city_shards is not None
    now = time.monotonic()
    read_at, positions = svc.city_positions_read
    if now - read_at < CITY_POLL_S:
        return positions
    view = svc.three_rates.view
    positions = [(shard.name, view.max_tracking_id(shard.upstream) or 0)
                 for shard in svc.city_shards()]
    svc.city_positions_read = (now, positions)
    return positions


def rates_position(svc: Services) -> int:
    """How far the three-rates view has read: its log position; for the city's view (every
    district's log), the sum of its positions in them, which grows with each."""
    if svc.city_shards is None:
        return svc.runner.position(svc.three_rates)
    return sum(position for _, position in shard_positions(svc))


@router.get("/rates")
def rates_page(request: Request, viewer: SignedIn, svc: ServicesDep,
               level: Annotated[str | None, Query(pattern="^(" + "|".join(LEVELS) + ")$")]
               = None, code: CodeQuery = None, year: YearQuery = None) -> HTMLResponse:
    staff(viewer)
    level, code = _place(viewer, level, code)
    year = year or beijing_today().year
    position = rates_position(svc)
    scope = viewer.session.principal.scope
    try:
        board = dashboard(svc.three_rates, names_of(svc), scope, level, code, year)
    except OutOfScope:
        raise PageNotFound() from None
    return render(request, "rates.html", {
        "board": board, "position": position, "chart": board.chart_data(),
        "across_shards": svc.city_shards is not None}, viewer=viewer)


@router.get("/rates/changes", response_class=EventSourceResponse)
async def rates_changes(
    request: Request, viewer: SignedIn, svc: ServicesDep, level: LevelQuery,
    code: CodeQuery = None, after: Annotated[int, Query(ge=0, le=LOG_POSITION_MAX)] = 0,
) -> EventSourceResponse:
    """One ``changed`` event (its id the log position) whenever the view applies an event
    in the place: the page then reloads its figures. Nothing about the event itself."""
    staff(viewer)
    try:
        await run_in_threadpool(dashboard, svc.three_rates, _no_names,
                                viewer.session.principal.scope, level, code, 2000)
    except OutOfScope:
        raise PageNotFound() from None
    if svc.city_shards is not None:
        return EventSourceResponse(city_changes(request, svc, viewer, level, code, after),
                                   ping=PING_S)
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


async def city_changes(request: Request, svc: Services, viewer: Viewer, level: str,
                        code: str | None, after: int) -> AsyncGenerator[dict[str, Any]]:
    """The city's view has no log of its own to scan for a place's events: when it has read
    further in any district's log, the place's figures are computed again, and a change of
    them is sent (its id the summed position, its data each district's)."""
    scope = viewer.session.principal.scope

    def figures() -> tuple[list[tuple[str, int]], Any]:
        where = shard_positions(svc)
        board = dashboard(svc.three_rates, _no_names, scope, level, code,
                          beijing_today().year)
        return where, (board.chart_data(), board.lacking)

    where, shown = await run_in_threadpool(figures)
    position = sum(at for _, at in where)
    stale = position > after  # the view read further since the page was drawn
    while not await request.is_disconnected():
        if stale:
            yield {"id": str(position), "event": "changed",
                   "data": "，".join(f"{name} {at}" for name, at in where)}
            stale = False
        elif await run_in_threadpool(rates_position, svc) > position:
            where, fresh = await run_in_threadpool(figures)
            position = sum(at for _, at in where)
            stale, shown = fresh != shown, fresh
        else:
            await asyncio.sleep(CITY_POLL_S)
