"""Owners' votes, committee elections and the F8 gate against a real store (SQLite, PostgreSQL).

Every check is on what an owner, a custodian or an auditor can see: the recorded tally, the
receipts, the balances, the committees, and the event log (a refused command writes nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from domain.committee import PmcMember
from domain.errors import Conflict, DomainError, NotFound, RuleViolated
from domain.unit_account import first_deposit_due_fen
from domain.vote import ABSTAIN, AGREE, DISAGREE
from ledger.application import FundLedger
from ledger.commands import DepositLine, UnitRow, WithdrawalRequest

CODE = "GV-1"
ACTOR = "test:street-office"
# (building, door, area in 0.01 m², owner ids). Building 1 is one large flat and three small
# ones; building 2 has co-owners, one owner of two flats, an unsold flat of the developer,
# and a flat sold but not delivered (its first deposit is unpaid, so it cannot be).
UNITS = [
    ("1", "101", 30_000, ["big"]),
    ("1", "102", 5_000, ["s1"]),
    ("1", "103", 5_000, ["s2"]),
    ("1", "104", 5_000, ["s3"]),
    ("2", "101", 8_000, ["c1", "c2"]),
    ("2", "102", 9_000, ["multi"]),
    ("2", "103", 7_000, ["multi"]),
    ("2", "201", 10_000, ["developer"]),
    ("2", "202", 6_000, ["late"]),
]
UNDELIVERED = {("2", "202")}
BUILDING_1 = ["1-101", "1-102", "1-103", "1-104"]
BUILDING_1_AREA = 45_000


# -- fixtures and helpers --------------------------------------------------------------


@pytest.fixture
def app(open_ledger: Callable[[], FundLedger]) -> FundLedger:
    """A ledger holding community GV-1, every unit but 2-202 paid up and delivered."""
    ledger = open_ledger()
    ledger.register_units(
        [UnitRow(CODE, "Governance Garden", "Chaoyang", "Tuanjiehu", b, u, area, "register",
                 owners, line=n)
         for n, (b, u, area, owners) in enumerate(UNITS, start=2)],
        effective_date=date(2026, 1, 1), actor=ACTOR)
    rate = ledger.settings.deposit_rate_fen_per_m2
    ledger.import_deposits(
        [DepositLine(f"FD-{b}-{u}", CODE, b, u, first_deposit_due_fen(area, rate),
                     date(2026, 1, 10), "first", line=n)
         for n, (b, u, area, _) in enumerate(UNITS, start=2) if (b, u) not in UNDELIVERED],
        actor="test:bank")
    assert ledger.deliver_units(community_code=CODE, delivered_on=date(2026, 1, 20),
                                actor=ACTOR) == len(UNITS) - len(UNDELIVERED)
    return ledger


def last_id(app: FundLedger) -> int:
    """The id of the last event in the log: unchanged means nothing was written."""
    return app.recorder.max_notification_id() or 0


def balance(app: FundLedger, key: str) -> int:
    building, door = key.split("-")
    return app.unit_account(CODE, building, door).balance_fen


def open_fund_vote(app: FundLedger, reference: str, *, buildings: list[str],
                   amount_fen: int) -> None:
    """Propose, publish and open a fund-use vote (opened exactly 15 days after publication)."""
    app.propose_vote(community_code=CODE, vote_reference=reference, matter_kind="fund_use",
                     title="Repair the roof", proposed_on=date(2026, 3, 1), actor=ACTOR,
                     buildings=buildings, approved_amount_fen=amount_fen,
                     purpose="Roof waterproofing")
    app.publish_vote(community_code=CODE, vote_reference=reference,
                     published_on=date(2026, 3, 1), actor=ACTOR)
    app.open_vote(community_code=CODE, vote_reference=reference, opened_on=date(2026, 3, 16),
                  actor=ACTOR)


def ballot(app: FundLedger, reference: str, owner: str, choice: str,
           candidates: list[str] | None = None) -> str:
    return app.cast_ballot(community_code=CODE, vote_reference=reference, owner_id=owner,
                           choice=choice, cast_on=date(2026, 3, 20),
                           candidates=candidates or [])


def close(app: FundLedger, reference: str) -> None:
    app.close_vote(community_code=CODE, vote_reference=reference, closed_on=date(2026, 3, 31),
                   actor=ACTOR)


def roof_withdrawal(reference: str, invoice_fen: int, *, resolution: str,
                    buildings: list[str] | None = None,
                    unit_keys: list[str] | None = None) -> WithdrawalRequest:
    return WithdrawalRequest(
        reference=reference, community_code=CODE, project="Roof waterproofing, building 1",
        cost_kind="roof_waterproofing", invoice_fen=invoice_fen, paid_on=date(2026, 4, 10),
        buildings=buildings if buildings is not None else ["1"], unit_keys=unit_keys or [],
        resolution_id=resolution)


# -- F8 gated by V1 --------------------------------------------------------------------


def test_f8_v1_a_vote_passed_by_area_but_not_by_headcount_allows_no_withdrawal(
    app: FundLedger,
) -> None:
    open_fund_vote(app, "ROOF-1", buildings=["1"], amount_fen=100_000)
    ballot(app, "ROOF-1", "big", AGREE)  # 300 of 450 m², 1 of 4 heads
    for owner in ("s1", "s2", "s3"):
        ballot(app, "ROOF-1", owner, DISAGREE)
    close(app, "ROOF-1")

    result = app.vote(CODE, "ROOF-1").result
    assert result is not None
    assert (result.participating_area_m2_hundredths, result.participating_heads) == (45_000, 4)
    assert (result.agreeing_area_m2_hundredths, result.agreeing_heads) == (30_000, 1)
    assert result.quorum_met and result.majority_area_met
    assert not result.majority_heads_met and not result.passed

    before, balances = last_id(app), {k: balance(app, k) for k in BUILDING_1}
    with pytest.raises(RuleViolated) as refused:
        app.withdraw(roof_withdrawal("WD-ROOF-1", 90_000, resolution="ROOF-1"), actor=ACTOR)
    assert refused.value.rule == "V1"
    assert "headcount" in refused.value.message
    assert last_id(app) == before
    assert {k: balance(app, k) for k in BUILDING_1} == balances
    assert app.vote(CODE, "ROOF-1").withdrawn_fen == 0


def test_f8_v4_withdrawals_stay_within_the_approved_amount_and_the_voted_range(
    app: FundLedger,
) -> None:
    open_fund_vote(app, "ROOF-2", buildings=["1"], amount_fen=200_000)
    for owner in ("big", "s1", "s2", "s3"):
        ballot(app, "ROOF-2", owner, AGREE)
    close(app, "ROOF-2")
    assert app.vote(CODE, "ROOF-2").passed

    before = {k: balance(app, k) for k in BUILDING_1}
    app.withdraw(roof_withdrawal("WD-ROOF-2A", 90_000, resolution="ROOF-2"), actor=ACTOR)
    # 90,000 fen over 300 : 50 : 50 : 50 m² is 60,000 / 10,000 / 10,000 / 10,000 fen.
    drop = {k: before[k] - balance(app, k) for k in BUILDING_1}
    assert drop == {"1-101": 60_000, "1-102": 10_000, "1-103": 10_000, "1-104": 10_000}
    assert balance(app, "2-101") == first_deposit_due_fen(
        8_000, app.settings.deposit_rate_fen_per_m2)
    assert app.vote(CODE, "ROOF-2").remaining_fen == 110_000
    # The bank sends the same withdrawal again: reported, not charged or counted twice.
    repeat = app.withdraw(roof_withdrawal("WD-ROOF-2A", 90_000, resolution="ROOF-2"),
                          actor=ACTOR)
    assert repeat.already_posted
    assert app.vote(CODE, "ROOF-2").remaining_fen == 110_000

    unchanged = last_id(app)
    with pytest.raises(RuleViolated) as above:  # 90,000 + 110,001 > 200,000
        app.withdraw(roof_withdrawal("WD-ROOF-2B", 110_001, resolution="ROOF-2"), actor=ACTOR)
    assert (above.value.rule, above.value.field) == ("F8", "amount_fen")

    with pytest.raises(RuleViolated) as other_range:  # two of the four voted units
        app.withdraw(roof_withdrawal("WD-ROOF-2C", 10_000, resolution="ROOF-2", buildings=[],
                                     unit_keys=["1-101", "1-102"]), actor=ACTOR)
    assert (other_range.value.rule, other_range.value.field) == ("V4", "charging_range")

    with pytest.raises(RuleViolated) as wider_range:  # the whole community
        app.withdraw(roof_withdrawal("WD-ROOF-2D", 10_000, resolution="ROOF-2",
                                     buildings=["1", "2"]), actor=ACTOR)
    assert wider_range.value.rule == "V4"
    assert last_id(app) == unchanged
    assert {k: before[k] - balance(app, k) for k in BUILDING_1} == drop

    # Up to the approved amount exactly is allowed ("within"), then nothing is left.
    app.withdraw(roof_withdrawal("WD-ROOF-2E", 110_000, resolution="ROOF-2"), actor=ACTOR)
    vote = app.vote(CODE, "ROOF-2")
    assert (vote.withdrawn_fen, vote.remaining_fen) == (200_000, 0)
    assert vote.withdrawal_references == ["WD-ROOF-2A", "WD-ROOF-2E"]
    assert sum(before[k] - balance(app, k) for k in BUILDING_1) == 200_000


# -- V3, V4, V5 ------------------------------------------------------------------------


def test_v4_v5_publication_period_one_ballot_per_voter_and_v3_headcount(app: FundLedger) -> None:
    app.propose_vote(community_code=CODE, vote_reference="PUMP-2", matter_kind="fund_use",
                     title="Replace the pumps of building 2", proposed_on=date(2026, 3, 1),
                     actor=ACTOR, buildings=["2"], approved_amount_fen=50_000,
                     purpose="Water pumps")
    with pytest.raises(RuleViolated) as unpublished:
        app.open_vote(community_code=CODE, vote_reference="PUMP-2",
                      opened_on=date(2026, 4, 1), actor=ACTOR)
    assert unpublished.value.rule == "V5"
    app.publish_vote(community_code=CODE, vote_reference="PUMP-2",
                     published_on=date(2026, 3, 1), actor=ACTOR)
    before = last_id(app)
    with pytest.raises(RuleViolated) as early:  # 14 days after publication
        app.open_vote(community_code=CODE, vote_reference="PUMP-2",
                      opened_on=date(2026, 3, 15), actor=ACTOR)
    assert (early.value.rule, early.value.field) == ("V5", "opened_on")
    assert last_id(app) == before
    assert app.vote(CODE, "PUMP-2").status == "published"
    app.open_vote(community_code=CODE, vote_reference="PUMP-2", opened_on=date(2026, 3, 16),
                  actor=ACTOR)

    # V4: only the owners of building 2. V3: c1 and c2 co-own one flat (one head), "multi"
    # owns two flats (one head), the developer's unsold flat and the undelivered flat bought
    # by "late" count one head together, in the developer's hands.
    electorate = app.vote_count(app.vote(CODE, "PUMP-2")).electorate
    voters = {v.voter_key: (v.heads, v.area_m2_hundredths, v.unit_keys)
              for v in electorate.voters}
    assert voters == {
        "c1+c2": (1, 8_000, ("2-101",)),
        "multi": (1, 16_000, ("2-102", "2-103")),
        "developer": (1, 16_000, ("2-201", "2-202")),
    }
    assert (electorate.total_heads, electorate.total_area_m2_hundredths) == (3, 40_000)

    with pytest.raises(NotFound) as outside_range:
        ballot(app, "PUMP-2", "big", AGREE)
    assert outside_range.value.rule == "V4"
    with pytest.raises(NotFound):  # bought 2-202, but it is not delivered yet
        ballot(app, "PUMP-2", "late", AGREE)

    receipts = {"c1+c2": ballot(app, "PUMP-2", "c1", AGREE),
                "multi": ballot(app, "PUMP-2", "multi", AGREE)}
    before = last_id(app)
    with pytest.raises(Conflict) as co_owner:  # the same voter as c1
        ballot(app, "PUMP-2", "c2", DISAGREE)
    assert co_owner.value.rule == "V5"
    with pytest.raises(Conflict):  # a second ballot from the same owner
        ballot(app, "PUMP-2", "multi", DISAGREE)
    assert last_id(app) == before
    receipts["developer"] = ballot(app, "PUMP-2", "developer", ABSTAIN)
    close(app, "PUMP-2")

    vote = app.vote(CODE, "PUMP-2")
    result, count = vote.result, app.vote_count(vote)
    assert result is not None
    assert {k: b.choice for k, b in count.ballots.items()} == {
        "c1+c2": AGREE, "multi": AGREE, "developer": ABSTAIN}
    assert (result.electorate_heads, result.electorate_area_m2_hundredths) == (3, 40_000)
    assert (result.participating_heads, result.participating_area_m2_hundredths) == (3, 40_000)
    assert (result.agreeing_heads, result.agreeing_area_m2_hundredths) == (2, 24_000)
    assert result.passed
    assert {k: count.receipt_for(k) for k in receipts} == receipts
    assert len(set(receipts.values())) == 3


def test_v6_a_vote_is_recounted_from_the_event_log_after_a_restart(
    open_ledger: Callable[[], FundLedger], app: FundLedger,
) -> None:
    open_fund_vote(app, "ROOF-3", buildings=["1", "2"], amount_fen=300_000)
    receipts = {"big": ballot(app, "ROOF-3", "big", AGREE),
                "s1": ballot(app, "ROOF-3", "s1", DISAGREE),
                "s2": ballot(app, "ROOF-3", "s2", ABSTAIN),
                "c1+c2": ballot(app, "ROOF-3", "c2", AGREE),
                "multi": ballot(app, "ROOF-3", "multi", AGREE),
                "developer": ballot(app, "ROOF-3", "developer", DISAGREE)}
    close(app, "ROOF-3")
    recorded = app.vote(CODE, "ROOF-3").result
    assert recorded is not None
    app.close()

    reopened = open_ledger()
    vote = reopened.vote(CODE, "ROOF-3")
    result = vote.result
    assert vote.status == "closed" and result is not None
    assert result == recorded
    count = reopened.vote_count(vote)
    assert vote.recount(count) == result
    # 6 of 7 heads and 800 of 850 m² took part (all but s3); agreeing: big, c1+c2, multi.
    assert (result.electorate_heads, result.electorate_area_m2_hundredths) == (7, 85_000)
    assert (result.participating_heads, result.participating_area_m2_hundredths) == (6, 80_000)
    assert (result.agreeing_heads, result.agreeing_area_m2_hundredths) == (3, 54_000)
    assert result.quorum_met and not result.passed  # 3 of 6 heads is not more than half
    assert {key: count.receipt_for(key) for key in receipts} == receipts


# -- committees (C1, C3) ---------------------------------------------------------------


def test_c1_c3_election_forms_a_committee_whose_filing_dissolves_the_pmc(app: FundLedger) -> None:
    members = [PmcMember("rc-chair", is_owner=False, residents_committee_representative=True),
               PmcMember("street-1", is_owner=False), PmcMember("street-2", is_owner=False),
               PmcMember("s1", is_owner=True), PmcMember("s2", is_owner=True),
               PmcMember("s3", is_owner=True), PmcMember("multi", is_owner=True)]
    app.appoint_property_management_committee(
        community_code=CODE, committee_reference="PMC-1", appointed_on=date(2026, 2, 1),
        members=members, chair_id="rc-chair", term_start=date(2026, 2, 1),
        term_end=date(2029, 1, 31), actor=ACTOR)
    assert app.community(CODE).committees == {"property_management_committee": "PMC-1"}

    app.propose_vote(community_code=CODE, vote_reference="OC-2026",
                     matter_kind="committee_election", title="First owners' committee",
                     proposed_on=date(2026, 3, 1), actor=ACTOR, seats=3)
    for candidate in ("big", "s1", "multi", "s3"):
        app.nominate_candidate(community_code=CODE, vote_reference="OC-2026",
                               candidate_id=candidate, eligible=True,
                               nominated_on=date(2026, 3, 1), actor=ACTOR)
    before = last_id(app)
    with pytest.raises(RuleViolated) as ineligible:
        app.nominate_candidate(community_code=CODE, vote_reference="OC-2026",
                               candidate_id="c1", eligible=False,
                               ineligibility_reason="employed by the serving property company",
                               nominated_on=date(2026, 3, 1), actor=ACTOR)
    assert ineligible.value.rule == "C1"
    assert "property company" in ineligible.value.message
    assert last_id(app) == before
    assert app.vote(CODE, "OC-2026").candidates == ["big", "s1", "multi", "s3"]

    app.publish_vote(community_code=CODE, vote_reference="OC-2026",
                     published_on=date(2026, 3, 1), actor=ACTOR)
    app.open_vote(community_code=CODE, vote_reference="OC-2026", opened_on=date(2026, 3, 16),
                  actor=ACTOR)
    with pytest.raises(NotFound) as not_nominated:
        ballot(app, "OC-2026", "s2", AGREE, ["c1"])
    assert not_nominated.value.rule == "C1"
    for owner in ("big", "s1", "s2", "c1", "multi"):
        ballot(app, "OC-2026", owner, AGREE, ["big", "s1", "multi"])
    ballot(app, "OC-2026", "s3", AGREE, ["s3"])
    ballot(app, "OC-2026", "developer", ABSTAIN)
    close(app, "OC-2026")
    election = app.vote(CODE, "OC-2026").result
    assert election is not None and election.passed
    assert sorted(election.elected) == ["big", "multi", "s1"]

    committee = app.form_owners_committee(
        community_code=CODE, election_reference="OC-2026", committee_reference="OC-1",
        term_start=date(2026, 3, 31), term_end=date(2031, 3, 30), actor=ACTOR,
        party_member_ids=["s1"])
    assert sorted(committee.member_ids) == ["big", "multi", "s1"]
    assert app.community(CODE).committees == {"property_management_committee": "PMC-1",
                                              "owners_committee": "OC-1"}

    before = last_id(app)
    with pytest.raises(RuleViolated) as late:  # 31 days after the election
        app.file_owners_committee(community_code=CODE, committee_reference="OC-1",
                                  filed_on=date(2026, 5, 1), street_office="Tuanjiehu",
                                  actor=ACTOR)
    assert (late.value.rule, late.value.field) == ("C1", "filed_on")
    assert last_id(app) == before
    assert app.committee(CODE, "PMC-1").is_active

    app.file_owners_committee(community_code=CODE, committee_reference="OC-1",
                              filed_on=date(2026, 4, 30), street_office="Tuanjiehu",
                              actor=ACTOR)
    owners_committee, pmc = app.committee(CODE, "OC-1"), app.committee(CODE, "PMC-1")
    assert owners_committee.filed_on == date(2026, 4, 30)
    assert pmc.dissolved_on == date(2026, 4, 30) and not pmc.is_active
    assert app.community(CODE).committees == {"owners_committee": "OC-1"}
    # One command wrote the filing, the dissolution and the community's record of both.
    written = app.recorder.select_notifications(start=before, limit=10,
                                                inclusive_of_start=False)
    assert sorted(n.topic.rsplit(".", 1)[-1] for n in written) == [
        "CommitteeRecorded", "Dissolved", "FiledWithStreetOffice"]
    assert last_id(app) == max(n.id for n in written)


# -- known defects ---------------------------------------------------------------------


def test_v5_a_vote_cannot_close_before_a_ballot_it_counts(app: FundLedger) -> None:
    open_fund_vote(app, "ROOF-4", buildings=["1"], amount_fen=100_000)
    ballot(app, "ROOF-4", "big", AGREE)  # cast on 20 March
    before = last_id(app)
    with pytest.raises(RuleViolated) as refused:
        app.close_vote(community_code=CODE, vote_reference="ROOF-4",
                       closed_on=date(2026, 3, 17), actor=ACTOR)
    assert refused.value.rule == "V5"
    assert last_id(app) == before


def test_v3_a_unit_co_owned_with_the_developer_does_not_block_the_community_s_votes(
    app: FundLedger,
) -> None:
    try:
        app.register_units([UnitRow(CODE, "Governance Garden", "Chaoyang", "Tuanjiehu", "3",
                                    "101", 5_000, "register", ["developer", "d1"])],
                           effective_date=date(2026, 1, 1), actor=ACTOR)
    except DomainError:
        return  # refusing the row at registration (F1) is a fix too
    app.import_deposits([DepositLine(
        "FD-3-101", CODE, "3", "101",
        first_deposit_due_fen(5_000, app.settings.deposit_rate_fen_per_m2),
        date(2026, 1, 10), "first")], actor="test:bank")
    app.deliver_units(community_code=CODE, delivered_on=date(2026, 1, 20), actor=ACTOR)
    app.propose_vote(community_code=CODE, vote_reference="RULES-1",
                     matter_kind="other_ordinary", title="Amend the owners' rules",
                     proposed_on=date(2026, 3, 1), actor=ACTOR)
    app.publish_vote(community_code=CODE, vote_reference="RULES-1",
                     published_on=date(2026, 3, 1), actor=ACTOR)
    app.open_vote(community_code=CODE, vote_reference="RULES-1", opened_on=date(2026, 3, 16),
                  actor=ACTOR)
    electorate = app.vote_count(app.vote(CODE, "RULES-1")).electorate
    assert electorate is not None and "3-101" in electorate.unit_keys


# -- F3 custody ------------------------------------------------------------------------


def test_f3_custody_moves_to_the_owners_meeting_only_once_it_has_a_committee(
    app: FundLedger,
) -> None:
    app.propose_vote(community_code=CODE, vote_reference="CUSTODY-1", matter_kind="other_ordinary",
                     title="The owners' meeting takes custody of the fund",
                     proposed_on=date(2026, 3, 1), actor=ACTOR)
    app.publish_vote(community_code=CODE, vote_reference="CUSTODY-1",
                     published_on=date(2026, 3, 1), actor=ACTOR)
    app.open_vote(community_code=CODE, vote_reference="CUSTODY-1", opened_on=date(2026, 3, 16),
                  actor=ACTOR)
    for owner in ("big", "s1", "s2", "c1", "multi", "developer"):
        ballot(app, "CUSTODY-1", owner, AGREE)
    close(app, "CUSTODY-1")
    before = last_id(app)
    with pytest.raises(RuleViolated) as no_committee:
        app.decide_custody_transfer(community_code=CODE, resolution_id="CUSTODY-1",
                                    decided_on=date(2026, 4, 1), actor=ACTOR)
    assert (no_committee.value.rule, last_id(app)) == ("F3", before)

    # An owners' committee exists from here on (formed from an election elsewhere).
    community = app.community(CODE)
    community.record_committee(kind="owners_committee", committee_reference="OC-X",
                               effective_date=date(2026, 4, 1), actor=ACTOR)
    app.save(community)
    app.decide_custody_transfer(community_code=CODE, resolution_id="CUSTODY-1",
                                decided_on=date(2026, 4, 1), actor=ACTOR)
    assert app.community(CODE).custodian == "city_fund_office"  # until the balance moves
    total = sum(balance(app, f"{b}-{u}") for b, u, _, _ in UNITS)
    assert app.complete_custody_transfer(community_code=CODE, completed_on=date(2026, 5, 15),
                                         actor=ACTOR) == total
    community = app.community(CODE)
    assert community.custodian == "owners_meeting"
    last = app.recorder.select_notifications(start=last_id(app), limit=1)[0]
    state = app.mapper.to_domain_event(last)
    # Decided on 1 April, due by 1 May: a move on 15 May is recorded as late (F3, 30 days).
    assert (type(state).__name__, state.balance_fen, state.late) == (
        "CustodyTransferred", total, True)


def test_c4_party_coverage_is_recorded_for_the_committee_s_own_members(app: FundLedger) -> None:
    members = [PmcMember("rc-chair", is_owner=False, residents_committee_representative=True),
               PmcMember("street-1", is_owner=False), PmcMember("street-2", is_owner=False),
               PmcMember("s1", is_owner=True), PmcMember("s2", is_owner=True),
               PmcMember("s3", is_owner=True), PmcMember("multi", is_owner=True)]
    app.appoint_property_management_committee(
        community_code=CODE, committee_reference="PMC-9", appointed_on=date(2026, 2, 1),
        members=members, chair_id="rc-chair", term_start=date(2026, 2, 1),
        term_end=date(2029, 1, 31), actor=ACTOR)
    before = last_id(app)
    with pytest.raises(DomainError) as outsider:
        app.record_party_coverage(community_code=CODE, committee_reference="PMC-9",
                                  party_member_ids=["big"], party_branch_set_up=False,
                                  recorded_on=date(2026, 3, 1), actor=ACTOR)
    assert (outsider.value.rule, last_id(app)) == ("C4", before)
    committee = app.record_party_coverage(
        community_code=CODE, committee_reference="PMC-9", party_member_ids=["rc-chair", "s1"],
        party_branch_set_up=True, recorded_on=date(2026, 3, 1), actor=ACTOR)
    assert (committee.party_member_count, committee.has_party_coverage) == (2, True)
    assert app.committee(CODE, "PMC-9").party_member_ids == committee.party_member_ids
