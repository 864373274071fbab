"""Load many aggregates in two queries instead of two per aggregate.

A bank batch touches thousands of sub-accounts; reading each through the repository would
spend the batch's whole budget on round trips. This reads the latest snapshot of every id
and then every event after those snapshots at once, and replays them with the library's own
mutators. One aggregate on PostgreSQL (a single posting) is read in one statement instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, cast
from uuid import UUID

from eventsourcing.application import Application, project_aggregate
from eventsourcing.persistence import StoredEvent

from ledger.persistence.transcoder import event_decoder


class _BulkAggregateRecorder(Protocol):
    def select_latest_many(self, originator_ids: Sequence[UUID]) -> dict[UUID, StoredEvent]: ...


class _BulkApplicationRecorder(Protocol):
    def select_streams(self, after: dict[UUID, int]) -> dict[UUID, list[StoredEvent]]: ...


class _FirstEventsRecorder(Protocol):
    def select_first_events(self, originator_ids: Sequence[UUID]) -> dict[UUID, StoredEvent]: ...


class _OneStatementRecorder(Protocol):
    FEW_IDS_MAX: int

    def select_snapshots_and_streams(
        self, originator_ids: Sequence[UUID], snapshots_table_name: str
    ) -> tuple[dict[UUID, StoredEvent], dict[UUID, list[StoredEvent]]]: ...


def _one_statement_reads(app: Application[UUID]) -> tuple[_OneStatementRecorder, str] | None:
    """The application recorder and the snapshots table, when it can read an aggregate's
    snapshot and later events at once (PostgreSQL, snapshots in the same datastore)."""
    recorder = app.recorder
    if app.snapshots is None or not hasattr(recorder, "select_snapshots_and_streams"):
        return None
    snapshot_recorder = app.snapshots.recorder
    if getattr(snapshot_recorder, "datastore", None) is not getattr(recorder, "datastore", None):
        return None
    return cast(_OneStatementRecorder, recorder), snapshot_recorder.events_table_name  # type: ignore[attr-defined]


def load_many(app: Application[UUID], ids: Sequence[UUID]) -> dict[UUID, Any]:
    """The current state of each id that exists; ids with no events are left out."""
    unique_ids = list(dict.fromkeys(ids))
    if not unique_ids:
        return {}
    one_statement = _one_statement_reads(app)
    if one_statement is not None and len(unique_ids) <= one_statement[0].FEW_IDS_MAX:
        # A single posting's load, a ballot's vote and roll entry, a sale's two units: one
        # round trip where a batch's bulk reads take two.
        recorder, snapshots_table_name = one_statement
        stored_snapshots, streams = recorder.select_snapshots_and_streams(
            unique_ids, snapshots_table_name)
    else:
        stored_snapshots = ({} if app.snapshots is None else cast(
            _BulkAggregateRecorder, app.snapshots.recorder).select_latest_many(unique_ids))
        after = {i: (stored_snapshots[i].originator_version if i in stored_snapshots else 0)
                 for i in unique_ids}
        streams = cast(_BulkApplicationRecorder, app.recorder).select_streams(after)
    snapshots: dict[UUID, Any] = {}
    if app.snapshots is not None:
        to_snapshot = app.snapshots.mapper.to_domain_event
        snapshots = {i: project_aggregate(None, [to_snapshot(stored)])
                     for i, stored in stored_snapshots.items()}
    to_domain_event = event_decoder(app.mapper)
    aggregates: dict[UUID, Any] = {}
    for originator_id in unique_ids:
        aggregate = snapshots.get(originator_id)
        # The events' own mutators, as project_aggregate applies them, without its
        # per-event protocol assertion (slow on Python 3.11, and ten thousand times a batch).
        for stored in streams.get(originator_id, ()):
            aggregate = to_domain_event(stored).mutate(aggregate)
        if aggregate is not None:
            aggregates[originator_id] = aggregate
    return aggregates


def load_histories(app: Application[UUID], ids: Sequence[UUID]) -> dict[UUID, list[Any]]:
    """Every domain event of each id, oldest first (for statements as of a past date)."""
    recorder = cast(_BulkApplicationRecorder, app.recorder)
    streams = recorder.select_streams(dict.fromkeys(ids, 0))
    to_domain_event = event_decoder(app.mapper)
    return {i: [to_domain_event(s) for s in streams.get(i, ())] for i in ids}


def first_events(app: Application[UUID], ids: Sequence[UUID]) -> dict[UUID, Any]:
    """Each existing id's first event, decoded: what an aggregate's creation fixed for good
    (a unit's area), read without its later history."""
    recorder = cast(_FirstEventsRecorder, app.recorder)
    to_domain_event = event_decoder(app.mapper)
    return {originator_id: to_domain_event(stored)
            for originator_id, stored in recorder.select_first_events(ids).items()}
