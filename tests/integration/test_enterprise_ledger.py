"""Property service enterprises against a real store (SQLite, PostgreSQL): E1–E3.

Checks are on what an official or an enterprise sees: the registry, who serves a community,
the credit record, and a score that can be recomputed line by line under any scheme.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from fractions import Fraction

import pytest

from domain.credit import EXAMPLE_SCHEME, CreditScheme, FineBand, Period, Violation
from domain.credit_code import CREDIT_CODE_CHARSET, with_check_character
from domain.errors import Conflict, InvalidInput, NotFound, RuleViolated
from domain.unit_account import first_deposit_due_fen
from ledger.application import FundLedger
from ledger.commands import DepositLine, UnitRow
from ledger.settings import Settings

ACTOR = "test:housing-commission"
CODE_A = with_check_character("91110105MA01AAAA0")
CODE_B = with_check_character("91110105MA01BBBB0")
CODE_C = with_check_character("91110105MA01CCCC0")


@pytest.fixture
def app(db_url: str) -> Iterator[FundLedger]:
    ledger = FundLedger(Settings(db=db_url))
    yield ledger
    ledger.close()


def last_id(app: FundLedger) -> int:
    """The id of the last event in the log: unchanged means nothing was written."""
    return app.recorder.max_notification_id() or 0


def register_community(app: FundLedger, code: str, areas: list[int]) -> None:
    """A community whose units have these exclusive areas (0.01 m²)."""
    app.register_units(
        [UnitRow(code, f"Garden {code}", "Chaoyang", "Jinsong", "1", str(100 + n), area,
                 "register", [f"{code}-owner-{n}"], line=n + 2)
         for n, area in enumerate(areas)],
        effective_date=date(2025, 12, 1), actor=ACTOR)


def register(app: FundLedger, code: str, name: str) -> None:
    app.register_enterprise(credit_code=code, name=name, registered_on=date(2025, 12, 1),
                            actor=ACTOR)


def enter(app: FundLedger, community: str, code: str, reference: str, starts_on: date,
          *, filed_on: date | None = None) -> None:
    app.start_service_contract(
        community_code=community, enterprise_code=code, contract_reference=reference,
        starts_on=starts_on, filed_on=filed_on or starts_on, open_ended=False,
        ends_on=date(2028, 12, 31), actor=ACTOR)


# -- registry --------------------------------------------------------------------------


def test_the_registry_refuses_a_malformed_credit_code_naming_the_field(app: FundLedger) -> None:
    wrong_check = CODE_A[:-1] + next(c for c in CREDIT_CODE_CHARSET if c != CODE_A[-1])
    before = last_id(app)
    for code, rule in ((wrong_check, "credit-code-check"), (CODE_A[:-1], "credit-code-format"),
                       (CODE_A[:-1] + "I", "credit-code-format")):
        with pytest.raises(InvalidInput) as refused:
            register(app, code, "Anju Property Services")
        assert (refused.value.rule, refused.value.field) == (rule, "credit_code")
    assert last_id(app) == before
    with pytest.raises(NotFound):
        app.enterprise(wrong_check)

    register(app, CODE_A.lower(), "Anju Property Services")
    assert app.enterprise(CODE_A).name == "Anju Property Services"
    assert [e.credit_code for e in app.enterprises()] == [CODE_A]


# -- entry and exit (E1, E2) -----------------------------------------------------------


def test_e1_e2_one_serving_enterprise_then_exit_with_a_late_handover(app: FundLedger) -> None:
    register_community(app, "EN-1", [9_000, 11_000])
    register(app, CODE_A, "Anju Property Services")
    register(app, CODE_B, "Jiayuan Property Management")
    with pytest.raises(RuleViolated) as late_filing:  # 16 days after the start
        enter(app, "EN-1", CODE_A, "C-A", date(2026, 1, 1), filed_on=date(2026, 1, 17))
    assert (late_filing.value.rule, late_filing.value.field) == ("E1", "filed_on")
    enter(app, "EN-1", CODE_A, "C-A", date(2026, 1, 1), filed_on=date(2026, 1, 16))

    before = last_id(app)
    # A retried entry reports the contract; another enterprise under its reference conflicts.
    enter(app, "EN-1", CODE_A, "C-A", date(2026, 1, 1), filed_on=date(2026, 1, 16))
    with pytest.raises(Conflict) as reused:
        enter(app, "EN-1", CODE_B, "C-A", date(2026, 3, 1))
    assert (reused.value.rule, reused.value.field) == ("E1", "contract_reference")
    with pytest.raises(RuleViolated) as second:
        enter(app, "EN-1", CODE_B, "C-B", date(2026, 3, 1))
    assert (second.value.rule, second.value.field) == ("E1", "community_code")
    assert last_id(app) == before
    assert app.community("EN-1").service_enterprise == CODE_A

    # E2: 90 days' notice when the enterprise does not renew, then termination.
    app.give_contract_notice(community_code="EN-1", contract_reference="C-A",
                             given_on=date(2026, 3, 1), reason="not_renewing", actor=ACTOR)
    with pytest.raises(RuleViolated) as early:  # 89 days after the notice
        app.terminate_contract(community_code="EN-1", contract_reference="C-A",
                               terminated_on=date(2026, 5, 29), actor=ACTOR)
    assert early.value.rule == "E2"
    app.terminate_contract(community_code="EN-1", contract_reference="C-A",
                           terminated_on=date(2026, 5, 30), actor=ACTOR)
    with pytest.raises(RuleViolated):  # A still serves on 29 May
        enter(app, "EN-1", CODE_B, "C-B", date(2026, 5, 29))
    enter(app, "EN-1", CODE_B, "C-B", date(2026, 5, 30))
    assert app.community("EN-1").service_enterprise == CODE_B

    for item, on in (("common_parts", date(2026, 6, 10)), ("records", date(2026, 6, 20))):
        app.check_off_handover(community_code="EN-1", contract_reference="C-A", item=item,
                               handed_over_on=on, actor=ACTOR)
    contract = app.contract("EN-1", "C-A")
    deadline = date(2026, 6, 29)  # 30 days after termination on 30 May
    assert contract.handover_deadline == deadline
    assert contract.outstanding_handover_items == ["prepaid_fees"]

    assert app.check_overdue_handovers(as_of=deadline, actor=ACTOR) == []
    recorded = [app.check_overdue_handovers(as_of=on, actor=ACTOR)
                for on in (date(2026, 6, 30), date(2026, 7, 15), date(2026, 12, 31))]
    assert recorded == [[f"{CODE_A}: EN-1/C-A"], [], []]
    after_first = last_id(app)
    # Handing over late does not undo the violation, nor add one.
    app.check_off_handover(community_code="EN-1", contract_reference="C-A",
                           item="prepaid_fees", handed_over_on=date(2026, 7, 20), actor=ACTOR)
    assert app.check_overdue_handovers(as_of=date(2027, 1, 1), actor=ACTOR) == []
    assert last_id(app) == after_first + 1  # only the check-off was written

    violations = [e for e in app.enterprise(CODE_A).credit_events()
                  if isinstance(e, Violation)]
    assert len(violations) == 1
    assert (violations[0].kind, violations[0].effective_date,
            violations[0].community_code) == ("overdue_handover", deadline, "EN-1")
    assert "prepaid_fees" in violations[0].note
    assert app.enterprise(CODE_B).credit_events() == []


# -- credit (E3) -----------------------------------------------------------------------

OTHER_SCHEME = CreditScheme(
    name="another scheme",
    base_points=100,
    commendation_points={"district": 10},
    violation_deductions={},
    violation_deduction_default=5,
    fine_bands=(FineBand(from_fen=0, deduction=1),),
    complaint_response_weight=20,
    complaint_resolution_weight=0,
    complaint_satisfaction_weight=0,
    grade_shares_percent=(("A", 50), ("B", 50)),
)


def test_e3_credit_score_is_the_area_weighted_sum_of_its_events_under_any_scheme(
    app: FundLedger,
) -> None:
    register_community(app, "EX-1", [20_000, 10_000])  # 300 m² served
    register_community(app, "EX-2", [10_000])  # 100 m² served
    register(app, CODE_C, "Yiju Property Services")
    enter(app, "EX-1", CODE_C, "C-X1", date(2026, 1, 1))
    enter(app, "EX-2", CODE_C, "C-X2", date(2026, 1, 1))
    app.record_credit_event(CODE_C, lambda e: e.commend(
        date(2026, 3, 1), "district", "Chaoyang housing commission", "Model community",
        actor=ACTOR, community_code="EX-1"))
    app.record_credit_event(CODE_C, lambda e: e.record_fine(
        date(2026, 4, 1), 2_000_000, "Chaoyang housing commission", "Unlicensed charges",
        actor=ACTOR))
    app.record_credit_event(CODE_C, lambda e: e.record_complaint_ticket(
        date(2026, 5, 1), "12345-1", True, True, True, actor=ACTOR, community_code="EX-2"))
    app.record_credit_event(CODE_C, lambda e: e.record_complaint_ticket(
        date(2026, 5, 2), "12345-2", True, False, False, actor=ACTOR, community_code="EX-2"))
    # Outside the half-year: counts in 2026H2, not here.
    app.record_credit_event(CODE_C, lambda e: e.commend(
        date(2026, 7, 1), "city", "Beijing housing commission", "Later", actor=ACTOR))
    commendation, fine, ticket_ok, ticket_bad = (f"{CODE_C}#{n}" for n in (1, 2, 3, 4))
    period = Period.parse("2026H1")

    # By hand, EXAMPLE_SCHEME. EX-1 (300 of 400 m²): base 100, district commendation +3,
    # enterprise-wide fine of 20,000 yuan (band from 10,000 yuan) -5: 98.
    # EX-2 (100 of 400 m²): base 100, fine -5, two tickets: the second neither resolved (10)
    # nor satisfied (10), shared over 2 tickets: -10; the first 0: 85.
    # Score: 98 × 3/4 + 85 × 1/4 = 73.5 + 21.25 = 94.75.
    assert app.credit_scheme is EXAMPLE_SCHEME
    score = app.credit_score(CODE_C, period)
    assert score.points == Fraction(98 * 3 + 85, 4) == Fraction(9475, 100)
    assert (score.display(), score.points_hundredths) == ("94.75", 9475)
    assert score.served_area_m2_hundredths == 40_000
    assert {p.community_code: p.points for p in score.projects} == {"EX-1": 98, "EX-2": 85}
    assert {line.event_ref: line.points for line in score.lines} == {
        "base": 100,
        commendation: Fraction(3 * 3, 4),
        fine: -5,
        ticket_ok: 0,
        ticket_bad: Fraction(-10, 4),
    }
    assert sum(line.points for line in score.lines) == score.points

    # Another scheme, same history. EX-1: 100 + 10 - 1 = 109. EX-2: 100 - 1, and the
    # second ticket was responded to, the only weighted item: 99.
    # Score: 109 × 3/4 + 99 × 1/4 = 81.75 + 24.75 = 106.5.
    before = last_id(app)
    app.credit_scheme = OTHER_SCHEME
    rescored = app.credit_score(CODE_C, period)
    assert rescored.points == Fraction(109 * 3 + 99, 4) == Fraction(1065, 10)
    assert rescored.scheme_name == "another scheme"
    assert {line.event_ref: line.points for line in rescored.lines} == {
        "base": 100, commendation: Fraction(30, 4), fine: -1, ticket_ok: 0, ticket_bad: 0}
    assert [g.grade for g in app.credit_ranking(period)] == ["A"]
    assert last_id(app) == before

    app.credit_scheme = EXAMPLE_SCHEME
    assert app.credit_score(CODE_C, period) == score
    assert last_id(app) == before


def test_a_contract_serves_the_registered_area_of_units_with_long_histories(
    app: FundLedger,
) -> None:
    """E3 weighs a community by its registered area; units that have posted past several
    snapshots (and one with no posting at all) still count exactly their registered area."""
    register_community(app, "EX-9", [12_345, 6_789, 10_001])
    rate = app.settings.deposit_rate_fen_per_m2
    for n in range(2 * 50 + 3):  # past two snapshots of unit 1-100
        app.post_deposit(DepositLine(
            f"EX9-{n}", "EX-9", "1", "100",
            first_deposit_due_fen(12_345, rate) if n == 0 else 1_000 + n, date(2026, 1, 2),
            "first" if n == 0 else "top_up"), actor=ACTOR)
    app.post_deposit(DepositLine("EX9-other", "EX-9", "1", "101",
                                 first_deposit_due_fen(6_789, rate), date(2026, 1, 2), "first"),
                     actor=ACTOR)
    register(app, CODE_A, "Area Property Services")
    enter(app, "EX-9", CODE_A, "C-EX9", date(2026, 2, 1))
    assert app.contract("EX-9", "C-EX9").area_m2_hundredths == 12_345 + 6_789 + 10_001
