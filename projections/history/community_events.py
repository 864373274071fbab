"""A community's history: its events in log order, with every field, paged by log position.

Its events are those of the community, its units, its postings, votes, committees and
service contracts, and the events of enterprises that name it (credit events, engagements).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.committee import Committee
from domain.community import Community
from domain.enterprise import Enterprise
from domain.errors import InvalidInput
from domain.ids import community_id, posting_id, unit_account_id
from domain.service_contract import ServiceContract
from domain.vote import Vote
from ledger.application import FundLedger
from ledger.persistence.transcoder import event_decoder
from projections.history.replay import event_fields
from projections.history.streams import EventRef, Logged

HISTORY_LIMIT_MAX = 1000
# A history page reads at most this many log entries looking for the community's events, so
# a small community in a big city answers in bounded time; the cursor carries on from there.
HISTORY_SCAN_MAX = 50_000
_SCAN_BATCH = 1000


@dataclass(frozen=True)
class HistoryEvent:
    """One event of a community's history with every field it carries."""

    ref: EventRef
    aggregate: str  # the aggregate class: Community, UnitAccount, Vote, ...
    fields: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {**self.ref.to_json(), "aggregate": self.aggregate, "fields": self.fields}


@dataclass(frozen=True)
class HistoryPage:
    """A page of a community's events in log order; ask again with ``after=next_after``."""

    community_code: str
    after_position: int
    events: list[HistoryEvent]
    next_after: int
    at_end: bool  # the log holds nothing after next_after (yet)

    def to_json(self) -> dict[str, Any]:
        return {
            "community_code": self.community_code,
            "after_position": self.after_position,
            "next_after": self.next_after,
            "at_end": self.at_end,
            "events": [e.to_json() for e in self.events],
        }


def _creation_topics() -> list[str]:
    # Aggregates of a community that the community's own state does not list in full.
    return [get_topic(cast(Any, Vote).Proposed), get_topic(cast(Any, Committee).Formed),
            get_topic(cast(Any, ServiceContract).Started)]


def _community_ids(app: FundLedger, community: Community, up_to: int) -> set[UUID]:
    """Ids of the community's aggregates created at or before log position ``up_to``."""
    ids = {community_id(community.code)}
    ids.update(unit_account_id(community.code, b, u) for b, u in community.units.values())
    ids.update(posting_id(reference) for _, reference in community.postings)
    if up_to <= 0:
        return ids
    topics = _creation_topics()
    start: int | None = None
    while True:
        page = app.recorder.select_notifications(
            start=start, limit=_SCAN_BATCH, stop=up_to, topics=topics, inclusive_of_start=False)
        for notification in page:
            event = event_decoder(app.mapper)(notification)
            if getattr(event, "community_code", None) == community.code:
                ids.add(cast(UUID, notification.originator_id))
        if len(page) < _SCAN_BATCH:
            return ids
        start = page[-1].id


def community_history(
    app: FundLedger, community_code: str, after_position: int = 0, limit: int = 100
) -> HistoryPage:
    """The community's events after log position ``after_position``, in log order.

    Its events are those of the community, its units, its postings, votes, committees and
    service contracts, and the events of enterprises that name it (credit events,
    engagements). A page holds at most ``limit`` events and reads at most
    ``HISTORY_SCAN_MAX`` log entries; carry on with ``after_position=page.next_after``
    until ``at_end``.
    """
    if not 1 <= limit <= HISTORY_LIMIT_MAX:
        raise InvalidInput(f"limit is 1 to {HISTORY_LIMIT_MAX}", rule="history", field="limit")
    if after_position < 0:
        raise InvalidInput("after is a log position, 0 or more", rule="history",
                           field="after")
    community = app.community(community_code)  # NotFound on community_code
    ids = _community_ids(app, community, after_position)
    enterprise_prefix = get_topic(Enterprise) + "."
    events: list[HistoryEvent] = []
    position = after_position
    scanned = 0
    at_end = False
    while len(events) < limit and scanned < HISTORY_SCAN_MAX:
        page = app.recorder.select_notifications(
            start=position, limit=_SCAN_BATCH, inclusive_of_start=False)
        if not page:
            at_end = True
            break
        for notification in page:
            position = notification.id
            mine = notification.originator_id in ids
            if not mine and (notification.originator_version == 1
                             or notification.topic.startswith(enterprise_prefix)):
                # a new aggregate of the community, or an enterprise event naming it
                event = event_decoder(app.mapper)(notification)
                mine = getattr(event, "community_code", None) == community_code
                if mine and notification.originator_version == 1:
                    ids.add(cast(UUID, notification.originator_id))
            if mine:
                event = event_decoder(app.mapper)(notification)
                events.append(HistoryEvent(
                    Logged(notification.id, event).ref(),
                    type(event).__qualname__.split(".")[0], event_fields(event)))
                if len(events) == limit:
                    break
        scanned += len(page)
        if len(page) < _SCAN_BATCH and position == page[-1].id:
            at_end = True
            break
    return HistoryPage(community_code, after_position, events, position, at_end)


__all__ = ["HISTORY_LIMIT_MAX", "HistoryEvent", "HistoryPage", "community_history"]
