"""Enterprises: registration and the credit record of dated events (E3)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from eventsourcing.domain import Aggregate, CanMutateAggregate
from hypothesis import given
from hypothesis import strategies as st

from domain.credit import Commendation, ComplaintTicket, Fine, Violation
from domain.credit_code import with_check_character
from domain.enterprise import Enterprise
from domain.errors import Conflict, InvalidInput, RuleViolated
from domain.ids import enterprise_id
from domain.service_contract import ServiceContract

CODE = with_check_character("91110105MA0000001")
OTHER = with_check_character("91110108MA0000002")
DAY = date(2026, 3, 1)
LIBRARY_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic"}


def registered(code: str = CODE) -> Enterprise:
    return Enterprise.register(code, "北京某某物业服务有限公司", on=date(2026, 1, 1), actor="city")


def replay(events: list[Any]) -> Aggregate | None:
    aggregate: Aggregate | None = None
    for stored in events:
        assert isinstance(stored, CanMutateAggregate)
        aggregate = stored.mutate(aggregate)
    return aggregate


def state(aggregate: Aggregate | None) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def json_friendly(value: object) -> bool:
    if value is None or isinstance(value, str | int | bool):
        return True
    if isinstance(value, date):
        return not isinstance(value, datetime)
    if isinstance(value, list):
        return all(json_friendly(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and json_friendly(v) for k, v in value.items())
    return False


def contract_with(code: str, reference: str = "K1") -> ServiceContract:
    contract = ServiceContract.start(
        "C001", code, date(2026, 1, 1), date(2026, 1, 1), True, None, 100_000,
        contract_reference=reference, actor="a",
    )  # fmt: skip
    return contract


# ---------------------------------------------------------------------------- registration


def test_registration_validates_and_normalises_the_code() -> None:
    enterprise = Enterprise.register(CODE.lower(), "  物业 ", on=DAY, actor="city")
    assert enterprise.credit_code == CODE
    assert enterprise.name == "物业"
    assert enterprise.id == enterprise_id(CODE)
    (registered_event,) = enterprise.collect_events()
    assert type(registered_event).__name__ == "Registered"
    assert registered_event.effective_date == DAY  # type: ignore[attr-defined]


def test_registration_refuses_a_bad_code_or_name() -> None:
    with pytest.raises(InvalidInput) as caught:
        Enterprise.register(CODE[:-1] + "I", "物业", on=DAY, actor="city")
    assert caught.value.field == "credit_code"
    with pytest.raises(InvalidInput) as caught:
        Enterprise.register(CODE, "  ", on=DAY, actor="city")
    assert caught.value.field == "name"
    with pytest.raises(InvalidInput) as caught:
        Enterprise.register(CODE, "x", on=datetime(2026, 1, 1, 8), actor="city")
    assert caught.value.field == "on"


# ---------------------------------------------------------------------------- credit record


def test_e3_credit_events_are_numbered_in_order_and_cite_their_entry() -> None:
    enterprise = registered()
    enterprise.commend(DAY, "city", "市住建委", "年度优秀项目", actor="clerk")
    enterprise.record_fine(DAY, 500_000, "区城管执法局", "占道", actor="clerk", community_code="C1")
    enterprise.record_violation(DAY, "service_quality", "街道", "", "JD-2026-7", actor="clerk")
    enterprise.record_complaint_ticket(DAY, "12345-1", True, True, False, actor="clerk")
    record = enterprise.credit_events()
    assert [type(e) for e in record] == [Commendation, Fine, Violation, ComplaintTicket]
    assert [e.ref for e in record] == [f"{CODE}#{n}" for n in range(1, 5)]
    fine = record[1]
    assert isinstance(fine, Fine)
    assert (fine.amount_fen, fine.authority, fine.community_code) == (500_000, "区城管执法局", "C1")


def test_e3_violation_is_recorded_once_per_source() -> None:
    enterprise = registered()
    assert enterprise.record_violation(DAY, "safety", "消防", "", "XF-1", actor="a")
    assert not enterprise.record_violation(DAY, "safety", "消防", "again", "XF-1", actor="a")
    assert len(enterprise.credit_events()) == 1
    with pytest.raises(Conflict) as caught:
        enterprise.record_violation(DAY, "unlawful_charge", "消防", "", "XF-1", actor="a")
    assert (caught.value.rule, caught.value.field) == ("E3", "source_ref")
    with pytest.raises(Conflict):
        enterprise.record_violation(
            DAY + timedelta(days=1), "safety", "消防", "", "XF-1", actor="a"
        )


def test_e3_complaint_ticket_is_recorded_once_and_must_be_consistent() -> None:
    enterprise = registered()
    assert enterprise.record_complaint_ticket(DAY, "T1", True, False, False, actor="a")
    assert not enterprise.record_complaint_ticket(DAY, "T1", True, False, False, actor="a")
    with pytest.raises(Conflict):
        enterprise.record_complaint_ticket(DAY, "T1", True, True, True, actor="a")
    with pytest.raises(InvalidInput) as caught:
        enterprise.record_complaint_ticket(DAY, "T2", False, True, False, actor="a")
    assert caught.value.field == "responded"
    assert len(enterprise.credit_events()) == 1


@pytest.mark.parametrize("amount", [0, -1, True, 100_000_000_001])
def test_fine_amount_is_positive_whole_fen(amount: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        registered().record_fine(DAY, amount, "区城管", "", actor="a")
    assert caught.value.field == "amount_fen"


@pytest.mark.parametrize("kind", ["", "Safety", "很差", "a b", "x" * 65])
def test_kinds_are_snake_case_tokens(kind: str) -> None:
    enterprise = registered()
    with pytest.raises(InvalidInput) as caught:
        enterprise.commend(DAY, kind, "区住建委", "", actor="a")
    assert caught.value.field == "points_kind"
    with pytest.raises(InvalidInput) as caught:
        enterprise.record_violation(DAY, kind, "区住建委", "", "S-1", actor="a")
    assert caught.value.field == "kind"


def test_authority_is_required() -> None:
    with pytest.raises(InvalidInput) as caught:
        registered().commend(DAY, "city", " ", "", actor="a")
    assert caught.value.field == "authority"


def test_engagement_is_remembered_once_and_only_for_own_contracts() -> None:
    enterprise = registered()
    contract = contract_with(CODE)
    assert enterprise.record_engagement(contract, actor="a")
    assert not enterprise.record_engagement(contract, actor="a")
    assert enterprise.engaged_contract_ids == [str(contract.id)]
    with pytest.raises(RuleViolated) as caught:
        enterprise.record_engagement(contract_with(OTHER, "K2"), actor="a")
    assert caught.value.field == "enterprise_code"


def test_e2_e3_overdue_handover_becomes_one_violation_dated_on_the_deadline() -> None:
    enterprise = registered()
    contract = contract_with(CODE)
    contract.give_notice(date(2026, 2, 1), "open_ended", actor="a")
    contract.terminate(date(2026, 4, 2), actor="a")
    assert not enterprise.record_overdue_handover(contract, date(2026, 5, 2), actor="check")
    assert enterprise.record_overdue_handover(contract, date(2026, 5, 3), actor="check")
    for day in range(4, 30):
        assert not enterprise.record_overdue_handover(contract, date(2026, 5, day), actor="c")
    contract.check_off_handover("records", date(2026, 6, 1), actor="a")
    assert not enterprise.record_overdue_handover(contract, date(2026, 7, 1), actor="check")
    (violation,) = enterprise.credit_events()
    assert isinstance(violation, Violation)
    assert violation.effective_date == date(2026, 5, 2)
    assert violation.kind == "overdue_handover"
    assert violation.community_code == "C001"
    with pytest.raises(RuleViolated):
        registered(OTHER).record_overdue_handover(contract, date(2026, 7, 1), actor="check")


# ---------------------------------------------------------------------------- any sequence

days = st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31))
communities = st.none() | st.sampled_from(["C1", "C2"])
commands = st.one_of(
    st.tuples(st.just("commend"), days, st.sampled_from(["city", "district"]), communities),
    st.tuples(st.just("violation"), days, st.sampled_from(["S1", "S2", "S3"]), communities),
    st.tuples(st.just("fine"), days, st.integers(1, 10_000_000), communities),
    st.tuples(
        st.just("ticket"),
        days,
        st.sampled_from(["T1", "T2", "T3"]),
        st.tuples(st.booleans(), st.booleans(), st.booleans()),
    ),
)


@given(st.lists(commands, max_size=25))
def test_any_record_rebuilds_from_its_events_and_events_are_json_friendly(
    sequence: list[tuple[Any, ...]],
) -> None:
    enterprise = registered()
    accepted = 0
    for name, on, detail, extra in sequence:
        try:
            if name == "commend":
                enterprise.commend(on, detail, "区住建委", "", actor="a", community_code=extra)
                accepted += 1
            elif name == "violation":
                accepted += enterprise.record_violation(
                    on, "safety", "消防", "", detail, actor="a", community_code=extra
                )
            elif name == "fine":
                enterprise.record_fine(on, detail, "城管", "", actor="a", community_code=extra)
                accepted += 1
            else:
                responded, resolved, satisfied = extra
                accepted += enterprise.record_complaint_ticket(
                    on, detail, responded, resolved, satisfied, actor="a"
                )
        except (Conflict, InvalidInput):
            pass
    record = enterprise.credit_events()
    assert len(record) == accepted
    assert [e.ref for e in record] == [f"{CODE}#{n}" for n in range(1, accepted + 1)]
    sources = [e.source_ref for e in record if isinstance(e, Violation)]
    assert len(sources) == len(set(sources))
    events = list(enterprise.collect_events())
    for stored in events:
        attributes = {k: v for k, v in vars(stored).items() if k not in LIBRARY_FIELDS}
        assert json_friendly(attributes), attributes
        assert isinstance(attributes["effective_date"], date)
        assert attributes["actor"]
    assert state(replay(events)) == state(enterprise)
