"""Votes: the open votes in which the owner votes (cast a ballot, get the receipt), closed
votes with the recorded tally and the owner's own ballot, and checking a receipt later.

A ballot goes through the ledger's own command (``cast_ballot``), dated today in Beijing;
the ledger decides (V3-V5) and a refusal is shown with its rule, having changed nothing.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.http.routes_votes import visible_votes
from api.web.owners import owner_vote
from api.web.pages import (
    WEB_PREFIX,
    PageNotFound,
    ServicesDep,
    SignedIn,
    Viewer,
    beijing_today,
    check_csrf,
    redirect,
    render,
)
from domain.errors import DomainError
from domain.vote import CLOSED, COMMITTEE_ELECTION, OPEN, Vote

router = APIRouter()
VoteId = Annotated[UUID, Path()]
LISTED_MAX = 200


def _owner_votes(svc: ServicesDep, viewer: Viewer) -> list[Vote]:
    community = viewer.session.community_code
    # Below the shard gateway a staff member's list (no community of their own) is every
    # district's, each read from its own log; an owner's pages go to their community's.
    apps = ([svc] if svc.sibling_shards is None or community is not None
            else [shard.services for shard in svc.sibling_shards()])
    votes = [vote for app in apps for vote in visible_votes(
        app, viewer.session.principal, community, None, ("", ""), LISTED_MAX)[0]]
    return sorted(votes, key=lambda v: (v.community_code, v.vote_reference))[:LISTED_MAX]


@router.get("/votes")
def votes_page(request: Request, viewer: SignedIn, svc: ServicesDep) -> HTMLResponse:
    if viewer.owner_id is None:
        # Staff: every vote in the session's scope, read-only.
        votes = _owner_votes(svc, viewer)
        return render(request, "votes_staff.html", {"votes": votes}, viewer=viewer)
    mine = [owner_vote(svc.ledger, v, viewer.owner_id) for v in _owner_votes(svc, viewer)]
    by_date = sorted(mine, key=lambda o: (o.vote.opened_on or o.vote.proposed_on),
                     reverse=True)
    return render(request, "votes.html", {
        "open_votes": [o for o in by_date if o.vote.status == OPEN],
        "closed_votes": [o for o in by_date if o.vote.status == CLOSED]}, viewer=viewer)


def _vote_of(svc: ServicesDep, viewer: Viewer, id_: UUID) -> Vote:
    """The vote, if the viewer may see it (an owner: in its electorate); else 404."""
    vote = svc.ledger.vote_by_id(id_)
    if vote is None:
        raise PageNotFound()
    scope = viewer.session.principal.scope
    if viewer.owner_id is not None:
        if not (scope.reaches(vote.community_code) and svc.ledger.on_roll(vote, viewer.owner_id)):
            raise PageNotFound()
    elif not scope.holds(svc.community_place(vote.community_code)):
        raise PageNotFound()
    return vote


def _vote_page(request: Request, viewer: Viewer, svc: ServicesDep, vote: Vote, *,
               error: str | None = None, checked: dict[str, object] | None = None,
               status_code: int = 200) -> HTMLResponse:
    mine = owner_vote(svc.ledger, vote, viewer.owner_id) if viewer.owner_id else None
    return render(request, "vote.html", {
        "vote": vote, "mine": mine, "error": error, "checked": checked,
        "is_election": vote.matter_kind == COMMITTEE_ELECTION,
        "cast": request.query_params.get("cast") == "1"},
        viewer=viewer, status_code=status_code)


@router.get("/votes/{id}")
def vote_page(request: Request, viewer: SignedIn, svc: ServicesDep, id: VoteId) -> HTMLResponse:
    return _vote_page(request, viewer, svc, _vote_of(svc, viewer, id))


@router.post("/votes/{id}/ballot")
def cast(
    request: Request, viewer: SignedIn, svc: ServicesDep, id: VoteId,
    choice: Annotated[str, Form(max_length=20)],
    csrf: Annotated[str | None, Form(max_length=100)] = None,
    confirm: Annotated[str | None, Form(max_length=10)] = None,
    candidates: Annotated[list[str] | None, Form(max_length=100)] = None,
) -> Response:
    check_csrf(request, viewer, csrf)
    vote = _vote_of(svc, viewer, id)
    if viewer.owner_id is None:
        raise PageNotFound()  # staff record paper ballots through the API
    if confirm != "yes":
        return _vote_page(request, viewer, svc, vote, error="cast_final", status_code=422)
    try:
        svc.ledger.cast_ballot(community_code=vote.community_code,
                               vote_reference=vote.vote_reference, owner_id=viewer.owner_id,
                               choice=choice, cast_on=beijing_today(),
                               candidates=list(candidates or []))
    except DomainError as refused:
        return _vote_page(request, viewer, svc, vote, error=f"{refused.rule}: {refused.message}",
                          status_code=422)
    return redirect(f"{WEB_PREFIX}/votes/{id}?cast=1#receipt")


@router.get("/votes/{id}/check")
def check_receipt(
    request: Request, viewer: SignedIn, svc: ServicesDep, id: VoteId,
    receipt: Annotated[str, Query(max_length=100)] = "",
) -> HTMLResponse:
    """Whether a recorded ballot of this vote has the receipt, as it was cast."""
    vote = _vote_of(svc, viewer, id)
    wanted = receipt.strip().lower()
    found = svc.ledger.ballot_with_receipt(vote, wanted) if wanted else None
    checked: dict[str, object] = {"receipt": wanted, "found": found is not None,
                                  "choice": found.choice if found else None,
                                  "counted": vote.result is not None}
    return _vote_page(request, viewer, svc, vote, checked=checked)
