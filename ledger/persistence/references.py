"""Posting references, and the bulk-access protocols both stores' recorders satisfy.

A posting reference is a unique key (a bank statement line's reference, a voucher number...)
recorded in table ``posting_references`` in the same transaction as the event that posted it.
Inserting a reference that already exists makes the whole save fail with
``eventsourcing.persistence.IntegrityError`` and leaves nothing behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from eventsourcing.persistence import StoredEvent

REFERENCES_TABLE_NAME = "posting_references"


class PostingReference(NamedTuple):
    """One row of ``posting_references``: which event (aggregate and version) used a reference.

    A NamedTuple rather than a frozen dataclass: a bank batch makes one per line, and a
    tuple is several times cheaper to build.

    ``kind`` says what sort of reference it is (e.g. ``"bank-line"``); ``digest`` is a hash of
    the posted content, so a replay of the same reference with different content is detectable.
    """

    reference: str
    kind: str
    digest: str
    originator_id: uuid.UUID
    originator_version: int


@runtime_checkable
class ReferenceRecorder(Protocol):
    """The application recorder's reference API (both stores)."""

    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        references: Sequence[PostingReference] = (),
        **kwargs: Any,
    ) -> Sequence[int] | None: ...

    def select_references(self, references: Sequence[str]) -> dict[str, PostingReference]: ...


@runtime_checkable
class StreamRecorder(Protocol):
    """Bulk stream reads (application recorder and snapshot recorder, both stores)."""

    def select_streams(
        self, after: Mapping[uuid.UUID, int]
    ) -> dict[uuid.UUID, list[StoredEvent]]: ...

    def select_first_events(
        self, originator_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, StoredEvent]: ...


@runtime_checkable
class SnapshotRecorder(StreamRecorder, Protocol):
    """Bulk latest-snapshot reads (the aggregate recorder used for snapshots, both stores)."""

    def select_latest_many(
        self, originator_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, StoredEvent]: ...
