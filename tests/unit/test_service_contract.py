"""Service contracts: entry (E1), exit with notice and handover (E2), stand-in service."""

from __future__ import annotations

import calendar
import itertools
from datetime import date, timedelta
from typing import Any

import pytest
from eventsourcing.domain import Aggregate, CanMutateAggregate
from hypothesis import event, given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.credit import Violation
from domain.credit_code import with_check_character
from domain.enterprise import Enterprise
from domain.errors import Conflict, DomainError, InvalidInput, RuleViolated
from domain.ids import contract_id
from domain.service_contract import (
    HANDOVER_ITEMS,
    ServiceContract,
    add_months,
    ensure_community_free,
)

CODE_A = with_check_character("91110105MA0000001")
CODE_B = with_check_character("91110108MA0000002")
COMMUNITY = "110105001001"
DAY = date(2026, 1, 1)


def fixed_term(
    *,
    starts_on: date = DAY,
    filed_on: date | None = None,
    ends_on: date | None = date(2029, 1, 1),
    open_ended: bool = False,
    emergency_standin: bool = False,
    reference: str = "K1",
    enterprise: str = CODE_A,
) -> ServiceContract:
    return ServiceContract.start(
        COMMUNITY,
        enterprise,
        starts_on,
        filed_on or starts_on,
        open_ended,
        ends_on,
        12_345_600,
        contract_reference=reference,
        actor="clerk",
        emergency_standin=emergency_standin,
    )


def replay(events: list[Any]) -> Aggregate | None:
    aggregate: Aggregate | None = None
    for stored in events:
        assert isinstance(stored, CanMutateAggregate)
        aggregate = stored.mutate(aggregate)
    return aggregate


def state(aggregate: Aggregate | None) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


# ---------------------------------------------------------------------------- entry (E1)


def test_start_records_the_contract_under_a_stable_id() -> None:
    contract = fixed_term(filed_on=DAY + timedelta(days=3))
    assert contract.id == contract_id(COMMUNITY, "K1")
    assert contract.enterprise_code == CODE_A
    assert contract.serves_on(DAY) and not contract.serves_on(DAY - timedelta(days=1))
    (started,) = contract.collect_events()
    assert type(started).__name__ == "Started"
    assert started.effective_date == DAY  # type: ignore[attr-defined]
    assert started.actor == "clerk"  # type: ignore[attr-defined]


def test_e1_filing_on_the_15th_day_is_accepted_and_on_the_16th_refused() -> None:
    fixed_term(filed_on=DAY + timedelta(days=15))
    with pytest.raises(RuleViolated) as caught:
        fixed_term(filed_on=DAY + timedelta(days=16))
    assert (caught.value.rule, caught.value.field) == ("E1", "filed_on")


def test_filing_before_the_start_is_fine() -> None:
    fixed_term(filed_on=DAY - timedelta(days=40))


def test_the_enterprise_code_is_validated() -> None:
    with pytest.raises(InvalidInput) as caught:
        fixed_term(enterprise=CODE_A[:-1] + ("0" if CODE_A[-1] != "0" else "1"))
    assert caught.value.field == "enterprise_code"


@pytest.mark.parametrize(
    ("open_ended", "ends_on"),
    [(True, date(2027, 1, 1)), (False, None), (False, DAY)],
)
def test_term_must_be_consistent(open_ended: bool, ends_on: date | None) -> None:
    with pytest.raises(InvalidInput) as caught:
        fixed_term(open_ended=open_ended, ends_on=ends_on)
    assert caught.value.field == "ends_on"


@pytest.mark.parametrize("area", [0, -5, True, 10**12])
def test_area_must_be_positive_hundredths(area: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        ServiceContract.start(
            COMMUNITY, CODE_A, DAY, DAY, True, None, area, contract_reference="K", actor="a"
        )
    assert caught.value.field == "area_m2_hundredths"


def test_e1_community_with_no_contract_is_free() -> None:
    ensure_community_free(COMMUNITY, None, DAY)


def test_e1_a_second_entry_while_one_serves_is_refused() -> None:
    current = fixed_term()
    with pytest.raises(RuleViolated) as caught:
        ensure_community_free(COMMUNITY, current, date(2027, 1, 1))
    assert (caught.value.rule, caught.value.field) == ("E1", "community_code")


def test_e1_successor_may_start_on_the_day_of_termination_not_before() -> None:
    current = fixed_term()
    current.give_notice(date(2026, 3, 1), "not_renewing", actor="a")
    current.terminate(date(2026, 6, 1), actor="a")
    ensure_community_free(COMMUNITY, current, date(2026, 6, 1))
    with pytest.raises(RuleViolated):
        ensure_community_free(COMMUNITY, current, date(2026, 5, 31))


# ---------------------------------------------------------------------------- exit (E2)


def test_e2_not_renewing_needs_90_days_notice() -> None:
    contract = fixed_term()
    contract.give_notice(date(2026, 2, 1), "not_renewing", actor="a")
    assert contract.earliest_termination == date(2026, 5, 2)
    with pytest.raises(RuleViolated) as caught:
        contract.terminate(date(2026, 5, 1), actor="a")
    assert (caught.value.rule, caught.value.field) == ("E2", "on")
    contract.terminate(date(2026, 5, 2), actor="a")
    assert contract.terminated_on == date(2026, 5, 2)
    assert not contract.serves_on(date(2026, 5, 2))


def test_e2_open_ended_needs_60_days_notice() -> None:
    contract = fixed_term(open_ended=True, ends_on=None)
    contract.give_notice(date(2026, 2, 1), "open_ended", actor="a")
    with pytest.raises(RuleViolated):
        contract.terminate(date(2026, 4, 1), actor="a")
    contract.terminate(date(2026, 4, 2), actor="a")


def test_e2_dismissal_cites_a_resolution_and_needs_60_days() -> None:
    contract = fixed_term()
    with pytest.raises(InvalidInput) as caught:
        contract.give_notice(date(2026, 2, 1), "dismissed", actor="a")
    assert caught.value.field == "resolution_id"
    contract.give_notice(date(2026, 2, 1), "dismissed", actor="a", resolution_id="V-2026-01")
    assert contract.earliest_termination == date(2026, 4, 2)


def test_notice_reason_must_fit_the_contract() -> None:
    open_ended = fixed_term(open_ended=True, ends_on=None)
    with pytest.raises(RuleViolated) as caught:
        open_ended.give_notice(date(2026, 2, 1), "not_renewing", actor="a")
    assert caught.value.field == "reason"
    running = fixed_term(ends_on=date(2027, 1, 1))
    with pytest.raises(RuleViolated):
        running.give_notice(date(2026, 2, 1), "open_ended", actor="a")
    with pytest.raises(InvalidInput):
        running.give_notice(date(2026, 2, 1), "bored", actor="a")
    # After its term the contract continues open-ended (Civil Code art. 948).
    running.give_notice(date(2027, 3, 1), "open_ended", actor="a")


def test_notice_is_given_once() -> None:
    contract = fixed_term()
    contract.give_notice(date(2026, 2, 1), "not_renewing", actor="a")
    with pytest.raises(Conflict):
        contract.give_notice(date(2026, 2, 2), "not_renewing", actor="a")


def test_e2_termination_needs_notice_except_for_a_stand_in() -> None:
    contract = fixed_term()
    with pytest.raises(RuleViolated) as caught:
        contract.terminate(date(2026, 9, 1), actor="a")
    assert caught.value.rule == "E2"
    stand_in = fixed_term(emergency_standin=True, ends_on=date(2026, 7, 1))
    stand_in.terminate(date(2026, 3, 1), actor="a")
    with pytest.raises(Conflict):
        stand_in.terminate(date(2026, 3, 2), actor="a")


def test_e2_stand_in_lasts_at_most_six_calendar_months() -> None:
    start = date(2026, 8, 31)
    fixed_term(starts_on=start, emergency_standin=True, ends_on=date(2027, 2, 28))
    with pytest.raises(RuleViolated) as caught:
        fixed_term(starts_on=start, emergency_standin=True, ends_on=date(2027, 3, 1))
    assert (caught.value.rule, caught.value.field) == ("E2", "ends_on")
    with pytest.raises(RuleViolated) as caught:
        fixed_term(starts_on=start, emergency_standin=True, open_ended=True, ends_on=None)
    assert caught.value.field == "open_ended"


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)), st.integers(0, 60))
def test_add_months_is_calendar_months(day: date, months: int) -> None:
    later = add_months(day, months)
    assert (later.year * 12 + later.month) - (day.year * 12 + day.month) == months
    last_of_month = calendar.monthrange(later.year, later.month)[1]
    assert later.day == min(day.day, last_of_month)


# ---------------------------------------------------------------------------- handover (E2)


def terminated(on: date = date(2026, 6, 1)) -> ServiceContract:
    contract = fixed_term()
    contract.give_notice(date(2026, 2, 1), "not_renewing", actor="a")
    contract.terminate(on, actor="a")
    return contract


def test_e2_handover_deadline_is_30_days_after_termination() -> None:
    contract = terminated(date(2026, 6, 1))
    assert contract.handover_deadline == date(2026, 7, 1)
    assert not contract.overdue_handover(date(2026, 7, 1))
    assert contract.overdue_handover(date(2026, 7, 2))
    assert contract.late_handover_items(date(2026, 7, 2)) == list(HANDOVER_ITEMS)


def test_e2_complete_handover_in_time_is_never_overdue() -> None:
    contract = terminated()
    for item in HANDOVER_ITEMS:
        contract.check_off_handover(item, date(2026, 7, 1), actor="a")
    assert contract.outstanding_handover_items == []
    assert not contract.overdue_handover(date(2030, 1, 1))
    assert contract.overdue_handover_violation(date(2030, 1, 1)) is None


def test_e2_late_handover_stays_overdue_after_it_is_completed() -> None:
    contract = terminated()
    contract.check_off_handover("records", date(2026, 6, 10), actor="a")
    contract.check_off_handover("common_parts", date(2026, 6, 10), actor="a")
    contract.check_off_handover("prepaid_fees", date(2026, 8, 1), actor="a")
    assert contract.late_handover_items(date(2026, 9, 1)) == ["prepaid_fees"]
    violation = contract.overdue_handover_violation(date(2026, 9, 1))
    assert violation is not None
    assert violation.effective_date == date(2026, 7, 1)
    assert violation.kind == "overdue_handover"
    assert violation.community_code == COMMUNITY


def test_e2_handover_follows_termination() -> None:
    contract = fixed_term()
    with pytest.raises(RuleViolated):
        contract.check_off_handover("records", date(2026, 6, 1), actor="a")
    contract = terminated(date(2026, 6, 1))
    with pytest.raises(RuleViolated) as caught:
        contract.check_off_handover("records", date(2026, 5, 31), actor="a")
    assert caught.value.field == "on"
    with pytest.raises(InvalidInput) as bad:
        contract.check_off_handover("keys", date(2026, 6, 2), actor="a")
    assert bad.value.field == "item"
    contract.check_off_handover("records", date(2026, 6, 2), actor="a")
    with pytest.raises(Conflict):
        contract.check_off_handover("records", date(2026, 6, 3), actor="a")


def test_rebuilt_contract_equals_the_live_one() -> None:
    contract = terminated()
    contract.check_off_handover("records", date(2026, 6, 2), actor="a")
    rebuilt = replay(list(contract.collect_events()))
    assert state(rebuilt) == state(contract)


# ---------------------------------------------------------------------------- sequences

ENTERPRISES = [with_check_character(f"9111010{i}MA000000{i}") for i in range(1, 4)]
REASONS = {"not_renewing": 90, "open_ended": 60, "dismissed": 60}


def six_months_later(day: date) -> date:
    month_index = day.month - 1 + 6
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class CommunityContracts(RuleBasedStateMachine):
    """One community seen by the application: it keeps a pointer to its latest contract and
    calls ``ensure_community_free`` before each entry, and a nightly job checks handovers.

    The expectations are a model written here: which entries must be refused, when the
    handover of a contract became overdue, how many violations that makes.
    """

    def __init__(self) -> None:
        super().__init__()
        self.today = date(2026, 1, 1)
        self.enterprises = {
            code: Enterprise.register(code, f"物业 {code[-3:]}", on=self.today, actor="city")
            for code in ENTERPRISES
        }
        self.contracts: list[ServiceContract] = []
        self.latest: ServiceContract | None = None  # the community's pointer
        self.log: dict[Any, list[Any]] = {}
        self.seen_overdue: set[str] = set()  # contract references the model saw overdue
        self.started = 0
        self.flush()

    def flush(self) -> None:
        for aggregate in [*self.enterprises.values(), *self.contracts]:
            self.log.setdefault(aggregate.id, []).extend(aggregate.collect_events())

    @rule(days=st.integers(1, 120))
    def time_passes(self, days: int) -> None:
        self.today += timedelta(days=days)

    @rule(
        enterprise=st.sampled_from(ENTERPRISES),
        back_days=st.integers(0, 20),
        term=st.sampled_from(["open_ended", "fixed", "standin"]),
        length_days=st.integers(1, 400),
    )
    def enter(self, enterprise: str, back_days: int, term: str, length_days: int) -> None:
        starts_on = self.today - timedelta(days=back_days)
        ends_on = None if term == "open_ended" else starts_on + timedelta(days=length_days)
        busy = any(c.terminated_on is None or c.terminated_on > starts_on for c in self.contracts)
        too_long = (
            term == "standin" and ends_on is not None and ends_on > six_months_later(starts_on)
        )
        late_filing = back_days > 15
        reference = f"K{self.started + 1}"
        try:
            ensure_community_free(COMMUNITY, self.latest, starts_on)
            contract = ServiceContract.start(
                COMMUNITY,
                enterprise,
                starts_on,
                self.today,
                term == "open_ended",
                ends_on,
                500_000,
                contract_reference=reference,
                actor="street office",
                emergency_standin=term == "standin",
            )
        except DomainError as refused:
            event(f"entry refused: {refused.rule} {refused.field}")
            assert busy or too_long or late_filing, refused
            if busy:
                assert refused.field == "community_code"
            return
        assert not (busy or too_long or late_filing)
        event("entry accepted")
        self.enterprises[enterprise].record_engagement(contract, actor="street office")
        self.started += 1
        self.contracts.append(contract)
        self.latest = contract
        self.flush()

    @rule(reason=st.sampled_from(sorted(REASONS)))
    def give_notice(self, reason: str) -> None:
        contract = self.latest
        if contract is None or contract.terminated_on is not None:
            return
        expired = contract.ends_on is not None and self.today >= contract.ends_on
        fits = {
            "not_renewing": not contract.open_ended,
            "open_ended": contract.open_ended or expired,
            "dismissed": True,
        }[reason]
        allowed = fits and contract.notice_on is None and self.today >= contract.starts_on
        try:
            contract.give_notice(self.today, reason, actor="owners", resolution_id="V-1")
        except DomainError:
            assert not allowed
            return
        assert allowed
        self.flush()

    @rule()
    def terminate(self) -> None:
        contract = self.latest
        if contract is None or contract.terminated_on is not None:
            return
        if contract.notice_on is not None and contract.notice_reason is not None:
            earliest = contract.notice_on + timedelta(days=REASONS[contract.notice_reason])
            allowed = self.today >= earliest
        else:
            allowed = contract.emergency_standin
        allowed = allowed and self.today >= contract.starts_on
        try:
            contract.terminate(self.today, actor="owners")
        except RuleViolated:
            assert not allowed
            return
        assert allowed
        self.flush()

    @rule(extra_days=st.integers(0, 40))
    def orderly_exit(self, extra_days: int) -> None:
        """Notice that fits, the notice period, termination: the path to a handover."""
        contract = self.latest
        if contract is None or contract.terminated_on is not None:
            return
        if contract.notice_on is None:
            reason = "open_ended" if contract.open_ended else "not_renewing"
            contract.give_notice(self.today, reason, actor="enterprise")
            self.today += timedelta(days=REASONS[reason])
        self.today = max(self.today, contract.earliest_termination or self.today)
        self.today += timedelta(days=extra_days)
        contract.terminate(self.today, actor="owners")
        self.flush()

    @rule(item=st.sampled_from(HANDOVER_ITEMS), pick=st.integers(0, 10))
    def hand_over(self, item: str, pick: int) -> None:
        open_items = [
            c
            for c in self.contracts
            if c.terminated_on is not None
            and item not in c.handed_over
            and c.terminated_on <= self.today
        ]
        if not open_items:
            return
        contract = open_items[pick % len(open_items)]
        contract.check_off_handover(item, self.today, actor="owners")
        self.flush()

    @rule()
    def nightly_check(self) -> None:
        for contract in self.contracts:
            if contract.terminated_on is not None:
                deadline = contract.terminated_on + timedelta(days=30)
                late = [
                    item
                    for item in HANDOVER_ITEMS
                    if item not in contract.handed_over or contract.handed_over[item] > deadline
                ]
                if self.today > deadline and late:
                    event("overdue handover checked")
                    self.seen_overdue.add(contract.contract_reference)
            enterprise = self.enterprises[contract.enterprise_code]
            enterprise.record_overdue_handover(contract, self.today, actor="nightly check")
        self.flush()

    @invariant()
    def never_two_serving_enterprises(self) -> None:
        spans = sorted((c.starts_on, c.terminated_on or date.max) for c in self.contracts)
        for (_, until), (next_start, _) in itertools.pairwise(spans):
            assert until <= next_start

    @invariant()
    def one_violation_per_overdue_handover(self) -> None:
        violations = [
            event
            for enterprise in self.enterprises.values()
            for event in enterprise.credit_record
            if isinstance(event, Violation) and event.kind == "overdue_handover"
        ]
        assert len(violations) == len(self.seen_overdue)
        for contract in self.contracts:
            mine = [
                v
                for v in violations
                if v.source_ref == f"E2-handover:{COMMUNITY}/{contract.contract_reference}"
            ]
            expected = 1 if contract.contract_reference in self.seen_overdue else 0
            assert len(mine) == expected
            if mine:
                assert contract.terminated_on is not None
                assert mine[0].effective_date == contract.terminated_on + timedelta(days=30)
                assert mine[0].community_code == COMMUNITY

    @invariant()
    def rebuilt_aggregates_equal_live_ones(self) -> None:
        for aggregate in [*self.enterprises.values(), *self.contracts]:
            assert state(replay(self.log[aggregate.id])) == state(aggregate)


TestCommunityContracts = CommunityContracts.TestCase
