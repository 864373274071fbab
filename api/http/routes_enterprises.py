"""Property service enterprises over HTTP: registry, entry, exit and handover, credit (E1-E3).

The registry is the city's: an enterprise is readable by officials, auditors and admins in
any scope (its record is public information about a licensed business), and only a
city-scoped official or an admin writes it (registering, the city-wide handover check, a
credit event that names no community). A credit event that names a community needs that
community in the caller's scope. Contracts are community-bound records under
``/v1/communities/{code}/service-contracts/{reference}`` and read as absent (404) outside the
caller's scope, like every community record.

Points are given as integers in hundredths (``*_hundredths``) and as decimal strings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import Field

from api.http.amounts import Yuan, fen
from api.http.idempotency import IdempotencyKey, rebuilt_from, run_idempotent
from api.http.models import (
    CREDIT_CODE_DESCRIPTION,
    CREDIT_CODE_JSON_PATTERN,
    CommunityCodeIn,
    CreditCode,
    Day,
    OptionalText,
    Page,
    ReferenceIn,
    Text,
)
from api.http.models import Request as Body
from api.http.problems import Problem
from api.http.schemas_enterprises import (
    CommendationPublic,
    ContractPublic,
    ContractWritten,
    CreditEventRecorded,
    CreditRanking,
    EnterprisePublic,
    EnterpriseRecord,
    EnterpriseRegistered,
    FinePublic,
    HandoversChecked,
    ProjectPoints,
    RankedEnterprise,
    ScoreLinePublic,
    ScorePublic,
    SelfManagementRecorded,
    TicketPublic,
    ViolationPublic,
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
from domain.credit import (
    Commendation,
    ComplaintTicket,
    CreditEvent,
    Fine,
    Graded,
    Period,
    Score,
    Violation,
    format_points,
    round_hundredths,
)
from domain.enterprise import Enterprise
from domain.ids import contract_id
from domain.service_contract import HANDOVER_ITEMS, NOTICE_DAYS, ServiceContract
from ledger.access import Principal, Role
from ledger.write_context import WriteContext
from projections.audit import PAGE_SIZE_MAX

router = APIRouter(prefix="/v1", tags=["enterprises"])
# Its pattern, not only its length: a URL is normalised before it is checked (as a body is),
# and a length alone would refuse, by its form, a code that was 18 characters as sent.
EnterpriseCode = Annotated[str, Path(pattern=CREDIT_CODE_JSON_PATTERN,
                                     description=CREDIT_CODE_DESCRIPTION)]
CommunityCode = Annotated[str, Path(min_length=1, max_length=100)]
Reference = Annotated[str, Path(min_length=1, max_length=100)]
HalfYear = Annotated[str, Query(pattern=r"^[0-9]{4}H[12]$", examples=["2026H1"],
                                description="A half-year: YYYYH1 (Jan-Jun) or YYYYH2.")]
WRITTEN: dict[int | str, dict[str, Any]] = {201: {"description": "Written"}}
REGISTRY_READERS = (Role.official, Role.auditor, Role.admin)
CreditEventModel = CommendationPublic | ViolationPublic | FinePublic | TicketPublic


class EnterpriseIn(Body):
    credit_code: CreditCode
    name: Text = Field(max_length=200)
    registered_on: Day


class ContractIn(Body):
    enterprise_code: CreditCode
    contract_reference: ReferenceIn
    starts_on: Day
    filed_on: Day
    ends_on: Day | None = Field(default=None, description="Leave out for an open-ended "
                                                          "contract.")
    emergency_standin: bool = False
    resolution_id: ReferenceIn | None = Field(default=None, description="The owners' passed "
                                                                      "hiring resolution.")


class NoticeIn(Body):
    given_on: Day
    reason: Literal["not_renewing", "open_ended", "dismissed"]
    resolution_id: ReferenceIn | None = None


class TerminationIn(Body):
    terminated_on: Day


class HandoverIn(Body):
    item: Literal["common_parts", "records", "prepaid_fees"]
    handed_over_on: Day


class HandoverCheckIn(Body):
    as_of: Day


class CreditEventIn(Body):
    kind: Literal["commendation", "violation", "fine", "ticket"]
    on: Day
    community_code: CommunityCodeIn | None = None
    authority: OptionalText = Field(default="", max_length=200)
    note: OptionalText = Field(default="", max_length=2_000)
    detail: str = Field(default="", pattern=r"^(?:[a-z][a-z0-9_]{0,63})?$", description=(
        "A commendation's points kind, or a violation's kind (as the credit scheme names "
        "them)."))
    reference: OptionalText = Field(default="", max_length=200, description=(
        "A violation's source reference, or a complaint ticket's id."))
    amount_yuan: Yuan | None = Field(default=None, description="A fine's amount.")
    responded: bool = False
    resolved: bool = False
    satisfied: bool = False


# -- helpers ------------------------------------------------------------------------------


def _city_writer(principal: Principal, field: str) -> None:
    """The registry is the city's: an official below the city may not write it (403)."""
    if principal.role == Role.official and principal.scope.level != "city":
        raise Problem(403, "the enterprise registry is the city's: a city-scoped official or "
                      "an admin writes it", rule="scope", field=field)


CREDIT_EVENT_MODELS: dict[type, type[CreditEventModel]] = {
    Commendation: CommendationPublic, Violation: ViolationPublic, Fine: FinePublic,
    ComplaintTicket: TicketPublic}


def credit_event_public(event: CreditEvent) -> CreditEventModel:
    return CREDIT_EVENT_MODELS[type(event)].model_validate(event)


def enterprise_public(enterprise: Enterprise) -> EnterprisePublic:
    return EnterprisePublic(credit_code=enterprise.credit_code, name=enterprise.name,
            registered_on=enterprise.registered_on,
            contracts_engaged=len(enterprise.engaged_contract_ids),
            credit_events=len(enterprise.credit_record))


def contract_public(contract: ServiceContract) -> ContractPublic:
    return ContractPublic(
        community_code=contract.community_code, reference=contract.contract_reference,
        enterprise_code=contract.enterprise_code, starts_on=contract.starts_on,
        filed_on=contract.filed_on, open_ended=contract.open_ended,
        ends_on=contract.ends_on, area_m2_hundredths=contract.area_m2_hundredths,
        emergency_standin=contract.emergency_standin,
        resolution_id=contract.resolution_id, notice_on=contract.notice_on,
        notice_reason=contract.notice_reason,
        earliest_termination=contract.earliest_termination,
        terminated_on=contract.terminated_on,
        handover_deadline=contract.handover_deadline,
        handed_over=dict(contract.handed_over),
        outstanding_handover_items=contract.outstanding_handover_items,
        version=contract.version)


def score_public(enterprise: Enterprise, score: Score, graded: Graded | None) -> ScorePublic:
    """The score and grade, every point with the event behind it."""
    events = {e.ref: credit_event_public(e) for e in enterprise.credit_events()}
    return ScorePublic(
        enterprise_code=enterprise.credit_code, name=enterprise.name,
        period=str(score.period), scheme=score.scheme_name,
        score_hundredths=score.points_hundredths, score=score.display(),
        grade=graded.grade if graded else None, rank=graded.rank if graded else None,
        served_area_m2_hundredths=score.served_area_m2_hundredths,
        projects=[ProjectPoints(community_code=p.community_code,
                                area_m2_hundredths=p.area_m2_hundredths,
                                points_hundredths=round_hundredths(p.points),
                                points=format_points(p.points)) for p in score.projects],
        lines=[ScoreLinePublic(event_ref=line.event_ref, kind=line.kind,
                               points_hundredths=round_hundredths(line.points),
                               points=format_points(line.points),
                               explanation=line.explanation,
                               event=events.get(line.event_ref)) for line in score.lines])


def _contract_in_scope(svc: Services, principal: Principal, code: str,
                       reference: str) -> ServiceContract:
    return svc.ledger.contract(code, reference)


# -- the registry -------------------------------------------------------------------------


@router.post("/enterprises", status_code=201, responses=WRITTEN,
             response_model=EnterpriseRegistered)
def register_enterprise(
    body: EnterpriseIn, request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(*OFFICIALS)], key: IdempotencyKey,
) -> Response:
    """Register an enterprise under its unified social credit code (a repeat with the same
    name is a no-op; another name under the code is a conflict)."""
    _city_writer(principal, "credit_code")

    def command(write: WriteContext) -> dict[str, Any]:
        enterprise = svc.ledger.register_enterprise(
            credit_code=body.credit_code, name=body.name, registered_on=body.registered_on,
            actor=actor(request, principal), write=write)
        return EnterpriseRegistered.carrying("enterprise", enterprise_public(enterprise)).answer()

    return run_idempotent(svc, principal, key, request, body, command)


@router.get("/enterprises")
def list_enterprises(
    svc: ServicesDep, principal: Annotated[Principal, allow(*REGISTRY_READERS)],
    after: Annotated[str | None, Query(max_length=18)] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 100,
) -> Page[EnterprisePublic]:
    """The registry, by credit code, paged."""
    everyone = sorted(svc.ledger.enterprises(), key=lambda e: e.credit_code)
    page = [e for e in everyone if after is None or e.credit_code > after][:limit]
    more = bool(page) and page[-1].credit_code != everyone[-1].credit_code
    return Page[EnterprisePublic](items=[enterprise_public(e) for e in page],
                                  next_after=page[-1].credit_code if more else None)


@router.get("/enterprises/{credit_code}")
def get_enterprise(credit_code: EnterpriseCode, svc: ServicesDep,
                   principal: Annotated[Principal, allow(*REGISTRY_READERS)]
                   ) -> EnterpriseRecord:
    """An enterprise's registry record with its dated credit record (E3)."""
    enterprise = svc.ledger.enterprise(credit_code)
    return EnterpriseRecord(
        **dict(enterprise_public(enterprise)),
        credit_record=[credit_event_public(e) for e in enterprise.credit_events()])


# -- entry and exit -----------------------------------------------------------------------


@router.post("/communities/{code}/service-contracts", status_code=201, responses=WRITTEN,
             response_model=ContractWritten)
def start_service_contract(
    code: CommunityCode, body: ContractIn, request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(*OFFICIALS)], key: IdempotencyKey,
) -> Response:
    """Entry (E1): a contract starts, filed within 15 days, in a community no other
    enterprise serves; it may cite the owners' passed hiring resolution."""

    def command(write: WriteContext) -> dict[str, Any]:
        contract = svc.ledger.start_service_contract(
            community_code=code, enterprise_code=body.enterprise_code,
            contract_reference=body.contract_reference, starts_on=body.starts_on,
            filed_on=body.filed_on, open_ended=body.ends_on is None, ends_on=body.ends_on,
            actor=actor(request, principal), emergency_standin=body.emergency_standin,
            resolution_id=body.resolution_id, write=write)
        return ContractWritten.carrying("service-contract", contract_public(contract)).answer()

    return run_idempotent(svc, principal, key, request, body, command)


class SelfManagementIn(Body):
    resolution_id: ReferenceIn
    started_on: Day


@router.post("/communities/{code}/self-management", status_code=201, responses=WRITTEN,
             response_model=SelfManagementRecorded)
def record_self_management(
    code: CommunityCode, body: SelfManagementIn, request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(*OFFICIALS)], key: IdempotencyKey,
) -> Response:
    """R1: the owners manage the community themselves, by their passed resolution, while no
    enterprise serves it (E1); counted as property-service coverage until an entry."""

    def command(write: WriteContext) -> dict[str, Any]:
        svc.ledger.record_self_management(
            community_code=code, resolution_id=body.resolution_id,
            started_on=body.started_on, actor=actor(request, principal), write=write)
        return answer()

    def answer() -> dict[str, Any]:
        return SelfManagementRecorded(written="self-management",
                                      reference=body.resolution_id).answer()

    return run_idempotent(svc, principal, key, request, body, command,
                          recover=lambda found: answer())


@router.get("/communities/{code}/service-contracts/{reference}")
def get_service_contract(
    code: CommunityCode, reference: Reference, svc: ServicesDep,
    principal: Annotated[Principal, allow(*READERS)],
) -> ContractPublic:
    """A contract: its terms, notice, termination, handover deadline and items (E1, E2)."""
    return contract_public(_contract_in_scope(svc, principal, code, reference))


def _contract_step(svc: Services, principal: Principal, key: str, request: Request,
                   body: Body, code: str, reference: str, written: str,
                   step: Callable[[WriteContext], None]) -> Response:
    _contract_in_scope(svc, principal, code, reference)

    def command(write: WriteContext) -> dict[str, Any]:
        step(write)
        contract = svc.ledger.contract(code, reference)
        return ContractWritten.carrying(written, contract_public(contract)).answer()

    # A lost answer again: the contract at the version its key names (the step's own event).
    return run_idempotent(svc, principal, key, request, body, command, recover=rebuilt_from(
        svc, contract_id(code, reference), ServiceContract,
        lambda contract: ContractWritten.carrying(written, contract_public(contract)).answer()))


@router.post("/communities/{code}/service-contracts/{reference}/notice", status_code=201,
             responses=WRITTEN, response_model=ContractWritten)
def give_notice(
    code: CommunityCode, reference: Reference, body: NoticeIn, request: Request,
    svc: ServicesDep, principal: Annotated[Principal, allow(*OFFICIALS)], key: IdempotencyKey,
) -> Response:
    """Notice of exit (E2): 90 days when not renewing, 60 for open-ended contracts or a
    dismissal by the owners."""
    assert set(NOTICE_DAYS) == {"not_renewing", "open_ended", "dismissed"}
    return _contract_step(svc, principal, key, request, body, code, reference, "notice",
                          lambda write: svc.ledger.give_contract_notice(
                              community_code=code, contract_reference=reference,
                              given_on=body.given_on, reason=body.reason,
                              actor=actor(request, principal),
                              resolution_id=body.resolution_id, write=write))


@router.post("/communities/{code}/service-contracts/{reference}/termination",
             status_code=201, responses=WRITTEN, response_model=ContractWritten)
def terminate(
    code: CommunityCode, reference: Reference, body: TerminationIn, request: Request,
    svc: ServicesDep, principal: Annotated[Principal, allow(*OFFICIALS)], key: IdempotencyKey,
) -> Response:
    """Terminate the contract; the handover is due within 30 days (E2)."""
    return _contract_step(svc, principal, key, request, body, code, reference, "termination",
                          lambda write: svc.ledger.terminate_contract(
                              community_code=code, contract_reference=reference,
                              terminated_on=body.terminated_on,
                              actor=actor(request, principal), write=write))


@router.post("/communities/{code}/service-contracts/{reference}/handover", status_code=201,
             responses=WRITTEN, response_model=ContractWritten)
def check_off_handover(
    code: CommunityCode, reference: Reference, body: HandoverIn, request: Request,
    svc: ServicesDep, principal: Annotated[Principal, allow(*OFFICIALS)], key: IdempotencyKey,
) -> Response:
    """Check off one handover item: common parts, records or prepaid fees (E2)."""
    assert body.item in HANDOVER_ITEMS
    return _contract_step(svc, principal, key, request, body, code, reference, "handover",
                          lambda write: svc.ledger.check_off_handover(
                              community_code=code, contract_reference=reference,
                              item=body.item, handed_over_on=body.handed_over_on,
                              actor=actor(request, principal), write=write))


@router.post("/handover-checks", status_code=201, responses=WRITTEN,
             response_model=HandoversChecked)
def check_overdue_handovers(
    body: HandoverCheckIn, request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(*OFFICIALS)], key: IdempotencyKey,
) -> Response:
    """Record one violation per handover still open past its deadline, city-wide (E2).
    Safe to repeat: a handover already recorded is not recorded again."""
    _city_writer(principal, "as_of")

    def command(write: WriteContext) -> dict[str, Any]:
        recorded = svc.ledger.check_overdue_handovers(as_of=body.as_of,
                                                      actor=actor(request, principal), write=write)
        return HandoversChecked(written="handover-check", as_of=body.as_of,
                                violations_recorded=recorded).answer()

    return run_idempotent(svc, principal, key, request, body, command)


# -- credit -------------------------------------------------------------------------------


@router.post("/enterprises/{credit_code}/credit-events", status_code=201, responses=WRITTEN,
             response_model=CreditEventRecorded)
def record_credit_event(
    credit_code: EnterpriseCode, body: CreditEventIn, request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(*OFFICIALS)], key: IdempotencyKey,
) -> Response:
    """A dated credit event (E3): a commendation, a violation (once per source reference),
    a fine, or a closed hotline complaint ticket (once per ticket id)."""
    if body.community_code is not None:
        community_in_scope(svc, principal, body.community_code)
    else:
        _city_writer(principal, "community_code")
    if body.kind == "fine" and body.amount_yuan is None:
        raise Problem(422, "a fine names its amount_yuan", rule="E3", field="amount_yuan")
    who, day, where = actor(request, principal), body.on, body.community_code
    commands: dict[str, Any] = {
        "commendation": lambda e: e.commend(day, body.detail, body.authority, body.note,
                                            actor=who, community_code=where),
        "violation": lambda e: e.record_violation(day, body.detail, body.authority, body.note,
                                                  body.reference, actor=who,
                                                  community_code=where),
        "fine": lambda e: e.record_fine(day, fen(body.amount_yuan or ""), body.authority,
                                        body.note, actor=who, community_code=where),
        "ticket": lambda e: e.record_complaint_ticket(day, body.reference, body.responded,
                                                      body.resolved, body.satisfied,
                                                      actor=who, community_code=where),
    }
    svc.ledger.enterprise(credit_code)  # an unknown code is 404 before any key is spent

    def command(write: WriteContext) -> dict[str, Any]:
        before = len(svc.ledger.enterprise(credit_code).credit_record)
        svc.ledger.record_credit_event(credit_code, commands[body.kind], write=write)
        record = svc.ledger.enterprise(credit_code).credit_events()
        return CreditEventRecorded(
            written="credit-event", enterprise_code=credit_code,
            already_recorded=len(record) == before,
            event=credit_event_public(record[-1]) if len(record) > before else None).answer()

    return run_idempotent(svc, principal, key, request, body, command)


@router.get("/enterprises/{credit_code}/credit")
def credit(credit_code: EnterpriseCode, period: HalfYear, svc: ServicesDep,
           principal: Annotated[Principal, allow(*REGISTRY_READERS)]) -> ScorePublic:
    """The score and grade for a half-year, every point with the event behind it (E3)."""
    half = Period.parse(period)
    enterprise = svc.ledger.enterprise(credit_code)
    score = svc.ledger.credit_score(enterprise.credit_code, half)
    graded = next((g for g in svc.ledger.credit_ranking(half)
                   if g.enterprise_code == enterprise.credit_code), None)
    return score_public(enterprise, score, graded)


@router.get("/credit-ranking")
def credit_ranking(period: HalfYear, svc: ServicesDep,
                   principal: Annotated[Principal, allow(*REGISTRY_READERS)]
                   ) -> CreditRanking:
    """Every enterprise that served in the half-year, ranked and graded (E3)."""
    half = Period.parse(period)
    graded = svc.ledger.credit_ranking(half)
    names = {e.credit_code: e.name for e in svc.ledger.enterprises()}
    return CreditRanking(
        period=str(half), scheme=svc.ledger.credit_scheme.name,
        items=[RankedEnterprise(rank=g.rank, grade=g.grade, enterprise_code=g.enterprise_code,
                                name=names.get(g.enterprise_code, ""),
                                score_hundredths=g.score.points_hundredths,
                                score=g.score.display()) for g in graded])

