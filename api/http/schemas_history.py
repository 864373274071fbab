"""What the auditor's routes answer: replays, a community's history, seal proofs and
checkpoints. An aggregate's state and an event's fields are as the event log holds them
(objects whose names depend on the aggregate or event), the envelopes around them are typed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class EventRefPublic(BaseModel):
    """One stored event, as an auditor cites it."""

    originator_id: str
    originator_version: int
    position: int = Field(description="The event's place in the one log.")
    topic: str
    event: str = Field(description="The event class's qualified name, e.g. "
                                   "`UnitAccount.ToppedUp`.")
    business_date: str | None
    recorded_at: str


class Replayed(BaseModel):
    """An aggregate's state at a cut, and the last event the cut includes."""

    kind: str
    key: str
    aggregate_id: str
    as_of: str | None
    known_at: str | None
    order: str = Field(description="`log` (version order, no as_of) or `business_date`.")
    last_event: EventRefPublic
    events_included: int
    events_dated_later: int = Field(description="Recorded by known_at but dated after "
                                                "as_of: left out of a business-date cut.")
    state: dict[str, Any]


class HistoryEventPublic(EventRefPublic):
    aggregate: str = Field(description="The aggregate's class: Community, UnitAccount, ...")
    fields: dict[str, Any]


class HistoryPagePublic(BaseModel):
    """A page of a community's events in log order; ask again with ``after=next_after``."""

    community_code: str
    after_position: int
    next_after: int
    at_end: bool = Field(description="The log holds nothing after next_after (yet).")
    events: list[HistoryEventPublic]


class CheckpointPublic(BaseModel):
    """A signed checkpoint: the log's length and the Merkle root of every stream's head."""

    format: str
    ledger: str
    position: int
    events: int
    streams: int
    heads_root: str
    created: str
    signature: str
    public_key: str


class ProvedEvent(BaseModel):
    """A stored event; its state as its exact text, or base64 if it is not UTF-8."""

    position: int
    originator_id: str
    version: int
    topic: str
    state: str | None = None
    state_b64: str | None = None


class ChainLink(BaseModel):
    position: int
    version: int
    content_hash: str


class StreamHead(BaseModel):
    originator_id: str
    version: int
    digest: str


class Proof(BaseModel):
    """One event, its hash chain to its stream's head and the signed checkpoint covering
    it: ``verify_proof(proof, public_key)`` checks it with no server."""

    format: str
    event: ProvedEvent
    previous_digest: str
    later: list[ChainLink]
    head: StreamHead
    merkle_path: list[tuple[str, str]] = Field(
        description="From the leaf upwards: `[side, sibling hex]`, `L` for a left sibling.")
    checkpoint: CheckpointPublic
