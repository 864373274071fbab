"""The batch mapping writes exactly what the library's mapper writes, and both formats decode."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    JSONTranscoder,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
)

from domain.community import Community
from domain.unit_account import UnitAccount
from ledger.persistence.transcoder import (
    OrjsonTranscoder,
    StoredEventsBatch,
    event_decoder,
    to_stored_events,
)


class Odd(Aggregate):
    """Events with values off the fast path: dates elsewhere, None, Decimal, a class version."""

    class Happened(Aggregate.Event):
        effective_date: date | None
        paid_at: datetime
        due_on: date
        ratio: Decimal
        nested: dict[str, Any]

    class Versioned(Aggregate.Event):
        class_version = 2
        effective_date: datetime  # a datetime where a date usually is

    def happen(self, **kwargs: Any) -> None:
        self.trigger_event(self.Happened, **kwargs)

    def version_2(self, when: datetime) -> None:
        self.trigger_event(self.Versioned, effective_date=when)


def sample_events() -> list[Any]:
    account = UnitAccount.register(
        community_code="C1", building="1", unit="101", area_m2_hundredths=8_950,
        area_source="register", owner_ids=["o1", "o2"], effective_date=date(2026, 1, 1),
        actor="custodian \u5f20")
    account.pay_first_deposit(amount_fen=8_950, rate_fen_per_m2=100,
                              effective_date=date(2026, 1, 2), reference="r-1", actor="a")
    account.top_up(amount_fen=5, effective_date=date(2026, 2, 1), reference="r2", actor="a",
                   reraise_threshold_percent=30)
    account.sell(buyer_owner_ids=["o3"], effective_date=date(2026, 3, 1), reference="s",
                 actor="a")
    community = Community.register(code="C1", name="\u5c0f\u533a \"1\"", district="d", street="s",
                                   effective_date=date(2026, 1, 1), actor="a")
    odd = Odd()
    odd.happen(effective_date=None, paid_at=datetime(2026, 5, 1, 12, tzinfo=UTC),
               due_on=date(2026, 6, 1), ratio=Decimal("0.125"),
               nested={"on": date(2026, 7, 1), "list": [datetime(2026, 1, 1, tzinfo=UTC)]})
    odd.version_2(datetime(2026, 8, 1, 9, 30, tzinfo=UTC))
    return [*account.collect_events(), *community.collect_events(), *odd.collect_events()]


def test_batch_mapping_writes_the_mappers_bytes() -> None:
    mapper: Mapper[Any] = Mapper(OrjsonTranscoder())
    events = sample_events()
    expected = [mapper.to_stored_event(e) for e in events]
    assert to_stored_events(mapper, events) == expected
    assert list(StoredEventsBatch(mapper, events)) == expected


def test_batch_mapping_decodes_to_equal_events() -> None:
    mapper: Mapper[Any] = Mapper(OrjsonTranscoder())
    events = sample_events()
    for event, stored in zip(events, to_stored_events(mapper, events), strict=True):
        assert mapper.to_domain_event(stored) == event


def test_batch_mapping_uses_any_other_mapper_as_is() -> None:
    transcoder = JSONTranscoder()
    mapper: Mapper[Any] = Mapper(transcoder)
    event = Odd.Versioned(originator_id=uuid4(), originator_version=1,
                          timestamp=datetime(2026, 1, 1, tzinfo=UTC),
                          effective_date=datetime(2026, 1, 2, tzinfo=UTC))
    with pytest.raises(TypeError):  # JSONTranscoder has no datetime transcoding registered
        to_stored_events(mapper, [event])


def test_stored_events_of_the_library_json_transcoder_still_decode() -> None:
    """Events stored in the envelope format (any writer) decode with the orjson transcoder."""
    mapper: Mapper[Any] = Mapper(OrjsonTranscoder())
    account_id = uuid4()
    state = (b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-01-02T03:04:05.000006+00:00"},'
             b'"amount_fen":100,"bank_delta_fen":100,"effective_date":{"_type_":"date_iso",'
             b'"_data_":"2026-01-02"},"reference":"r","actor":"a"}')
    stored = StoredEvent(account_id, 2, "domain.unit_account:UnitAccount.ToppedUp", state)
    event = mapper.to_domain_event(stored)
    assert isinstance(event, UnitAccount.ToppedUp)
    assert event.effective_date == date(2026, 1, 2)
    assert event.timestamp == datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert to_stored_events(mapper, [event]) == [stored]


def test_a_batch_iterates_again_after_a_partial_pass() -> None:
    mapper: Mapper[Any] = Mapper(OrjsonTranscoder())
    events = sample_events()
    expected = [mapper.to_stored_event(e) for e in events]
    batch = StoredEventsBatch(mapper, events)
    assert len(batch) == len(events)
    partial = iter(batch)
    first_two = [next(partial), next(partial)]
    assert first_two == expected[:2]
    assert list(batch) == expected  # a second pass (a retried transaction) after a partial one
    assert list(partial) == expected[2:]
    assert batch[-1] == expected[-1]
    assert batch[1:3] == expected[1:3]
    fresh = StoredEventsBatch(mapper, events)
    assert fresh[0] == expected[0]  # indexing maps them all
    assert list(fresh) == expected


def test_the_event_decoder_gives_the_mappers_events() -> None:
    """Same class, same state, for events on and off the fast path (other dates, Decimal,
    nested envelopes, a class version, a datetime where the date usually is)."""
    mapper: Mapper[Any] = Mapper(OrjsonTranscoder())
    decode = event_decoder(mapper)
    assert decode is not mapper.to_domain_event
    for stored in to_stored_events(mapper, sample_events()):
        decoded, expected = decode(stored), mapper.to_domain_event(stored)
        assert type(decoded) is type(expected)
        assert vars(decoded) == vars(expected)
        assert {k: type(v) for k, v in vars(decoded).items()} == {
            k: type(v) for k, v in vars(expected).items()}


def test_the_event_decoder_reads_a_string_that_looks_like_an_envelope_as_a_string() -> None:
    mapper: Mapper[Any] = Mapper(OrjsonTranscoder())
    # Owner ids and actors are restricted to plain characters; a community's name is free text.
    community = Community.register(
        code="C1", name='{"_type_": "date_iso", "_data_": "2026-01-01"}', district="D",
        street="S", effective_date=date(2026, 1, 1), actor="test")
    [stored] = to_stored_events(mapper, community.collect_events())
    decoded = event_decoder(mapper)(stored)
    assert decoded.name == '{"_type_": "date_iso", "_data_": "2026-01-01"}'
    assert vars(decoded) == vars(mapper.to_domain_event(stored))


def test_the_event_decoder_names_the_event_it_cannot_read() -> None:
    mapper: Mapper[Any] = Mapper(OrjsonTranscoder())
    stored = StoredEvent(uuid4(), 3, "domain.unit_account:UnitAccount.ToppedUp", b"{not json")
    with pytest.raises(MapperDeserialisationError, match="originator_version 3"):
        event_decoder(mapper)(stored)


def test_any_other_mapper_decodes_through_the_library() -> None:
    mapper: Mapper[Any] = Mapper(JSONTranscoder())
    assert event_decoder(mapper) == mapper.to_domain_event
