"""POSTs under an ``Idempotency-Key``: the first response is replayed to every repeat.

The key goes into the ledger in the same transaction as the events the request produced:
the route's command receives a ``WriteContext`` carrying the key and passes it to the
ledger's command (``write=``), so a key is recorded exactly when its events are; the same
context tells which log position the command wrote. The response
is stored after that commit; a repeat that finds it replays it byte for byte. A repeat that
races the first request finds the key recorded and waits (bounded) for the stored response,
so concurrent repeats answer identically and write once. A request the ledger refused wrote
nothing and recorded no key: its repeat is decided again.

If the first request's process ended between its commit and storing its response, no
response will come. When the wait for it runs out, the repeat answers for it, at the log
position of the event the key names (its save's last, the position the lost answer named),
stores that answer and returns it; every later repeat replays it. How, by route:
- A command idempotent by its own reference (a deposit's bank reference, a withdrawal's, ...)
  runs again and finds itself applied. Its answer says ``already_posted: true`` where the
  lost one said false: the events are the same, written once.
- A ballot finds the ballots the key names (``FundLedger.cast_ballots_in``). A receipt is its
  ballot's digest, so the answer is the lost one exactly.
- A route whose answer follows from its body and the state its events left passes
  ``recover``: the command refuses the repeat (the step is done), and ``recover`` rebuilds
  the lost answer, byte for byte, from the aggregate as that step left it
  (``FundLedger.as_left_by``): a vote's proposal, nomination, publication, opening and
  close; a committee's appointment, formation, filing, party coverage and departures; the
  fund's custody decision and transfer; a contract's notice, termination and handover
  items; self-management.
A command with none of these (a credit event; the overdue-handover check, which answers a
repeat with what it finds then) cannot answer for the lost one as it was.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from uuid import UUID

import orjson
from fastapi import Header, Request
from fastapi.responses import Response
from pydantic import BaseModel

from api.http.problems import Problem
from api.http.security import IDEMPOTENCY_HEADER
from api.http.services import Services
from domain.errors import DomainError
from ledger.access import Principal
from ledger.base import IdempotencyKeyUsed
from ledger.persistence.access_tables import StoredResponse, namespaced_key
from ledger.persistence.references import PostingReference
from ledger.write_context import WriteContext
from projections.history.streams import event_position

KEY_CHARS_MAX = 100
KEY_PATTERN = r"^[A-Za-z0-9._:-]{1,100}$"
RACE_WAIT_S = 10.0
RACE_POLL_S = 0.02
REPLAYED_HEADER = "Idempotent-Replayed"

# A route's command: runs the ledger command with ``write=`` the context it is given, and
# returns the response body (the log position it wrote is added to it here; a command that
# wrote nothing may name the position of what it found already written).
Command = Callable[[WriteContext], dict[str, Any]]
# A route's answer rebuilt from what its first request wrote, given the key's row (which names
# that request's last event): for a repeat after the answer was lost, when the command itself
# now refuses. None: the row names nothing this route can answer from.
Recover = Callable[[PostingReference], dict[str, Any] | None]
A = TypeVar("A")


def rebuilt_from(svc: Services, aggregate_id: UUID, kind: type[A],
                 render: Callable[[A], dict[str, Any] | None], *steps: str) -> Recover:
    """``recover`` for a route that answers with one aggregate: ``render`` of it as the first
    request's save left it (``FundLedger.as_left_by``: at the version the key names, or after
    its first event named one of ``steps``)."""
    def recover(found: PostingReference) -> dict[str, Any] | None:
        aggregate = svc.ledger.as_left_by(aggregate_id, found, *steps)
        return render(aggregate) if isinstance(aggregate, kind) else None

    return recover

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


def _await_response(
    svc: Services, key: str, digest: str, *, own: tuple[dict[str, Any], int] | None = None,
    command: Command | None = None, status: int = 201, recover: Recover | None = None,
) -> Response:
    """The response stored under the key, waited for.

    ``own`` is this repeat's answer and its status, when it found the command already
    applied; or, when it collided with the recorded key instead, ``command`` is run again
    with the key known as recorded, to find out (see the module docstring); if it refuses,
    ``recover`` may rebuild the answer from the events the key names.
    """
    deadline = time.monotonic() + RACE_WAIT_S
    while time.monotonic() < deadline:
        stored = svc.access.response(key)
        if stored is not None:
            return _replay(stored, digest)
        time.sleep(RACE_POLL_S)
    found = svc.ledger.find_idempotency_key(key)
    if own is None and command is not None and found is not None and found.digest == digest:
        # Still bound to the key: a command without a reference of its own collides with it
        # again and writes nothing.
        repeat = WriteContext.idempotent(key, digest, recorded=True)
        try:
            result = command(repeat)
        except (IdempotencyKeyUsed, DomainError):
            # It collided with the key, or its rules refuse a repeat: no answer from it, but
            # perhaps from what the first request wrote.
            recovered = recover(found) if recover is not None else None
            if recovered is not None:
                own = (recovered, status)
        else:
            if repeat.position is None:
                own = (result, status)
    if own is not None and found is not None:
        if found.digest != digest:
            raise Problem(422, "this Idempotency-Key was already used with another request "
                          "body", rule="idempotency-key", field="Idempotency-Key")
        result, status = own
        position = event_position(svc.ledger, found.originator_id, found.originator_version)
        return _store_and_answer(svc, key, digest, status,
                                 orjson.dumps({**result, "position": position}), position)
    where = (f" (its event: {found.originator_id} version {found.originator_version})"
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
    command: Command, *, status: int = 201, recover: Recover | None = None,
) -> Response:
    """Run ``command`` once per key; its result (plus the log position) is the response.
    ``recover``: the route's answer rebuilt from the events a first request wrote, for a
    repeat after that answer was lost (see the module docstring)."""
    scoped_key = namespaced_key(principal, key)  # by principal id: holders never meet
    digest = request_digest(request, body)
    stored = _stored_response(svc, request, scoped_key)
    if stored is not None:
        return _replay(stored, digest)
    write = WriteContext.idempotent(scoped_key, digest)
    try:
        result = command(write)
    except IdempotencyKeyUsed as used:
        if not used.same_request:
            raise
        return _await_response(svc, scoped_key, digest, command=command, status=status,
                               recover=recover)
    except DomainError:
        # Refused: perhaps because a first request under this key did it already (a vote
        # step, done once) and its answer is on its way, or was lost. Only a refusal pays
        # for this look-up.
        found = svc.ledger.find_idempotency_key(scoped_key)
        if found is None:
            raise
        if found.digest != digest:
            raise Problem(422, "this Idempotency-Key was already used with another request "
                          "body", rule="idempotency-key", field="Idempotency-Key") from None
        return _await_response(svc, scoped_key, digest, command=command, status=status,
                               recover=recover)
    position = write.position
    if position is None and svc.ledger.find_idempotency_key(scoped_key) is not None:
        # It wrote nothing because an earlier request with this key wrote it all: answer as
        # that one did (or, if it never stored its answer, with this one's).
        return _await_response(svc, scoped_key, digest, own=(result, status))
    if position is None:
        position = result.get("position")
    payload = orjson.dumps({**result, "position": position})
    return _store_and_answer(svc, scoped_key, digest, status, payload, position)


def _store_and_answer(
    svc: Services, key: str, digest: str, status: int, payload: bytes, position: int | None
) -> Response:
    if svc.access.store_response(StoredResponse(key, digest, status, payload, position)):
        return Response(payload, status_code=status, media_type="application/json")
    # Two repeats that both wrote nothing (a bank reference already posted) store the same
    # answer; the first stored wins, and this one answers with it too.
    stored = svc.access.response(key)
    assert stored is not None
    return _replay(stored, digest) if stored.body != payload else Response(
        payload, status_code=status, media_type="application/json")

