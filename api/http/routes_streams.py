"""Server-Sent Events of view changes, resumable with ``Last-Event-ID``, scoped by place."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from sse_starlette import EventSourceResponse

from api.http.positions import LOG_POSITION_MAX
from api.http.problems import Problem
from api.http.security import ServicesDep, allow
from api.http.services import Services
from domain.errors import NotFound
from ledger.access import Principal, Role, Scope
from projections.changes import ViewChanges, Within
from projections.cloud_events import encode

router = APIRouter(prefix="/v1", tags=["streams"])
IDLE_POLL_S = 0.25
PING_S = 15


def _within(svc: Services, principal: Principal, community: str | None, street: str | None,
            district: str | None) -> Within:
    """The caller's scope, narrowed by what it asked for (never widened). A place the scope
    does not hold answers 404 before anything is streamed, exactly as one that does not
    exist (R2): a stream that could only ever ping would look like a quiet place."""
    asked = {"community": community, "street": street, "district": district}
    for level, code in asked.items():
        if code is not None and not _in_scope(svc, principal.scope, level, code):
            raise NotFound(f"no {level} {code!r} is registered", rule="R2", field=level)
    return Within(**{**asked, **principal.scope.filters()})


def _in_scope(svc: Services, scope: Scope, level: str, code: str) -> bool:
    """Whether the place ``level``/``code`` overlaps the scope: lies in it, or (a broader
    place) holds it. A street or district is known by the communities registered there."""
    if level == "community":
        try:
            return scope.holds(svc.community_place(code))  # absent: as if out of scope
        except NotFound:
            return False
    if scope.level == "city":
        return True
    if scope.level == level:
        return scope.code == code
    if scope.level == "community":
        try:
            return bool(getattr(svc.community_place(scope.code), level) == code)
        except NotFound:
            return False
    return bool(svc.balance.funds(**{scope.level: scope.code, level: code}))


@router.get("/streams/{view}", response_class=EventSourceResponse, responses={
    200: {"content": {"text/event-stream": {}},
          "description": "CloudEvents JSON per change; each SSE id is its log position"}})
async def stream(
    view: Annotated[str, Path(max_length=50)], request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(Role.subscriber, Role.auditor, Role.official,
                                          Role.admin)],
    community: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    street: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    district: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID",
                                                pattern=r"^[0-9]{1,18}$")] = None,
    after: Annotated[int | None, Query(ge=0, le=LOG_POSITION_MAX, description=(
        "Start after this log position (the Last-Event-ID header wins)."))] = None,
    until_caught_up: Annotated[bool, Query(description=(
        "End the stream once it has sent everything the view has applied."))] = False,
) -> EventSourceResponse:
    """A view's changes after ``Last-Event-ID`` (or ``after``), in log order, then live."""
    projection = svc.views.get(view)
    if projection is None:
        raise NotFound(f"no view {view!r}; the views are: {', '.join(svc.views)}",
                       rule="view", field="view")
    if principal.scope.level == "owner":
        raise Problem(403, "owners read their own units, not streams", rule="role")
    within = await run_in_threadpool(_within, svc, principal, community, street, district)
    start = int(last_event_id) if last_event_id is not None else (after or 0)
    if not svc.open_stream(principal.token_id):
        raise Problem(429, f"a token holds at most {svc.streams_per_token_max} open streams",
                      rule="streams-per-token")
    changes = ViewChanges(svc.ledger, svc.runner, projection)

    async def events() -> AsyncIterator[dict[str, Any]]:
        position = start
        try:
            while not await request.is_disconnected():
                found, position = await run_in_threadpool(changes.after, position, within)
                for change in found:
                    yield {"id": str(change["position"]), "event": view,
                           "data": encode(change).decode()}
                if not found:
                    if until_caught_up and position >= svc.runner.position(projection):
                        return
                    await asyncio.sleep(IDLE_POLL_S)
        finally:
            svc.close_stream(principal.token_id)

    return EventSourceResponse(events(), ping=PING_S)
