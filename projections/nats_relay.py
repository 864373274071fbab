"""Relay every domain event to NATS JetStream as a CloudEvents 1.0 JSON message.

This is the path for downstream systems that outgrow one process: any number of durable
consumers, replayable from any position. Each event is published on
``<prefix>.event.<Aggregate>.<Event>.<community>`` with ``Nats-Msg-Id`` (and CloudEvents
``id``) its log position, so a consumer filters by kind and by community
(``fundledger.event.*.*.CY-0001``). Each view it changes is published too, just before it,
on ``<prefix>.view.<view>.<community>`` with ``Nats-Msg-Id`` ``<position>:<view>`` and the
view named in the CloudEvent: a street office's system follows
``fundledger.view.balance.CY-0001`` and the like.

Exactly once without a second store: a position's messages go out in a fixed order (its
views in ``VIEWS`` order, then the event), and the relay resumes after the last message the
stream holds: after its position when that was the event, else with the rest of that
position's messages. So a relay killed between any two publishes neither skips nor repeats a
message; ``Nats-Msg-Id`` de-duplication covers a publish whose ack was lost. Messages are
published in log order and the stream keeps that order.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import nats
from eventsourcing.persistence import Notification
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from ledger.application import FundLedger
from projections.cloud_events import NO_COMMUNITY, Places, cloud_event, encode
from projections.views import VIEWS

PAGE_SIZE = 1_000
# Each view's topics, from its handlers (the projection's own list, not a copy of it).
VIEW_TOPICS: dict[str, frozenset[str]] = {
    name: frozenset(object.__new__(view_class).topic_handlers())
    for name, view_class in VIEWS.items()}
DUPLICATE_WINDOW_S = 600.0
ACK_TIMEOUT_S = 30.0
STORED_TOPIC = "storedtopic"  # CloudEvents extension attributes (lower-case letters only)
STORED_STATE = "storedstate"
_TOKEN = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class RelayTarget:
    url: str = "nats://127.0.0.1:4222"
    stream: str = "FUNDLEDGER"
    subject_prefix: str = "fundledger"
    # Each event message also carries its stored topic and state (base64), so a reader in
    # another process decodes it exactly as the log's own runner does: the city reader of
    # a sharded deployment (projections/city_reader.py) needs it; off by default.
    carry_stored: bool = False


class RelayPositionLost(RuntimeError):
    """The stream dropped every message, the last one published among them."""


def subject_token(text: str) -> str:
    """A NATS subject token: letters, digits, '-' and '_' only."""
    return _TOKEN.sub("_", text) or NO_COMMUNITY


class NatsRelay:
    def __init__(self, app: FundLedger, target: RelayTarget) -> None:
        self.app = app
        self.target = target
        self.places = Places(app)

    async def relay(self, *, max_events: int | None = None,
                    progress: Callable[[int], None] | None = None) -> int:
        """Publish what the stream lacks, up to the log's end (or ``max_events``)."""
        connection = await nats.connect(self.target.url, connect_timeout=5)
        try:
            js = connection.jetstream(timeout=ACK_TIMEOUT_S)
            await self._ensure_stream(js)
            position, after_view = await self.published_position(js)
            if after_view is not None and position is not None:
                # Killed inside a position: finish its messages before moving on.
                page = self.app.recorder.select_notifications(start=position, limit=1)
                await self._publish_page(js, page, after_view=after_view)
            published = 0
            while max_events is None or published < max_events:
                limit = PAGE_SIZE if max_events is None else min(PAGE_SIZE,
                                                                 max_events - published)
                page = self.app.recorder.select_notifications(
                    start=position, limit=limit, inclusive_of_start=False)
                if not page:
                    break
                await self._publish_page(js, page)
                position = page[-1].id
                published += len(page)
                if progress is not None:
                    progress(len(page))
            return published
        finally:
            await connection.drain()

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        try:
            await js.stream_info(self.target.stream)
        except NotFoundError:
            await js.add_stream(StreamConfig(
                name=self.target.stream, subjects=[f"{self.target.subject_prefix}.>"],
                duplicate_window=DUPLICATE_WINDOW_S))

    async def published_position(self, js: JetStreamContext) -> tuple[int | None, str | None]:
        """The log position of the stream's last message, and the view it was for (None
        when it was the event itself, the last of its position): where the relay resumes."""
        info = await js.stream_info(self.target.stream)
        if not info.state.last_seq:
            return None, None
        try:
            last = await js.get_msg(self.target.stream, info.state.last_seq)
        except NotFoundError:
            raise RelayPositionLost(
                f"stream {self.target.stream} no longer holds its last message (sequence "
                f"{info.state.last_seq}): its limits or a purge dropped every message, so "
                "where the relay stopped is not known and nothing was published. Republish "
                "to a new stream: delete this one, then relay again (its subscribers then "
                "read the log from its start, each event by its position).") from None
        if not last.headers:
            return None, None
        position, _, view = last.headers["Nats-Msg-Id"].partition(":")
        return int(position), view or None

    async def _publish_page(self, js: JetStreamContext, page: Sequence[Notification], *,
                            after_view: str | None = None) -> None:
        self.places.learn(page)
        acks = []
        for notification in page:
            for msg_id, subject, body in self.messages(notification, after_view=after_view):
                acks.append(await js.publish_async(subject, body,
                                                   headers={"Nats-Msg-Id": msg_id}))
            after_view = None
        # Every ack before the next page: the stream then holds this page, in order.
        await asyncio.gather(*acks)

    def messages(self, notification: Notification, *, after_view: str | None = None
                 ) -> list[tuple[str, str, bytes]]:
        """(Nats-Msg-Id, subject, body) of a position, in publishing order: each view the
        event changes (after ``after_view``, when resuming inside the position), then the
        event."""
        message = cloud_event(self.app, notification, self.places.place(notification))
        _, aggregate, kind = message["type"].split(".")
        community = subject_token(message["community"])
        views = [name for name, topics in VIEW_TOPICS.items() if notification.topic in topics]
        if after_view is not None:
            views = views[views.index(after_view) + 1:] if after_view in views else []
        out = [(f"{notification.id}:{name}",
                ".".join((self.target.subject_prefix, "view", name, community)),
                encode({**message, "view": name})) for name in views]
        if self.target.carry_stored:
            message = {**message, STORED_TOPIC: notification.topic,
                       STORED_STATE: base64.b64encode(notification.state).decode()}
        out.append((str(notification.id),
                    ".".join((self.target.subject_prefix, "event", subject_token(aggregate),
                              subject_token(kind), community)), encode(message)))
        return out
