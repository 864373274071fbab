"""The audit trail in the browser: the audit view filtered and paged, and any sub-account,
vote, committee, contract, enterprise or fund opened at a business date and a recorded time,
with the events behind the answer.

The same reads as ``GET /v1/audit`` and ``GET /v1/history/{kind}/{key}``, under the same
rules: the trail for an auditor, official or custodian within scope (below the city, one
community at a time); a replay for an auditor, of a community in scope. What is out of scope
answers as what does not exist (404).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from api.http.positions import LOG_POSITION_MAX
from api.web.pages import BEIJING, PageNotFound, ServicesDep, SignedIn, Viewer, render
from api.web.routes_officials import community_names
from domain.errors import InvalidInput, NotFound
from ledger.access import Role
from projections.audit import KINDS as AUDIT_KINDS
from projections.audit import AuditEntry, AuditFilter
from projections.history.replay import KINDS as REPLAY_KINDS
from projections.history.replay import Replayed, parse_cut, replay

router = APIRouter()
PAGE_SIZE = 50
TRAIL_ROLES = (Role.auditor, Role.official, Role.custodian)
REPLAY_ROLES = (Role.auditor,)
Text = Annotated[str | None, Query(max_length=100)]
# A form's empty date field comes as "": no filter, not an error.
DayText = Annotated[str | None, Query(max_length=10)]


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, "not a date") from None


def _role(viewer: Viewer, roles: tuple[Role, ...]) -> None:
    if viewer.owner_id is not None or viewer.session.principal.role not in roles:
        raise PageNotFound()


def _in_scope(svc: ServicesDep, viewer: Viewer, community: str) -> bool:
    try:
        return viewer.session.principal.scope.holds(svc.community_place(community))
    except NotFound:
        return False


@dataclass(frozen=True)
class TrailRow:
    entry: AuditEntry
    replay_kind: str
    replay_key: str


def _replay_target(entry: AuditEntry) -> tuple[str, str]:
    """What an entry is about, to open it at its business date and recorded time."""
    if entry.unit_key:
        return "unit", f"{entry.community_code}/{entry.unit_key}"
    if entry.kind == "Tallied" and entry.reference:
        return "vote", f"{entry.community_code}/{entry.reference}"
    return "fund", entry.community_code


@router.get("/audit")
def audit_trail(
    request: Request, viewer: SignedIn, svc: ServicesDep, community: Text = None,
    kind: Text = None, actor: Text = None, date_from: DayText = None, date_to: DayText = None,
    after: Annotated[int, Query(ge=0, le=LOG_POSITION_MAX)] = 0,
) -> HTMLResponse:
    _role(viewer, TRAIL_ROLES)
    day_from, day_to = _day(date_from), _day(date_to)
    scope = viewer.session.principal.scope
    community = community or None
    if community is None and scope.level == "community":
        community = scope.code
    names = community_names(svc, viewer)
    entries: list[AuditEntry] = []
    # Below the shard gateway this app holds one district's log: a city-wide trail here
    # would be that district's alone, so a community is asked for (GET /v1/audit searches
    # the whole city, from the city reader's view).
    whole_log = svc.sibling_shards is None
    asked = community is not None or (scope.level == "city" and whole_log)
    if community is not None and not _in_scope(svc, viewer, community):
        raise PageNotFound()
    if asked:
        entries = svc.audit.entries(
            AuditFilter(community, None, kind or None, day_from, day_to, actor or None),
            after=after, limit=PAGE_SIZE)
    rows = [TrailRow(e, *_replay_target(e)) for e in entries]
    return render(request, "audit.html", {
        "rows": rows, "names": names, "kinds": AUDIT_KINDS, "asked": asked,
        "whole_log": whole_log,
        "filters": {"community": community or "", "kind": kind or "", "actor": actor or "",
                    "date_from": day_from.isoformat() if day_from else "",
                    "date_to": day_to.isoformat() if day_to else ""},
        "after": after,
        "next_after": entries[-1].notification_id if len(entries) == PAGE_SIZE else None,
        "beijing": lambda moment: moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
        "can_replay": viewer.session.principal.role in REPLAY_ROLES}, viewer=viewer)


@router.get("/replay")
def replay_page(
    request: Request, viewer: SignedIn, svc: ServicesDep,
    kind: Annotated[str | None, Query(pattern="^(" + "|".join(REPLAY_KINDS) + ")$")] = None,
    key: Annotated[str | None, Query(max_length=300)] = None,
    as_of: Annotated[str | None, Query(max_length=10)] = None,
    known_at: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    _role(viewer, REPLAY_ROLES)
    found: Replayed | None = None
    problem: str | None = None
    if kind and key:
        community = None if kind == "enterprise" else key.split("/", 1)[0]
        if community is not None and not _in_scope(svc, viewer, community):
            raise PageNotFound()
        try:
            day, moment = parse_cut(as_of or None, known_at or None)
            found = replay(svc.ledger, kind, key, as_of=day, known_at=moment)
        except (InvalidInput, NotFound) as error:
            problem = str(error)
    return render(request, "replay.html", {
        "kinds": REPLAY_KINDS, "found": found, "problem": problem,
        "asked": {"kind": kind or "unit", "key": key or "", "as_of": as_of or "",
                  "known_at": known_at or ""},
        "beijing": lambda moment: moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
        "scalar": lambda value: not isinstance(value, dict | list),
        "shown_events": list(found.included[-200:]) if found else [],
        "utc": lambda moment: moment.isoformat() if isinstance(moment, datetime) else ""},
        viewer=viewer)
