"""The maintenance fund over HTTP: registration, deposits and bank batches, withdrawals,
income, sales and refunds, and the fund's and a unit's balances from the balance view."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import Field

from api.http.amounts import Area, Yuan, fen
from api.http.idempotency import IdempotencyKey, run_idempotent
from api.http.models import (
    NAME_CHARS_MAX,
    Building,
    Code,
    CommunityCodeIn,
    Day,
    DistrictCode,
    OwnerId,
    Page,
    ReferenceIn,
    StreetCode,
    Text,
    Unit,
    UnitKey,
)
from api.http.models import Request as Body
from api.http.positions import AfterPosition, MinPosition
from api.http.problems import Problem
from api.http.schemas_funds import (
    DepositBatchPosted,
    EmergencyDeclared,
    FundPublic,
    MoneyPosted,
    Registered,
    UnitAccountPublic,
    UnitDelivered,
)
from api.http.schemas_views import AuditEntryPublic
from api.http.security import (
    CUSTODIANS,
    READERS,
    ServicesDep,
    actor,
    allow,
    in_scope,
)
from api.http.services import Services
from domain.community import DESCRIPTION_LENGTH_MAX
from domain.ids import unit_key
from domain.money import parse_area_m2
from domain.posting import INCOME_SOURCES
from domain.unit_account import AREA_SOURCES
from ledger.access import Place, Principal, Role
from ledger.base import Posted
from ledger.commands import DepositLine, UnitRow, WithdrawalRequest
from ledger.write_context import WriteContext
from projections.audit import PAGE_SIZE_MAX, AuditFilter
from projections.history.streams import event_position

router = APIRouter(prefix="/v1", tags=["fund"])
CommunityCode = Annotated[str, Path(min_length=1, max_length=100)]
PartCode = Annotated[str, Path(min_length=1, max_length=100)]
WRITTEN: dict[int | str, dict[str, Any]] = {
    201: {"description": "Written (or found already written)"}}
REGISTRARS = (Role.custodian, Role.official, Role.admin)


class UnitIn(Body):
    building: Building
    unit: Unit
    area_m2: Area
    area_source: Literal["register", "surveyed", "contract"]
    owner_ids: list[OwnerId] = Field(min_length=1, max_length=16)


class CommunityIn(Body):
    code: CommunityCodeIn
    name: Text = Field(max_length=NAME_CHARS_MAX)
    district: DistrictCode
    street: StreetCode
    effective_date: Day
    units: list[UnitIn] = Field(max_length=20_000)


class DepositIn(Body):
    reference: ReferenceIn
    building: Building
    unit: Unit
    amount_yuan: Yuan
    paid_on: Day
    kind: Literal["first", "top_up"]


class DepositBatchIn(Body):
    lines: list[DepositIn] = Field(min_length=1, max_length=20_000)


class WithdrawalIn(Body):
    reference: ReferenceIn
    project: Text = Field(max_length=NAME_CHARS_MAX)
    cost_kind: str = Code
    invoice_yuan: Yuan
    paid_on: Day
    buildings: list[Building] = Field(default_factory=list, max_length=1_000)
    unit_keys: list[UnitKey] = Field(default_factory=list, max_length=20_000)
    emergency_id: ReferenceIn | None = None
    resolution_id: ReferenceIn | None = None


class IncomeIn(Body):
    reference: ReferenceIn
    amount_yuan: Yuan
    source: str = Field(min_length=1, max_length=100, examples=list(INCOME_SOURCES))
    received_on: Day


class EmergencyIn(Body):
    emergency_id: ReferenceIn
    category: str = Code
    description: Text = Field(max_length=DESCRIPTION_LENGTH_MAX)
    declared_on: Day


class SaleIn(Body):
    reference: ReferenceIn
    buyer_owner_ids: list[OwnerId] = Field(min_length=1, max_length=16)
    sold_on: Day


class RefundIn(Body):
    reference: ReferenceIn
    destroyed_on: Day


class DeliveryIn(Body):
    delivered_on: Day


def _posted(svc: Services, result: Posted) -> dict[str, Any]:
    answer = MoneyPosted(written=result.kind, reference=result.reference,
                         already_posted=result.already_posted).answer()
    if result.already_posted:
        # This request wrote nothing; a client waits on reads for the posting it found.
        answer["position"] = event_position(svc.ledger, result.originator_id,
                                            result.originator_version)
    return answer


@router.post("/communities", status_code=201, responses=WRITTEN, response_model=Registered)
def register_community(
    body: CommunityIn, request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(*REGISTRARS)], key: IdempotencyKey,
) -> Response:
    """Register a community with its units (F1), or add units to it."""
    in_scope(principal, Place(body.district, body.street, body.code), what="community",
             field="code")
    assert AREA_SOURCES  # the Literal above lists them; F1 checks again
    rows = [UnitRow(body.code, body.name, body.district, body.street, u.building, u.unit,
                    parse_area_m2(u.area_m2), u.area_source, list(u.owner_ids), line=i)
            for i, u in enumerate(body.units, start=1)]

    def command(write: WriteContext) -> dict[str, Any]:
        result = svc.ledger.register_units(rows, effective_date=body.effective_date,
                                           actor=actor(request, principal), write=write)
        return Registered(written="registration", communities_added=result.communities_added,
                          units_added=result.units_added,
                          units_unchanged=result.units_unchanged).answer()

    return run_idempotent(svc, principal, key, request, body, command)


@router.post("/communities/{code}/deposits", status_code=201, responses=WRITTEN,
             response_model=MoneyPosted)
def post_deposit(
    code: CommunityCode, body: DepositIn, request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(*CUSTODIANS)], key: IdempotencyKey,
) -> Response:
    """One deposit (F2 first deposit or F4 top-up); its bank reference posts once."""
    line = DepositLine(body.reference, code, body.building, body.unit, fen(body.amount_yuan),
                       body.paid_on, body.kind, line=1)
    return run_idempotent(svc, principal, key, request, body, lambda write: _posted(
        svc, svc.ledger.post_deposit(line, actor=actor(request, principal), write=write)))


@router.post("/communities/{code}/deposit-batches", status_code=201,
             response_model=DepositBatchPosted,
             responses={201: {"description": "The whole batch posted (or was already)"}})
def post_deposit_batch(
    code: CommunityCode, body: DepositBatchIn, request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(*CUSTODIANS)], key: IdempotencyKey,
) -> Response:
    """A bank batch, all or nothing: one bad line refuses the batch, naming the line."""
    lines = [DepositLine(d.reference, code, d.building, d.unit, fen(d.amount_yuan), d.paid_on,
                         d.kind, line=i) for i, d in enumerate(body.lines, start=1)]

    def command(write: WriteContext) -> dict[str, Any]:
        result = svc.ledger.import_deposits(lines, actor=actor(request, principal), write=write)
        return DepositBatchPosted(written="deposit-batch", posted=result.posted,
                                  already_posted_lines=result.already_posted,
                                  total_fen=result.total_fen).answer()

    return run_idempotent(svc, principal, key, request, body, command)


@router.post("/communities/{code}/withdrawals", status_code=201, responses=WRITTEN,
             response_model=MoneyPosted)
def withdraw(
    code: CommunityCode, body: WithdrawalIn, request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(*CUSTODIANS)], key: IdempotencyKey,
) -> Response:
    """Pay a works invoice, split over the charging range by floor area (F8, F9)."""
    withdrawal = WithdrawalRequest(
        body.reference, code, body.project, body.cost_kind, fen(body.invoice_yuan),
        body.paid_on, list(body.buildings), list(body.unit_keys), body.emergency_id,
        body.resolution_id)
    return run_idempotent(svc, principal, key, request, body, lambda write: _posted(
        svc, svc.ledger.withdraw(withdrawal, actor=actor(request, principal), write=write)))


@router.post("/communities/{code}/income-allocations", status_code=201, responses=WRITTEN,
             response_model=MoneyPosted)
def allocate_income(
    code: CommunityCode, body: IncomeIn, request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(*CUSTODIANS)], key: IdempotencyKey,
) -> Response:
    """Allocate value-added income to the sub-accounts in whole fen (F5)."""
    return run_idempotent(svc, principal, key, request, body, lambda write: _posted(
        svc, svc.ledger.allocate_income(
            community_code=code, amount_fen=fen(body.amount_yuan), source=body.source,
            received_on=body.received_on, reference=body.reference,
            actor=actor(request, principal), write=write)))


@router.post("/communities/{code}/emergencies", status_code=201, responses=WRITTEN,
             response_model=EmergencyDeclared)
def declare_emergency(
    code: CommunityCode, body: EmergencyIn, request: Request, svc: ServicesDep,
    principal: Annotated[Principal, allow(Role.custodian, Role.official)], key: IdempotencyKey,
) -> Response:
    """Declare an emergency of one of the F9 categories, for a withdrawal to cite."""

    def command(write: WriteContext) -> dict[str, Any]:
        svc.ledger.declare_emergency(
            community_code=code, emergency_id=body.emergency_id, category=body.category,
            description=body.description, declared_on=body.declared_on,
            actor=actor(request, principal), write=write)
        return EmergencyDeclared(written="emergency", reference=body.emergency_id).answer()

    return run_idempotent(svc, principal, key, request, body, command)


@router.post("/communities/{code}/units/{building}/{unit}/sale", status_code=201,
             responses=WRITTEN, response_model=MoneyPosted)
def sell_unit(
    code: CommunityCode, building: PartCode, unit: PartCode, body: SaleIn, request: Request,
    svc: ServicesDep, principal: Annotated[Principal, allow(*CUSTODIANS)], key: IdempotencyKey,
) -> Response:
    """A sale: the sub-account's balance moves with the unit to its buyers (F7)."""
    return run_idempotent(svc, principal, key, request, body, lambda write: _posted(
        svc, svc.ledger.sell_unit(community_code=code, building=building, unit=unit,
                             buyer_owner_ids=list(body.buyer_owner_ids), sold_on=body.sold_on,
                             reference=body.reference, actor=actor(request, principal),
                             write=write)))


@router.post("/communities/{code}/units/{building}/{unit}/refund", status_code=201,
             responses=WRITTEN, response_model=MoneyPosted)
def refund_unit(
    code: CommunityCode, building: PartCode, unit: PartCode, body: RefundIn, request: Request,
    svc: ServicesDep, principal: Annotated[Principal, allow(*CUSTODIANS)], key: IdempotencyKey,
) -> Response:
    """A destroyed unit: its balance is refunded and its sub-account closed (F7)."""
    return run_idempotent(svc, principal, key, request, body, lambda write: _posted(
        svc, svc.ledger.refund_destroyed_unit(
            community_code=code, building=building, unit=unit, destroyed_on=body.destroyed_on,
            reference=body.reference, actor=actor(request, principal), write=write)))


@router.post("/communities/{code}/units/{building}/{unit}/delivery", status_code=201,
             responses=WRITTEN, response_model=UnitDelivered)
def deliver_unit(
    code: CommunityCode, building: PartCode, unit: PartCode, body: DeliveryIn,
    request: Request, svc: ServicesDep, principal: Annotated[Principal, allow(*REGISTRARS)],
    key: IdempotencyKey,
) -> Response:
    """The developer has handed the unit over (F2: not before its first deposit). Until
    then the unit counts as the developer's in every vote (V3); from then on its owners
    vote for it. A unit delivered before answers ``already_delivered`` and writes nothing."""

    def command(write: WriteContext) -> dict[str, Any]:
        svc.ledger.mark_delivered(community_code=code, building=building, unit=unit,
                                  delivered_on=body.delivered_on,
                                  actor=actor(request, principal), write=write)
        return UnitDelivered(written="delivery", community_code=code, building=building,
                             unit=unit, already_delivered=write.position is None).answer()

    return run_idempotent(svc, principal, key, request, body, command)


# -- reads (the balance view) ------------------------------------------------------------


@router.get("/communities")
def list_communities(
    svc: ServicesDep, principal: Annotated[Principal, allow(*READERS)],
    after: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 100,
    min_position: MinPosition = None,
) -> Page[FundPublic]:
    """The funds of the communities in the caller's scope, by code, paged."""
    svc.caught_up(svc.balance, min_position)
    funds = sorted(svc.balance.funds(**principal.scope.filters()),
                   key=lambda f: f.community_code)
    if principal.scope.level == "owner":
        funds = []
    page = [f for f in funds if after is None or f.community_code > after][:limit]
    more = len(page) == limit and page[-1].community_code != funds[-1].community_code
    return Page[FundPublic](items=[FundPublic.model_validate(f) for f in page],
                next_after=page[-1].community_code if more else None)


@router.get("/communities/{code}/fund")
def fund(
    code: CommunityCode, svc: ServicesDep, principal: Annotated[Principal, allow(*READERS)],
    min_position: MinPosition = None,
) -> FundPublic:
    """A fund's totals: deposits, withdrawals, income, refunds, balance, F4 flags."""
    svc.caught_up(svc.balance, min_position)
    found = svc.balance.funds(community=code)  # the policy checked the community's scope
    if not found:
        raise Problem(503, "the balance view has not applied this community's registration "
                      "yet; retry, or pass min_position", rule="read-your-writes",
                      field="min_position")
    return FundPublic.model_validate(found[0])


@router.get("/communities/{code}/units/{building}/{unit}/account")
def unit_account(
    code: CommunityCode, building: PartCode, unit: PartCode, svc: ServicesDep,
    principal: Annotated[Principal, allow(*READERS, Role.owner)],
    min_position: MinPosition = None,
) -> UnitAccountPublic:
    """A unit's sub-account: deposits, withdrawals, income, refunds and balance."""
    account = svc.ledger.unit_account(code, building, unit)  # the policy checked its scope
    svc.caught_up(svc.balance, min_position)
    rows = [u for u in svc.balance.units(community=code)
            if u.building == building and u.unit == unit]
    if not rows:
        raise Problem(503, "the balance view has not applied this unit's registration yet; "
                      "retry, or pass min_position", rule="read-your-writes",
                      field="min_position")
    return UnitAccountPublic(**asdict(rows[0]), owner_ids=list(account.owner_ids))


@router.get("/communities/{code}/units/{building}/{unit}/statement")
def unit_statement(
    code: CommunityCode, building: PartCode, unit: PartCode, svc: ServicesDep,
    principal: Annotated[Principal, allow(*READERS, Role.owner)],
    after: AfterPosition = 0,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = 100,
    min_position: MinPosition = None,
) -> Page[AuditEntryPublic]:
    """The sub-account's movements (deposits, income, works shares, sale, refund) in log
    order, from the audit view: what an owner checks their balance against."""
    svc.ledger.unit_account(code, building, unit)  # NotFound names the unit
    svc.caught_up(svc.audit, min_position)
    entries = svc.audit.entries(AuditFilter(code, unit_key(building, unit)), after=after,
                                limit=limit)
    return Page[AuditEntryPublic](items=[AuditEntryPublic.model_validate(e) for e in entries],
                next_after=entries[-1].notification_id if len(entries) == limit else None)
