"""The fund rules that had no test of their own (F1, F2, F4–F7, F9, F11), through the ledger.

Each test drives the application as the CLI or the HTTP API would and checks what a
custodian or an owner would notice: the refusal with its rule and field, a balance, a flag,
who owns the money. docs/rules.md points here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from fractions import Fraction
from typing import Any

import pytest

from domain import unit_account
from domain.errors import BatchRejected, Conflict, InvalidInput, NotFound, RuleViolated
from domain.posting import INCOME_SOURCES
from domain.unit_account import MoneyMoved, first_deposit_due_fen
from ledger.application import FundLedger
from ledger.commands import DepositLine, UnitRow, WithdrawalRequest
from ledger.settings import Settings

CODE = "CY-R1"
ACTOR = "test"
DAY = date(2024, 1, 1)
# building, door, area in 0.01 m², owner
UNITS = [("1", "101", 8_950, "owner-a"), ("1", "102", 12_000, "owner-b"),
         ("2", "101", 7_500, "developer")]


def row(building: str, door: str, area: int, owner: str, **changes: Any) -> UnitRow:
    fields: dict[str, Any] = {
        "community_code": CODE, "community_name": "Rule Garden", "district": "Chaoyang",
        "street": "Jianwai", "building": building, "unit": door, "area_m2_hundredths": area,
        "area_source": "register", "owner_ids": [owner]}
    return UnitRow(**{**fields, **changes})


def register(app: FundLedger) -> None:
    app.register_units([row(*u) for u in UNITS], effective_date=DAY, actor=ACTOR)


def first_deposits(app: FundLedger) -> None:
    rate = app.settings.deposit_rate_fen_per_m2
    app.import_deposits([DepositLine(f"FD-{b}-{d}", CODE, b, d, first_deposit_due_fen(a, rate),
                                     date(2024, 1, 10), "first") for b, d, a, _ in UNITS],
                        actor=ACTOR)


def balance(app: FundLedger, building: str, door: str) -> int:
    return app.unit_account(CODE, building, door).balance_fen


def balances(app: FundLedger) -> dict[str, int]:
    return {f"{b}-{d}": balance(app, b, d) for b, d, _, _ in UNITS}


def refused(kind: type[Exception], command: Callable[[], Any]) -> Any:
    with pytest.raises(kind) as caught:
        command()
    return caught.value


def declare(app: FundLedger, emergency_id: str = "E-1", category: str = "roof_leak") -> None:
    app.declare_emergency(community_code=CODE, emergency_id=emergency_id, category=category,
                          description="", declared_on=date(2024, 4, 1), actor=ACTOR)


def works(reference: str, invoice_fen: int, **changes: Any) -> WithdrawalRequest:
    fields: dict[str, Any] = {
        "reference": reference, "community_code": CODE, "project": "roof", "invoice_fen":
        invoice_fen, "cost_kind": "roof_waterproofing", "paid_on": date(2024, 4, 2),
        "buildings": ["1", "2"], "emergency_id": "E-1"}
    return WithdrawalRequest(**{**fields, **changes})


def largest_remainder(total_fen: int, weights: list[int]) -> list[int]:
    """Whole fen by weight, written from the rule: each unit gets the floor of its exact
    share, then the fen left over go one each to the largest fractions, ties to the unit
    that comes first."""
    exact = [Fraction(total_fen * w, sum(weights)) for w in weights]
    shares = [int(e) for e in exact]
    order = sorted(range(len(weights)), key=lambda i: (shares[i] - exact[i], i))
    for i in order[: total_fen - sum(shares)]:
        shares[i] += 1
    return shares


def test_f1_a_unit_is_registered_once_by_building_and_door_with_its_area_and_its_source(
    app: FundLedger,
) -> None:
    created = app.register_units([row(*u) for u in UNITS], effective_date=DAY, actor=ACTOR)
    assert (created.communities_added, created.units_added) == (1, len(UNITS))
    account = app.unit_account(CODE, "1", "102")
    assert (account.key, account.area_m2_hundredths, account.area_source) == (
        "1-102", 12_000, "register")
    assert sorted(app.community(CODE).units) == ["1-101", "1-102", "2-101"]

    again = app.register_units([row(*u) for u in UNITS], effective_date=DAY, actor=ACTOR)
    assert (again.units_added, again.units_unchanged) == (0, len(UNITS))
    other_area = refused(BatchRejected, lambda: app.register_units(
        [row("1", "102", 12_001, "owner-b")], effective_date=DAY, actor=ACTOR))
    assert isinstance(other_area.error, Conflict)
    assert (other_area.rule, other_area.field) == ("F1", "unit")
    guessed = refused(BatchRejected, lambda: app.register_units(
        [row("3", "101", 5_000, "owner-c", area_source="estimate")], effective_date=DAY,
        actor=ACTOR))
    assert (guessed.rule, guessed.field) == ("F1", "area_source")
    unknown = refused(NotFound, lambda: app.unit_account(CODE, "9", "101"))
    assert (unknown.rule, unknown.field) == ("F1", "unit")


def test_f2_the_first_deposit_is_area_times_the_configured_rate_and_comes_before_delivery(
    db_url: str,
) -> None:
    app = FundLedger(Settings(db=db_url, deposit_rate_fen_per_m2=15_000))
    try:
        register(app)
        early = refused(RuleViolated, lambda: app.mark_delivered(
            community_code=CODE, building="1", unit="101", delivered_on=date(2024, 1, 5),
            actor=ACTOR))
        assert (early.rule, early.field) == ("F2", "unit")
        top_up_first = refused(RuleViolated, lambda: app.post_deposit(DepositLine(
            "TU-0", CODE, "1", "101", 100, date(2024, 1, 5), "top_up"), actor=ACTOR))
        assert (top_up_first.rule, top_up_first.field) == ("F2", "kind")
        # 89.50 m² × 150 yuan/m² = 13,425 yuan; a fen more or less is refused
        for wrong_fen in (1_342_499, 1_342_501):
            wrong = refused(RuleViolated, lambda w=wrong_fen: app.post_deposit(DepositLine(
                "FD-X", CODE, "1", "101", w, date(2024, 1, 10), "first"), actor=ACTOR))
            assert (wrong.rule, wrong.field) == ("F2", "amount_yuan")
        app.post_deposit(DepositLine("FD-1", CODE, "1", "101", 1_342_500, date(2024, 1, 10),
                                     "first"), actor=ACTOR)
        account = app.unit_account(CODE, "1", "101")
        assert account.first_deposit_fen == 1_342_500
        paid = [e for e in app.events.get(account.id) if type(e).__name__ == "FirstDepositPaid"]
        assert [e.rate_fen_per_m2 for e in paid] == [15_000]  # the rate then in force
        assert app.deliver_units(community_code=CODE, delivered_on=date(2024, 1, 20),
                                 actor=ACTOR) == 1  # only the unit that has paid
        assert app.unit_account(CODE, "1", "101").delivered
        assert not app.unit_account(CODE, "1", "102").delivered
    finally:
        app.close()


def test_f4_a_sub_account_below_30_percent_of_its_first_deposit_is_flagged_until_topped_up(
    app: FundLedger,
) -> None:
    register(app)
    first_deposits(app)
    declare(app)
    first_fen = app.unit_account(CODE, "1", "101").first_deposit_fen
    assert first_fen is not None
    # charge building 1 and 2 so that every unit keeps just under 30 % of its first deposit
    held = sum(balances(app).values())
    app.withdraw(works("W-1", held - held * 29 // 100), actor=ACTOR)
    account = app.unit_account(CODE, "1", "101")
    assert account.balance_fen * 100 < first_fen * 30
    assert account.reraise_demanded
    assert all(app.unit_account(CODE, b, d).reraise_demanded for b, d, _, _ in UNITS)

    top_up_fen = -(-first_fen * 30 // 100) - account.balance_fen  # just back to 30 %
    app.post_deposit(DepositLine("TU-1", CODE, "1", "101", top_up_fen, date(2024, 5, 1),
                                 "top_up"), actor=ACTOR)
    account = app.unit_account(CODE, "1", "101")
    assert account.balance_fen * 100 >= first_fen * 30
    assert not account.reraise_demanded
    assert app.unit_account(CODE, "1", "102").reraise_demanded
    names = [type(e).__name__ for e in app.events.get(account.id)]
    assert (names.count("ReraiseDemanded"), names.count("ReraiseSatisfied")) == (1, 1)


def test_f5_income_is_shared_by_balance_in_whole_fen_with_the_remainder_placed_by_unit_order(
    app: FundLedger,
) -> None:
    register(app)
    no_balance = refused(RuleViolated, lambda: app.allocate_income(
        community_code=CODE, amount_fen=100, source="interest", received_on=date(2024, 1, 2),
        reference="INT-0", actor=ACTOR))
    assert (no_balance.rule, no_balance.field) == ("F5", "amount_yuan")
    app.import_deposits([DepositLine(f"FD-{b}-{d}", CODE, b, d, first_deposit_due_fen(
        a, app.settings.deposit_rate_fen_per_m2), date(2024, 1, 10), "first")
        for b, d, a, _ in UNITS[:2]], actor=ACTOR)
    before = balances(app)
    unknown = refused(InvalidInput, lambda: app.allocate_income(
        community_code=CODE, amount_fen=100, source="lottery", received_on=date(2024, 6, 30),
        reference="INT-X", actor=ACTOR))
    assert (unknown.rule, unknown.field) == ("F5", "source")

    app.allocate_income(community_code=CODE, amount_fen=10_001, source="interest",
                        received_on=date(2024, 6, 30), reference="INT-1", actor=ACTOR)
    gained = {k: v - before[k] for k, v in balances(app).items()}
    assert sum(gained.values()) == 10_001
    assert gained["2-101"] == 0  # nothing held, nothing earned
    weights = [before["1-101"], before["1-102"]]
    assert [gained["1-101"], gained["1-102"]] == largest_remainder(10_001, weights)
    assert [s[2] for s in app.posting("INT-1").shares] == [
        gained["1-101"], gained["1-102"], 0]


def test_f6_the_fund_is_never_invested_money_leaves_only_for_works_or_a_refund(
    app: FundLedger,
) -> None:
    # Every kind of money event a sub-account knows; only two of them pay money out of the
    # bank account, and neither buys anything: adding one that does must revisit F6.
    money_events = {name for name, value in vars(unit_account.UnitAccount).items()
                    if isinstance(value, type) and issubclass(value, MoneyMoved)}
    assert money_events == {"FirstDepositPaid", "ToppedUp", "IncomeCredited",
                            "WorksShareCharged", "RefundedOnDestruction"}
    assert not [name for name in dir(app) if "invest" in name.lower()]
    # bond income, the only trace of an investment the ledger sees, arrives as F5 income
    assert "bond_income" in INCOME_SOURCES
    register(app)
    first_deposits(app)
    held = sum(balances(app).values())
    app.allocate_income(community_code=CODE, amount_fen=5_000, source="bond_income",
                        received_on=date(2024, 12, 31), reference="BOND-1", actor=ACTOR)
    assert sum(balances(app).values()) == held + 5_000


def test_f7_a_sale_passes_the_balance_to_the_buyer_and_a_destruction_refunds_the_owner(
    app: FundLedger,
) -> None:
    register(app)
    first_deposits(app)
    held = balance(app, "1", "101")
    app.sell_unit(community_code=CODE, building="1", unit="101", buyer_owner_ids=["owner-z"],
                  sold_on=date(2024, 3, 1), reference="SALE-1", actor=ACTOR)
    sold = app.unit_account(CODE, "1", "101")
    assert (sold.owner_ids, sold.balance_fen, sold.refunded_fen) == (["owner-z"], held, 0)
    same_owner = refused(RuleViolated, lambda: app.sell_unit(
        community_code=CODE, building="1", unit="101", buyer_owner_ids=["owner-z"],
        sold_on=date(2024, 3, 2), reference="SALE-2", actor=ACTOR))
    assert same_owner.rule == "F7"

    app.refund_destroyed_unit(community_code=CODE, building="1", unit="101",
                              destroyed_on=date(2024, 4, 1), reference="RF-1", actor=ACTOR)
    destroyed = app.unit_account(CODE, "1", "101")
    assert (destroyed.closed, destroyed.balance_fen, destroyed.refunded_fen) == (
        True, 0, held)
    refund = [e for e in app.events.get(destroyed.id)
              if type(e).__name__ == "RefundedOnDestruction"]
    assert [(e.owner_ids, e.bank_delta_fen) for e in refund] == [(["owner-z"], -held)]
    closed = refused(RuleViolated, lambda: app.post_deposit(DepositLine(
        "TU-9", CODE, "1", "101", 100, date(2024, 4, 2), "top_up"), actor=ACTOR))
    assert (closed.rule, closed.field) == ("F7", "unit")


def test_f9_only_a_listed_emergency_pays_works_without_a_vote_and_its_disclosure_follows(
    app: FundLedger,
) -> None:
    register(app)
    first_deposits(app)
    not_listed = refused(RuleViolated, lambda: declare(app, "E-2", "garden_fence"))
    assert (not_listed.rule, not_listed.field) == ("F9", "category")
    declare(app, "E-1", "lift_danger")
    declare(app, "E-1", "lift_danger")  # the same declaration again changes nothing
    other = refused(Conflict, lambda: declare(app, "E-1", "roof_leak"))
    assert (other.rule, other.field) == ("F9", "emergency_id")
    assert app.community(CODE).emergencies == {"E-1": "lift_danger"}

    app.withdraw(works("W-LIFT", 30_000, cost_kind="lift"), actor=ACTOR)
    withdrawal = app.posting("W-LIFT")
    assert (withdrawal.basis, withdrawal.emergency_category, withdrawal.resolution_id) == (
        "emergency", "lift_danger", None)
    assert withdrawal.disclosure_pending


def test_f11_every_posting_moves_the_bank_and_the_sub_accounts_by_the_same_amount(
    app: FundLedger,
) -> None:
    register(app)
    first_deposits(app)
    declare(app)
    deposited = sum(balances(app).values())
    app.post_deposit(DepositLine("TU-1", CODE, "1", "102", 12_345, date(2024, 2, 1),
                                 "top_up"), actor=ACTOR)
    app.allocate_income(community_code=CODE, amount_fen=7_777, source="interest",
                        received_on=date(2024, 3, 31), reference="INT-1", actor=ACTOR)
    app.withdraw(works("W-1", 123_457), actor=ACTOR)
    app.sell_unit(community_code=CODE, building="2", unit="101", buyer_owner_ids=["owner-y"],
                  sold_on=date(2024, 5, 1), reference="SALE-1", actor=ACTOR)
    refunded = balance(app, "1", "101")
    app.refund_destroyed_unit(community_code=CODE, building="1", unit="101",
                              destroyed_on=date(2024, 6, 1), reference="RF-1", actor=ACTOR)

    bank_fen = sum(getattr(e, "bank_delta_fen", 0)
                   for b, d, _, _ in UNITS
                   for e in app.events.get(app.unit_account(CODE, b, d).id))
    expected_fen = deposited + 12_345 + 7_777 - 123_457 - refunded
    assert sum(balances(app).values()) == bank_fen == expected_fen
