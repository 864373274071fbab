"""Who may call which route: bearer tokens, a declared policy on every route, scopes.

Each route declares its roles with ``Annotated[Principal, allow(...)]``; a test walks the
app's routes and fails on any without one. The policy also checks the scope of a route's
``{code}`` community (and, for owners, of its ``{building}/{unit}``) before anything else.
A role that may not call a route gets 403 (API5); an object outside the caller's scope
answers 404, exactly like one that does not exist, so probing codes reveals nothing (API1).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.http.problems import Problem
from api.http.services import Services, services
from domain.community import Community
from domain.errors import NotFound
from ledger.access import TOKEN_NAME_CHARS_MAX, Place, Principal, Role, token_digest
from ledger.persistence.access_tables import namespaced_key

IDEMPOTENCY_HEADER = "Idempotency-Key"
bearer = HTTPBearer(auto_error=False, description="An API token: `fundledger tokens create`.")
ServicesDep = Annotated[Services, Depends(services)]


class Policy:
    """The roles a route admits; the dependency that authenticates and checks the role."""

    def __init__(self, roles: tuple[Role, ...]) -> None:
        self.roles = roles

    def __call__(
        self, request: Request, svc: ServicesDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        if credentials is None:
            raise Problem(401, "send an API token: Authorization: Bearer <token>",
                          rule="authentication", headers={"WWW-Authenticate": "Bearer"})
        digest = token_digest(credentials.credentials)
        key = request.headers.get(IDEMPOTENCY_HEADER) if request.method == "POST" else None
        if key is None:
            principal = svc.access.principal(digest)
        else:
            # An idempotent POST: the response stored under its key comes in the same query
            # (one round trip, not two); ``run_idempotent`` takes it from there.
            principal, stored = svc.access.principal_and_response(digest, key)
            if principal is not None:
                request.state.prefetched_response = (namespaced_key(principal, key), stored)
        if principal is None:
            # Only on a refusal: one more lookup, to name an expiry rather than leave the
            # holder guessing (an unknown or revoked token is not told apart, as before).
            expired = svc.access.expired_at(digest)
            if expired is not None:
                raise Problem(401, f"the API token expired at {expired.isoformat()}: ask for "
                              "a new one (fundledger tokens rotate)", rule="token-expired",
                              headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
            raise Problem(401, "the API token is unknown or revoked", rule="authentication",
                          headers={"WWW-Authenticate": "Bearer"})
        if principal.role not in self.roles:
            raise Problem(403, f"the role {principal.role.value} may not call this; "
                          f"allowed: {', '.join(r.value for r in self.roles)}",
                          rule="role")
        request.state.principal = principal
        code = request.path_params.get("code")
        if code is not None:
            # Before the body is even validated: an outsider learns nothing from a 422.
            _check_scope(svc, principal, code, request.path_params)
        return principal


def _check_scope(svc: Services, principal: Principal, code: str, path: dict[str, Any]) -> None:
    place = svc.community_place(code)
    if principal.scope.level == "owner" and "building" in path and "unit" in path:
        # A unit's owners change with each sale (F7): read them afresh, never cached.
        account = svc.ledger.unit_account(code, path["building"], path["unit"])
        place = Place(place.district, place.street, code, tuple(account.owner_ids))
    in_scope(principal, place, what="community", field="community_code")


def allow(*roles: Role) -> Any:
    return Depends(Policy(roles))


def community_place(community: Community) -> Place:
    return Place(community.district, community.street, community.code)


def in_scope(principal: Principal, place: Place, *, what: str, field: str) -> None:
    """Out of scope reads exactly like absent (404): the same error the ledger gives."""
    if not principal.scope.holds(place):
        raise NotFound(f"no {what} {place.community!r} is registered", rule="F1", field=field)


def community_in_scope(svc: Services, principal: Principal, code: str) -> Community:
    community = svc.ledger.community(code)
    in_scope(principal, community_place(community), what="community", field="community_code")
    return community


def actor(request: Request, principal: Principal) -> str:
    """The actor recorded in events: who holds the token, and the request, for audit.

    ``http:<name>@<principal id>+req:<request id>``, in the form every aggregate accepts
    (``domain.checks.check_actor``: at most 64 of A-Z a-z 0-9 _ . : @ + -). The name is for
    people; the principal id tells holders apart, even two of one name in a database made
    before names were unique (whose names may also be longer, or hold other characters:
    they are cut and replaced here, the id still says who).
    """
    who = ACTOR_UNSAFE.sub("_", principal.name)[:TOKEN_NAME_CHARS_MAX] or "_"
    return f"http:{who}@{principal.principal_id}+req:{request.state.request_id}"


# What a name may not bring into the actor: '@' and '+' delimit its parts.
ACTOR_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")


CUSTODIANS = (Role.custodian,)
OFFICIALS = (Role.official, Role.admin)
READERS = (Role.custodian, Role.official, Role.auditor, Role.admin)
