"""Relay every domain event to NATS JetStream as a CloudEvents 1.0 JSON message.

This is the path for downstream systems that outgrow one process: any number of durable
consumers, replayable from any position. Each message's ``Nats-Msg-Id`` and CloudEvents
``id`` are the event's log position, and subjects read
``<prefix>.event.<Aggregate>.<Event>.<community>`` so a consumer filters by kind and by
community (``fundledger.event.*.*.CY-0001``).

Exactly once without a second store: the relay resumes after the position of the last
message the stream holds, so a relay killed between a publish and anything else neither
skips nor repeats an event; ``Nats-Msg-Id`` de-duplication covers a publish whose ack was
lost. Messages are published in log order and the stream keeps that order.
"""

from __future__ import annotations

import asyncio
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

PAGE_SIZE = 1_000
DUPLICATE_WINDOW_S = 600.0
ACK_TIMEOUT_S = 30.0
_TOKEN = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class RelayTarget:
    url: str = "nats://127.0.0.1:4222"
    stream: str = "FUNDLEDGER"
    subject_prefix: str = "fundledger"


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
            position = await self.published_position(js)
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

    async def published_position(self, js: JetStreamContext) -> int | None:
        """The log position of the stream's last message: where the relay resumes."""
        info = await js.stream_info(self.target.stream)
        if not info.state.last_seq:
            return None
        last = await js.get_msg(self.target.stream, info.state.last_seq)
        return int(last.headers["Nats-Msg-Id"]) if last.headers else None

    async def _publish_page(self, js: JetStreamContext, page: Sequence[Notification]) -> None:
        self.places.learn(page)
        acks = []
        for notification in page:
            subject, body = self.message(notification)
            acks.append(await js.publish_async(
                subject, body, headers={"Nats-Msg-Id": str(notification.id)}))
        # Every ack before the next page: the stream then holds this page, in order.
        await asyncio.gather(*acks)

    def message(self, notification: Notification) -> tuple[str, bytes]:
        message = cloud_event(self.app, notification, self.places.place(notification))
        _, aggregate, kind = message["type"].split(".")
        subject = ".".join((self.target.subject_prefix, "event", subject_token(aggregate),
                            subject_token(kind), subject_token(message["community"])))
        return subject, encode(message)
