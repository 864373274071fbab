"""The three-rates view (R1) against a plain-Python recount of the log, on both stores.

The recount below is written apart from the view: it decodes every logged event and follows
each community's committees, each committee's party members and each contract by event class
name, then counts per scope; the view must agree at every level.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from domain.committee import PmcMember
from domain.credit_code import with_check_character
from ledger.application import FundLedger
from ledger.commands import UnitRow
from ledger.settings import Settings
from projections.runner import Runner, open_projection, rebuild
from projections.three_rates import RATES, TARGETS, ThreeRates, ThreeRatesProjection

ACTOR = "test:three-rates"
ENTERPRISE_A = with_check_character("91110105MA01TRAA0")
ENTERPRISE_B = with_check_character("91110105MA01TRBB0")
# (community, district, street)
COMMUNITIES = [("TR-1", "D1", "S1"), ("TR-2", "D1", "S1"), ("TR-3", "D1", "S2"),
               ("TR-4", "D2", "S3")]
MEMBERS = [PmcMember("rc-chair", is_owner=False, residents_committee_representative=True),
           PmcMember("street-1", is_owner=False), PmcMember("street-2", is_owner=False),
           PmcMember("s1", is_owner=True), PmcMember("s2", is_owner=True),
           PmcMember("s3", is_owner=True), PmcMember("s4", is_owner=True)]


@pytest.fixture
def app(db_url: str) -> Iterator[FundLedger]:
    ledger = FundLedger(Settings(db=db_url))
    try:
        yield ledger
    finally:
        ledger.close()


def appoint(app: FundLedger, code: str, party: list[str]) -> None:
    app.appoint_property_management_committee(
        community_code=code, committee_reference=f"PMC-{code}", appointed_on=date(2026, 2, 1),
        members=MEMBERS, chair_id="rc-chair", term_start=date(2026, 2, 1),
        term_end=date(2029, 1, 31), actor=ACTOR, party_member_ids=party)


def contract(app: FundLedger, code: str, enterprise: str, reference: str) -> None:
    app.start_service_contract(
        community_code=code, enterprise_code=enterprise, contract_reference=reference,
        starts_on=date(2026, 1, 1), filed_on=date(2026, 1, 1), open_ended=False,
        ends_on=date(2028, 12, 31), actor=ACTOR)


def build(app: FundLedger) -> None:
    """TR-1: PMC, party coverage recorded later, served. TR-2: served, then terminated.
    TR-3: PMC with a party member who then leaves. TR-4: nothing."""
    app.register_units([
        UnitRow(code, f"Community {code}", district, street, "1", door, 8_000, "register",
                [f"owner-{code}-{door}"], line)
        for line, (code, district, street, door) in enumerate(
            [(c, d, s, door) for c, d, s in COMMUNITIES for door in ("101", "102")], 2)],
        effective_date=date(2025, 12, 1), actor=ACTOR)
    for code, name in ((ENTERPRISE_A, "Alpha Property"), (ENTERPRISE_B, "Beta Property")):
        app.register_enterprise(credit_code=code, name=name, registered_on=date(2025, 12, 1),
                                actor=ACTOR)
    contract(app, "TR-1", ENTERPRISE_A, "C-1")
    contract(app, "TR-2", ENTERPRISE_B, "C-2")
    app.give_contract_notice(community_code="TR-2", contract_reference="C-2",
                             given_on=date(2026, 3, 1), reason="not_renewing", actor=ACTOR)
    app.terminate_contract(community_code="TR-2", contract_reference="C-2",
                           terminated_on=date(2026, 5, 30), actor=ACTOR)
    appoint(app, "TR-1", [])
    committee = app.committee("TR-1", "PMC-TR-1")
    committee.record_party_coverage(party_member_ids=["s1"], party_branch_set_up=False,
                                    recorded_on=date(2026, 3, 1), actor=ACTOR)
    app.save(committee)
    appoint(app, "TR-3", ["s2"])


def more(app: FundLedger) -> None:
    """TR-3's only party member leaves; TR-4 gets a serving enterprise."""
    app.committee_member_left(community_code="TR-3", committee_reference="PMC-TR-3",
                              member_id="s2", left_on=date(2026, 4, 1), actor=ACTOR)
    contract(app, "TR-4", ENTERPRISE_B, "C-4")


def self_manage(app: FundLedger, code: str, *, started_on: date) -> None:
    """The owners of ``code`` vote to manage the community themselves. Its units are not
    delivered yet, so the developer holds them and casts the one vote (V3)."""
    app.propose_vote(community_code=code, vote_reference=f"SELF-{code}",
                     matter_kind="other_ordinary", title="Owners manage the community",
                     proposed_on=date(2026, 6, 1), actor=ACTOR)
    app.publish_vote(community_code=code, vote_reference=f"SELF-{code}",
                     published_on=date(2026, 6, 1), actor=ACTOR)
    app.open_vote(community_code=code, vote_reference=f"SELF-{code}",
                  opened_on=date(2026, 6, 16), actor=ACTOR)
    app.cast_ballot(community_code=code, vote_reference=f"SELF-{code}", owner_id="developer",
                    choice="agree", cast_on=date(2026, 6, 17))
    app.close_vote(community_code=code, vote_reference=f"SELF-{code}",
                   closed_on=date(2026, 6, 18), actor=ACTOR)
    app.record_self_management(community_code=code, resolution_id=f"SELF-{code}",
                               started_on=started_on, actor=ACTOR)


# -- the independent recount --------------------------------------------------------------------


def recount(app: FundLedger) -> dict[tuple[str, str | None], tuple[int, int, int, int]]:
    """(level key, code) -> (communities, with committee, served, party-covered)."""
    events: list[Any] = []
    start = 0
    while page := app.recorder.select_notifications(start, 500, inclusive_of_start=False):
        events += [app.mapper.to_domain_event(n) for n in page]
        start = page[-1].id
    place: dict[str, tuple[str, str]] = {}
    code_of: dict[Any, str] = {}
    current: dict[str, dict[str, str]] = {}  # community -> kind -> committee reference
    committees: dict[Any, dict[str, Any]] = {}
    contracts: dict[Any, tuple[str, bool]] = {}
    self_managed: set[str] = set()
    for event in events:
        owner, kind = type(event).__qualname__.split(".")[0], type(event).__name__
        if owner == "Community" and kind == "Registered":
            place[event.code] = (event.district, event.street)
            code_of[event.originator_id] = event.code
        elif owner == "Community" and kind == "SelfManagementRecorded":
            self_managed.add(code_of[event.originator_id])
        elif owner == "Community" and kind == "SelfManagementEnded":
            self_managed.discard(code_of[event.originator_id])
        elif owner == "Community" and kind == "CommitteeRecorded":
            slots = current.setdefault(code_of[event.originator_id], {})
            if event.committee_reference is None:
                slots.pop(event.kind, None)
            else:
                slots[event.kind] = event.committee_reference
        elif owner == "Committee" and kind == "Formed":
            committees[event.originator_id] = {
                "community": event.community_code, "reference": event.committee_reference,
                "party": set(event.party_member_ids), "branch": event.party_branch_set_up,
                "dissolved": False}
        elif owner == "Committee" and kind == "PartyCoverageRecorded":
            committees[event.originator_id]["party"] = set(event.party_member_ids)
            committees[event.originator_id]["branch"] = event.party_branch_set_up
        elif owner == "Committee" and kind == "MemberLeft":
            committees[event.originator_id]["party"].discard(event.member_id)
        elif owner == "Committee" and kind == "Dissolved":
            committees[event.originator_id]["dissolved"] = True
        elif owner == "ServiceContract" and kind == "Started":
            contracts[event.originator_id] = (event.community_code, False)
        elif owner == "ServiceContract" and kind == "Terminated":
            contracts[event.originator_id] = (contracts[event.originator_id][0], True)

    flags: dict[str, tuple[bool, bool, bool]] = {}
    for code in place:
        refs = set(current.get(code, {}).values())
        party = any(c["community"] == code and c["reference"] in refs and not c["dissolved"]
                    and (c["branch"] or c["party"]) for c in committees.values())
        served = (any(c == code and not ended for c, ended in contracts.values())
                  or code in self_managed)
        flags[code] = (bool(refs), served, party)

    totals: dict[tuple[str, str | None], list[int]] = {}
    for code, (district, street) in place.items():
        for key in (("community", code), ("street", street), ("district", district),
                    ("city", None)):
            row = totals.setdefault(key, [0, 0, 0, 0])
            row[0] += 1
            for i, flag in enumerate(flags[code], 1):
                row[i] += flag
    return {key: (a, b, c, d) for key, (a, b, c, d) in totals.items()}


def check(view: ThreeRatesProjection, expected: dict[tuple[str, str | None],
                                                     tuple[int, int, int, int]]) -> None:
    for (level, code), counts in expected.items():
        got = view.rates(level, code, year=2026)
        assert (got.communities, got.with_committee, got.with_service, got.with_party) == counts, (
            level, code)
        # The dashboard's drill-down: the scope's communities one by one add up to it.
        rows = view.communities(level, code)
        assert (len(rows), *(sum(r.has(rate) for r in rows) for rate in RATES)) == counts, (
            level, code)
    assert view.rates("street", "NO-SUCH-STREET", year=2026).communities == 0
    assert view.communities("street", "NO-SUCH-STREET") == []


# -- tests ---------------------------------------------------------------------------------------


def test_r1_r2_view_equals_a_plain_recount_at_every_level(app: FundLedger) -> None:
    runner = Runner(app)
    view = open_projection(app, ThreeRatesProjection)
    build(app)
    runner.catch_up(view)
    expected = recount(app)
    # The scenario as designed, so the recount itself is not silently wrong:
    assert expected[("city", None)] == (4, 2, 1, 2)
    assert expected[("street", "S1")] == (2, 1, 1, 1)
    check(view, expected)

    more(app)
    runner.catch_up(view, batch_events_max=2)
    expected = recount(app)
    assert expected[("city", None)] == (4, 2, 2, 1)
    assert expected[("community", "TR-3")] == (1, 1, 0, 0)
    check(view, expected)

    city = view.rates("city", year=2026)
    assert city.committee_rate is not None and city.committee_rate * 2 == 1
    assert city.basis_points("party") == 2_500
    assert city.target_met("committee") is False  # 50 % < 90 %

    # TR-2's owners manage it themselves (covered); TR-4's enterprise leaves and its owners
    # take over, until a new enterprise enters (which ends self-management).
    self_manage(app, "TR-2", started_on=date(2026, 6, 20))
    app.give_contract_notice(community_code="TR-4", contract_reference="C-4",
                             given_on=date(2026, 3, 1), reason="not_renewing", actor=ACTOR)
    app.terminate_contract(community_code="TR-4", contract_reference="C-4",
                           terminated_on=date(2026, 6, 1), actor=ACTOR)
    self_manage(app, "TR-4", started_on=date(2026, 6, 20))
    runner.catch_up(view, batch_events_max=3)
    expected = recount(app)
    assert expected[("city", None)] == (4, 2, 3, 1)
    check(view, expected)
    app.start_service_contract(
        community_code="TR-4", enterprise_code=ENTERPRISE_A, contract_reference="C-4b",
        starts_on=date(2026, 7, 1), filed_on=date(2026, 7, 1), open_ended=True, ends_on=None,
        actor=ACTOR)
    assert app.community("TR-4").self_management is None
    runner.catch_up(view)
    expected = recount(app)
    assert expected[("community", "TR-4")] == (1, 0, 1, 0)
    check(view, expected)

    live = view.view.checksum()
    rebuild(runner, view)
    assert view.view.checksum() == live
    view.view.drop()
    runner.catch_up(view, batch_events_max=1)  # every event its own batch
    assert view.view.checksum() == live
    assert runner.position(view) == app.recorder.max_notification_id()


def test_r2_committees_of_one_reference_in_two_communities_count_apart(
        app: FundLedger) -> None:
    """Every community may call its committee PMC-1: one's party coverage is not another's
    (each community's flags are decided by its own committees)."""
    runner = Runner(app)
    view = open_projection(app, ThreeRatesProjection)
    build(app)
    for code, party in (("TR-2", ["s3"]), ("TR-4", [])):
        app.appoint_property_management_committee(
            community_code=code, committee_reference="PMC-1", appointed_on=date(2026, 2, 1),
            members=MEMBERS, chair_id="rc-chair", term_start=date(2026, 2, 1),
            term_end=date(2029, 1, 31), actor=ACTOR, party_member_ids=party)
    runner.catch_up(view)
    expected = recount(app)
    assert expected[("city", None)] == (4, 4, 1, 3)  # TR-4's PMC-1 has no party member
    assert expected[("community", "TR-4")] == (1, 1, 0, 0)
    check(view, expected)


def rates(year: int, total: int, committee: int, service: int, party: int) -> ThreeRates:
    return ThreeRates("city", None, year, total, committee, service, party)


def test_r1_targets_at_the_exact_boundaries() -> None:
    assert set(TARGETS) == {2020, 2021, 2022}
    at = rates(2020, 10, 3, 7, 3)
    assert [at.target_met(r) for r in ("committee", "service", "party")] == [True, True, True]
    assert at.all_targets_met is True
    below = rates(2020, 10, 2, 6, 2)  # service coverage must be MORE than 60 %
    assert [below.target_met(r) for r in ("committee", "service", "party")] == [
        False, False, False]
    assert rates(2020, 1_000, 299, 601, 300).target_met("committee") is False
    assert rates(2020, 1_000, 299, 601, 300).target_met("service") is True
    assert rates(2021, 10, 7, 7, 7).all_targets_met is True
    assert rates(2021, 100, 69, 70, 70).target_met("committee") is False
    assert rates(2022, 10, 9, 9, 9).all_targets_met is True
    assert rates(2030, 10, 9, 9, 8).target_met("party") is False  # 2022's 90 % still holds
    assert rates(2019, 10, 0, 0, 0).target_met("committee") is None  # no target yet
    assert rates(2021, 0, 0, 0, 0).target_met("committee") is None  # no communities
    third = rates(2021, 3, 1, 2, 3)
    assert third.committee_rate is not None and third.committee_rate * 3 == 1
    assert third.basis_points("committee") == 3_333 and third.basis_points("service") == 6_666
