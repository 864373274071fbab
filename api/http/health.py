"""``/healthz`` and ``/readyz``: what a load balancer or a process supervisor asks an API process.

``/healthz`` answers 200 while the process can answer at all; it touches nothing else, so a
database outage never makes a supervisor restart healthy processes. ``/readyz`` answers 200
when this process can serve current answers: the database answered within
``ready_timeout_s``, no view has failed on an event or fallen further behind the log than
``ready_view_lag_events_max`` events or ``ready_view_lag_s_max`` seconds, and no event has
waited longer than ``ready_unsigned_s_max`` for a signed checkpoint. Otherwise 503, with the
same JSON body naming what is not ready. Both are unauthenticated: they say how far behind a
view is, never what it holds.

Cheap by construction: a probe reads each view's tracking position and failure row, the
log's last position, the sealer's last checkpoint (each one row by its key) and, for a
view that is behind, the one event after its position (for its age). One probe runs at a
time, and its answer serves every request within ``ready_cache_s``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from eventsourcing.persistence import PersistenceError
from starlette.requests import Request
from starlette.responses import JSONResponse

from api.http.services import Services
from ledger.settings import Settings
from projections.runner import BatchingProjection

# What an unreachable or failing database raises, wrapped by the library or not.
DATABASE_ERRORS = (PersistenceError, psycopg.Error, sqlite3.Error, OSError)


@dataclass(frozen=True)
class ViewReadiness:
    name: str
    position: int
    lag_events: int
    lag_s: float  # how long the oldest event the view has not applied has waited
    failure: str | None  # the event it stopped on and the error's last line
    ready: bool


@dataclass(frozen=True)
class SealReadiness:
    last_checkpoint_position: int | None
    last_checkpoint_age_s: float | None
    unsigned_events: int  # events after the last checkpoint
    unsigned_s: float  # how long the oldest of them has waited for a checkpoint
    ready: bool


@dataclass(frozen=True)
class Readiness:
    ready: bool
    database: str  # "ok", or why it is not
    log_position: int | None
    views: tuple[ViewReadiness, ...]
    sealer: SealReadiness | None
    not_ready: tuple[str, ...]  # what is not ready, one phrase each

    def body(self) -> dict[str, Any]:
        body = asdict(self)
        body["status"] = "ready" if self.ready else "not ready"
        body["views"] = {view.pop("name"): view for view in body["views"]}
        return body


def unreachable(why: str) -> Readiness:
    return Readiness(False, why, None, (), None, (f"database: {why}",))


class ReadinessProbe:
    """Measures readiness (on a worker thread) and shares each measurement for a while."""

    def __init__(self, svc: Services, settings: Settings) -> None:
        self.svc = svc
        self.settings = settings
        self._last: tuple[float, Readiness] | None = None
        self._running: asyncio.Future[Readiness] | None = None

    async def readiness(self) -> Readiness:
        """The last measurement if fresh, else one measured now (at most one at a time: a
        probe stuck on an unreachable database is not joined by another per request)."""
        last = self._last
        if last is not None and time.monotonic() - last[0] < self.settings.ready_cache_s:
            return last[1]
        if self._running is None:
            self._running = asyncio.get_running_loop().run_in_executor(None, self._measured)
        running = self._running
        try:
            found = await asyncio.wait_for(asyncio.shield(running), self.settings.ready_timeout_s)
        except TimeoutError:
            found = unreachable(f"no answer within {self.settings.ready_timeout_s:g} s")
        except DATABASE_ERRORS as error:
            found = unreachable(f"{type(error).__name__}: {_first_line(str(error))}")
        finally:
            if running.done():  # else the next request waits for the same measurement
                self._running = None
        self._last = (time.monotonic(), found)
        return found

    def _measured(self) -> Readiness:
        svc, settings = self.svc, self.settings
        now = datetime.now(UTC)
        log_position = svc.runner.log_position()
        views = tuple(self._view(name, view, log_position, now)
                      for name, view in svc.views.items())
        sealer = self._sealer(log_position, now)
        not_ready = [_view_problem(view, settings) for view in views if not view.ready]
        if not sealer.ready:
            not_ready.append(f"sealer: the oldest of {sealer.unsigned_events} events without "
                             f"a signed checkpoint has waited {sealer.unsigned_s:.0f} s (at "
                             f"most {settings.ready_unsigned_s_max:g} s): is `fundledger "
                             "seal --follow` running?")
        return Readiness(not not_ready, "ok", log_position, views, sealer, tuple(not_ready))

    def _view(self, name: str, view: BatchingProjection[Any], log_position: int,
              now: datetime) -> ViewReadiness:
        position = self.svc.runner.position(view)
        failure = view.view.failure()
        lag = max(0, log_position - position)
        lag_s = self.waited_s(position, now) if lag else 0.0
        failed = None if failure is None else (
            f"stopped at {failure.notification_id} ({failure.topic}): "
            + _first_line(failure.error.strip().splitlines()[-1] if failure.error.strip()
                          else ""))
        ready = (failed is None and lag <= self.settings.ready_view_lag_events_max
                 and lag_s <= self.settings.ready_view_lag_s_max)
        return ViewReadiness(name, position, lag, round(lag_s, 3), failed, ready)

    def _sealer(self, log_position: int, now: datetime) -> SealReadiness:
        last = self.svc.sealer().store.last_checkpoint()
        position = last[0] if last else 0
        age_s = None if last is None else round(
            (now - datetime.fromisoformat(last[1])).total_seconds(), 3)
        unsigned = max(0, log_position - position)
        waited_s = self.waited_s(position, now) if unsigned else 0.0
        return SealReadiness(last[0] if last else None, age_s, unsigned, round(waited_s, 3),
                             waited_s <= self.settings.ready_unsigned_s_max)

    def waited_s(self, position: int, now: datetime) -> float:
        """How long ago the event after ``position`` was written (0 if there is none)."""
        ledger = self.svc.ledger
        found = ledger.recorder.select_notifications(start=position, limit=1,
                                                     inclusive_of_start=False)
        if not found:
            return 0.0
        event: Any = ledger.mapper.to_domain_event(found[0])
        written: datetime = event.timestamp
        return max(0.0, (now - written).total_seconds())


def _view_problem(view: ViewReadiness, settings: Settings) -> str:
    if view.failure is not None:
        return f"view {view.name}: failed, {view.failure}"
    return (f"view {view.name}: {view.lag_events} events behind the log, the oldest waiting "
            f"{view.lag_s:.1f} s (at most {settings.ready_view_lag_events_max} events and "
            f"{settings.ready_view_lag_s_max:g} s): is `fundledger projections run --follow` "
            "running?")


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:300]


async def healthz(request: Request) -> JSONResponse:
    """``GET /healthz``: the process answers; nothing else is touched."""
    return JSONResponse({"status": "alive"}, headers={"Cache-Control": "no-store"})


async def readyz(request: Request) -> JSONResponse:
    """``GET /readyz``: 200 when ready, else 503; the body says what is and is not."""
    probe: ReadinessProbe = request.app.state.readiness
    found = await probe.readiness()
    return JSONResponse(found.body(), status_code=200 if found.ready else 503,
                        headers={"Cache-Control": "no-store"})
