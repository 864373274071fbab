"""``POST /v1/communities/{code}/sign-in-codes``: a one-time sign-in code for an owner.

A custodian or official issues it and carries it to the owner (a letter, an SMS); the owner
opens the owners' pages with it (``/web/signin``). The answer holds the code and its link;
the ledger keeps only the code's digest, so the answer is not stored for replay either: a
repeat under the same ``Idempotency-Key`` issues a fresh code, and the earlier one stops
working (one live code per owner and community).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import Field

from api.http.idempotency import IdempotencyKey
from api.http.models import Code
from api.http.models import Request as Body
from api.http.schemas_signin import SignInCodeIssued
from api.http.security import ServicesDep, allow
from api.web.identity import CODE_VALID_DEFAULT, CODE_VALID_MAX
from ledger.access import Principal, Role

router = APIRouter(prefix="/v1", tags=["owners"])
ISSUERS = (Role.custodian, Role.official, Role.admin)
CommunityCode = Annotated[str, Path(min_length=1, max_length=100)]


class SignInCodeIn(Body):
    owner_id: str = Code
    valid_hours: int = Field(
        default=int(CODE_VALID_DEFAULT.total_seconds() // 3600), ge=1,
        le=int(CODE_VALID_MAX.total_seconds() // 3600),
        description="How long the code may be used (once).")


@router.post("/communities/{code}/sign-in-codes", status_code=201,
             responses={201: {"description": "Issued"}}, response_model=SignInCodeIssued)
def issue_sign_in_code(
    code: CommunityCode, body: SignInCodeIn, request: Request, response: Response,
    svc: ServicesDep, principal: Annotated[Principal, allow(*ISSUERS)], key: IdempotencyKey,
) -> SignInCodeIssued:
    """A one-time code for an owner of units in the community (404 for an id that holds
    none there). Shown once: only its digest is kept."""
    response.headers["Cache-Control"] = "no-store"  # the code must not linger in a cache
    issued = svc.signin().invite(code, body.owner_id, issued_by=principal.name,
                                 valid_for=timedelta(hours=body.valid_hours))
    return SignInCodeIssued(
        written="sign-in-code", position=None, community_code=issued.community_code,
        owner_id=issued.owner_id, unit_keys=list(issued.unit_keys), code=issued.code,
        link=issued.link(str(request.base_url)), expires_at=issued.expires_at)
