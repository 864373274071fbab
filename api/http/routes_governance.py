"""Owners' votes, committee elections and committees over HTTP (V1-V6, C1-C4).

A vote's ``id`` is its aggregate's UUID (``domain.ids.vote_id(community, reference)``, a
uuid5 of the natural key): opaque and URL-safe whatever characters a reference holds, and a
client that knows the community and reference can compute it. ``POST /v1/votes`` answers
it. A vote, like every community-bound record, reads as absent (404) outside the caller's
scope. An owner (scope ``owner:<id>``) sees the votes whose frozen electorate holds their id
and casts only their own ballot; the developer's token (``owner:developer/<community>``)
casts the one ballot of its unsold and undelivered units in that community (V3). An
official records paper ballots for any voter.

Committees are named by their community and reference, under
``/v1/communities/{code}/committees/{reference}``; custody of the fund (F3) moves under
``/v1/communities/{code}/custody-transfer``.

Events record ``security.actor``: the token's principal name and ``+req:`` with the request
id. A ballot records its voting owner as the actor (the domain requires one of the voter's
owners).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import Field

from api.http.amounts import Yuan, fen
from api.http.idempotency import IdempotencyKey, Recover, rebuilt_from, run_idempotent
from api.http.models import (
    Building,
    CommunityCodeIn,
    Day,
    MemberId,
    OptionalText,
    OwnerId,
    ReferenceIn,
    Text,
    UnitKey,
)
from api.http.models import Request as Body
from api.http.problems import Problem
from api.http.schemas_governance import (
    BallotCast,
    BallotReceipt,
    CommitteeMember,
    CommitteePublic,
    CommitteeWritten,
    CustodyDecided,
    CustodyPublic,
    CustodyTransferPending,
    CustodyTransferred,
    NominationRecorded,
    PaperBallotsCast,
    TallyPublic,
    TallyReport,
    VoteClosed,
    VotePublic,
    VotePublished,
    VoteWritten,
)
from api.http.security import (
    OFFICIALS,
    READERS,
    ServicesDep,
    actor,
    allow,
    community_in_scope,
)
from api.http.services import Services
from domain.committee import Committee, PmcMember
from domain.community import Community
from domain.errors import NotFound
from domain.ids import committee_id, community_id, vote_id
from domain.vote import MATTER_KINDS, TallyResult, Vote
from ledger.access import Place, Principal, Role
from ledger.persistence.references import PostingReference
from ledger.write_context import WriteContext

router = APIRouter(prefix="/v1", tags=["governance"])
# A business date, bounded so that the rules' deadlines (a term of 5 years, 15 or 30 days)
# stay within the calendar: an absurd date is a 422, not an overflow.
VoteId = Annotated[UUID, Path(description="The vote's id, as `POST /v1/votes` answered it.")]
CommunityCode = Annotated[str, Path(min_length=1, max_length=100)]
Reference = Annotated[str, Path(min_length=1, max_length=100)]
Receipt = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$",
                              description="The receipt a ballot answered (sha256, hex).")]
WRITTEN: dict[int | str, dict[str, Any]] = {201: {"description": "Written"}}
VOTERS = (Role.owner, Role.official, Role.admin)
VOTE_READERS = (*READERS, Role.owner)


class VoteIn(Body):
    community_code: CommunityCodeIn
    reference: ReferenceIn
    matter_kind: str = Field(min_length=1, max_length=100, examples=list(MATTER_KINDS))
    title: Text = Field(max_length=200)
    proposed_on: Day
    buildings: list[Building] = Field(default_factory=list, max_length=1_000)
    unit_keys: list[UnitKey] = Field(default_factory=list, max_length=20_000)
    approved_amount_yuan: Yuan | None = None
    purpose: Text | None = Field(default=None, max_length=1_000)
    seats: int | None = Field(default=None, ge=1, le=1_000)


class NominationIn(Body):
    candidate_id: MemberId
    nominated_on: Day
    ineligibility_reason: Text | None = Field(
        default=None, max_length=500,
        description="Why the candidate is ineligible (C1): the nomination is then refused.")


class PublishIn(Body):
    published_on: Day


class OpenIn(Body):
    opened_on: Day


class CloseIn(Body):
    closed_on: Day


class BallotIn(Body):
    owner_id: OwnerId | None = Field(
        default=None,
        description="The voting owner. An owner's token casts only for its own id (and may "
                    "leave this out); an official names the owner of a paper ballot.")
    choice: Literal["agree", "disagree", "abstain"]
    cast_on: Day
    candidates: list[MemberId] = Field(default_factory=list, max_length=100)


class PaperBallotIn(Body):
    owner_id: OwnerId
    choice: Literal["agree", "disagree", "abstain"]
    candidates: list[MemberId] = Field(default_factory=list, max_length=100)


class PaperBallotsIn(Body):
    cast_on: Day
    ballots: list[PaperBallotIn] = Field(min_length=1, max_length=20_000)


class CommitteeIn(Body):
    committee_reference: ReferenceIn
    election_reference: ReferenceIn = Field(
        description="The reference of the passed election vote.")
    term_start: Day
    term_end: Day
    alternate_ids: list[MemberId] = Field(default_factory=list, max_length=20)
    party_member_ids: list[MemberId] = Field(default_factory=list, max_length=1_000)
    party_branch_set_up: bool = False


class FilingIn(Body):
    filed_on: Day
    street_office: Text = Field(max_length=200)


class PmcMemberIn(Body):
    member_id: MemberId
    is_owner: bool
    residents_committee_representative: bool = False


class PmcIn(Body):
    committee_reference: ReferenceIn
    appointed_on: Day
    members: list[PmcMemberIn] = Field(min_length=1, max_length=51)
    chair_id: MemberId
    term_start: Day
    term_end: Day
    party_member_ids: list[MemberId] = Field(default_factory=list, max_length=1_000)
    party_branch_set_up: bool = False


class PartyCoverageIn(Body):
    recorded_on: Day
    party_member_ids: list[MemberId] = Field(default_factory=list, max_length=1_000)
    party_branch_set_up: bool


class CustodyDecisionIn(Body):
    resolution_id: ReferenceIn = Field(description="The reference of the passed owners' vote.")
    decided_on: Day
    to_custodian: Literal["owners_meeting", "city_fund_office"] = "owners_meeting"


class CustodyCompletionIn(Body):
    completed_on: Day


class DepartureIn(Body):
    member_id: MemberId
    left_on: Day
    reason: OptionalText = Field(default="", max_length=500)


# -- helpers ------------------------------------------------------------------------------


def _absent(id_: UUID) -> NotFound:
    return NotFound(f"no vote {id_} is recorded", rule="V5", field="id")


def _vote(svc: Services, principal: Principal, id_: UUID) -> Vote:
    """The vote, if the caller's scope holds it; otherwise exactly as if it did not exist.

    The vote is small (its ballots and roll are streams of their own); the community's place
    comes from the scope checks' cache, and an owner's standing from their roll entry."""
    vote = svc.ledger.vote_by_id(id_)
    if vote is None:
        raise _absent(id_)
    _admit(svc, principal, id_, vote, lambda owner: svc.ledger.on_roll(vote, owner))
    return vote


def _admit(svc: Services, principal: Principal, id_: UUID, vote: Vote | None,
           on_roll: Callable[[str], bool]) -> None:
    """Refuse (as absent) a vote that is absent or outside the caller's scope: an owner's
    scope holds the votes whose frozen roll has them."""
    if vote is None:
        raise _absent(id_)
    place = svc.community_place(vote.community_code)
    if principal.scope.level == "owner":
        owner = principal.scope.code
        owners = (owner,) if vote.opened and on_roll(owner) else ()
        place = Place(place.district, place.street, place.community, owners)
    if not principal.scope.holds(place):
        raise _absent(id_)


def tally_public(result: TallyResult, *, provisional: bool) -> TallyPublic:
    """A tally as answered; ``provisional`` for a running count of a vote not closed."""
    fields = {name: getattr(result, name) for name in TallyPublic.model_fields
              if name != "provisional"}
    return TallyPublic.model_validate({**fields, "provisional": provisional},
                                      from_attributes=True)


def vote_public(vote: Vote, ballots_cast: int | None) -> VotePublic:
    # V6: the outcome is the tally recorded at closing; before it there is none to claim.
    decided = vote.result is not None
    return VotePublic(
        id=str(vote.id), community_code=vote.community_code,
        reference=vote.vote_reference, matter_kind=vote.matter_kind,
        title=vote.title, status=vote.status, purpose=vote.purpose,
        charging_range=vote.charging_range, seats=vote.seats,
        candidates=list(vote.candidates),
        approved_amount_fen=vote.approved_amount_fen,
        proposed_on=vote.proposed_on, published_on=vote.published_on,
        opened_on=vote.opened_on, closed_on=vote.closed_on,
        electorate_heads=vote.electorate_heads,
        electorate_area_m2_hundredths=vote.electorate_area_m2_hundredths,
        ballots_cast=ballots_cast, provisional=not decided,
        passed=vote.passed if decided else None,
        elected=list(vote.elected) if decided else None, version=vote.version)


def _vote_command(svc: Services, principal: Principal, key: str, request: Request,
                  body: Body, id_: UUID,
                  step: Callable[[str, str, WriteContext], dict[str, Any]],
                  recover: Recover | None = None) -> Response:
    """One step of a vote under an Idempotency-Key; ``recover``: the step's answer again, as
    the vote shows it done (a repeat after the first answer was lost)."""
    vote = _vote(svc, principal, id_)
    community, reference = vote.community_code, vote.vote_reference

    return run_idempotent(svc, principal, key, request, body,
                          lambda write: step(community, reference, write),
                          recover=recover)


# -- votes --------------------------------------------------------------------------------


@router.post("/votes", status_code=201, responses=WRITTEN, response_model=VoteWritten)
def propose_vote(
    body: VoteIn, request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(*OFFICIALS)], key: IdempotencyKey,
) -> Response:
    """Propose a resolution (V1/V2 by its matter); a fund-use vote names its charging range
    (V4) and amount. The answer's `id` names the vote in every other vote route."""
    community_in_scope(svc, principal, body.community_code)
    amount = fen(body.approved_amount_yuan) if body.approved_amount_yuan else None

    def command(write: WriteContext) -> dict[str, Any]:
        vote = svc.ledger.propose_vote(
            community_code=body.community_code, vote_reference=body.reference,
            matter_kind=body.matter_kind, title=body.title, proposed_on=body.proposed_on,
            actor=actor(request, principal), buildings=list(body.buildings),
            unit_keys=list(body.unit_keys), approved_amount_fen=amount, purpose=body.purpose,
            seats=body.seats, write=write)
        return VoteWritten.carrying("vote", vote_public(vote, 0)).answer()

    return run_idempotent(svc, principal, key, request, body, command, recover=rebuilt_from(
        svc, vote_id(body.community_code, body.reference), Vote,
        lambda vote: VoteWritten.carrying("vote", vote_public(vote, 0)).answer(), "Proposed"))


@router.get("/votes/{id}")
def get_vote(id: VoteId, svc: ServicesDep,
             principal: Annotated[Principal, allow(*VOTE_READERS)]) -> VotePublic:
    """A vote: its matter, dates, status, candidates, electorate totals and ballot count;
    its outcome (`passed`, `elected`) only once closed, null while `provisional`."""
    vote = _vote(svc, principal, id)
    return vote_public(vote, svc.ledger.ballots_cast(vote))


@router.post("/votes/{id}/nominations", status_code=201, responses=WRITTEN,
             response_model=NominationRecorded)
def nominate(
    id: VoteId, body: NominationIn, request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(*OFFICIALS)], key: IdempotencyKey,
) -> Response:
    """Nominate a candidate for a committee election; an ineligible one is refused (C1)."""

    def step(community: str, reference: str, write: WriteContext) -> dict[str, Any]:
        svc.ledger.nominate_candidate(
            community_code=community, vote_reference=reference,
            candidate_id=body.candidate_id, eligible=body.ineligibility_reason is None,
            ineligibility_reason=body.ineligibility_reason, nominated_on=body.nominated_on,
            actor=actor(request, principal), write=write)
        return answer()

    def answer() -> dict[str, Any]:
        return NominationRecorded(written="nomination", id=str(id),
                                  candidate_id=body.candidate_id).answer()

    return _vote_command(svc, principal, key, request, body, id, step,
                         lambda found: answer())


@router.post("/votes/{id}/publish", status_code=201, responses=WRITTEN,
             response_model=VotePublished)
def publish(
    id: VoteId, body: PublishIn, request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(*OFFICIALS)], key: IdempotencyKey,
) -> Response:
    """Publish the vote's items; it may open 15 days later at the earliest (V5)."""

    def step(community: str, reference: str, write: WriteContext) -> dict[str, Any]:
        svc.ledger.publish_vote(community_code=community, vote_reference=reference,
                                published_on=body.published_on,
                                actor=actor(request, principal), write=write)
        return answer()

    def answer() -> dict[str, Any]:
        return VotePublished(written="publication", id=str(id),
                             published_on=body.published_on).answer()

    return _vote_command(svc, principal, key, request, body, id, step,
                         lambda found: answer())


@router.post("/votes/{id}/open", status_code=201, responses=WRITTEN,
             response_model=VoteWritten)
def open_vote(
    id: VoteId, body: OpenIn, request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(*OFFICIALS)], key: IdempotencyKey,
) -> Response:
    """Open the vote, freezing its electorate (V3 heads, V4 charging range)."""

    def step(community: str, reference: str, write: WriteContext) -> dict[str, Any]:
        vote = svc.ledger.open_vote(community_code=community, vote_reference=reference,
                                    opened_on=body.opened_on, actor=actor(request, principal),
                                    write=write)
        return answer(vote)

    def answer(vote: Vote) -> dict[str, Any]:
        return VoteWritten.carrying("opening", vote_public(vote, 0)).answer()

    return _vote_command(svc, principal, key, request, body, id, step,
                         rebuilt_from(svc, id, Vote, answer, "Opened", "OpenedWithDigest"))


@router.post("/votes/{id}/ballots", status_code=201, responses=WRITTEN,
             response_model=BallotCast)
def cast_ballot(
    id: VoteId, body: BallotIn, request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(*VOTERS)], key: IdempotencyKey,
) -> Response:
    """Cast one ballot (V5: one per voter; a later one is refused). An owner casts only
    their own; an official records a paper ballot naming its owner. The answer's `receipt`
    is what the voter keeps to check later (`GET /v1/votes/{id}/ballots/{receipt}`)."""
    owner_id = body.owner_id
    if principal.role == Role.owner:
        if principal.scope.level != "owner" or owner_id not in (None, principal.scope.code):
            raise Problem(403, "an owner casts only their own ballot, for the units they own",
                          rule="V3", field="owner_id")
        owner_id = principal.scope.code
    elif owner_id is None:
        raise Problem(422, "name the owner whose paper ballot this is", rule="V5",
                      field="owner_id")
    voter = owner_id

    def command(write: WriteContext) -> dict[str, Any]:
        # The scope check reads with the ballot's own read: the vote and the voter's roll
        # entry once (an official's paper ballot: the same read, the scope by community).
        receipt, = svc.ledger.cast_ballots_in(
            id, ballots=[(voter, body.choice, list(body.candidates))], cast_on=body.cast_on,
            admit=lambda vote, on_roll: _admit(svc, principal, id, vote, on_roll), write=write)
        return BallotCast(written="ballot", id=str(id), owner_id=voter, choice=body.choice,
                          candidates=sorted(body.candidates), receipt=receipt).answer()

    return run_idempotent(svc, principal, key, request, body, command)


@router.post("/votes/{id}/paper-ballots", status_code=201, responses=WRITTEN,
             response_model=PaperBallotsCast)
def cast_paper_ballots(
    id: VoteId, body: PaperBallotsIn, request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(*OFFICIALS)], key: IdempotencyKey,
) -> Response:
    """Paper ballots entered as one batch: all or none (one bad ballot refuses the batch)."""
    rows = [(b.owner_id, b.choice, list(b.candidates)) for b in body.ballots]

    def step(community: str, reference: str, write: WriteContext) -> dict[str, Any]:
        receipts = svc.ledger.cast_ballots(community_code=community, vote_reference=reference,
                                           ballots=rows, cast_on=body.cast_on, write=write)
        return PaperBallotsCast(written="paper-ballots", id=str(id),
                                receipts=receipts).answer()

    return _vote_command(svc, principal, key, request, body, id, step)


@router.get("/votes/{id}/ballots/{receipt}")
def ballot_receipt(id: VoteId, receipt: Receipt, svc: ServicesDep,
                   principal: Annotated[Principal, allow(*VOTE_READERS)]) -> BallotReceipt:
    """Check a receipt: the ballot it names as recorded, and whether the tally counted it."""
    vote = _vote(svc, principal, id)
    found = svc.ledger.ballot_with_receipt(vote, receipt)
    if found is None:
        raise NotFound(f"no ballot of vote {id} has receipt {receipt}", rule="V5",
                       field="receipt")
    return BallotReceipt(id=str(id), receipt=receipt, voter_key=found.voter_key,
                         choice=found.choice, candidates=list(found.candidates),
                         status=vote.status, counted_in_recorded_tally=vote.result is not None)


@router.post("/votes/{id}/close", status_code=201, responses=WRITTEN,
             response_model=VoteClosed)
def close_vote(
    id: VoteId, body: CloseIn, request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(*OFFICIALS)], key: IdempotencyKey,
) -> Response:
    """Close the vote: its tally, with the four counts and the thresholds, is recorded (V6)."""

    def step(community: str, reference: str, write: WriteContext) -> dict[str, Any]:
        result = svc.ledger.close_vote(community_code=community, vote_reference=reference,
                                       closed_on=body.closed_on,
                                       actor=actor(request, principal), write=write)
        return answer(result)

    def answer(result: TallyResult) -> dict[str, Any]:
        return VoteClosed(written="tally", id=str(id),
                          tally=tally_public(result, provisional=False)).answer()

    return _vote_command(svc, principal, key, request, body, id, step, rebuilt_from(
        svc, id, Vote, lambda vote: None if vote.result is None else answer(vote.result),
        "Tallied"))


@router.get("/votes/{id}/tally")
def tally(id: VoteId, svc: ServicesDep,
          principal: Annotated[Principal, allow(*VOTE_READERS)]) -> TallyReport:
    """By area AND headcount (Civil Code art. 278): recounted from the ballots now, beside
    the tally recorded at closing (V6) and whether the two agree. While the vote is open
    the report is `provisional`: a running count, not an outcome."""
    vote = _vote(svc, principal, id)
    if not vote.opened:
        raise Problem(409, f"vote {id} has not opened; there is nothing to count", rule="V5",
                      field="id")
    recount = vote.recount(svc.ledger.vote_count(vote))
    recorded = vote.result
    provisional = recorded is None  # open: ballots may still come, so no outcome yet
    return TallyReport(
        id=str(id), status=vote.status, provisional=provisional,
        recount=tally_public(recount, provisional=provisional),
        recorded=tally_public(recorded, provisional=False) if recorded is not None else None,
        recount_matches_recorded=recorded == recount if recorded is not None else None)


# -- committees ---------------------------------------------------------------------------


def committee_public(committee: Committee) -> CommitteePublic:
    return CommitteePublic(
        community_code=committee.community_code, reference=committee.committee_reference,
        kind=committee.kind, seats=committee.seats,
        members=[CommitteeMember(**m) for m in committee.members], chair_id=committee.chair_id,
        alternate_ids=list(committee.alternate_ids),
        former_member_ids=list(committee.former_member_ids),
        election_vote_id=committee.election_vote_id,
        term_start=committee.term_start, term_end=committee.term_end,
        formed_on=committee.formed_on, filed_on=committee.filed_on,
        street_office=committee.street_office,
        party_member_ids=list(committee.party_member_ids),
        party_member_count=committee.party_member_count,
        party_branch_set_up=committee.party_branch_set_up,
        reelection_due_on=committee.reelection_due_on,
        dissolved_on=committee.dissolved_on, active=committee.is_active,
        version=committee.version)


def _committee_recover(svc: Services, code: str, reference: str, written: str,
                       *steps: str) -> Recover:
    """A committee route's answer again, from the committee as its step left it."""
    return rebuilt_from(svc, committee_id(code, reference), Committee, lambda committee: (
        CommitteeWritten.carrying(written, committee_public(committee)).answer()), *steps)


@router.post("/communities/{code}/committees", status_code=201, responses=WRITTEN,
             response_model=CommitteeWritten)
def form_owners_committee(
    code: CommunityCode, body: CommitteeIn, request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(*OFFICIALS)], key: IdempotencyKey,
) -> Response:
    """Seat an owners' committee from a passed election (C1), with its party coverage (C4)."""

    def command(write: WriteContext) -> dict[str, Any]:
        committee = svc.ledger.form_owners_committee(
            community_code=code, election_reference=body.election_reference,
            committee_reference=body.committee_reference, term_start=body.term_start,
            term_end=body.term_end, actor=actor(request, principal),
            alternate_ids=list(body.alternate_ids),
            party_member_ids=list(body.party_member_ids),
            party_branch_set_up=body.party_branch_set_up, write=write)
        return CommitteeWritten.carrying("owners-committee",
                                         committee_public(committee)).answer()

    return run_idempotent(svc, principal, key, request, body, command, recover=(
        _committee_recover(svc, code, body.committee_reference, "owners-committee", "Formed")))


@router.post("/communities/{code}/property-management-committees", status_code=201,
             responses=WRITTEN, response_model=CommitteeWritten)
def appoint_property_management_committee(
    code: CommunityCode, body: PmcIn, request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(*OFFICIALS)], key: IdempotencyKey,
) -> Response:
    """Appoint a property management committee where no owners' committee serves (C3)."""
    members = [PmcMember(m.member_id, m.is_owner, m.residents_committee_representative)
               for m in body.members]

    def command(write: WriteContext) -> dict[str, Any]:
        committee = svc.ledger.appoint_property_management_committee(
            community_code=code, committee_reference=body.committee_reference,
            appointed_on=body.appointed_on, members=members, chair_id=body.chair_id,
            term_start=body.term_start, term_end=body.term_end,
            actor=actor(request, principal), party_member_ids=list(body.party_member_ids),
            party_branch_set_up=body.party_branch_set_up, write=write)
        return CommitteeWritten.carrying("property-management-committee",
                                         committee_public(committee)).answer()

    return run_idempotent(svc, principal, key, request, body, command, recover=(
        _committee_recover(svc, code, body.committee_reference,
                           "property-management-committee", "Formed")))


@router.get("/communities/{code}/committees/{reference}")
def get_committee(code: CommunityCode, reference: Reference, svc: ServicesDep,
                  principal: Annotated[Principal, allow(*READERS)]) -> CommitteePublic:
    """A committee: members, term, filing, party coverage, re-election due, dissolution."""
    return committee_public(svc.ledger.committee(code, reference))


@router.post("/communities/{code}/committees/{reference}/filing", status_code=201,
             responses=WRITTEN, response_model=CommitteeWritten)
def file_owners_committee(
    code: CommunityCode, reference: Reference, body: FilingIn, request: Request,
    svc: ServicesDep, principal: Annotated[Principal, allow(*OFFICIALS)], key: IdempotencyKey,
) -> Response:
    """File the owners' committee with the street office within 30 days (C1); a serving
    property management committee is dissolved with it (C3)."""

    def command(write: WriteContext) -> dict[str, Any]:
        svc.ledger.file_owners_committee(
            community_code=code, committee_reference=reference, filed_on=body.filed_on,
            street_office=body.street_office, actor=actor(request, principal), write=write)
        committee = svc.ledger.committee(code, reference)
        return CommitteeWritten.carrying("filing", committee_public(committee)).answer()

    return run_idempotent(svc, principal, key, request, body, command, recover=(
        _committee_recover(svc, code, reference, "filing", "FiledWithStreetOffice")))


@router.post("/communities/{code}/committees/{reference}/party-coverage", status_code=201,
             responses=WRITTEN, response_model=CommitteeWritten)
def record_party_coverage(
    code: CommunityCode, reference: Reference, body: PartyCoverageIn, request: Request,
    svc: ServicesDep, principal: Annotated[Principal, allow(*OFFICIALS)], key: IdempotencyKey,
) -> Response:
    """Record which members are party members and whether a branch is set up (C4)."""

    def command(write: WriteContext) -> dict[str, Any]:
        committee = svc.ledger.record_party_coverage(
            community_code=code, committee_reference=reference,
            party_member_ids=list(body.party_member_ids),
            party_branch_set_up=body.party_branch_set_up, recorded_on=body.recorded_on,
            actor=actor(request, principal), write=write)
        return CommitteeWritten.carrying("party-coverage", committee_public(committee)).answer()

    # Coverage may be recorded again later: only the key's own event says which.
    return run_idempotent(svc, principal, key, request, body, command, recover=(
        _committee_recover(svc, code, reference, "party-coverage")))


@router.post("/communities/{code}/committees/{reference}/departures", status_code=201,
             responses=WRITTEN, response_model=CommitteeWritten)
def committee_member_left(
    code: CommunityCode, reference: Reference, body: DepartureIn, request: Request,
    svc: ServicesDep, principal: Annotated[Principal, allow(*OFFICIALS)], key: IdempotencyKey,
) -> Response:
    """A member leaves; alternates step in; below half the seats a re-election is due (C2)."""

    def command(write: WriteContext) -> dict[str, Any]:
        committee = svc.ledger.committee_member_left(
            community_code=code, committee_reference=reference, member_id=body.member_id,
            left_on=body.left_on, actor=actor(request, principal), reason=body.reason, write=write)
        return CommitteeWritten.carrying("member-left", committee_public(committee)).answer()

    return run_idempotent(svc, principal, key, request, body, command, recover=(
        _committee_recover(svc, code, reference, "member-left")))



# -- custody of the fund (F3) ---------------------------------------------------------------


def custody_public(community: Community) -> CustodyPublic:
    pending = community.custody_transfer
    return CustodyPublic(
        community_code=community.code, custodian=community.custodian,
        transfer_pending=None if pending is None else CustodyTransferPending(
            to_custodian=pending[0], resolution_id=pending[1], due_by=pending[2]))


@router.post("/communities/{code}/custody-transfer", status_code=201, responses=WRITTEN,
             response_model=CustodyDecided)
def decide_custody_transfer(
    code: CommunityCode, body: CustodyDecisionIn, request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(*OFFICIALS)], key: IdempotencyKey,
) -> Response:
    """F3: by a passed resolution, once an owners' committee exists, the owners' meeting
    takes custody; the balance is due to move within 30 days."""

    def command(write: WriteContext) -> dict[str, Any]:
        svc.ledger.decide_custody_transfer(
            community_code=code, resolution_id=body.resolution_id, decided_on=body.decided_on,
            actor=actor(request, principal), to_custodian=body.to_custodian, write=write)
        community = svc.ledger.community(code)
        return CustodyDecided.carrying("custody-decision", custody_public(community)).answer()

    return run_idempotent(svc, principal, key, request, body, command, recover=rebuilt_from(
        svc, community_id(code), Community, lambda community: CustodyDecided.carrying(
            "custody-decision", custody_public(community)).answer()))


@router.post("/communities/{code}/custody-transfer/completion", status_code=201,
             responses=WRITTEN, response_model=CustodyTransferred)
def complete_custody_transfer(
    code: CommunityCode, body: CustodyCompletionIn, request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(Role.custodian, Role.official, Role.admin)],
    key: IdempotencyKey,
) -> Response:
    """F3: the balance has moved to the new custodian (recorded as late after 30 days)."""

    def command(write: WriteContext) -> dict[str, Any]:
        moved = svc.ledger.complete_custody_transfer(
            community_code=code, completed_on=body.completed_on,
            actor=actor(request, principal), write=write)
        return answer(moved, svc.ledger.community(code))

    def answer(moved: int, community: Community) -> dict[str, Any]:
        return CustodyTransferred(written="custody-transfer", balance_moved_fen=moved,
                                  **dict(custody_public(community))).answer()

    def recover(found: PostingReference) -> dict[str, Any] | None:
        community = svc.ledger.as_left_by(community_id(code), found)
        transferred = svc.ledger.event_at(community_id(code), found.originator_version)
        moved = getattr(transferred, "balance_fen", None)
        return None if not isinstance(community, Community) or not isinstance(moved, int) \
            else answer(moved, community)

    return run_idempotent(svc, principal, key, request, body, command, recover=recover)
