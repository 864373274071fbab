"""What a command's caller hands it for its saves, and what the caller learns back.

The HTTP API runs each POST under a client's idempotency key, recorded in
``posting_references`` (as ``idempotency:<key>``, with the request's digest) in the same
transaction as the first save of the command, so a key is recorded if and only if what it
produced is. The API also hands back the highest log position the command wrote, so a later
read can wait until a view has applied it (read-your-writes).

Both travel as one explicit argument, ``write=WriteContext(...)``, from the caller to the
command and down to its saves; nothing rides on thread-local state, and a save writes only
what its caller asked for. A command called without one (the CLI, the tests) binds no key,
and nobody asks what it wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from domain.errors import InvalidInput
from ledger.persistence.references import PostingReference

IDEMPOTENCY_PREFIX = "idempotency:"
IDEMPOTENCY_KEY_CHARS_MAX = 200
IDEMPOTENCY_KEY_KIND = "idempotency-key"


@dataclass
class IdempotencyKey:
    """A client's key for one logical request, as the ledger records it."""

    reference: str  # the key's row in posting_references: "idempotency:<key>"
    request_digest: str
    # Known to be recorded already (a repeat of a request that died before answering):
    # commands look their own references up first instead of saving optimistically.
    recorded: bool = False
    # Its row is in a save this command made: a command saving twice binds it to the first.
    bound: bool = False


@dataclass
class WriteContext:
    """One command's writes: the idempotency key to record with them, the position reached."""

    key: IdempotencyKey | None = None
    position: int | None = None  # the highest log position the command's saves wrote

    @classmethod
    def idempotent(
        cls, key: str, request_digest: str, *, recorded: bool = False
    ) -> WriteContext:
        """A context binding the command's first save to a client's idempotency key.

        A save that collides with the same key written by a concurrent request raises
        ``IdempotencyKeyUsed`` instead of retrying; the caller then replays that request's
        response. ``recorded=True`` says the key is already recorded: a command that is
        idempotent by its own reference then finds its earlier result (and saves nothing)
        rather than colliding with the key (see ``api.http.idempotency``).
        """
        if not key or len(key) > IDEMPOTENCY_KEY_CHARS_MAX:
            raise InvalidInput(
                f"an idempotency key has 1 to {IDEMPOTENCY_KEY_CHARS_MAX} characters",
                rule="idempotency-key", field="Idempotency-Key")
        return cls(IdempotencyKey(IDEMPOTENCY_PREFIX + key, request_digest, recorded=recorded))

    @property
    def key_recorded(self) -> bool:
        return self.key is not None and self.key.recorded

    def references_for(
        self, references: Sequence[PostingReference], last: DomainEventProtocol[UUID] | None
    ) -> list[PostingReference]:
        """A save's references, plus the key's row naming the save's last event, once.

        The last: it takes the highest log position of the save (its events are numbered in
        order), which is the position a lost answer named, so a repeat that answers for it
        names the same (``api.http.idempotency``). Keys recorded before named the first.
        """
        key = self.key
        if key is None or key.bound or last is None:
            return list(references)
        key.bound = True
        return [*references, PostingReference(
            key.reference, IDEMPOTENCY_KEY_KIND, key.request_digest, last.originator_id,
            last.originator_version)]

    def save_failed(self) -> IdempotencyKey | None:
        """A save's transaction failed and took the key's row with it; the key, if any."""
        if self.key is not None:
            self.key.bound = False
        return self.key

    def wrote(self, position: int | None) -> None:
        """Note the highest position a save wrote."""
        if position is not None:
            self.position = position if self.position is None else max(self.position, position)
