"""Prometheus metrics at ``/metrics`` (``prometheus_client``), for tokens of role monitor or admin.

What a process counts as it works: requests by method, route template (``/v1/communities/
{code}/deposits``, never the raw path, so ids make no new series) and status, with their
latency; events written by kind (event class); saves that lost a race to a concurrent
writer (each is retried); responses replayed for a repeated Idempotency-Key. What is read
when scraped: each view's lag behind the log in events and seconds, events not yet under a
signed checkpoint (the probe ``/readyz`` uses, so a scrape and a probe within a second share
one reading), and this process's database pool.

Several workers (``fundledger serve --workers N``): ``serve`` points every worker at one
directory (``PROMETHEUS_MULTIPROC_DIR``, a fresh temporary one unless set) before they start,
and a scrape, whichever worker answers it, sums every worker's counters and histograms
(``prometheus_client``'s multiprocess mode). The pool gauges are the answering worker's own,
labelled with its pid; the lags are read from the database and are the same in every worker.

The relay's lag, with ``FUNDLEDGER_NATS_URL`` set: its position lives in the JetStream
stream, not in the database, so a scrape asks the stream for its last message (a connection
and two requests, bounded by ``RELAY_TIMEOUT_S``); unset, or unreachable, the relay's gauges
say so (``fundledger_relay_up`` 0) and the rest of the scrape is unaffected.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import nats
from eventsourcing.persistence import IntegrityError, StoredEvent
from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials
from nats.errors import Error as NatsError
from nats.js.errors import NotFoundError as StreamNotFound
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.http.health import Readiness, ReadinessProbe
from api.http.security import Policy, bearer
from api.http.services import Services
from ledger.access import Role
from projections.nats_relay import NatsRelay, RelayTarget

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_READERS = (Role.monitor, Role.admin)
# Seconds: a deposit takes a few milliseconds; a bank batch or an SSE stream, far longer.
LATENCY_BUCKETS_S = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
RELAY_TIMEOUT_S = 1.0
UNMATCHED = "<unmatched>"  # a path no route serves (404): one series, whatever the path
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter("fundledger_http_requests", "HTTP requests answered, by route template "
                   "and status.", ["method", "route", "status"])
LATENCY = Histogram("fundledger_http_request_duration_seconds", "Time from a request's "
                    "arrival to its response's last byte, by route template and status.",
                    ["method", "route", "status"], buckets=LATENCY_BUCKETS_S)
WRITES = Counter("fundledger_events_written", "Events this API wrote, by kind "
                 "(Aggregate.Event).", ["kind"])
CONFLICTS = Counter("fundledger_write_conflicts", "Saves refused because a concurrent writer "
                    "took the version or reference first; the ledger retries them (up to "
                    "FUNDLEDGER_SAVE_ATTEMPTS_MAX), or replays an Idempotency-Key's answer.")
REPLAYS = Counter("fundledger_idempotent_replays", "Responses replayed for a repeated "
                  "Idempotency-Key (header Idempotent-Replayed: true).")

_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}


def observe_request(method: str, route: str, status: int, duration_s: float,
                    replayed: bool) -> None:
    # A client names the method: one it made up must not make a series of its own.
    key = (method if method in METHODS else "other", route, str(status))
    children = _children.get(key)
    if children is None:  # labels() takes a lock and builds a tuple: once per series
        children = _children[key] = (REQUESTS.labels(*key), LATENCY.labels(*key))
    children[0].inc()
    children[1].observe(duration_s)
    if replayed:
        REPLAYS.inc()


def count_writes(recorder: Any) -> None:
    """Count the events and lost races of every save through ``recorder``, in this process.

    The ledger's saves all end in its recorder's ``insert_events`` (the library's ``save``
    and the ledger's own batch path alike), so wrapping that one method of this process's
    recorder counts every write without a hook in the write path: one tally of topics after
    the insert, by then mapped (a batch maps its events as it sends them).
    """
    insert: Callable[..., Sequence[int] | None] = recorder.insert_events

    def counted(stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        try:
            ids = insert(stored_events, **kwargs)
        except IntegrityError:
            CONFLICTS.inc()
            raise
        for topic, count in Tally(event.topic for event in stored_events).items():
            WRITES.labels(topic.rpartition(":")[2]).inc(count)
        return ids

    recorder.insert_events = counted


class LiveCollector(Collector):
    """What a scrape reads now: view lags, unsigned events, this process's pool."""

    def __init__(self, readiness: Readiness, svc: Services,
                 relay: RelayLag | None = None) -> None:
        self.readiness = readiness
        self.svc = svc
        self.relay = relay

    def collect(self) -> Iterator[Metric]:
        found = self.readiness
        up = GaugeMetricFamily("fundledger_ready", "1 when /readyz answers 200.")
        up.add_metric([], 1.0 if found.ready else 0.0)
        yield up
        lag = GaugeMetricFamily("fundledger_view_lag_events", "Events in the log a view has "
                                "not applied yet.", labels=["view"])
        lag_s = GaugeMetricFamily("fundledger_view_lag_seconds", "How long the oldest event a "
                                  "view has not applied has waited (0 when caught up).",
                                  labels=["view"])
        failed = GaugeMetricFamily("fundledger_view_failed", "1 when a view stopped on an "
                                   "event it could not apply.", labels=["view"])
        for view in found.views:
            lag.add_metric([view.name], view.lag_events)
            lag_s.add_metric([view.name], view.lag_s)
            failed.add_metric([view.name], 0.0 if view.failure is None else 1.0)
        yield from (lag, lag_s, failed)
        if found.log_position is not None:
            yield _gauge("fundledger_log_position", "The log's last position.",
                         found.log_position)
        if found.sealer is not None:
            yield _gauge("fundledger_unsigned_events", "Events after the last signed "
                         "checkpoint.", found.sealer.unsigned_events)
            yield _gauge("fundledger_unsigned_seconds", "How long the oldest event after "
                         "the last signed checkpoint has waited.", found.sealer.unsigned_s)
        yield from _pool_metrics(self.svc)
        if self.relay is not None:
            yield _gauge("fundledger_relay_up", "1 when the relay's stream answered this "
                         "scrape.", 0.0 if self.relay.events is None else 1.0)
            if self.relay.events is not None:
                yield _gauge("fundledger_relay_lag_events", "Events in the log the NATS "
                             "relay has not published yet.", self.relay.events)
                yield _gauge("fundledger_relay_lag_seconds", "How long the oldest event the "
                             "relay has not published has waited.", self.relay.seconds)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation)
    gauge.add_metric([], value)
    return gauge


def _pool_metrics(svc: Services) -> Iterable[Metric]:
    """This worker's PostgreSQL pool (none on SQLite, which has no pool)."""
    pool = getattr(getattr(svc.ledger.recorder, "datastore", None), "pool", None)
    if pool is None or not hasattr(pool, "get_stats"):
        return
    stats = pool.get_stats()
    pid = str(os.getpid())
    for name, key, documentation in (
            ("fundledger_db_pool_connections", "pool_size", "Connections the pool holds."),
            ("fundledger_db_pool_available", "pool_available", "Of them, idle."),
            ("fundledger_db_pool_waiting", "requests_waiting",
             "Requests waiting for a connection.")):
        gauge = GaugeMetricFamily(name, documentation, labels=["pid"])
        gauge.add_metric([pid], float(stats.get(key, 0)))
        yield gauge
    gauge = GaugeMetricFamily("fundledger_db_pool_max", "Connections the pool may open.",
                              labels=["pid"])
    gauge.add_metric([pid], float(pool.max_size))
    yield gauge


@dataclass(frozen=True)
class RelayLag:
    events: int | None  # None: the stream did not answer
    seconds: float = 0.0


async def relay_lag(svc: Services, probe: ReadinessProbe, log_position: int | None,
                    url: str, stream: str) -> RelayLag:
    """How far the stream's last message is behind the log (``NatsRelay``'s own reading)."""
    if log_position is None:
        return RelayLag(None)
    try:
        # Bounded from outside: the client retries a refused first connection forever.
        connection = await asyncio.wait_for(nats.connect(
            url, connect_timeout=RELAY_TIMEOUT_S, allow_reconnect=False, error_cb=_quiet),
            RELAY_TIMEOUT_S)
    except (OSError, TimeoutError, NatsError):
        return RelayLag(None)
    try:
        js = connection.jetstream(timeout=RELAY_TIMEOUT_S)
        relay = NatsRelay(svc.ledger, RelayTarget(url=url, stream=stream))
        position, inside = await relay.published_position(js)
    except StreamNotFound:  # the relay has not run yet: nothing is published
        position, inside = None, None
    except (OSError, TimeoutError, NatsError):
        return RelayLag(None)
    finally:
        await connection.close()
    # Stopped inside a position: that position's event is not out yet.
    published = (position or 0) - (1 if inside is not None else 0)
    events = max(0, log_position - published)
    waited_s = await run_in_threadpool(probe.waited_s, published, datetime.now(UTC)) \
        if events else 0.0
    return RelayLag(events, round(waited_s, 3))


async def _quiet(error: Exception) -> None:
    """The client's own report of a failed connection (a traceback per retry): the scrape
    says ``fundledger_relay_up 0`` instead."""


def exposition(readiness: Readiness, svc: Services, relay: RelayLag | None = None) -> bytes:
    if MULTIPROCESS_DIR_ENV in os.environ:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Default())
    registry.register(LiveCollector(readiness, svc, relay))
    return generate_latest(registry)


class _Default(Collector):
    """The process-wide registry's metrics (this module's, and the process's own)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


_policy = Policy(METRICS_READERS)


async def metrics(request: Request) -> Response:
    """``GET /metrics``: a token of role monitor or admin (401/403 as every route)."""
    svc: Services = request.app.state.services
    credentials: HTTPAuthorizationCredentials | None = await bearer(request)
    await run_in_threadpool(_policy, request, svc, credentials)
    probe: ReadinessProbe = request.app.state.readiness
    readiness = await probe.readiness()
    settings = svc.ledger.settings
    relay = None if settings.nats_url is None else await relay_lag(
        svc, probe, readiness.log_position, settings.nats_url, settings.nats_stream)
    body = await run_in_threadpool(exposition, readiness, svc, relay)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
