"""What a view applied, after a position, for subscribers that keep their own copy in step.

A view changes only when it applies an event of a topic it handles, so its changes are those
events, in log order, up to the position the view has reached (never ahead of it: what a
subscriber is sent, the view already shows). Each is sent as CloudEvents JSON whose ``id``
is its log position; a subscriber that reconnects after id N receives exactly the changes
after N, in order, then live ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.application import FundLedger
from projections.cloud_events import Placed, Places, cloud_event
from projections.runner import BatchingProjection, Runner

PAGE_EVENTS_MAX = 500


@dataclass(frozen=True)
class Within:
    """A part of the city (None matches everything); all given parts must match."""

    community: str | None = None
    street: str | None = None
    district: str | None = None

    def holds(self, place: Placed) -> bool:
        return ((self.community is None or place.community == self.community)
                and (self.street is None or place.street == self.street)
                and (self.district is None or place.district == self.district))


class ViewChanges:
    def __init__(self, app: FundLedger, runner: Runner,
                 projection: BatchingProjection[Any]) -> None:
        self.app = app
        self.runner = runner
        self.projection = projection
        self.topics = sorted(projection.topic_handlers())
        self.places = Places(app)

    def after(self, position: int, within: Within,
              limit: int = PAGE_EVENTS_MAX) -> tuple[list[dict[str, Any]], int]:
        """The changes after ``position`` within a part of the city (at most ``limit``
        events scanned), and the position scanned up to: where the next call starts."""
        reached = self.runner.position(self.projection)
        if reached <= position:
            return [], position
        page = self.app.recorder.select_notifications(
            start=position, stop=reached, limit=limit, topics=self.topics,
            inclusive_of_start=False)
        self.places.learn(page)
        scanned = page[-1].id if len(page) == limit else reached
        changes = []
        for notification in page:
            place = self.places.place(notification)
            if within.holds(place):
                changes.append(cloud_event(self.app, notification, place))
        return changes, scanned
