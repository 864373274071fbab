"""What every part of the ledger's one Application shares: settings, saving, retrying.

Commands live in one module per area (``funds``, and later governance and enterprises) as
mixins of this base; ``ledger.application.FundLedger`` combines them into the one
Application that owns the city's one event log.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Notification, Recording, StoredEvent

from domain.community import Community
from domain.errors import Conflict, NotFound
from domain.eventsourcing_internals import cache_saved, notify_saved
from domain.ids import community_id, unit_account_id
from domain.unit_account import UnitAccount
from ledger.loading import load_many
from ledger.persistence.references import PostingReference
from ledger.persistence.transcoder import StoredEventsBatch, to_stored_events
from ledger.settings import Settings
from ledger.write_context import IDEMPOTENCY_PREFIX, WriteContext

T = TypeVar("T")
A = TypeVar("A", bound=Aggregate)
SNAPSHOT_INTERVAL = 50
RETRY_WAIT_BASE_S = 0.002
RETRY_WAIT_MAX_S = 0.2
# A save of more events maps them while the recorder sends them (see ``StoredEventsBatch``).
LAZY_MAPPING_EVENTS_MIN = 1_000


@dataclass(frozen=True)
class Posted:
    """What a command wrote, or found already written under its reference."""

    reference: str
    kind: str
    already_posted: bool
    originator_id: UUID
    originator_version: int


@dataclass(frozen=True)
class BatchResult:
    posted: int
    already_posted: int
    total_fen: int
    notification_id_max: int | None = None


@dataclass(frozen=True)
class RegistrationResult:
    communities_added: int
    units_added: int
    units_unchanged: int


class IdempotencyKeyUsed(Conflict):
    """Another request recorded this idempotency key first (a race between repeats)."""

    def __init__(self, found: PostingReference, *, same_request: bool) -> None:
        super().__init__(
            "this Idempotency-Key was already used"
            + ("" if same_request else " with another request body"),
            rule="idempotency-key", field="Idempotency-Key")
        self.found = found
        self.same_request = same_request


@dataclass
class _Work:
    aggregates: list[Any] = field(default_factory=list)
    references: list[PostingReference] = field(default_factory=list)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a batch builds its objects.

    A 100,000-line batch allocates hundreds of thousands of events and stored events that
    stay alive until the save; each generation-2 collection walks all of them, which cost a
    sixth of the batch's time. Reference counting still frees everything acyclic, and the
    collector resumes (as it was) when the batch is done.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class LedgerBase(Application[UUID]):
    name = "FundLedger"
    # Bounds what loading one sub-account reads after decades of history.
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        UnitAccount: SNAPSHOT_INTERVAL,
        Community: SNAPSHOT_INTERVAL,
    }

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        super().__init__(env=self.settings.eventsourcing_env())

    # -- idempotency keys ----------------------------------------------------------------

    def find_idempotency_key(self, key: str) -> PostingReference | None:
        """The recorded use of a client's idempotency key, if any."""
        reference = IDEMPOTENCY_PREFIX + key
        return self._references([reference]).get(reference)

    def _raise_if_key_used(self, write: WriteContext | None) -> None:
        """After a lost race: was it our idempotency key that another request recorded?"""
        key = write.save_failed() if write is not None else None
        if key is None:
            return
        found = self._references([key.reference]).get(key.reference)
        if found is not None:
            raise IdempotencyKeyUsed(found, same_request=found.digest == key.request_digest)

    def as_left_by(self, aggregate_id: UUID, key: PostingReference | None,
                   *steps: str) -> Aggregate | None:
        """An aggregate as one save left it, to answer for that save again: at the version
        ``key`` (an idempotency key's row) names, if it names this aggregate (the save's last
        event is its own); otherwise as the first of its events named one of ``steps`` left
        it. None if neither finds it."""
        if key is not None and key.originator_id == aggregate_id:
            return cast(Aggregate, self.repository.get(aggregate_id,
                                                       version=key.originator_version))
        for event in self.repository.event_store.get(aggregate_id):
            if type(event).__name__ in steps:
                return cast(Aggregate, self.repository.get(aggregate_id,
                                                           version=event.originator_version))
        return None

    def event_at(self, aggregate_id: UUID, version: int) -> object | None:
        """One stored event of an aggregate, as its domain event; None if there is none."""
        return next(iter(self.repository.event_store.get(
            aggregate_id, gt=version - 1, lte=version)), None)

    # -- plumbing ------------------------------------------------------------------------

    def _retrying(self, attempt: Callable[[], T], write: WriteContext | None = None) -> T:
        """Run a read-decide-save attempt again when a concurrent writer won the race.

        Exponential backoff with full jitter: a writer that keeps posting to the same
        sub-account would otherwise re-read first every time and starve the other. A race
        lost to a repeat of the same idempotency key (``write``'s) is not retried.
        """
        for number in range(1, self.settings.save_attempts_max + 1):
            try:
                return attempt()
            except IntegrityError:
                self._raise_if_key_used(write)
                if number == self.settings.save_attempts_max:
                    raise
                cap_s = min(RETRY_WAIT_MAX_S, RETRY_WAIT_BASE_S * 2**number)
                time.sleep(random.uniform(0, cap_s))
        raise AssertionError("unreachable")

    def _update(
        self, load: Callable[[], A], change: Callable[[A], T], write: WriteContext | None = None
    ) -> T:
        """Load one aggregate, change it, save what it recorded; again if a writer raced us."""

        def attempt() -> T:
            aggregate = load()
            result = change(aggregate)
            if aggregate.pending_events:
                self._save_aggregates(aggregate, write=write)
            return result

        return self._retrying(attempt, write)

    def _save_aggregates(self, *aggregates: Aggregate, write: WriteContext | None) -> None:
        """``Application.save`` of what the aggregates recorded, in one transaction, with
        ``write``'s idempotency key naming the last event; ``write`` learns the position."""
        if write is None:
            self.save(*aggregates)
            return
        last = next((a.pending_events[-1] for a in reversed(aggregates) if a.pending_events),
                    None)
        references = write.references_for((), last)
        recordings = (self.save(*aggregates, references=references) if references
                      else self.save(*aggregates))
        write.wrote(max((r.notification.id for r in recordings), default=None))

    def _save(self, work: _Work, write: WriteContext | None = None) -> int | None:
        """``Application.save`` for aggregates we know, with the references in its transaction.

        The library's ``save`` dispatches each object through two runtime-checkable
        protocols, which on Python 3.11 costs more than triggering the event itself; a bank
        batch saves tens of thousands of aggregates, so this collects them directly and then
        takes the same steps (record, snapshot, notify). Recording maps the events with
        ``to_stored_events`` (the mapper's bytes, faster) and builds the ``Recording``
        objects only when ``_notify`` is overridden to read them.
        """
        processing: ProcessingEvent[UUID] = ProcessingEvent()
        first_versions: dict[UUID, int] = {}
        for aggregate in work.aggregates:
            pending = aggregate.collect_events()
            if pending:
                first_versions[aggregate.id] = pending[0].originator_version
                processing.events.extend(pending)
            processing.aggregates[aggregate.id] = aggregate
        processing.saved_kwargs["references"] = (
            write.references_for(work.references, processing.events[-1] if processing.events
                                 else None) if write is not None else work.references)
        events = processing.events
        # Mapped as the recorder sends them (a large save on PostgreSQL overlaps the mapping
        # with the server's inserts); a small save maps them all first.
        stored_events: Sequence[StoredEvent] = (
            StoredEventsBatch(self.mapper, events) if len(events) > LAZY_MAPPING_EVENTS_MIN
            else to_stored_events(self.mapper, events))
        notification_ids = self.recorder.insert_events(
            stored_events, tracking=processing.tracking, **processing.saved_kwargs)
        cache_saved(self, processing.aggregates)
        written: int | None = None
        if notification_ids:
            assert len(notification_ids) == len(stored_events)
            written = max(notification_ids)
            if write is not None:
                write.wrote(written)
        self._take_snapshots_of(processing.aggregates, first_versions)
        notify_saved(self, lambda: [
            Recording(d, Notification(id=n, originator_id=s.originator_id,
                                      originator_version=s.originator_version,
                                      topic=s.topic, state=s.state))
            for d, s, n in zip(events, stored_events, notification_ids or (), strict=True)
        ])
        return written

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """Snapshot from the aggregates in memory, in one write (see ``_take_snapshots_of``).

        Overrides the library's hook, which ``Application.save`` calls after recording
        (tests/unit/test_eventsourcing_internals.py checks it still does)."""
        first_versions: dict[UUID, int] = {}
        for event in processing_event.events:
            first_versions.setdefault(event.originator_id, event.originator_version)
        self._take_snapshots_of(processing_event.aggregates, first_versions)

    def _take_snapshots_of(
        self, aggregates: dict[UUID, Any], first_versions: dict[UUID, int]
    ) -> None:
        """Snapshot from the aggregates in memory, in one write.

        The library re-reads each aggregate at the version that crossed the interval, two
        queries a snapshot; a batch crossing thousands of intervals would spend its time
        there. A snapshot of the saved state is as good, so one is taken of each aggregate
        whose saved events (the first at ``first_versions[id]``) crossed a multiple of its
        interval.
        """
        if self.snapshots is None:
            return
        snapshots = []
        intervals = self.snapshotting_intervals
        for aggregate_id, first_version in first_versions.items():
            aggregate = aggregates.get(aggregate_id)
            interval = intervals.get(type(aggregate)) if aggregate is not None else None
            if aggregate is None or not interval:
                continue
            if aggregate.version // interval > (first_version - 1) // interval:
                snapshot_class = type(aggregate).Snapshot
                snapshots.append(snapshot_class.take(aggregate))
        if snapshots:
            self.snapshots.put(snapshots)

    def _references(self, references: Iterable[str]) -> dict[str, PostingReference]:
        select = self.recorder.select_references  # type: ignore[attr-defined]
        return cast(dict[str, PostingReference], select(list(references)))

    def _check_reference(
        self, reference: str, digest: str, found: PostingReference | None
    ) -> Posted | None:
        """A repeat with the same content reports the original; other content conflicts."""
        if found is None:
            return None
        if found.digest != digest:
            raise Conflict(
                f"bank reference {reference!r} was already posted ({found.kind}) with other "
                "content; a reference names one posting forever",
                rule="reference-unique",
                field="reference",
            )
        return Posted(reference, found.kind, True, found.originator_id, found.originator_version)

    def _get(self, aggregate_id: UUID) -> Any:
        """The aggregate's current state, as ``repository.get`` gives it (raising
        ``AggregateNotFoundError`` when it has no events), read through ``load_many``: one
        statement on PostgreSQL, the faster decoder, and no per-event protocol check, which
        was a third of loading a vote with a few thousand ballots."""
        found = load_many(self, [aggregate_id]).get(aggregate_id)
        if found is None:
            raise AggregateNotFoundError(aggregate_id)
        return found

    def _community(self, code: str) -> Community:
        try:
            return cast(Community, self._get(community_id(code)))
        except AggregateNotFoundError:
            raise NotFound(
                f"no community {code!r} is registered", rule="F1", field="community_code"
            ) from None

    def _accounts(self, community: Community, keys: Sequence[str]) -> list[UnitAccount]:
        ids = [unit_account_id(community.code, *community.units[k]) for k in keys]
        loaded = load_many(self, ids)
        return [cast(UnitAccount, loaded[i]) for i in ids]

