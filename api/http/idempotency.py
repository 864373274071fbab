"""POSTs under an ``Idempotency-Key``: the first response is replayed to every repeat.

The key goes into the ledger in the same transaction as the events the request produced
(``LedgerBase.idempotent``), so a key is recorded exactly when its events are. The response
is stored after that commit; a repeat that finds it replays it byte for byte. A repeat that
races the first request finds the key recorded and waits (bounded) for the stored response,
so concurrent repeats answer identically and write once. A request the ledger refused wrote
nothing and recorded no key: its repeat is decided again.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import Header, Request
from fastapi.responses import Response
from pydantic import BaseModel

from api.http.problems import Problem
from api.http.security import IDEMPOTENCY_HEADER
from api.http.services import Services
from ledger.access import Principal
from ledger.base import IdempotencyKeyUsed
from ledger.persistence.access_tables import StoredResponse

KEY_CHARS_MAX = 100
KEY_PATTERN = r"^[A-Za-z0-9._:-]{1,100}$"
RACE_WAIT_S = 10.0
RACE_POLL_S = 0.02
REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKey = Annotated[str, Header(
    alias=IDEMPOTENCY_HEADER, pattern=KEY_PATTERN,
    description="A key the client chooses per logical request (1-100 of A-Z a-z 0-9 . _ : -). "
                "A repeat with the same body replays the first response without writing "
                "again; the same key with another body is refused (422).")]


def request_digest(request: Request, body: BaseModel | None) -> str:
    content = body.model_dump(mode="json") if body is not None else None
    text = orjson.dumps([request.method, request.url.path, content],
                        option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(text).hexdigest()


def _replay(stored: StoredResponse, digest: str) -> Response:
    if stored.request_digest != digest:
        raise Problem(422, "this Idempotency-Key was already used with another request body",
                      rule="idempotency-key", field="Idempotency-Key")
    return Response(stored.body, status_code=stored.status, media_type="application/json",
                    headers={REPLAYED_HEADER: "true"})


def _await_response(svc: Services, key: str, digest: str) -> Response:
    deadline = time.monotonic() + RACE_WAIT_S
    while time.monotonic() < deadline:
        stored = svc.access.response(key)
        if stored is not None:
            return _replay(stored, digest)
        time.sleep(RACE_POLL_S)
    found = svc.ledger.find_idempotency_key(key)
    where = (f" (its first event: {found.originator_id} version {found.originator_version})"
             if found else "")
    raise Problem(409, "a request with this Idempotency-Key was applied" + where + ", but its "
                  "response is not stored yet; repeat the request later to have it replayed",
                  rule="idempotency-key", field="Idempotency-Key")


def _stored_response(svc: Services, request: Request, scoped_key: str) -> StoredResponse | None:
    """The response stored under the key: as the policy read it with the token (the same
    moment a lookup here would have: before the command runs), or read now."""
    prefetched: tuple[str, StoredResponse | None] | None = getattr(
        request.state, "prefetched_response", None)
    if prefetched is not None and prefetched[0] == scoped_key:
        return prefetched[1]
    return svc.access.response(scoped_key)


def run_idempotent(
    svc: Services, principal: Principal, key: str, request: Request, body: BaseModel | None,
    command: Callable[[], dict[str, Any]], *, status: int = 201,
) -> Response:
    """Run ``command`` once per key; its result (plus the log position) is the response."""
    scoped_key = f"{principal.name}/{key}"  # one client's keys never meet another's
    digest = request_digest(request, body)
    stored = _stored_response(svc, request, scoped_key)
    if stored is not None:
        return _replay(stored, digest)
    ledger = svc.ledger
    ledger.forget_position()
    try:
        with ledger.idempotent(scoped_key, digest):
            result = command()
    except IdempotencyKeyUsed as used:
        if not used.same_request:
            raise
        return _await_response(svc, scoped_key, digest)
    position = ledger.position_written()
    if position is None and ledger.find_idempotency_key(scoped_key) is not None:
        # It wrote nothing because a concurrent repeat wrote it all: answer as that one did.
        return _await_response(svc, scoped_key, digest)
    payload = orjson.dumps({**result, "position": position})
    if svc.access.store_response(StoredResponse(scoped_key, digest, status, payload, position)):
        return Response(payload, status_code=status, media_type="application/json")
    # Two repeats that both wrote nothing (a bank reference already posted) store the same
    # answer; the first stored wins, and this one answers with it too.
    stored = svc.access.response(scoped_key)
    assert stored is not None
    return _replay(stored, digest) if stored.body != payload else Response(
        payload, status_code=status, media_type="application/json")
