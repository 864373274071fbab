"""The fast event decoder gives, event for event, what the library's own decoder gives.

``event_decoder`` (ledger/persistence/transcoder.py) replaces ``Mapper.to_domain_event`` on
every read of the log. Here both decode the demo's whole log (about 18,000 events of every
kind the demo writes) on each store, and events stored in older shapes of a versioned class,
which the decoders must upcast alike.

Upcasting: the demo's log is written in the current shapes, so nothing in it is upcast.
``OLDER_SHAPES`` below holds, for each domain event class that declares a ``class_version``
(``UnitAccount.ReraiseDemanded`` is at 2), stored states in its older shapes; a test fails
while a versioned domain class has none, so every upcaster is compared too.
"""

from __future__ import annotations

import importlib
import pkgutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest
from eventsourcing.domain import Aggregate, CanMutateAggregate, DomainEvent
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

import domain
from api.demo import build_demo
from domain.unit_account import UnitAccount
from ledger.application import FundLedger
from ledger.persistence.transcoder import (
    EventState,
    OrjsonTranscoder,
    event_decoder,
    state_decoder,
)
from ledger.settings import Settings

PAGE = 5_000


def same_events(fast: Any, library: Any) -> None:
    """Same class and same ``__dict__``: equal values of the same types, in the same order."""
    assert type(fast) is type(library)
    assert vars(fast) == vars(library)
    assert repr(vars(fast)) == repr(vars(library))  # a date is not a datetime, a str no UUID


def whole_log(app: FundLedger) -> list[StoredEvent]:
    notifications: list[StoredEvent] = []
    start = 1
    while page := app.recorder.select_notifications(start, PAGE):
        notifications.extend(page)
        start = page[-1].id + 1
    return notifications


def test_the_fast_decoders_equal_the_librarys_over_the_demos_whole_log(
    db_url: str, tmp_path: Path
) -> None:
    app = FundLedger(Settings(db=db_url, signing_key_file=tmp_path / "signing.key"))
    try:
        build_demo(app, tmp_path)
        fast = event_decoder(app.mapper)
        assert fast != app.mapper.to_domain_event, "the ledger's mapper takes the fast path"
        log = whole_log(app)
        assert len(log) == app.recorder.max_notification_id() > 15_000
        topics = set()
        states = state_decoder(app.mapper)  # the views' decoder, plain values only
        for stored in log:
            library = app.mapper.to_domain_event(stored)
            same_events(fast(stored), library)
            same_state(states(stored), library)
            topics.add(stored.topic)
        assert len(topics) > 20  # the demo writes every kind of event, not one kind many times
    finally:
        app.close()


# -- upcasting -------------------------------------------------------------------------------


class Meter(Aggregate):
    """An aggregate whose event changed shape twice, as a domain class's would."""

    class Read(Aggregate.Event):
        # v1 stored ``reading``; v2 added ``unit``; v3 renamed ``reading`` to ``value``.
        class_version = 3
        value: int
        unit: str
        effective_date: date
        due_on: date  # a date off the decoder's fast path, so the envelope walk runs too

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["unit"] = "kWh"

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["value"] = state.pop("reading")


def _state(**fields: Any) -> bytes:
    return orjson.dumps({
        "timestamp": {"_type_": "datetime_iso",
                      "_data_": datetime(2026, 1, 5, 8, tzinfo=UTC).isoformat()},
        "effective_date": {"_type_": "date_iso", "_data_": "2026-01-05"},
        "due_on": {"_type_": "date_iso", "_data_": "2026-02-01"},
        **fields})


METER_SHAPES = [
    _state(reading=41),
    _state(reading=42, unit="m3", class_version=2),
    _state(value=43, unit="m3", class_version=3),
]
# For each domain event class with a class_version above 1: stored states in older shapes.
OLDER_SHAPES: dict[type[Any], list[bytes]] = {
    # Version 1, as commit 5348212 stored it (tests/fixtures/schema_v0_sqlite.sql): no
    # threshold_fen. 30 % of 19,100.00 yuan is 5,730.00 exactly; of 12,345.67, 3,703.701.
    UnitAccount.ReraiseDemanded: [
        b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-04T10:16:59.808500+00:00"},'
        b'"threshold_percent":30,"balance_fen":452270,"first_deposit_fen":1910000,'
        b'"effective_date":{"_type_":"date_iso","_data_":"2026-07-10"}}',
        _state(threshold_percent=30, balance_fen=100, first_deposit_fen=1_234_567),
    ],
}


def mapper() -> Mapper[Any]:
    return Mapper(OrjsonTranscoder())


def decode_both(cls: type[Any], states: list[bytes], originator_id: Any) -> list[Any]:
    fast = event_decoder(mapper())
    decoded = []
    for version, state in enumerate(states, start=1):
        stored = StoredEvent(originator_id, version, get_topic(cls), state)
        event = fast(stored)
        same_events(event, mapper().to_domain_event(stored))
        decoded.append(event)
    return decoded


def test_a_reraise_demand_stored_before_threshold_fen_reads_with_it() -> None:
    exact, rounded = decode_both(UnitAccount.ReraiseDemanded,
                                 OLDER_SHAPES[UnitAccount.ReraiseDemanded], uuid4())
    assert (exact.threshold_fen, exact.balance_fen) == (573_000, 452_270)
    assert rounded.threshold_fen == 370_371  # rounded up: 370,370 fen would be below 30 %
    assert "class_version" not in vars(exact)


@pytest.mark.parametrize("originator_id", [uuid4(), str(uuid4())], ids=["uuid", "str"])
def test_both_decoders_upcast_older_shapes_alike(originator_id: UUID | str) -> None:
    read_1, read_2, read_3 = decode_both(Meter.Read, METER_SHAPES, originator_id)
    # Upcast, not just decoded alike: every shape reads as the current one.
    assert (read_1.value, read_1.unit) == (41, "kWh")
    assert (read_2.value, read_2.unit) == (42, "m3")
    assert (read_3.value, read_3.unit) == (43, "m3")
    assert all("class_version" not in vars(e) and "reading" not in vars(e)
               for e in (read_1, read_2, read_3))
    assert read_1.due_on == date(2026, 2, 1) and read_1.effective_date == date(2026, 1, 5)


def test_the_current_shape_written_by_the_mapper_decodes_alike() -> None:
    meter = Meter()
    meter.trigger_event(Meter.Read, value=44, unit="m3", effective_date=date(2026, 1, 5),
                        due_on=date(2026, 2, 1))
    for event in meter.collect_events():
        stored = mapper().to_stored_event(event)
        same_events(event_decoder(mapper())(stored), mapper().to_domain_event(stored))


def domain_event_classes() -> set[type[Any]]:
    for module in pkgutil.walk_packages(domain.__path__, "domain."):
        importlib.import_module(module.name)
    found: set[type[Any]] = set()
    stack: list[type[Any]] = [DomainEvent, CanMutateAggregate]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub not in found:
                found.add(sub)
                stack.append(sub)
    return {c for c in found if c.__module__.split(".")[0] == "domain"}


def test_every_versioned_domain_event_has_older_shapes_to_compare() -> None:
    classes = domain_event_classes()
    assert len(classes) > 20
    versioned = {c for c in classes if getattr(c, "class_version", 1) > 1}
    # By name: the library's aggregate class redefines each nested event class as a subclass
    # of the one written in its body, and both are found here.
    assert {c.__qualname__ for c in versioned} == {c.__qualname__ for c in OLDER_SHAPES}, (
        "a domain event class declares a class_version: add stored states in its older "
        "shapes to OLDER_SHAPES, so both decoders' upcasting of them is compared")
    for cls, states in OLDER_SHAPES.items():
        decode_both(cls, states, uuid4())


# -- the views' state decoder ----------------------------------------------------------------


def same_state(state: EventState, library: Any) -> None:
    """The library's event, as JSON would give it: every plain value equal and of the same
    type; a value stored in an envelope left as that envelope."""
    assert (state.originator_id, state.originator_version, state.topic) == (
        library.originator_id, library.originator_version, get_topic(type(library)))
    values = dict(vars(library))
    del values["originator_id"], values["originator_version"]
    assert state.state.keys() == values.keys()
    for name, value in values.items():
        if isinstance(value, datetime):
            assert state.state[name] == {"_type_": "datetime_iso", "_data_": value.isoformat()}
        elif isinstance(value, date):
            assert state.state[name] == {"_type_": "date_iso", "_data_": value.isoformat()}
        else:
            assert orjson.dumps(state.state[name]) == orjson.dumps(value), name


def test_the_state_decoder_upcasts_older_shapes_as_the_library_does() -> None:
    for cls, shapes in [(Meter.Read, METER_SHAPES), *OLDER_SHAPES.items()]:
        for version, state in enumerate(shapes, start=1):
            stored = StoredEvent(uuid4(), version, get_topic(cls), state)
            same_state(state_decoder(mapper())(stored), mapper().to_domain_event(stored))
    demand = StoredEvent(uuid4(), 1, get_topic(UnitAccount.ReraiseDemanded),
                         OLDER_SHAPES[UnitAccount.ReraiseDemanded][0])
    assert state_decoder(mapper())(demand).state["threshold_fen"] == 573_000
