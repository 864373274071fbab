"""The auditor's replay and history over HTTP: any aggregate on two time axes, a
community's events in log order, and the yearly disclosure (F10)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, Response

from api.http.models import DAY_PATTERN, MOMENT_PATTERN
from api.http.positions import AfterPosition
from api.http.problems import Problem
from api.http.schemas_history import CheckpointPublic, HistoryPagePublic, Proof, Replayed
from api.http.security import ServicesDep, allow, community_in_scope
from api.render.disclosure_csv import to_csv
from api.render.disclosure_html import to_html
from domain.community import Community
from domain.errors import NotFound
from ledger.access import Principal, Role
from ledger.loading import load_many
from projections.history.community_events import community_history
from projections.history.disclosure import disclosure
from projections.history.replay import KEY_HELP, KINDS, parse_cut, replay
from projections.seal.evidence import prove_event
from projections.seal.proofs import SealError
from projections.seal.sealer import latest_checkpoint

router = APIRouter(prefix="/v1", tags=["history"])
AUDITORS = (Role.auditor, Role.admin)
HISTORY_PAGE_MAX = 1_000


def _community_of(kind: str, key: str) -> str | None:
    """The community a replay key names (enterprises are city-wide registry records)."""
    return None if kind == "enterprise" else key.split("/", 1)[0]




@router.get("/history/{kind}/{key:path}")
def replay_aggregate(
    kind: Annotated[str, Path(pattern="^(" + "|".join(KINDS) + ")$")],
    key: Annotated[str, Path(min_length=1, max_length=300, description=(
        "The aggregate's natural key, whose parts its kind decides: " + "; ".join(
            f"{kind} {shape}" for kind, shape in KEY_HELP.items())
        + ". Another shape is refused (422, rule key-shape)."))],
    svc: ServicesDep, principal: Annotated[Principal, allow(*AUDITORS)],
    as_of: Annotated[str | None, Query(
        max_length=10, pattern=DAY_PATTERN, json_schema_extra={"format": "date"},
        description="A business date (YYYY-MM-DD): what was true that day.")] = None,
    known_at: Annotated[str | None, Query(max_length=40, pattern=MOMENT_PATTERN, description=(
        "A recorded time (ISO 8601; a date means the end of that day, UTC): what the "
        "ledger said then."))] = None,
) -> Replayed:
    """An aggregate as it stood, naming the last event the answer includes."""
    community = _community_of(kind, key)
    if community is not None:
        community_in_scope(svc, principal, community)
    day, moment = parse_cut(as_of, known_at)
    return Replayed.model_validate(
        replay(svc.ledger, kind, key, as_of=day, known_at=moment).to_json())


# Exactly one of the event's ``state`` and ``state_b64`` is given: the other is left out.
@router.get("/proofs/{stream}/{version}", response_model_exclude_none=True)
def proof(
    stream: UUID, version: Annotated[int, Path(ge=1)], svc: ServicesDep,
    principal: Annotated[Principal, allow(*AUDITORS)],
) -> Proof:
    """One event, its hash chain to its stream's head and the signed checkpoint covering it;
    ``projections.seal.proofs.verify_proof(proof, public_key)`` checks it with no server."""
    aggregate = load_many(svc.ledger, [stream]).get(stream)
    if aggregate is None:
        raise NotFound(f"no stream {stream} is recorded", rule="proof", field="stream")
    code = getattr(aggregate, "community_code", None) or (
        aggregate.code if isinstance(aggregate, Community) else None)
    if code is not None:  # enterprises are the city's registry: any auditor may see them
        community_in_scope(svc, principal, str(code))
    try:
        return Proof.model_validate(
            prove_event(svc.ledger, stream, version, sealer=svc.sealer()))
    except SealError as error:
        raise Problem(409, str(error), rule="proof", field="version") from None


@router.get("/checkpoints/latest")
def latest(svc: ServicesDep, principal: Annotated[Principal, allow(*AUDITORS)]
           ) -> CheckpointPublic:
    """The latest signed checkpoint, for an auditor to keep outside the ledger."""
    found = latest_checkpoint(svc.ledger, svc.sealer().store)
    if found is None:
        raise NotFound("no checkpoint has been made yet (fundledger checkpoint)",
                       rule="checkpoint", field="checkpoint")
    return CheckpointPublic.model_validate(found.to_json())


@router.get("/communities/{code}/history")
def history(
    code: Annotated[str, Path(min_length=1, max_length=100)], svc: ServicesDep,
    principal: Annotated[Principal, allow(*AUDITORS)],
    after: AfterPosition = 0,
    limit: Annotated[int, Query(ge=1, le=HISTORY_PAGE_MAX)] = 100,
) -> HistoryPagePublic:
    """The community's events in log order, with every field, paged by log position."""
    return HistoryPagePublic.model_validate(
        community_history(svc.ledger, code, after_position=after, limit=limit).to_json())


@router.get("/communities/{code}/disclosure", response_model=None,
            response_class=HTMLResponse, responses={
    200: {"content": {"text/csv": {"schema": {"type": "string"}}},
          "description": "The yearly disclosure as CSV or as a printable HTML page"}})
def yearly_disclosure(
    code: Annotated[str, Path(min_length=1, max_length=100)], svc: ServicesDep,
    principal: Annotated[Principal, allow(*AUDITORS, Role.official, Role.custodian)],
    year: Annotated[int, Query(ge=2000, le=2100)],
    format: Annotated[str, Query(pattern="^(csv|html)$")] = "html",
) -> Response:
    """F10: the year's totals, each project with its split, each unit's lines."""
    found = disclosure(svc.ledger, code, year)
    if found.problems():
        raise Problem(409, "the figures do not add up: " + "; ".join(found.problems()),
                      rule="F10")
    if format == "csv":
        return Response(to_csv(found), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="disclosure-{year}.csv"'})
    return HTMLResponse(to_html(found))
