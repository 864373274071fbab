"""Owners' committees (C1, C2, C4) and property management committees (C3)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from eventsourcing.application import project_aggregate
from hypothesis import given
from hypothesis import strategies as st

from domain import ids
from domain.committee import (
    OWNERS_COMMITTEE,
    Committee,
    PmcMember,
    add_years,
)
from domain.errors import Conflict, InvalidInput, NotFound, RuleViolated
from domain.vote import AGREE, Vote
from tests.unit.test_vote import CLOSED_ON, COMMUNITY, OPENED_ON, opened_election, through_json

MEMBERS = ["c1", "c2", "c3", "c4", "c5"]


def passed_election(seats: int = 5) -> Vote:
    vote = opened_election([100] * 5, [*MEMBERS[:seats], "c9"], seats=seats)
    for i in range(5):
        vote.cast_ballot(voter_key=f"o{i}", choice=AGREE, cast_on=OPENED_ON, actor=f"o{i}",
                         candidates=MEMBERS[:seats])
    vote.close(closed_on=CLOSED_ON, actor="chair")
    return vote.vote


def owners_committee(**extra: Any) -> Committee:
    return Committee.form_owners_committee(
        election=extra.pop("election", None) or passed_election(),
        committee_reference="OC-2024",
        term_start=extra.pop("term_start", CLOSED_ON),
        term_end=extra.pop("term_end", add_years(CLOSED_ON, 5)),
        actor="street-office",
        **extra,
    )


def test_c1_an_owners_committee_seats_the_elected_candidates() -> None:
    committee = owners_committee(party_member_ids=["c2"], party_branch_set_up=True)
    assert committee.id == ids.committee_id(COMMUNITY, "OC-2024")
    assert committee.kind == OWNERS_COMMITTEE
    assert sorted(committee.member_ids) == MEMBERS
    assert committee.seats == 5
    assert committee.formed_on == CLOSED_ON
    assert committee.has_party_coverage and committee.party_member_count == 1


def test_c1_a_failed_election_forms_no_committee() -> None:
    vote = opened_election([100] * 5, ["c1", "c2", "c3"])
    vote.close(closed_on=CLOSED_ON, actor="chair")
    with pytest.raises(RuleViolated) as caught:
        owners_committee(election=vote.vote)
    assert caught.value.rule == "C1"


@pytest.mark.parametrize(
    ("years_days", "allowed"), [((5, 0), True), ((5, 1), False), ((0, 0), False)]
)
def test_c1_the_term_is_at_most_five_years(years_days: tuple[int, int], allowed: bool) -> None:
    years, days = years_days
    term_end = add_years(CLOSED_ON, years) + timedelta(days=days)
    if allowed:
        assert owners_committee(term_end=term_end).term_end == term_end
    else:
        with pytest.raises(RuleViolated) as caught:
            owners_committee(term_end=term_end)
        assert (caught.value.rule, caught.value.field) == ("C1", "term_end")


def test_c1_leap_day_terms_end_on_the_28th() -> None:
    assert add_years(date(2024, 2, 29), 5) == date(2029, 2, 28)


def test_c1_filing_is_within_thirty_days_of_the_election() -> None:
    late = owners_committee()
    with pytest.raises(RuleViolated) as caught:
        late.file_with_street_office(filed_on=CLOSED_ON + timedelta(days=31),
                                     street_office="Jianwai", actor="chair")
    assert (caught.value.rule, caught.value.field) == ("C1", "filed_on")
    assert late.filed_on is None
    on_time = owners_committee()
    on_time.file_with_street_office(filed_on=CLOSED_ON + timedelta(days=30),
                                    street_office="Jianwai", actor="chair")
    assert on_time.filed_on == CLOSED_ON + timedelta(days=30)
    with pytest.raises(Conflict):
        on_time.file_with_street_office(filed_on=CLOSED_ON + timedelta(days=30),
                                        street_office="Jianwai", actor="chair")


def test_c4_party_coverage_names_only_members() -> None:
    committee = owners_committee()
    assert not committee.has_party_coverage
    with pytest.raises(InvalidInput) as caught:
        committee.record_party_coverage(party_member_ids=["stranger"], party_branch_set_up=False,
                                        recorded_on=CLOSED_ON, actor="chair")
    assert caught.value.rule == "C4"
    committee.record_party_coverage(party_member_ids=["c1", "c3"], party_branch_set_up=True,
                                    recorded_on=CLOSED_ON, actor="chair")
    assert committee.party_member_ids == ["c1", "c3"] and committee.party_branch_set_up


def event_names(committee: Committee) -> list[str]:
    return [type(e).__name__ for e in committee.collect_events()]


def test_c2_reelection_is_due_when_even_the_alternates_leave_fewer_than_half() -> None:
    committee = owners_committee(alternate_ids=["a1"])
    day = CLOSED_ON + timedelta(days=60)
    for member in ["c1", "c2", "c3"]:
        committee.member_left(member_id=member, left_on=day, actor="chair")
    # 2 seated + 1 waiting alternate = 3 of 5 seats: not yet below half.
    assert committee.reelection_due_on is None
    committee.alternate_joined(alternate_id="a1", joined_on=day, actor="chair")
    assert committee.reelection_due_on is None
    # 2 seated, no alternate left: below half of 5.
    committee.member_left(member_id="c4", left_on=day, actor="chair")
    assert committee.reelection_due_on == day
    committee.member_left(member_id="c5", left_on=day, actor="chair")
    names = event_names(committee)
    assert names.count("ReelectionBecameDue") == 1
    assert names[-3:] == ["MemberLeft", "ReelectionBecameDue", "MemberLeft"]


def test_c2_members_and_alternates_must_be_known() -> None:
    committee = owners_committee(alternate_ids=["a1"])
    with pytest.raises(NotFound):
        committee.member_left(member_id="zz", left_on=CLOSED_ON, actor="chair")
    with pytest.raises(RuleViolated) as caught:
        committee.alternate_joined(alternate_id="a1", joined_on=CLOSED_ON, actor="chair")
    assert caught.value.rule == "C2"  # no vacant seat
    with pytest.raises(NotFound):
        committee.alternate_joined(alternate_id="a9", joined_on=CLOSED_ON, actor="chair")


@given(
    alternates=st.integers(min_value=0, max_value=3),
    steps=st.lists(st.sampled_from(["leave", "join"]), max_size=12),
)
def test_c2_reelection_fires_once_exactly_when_seats_cannot_be_half_filled(
    alternates: int, steps: list[str]
) -> None:
    committee = owners_committee(alternate_ids=[f"a{i}" for i in range(alternates)])
    history = list(committee.collect_events())
    seated, waiting = list(MEMBERS), [f"a{i}" for i in range(alternates)]
    due = False
    for step in steps:
        if step == "leave" and seated:
            committee.member_left(member_id=seated.pop(0), left_on=CLOSED_ON, actor="chair")
        elif step == "join" and waiting and len(seated) < 5:
            committee.alternate_joined(alternate_id=waiting[0], joined_on=CLOSED_ON,
                                       actor="chair")
            seated.append(waiting.pop(0))
        due = due or (len(seated) + len(waiting)) < 2.5
        assert (committee.reelection_due_on is not None) == due
        history.extend(committee.collect_events())
    assert sorted(committee.member_ids) == sorted(seated)
    assert [type(e).__name__ for e in history].count("ReelectionBecameDue") == int(due)
    assert project_aggregate(None, through_json(history)) == committee


# --- property management committees (C3) ---------------------------------------------------

APPOINTED_ON = date(2024, 5, 6)


def pmc_members(count: int = 7, owners: int = 4) -> list[PmcMember]:
    members = [PmcMember("rc-1", is_owner=False, residents_committee_representative=True)]
    members += [PmcMember(f"ow-{i}", is_owner=True) for i in range(owners)]
    members += [PmcMember(f"st-{i}", is_owner=False) for i in range(count - owners - 1)]
    return members


def appoint(**extra: Any) -> Committee:
    return Committee.appoint_property_management_committee(
        community_code=COMMUNITY,
        committee_reference="PMC-2024",
        appointed_on=APPOINTED_ON,
        members=extra.pop("members", pmc_members()),
        chair_id=extra.pop("chair_id", "rc-1"),
        term_start=APPOINTED_ON,
        term_end=extra.pop("term_end", add_years(APPOINTED_ON, 3)),
        actor="street-office",
        **extra,
    )


def test_c3_a_property_management_committee_is_appointed() -> None:
    committee = appoint(party_member_ids=["rc-1"])
    assert committee.kind == "property_management_committee"
    assert committee.chair_id == "rc-1" and committee.seats == 7
    assert committee.has_party_coverage


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"members": pmc_members(8, 4)}, "members"),  # even
        ({"members": pmc_members(5, 3)}, "members"),  # fewer than 7
        ({"members": pmc_members(7, 3)}, "members"),  # 3 owners of 7: under half
        ({"chair_id": "ow-0"}, "chair_id"),  # not a residents' committee representative
        ({"term_end": add_years(APPOINTED_ON, 3) + timedelta(days=1)}, "term_end"),
    ],
)
def test_c3_composition_and_term(extra: dict[str, Any], field: str) -> None:
    with pytest.raises(RuleViolated) as caught:
        appoint(**extra)
    assert (caught.value.rule, caught.value.field) == ("C3", field)


def test_c3_pmc_is_dissolved_within_thirty_days_after_an_owners_committee_is_filed() -> None:
    filed_on = date(2025, 1, 10)
    committee = appoint()
    with pytest.raises(RuleViolated) as caught:
        committee.dissolve(dissolved_on=filed_on + timedelta(days=31),
                           owners_committee_id=ids.committee_id(COMMUNITY, "OC-2024"),
                           owners_committee_filed_on=filed_on, actor="street-office")
    assert caught.value.rule == "C3"
    with pytest.raises(RuleViolated):
        committee.dissolve(dissolved_on=filed_on - timedelta(days=1),
                           owners_committee_id="oc", owners_committee_filed_on=filed_on,
                           actor="street-office")
    committee.dissolve(dissolved_on=filed_on + timedelta(days=30),
                       owners_committee_id=ids.committee_id(COMMUNITY, "OC-2024"),
                       owners_committee_filed_on=filed_on, actor="street-office")
    assert committee.dissolved_on == filed_on + timedelta(days=30)
    assert not committee.is_active
    with pytest.raises(Conflict):
        committee.dissolve(dissolved_on=filed_on, owners_committee_id="oc",
                           owners_committee_filed_on=filed_on, actor="street-office")
    with pytest.raises(RuleViolated):
        committee.member_left(member_id="ow-0", left_on=filed_on + timedelta(days=40),
                              actor="street-office")
    events = through_json(committee.collect_events())
    assert project_aggregate(None, events) == committee


def test_c1_c3_only_the_right_kind_is_filed_or_dissolved() -> None:
    with pytest.raises(RuleViolated):
        appoint().file_with_street_office(filed_on=APPOINTED_ON, street_office="Jianwai",
                                          actor="chair")
    with pytest.raises(RuleViolated):
        owners_committee().dissolve(dissolved_on=CLOSED_ON, owners_committee_id="x",
                                    owners_committee_filed_on=CLOSED_ON, actor="chair")
