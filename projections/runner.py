"""Catch-up and follow for the views: the log read in pages, one transaction per batch.

eventsourcing's ``ProjectionRunner`` hands each event to ``Projection.process_event``, which
commits the view's change and the event's tracking position: one transaction per event,
~1,200 events/s on PostgreSQL. Here a view is still the library's ``Projection`` with a
``process_event`` per event type, but ``process_event`` only stages the change in memory;
the runner reads the application's notification log a page at a time
(``select_notifications``), stages each event of the page, and commits the staged changes
with ONE tracking position — the page's last notification id — in one transaction
(``ViewRecorder.commit_batch``). Each event is applied exactly once across crashes and
restarts: a batch either committed with its position or left no trace, and a batch whose
position is not beyond the recorded one is refused by the tracking upsert before the view
is touched.

While a page is applied the next one is already being read (one read ahead, on a second
connection), so the database serves the read while this thread stages and commits.

A handler that raises stops the runner: the events of the page before the failing one are
committed, the failing event's position and the error go to ``projection_status``, and
``ProjectionFailed`` is raised. The next run starts after the last committed position, so it
retries the failing event first; the status row is cleared by the commit that gets past it.

``follow`` catches up, then takes new events from the application's subscription
(PostgreSQL LISTEN/NOTIFY) and commits them in small batches as they arrive. SQLite has no
subscription: there ``follow`` catches up again every ``SQLITE_POLL_S`` seconds.
"""

from __future__ import annotations

import gc
import queue
import threading
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Notification, Tracking
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.projection import Projection
from eventsourcing.sqlite import SQLiteApplicationRecorder

from domain.eventsourcing_internals import build_frozen
from ledger.persistence.transcoder import EventState, event_decoder, state_decoder
from projections.recorders import (
    Failure,
    PostgresViewRecorder,
    SQLiteViewRecorder,
    ViewRecorder,
)

# Python's cyclic collector runs every 700 net allocations, and each run looks at every young
# object: a catch-up allocates a few dozen objects per event (rows, decoded events, the
# views' staged values), so it spent a fifth of its time collecting garbage that reference
# counting frees anyway. While any catch-up or verify walk runs in the process, the
# collector runs every 50,000 allocations instead (the thresholds are the process's, shared
# by every thread: restored once the last such walk ends).
GC_ALLOCATIONS_WHILE_WALKING = 50_000
_gc_lock = threading.Lock()
_gc_walks = 0
_gc_saved: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Let the cyclic garbage collector run less often while inside (see above)."""
    global _gc_walks, _gc_saved
    with _gc_lock:
        if _gc_walks == 0:
            _gc_saved = gc.get_threshold()
            if _gc_saved[0] < GC_ALLOCATIONS_WHILE_WALKING:
                gc.set_threshold(GC_ALLOCATIONS_WHILE_WALKING, *_gc_saved[1:])
        _gc_walks += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_walks -= 1
            if _gc_walks == 0:
                gc.set_threshold(*_gc_saved)


class ViewOvertaken(Exception):
    """Another runner sharing the view applied part of a page first: the runner reads on
    from the view's position instead (its pages may be of another size)."""

    def __init__(self, position: int) -> None:
        super().__init__(f"another runner took the view to position {position} first")
        self.position = position
        self.read_count = 0


# A catch-up transaction's events. On PostgreSQL, 10,000: an audit or balance rebuild of
# 250,020 events (benchmarks/projections.py, 2 cores) went 81-97k events/s at 1,000 to
# 114-130k at 10,000, the three stages of a page (read, stage, commit) waiting less on each
# other. On SQLite, 1,000: its one writer is held while a page commits, and the API's writes
# wait behind it.
BATCH_EVENTS_MAX = 10_000
SQLITE_BATCH_EVENTS_MAX = 1_000
FOLLOW_BATCH_EVENTS_MAX = 100  # live events: small batches keep the view fresh
SQLITE_POLL_S = 0.5
STOPPER_POLL_S = 0.1  # how soon a following subscription notices it is to end
# A follower idle this long checks the log's end against the view's position, so a missed
# notification delays the view by seconds, not for ever.
FOLLOW_IDLE_CHECK_S = 2.0
WAIT_POLL_S = 0.02  # read-your-writes: how often a waiting read looks at the view's position
WAIT_S_MAX = 30.0  # no read holds a connection longer for a view to catch up

TBatch = TypeVar("TBatch")
TProjection = TypeVar("TProjection", bound="BatchingProjection[Any]")
Progress = Callable[[int], None]
Handler = Callable[[Any, Tracking], None]


def event_topic(aggregate_class: type[Any], event_name: str) -> str:
    """The stored topic of an aggregate's event class, e.g. one made by ``@event("Tallied")``."""
    return f"{aggregate_class.__module__}:{aggregate_class.__qualname__}.{event_name}"


class ProjectionFailed(Exception):
    """A view's handler raised on one event; the view stopped just before it."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(
            f"view {failure.view_name} failed on notification {failure.notification_id} "
            f"({failure.topic}); it resumes there once fixed")
        self.failure = failure


class BatchingProjection(Projection[ViewRecorder[TBatch]], ABC, Generic[TBatch]):
    """A view: ``process_event`` stages an event into the open batch; ``commit`` writes it.

    Subclasses give ``topic_handlers()``: the topic of each event type they handle and its
    ``process_*`` method, and the recorder class for each store. Events of other topics are
    not even decoded; they still move the position.
    """

    postgres_recorder: type[PostgresViewRecorder[Any]]
    sqlite_recorder: type[SQLiteViewRecorder[Any]]
    # True: the view's handlers read ``tracking`` during the call and keep no reference to
    # it, so the runner hands them one Tracking per page, moved on to each event (building
    # a frozen Tracking per event is a tenth of a light view's catch-up).
    tracking_is_transient: ClassVar[bool] = False
    # True: the view's handlers read only plain values (ids, amounts, codes), so they are
    # given each event's ``EventState`` (its JSON, parsed) instead of the domain event.
    reads_state: ClassVar[bool] = False

    def __init__(self, view: ViewRecorder[TBatch]) -> None:
        super().__init__(view)
        self.batch: TBatch = self.new_batch()
        self.handlers: Mapping[str, Handler] = self.topic_handlers()
        self.topics = tuple(self.handlers)

    @abstractmethod
    def new_batch(self) -> TBatch: ...

    @abstractmethod
    def topic_handlers(self) -> dict[str, Handler]: ...

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Stage one event (the library's entry point, dispatched by the event's topic)."""
        handler = self.handlers.get(type(domain_event).__module__ + ":"
                                    + type(domain_event).__qualname__)
        if handler is not None:
            handler(EventState.of(domain_event) if self.reads_state else domain_event, tracking)

    def begin(self) -> None:
        self.batch = self.new_batch()

    def commit(self, tracking: Tracking) -> None:
        self.view.commit_batch(self.batch, tracking)
        self.batch = self.new_batch()


class Runner:
    """Runs views over one application's log."""

    def __init__(self, app: Application[UUID]) -> None:
        self.app = app
        self.decode = event_decoder(app.mapper)
        self.decode_state = state_decoder(app.mapper)

    def _decoder(self, projection: BatchingProjection[Any]) -> Callable[[Notification], Any]:
        return self.decode_state if projection.reads_state else self.decode

    # -- positions ---------------------------------------------------------------------------

    def position(self, projection: BatchingProjection[Any]) -> int:
        return projection.view.max_tracking_id(self.app.name) or 0

    def log_position(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def batch_events_default(self) -> int:
        """A catch-up transaction's events on this store (see ``BATCH_EVENTS_MAX``)."""
        if isinstance(self.app.recorder, SQLiteApplicationRecorder):
            return SQLITE_BATCH_EVENTS_MAX
        return BATCH_EVENTS_MAX

    # -- catching up -------------------------------------------------------------------------

    def catch_up(
        self,
        projection: BatchingProjection[Any],
        *,
        batch_events_max: int | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Apply every event up to the log's current end, ``batch_events_max`` in each
        transaction (by default ``batch_events_default``); returns how many were read."""
        batch_events_max = batch_events_max or self.batch_events_default()
        assert 0 < batch_events_max <= 100_000
        last = self.log_position()
        read_count = 0
        with fewer_collections():
            while True:
                try:
                    return read_count + self._catch_up_to(projection, last, batch_events_max,
                                                          progress)
                except ViewOvertaken as overtaken:
                    read_count += overtaken.read_count

    def _catch_up_to(
        self, projection: BatchingProjection[Any], last: int, batch_events_max: int,
        progress: Progress | None,
    ) -> int:
        """Apply the events from the view's position to ``last``, in pipelined pages."""
        position = self.position(projection)
        if position >= last:
            return 0

        def read(after: int) -> Sequence[Notification]:
            return self.app.recorder.select_notifications(
                after, batch_events_max, stop=last, inclusive_of_start=False)

        read_count = 0
        # A three-stage pipeline: the next page is read while this one is staged, and this
        # one is staged while the previous one commits. Staging never reads the view, and the
        # commits run one at a time in log order, so a batch sees every earlier one committed.
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as reader, \
                    ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit") as writer:
                next_page = reader.submit(read, position)
                committing: Future[int] | None = None
                try:
                    while True:
                        page = next_page.result()
                        if not page:
                            break
                        if page[-1].id < last:
                            next_page = reader.submit(read, page[-1].id)
                        batch = self._stage_page(projection, page, before=committing)
                        if committing is not None:
                            committing.result()
                        committing = writer.submit(self._commit_page, projection, batch, page)
                        read_count += len(page)
                        if progress is not None:
                            progress(len(page))
                        if page[-1].id >= last:
                            break
                finally:
                    if committing is not None:
                        committing.result()
        except ViewOvertaken as overtaken:
            overtaken.read_count = read_count
            raise
        return read_count

    def process_page(
        self, projection: BatchingProjection[Any], page: Sequence[Notification]
    ) -> int:
        """Stage and commit one page; returns the view's position afterwards."""
        return self._commit_page(projection, self._stage_page(projection, page), page)

    def _stage_page(
        self, projection: BatchingProjection[Any], page: Sequence[Notification], *,
        before: Future[int] | None = None,
    ) -> Any:
        """A fresh batch with the page's events staged. A failing handler stops the view at
        its event (once the commit ``before`` it has finished, so nothing is reordered)."""
        assert page, "a page has at least one notification"
        projection.begin()
        handlers, decode = projection.handlers, self._decoder(projection)
        index = 0
        try:
            if projection.tracking_is_transient:
                tracking = Tracking(self.app.name, page[0].id)
                moved = tracking.__dict__  # frozen for its users; moved on here, per event
                for index, notification in enumerate(page):  # noqa: B007 (read on failure)
                    handler = handlers.get(notification.topic)
                    if handler is not None:
                        moved["notification_id"] = notification.id
                        handler(decode(notification), tracking)
            else:
                stage = self._stager(projection)
                for index, notification in enumerate(page):  # noqa: B007
                    stage(notification)
        except Exception as error:
            if before is not None:
                before.result()
            self._stop_at(projection, page, index, error)
        return projection.batch

    def _commit_page(
        self, projection: BatchingProjection[Any], batch: Any, page: Sequence[Notification]
    ) -> int:
        """Write a staged page with its position; returns the view's position afterwards.

        A page already committed (by an earlier run or another runner) is refused by the
        tracking upsert and rolled back; the view then carries on from its recorded position.
        A page another runner applied only in part is refused too (``ViewOvertaken``): the
        runner reads on from the view's position, never past an event nobody applied.
        """
        try:
            projection.view.commit_batch(batch, Tracking(self.app.name, page[-1].id),
                                         page_start=page[0].id)
        except IntegrityError:
            position = self.position(projection)
            if position < page[0].id:
                raise  # not a repeat: the view's own write failed
            if position < page[-1].id:
                # Another runner applied the page's head: read on from where the view is.
                raise ViewOvertaken(position) from None
            return position
        return page[-1].id

    def _stager(self, projection: BatchingProjection[Any]) -> Callable[[Notification], None]:
        """Stages one notification into ``projection``'s batch: the per-event hot loop of a
        catch-up, so what it needs is looked up once per page."""
        handlers, decode, application_name = (projection.handlers, self._decoder(projection),
                                              self.app.name)
        build = build_frozen

        def stage(notification: Notification) -> None:
            # By topic, before decoding: most views ignore most events.
            handler = handlers.get(notification.topic)
            if handler is not None:
                # The library's Tracking, built without its frozen dataclass's __init__.
                tracking = build(Tracking, {"application_name": application_name,
                                            "notification_id": notification.id})
                handler(decode(notification), tracking)

        return stage

    def _stop_at(
        self,
        projection: BatchingProjection[Any],
        page: Sequence[Notification],
        index: int,
        error: Exception,
    ) -> None:
        """Commit the page up to the failing event, record the failure, raise."""
        # The failing handler may have half-staged its event: stage the earlier ones afresh.
        projection.begin()
        stage = self._stager(projection)
        for notification in page[:index]:
            stage(notification)
        if index:
            projection.commit(Tracking(self.app.name, page[index - 1].id))
        failing = page[index]
        failure = Failure(
            projection.view.view_name, self.app.name, failing.id, failing.topic,
            "".join(traceback.format_exception(error)))
        projection.view.record_failure(failure)
        raise ProjectionFailed(failure) from error

    # -- following ---------------------------------------------------------------------------

    def follow(
        self,
        projection: BatchingProjection[Any],
        stop: threading.Event,
        *,
        batch_events_max: int = FOLLOW_BATCH_EVENTS_MAX,
    ) -> int:
        """Catch up, then apply new events as they are written, until ``stop`` is set.

        Returns how many events were read. On an error ``stop`` is set (so threads following
        other views with the same event stop too) and the error is raised.
        """
        try:
            with runners_lock(projection):
                read = self.catch_up(projection)
                if isinstance(self.app.recorder, SQLiteApplicationRecorder):
                    while not stop.wait(SQLITE_POLL_S):
                        read += self.catch_up(projection, batch_events_max=batch_events_max)
                    return read
                while True:
                    try:
                        return read + self._follow_subscription(projection, stop,
                                                                batch_events_max)
                    except ViewOvertaken:
                        # Another runner moved the view on: subscribe again from there.
                        read += self.catch_up(projection)
        finally:
            stop.set()

    def _follow_subscription(
        self, projection: BatchingProjection[Any], stop: threading.Event, batch_events_max: int
    ) -> int:
        arrived: queue.Queue[Notification | _End] = queue.Queue()
        ended = threading.Event()
        read = 0
        with self.app.recorder.subscribe(gt=self.position(projection)) as subscription:

            def pump() -> None:
                # The subscription blocks until events arrive; this thread moves them to a
                # queue, so the loop below can take whatever has arrived as one batch.
                try:
                    for notification in subscription:
                        arrived.put(notification)
                except BaseException as error:
                    arrived.put(_End(error))
                else:
                    arrived.put(_End(None))

            def stopper() -> None:
                # Until the group stops, or this subscription ends (to subscribe again).
                while not (stop.is_set() or ended.is_set()):
                    stop.wait(STOPPER_POLL_S)
                subscription.stop()

            threads = [threading.Thread(target=pump, daemon=True),
                       threading.Thread(target=stopper, daemon=True)]
            for thread in threads:
                thread.start()
            try:
                while True:
                    page, end = _take_batch(arrived, batch_events_max, FOLLOW_IDLE_CHECK_S)
                    if page:
                        self.process_page(projection, page)
                        read += len(page)
                    elif end is None and self.position(projection) < self.log_position():
                        # Idle, yet the log is ahead: a notification went missing. Catch up
                        # and subscribe again (a page both apply is refused, so nothing
                        # applies twice).
                        raise ViewOvertaken(self.position(projection))
                    if end is not None:
                        if end.error is not None:
                            raise end.error
                        return read
            except ViewOvertaken:
                raise  # not an error of the group: the caller subscribes again
            except BaseException:
                stop.set()
                raise
            finally:
                ended.set()
                for thread in threads:
                    thread.join()


class Followers:
    """Every given view followed on its own thread, in this process, until ``stop``.

    What an API process on the embedded store runs beside its routes, and what
    ``fundledger projections run --follow`` runs in the foreground. A view's failure stops
    the group (the runner sets the shared event) and is raised again by ``stop``/``join``.
    """

    def __init__(self, runner: Runner, projections: Sequence[BatchingProjection[Any]]) -> None:
        self.runner = runner
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._follow, args=(p,), name=p.view.view_name,
                                         daemon=True) for p in projections]

    def _follow(self, projection: BatchingProjection[Any]) -> None:
        try:
            self.runner.follow(projection, self.stopping)
        except BaseException as error:  # handed to whoever joins the group
            self.errors.append(error)

    def start(self) -> Followers:
        for thread in self.threads:
            thread.start()
        return self

    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self.threads)

    def join(self, timeout_s: float | None = None) -> None:
        """Wait for the threads (all of them, or until the timeout); raise the first error."""
        for thread in self.threads:
            thread.join(timeout_s)
        if self.errors and not self.alive():
            raise self.errors[0]

    def stop(self) -> None:
        self.stopping.set()
        self.join()

    def __enter__(self) -> Followers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class _End:
    error: BaseException | None


def _take_batch(
    arrived: queue.Queue[Notification | _End], batch_events_max: int,
    timeout_s: float | None = None,
) -> tuple[list[Notification], _End | None]:
    """Block for one item (at most ``timeout_s``: then an empty page), then take what else
    has already arrived, up to the batch size."""
    page: list[Notification] = []
    try:
        item = arrived.get(timeout=timeout_s)
    except queue.Empty:
        return page, None
    while True:
        if isinstance(item, _End):
            return page, item
        page.append(item)
        if len(page) >= batch_events_max:
            return page, None
        try:
            item = arrived.get_nowait()
        except queue.Empty:
            return page, None


@dataclass(frozen=True)
class ViewStatus:
    view_name: str
    position: int
    log_position: int
    failure: Failure | None

    @property
    def lag(self) -> int:
        return self.log_position - self.position


class ViewBehind(Exception):
    """A read asked for a position the view did not reach within its wait."""

    def __init__(self, view_name: str, wanted: int, reached: int, waited_s: float) -> None:
        super().__init__(
            f"view {view_name} is at log position {reached}, not yet at {wanted}, after "
            f"waiting {waited_s:.1f} s: is its runner running?")
        self.view_name = view_name
        self.wanted = wanted
        self.reached = reached


def wait_until_applied(
    runner: Runner, projection: BatchingProjection[Any], position: int, *, timeout_s: float,
    poll_s: float = WAIT_POLL_S,
) -> int:
    """Read-your-writes: return once the view has applied ``position``, else ``ViewBehind``.

    A command hands back the position it wrote (``WriteContext.position``); a read
    that must see that write waits here, bounded, instead of the writer waiting for every
    view. A view that failed on an event stops the wait at once with that failure.
    """
    if timeout_s > WAIT_S_MAX or timeout_s < 0:
        raise ValueError(f"a wait is between 0 and {WAIT_S_MAX} s, not {timeout_s}")
    deadline = time.monotonic() + timeout_s
    while True:
        reached = runner.position(projection)
        if reached >= position:
            return reached
        failure = projection.view.failure()
        if failure is not None and failure.notification_id <= position:
            raise ProjectionFailed(failure)
        left_s = deadline - time.monotonic()
        if left_s <= 0:
            raise ViewBehind(projection.view.view_name, position, reached, timeout_s)
        time.sleep(min(poll_s, left_s))


def view_status(runner: Runner, projection: BatchingProjection[Any]) -> ViewStatus:
    return ViewStatus(projection.view.view_name, runner.position(projection),
                      runner.log_position(), projection.view.failure())


def rebuild(
    runner: Runner, projection: BatchingProjection[Any], *, progress: Progress | None = None,
    batch_events_max: int | None = None,
) -> int:
    """Drop the view and apply the log from event one; ``ViewBusy`` while runners hold it.

    The view's secondary indexes are built once at the end rather than row by row."""
    with projection.view.lock(exclusive=True):
        projection.view.drop()
        with projection.view.deferred_indexes():
            return runner.catch_up(projection, batch_events_max=batch_events_max,
                                   progress=progress)


def runners_lock(projection: BatchingProjection[Any]) -> AbstractContextManager[None]:
    """The view's lock as its runners share it (see ``projections.view_locks``)."""
    return projection.view.lock(exclusive=False)


def open_projection(app: Application[UUID], projection_class: type[TProjection]) -> TProjection:
    """The view on the application's own store, its tables created if missing."""
    recorder = app.recorder
    view: ViewRecorder[Any]
    if isinstance(recorder, PostgresApplicationRecorder):
        view = projection_class.postgres_recorder(recorder.datastore)
    elif isinstance(recorder, SQLiteApplicationRecorder):
        view = projection_class.sqlite_recorder(recorder.datastore)
    else:  # pragma: no cover - the ledger runs on these two stores only
        raise TypeError(f"no view recorder for {type(recorder).__name__}")
    view.create_table()
    return projection_class(view)
