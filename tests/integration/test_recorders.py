"""The fund recorders on both stores: references, large one-transaction saves, bulk reads."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import psycopg
import pytest
from eventsourcing.persistence import (
    DataError,
    InfrastructureFactory,
    IntegrityError,
    OperationalError,
    StoredEvent,
)
from eventsourcing.utils import Environment

from ledger.persistence.postgres import (
    FundPostgresAggregateRecorder,
    FundPostgresApplicationRecorder,
    FundPostgresFactory,
)
from ledger.persistence.references import PostingReference
from ledger.persistence.sqlite import (
    FundSQLiteAggregateRecorder,
    FundSQLiteApplicationRecorder,
    FundSQLiteFactory,
)
from ledger.settings import Settings

T = TypeVar("T")

TOPIC = "tests.integration.test_recorders:Posted"
HANG_TIMEOUT_S = 60.0

AppRecorder = FundPostgresApplicationRecorder | FundSQLiteApplicationRecorder
SnapshotRecorder = FundPostgresAggregateRecorder | FundSQLiteAggregateRecorder


@dataclass
class Recorders:
    app: AppRecorder
    snapshots: SnapshotRecorder


@contextmanager
def make_recorders(db_url: str, **extra_env: str) -> Iterator[Recorders]:
    env = Settings(db=db_url).eventsourcing_env()
    # Recorders never transcode; don't depend on the transcoder module here.
    env.pop("TRANSCODER_TOPIC", None)
    env.update(extra_env)
    factory = InfrastructureFactory.construct(Environment(name="FundLedger", env=env))
    assert isinstance(factory, FundPostgresFactory | FundSQLiteFactory)
    try:
        app = factory.application_recorder()
        snapshots = factory.aggregate_recorder("snapshots")
        yield Recorders(app=app, snapshots=snapshots)
    finally:
        factory.close()


@pytest.fixture
def recorders(db_url: str) -> Iterator[Recorders]:
    with make_recorders(db_url) as made:
        yield made


def within_timeout(func: Callable[[], T], timeout: float = HANG_TIMEOUT_S) -> T:
    """Run ``func`` in a thread; a hang fails the test instead of blocking the run."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = func()
        except BaseException as error:
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"call did not return within {timeout:.0f} s (hung?)")
    if "error" in outcome:
        error = outcome["error"]
        assert isinstance(error, BaseException)
        raise error
    return outcome["value"]  # type: ignore[return-value]


def state_of(size: int, tag: int) -> bytes:
    head = f'{{"line":{tag},"memo":"'.encode()
    return head + b"m" * max(0, size - len(head) - 2) + b'"}'


def make_batch(
    n_events: int, *, versions_per_id: int = 4, state_size: int = 300, prefix: str = "bank"
) -> tuple[list[StoredEvent], list[PostingReference]]:
    """``n_events`` events over ``n_events / versions_per_id`` new ids, one reference each."""
    events: list[StoredEvent] = []
    references: list[PostingReference] = []
    originator_id = uuid.uuid4()
    for i in range(n_events):
        version = i % versions_per_id + 1
        if version == 1:
            originator_id = uuid.uuid4()
        events.append(StoredEvent(originator_id, version, TOPIC, state_of(state_size, i)))
        references.append(
            PostingReference(
                reference=f"{prefix}-{uuid.uuid4().hex}",
                kind="bank-line",
                digest=f"{i:064x}",
                originator_id=originator_id,
                originator_version=version,
            )
        )
    return events, references


def assert_recorded(
    app: AppRecorder,
    events: list[StoredEvent],
    references: list[PostingReference],
    notification_ids: object,
) -> None:
    assert isinstance(notification_ids, list | tuple)
    ids = list(notification_ids)
    assert len(ids) == len(events)
    assert ids == list(range(ids[0], ids[0] + len(events))), "ids must be contiguous, in order"
    assert app.max_notification_id() == ids[-1]
    notifications = app.select_notifications(ids[0], limit=len(events))
    assert [n.id for n in notifications] == ids
    assert [(n.originator_id, n.originator_version, n.state) for n in notifications] == [
        (e.originator_id, e.originator_version, e.state) for e in events
    ]
    found = app.select_references([r.reference for r in references])
    assert found == {r.reference: r for r in references}


def test_factory_builds_the_fund_recorders(recorders: Recorders) -> None:
    assert isinstance(
        recorders.app, FundPostgresApplicationRecorder | FundSQLiteApplicationRecorder
    )
    assert isinstance(
        recorders.snapshots, FundPostgresAggregateRecorder | FundSQLiteAggregateRecorder
    )


def test_small_save_records_events_and_references(recorders: Recorders) -> None:
    app = recorders.app
    first, first_refs = make_batch(3)
    ids = app.insert_events(first, references=first_refs)
    assert_recorded(app, first, first_refs, ids)
    second, second_refs = make_batch(5)
    more_ids = app.insert_events(second, references=second_refs)
    assert_recorded(app, second, second_refs, more_ids)
    assert isinstance(ids, list) and isinstance(more_ids, list)
    assert more_ids[0] == ids[-1] + 1
    # A save without references still works.
    third, _ = make_batch(2)
    assert_recorded(app, third, [], app.insert_events(third))


def forbid_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any use of psycopg's pipeline mode fail (the large-save hang lives there)."""

    def pipeline(*_: object, **__: object) -> None:
        raise AssertionError("a large save must not use psycopg's pipeline mode")

    monkeypatch.setattr(psycopg.Connection, "pipeline", pipeline)


def test_large_save_commits_in_one_transaction_without_hanging(
    recorders: Recorders, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = recorders.app
    before, before_refs = make_batch(2)
    app.insert_events(before, references=before_refs)
    max_before = app.max_notification_id()
    assert max_before is not None

    events, references = make_batch(6_000, state_size=300)
    assert sum(len(e.state) for e in events) > 1_700_000  # well over the pipeline hazard
    # The hang does not reproduce on every machine, so also check the path taken.
    forbid_pipeline(monkeypatch)
    ids = within_timeout(lambda: app.insert_events(events, references=references))

    assert_recorded(app, events, references, ids)
    assert isinstance(ids, list)
    assert ids[0] == max_before + 1


def test_fifty_thousand_events_insert_quickly(recorders: Recorders) -> None:
    app = recorders.app
    events, references = make_batch(50_000, versions_per_id=10, state_size=200)
    started = time.perf_counter()
    ids = within_timeout(lambda: app.insert_events(events, references=references))
    elapsed = time.perf_counter() - started
    assert isinstance(ids, list)
    assert ids == list(range(ids[0], ids[0] + 50_000))
    assert app.max_notification_id() == ids[-1]
    assert len(app.select_references([r.reference for r in references])) == 50_000
    assert elapsed < 20, f"50,000 events took {elapsed:.1f} s"


@pytest.mark.parametrize("size", [3, 6_000], ids=["small", "large"])
def test_duplicate_reference_fails_the_whole_save(recorders: Recorders, size: int) -> None:
    app = recorders.app
    existing, existing_refs = make_batch(2)
    app.insert_events(existing, references=existing_refs)
    max_before = app.max_notification_id()

    events, references = make_batch(size)
    duplicate = PostingReference(
        reference=existing_refs[0].reference,
        kind="bank-line",
        digest="another digest",
        originator_id=references[-1].originator_id,
        originator_version=references[-1].originator_version,
    )
    references[-1] = duplicate

    with pytest.raises(IntegrityError):
        within_timeout(lambda: app.insert_events(events, references=references))

    assert app.max_notification_id() == max_before
    assert app.select_references([r.reference for r in references[:-1]]) == {}
    assert app.select_streams({r.originator_id: 0 for r in references}) == {
        r.originator_id: [] for r in references
    }
    # The existing reference is untouched.
    assert app.select_references([duplicate.reference]) == {duplicate.reference: existing_refs[0]}
    # And the store still takes a good save afterwards.
    good, good_refs = make_batch(size)
    assert_recorded(app, good, good_refs, app.insert_events(good, references=good_refs))


def test_duplicate_reference_within_one_save_fails_it(recorders: Recorders) -> None:
    app = recorders.app
    events, references = make_batch(4)
    references[-1] = PostingReference(
        references[0].reference, "bank-line", "d", references[-1].originator_id, 4
    )
    with pytest.raises(IntegrityError):
        app.insert_events(events, references=references)
    assert app.max_notification_id() is None
    assert app.select_references([r.reference for r in references]) == {}


@pytest.mark.parametrize("size", [3, 6_000], ids=["small", "large"])
def test_duplicate_event_fails_the_save_and_its_references(recorders: Recorders, size: int) -> None:
    app = recorders.app
    existing, existing_refs = make_batch(1)
    app.insert_events(existing, references=existing_refs)
    max_before = app.max_notification_id()
    events, references = make_batch(size)
    events[-1] = existing[0]
    with pytest.raises(IntegrityError):
        app.insert_events(events, references=references)
    assert app.select_references([r.reference for r in references]) == {}
    assert app.max_notification_id() == max_before
    assert app.select_streams({r.originator_id: 0 for r in references}) == {
        r.originator_id: [] for r in references
    }


def test_large_save_ids_are_the_rows_ids_across_sequence_gaps(recorders: Recorders) -> None:
    """PostgreSQL's large path derives its ids from the notification_id sequence: check them
    on a never-used sequence, and after failed saves drew values that no row kept."""
    app = recorders.app
    first, first_refs = make_batch(1_200)
    first_ids = app.insert_events(first, references=first_refs)
    assert_recorded(app, first, first_refs, first_ids)
    assert isinstance(first_ids, list) and first_ids[0] == 1

    for size in (3, 2_000):  # a failed small save and a failed large save
        failing, failing_refs = make_batch(size)
        failing_refs[-1] = first_refs[0]
        with pytest.raises(IntegrityError):
            app.insert_events(failing, references=failing_refs)
    assert app.max_notification_id() == first_ids[-1]

    after, after_refs = make_batch(1_500)
    after_ids = app.insert_events(after, references=after_refs)
    assert_recorded(app, after, after_refs, after_ids)
    assert isinstance(after_ids, list) and after_ids[0] > first_ids[-1]
    # And a small save after a large one continues from it.
    small, small_refs = make_batch(2)
    small_ids = app.insert_events(small, references=small_refs)
    assert_recorded(app, small, small_refs, small_ids)
    assert isinstance(small_ids, list) and small_ids[0] > after_ids[-1]


def test_concurrent_large_saves_each_get_their_own_rows_ids(recorders: Recorders) -> None:
    app = recorders.app
    batches = [make_batch(n, prefix=f"t{n}") for n in (1_000, 1_500, 2_000, 3)]
    results: dict[int, object] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(batches))

    def save(index: int) -> None:
        events, references = batches[index]
        try:
            start.wait()
            results[index] = app.insert_events(events, references=references)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HANG_TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads), "a save hung"
    assert errors == []
    all_ids: set[int] = set()
    for index, (events, references) in enumerate(batches):
        ids = results[index]
        assert isinstance(ids, list)
        notifications = app.select_notifications(ids[0], limit=len(events))
        assert [n.id for n in notifications] == ids
        assert [(n.originator_id, n.originator_version) for n in notifications] == [
            (e.originator_id, e.originator_version) for e in events
        ]
        assert app.select_references([r.reference for r in references]) == {
            r.reference: r for r in references
        }
        all_ids.update(ids)
    assert len(all_ids) == sum(len(events) for events, _ in batches)


def test_a_reader_tailing_the_log_during_concurrent_saves_misses_no_event(
    recorders: Recorders,
) -> None:
    """What a downstream subscriber relies on: reading on from the last id it saw never skips
    an event. Ids are drawn as rows are inserted, so without the table lock a save could
    commit id 7 while id 6 was still uncommitted, and a reader past 7 would never see 6."""
    app = recorders.app
    writers, saves_each = 6, 30
    start = threading.Barrier(writers + 1)
    done = threading.Event()
    errors: list[BaseException] = []
    seen: list[int] = []

    def write(index: int) -> None:
        try:
            start.wait()
            for n in range(saves_each):
                size = 700 if n % 10 == 9 else 1 + n % 3  # now and then a large save
                events, references = make_batch(size, prefix=f"w{index}-{n}")
                app.insert_events(events, references=references)
        except BaseException as error:
            errors.append(error)

    def read() -> None:
        last = 0
        start.wait()
        while True:
            finished = done.is_set()  # read once more after the writers are done
            while page := app.select_notifications(last + 1, limit=500):
                seen.extend(n.id for n in page)
                last = page[-1].id
            if finished:
                return

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    reader = threading.Thread(target=read)
    for thread in [*threads, reader]:
        thread.start()
    for thread in threads:
        thread.join(HANG_TIMEOUT_S)
    done.set()
    reader.join(HANG_TIMEOUT_S)
    assert not any(t.is_alive() for t in [*threads, reader]), "a save or the reader hung"
    assert errors == []
    everything = [n.id for n in app.select_notifications(1, limit=1_000_000)]
    assert len(everything) == writers * sum(
        700 if n % 10 == 9 else 1 + n % 3 for n in range(saves_each))
    assert seen == everything


def test_postgres_large_save_and_bulk_reads_with_text_originator_ids(pg_url: str) -> None:
    with make_recorders(pg_url, ORIGINATOR_ID_TYPE="text") as made:
        app, snapshots = made.app, made.snapshots
        assert isinstance(app, FundPostgresApplicationRecorder)
        assert isinstance(snapshots, FundPostgresAggregateRecorder)
        assert app.datastore.originator_id_type == "text"
        events, references = make_batch(1_200)
        # Ids that are not UUIDs too (without references: those name UUIDs).
        events += [StoredEvent(f"account-{i}", 1, TOPIC, state_of(50, i)) for i in range(30)]
        ids = app.insert_events(events, references=references)
        assert isinstance(ids, list) and len(ids) == len(events)
        notifications = app.select_notifications(ids[0], limit=len(events))
        assert [n.id for n in notifications] == ids
        # The library stores a UUID as its hex in a text column, and reads back that string.
        stored_ids = [
            e.originator_id.hex if isinstance(e.originator_id, uuid.UUID) else e.originator_id
            for e in events
        ]
        assert [(n.originator_id, n.originator_version, n.state) for n in notifications] == [
            (oid, e.originator_version, e.state) for oid, e in zip(stored_ids, events, strict=True)
        ]
        assert app.select_references([r.reference for r in references]) == {
            r.reference: r for r in references
        }
        oid = references[0].originator_id
        streams = app.select_streams({oid: 1})
        assert [(e.originator_id, e.originator_version) for e in streams[oid]] == [
            (oid.hex, v) for v in (2, 3, 4)
        ]

        snapshot_ids = [uuid.uuid4() for _ in range(3)]
        snapshots.insert_events(
            [StoredEvent(s, v, TOPIC, state_of(30, v)) for s in snapshot_ids for v in (5, 9)]
        )
        latest = snapshots.select_latest_many([*snapshot_ids, uuid.uuid4()])
        assert latest == {s: StoredEvent(s.hex, 9, TOPIC, state_of(30, 9)) for s in snapshot_ids}


@pytest.mark.parametrize("size", [3, 2_000], ids=["small", "large"])
def test_postgres_save_of_a_version_beyond_bigint_leaves_nothing(pg_url: str, size: int) -> None:
    # Fails in the client: before the function call is sent, or in the middle of the COPY
    # (which is then aborted and rolled back).
    with make_recorders(pg_url) as made:
        app = made.app
        events, references = make_batch(size)
        events[size // 2] = StoredEvent(events[size // 2].originator_id, 2**63, TOPIC, b"{}")
        with pytest.raises(DataError):
            app.insert_events(events, references=references)
        assert app.max_notification_id() is None
        assert app.select_references([r.reference for r in references]) == {}
        good, good_refs = make_batch(size)
        assert_recorded(app, good, good_refs, app.insert_events(good, references=good_refs))


def test_postgres_small_save_with_text_originator_ids(pg_url: str) -> None:
    with make_recorders(pg_url, ORIGINATOR_ID_TYPE="text") as made:
        app = made.app
        events, references = make_batch(4)
        events += [StoredEvent("account-1", 1, TOPIC, state_of(50, 1))]
        ids = app.insert_events(events, references=references)
        assert isinstance(ids, list) and len(ids) == len(events)
        notifications = app.select_notifications(ids[0], limit=len(events))
        assert [(n.id, n.originator_id, n.originator_version) for n in notifications] == [
            (i, e.originator_id.hex if isinstance(e.originator_id, uuid.UUID)
             else e.originator_id, e.originator_version)
            for i, e in zip(ids, events, strict=True)
        ]
        assert app.select_references([r.reference for r in references]) == {
            r.reference: r for r in references
        }


@contextmanager
def events_table_locked(app: FundPostgresApplicationRecorder, pg_url: str) -> Iterator[None]:
    """Another session holding the events table's EXCLUSIVE lock, as a writer mid-save does
    (its own connection: the ledger's pooled ones end a transaction left idle)."""
    with psycopg.connect(pg_url.split("?")[0]) as holder:
        holder.execute(f'LOCK TABLE "{app.datastore.schema}"."{app.events_table_name}" '
                       "IN EXCLUSIVE MODE")
        yield


@pytest.mark.parametrize("size", [3, 6_000], ids=["small", "large"])
def test_postgres_save_waits_for_the_events_table_lock(pg_url: str, size: int) -> None:
    """The lock is what keeps notification ids in commit order for subscribers: a save
    takes it, so it waits while another writer holds it, and then goes in after."""
    with make_recorders(pg_url) as made:
        app = made.app
        assert isinstance(app, FundPostgresApplicationRecorder)
        events, references = make_batch(size)
        done = threading.Event()
        outcome: list[object] = []

        def save() -> None:
            outcome.append(app.insert_events(events, references=references))
            done.set()

        with events_table_locked(app, pg_url):
            thread = threading.Thread(target=save, daemon=True)
            thread.start()
            assert not done.wait(1.0), "the save went in while the table was locked"
        assert done.wait(HANG_TIMEOUT_S)
        assert_recorded(app, events, references, outcome[0])


def test_postgres_small_save_gives_up_after_the_lock_timeout(pg_url: str) -> None:
    with make_recorders(pg_url, POSTGRES_LOCK_TIMEOUT="1") as made:
        app = made.app
        assert isinstance(app, FundPostgresApplicationRecorder)
        events, references = make_batch(3)
        locked = events_table_locked(app, pg_url)
        with locked, pytest.raises(OperationalError, match="lock timeout"):
            within_timeout(lambda: app.insert_events(events, references=references))
        assert app.max_notification_id() is None
        assert app.select_references([r.reference for r in references]) == {}


def test_postgres_small_save_notifies_listeners(pg_url: str) -> None:
    with make_recorders(pg_url) as made:
        app = made.app
        assert isinstance(app, FundPostgresApplicationRecorder)
        # The channel belongs to the database, not to the test's schema.
        with psycopg.connect(pg_url.split("?")[0], autocommit=True) as listener:
            listener.execute(f'LISTEN "{app.channel_name}"')
            events, references = make_batch(2)
            app.insert_events(events, references=references)
            heard = list(listener.notifies(timeout=10, stop_after=1))
        assert [n.channel for n in heard] == [app.channel_name]


def test_select_references_ignores_unknown_and_rejects_a_bare_string(
    recorders: Recorders,
) -> None:
    app = recorders.app
    assert app.select_references([]) == {}
    events, references = make_batch(1_200, versions_per_id=1, prefix="many")
    app.insert_events(events, references=references)
    wanted = [r.reference for r in references] + [f"unknown-{i}" for i in range(300)]
    assert app.select_references(wanted) == {r.reference: r for r in references}
    with pytest.raises(TypeError):
        app.select_references(references[0].reference)


def test_select_streams_on_the_application_recorder(recorders: Recorders) -> None:
    app = recorders.app
    # 900 ids with 1..4 events each (crosses SQLite's query chunks), 150 without.
    with_events = [uuid.uuid4() for _ in range(900)]
    events = [
        StoredEvent(oid, version, TOPIC, state_of(40, version))
        for n, oid in enumerate(with_events)
        for version in range(1, n % 4 + 2)
    ]
    # Interleave aggregates so versions are not stored contiguously per id.
    events.sort(key=lambda e: (e.originator_version, e.originator_id))
    app.insert_events(events)
    without_events = [uuid.uuid4() for _ in range(150)]

    after = {oid: n % 3 for n, oid in enumerate(with_events)}
    after.update(dict.fromkeys(without_events, 0))
    streams = app.select_streams(after)

    assert set(streams) == set(after)
    for n, oid in enumerate(with_events):
        expected = list(range(after[oid] + 1, n % 4 + 2))
        assert [e.originator_version for e in streams[oid]] == expected
        assert all(e.originator_id == oid and e.topic == TOPIC for e in streams[oid])
        assert all(e.state == state_of(40, e.originator_version) for e in streams[oid])
    for oid in without_events:
        assert streams[oid] == []
    assert app.select_streams({}) == {}


def test_bulk_reads_on_the_snapshot_recorder(recorders: Recorders) -> None:
    snapshots = recorders.snapshots
    with_snapshots = [uuid.uuid4() for _ in range(700)]
    stored = [
        StoredEvent(oid, version, TOPIC, state_of(60, version))
        for n, oid in enumerate(with_snapshots)
        for version in (50, 100, 150)[: n % 3 + 1]
    ]
    snapshots.insert_events(stored)
    without_snapshots = [uuid.uuid4() for _ in range(120)]
    wanted = with_snapshots + without_snapshots

    latest = snapshots.select_latest_many(wanted)
    assert set(latest) == set(with_snapshots)
    for n, oid in enumerate(with_snapshots):
        top = (50, 100, 150)[n % 3]
        assert latest[oid] == StoredEvent(oid, top, TOPIC, state_of(60, top))
    assert snapshots.select_latest_many([]) == {}
    # Duplicated ids in the request are harmless.
    assert snapshots.select_latest_many(with_snapshots[:2] * 2) == {
        oid: latest[oid] for oid in with_snapshots[:2]
    }

    streams = snapshots.select_streams(dict.fromkeys(wanted, 60))
    assert set(streams) == set(wanted)
    for n, oid in enumerate(with_snapshots):
        assert [e.originator_version for e in streams[oid]] == [100, 150][: n % 3]
    assert all(streams[oid] == [] for oid in without_snapshots)


@pytest.mark.parametrize("id_type", ["uuid", "text"])
def test_postgres_one_statement_read_equals_the_two_bulk_reads(pg_url: str, id_type: str) -> None:
    """A single posting's load (snapshot and later events at once), and a ballot's few ids
    in one statement, read what the bulk reads give: with no snapshot, a snapshot
    mid-stream, one at the head, and no events."""
    with make_recorders(pg_url, ORIGINATOR_ID_TYPE=id_type) as made:
        app, snapshots = made.app, made.snapshots
        assert isinstance(app, FundPostgresApplicationRecorder)
        assert isinstance(snapshots, FundPostgresAggregateRecorder)
        ids = [uuid.uuid4() for _ in range(4)]
        events = [StoredEvent(oid, v, TOPIC, state_of(40, v)) for oid in ids[:3]
                  for v in range(1, 8)]
        app.insert_events(events)
        snapshots.insert_events([
            StoredEvent(ids[1], 3, TOPIC, state_of(30, 3)),
            StoredEvent(ids[1], 5, TOPIC, state_of(30, 5)),
            StoredEvent(ids[2], 7, TOPIC, state_of(30, 7)),
        ])
        latest = snapshots.select_latest_many(ids)
        after = {oid: latest[oid].originator_version if oid in latest else 0 for oid in ids}
        streams = app.select_streams(after)
        for oid in ids:
            snapshot, stream = app.select_snapshot_and_stream(oid, snapshots.events_table_name)
            assert (snapshot, stream) == (latest.get(oid), streams[oid])
        # A ballot's few ids at once, asked in any order and one twice: the same per id.
        asked = [ids[3], ids[1], ids[0], ids[1], ids[2]]
        few_snapshots, few_streams = app.select_snapshots_and_streams(
            asked, snapshots.events_table_name)
        assert few_snapshots == latest and few_streams == streams
        with pytest.raises(ValueError, match=f"at most {app.FEW_IDS_MAX} ids"):
            app.select_snapshots_and_streams([uuid.uuid4() for _ in range(app.FEW_IDS_MAX + 1)],
                                             snapshots.events_table_name)
        assert [e.originator_version for e in streams[ids[0]]] == list(range(1, 8))
        assert [e.originator_version for e in streams[ids[1]]] == [6, 7]
        assert streams[ids[2]] == [] and streams[ids[3]] == []
        assert latest[ids[1]].originator_version == 5


@pytest.mark.parametrize("id_type", ["uuid", "text"])
def test_postgres_notifications_read_as_the_library_reads_them(pg_url: str, id_type: str) -> None:
    """Our faster ``select_notifications`` gives the library's rows for every argument shape."""
    from eventsourcing.postgres import PostgresApplicationRecorder

    with make_recorders(pg_url, ORIGINATOR_ID_TYPE=id_type) as made:
        app = made.app
        assert isinstance(app, FundPostgresApplicationRecorder)
        events, _ = make_batch(40, state_size=60)
        other = "tests.integration.test_recorders:Other"
        events += [StoredEvent(uuid.uuid4() if id_type == "uuid" else f"t-{i}", 1, other,
                               state_of(30, i)) for i in range(10)]
        app.insert_events(events)
        shapes: list[tuple[tuple[object, ...], dict[str, bool]]] = [
            ((None, 100), {}), ((5, 100), {}), ((5, 100), {"inclusive_of_start": False}),
            ((5, 7, 30), {}), ((None, 100, None, [other]), {}),
            ((3, 4, 45, (TOPIC, other)), {"inclusive_of_start": False}), ((10_000, 10), {}),
        ]
        for args, kwargs in shapes:
            ours = app.select_notifications(*args, **kwargs)  # type: ignore[arg-type]
            library = PostgresApplicationRecorder.select_notifications(
                app, *args, **kwargs)  # type: ignore[arg-type]
            assert ours == library, (args, kwargs)
            assert all(type(n.state) is bytes for n in ours)
        assert [n.topic for n in app.select_notifications(None, 100, topics=[other])] == (
            [other] * 10)
