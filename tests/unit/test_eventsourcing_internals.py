"""What fundledger relies on in eventsourcing beyond its public API still holds.

``domain/eventsourcing_internals.py`` holds every reach into the library's private parts;
this checks each against the installed library, so that an upgrade which changes one fails
here, naming it, instead of somewhere far away (or not at all). The fast event decoder's
equality with the library's is in tests/integration/test_event_decoder_matches_library.py.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import re
import tomllib
from datetime import UTC, date, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate, BaseAggregate
from eventsourcing.persistence import Notification, Recording, StoredEvent, Tracking
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresRecorder,
    PostgresTrackingRecorder,
)
from eventsourcing.sqlite import (
    SQLiteAggregateRecorder,
    SQLiteApplicationRecorder,
    SQLiteRecorder,
    SQLiteTrackingRecorder,
)

from domain.community import Community
from domain.eventsourcing_internals import (
    LIBRARY_AGGREGATE_ATTRIBUTES,
    PINNED_VERSION,
    build_frozen,
    cache_saved,
    notify_saved,
    trigger_event_quickly,
)
from domain.unit_account import MoneyMoved, UnitAccount
from ledger.application import FundLedger
from ledger.base import LedgerBase

ROOT = Path(__file__).resolve().parents[2]
HEADER = ("originator_id", "originator_version", "timestamp")


# -- the version ------------------------------------------------------------------------------


def test_the_installed_eventsourcing_is_the_pinned_version() -> None:
    assert version("eventsourcing") == PINNED_VERSION, (
        "eventsourcing is not the version domain/eventsourcing_internals.py was checked "
        "against: run this module's tests and update PINNED_VERSION only when they pass")


def test_pyproject_pins_the_version_the_internals_were_checked_against() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = [d for d in project["project"]["dependencies"] if d.startswith("eventsourcing")]
    assert [re.sub(r"\[.*\]", "", d) for d in pins] == [f"eventsourcing=={PINNED_VERSION}"]


# -- an aggregate's private attributes -------------------------------------------------------


def registered_account() -> UnitAccount:
    return UnitAccount.register(
        community_code="C1", building="1", unit="101", area_m2_hundredths=8_950,
        area_source="register", owner_ids=["o1"], effective_date=date(2026, 1, 1), actor="a")


def test_an_aggregates_library_attributes_are_the_ones_named() -> None:
    assert sorted(vars(Aggregate())) == sorted(LIBRARY_AGGREGATE_ATTRIBUTES)
    account = registered_account()
    assert set(LIBRARY_AGGREGATE_ATTRIBUTES) <= set(vars(account))


def test_the_private_attributes_hold_what_the_properties_give() -> None:
    account = registered_account()
    assert account._id == account.id
    assert account._version == account.version == 1
    assert account._created_on == account.created_on
    assert account._modified_on == account.modified_on
    # What trigger_event_quickly appends to is what collect_events hands to a save.
    assert account._pending_events == account.pending_events
    extra = MoneyMoved(originator_id=account.id, originator_version=2,
                       timestamp=datetime.now(UTC), amount_fen=1, bank_delta_fen=1,
                       effective_date=date(2026, 1, 2), reference="r", actor="a")
    account._pending_events.append(extra)
    assert account.collect_events()[-1] is extra
    assert account._pending_events == []


# -- the quicker trigger_event ------------------------------------------------------------------


def test_unit_account_triggers_its_events_the_quicker_way() -> None:
    assert UnitAccount.trigger_event is trigger_event_quickly
    # The library's only extra step is for classes with an explicit TOPIC.
    assert not getattr(UnitAccount, "TOPIC", None)
    assert not getattr(Community, "TOPIC", None)


def test_the_quicker_trigger_event_gives_what_the_librarys_gives() -> None:
    quick = registered_account()
    library = copy.deepcopy(quick)
    quick.collect_events()
    library.collect_events()
    quick.pay_first_deposit(amount_fen=17_900, rate_fen_per_m2=200,
                            effective_date=date(2026, 1, 2), reference="r1", actor="a")
    quick.top_up(amount_fen=5, effective_date=date(2026, 2, 1), reference="r2", actor="a",
                 reraise_threshold_percent=30)
    quick.sell(buyer_owner_ids=["o3"], effective_date=date(2026, 3, 1), reference="s",
               actor="a")
    quick_events = quick.collect_events()
    assert len(quick_events) == 3
    for event in quick_events:
        fields = {k: v for k, v in vars(event).items() if k not in HEADER}
        BaseAggregate.trigger_event(library, type(event), timestamp=event.timestamp, **fields)
    library_events = library.collect_events()
    assert [type(e) for e in library_events] == [type(e) for e in quick_events]
    assert [vars(e) for e in library_events] == [vars(e) for e in quick_events]
    assert vars(library) == vars(quick)


def test_the_quicker_trigger_event_stamps_the_time_and_names_a_bad_argument() -> None:
    account = registered_account()
    before = datetime.now(UTC)
    trigger_event_quickly(account, MoneyMoved, timestamp=None, amount_fen=1, bank_delta_fen=1,
                          effective_date=date(2026, 1, 2), reference="r", actor="a")
    (_, event) = account.collect_events()
    assert isinstance(event.timestamp, datetime) and event.timestamp >= before
    assert event.originator_version == account.version == 2
    with pytest.raises(TypeError) as quick_error:
        trigger_event_quickly(account, MoneyMoved, amount_fen=1)
    with pytest.raises(TypeError) as library_error:
        BaseAggregate.trigger_event(account, MoneyMoved, amount_fen=1)
    assert str(quick_error.value) == str(library_error.value)
    assert account.version == 2 and account.pending_events == []


# -- frozen dataclasses built without __init__ -------------------------------------------------

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
ID = uuid4()
# Each library class we build without __init__, made the normal way, and the fields our
# callers hand over (ledger/persistence/postgres.py, projections/runner.py).
BUILT: list[tuple[Any, tuple[str, ...]]] = [
    (StoredEvent(ID, 3, "domain.x:Y", b"{}"),
     ("originator_id", "originator_version", "topic", "state")),
    (Notification(id=7, originator_id=ID, originator_version=3, topic="domain.x:Y",
                  state=b"{}"),
     ("id", "originator_id", "originator_version", "topic", "state")),
    (Tracking("FundLedger", 7), ("application_name", "notification_id")),
]


@pytest.mark.parametrize("normal, fields", BUILT, ids=[type(n).__name__ for n, _ in BUILT])
def test_build_frozen_equals_the_constructor_for_library_classes(
    normal: Any, fields: tuple[str, ...]
) -> None:
    cls = type(normal)
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    # The fields, whatever their order (a __dict__'s order changes no comparison or repr).
    assert sorted(f.name for f in dataclasses.fields(cls)) == sorted(fields)
    # __init__ is skipped, so nothing may happen after it; and the state must be a __dict__.
    assert not hasattr(cls, "__post_init__")
    assert all("__slots__" not in vars(c) for c in cls.__mro__[:-1])
    built = build_frozen(cls, dict(vars(normal)))
    assert type(built) is cls
    assert built == normal and hash(built) == hash(normal)
    assert vars(built) == vars(normal)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.topic = "changed"


def test_build_frozen_equals_the_domain_events_it_decodes() -> None:
    account = registered_account()
    account.pay_first_deposit(amount_fen=17_900, rate_fen_per_m2=200,
                              effective_date=date(2026, 1, 2), reference="r1", actor="a")
    for event in account.collect_events():
        built = build_frozen(type(event), dict(vars(event)))
        assert type(built) is type(event) and built == event and vars(built) == vars(event)


# -- the steps of Application.save that LedgerBase._save takes itself -------------------------


class SpiedApplication(Application[Any]):
    """Records which of save's steps run, in order, with what."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env=env)
        self.calls: list[tuple[str, Any]] = []

    def _record(self, processing_event: ProcessingEvent[Any]) -> list[Recording[Any]]:
        self.calls.append(("_record", processing_event))
        return super()._record(processing_event)

    def _take_snapshots(self, processing_event: ProcessingEvent[Any]) -> None:
        self.calls.append(("_take_snapshots", processing_event))
        super()._take_snapshots(processing_event)

    def _notify(self, recordings: list[Recording[Any]]) -> None:
        self.calls.append(("_notify", recordings))

    def notify(self, new_events: list[Any]) -> None:
        self.calls.append(("notify", new_events))


def test_application_save_takes_the_steps_ledger_base_save_takes() -> None:
    app = SpiedApplication()
    inserted: list[dict[str, Any]] = []
    insert_events = app.recorder.insert_events

    def spy(stored_events: Any, **kwargs: Any) -> Any:
        inserted.append(kwargs)
        return insert_events(stored_events, **kwargs)

    app.recorder.insert_events = spy  # type: ignore[method-assign]
    aggregate = Aggregate()
    pending = list(aggregate.pending_events)
    recordings = app.save(aggregate, extra="passed through")
    assert [name for name, _ in app.calls] == ["_record", "_take_snapshots", "_notify", "notify"]
    processing = app.calls[0][1]
    assert app.calls[1][1] is processing
    assert processing.events == pending
    assert processing.aggregates == {aggregate.id: aggregate}
    assert processing.saved_kwargs == {"extra": "passed through"}
    # Recorded in one insert, with the tracking and the saved keyword arguments.
    assert inserted == [{"tracking": None, "extra": "passed through"}]
    assert app.calls[2][1] == recordings
    assert [r.domain_event for r in recordings] == pending


@pytest.mark.parametrize("env", [
    {},
    {"AGGREGATE_CACHE_MAXSIZE": "10"},
    {"AGGREGATE_CACHE_MAXSIZE": "10", "AGGREGATE_CACHE_FASTFORWARD": "n"},
], ids=["no cache", "cache, fast-forwarding", "cache"])
def test_cache_saved_caches_as_the_librarys_record_does(env: dict[str, str]) -> None:
    library, ours = Application[Any](env=env), Application[Any](env=env)
    aggregate = Aggregate()
    library.save(copy.deepcopy(aggregate))
    cache_saved(ours, {aggregate.id: aggregate})

    def cached(app: Application[Any]) -> bool:
        cache = app.repository.cache
        if cache is None:
            return False
        try:
            cache.get(aggregate.id)
        except KeyError:
            return False
        return True

    assert cached(ours) == cached(library)
    assert cached(ours) == ("AGGREGATE_CACHE_MAXSIZE" in env
                            and env.get("AGGREGATE_CACHE_FASTFORWARD") == "n")


def test_the_librarys_notify_hooks_do_nothing_and_the_ledger_keeps_them() -> None:
    # notify_saved calls _notify only when it is overridden: the library's own is empty.
    assert "_notify" in vars(Application)
    assert Application._notify(Application[Any](), []) is None  # type: ignore[func-returns-value]
    # LedgerBase._save skips the deprecated notify(), which is empty unless overridden.
    assert FundLedger.notify is Application.notify
    assert FundLedger._notify is Application._notify


def test_notify_saved_builds_recordings_only_for_an_overridden_notify() -> None:
    built: list[str] = []

    def recordings() -> list[str]:
        built.append("built")
        return ["a recording"]

    notify_saved(Application[Any](), recordings)
    assert built == []
    spied = SpiedApplication()
    notify_saved(spied, recordings)
    assert spied.calls == [("_notify", ["a recording"])]
    with pytest.raises(TypeError):
        notify_saved(object(), recordings)


# -- the library's hooks our subclasses override or call ----------------------------------------

# (library class, hook, its parameters, our module that overrides or calls it)
HOOKS: list[tuple[type[Any], str, tuple[str, ...], str]] = [
    (Application, "_take_snapshots", ("self", "processing_event"), "ledger/base.py"),
    (PostgresRecorder, "_create_table", ("self", "curs"), "ledger/persistence/postgres.py"),
    (PostgresApplicationRecorder, "_insert_events", ("self", "curs", "stored_events", "_"),
     "ledger/persistence/postgres.py"),
    (PostgresApplicationRecorder, "_lock_table", ("self", "curs"),
     "ledger/persistence/postgres.py"),
    (PostgresApplicationRecorder, "_notify_channel", ("self", "curs"),
     "ledger/persistence/postgres.py"),
    (SQLiteApplicationRecorder, "_insert_events", ("self", "c", "stored_events", "_"),
     "ledger/persistence/sqlite.py"),
    (SQLiteApplicationRecorder, "_max_notification_id", ("self", "c"),
     "ledger/persistence/sqlite.py"),
    (SQLiteRecorder, "_create_table", ("self", "c"), "ledger/persistence/sqlite.py"),
]


@pytest.mark.parametrize("cls, name, parameters, user", HOOKS,
                         ids=[f"{c.__name__}.{n}" for c, n, _, _ in HOOKS])
def test_each_library_hook_we_use_exists_with_its_parameters(
    cls: type[Any], name: str, parameters: tuple[str, ...], user: str
) -> None:
    hook = getattr(cls, name, None)
    assert hook is not None, f"{cls.__name__}.{name} is gone ({user} relies on it)"
    assert tuple(inspect.signature(hook).parameters) == parameters, user
    assert f"{name}(" in (ROOT / user).read_text(encoding="utf-8"), (
        f"{user} no longer uses {name}: drop it from this list")


@pytest.mark.parametrize("caller, hook", [
    (Application.save, "self._take_snapshots(processing_event)"),
    (PostgresRecorder.create_table, "self._create_table(curs)"),
    (SQLiteRecorder.create_table, "self._create_table(c)"),
    (SQLiteAggregateRecorder.insert_events, "self._insert_events(c, stored_events, **kwargs)"),
], ids=["save", "create_table", "sqlite_create_table", "insert_events"])
def test_the_library_still_calls_the_hooks_we_override(caller: Any, hook: str) -> None:
    assert hook in inspect.getsource(caller)


def test_our_recorders_sit_on_the_library_classes_checked_here() -> None:
    from ledger.persistence.postgres import (
        FundPostgresAggregateRecorder,
        FundPostgresApplicationRecorder,
    )
    from ledger.persistence.sqlite import FundSQLiteApplicationRecorder
    from projections.recorders import PostgresViewRecorder, SQLiteViewRecorder

    assert issubclass(FundPostgresAggregateRecorder, PostgresAggregateRecorder)
    assert issubclass(FundPostgresApplicationRecorder, PostgresApplicationRecorder)
    assert issubclass(FundSQLiteApplicationRecorder, SQLiteApplicationRecorder)
    assert issubclass(PostgresViewRecorder, PostgresTrackingRecorder)
    assert issubclass(SQLiteViewRecorder, SQLiteTrackingRecorder)
    assert issubclass(FundLedger, LedgerBase) and issubclass(LedgerBase, Application)
