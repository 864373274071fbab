"""Votes by the Civil Code: procedure (V5), exact tallies (V1–V3, V6), elections (C1), the
fund-use gate (F8) and receipts.

The property tests recount every vote here, independently of ``domain.vote.tally``: the
test groups units into heads itself and compares fractions with ``Fraction`` instead of
cross-multiplication.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from fractions import Fraction
from typing import Any, cast

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    Mapper,
    Transcoding,
    UUIDAsHex,
)
from hypothesis import given
from hypothesis import strategies as st

from domain.electorate import Electorate, UnitHolding, build_electorate
from domain.errors import Conflict, InvalidInput, NotFound, RuleViolated
from domain.ids import ballot_id
from domain.vote import (
    ABSTAIN,
    AGREE,
    COMMITTEE_ELECTION,
    DISAGREE,
    FUND_USE,
    ORDINARY_MATTERS,
    SPECIAL_MATTERS,
    Ballot,
    SeatBounds,
    TallyResult,
    Vote,
    ballot_receipt,
    tally,
)
from tests.unit.ballot_box import BoxedVote
from tests.unit.test_electorate import holdings_lists, unit_groups

PROPOSED_ON = date(2024, 3, 1)
OPENED_ON = PROPOSED_ON + timedelta(days=15)
CLOSED_ON = OPENED_ON + timedelta(days=7)
COMMUNITY = "110105-001"


def propose(matter_kind: str = "other_ordinary", **extra: Any) -> Vote:
    if matter_kind == FUND_USE:
        extra.setdefault("approved_amount_fen", 1_000_000)
        extra.setdefault("purpose", "replace the roof membrane of building 1")
    return Vote.propose(
        community_code=COMMUNITY,
        vote_reference=extra.pop("vote_reference", "2024-01"),
        matter_kind=matter_kind,
        title="a resolution",
        proposed_on=PROPOSED_ON,
        actor="chair",
        **extra,
    )


def opened(holdings: Sequence[UnitHolding], matter_kind: str = "other_ordinary",
           **extra: Any) -> BoxedVote:
    vote = BoxedVote(propose(matter_kind, **extra))
    vote.publish(published_on=PROPOSED_ON, actor="chair")
    vote.open(opened_on=OPENED_ON, holdings=holdings, actor="chair")
    return vote


def single_owner_units(areas: Sequence[int]) -> list[UnitHolding]:
    """Unit i owned by owner oi alone: voter i has key "oi"."""
    return [UnitHolding(f"1-{101 + i}", area, (f"o{i}",)) for i, area in enumerate(areas)]


def vote_with(areas: Sequence[int], choices: Sequence[str | None],
              matter_kind: str = "other_ordinary") -> BoxedVote:
    holdings = single_owner_units(areas)
    charging = [h.unit_key for h in holdings] if matter_kind == FUND_USE else None
    vote = opened(holdings, matter_kind, charging_range=charging) if charging else opened(
        holdings, matter_kind
    )
    for i, choice in enumerate(choices):
        if choice is not None:
            vote.cast_ballot(voter_key=f"o{i}", choice=choice, cast_on=OPENED_ON, actor=f"o{i}")
    return vote


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


def through_json(events: Sequence[DomainEventProtocol[Any]]) -> list[DomainEventProtocol[Any]]:
    """Store and load events as the application's JSON transcoder would."""
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DatetimeAsISO(), DateAsISO()):
        transcoder.register(transcoding)
    mapper: Mapper[Any] = Mapper(transcoder=transcoder)
    return [mapper.to_domain_event(mapper.to_stored_event(e)) for e in events]


# --- procedure (V5) ------------------------------------------------------------------------


def test_v5_a_vote_opens_fifteen_days_after_publication_and_not_a_day_earlier() -> None:
    vote = propose()
    vote.publish(published_on=PROPOSED_ON, actor="chair")
    holdings = single_owner_units([100])
    with pytest.raises(RuleViolated) as caught:
        vote.open(opened_on=OPENED_ON - timedelta(days=1), holdings=holdings, actor="chair")
    assert (caught.value.rule, caught.value.field) == ("V5", "opened_on")
    vote.open(opened_on=OPENED_ON, holdings=holdings, actor="chair")
    assert vote.status == "open"


def test_v5_an_unpublished_item_cannot_be_voted_on() -> None:
    vote = propose()
    with pytest.raises(RuleViolated) as caught:
        vote.open(opened_on=OPENED_ON, holdings=single_owner_units([100]), actor="chair")
    assert caught.value.rule == "V5"


def test_v5_ballots_are_taken_only_while_open() -> None:
    proposed = BoxedVote(propose())
    with pytest.raises(RuleViolated):
        proposed.cast_ballot(voter_key="o0", choice=AGREE, cast_on=OPENED_ON, actor="o0")
    vote = vote_with([100], [AGREE])
    vote.close(closed_on=CLOSED_ON, actor="chair")
    with pytest.raises(RuleViolated) as caught:
        vote.cast_ballot(voter_key="o0", choice=AGREE, cast_on=CLOSED_ON, actor="o0")
    assert caught.value.rule == "V5"


def test_v5_a_second_ballot_from_the_same_voter_is_refused_not_counted() -> None:
    holdings = [UnitHolding("1-101", 100, ("A", "B")), UnitHolding("1-102", 100, ("C",))]
    vote = opened(holdings)
    vote.cast_ballot(voter_key="A+B", choice=DISAGREE, cast_on=OPENED_ON, actor="A")
    with pytest.raises(Conflict) as caught:
        # B co-owns the unit with A: the same voter, so a second ballot.
        vote.cast_ballot(voter_key="A+B", choice=AGREE, cast_on=OPENED_ON, actor="B")
    assert caught.value.rule == "V5"
    assert vote.recount().participating_heads == 1
    assert vote.recount().agreeing_heads == 0


def test_v3_a_ballot_must_come_from_an_owner_of_the_voter() -> None:
    vote = opened(single_owner_units([100, 100]))
    with pytest.raises(RuleViolated) as caught:
        vote.cast_ballot(voter_key="o0", choice=AGREE, cast_on=OPENED_ON, actor="o1")
    assert (caught.value.rule, caught.value.field) == ("V3", "actor")


def test_v4_fund_use_electorate_is_the_charging_range_only() -> None:
    holdings = single_owner_units([100, 200, 300])
    vote = opened(holdings, FUND_USE, charging_range=["1-102", "1-101"])
    assert vote.charging_range == ["1-101", "1-102"]
    assert vote.electorate is not None
    assert vote.electorate.voter_keys == ("o0", "o1")
    assert vote.electorate.total_area_m2_hundredths == 300
    with pytest.raises(NotFound) as caught:
        vote.cast_ballot(voter_key="o2", choice=AGREE, cast_on=OPENED_ON, actor="o2")
    assert caught.value.rule == "V4"


def test_v4_fund_use_vote_needs_every_unit_of_its_range_in_the_register() -> None:
    vote = propose(FUND_USE, charging_range=["1-101", "9-999"])
    vote.publish(published_on=PROPOSED_ON, actor="chair")
    with pytest.raises(NotFound) as caught:
        vote.open(opened_on=OPENED_ON, holdings=single_owner_units([100]), actor="chair")
    assert caught.value.rule == "V4"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"charging_range": []}, "charging_range"),
        ({"charging_range": ["1-101", "1-101"]}, "charging_range"),
        ({"charging_range": ["1-101"], "approved_amount_fen": 0}, "approved_amount_fen"),
        ({"charging_range": ["1-101"], "purpose": " "}, "purpose"),
    ],
)
def test_v4_fund_use_proposal_states_range_amount_and_purpose(
    extra: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        propose(FUND_USE, **extra)
    assert caught.value.field == field


def test_v1_v2_unknown_matter_kind_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        propose("bribe")
    assert caught.value.field == "matter_kind"


# --- boundaries (V1, V2), both ways --------------------------------------------------------


@pytest.mark.parametrize(
    ("areas", "choices", "quorum_area", "quorum_heads"),
    [
        # exactly 2/3 of area and of heads take part: the quorum is met ("以上")
        ([100, 100, 100], [AGREE, AGREE, None], True, True),
        # heads exactly 2/3 but area 200/301 just below
        ([100, 100, 101], [AGREE, AGREE, None], False, True),
        # area 3000/3002 but heads 3/5 below 2/3
        ([1000, 1000, 1000, 1, 1], [AGREE, AGREE, AGREE, None, None], True, False),
    ],
)
def test_v1_quorum_is_two_thirds_inclusive(
    areas: list[int], choices: list[str | None], quorum_area: bool, quorum_heads: bool
) -> None:
    result = vote_with(areas, choices).close(closed_on=CLOSED_ON, actor="chair")
    assert (result.quorum_area_met, result.quorum_heads_met) == (quorum_area, quorum_heads)
    assert result.passed == (quorum_area and quorum_heads)


@pytest.mark.parametrize(
    ("areas", "choices", "passed"),
    [
        # exactly 1/2 of area and heads agree: an ordinary vote fails ("超过")
        ([100, 100, 100, 100], [AGREE, AGREE, DISAGREE, ABSTAIN], False),
        ([100, 100, 100, 100], [AGREE, AGREE, AGREE, DISAGREE], True),
        # more than half the area, exactly half the heads: fails
        ([500, 500, 100, 100], [AGREE, AGREE, DISAGREE, DISAGREE], False),
        # more than half the heads, under half the area: fails
        ([100, 100, 100, 1000], [AGREE, AGREE, AGREE, DISAGREE], False),
        # abstentions take part: one agree, two abstain is not a majority
        ([100, 100, 100], [AGREE, ABSTAIN, ABSTAIN], False),
    ],
)
def test_v1_ordinary_majority_is_more_than_half_of_both(
    areas: list[int], choices: list[str | None], passed: bool
) -> None:
    result = vote_with(areas, choices, "hire_enterprise").close(closed_on=CLOSED_ON, actor="c")
    assert result.quorum_met
    assert result.majority_fraction == (1, 2) and not result.majority_inclusive
    assert result.passed is passed


@pytest.mark.parametrize(
    ("areas", "choices", "passed"),
    [
        # exactly 3/4 of area and heads agree: a special vote passes ("以上")
        ([100, 100, 100, 100], [AGREE, AGREE, AGREE, ABSTAIN], True),
        # heads exactly 3/4, area 300/401 just below
        ([100, 100, 100, 101], [AGREE, AGREE, AGREE, DISAGREE], False),
        # area 3/4 exactly (300/400), heads 2/3 below
        ([200, 100, 100], [AGREE, AGREE, DISAGREE], False),
    ],
)
def test_v2_f4_special_majority_is_three_quarters_inclusive(
    areas: list[int], choices: list[str | None], passed: bool
) -> None:
    result = vote_with(areas, choices, "reraise_fund").close(closed_on=CLOSED_ON, actor="c")
    assert result.quorum_met
    assert result.majority_fraction == (3, 4) and result.majority_inclusive
    assert result.passed is passed


def test_v6_tally_event_carries_the_four_totals_thresholds_and_outcome() -> None:
    vote = vote_with([100, 200, 300], [AGREE, DISAGREE, AGREE])
    vote.close(closed_on=CLOSED_ON, actor="chair")
    tallied = vote.collect_events()[-1]
    assert type(tallied).__name__ == "Tallied"
    fields = vars(tallied)
    assert fields["electorate_area_m2_hundredths"] == 600
    assert fields["electorate_heads"] == 3
    assert fields["participating_area_m2_hundredths"] == 600
    assert fields["participating_heads"] == 3
    assert fields["agreeing_area_m2_hundredths"] == 400
    assert fields["agreeing_heads"] == 2
    assert fields["quorum_fraction"] == [2, 3]
    assert fields["majority_fraction"] == [1, 2]
    assert fields["majority_inclusive"] is False
    assert fields["quorum_met"] is True
    assert fields["passed"] is True
    assert fields["effective_date"] == CLOSED_ON
    assert fields["actor"] == "chair"


# --- the recount, independently ------------------------------------------------------------


def expected_outcome(
    holdings: list[UnitHolding], choice_of_group: dict[frozenset[str], str], special: bool
) -> dict[str, Any]:
    """V1–V3 straight from the text: heads are groups of units, area is per unit."""
    area_of = {h.unit_key: h.area_m2_hundredths for h in holdings}
    groups = [frozenset(g) for g in unit_groups(holdings)]
    total_area = sum(area_of.values())
    voted = [g for g in groups if g in choice_of_group]
    agreed = [g for g in voted if choice_of_group[g] == AGREE]
    part_area = sum(area_of[u] for g in voted for u in g)
    agree_area = sum(area_of[u] for g in agreed for u in g)
    quorum = Fraction(part_area, total_area) >= Fraction(2, 3) and Fraction(
        len(voted), len(groups)
    ) >= Fraction(2, 3)
    if not voted:
        majority = False
    elif special:
        majority = Fraction(agree_area, part_area) >= Fraction(3, 4) and Fraction(
            len(agreed), len(voted)
        ) >= Fraction(3, 4)
    else:
        majority = Fraction(agree_area, part_area) > Fraction(1, 2) and Fraction(
            len(agreed), len(voted)
        ) > Fraction(1, 2)
    return {
        "electorate": (total_area, len(groups)),
        "participating": (part_area, len(voted)),
        "agreeing": (agree_area, len(agreed)),
        "quorum_met": quorum,
        "passed": quorum and majority,
    }


def actor_for(holdings: list[UnitHolding], group: frozenset[str]) -> str:
    owners = sorted(o for h in holdings if h.unit_key in group for o in h.owner_ids)
    return owners[0] if owners else "developer-representative"


@given(
    holdings_lists(),
    st.sampled_from(ORDINARY_MATTERS[2:] + SPECIAL_MATTERS),
    st.data(),
)
def test_v1_v2_v3_v5_tally_equals_an_independent_recount(
    holdings: list[UnitHolding], matter_kind: str, data: st.DataObject
) -> None:
    groups = sorted((frozenset(g) for g in unit_groups(holdings)), key=sorted)
    choices = data.draw(
        st.lists(st.sampled_from([AGREE, DISAGREE, ABSTAIN, None]),
                 min_size=len(groups), max_size=len(groups))
    )
    choice_of_group = {g: c for g, c in zip(groups, choices, strict=True) if c is not None}
    vote = opened(holdings, matter_kind)
    assert vote.electorate is not None
    key_of_unit = {u: v.voter_key for v in vote.electorate.voters for u in v.unit_keys}
    for group, choice in choice_of_group.items():
        voter_key = key_of_unit[min(group)]
        vote.cast_ballot(voter_key=voter_key, choice=choice, cast_on=OPENED_ON,
                         actor=actor_for(holdings, group))
    # Nobody is counted twice: every further ballot from an owner of a voter that voted
    # is refused, and the tally does not move.
    for group in choice_of_group:
        with pytest.raises(Conflict):
            vote.cast_ballot(voter_key=key_of_unit[max(group)], choice=AGREE,
                             cast_on=OPENED_ON, actor=actor_for(holdings, group))
    result = vote.close(closed_on=CLOSED_ON, actor="chair")
    expected = expected_outcome(holdings, choice_of_group, matter_kind in SPECIAL_MATTERS)
    assert (result.electorate_area_m2_hundredths, result.electorate_heads) == expected[
        "electorate"
    ]
    assert (result.participating_area_m2_hundredths, result.participating_heads) == expected[
        "participating"
    ]
    assert (result.agreeing_area_m2_hundredths, result.agreeing_heads) == expected["agreeing"]
    assert result.quorum_met == expected["quorum_met"]
    assert result.passed == expected["passed"]


@given(holdings_lists(), st.data())
def test_v6_auditor_recount_from_events_matches_the_tally_event(
    holdings: list[UnitHolding], data: st.DataObject
) -> None:
    vote = opened(holdings, "rebuild")
    assert vote.electorate is not None
    for voter_key in vote.electorate.voter_keys:
        choice = data.draw(st.sampled_from([AGREE, DISAGREE, ABSTAIN, None]))
        voter = vote.electorate.voter(voter_key)
        assert voter is not None
        if choice is not None:
            actor = voter.owner_ids[0] if voter.owner_ids else "rep"
            vote.cast_ballot(voter_key=voter_key, choice=choice, cast_on=OPENED_ON, actor=actor)
    vote.close(closed_on=CLOSED_ON, actor="chair")
    events = through_json(vote.all_events())
    by_name: dict[str, dict[str, Any]] = {}
    ballots = []
    for e in events:
        fields = vars(e)
        by_name[type(e).__name__] = fields
        if type(e).__name__ == "Cast":
            ballots.append(Ballot(fields["voter_key"], fields["choice"],
                                  tuple(fields["candidates"])))
    electorate = Electorate.from_records(by_name["Frozen"]["voters"])
    assert electorate.digest() == by_name["OpenedWithDigest"]["electorate_digest"]
    recount = tally(electorate, ballots, by_name["Proposed"]["matter_kind"])
    assert recount == TallyResult.from_event_fields(by_name["Tallied"])


# --- elections (C1, V1) --------------------------------------------------------------------


def election(seats: int = 3, households: int = 80, candidates: Sequence[str] = ()) -> Vote:
    vote = propose(COMMITTEE_ELECTION, seats=seats, household_count=households)
    for candidate in candidates:
        vote.nominate(candidate_id=candidate, eligible=True, nominated_on=PROPOSED_ON,
                      actor="chair")
    return vote


@pytest.mark.parametrize(
    ("seats", "households", "allowed"),
    [(3, 100, True), (3, 101, False), (5, 101, True), (4, 500, False), (11, 500, True),
     (13, 500, False), (1, 50, False)],
)
def test_c1_seats_are_odd_and_within_bounds(seats: int, households: int, allowed: bool) -> None:
    if allowed:
        assert election(seats, households).seats == seats
    else:
        with pytest.raises(RuleViolated) as caught:
            election(seats, households)
        assert caught.value.rule == "C1"


def test_c1_seat_bounds_are_configuration() -> None:
    vote = propose(COMMITTEE_ELECTION, seats=13, household_count=500,
                   seat_bounds=SeatBounds(seats_max=15))
    assert vote.seats == 13


def test_c1_an_ineligible_candidate_is_refused_at_nomination() -> None:
    vote = election()
    with pytest.raises(RuleViolated) as caught:
        vote.nominate(candidate_id="c1", eligible=False,
                      ineligibility_reason="judgment defaulter", nominated_on=PROPOSED_ON,
                      actor="chair")
    assert caught.value.rule == "C1"
    assert "judgment defaulter" in caught.value.message
    assert vote.candidates == []


def test_c1_v5_candidates_are_nominated_before_opening_and_must_fill_the_seats() -> None:
    vote = election(candidates=["c1", "c2"])
    vote.publish(published_on=PROPOSED_ON, actor="chair")
    with pytest.raises(RuleViolated) as caught:
        vote.open(opened_on=OPENED_ON, holdings=single_owner_units([100]), actor="chair")
    assert caught.value.rule == "C1"
    vote.nominate(candidate_id="c3", eligible=True, nominated_on=PROPOSED_ON, actor="chair")
    vote.open(opened_on=OPENED_ON, holdings=single_owner_units([100]), actor="chair")
    with pytest.raises(RuleViolated) as late:
        vote.nominate(candidate_id="c4", eligible=True, nominated_on=OPENED_ON, actor="chair")
    assert late.value.rule == "V5"


def opened_election(areas: Sequence[int], candidates: Sequence[str],
                    seats: int = 3) -> BoxedVote:
    vote = BoxedVote(election(seats, 80, candidates))
    vote.publish(published_on=PROPOSED_ON, actor="chair")
    vote.open(opened_on=OPENED_ON, holdings=single_owner_units(areas), actor="chair")
    return vote


def test_c1_a_ballot_agrees_to_at_most_n_nominated_candidates() -> None:
    vote = opened_election([100] * 3, ["c1", "c2", "c3", "c4"])
    with pytest.raises(RuleViolated):
        vote.cast_ballot(voter_key="o0", choice=AGREE, cast_on=OPENED_ON, actor="o0",
                         candidates=["c1", "c2", "c3", "c4"])
    with pytest.raises(NotFound):
        vote.cast_ballot(voter_key="o0", choice=AGREE, cast_on=OPENED_ON, actor="o0",
                         candidates=["c9"])
    with pytest.raises(InvalidInput):
        vote.cast_ballot(voter_key="o0", choice=ABSTAIN, cast_on=OPENED_ON, actor="o0",
                         candidates=["c1"])


def test_c1_v1_seats_go_to_majorities_by_heads_then_area_then_id() -> None:
    # Five voters, 550 m²/100 in all, all take part. c1 gets 4 heads; c2 and c3 get 3 heads
    # each, c3 more area (350 against 300); c4, c5 and c6 get at most 2 of 5 heads.
    vote = opened_election([100, 100, 100, 100, 150], ["c1", "c2", "c3", "c4", "c5", "c6"])
    ballots = [
        ["c1", "c2", "c4"],
        ["c1", "c2", "c5"],
        ["c1", "c3", "c4"],
        ["c1", "c2", "c3"],
        ["c3", "c5", "c6"],
    ]
    for i, chosen in enumerate(ballots):
        vote.cast_ballot(voter_key=f"o{i}", choice=AGREE, cast_on=OPENED_ON, actor=f"o{i}",
                         candidates=chosen)
    result = vote.close(closed_on=CLOSED_ON, actor="chair")
    assert result.elected == ("c1", "c3", "c2")
    assert result.passed
    assert vote.elected == ("c1", "c3", "c2")
    by_id = {c.candidate_id: c for c in result.candidate_tallies}
    assert (by_id["c3"].agreeing_heads, by_id["c3"].agreeing_area_m2_hundredths) == (3, 350)
    assert not by_id["c6"].majority_met


def test_c1_a_tie_on_heads_and_area_goes_to_the_smaller_candidate_id() -> None:
    vote = opened_election([100] * 5, ["c1", "c2", "c3", "c4"])
    ballots = [["c1", "c2", "c3"], ["c1", "c2", "c4"], ["c1", "c3", "c4"], ["c1", "c2", "c3"],
               ["c4"]]
    for i, chosen in enumerate(ballots):
        vote.cast_ballot(voter_key=f"o{i}", choice=AGREE, cast_on=OPENED_ON, actor=f"o{i}",
                         candidates=chosen)
    result = vote.close(closed_on=CLOSED_ON, actor="chair")
    assert all(c.majority_met for c in result.candidate_tallies)
    assert result.elected == ("c1", "c2", "c3")


def test_c1_an_election_that_cannot_fill_the_seats_fails() -> None:
    vote = opened_election([100] * 5, ["c1", "c2", "c3", "c4"])
    for i in range(5):
        chosen = ["c1", "c2", "c3"] if i < 2 else ["c1", "c2", "c4"]
        vote.cast_ballot(voter_key=f"o{i}", choice=AGREE, cast_on=OPENED_ON, actor=f"o{i}",
                         candidates=chosen)
    result = vote.close(closed_on=CLOSED_ON, actor="chair")
    # c3 has 2 of 5 heads (no majority), c4 has 3 of 5: c4 takes the third seat.
    assert result.elected == ("c1", "c2", "c4") and result.passed
    vote = opened_election([100] * 5, ["c1", "c2", "c3", "c4"])
    for i in range(5):
        chosen = ["c1", "c2", "c3"] if i < 2 else ["c1", "c2"]
        vote.cast_ballot(voter_key=f"o{i}", choice=AGREE, cast_on=OPENED_ON, actor=f"o{i}",
                         candidates=chosen)
    result = vote.close(closed_on=CLOSED_ON, actor="chair")
    assert result.elected == ("c1", "c2")
    assert not result.passed


# --- receipts ------------------------------------------------------------------------------


def test_receipt_is_the_digest_of_the_ballot_event() -> None:
    vote = opened(single_owner_units([100, 100]))
    receipt = vote.cast_ballot(voter_key="o1", choice=AGREE, cast_on=OPENED_ON, actor="o1")
    cast = next(e for e in vote.all_events() if type(e).__name__ == "Cast")
    fields = vars(cast)
    assert cast.originator_id == ballot_id(vote.id, "o1") and cast.originator_version == 1
    assert receipt == ballot_receipt(fields["vote_id"], fields["voter_key"], fields["choice"],
                                     fields["candidates"], cast.originator_version)
    assert receipt == vote.receipt_for("o1")
    assert len(receipt) == 64
    assert receipt != ballot_receipt(vote.id, "o1", DISAGREE, [], cast.originator_version)


# --- withdrawals gated by the resolution (F8) ----------------------------------------------

RANGE = ["1-101", "1-102", "1-103", "1-104"]


def fund_vote(choices: Sequence[str | None],
              areas: Sequence[int] = (100, 100, 100, 100)) -> BoxedVote:
    vote = vote_with(areas, choices, FUND_USE)
    vote.close(closed_on=CLOSED_ON, actor="chair")
    return vote


def withdraw(vote: Vote | BoxedVote, amount_fen: int, reference: str = "W-1", **extra: Any) -> None:
    vote.record_withdrawal(
        withdrawal_reference=reference,
        amount_fen=amount_fen,
        charging_range=extra.pop("charging_range", list(reversed(RANGE))),
        community_code=extra.pop("community_code", COMMUNITY),
        withdrawn_on=extra.pop("withdrawn_on", CLOSED_ON),
        actor="fund-office",
    )


def test_f8_v1_withdrawal_citing_a_vote_passed_by_area_but_failed_by_heads_is_refused() -> None:
    vote = fund_vote([AGREE, AGREE, DISAGREE, DISAGREE], areas=(500, 500, 100, 100))
    assert vote.result is not None
    assert vote.result.majority_area_met and not vote.result.majority_heads_met
    with pytest.raises(RuleViolated) as caught:
        withdraw(vote, 100)
    assert (caught.value.rule, caught.value.field) == ("V1", "vote_id")
    assert "headcount" in caught.value.message
    assert vote.withdrawn_fen == 0


def test_f8_withdrawals_stay_within_the_approved_amount() -> None:
    vote = fund_vote([AGREE, AGREE, AGREE, None])
    withdraw(vote, 600_000, "W-1")
    with pytest.raises(RuleViolated) as caught:
        withdraw(vote, 400_001, "W-2")
    assert (caught.value.rule, caught.value.field) == ("F8", "amount_fen")
    withdraw(vote, 400_000, "W-2")
    assert vote.withdrawn_fen == 1_000_000 and vote.remaining_fen == 0


@pytest.mark.parametrize(
    ("extra", "rule", "field"),
    [
        ({"community_code": "110105-002"}, "F8", "community_code"),
        ({"charging_range": RANGE[:3]}, "V4", "charging_range"),
        ({"withdrawn_on": CLOSED_ON - timedelta(days=1)}, "F8", "withdrawn_on"),
    ],
)
def test_f8_v4_withdrawal_must_cite_the_same_community_and_range(
    extra: dict[str, Any], rule: str, field: str
) -> None:
    vote = fund_vote([AGREE, AGREE, AGREE, None])
    with pytest.raises(RuleViolated) as caught:
        withdraw(vote, 100, **extra)
    assert (caught.value.rule, caught.value.field) == (rule, field)


def test_f8_v5_withdrawal_needs_a_closed_fund_use_vote_and_a_fresh_reference() -> None:
    open_vote = vote_with([100] * 4, [AGREE] * 4, FUND_USE)
    with pytest.raises(RuleViolated) as not_closed:
        withdraw(open_vote, 100)
    assert not_closed.value.rule == "V5"
    other = vote_with([100] * 4, [AGREE] * 4, "hire_enterprise")
    other.close(closed_on=CLOSED_ON, actor="chair")
    with pytest.raises(RuleViolated) as not_fund:
        withdraw(other, 100)
    assert not_fund.value.rule == "F8"
    vote = fund_vote([AGREE] * 4)
    withdraw(vote, 100)
    with pytest.raises(Conflict):
        withdraw(vote, 100)


# --- history -------------------------------------------------------------------------------


def test_rebuilding_from_stored_json_events_gives_the_same_vote() -> None:
    vote = BoxedVote(election(3, 80, ["c1", "c2", "c3"]))
    vote.publish(published_on=PROPOSED_ON, actor="chair")
    vote.open(opened_on=OPENED_ON, holdings=[UnitHolding("1-101", 100, ("A", "B")),
                                            UnitHolding("1-102", 50, (), developer_held=True)],
              actor="chair")
    vote.cast_ballot(voter_key="A+B", choice=AGREE, cast_on=OPENED_ON, actor="B",
                     candidates=["c2", "c1", "c3"])
    vote.cast_ballot(voter_key="developer", choice=AGREE, cast_on=OPENED_ON, actor="dev",
                     candidates=["c1", "c2", "c3"])
    vote.close(closed_on=CLOSED_ON, actor="chair")
    fund = fund_vote([AGREE] * 4)
    withdraw(fund, 100)
    for aggregate in (vote.vote, *vote.roll, *vote.records.values(), fund.vote):
        rebuilt = project_aggregate(None, through_json(aggregate.collect_events()))
        assert rebuilt == aggregate


# --- votes recorded before ballots had their own streams (issue 16) -------------------------


def test_a_vote_recorded_in_the_inline_shape_still_counts_and_rebuilds_as_before() -> None:
    """Its electorate in its ``Opened`` event and its ballots as ``BallotCast`` events of the
    vote itself: replayed and tallied from its own state, receipts by the vote's versions."""
    holdings = [UnitHolding("1-101", 100, ("A", "B")), UnitHolding("1-102", 300, ("C",)),
                UnitHolding("1-103", 50, (), developer_held=True)]
    vote = propose()
    vote.publish(published_on=PROPOSED_ON, actor="chair")
    electorate = build_electorate(holdings)
    vote._open(electorate=electorate.to_records(), effective_date=OPENED_ON, actor="chair")
    receipt = vote.cast_inline_ballot(voter_key="A+B", choice=AGREE, cast_on=OPENED_ON,
                                      actor="B")
    with pytest.raises(Conflict) as twice:
        vote.cast_inline_ballot(voter_key="A+B", choice=DISAGREE, cast_on=OPENED_ON, actor="A")
    assert twice.value.rule == "V5"
    vote.cast_inline_ballot(voter_key="C", choice=DISAGREE, cast_on=OPENED_ON, actor="C")
    result = vote.close(closed_on=CLOSED_ON, actor="chair")
    assert (result.electorate_heads, result.electorate_area_m2_hundredths) == (3, 450)
    assert (result.participating_heads, result.agreeing_heads) == (2, 1)
    assert vote.electorate_digest == electorate.digest() and vote.ballots_inline
    events = through_json(vote.collect_events())
    assert [type(e).__name__ for e in events] == [
        "Proposed", "Published", "Opened", "BallotCast", "BallotCast", "Tallied"]
    rebuilt = cast(Vote, project_aggregate(None, events))
    assert rebuilt == vote
    assert rebuilt.recount() == result == TallyResult.from_event_fields(vars(events[-1]))
    assert rebuilt.inline_count().receipt_for("A+B") == receipt == ballot_receipt(
        vote.id, "A+B", AGREE, [], 4)


def test_a_vote_with_ballot_streams_takes_no_inline_ballot() -> None:
    vote = opened(single_owner_units([100]))
    with pytest.raises(RuleViolated) as caught:
        vote.vote.cast_inline_ballot(voter_key="o0", choice=AGREE, cast_on=OPENED_ON,
                                     actor="o0")
    assert caught.value.rule == "V5"
