"""``GET /v1/votes``: the votes in the caller's scope, by community and reference, paged.

The audit view lists every proposed vote (its lookup table of votes); each listed vote is read
from the ledger (the ``Vote`` aggregate is the truth about its status and dates) and kept if
the caller's scope holds it: a staff scope by the vote's community, an owner's by the vote's
frozen electorate, as ``GET /v1/votes/{id}`` decides. The cursor ``after`` is the last vote's
name, ``COMMUNITY/REFERENCE``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.http.models import Page
from api.http.problems import Problem
from api.http.routes_governance import VOTE_READERS, vote_public
from api.http.schemas_governance import VotePublic
from api.http.security import ServicesDep, allow, in_scope
from api.http.services import Services
from domain.identifiers import CODE, CODE_CHARS_MAX, REFERENCE
from domain.vote import Vote
from ledger.access import Principal
from projections.audit import PAGE_SIZE_MAX, ListedVote

# The cursor is the last vote's COMMUNITY/REFERENCE, each part in its own character set.
AFTER_PATTERN = f"^{CODE.pattern}/{REFERENCE.pattern}$"
router = APIRouter(prefix="/v1", tags=["governance"])
# A request reads at most this many listed votes looking for ones in scope: a narrow scope
# in a big city answers in bounded time, and ``next_after`` carries on from where it stopped.
SCAN_MAX = 2_000
_SCAN_PAGE = 200
Status = Literal["proposed", "published", "open", "closed"]


def visible_votes(svc: Services, principal: Principal, community: str | None,
                  status: str | None, after: tuple[str, str],
                  limit: int) -> tuple[list[Vote], tuple[str, str] | None]:
    """Up to ``limit`` votes in scope after the cursor, and the cursor to go on from (None
    when the listing is exhausted)."""
    found: list[Vote] = []
    cursor, scanned = after, 0
    while scanned < SCAN_MAX:
        page = svc.audit.votes(community, after=cursor, limit=_SCAN_PAGE)
        for listed in page:
            cursor, scanned = (listed.community_code, listed.vote_reference), scanned + 1
            vote = _in_scope(svc, principal, listed)
            if vote is not None and (status is None or vote.status == status):
                found.append(vote)
                if len(found) == limit:
                    return found, cursor
        if len(page) < _SCAN_PAGE:
            return found, None
    return found, cursor


def _in_scope(svc: Services, principal: Principal, listed: ListedVote) -> Vote | None:
    scope = principal.scope
    if scope.level == "owner":
        if not scope.reaches(listed.community_code):
            return None
        vote = svc.ledger.vote(listed.community_code, listed.vote_reference)
        return vote if vote.opened and svc.ledger.on_roll(vote, scope.code) else None
    if not scope.holds(svc.community_place(listed.community_code)):
        return None
    return svc.ledger.vote(listed.community_code, listed.vote_reference)


@router.get("/votes")
def list_votes(
    svc: ServicesDep, principal: Annotated[Principal, allow(*VOTE_READERS)],
    community: Annotated[str | None, Query(pattern=CODE.json_pattern,
                                           max_length=CODE_CHARS_MAX)] = None,
    status: Status | None = None,
    after: Annotated[str | None, Query(pattern=AFTER_PATTERN, max_length=201, description=(
        "The `next_after` of the previous page: the last vote's `COMMUNITY/REFERENCE`."))
                     ] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 50,
) -> Page[VotePublic]:
    """Votes in scope, by community and reference, with their matter, status and dates
    (an owner sees the votes whose electorate holds them). Filter by `community` and
    `status`; page with `after`."""
    if community is not None and principal.scope.level != "owner":
        # Outside the scope, a community reads as absent (404), as everywhere.
        in_scope(principal, svc.community_place(community), what="community",
                 field="community")
    cursor = ("", "")
    if after is not None:
        code, slash, reference = after.partition("/")
        if not slash or not code or not reference:
            raise Problem(422, "after is a vote's COMMUNITY/REFERENCE, as next_after gave it",
                          rule="paging", field="after")
        cursor = (code, reference)
    votes, next_cursor = visible_votes(svc, principal, community, status, cursor, limit)
    return Page[VotePublic](
        items=[vote_public(v, None) for v in votes],
        next_after=f"{next_cursor[0]}/{next_cursor[1]}" if next_cursor else None)
