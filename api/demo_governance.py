"""The demo's owners' committee election, fund-use vote and the withdrawal it allows,
and its property service enterprises with one late handover (issues 3 and 4).

Each part runs once: a second ``fundledger demo`` finds it recorded and leaves it alone.
"""

from __future__ import annotations

import random
from datetime import date

from domain.committee import PmcMember
from domain.credit import Graded, Period
from domain.credit_code import with_check_character
from domain.errors import NotFound
from domain.vote import ABSTAIN, AGREE, DISAGREE, TallyResult
from ledger.application import FundLedger
from ledger.commands import WithdrawalRequest

COMMUNITY = "CY-0003"
ACTOR = "demo:street-office"
ELECTION = "OC-ELECTION-2026"
FUND_VOTE = "FUND-2026-PUMPS-B2"
OPEN_VOTE = "FUND-2026-LIFT-B1"
YEAR = 2026


def _owners(app: FundLedger) -> list[str]:
    """The demo community's voters' first owner ids, in unit order."""
    return [h.owner_ids[0] for h in app.holdings(COMMUNITY) if h.owner_ids]


def run_governance(app: FundLedger, rng: random.Random) -> tuple[TallyResult, TallyResult]:
    try:
        election = app.vote(COMMUNITY, ELECTION)
        fund_vote = app.vote(COMMUNITY, FUND_VOTE)
        if election.result is not None and fund_vote.result is not None:
            return election.result, fund_vote.result
    except NotFound:
        pass
    app.deliver_units(community_code=COMMUNITY, delivered_on=date(YEAR, 2, 28), actor=ACTOR)
    owners = sorted(set(_owners(app)))
    candidates = rng.sample(owners, 7)
    app.propose_vote(community_code=COMMUNITY, vote_reference=ELECTION,
                     matter_kind="committee_election", title="第一届业主委员会选举",
                     proposed_on=date(YEAR, 3, 1), actor=ACTOR, seats=5)
    for candidate in candidates:
        app.nominate_candidate(community_code=COMMUNITY, vote_reference=ELECTION,
                               candidate_id=candidate, eligible=True,
                               nominated_on=date(YEAR, 3, 1), actor=ACTOR)
    app.publish_vote(community_code=COMMUNITY, vote_reference=ELECTION,
                     published_on=date(YEAR, 3, 2), actor=ACTOR)
    app.open_vote(community_code=COMMUNITY, vote_reference=ELECTION,
                  opened_on=date(YEAR, 3, 17), actor=ACTOR)
    ballots: list[tuple[str, str, list[str]]] = []
    for owner in _voters(app, rng, participation=0.8):
        # Most voters back the first five candidates; a few pick others.
        picks = candidates[:5] if rng.random() < 0.8 else rng.sample(candidates, 5)
        ballots.append((owner, AGREE, picks))
    app.cast_ballots(community_code=COMMUNITY, vote_reference=ELECTION, ballots=ballots,
                     cast_on=date(YEAR, 3, 20))
    elected = app.close_vote(community_code=COMMUNITY, vote_reference=ELECTION,
                             closed_on=date(YEAR, 3, 24), actor=ACTOR)
    app.form_owners_committee(community_code=COMMUNITY, election_reference=ELECTION,
                              committee_reference="OC-1", term_start=date(YEAR, 3, 24),
                              term_end=date(YEAR + 5, 3, 23), actor=ACTOR,
                              party_member_ids=list(elected.elected[:2]),
                              party_branch_set_up=True)
    app.file_owners_committee(community_code=COMMUNITY, committee_reference="OC-1",
                              filed_on=date(YEAR, 4, 2), street_office="团结湖街道办事处",
                              actor=ACTOR)
    return elected, _fund_vote(app, rng)


def _voters(app: FundLedger, rng: random.Random, participation: float) -> list[str]:
    owners = sorted(set(_owners(app)))
    return [o for o in owners if rng.random() < participation]


def _fund_vote(app: FundLedger, rng: random.Random) -> TallyResult:
    app.propose_vote(community_code=COMMUNITY, vote_reference=FUND_VOTE, matter_kind="fund_use",
                     title="更换2号楼二次供水水泵", proposed_on=date(YEAR, 4, 20), actor=ACTOR,
                     buildings=["2"], approved_amount_fen=25_000_000,
                     purpose="Replace the secondary water-supply pumps of building 2")
    app.publish_vote(community_code=COMMUNITY, vote_reference=FUND_VOTE,
                     published_on=date(YEAR, 4, 21), actor=ACTOR)
    app.open_vote(community_code=COMMUNITY, vote_reference=FUND_VOTE,
                  opened_on=date(YEAR, 5, 8), actor=ACTOR)
    electorate = app.vote_count(app.vote(COMMUNITY, FUND_VOTE)).electorate
    ballots: list[tuple[str, str, list[str]]] = []
    for voter in electorate.voters:
        if rng.random() < 0.85:
            choice = rng.choices((AGREE, DISAGREE, ABSTAIN), (75, 15, 10))[0]
            ballots.append((voter.owner_ids[0] if voter.owner_ids else "developer", choice, []))
    app.cast_ballots(community_code=COMMUNITY, vote_reference=FUND_VOTE, ballots=ballots,
                     cast_on=date(YEAR, 5, 15))
    result = app.close_vote(community_code=COMMUNITY, vote_reference=FUND_VOTE,
                            closed_on=date(YEAR, 5, 22), actor=ACTOR)
    if result.passed:
        app.withdraw(WithdrawalRequest(
            reference=f"WD-{COMMUNITY}-{YEAR}-PUMPS", community_code=COMMUNITY,
            project="Secondary water-supply pumps, building 2", cost_kind="water_pump",
            invoice_fen=19_876_543, paid_on=date(YEAR, 6, 10), buildings=["2"],
            resolution_id=FUND_VOTE), actor="demo:fund-office")
    return result


def run_open_vote(app: FundLedger) -> str:
    """A fund-use vote left open for the owners' pages, with a third of its ballots in;
    returns the demo owner: one who owns one unit of its range alone and has not voted."""
    try:
        vote = app.vote(COMMUNITY, OPEN_VOTE)
    except NotFound:
        app.propose_vote(community_code=COMMUNITY, vote_reference=OPEN_VOTE,
                         matter_kind="fund_use", title="更换1号楼电梯曳引机",
                         proposed_on=date(YEAR, 10, 30), actor=ACTOR, buildings=["1"],
                         approved_amount_fen=38_600_000,
                         purpose="更换1号楼两部电梯的曳引机和钢丝绳（运行已满15年）")
        app.publish_vote(community_code=COMMUNITY, vote_reference=OPEN_VOTE,
                         published_on=date(YEAR, 11, 2), actor=ACTOR)
        vote = app.open_vote(community_code=COMMUNITY, vote_reference=OPEN_VOTE,
                             opened_on=date(YEAR, 11, 17), actor=ACTOR)
        voters = [v for v in app.vote_count(vote).electorate.voters if v.owner_ids]
        app.cast_ballots(community_code=COMMUNITY, vote_reference=OPEN_VOTE, ballots=[
            (v.owner_ids[0], AGREE if n % 4 else DISAGREE, []) for n, v in enumerate(voters)
            if n % 3 == 2], cast_on=date(YEAR, 11, 20))
        vote = app.vote(COMMUNITY, OPEN_VOTE)
    count = app.vote_count(vote)
    return next(v.owner_ids[0] for v in count.electorate.voters
                if len(v.owner_ids) == 1 and len(v.units) == 1
                and v.voter_key not in count.ballots)


ENTERPRISES = (
    ("91110105MA01ABCD0", "北京朝阳安居物业服务有限公司"),
    ("91110105MA01EFGH0", "北京望京嘉园物业管理有限公司"),
    ("91110105MA01JKLM0", "北京东坝宜居物业服务有限公司"),
)


def run_enterprises(app: FundLedger) -> list[Graded]:
    codes = [with_check_character(code[:17]) for code, _ in ENTERPRISES]
    for code, (_, name) in zip(codes, ENTERPRISES, strict=True):
        app.register_enterprise(credit_code=code, name=name, registered_on=date(YEAR, 1, 1),
                                actor=ACTOR)
    if app.community("CY-0004").service_contract is None:
        _contracts(app, codes)
        _property_management_committee(app)
    app.check_overdue_handovers(as_of=date(YEAR, 12, 31), actor=ACTOR)
    return app.credit_ranking(Period.parse(f"{YEAR}H2"))


def _property_management_committee(app: FundLedger) -> None:
    """CY-0001 has had no owners' committee: the street office appointed a property
    management committee in 2024, with a party member among its owners (C3, C4)."""
    appointed_on = date(2024, 3, 1)
    members = [PmcMember("pmc-rc-chair", is_owner=False, residents_committee_representative=True),
               PmcMember("pmc-street-1", is_owner=False),
               PmcMember("pmc-street-2", is_owner=False),
               *(PmcMember(f"pmc-owner-{n}", is_owner=True) for n in range(1, 5))]
    app.appoint_property_management_committee(
        community_code="CY-0001", committee_reference="PMC-2024-01", appointed_on=appointed_on,
        members=members, chair_id="pmc-rc-chair", term_start=appointed_on,
        term_end=date(2027, 2, 28), actor=ACTOR, party_member_ids=["pmc-owner-1"])


def _contracts(app: FundLedger, codes: list[str]) -> None:
    first, second, third = codes
    for community, code, reference in (("CY-0001", first, "C-2026-01"),
                                       ("CY-0002", first, "C-2026-02"),
                                       ("CY-0003", second, "C-2026-03"),
                                       ("CY-0004", second, "C-2026-04")):
        app.start_service_contract(
            community_code=community, enterprise_code=code, contract_reference=reference,
            starts_on=date(YEAR, 1, 1), filed_on=date(YEAR, 1, 10), open_ended=False,
            ends_on=date(YEAR + 2, 12, 31), actor=ACTOR)
    # The second enterprise leaves CY-0004 and hands over late: prepaid fees stay open.
    app.give_contract_notice(community_code="CY-0004", contract_reference="C-2026-04",
                             given_on=date(YEAR, 3, 1), reason="not_renewing", actor=ACTOR)
    app.terminate_contract(community_code="CY-0004", contract_reference="C-2026-04",
                           terminated_on=date(YEAR, 6, 30), actor=ACTOR)
    for item, on in (("common_parts", date(YEAR, 7, 10)), ("records", date(YEAR, 7, 20))):
        app.check_off_handover(community_code="CY-0004", contract_reference="C-2026-04",
                               item=item, handed_over_on=on, actor=ACTOR)
    app.start_service_contract(
        community_code="CY-0004", enterprise_code=third, contract_reference="C-2026-05",
        starts_on=date(YEAR, 7, 1), filed_on=date(YEAR, 7, 5), open_ended=True, ends_on=None,
        actor=ACTOR)
    app.record_credit_event(first, lambda e: e.commend(
        date(YEAR, 9, 1), "district", "朝阳区住房和城乡建设委员会", "Model community",
        actor=ACTOR, community_code="CY-0001"))
    for n, (code, responded, resolved, satisfied) in enumerate((
            (first, True, True, True), (first, True, True, False), (second, True, False, False),
            (third, True, True, True), (third, False, False, False))):
        app.record_credit_event(code, lambda e, n=n, r=responded, s=resolved, t=satisfied:
                                e.record_complaint_ticket(date(YEAR, 10, 1 + n), f"12345-{n}",
                                                          r, s, t, actor=ACTOR))
    app.record_credit_event(second, lambda e: e.record_fine(
        date(YEAR, 8, 20), 2_000_000, "朝阳区住房和城乡建设委员会", "Unlicensed charges",
        actor=ACTOR, community_code="CY-0003"))
