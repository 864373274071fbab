"""The fund at the domain level, driven by random commands (no database).

The machine plays the application's part with the domain's own pieces (UnitAccount,
Community, the posting helpers), keeps every event the aggregates emit, and checks after
every step: F11 conservation, no negative sub-account, exact and fair apportionments, the
live aggregates equal to their rebuild from events, and the balances equal to a plain-Python
model written here independently of the domain code.
"""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import project_aggregate
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from domain.community import Community
from domain.errors import DomainError, RuleViolated
from domain.ids import unit_key
from domain.posting import check_cost_kind, income_split, works_split
from domain.unit_account import UnitAccount, first_deposit_due_fen

CODE = "CY-T"
RATE_FEN_PER_M2 = 20_000
RERAISE_PERCENT = 30
ACTOR = "test"
BUILDINGS = ("1", "2", "3")


def expected_split(total_fen: int, weights: list[int]) -> list[int]:
    """Largest remainder, written from the rule's text: floor of the exact share, then one
    more fen to the largest fractions, ties to the earlier weight."""
    weight_sum = sum(weights)
    exact = [Fraction(total_fen * w, weight_sum) for w in weights]
    shares = [int(e) for e in exact]  # exact >= 0, so int() floors
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[: total_fen - sum(shares)]:
        shares[i] += 1
    return shares


class FundMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.day = date(2024, 1, 1)
        self.serial = 0
        self.community = Community.register(
            code=CODE, name="Test Garden", district="DX", street="ST", effective_date=self.day,
            actor=ACTOR)
        self.accounts: dict[str, UnitAccount] = {}
        self.events: dict[UUID, list[Any]] = {}
        self.apportionments: list[tuple[int, list[int], list[int]]] = []
        # the model: plain values, updated by the rules' own arithmetic
        self.model_balance: dict[str, int] = {}
        self.model_first: dict[str, int | None] = {}
        self.model_closed: set[str] = set()
        self.model_owner: dict[str, list[str]] = {}
        self._collect(self.community)

    # -- helpers ------------------------------------------------------------------------

    def _next(self) -> tuple[date, str]:
        self.serial += 1
        self.day += timedelta(days=1)
        return self.day, f"REF-{self.serial}"

    def _collect(self, *aggregates: Any) -> None:
        for aggregate in aggregates:
            self.events.setdefault(aggregate.id, []).extend(aggregate.collect_events())

    def _pending(self) -> int:
        return sum(len(a.pending_events) for a in [self.community, *self.accounts.values()])

    def _open(self, paid: bool | None = None) -> list[str]:
        return sorted(k for k in self.accounts if k not in self.model_closed
                      and (paid is None or (self.model_first[k] is not None) == paid))

    def _snapshot(self) -> dict[str, tuple[int, bool]]:
        return {k: (a.balance_fen, a.closed) for k, a in self.accounts.items()}

    # -- rules --------------------------------------------------------------------------

    @rule(building=st.sampled_from(BUILDINGS), door=st.integers(101, 130),
          area=st.integers(1, 30_000), owner=st.sampled_from(["o1", "o2", "o3", "developer"]),
          pays_at_once=st.booleans())
    def register_unit(
        self, building: str, door: int, area: int, owner: str, pays_at_once: bool
    ) -> None:
        key = unit_key(building, str(door))
        if key in self.accounts:
            return
        account = UnitAccount.register(
            community_code=CODE, building=building, unit=str(door), area_m2_hundredths=area,
            area_source="register", owner_ids=[owner], effective_date=self.day, actor=ACTOR)
        self.community.add_units(units=[(key, building, str(door))], effective_date=self.day,
                                 actor=ACTOR)
        self.accounts[key] = account
        self.model_balance[key] = 0
        self.model_first[key] = None
        self.model_owner[key] = [owner]
        self._collect(account, self.community)
        if pays_at_once:
            self._pay_first(key, wrong_by=0)

    @precondition(lambda self: self._open(paid=False))
    @rule(data=st.data(), wrong_by=st.integers(-5, 5))
    def pay_first_deposit(self, data: st.DataObject, wrong_by: int) -> None:
        self._pay_first(data.draw(st.sampled_from(self._open(paid=False))), wrong_by)

    def _pay_first(self, key: str, wrong_by: int) -> None:
        account = self.accounts[key]
        due = first_deposit_due_fen(account.area_m2_hundredths, RATE_FEN_PER_M2)
        # F2 independently: area in 0.01 m² × rate per m², rounded half up to the fen
        assert due == int(Fraction(account.area_m2_hundredths * RATE_FEN_PER_M2, 100)
                          + Fraction(1, 2))
        day, reference = self._next()
        if wrong_by and due + wrong_by > 0:
            with pytest.raises(RuleViolated) as refused:
                account.pay_first_deposit(amount_fen=due + wrong_by,
                                          rate_fen_per_m2=RATE_FEN_PER_M2, effective_date=day,
                                          reference=reference, actor=ACTOR)
            assert (refused.value.rule, refused.value.field) == ("F2", "amount_yuan")
            assert self._pending() == 0
            return
        account.pay_first_deposit(amount_fen=due, rate_fen_per_m2=RATE_FEN_PER_M2,
                                  effective_date=day, reference=reference, actor=ACTOR)
        self._collect(account)
        self.model_balance[key] += due
        self.model_first[key] = due
        with pytest.raises(RuleViolated) as again:
            account.pay_first_deposit(amount_fen=due, rate_fen_per_m2=RATE_FEN_PER_M2,
                                      effective_date=day, reference=reference + "b", actor=ACTOR)
        assert again.value.rule == "F2"

    @precondition(lambda self: self._open())
    @rule(data=st.data(), amount=st.integers(1, 5_000_000))
    def top_up(self, data: st.DataObject, amount: int) -> None:
        key = data.draw(st.sampled_from(self._open()))
        account = self.accounts[key]
        day, reference = self._next()
        if self.model_first[key] is None:
            with pytest.raises(RuleViolated) as refused:
                account.top_up(amount_fen=amount, effective_date=day, reference=reference,
                               actor=ACTOR, reraise_threshold_percent=RERAISE_PERCENT)
            assert (refused.value.rule, refused.value.field) == ("F2", "kind")
            assert self._pending() == 0
            return
        account.top_up(amount_fen=amount, effective_date=day, reference=reference, actor=ACTOR,
                       reraise_threshold_percent=RERAISE_PERCENT)
        self._collect(account)
        self.model_balance[key] += amount

    @precondition(lambda self: self._open())
    @rule(amount=st.integers(1, 2_000_000))
    def allocate_income(self, amount: int) -> None:
        keys = self._open()
        accounts = [self.accounts[k] for k in keys]
        day, reference = self._next()
        weights = [self.model_balance[k] for k in keys]
        if sum(weights) == 0:
            with pytest.raises(RuleViolated) as refused:
                income_split(amount, [(a.key, a.balance_fen) for a in accounts])
            assert refused.value.rule == "F5"
            return
        shares = income_split(amount, [(a.key, a.balance_fen) for a in accounts])
        assert [s[0] for s in shares] == keys
        got = [s[2] for s in shares]
        self.apportionments.append((amount, weights, got))
        for account, (_, _, share) in zip(accounts, shares, strict=True):
            account.credit_income(amount_fen=share, effective_date=day, reference=reference,
                                  actor=ACTOR, reraise_threshold_percent=RERAISE_PERCENT)
        self.community.record_posting(reference=reference, kind="income", effective_date=day,
                                      actor=ACTOR)
        self._collect(self.community, *accounts)
        for key, share in zip(keys, expected_split(amount, weights), strict=True):
            self.model_balance[key] += share
        event("income allocated")

    @precondition(lambda self: self.accounts)
    @rule(data=st.data(), small=st.booleans(), cost_kind=st.sampled_from(
        ["roof_waterproofing", "lift", "utility_lines"]))
    def withdraw_for_works(self, data: st.DataObject, small: bool, cost_kind: str) -> None:
        """F8: all units of the range pay their area share, or the withdrawal is refused."""
        if cost_kind == "utility_lines":
            with pytest.raises(RuleViolated) as excluded:
                check_cost_kind(cost_kind)
            assert (excluded.value.rule, excluded.value.field) == ("F8", "cost_kind")
            return
        check_cost_kind(cost_kind)
        known_buildings = sorted({a.building for a in self.accounts.values()})
        buildings = data.draw(st.lists(st.sampled_from(known_buildings), unique=True,
                                       max_size=2))
        unit_keys = data.draw(st.lists(st.sampled_from(sorted(self.accounts)), unique=True,
                                       max_size=4, min_size=0 if buildings else 1))
        in_range = self.community.resolve_range(buildings=buildings, unit_keys=unit_keys)
        closed = [k for k in in_range if k in self.model_closed]
        for key in closed:  # a closed sub-account can pay nothing, not even a zero share
            with pytest.raises(RuleViolated) as gone:
                self.accounts[key].check_can_pay(0)
            assert gone.value.rule == "F7"
        keys = [k for k in in_range if k not in self.model_closed]
        if not keys:
            return
        held = sum(self.model_balance[k] for k in keys)
        # mostly within what the range holds, so that many withdrawals go through
        invoice = data.draw(st.integers(1, 10_000) if small or held == 0
                            else st.integers(1, held + held // 10))
        accounts = [self.accounts[k] for k in keys]
        areas = [a.area_m2_hundredths for a in accounts]
        shares = works_split(invoice, [(a.key, a.area_m2_hundredths) for a in accounts])
        assert [s[0] for s in shares] == keys
        got = [s[2] for s in shares]
        self.apportionments.append((invoice, areas, got))
        expected = expected_split(invoice, areas)
        can_pay = all(self.model_balance[k] >= e for k, e in zip(keys, expected, strict=True))
        day, reference = self._next()
        before = self._snapshot()
        try:
            for account, share in zip(accounts, got, strict=True):
                account.check_can_pay(share)
        except RuleViolated as refused:
            assert not can_pay, "refused although every unit holds its share"
            assert (refused.rule, refused.field) == ("F8", "charging_range")
            assert self._snapshot() == before
            assert self._pending() == 0
            event("works refused: a unit cannot pay")
            return
        assert can_pay, "accepted although a unit cannot pay its share"
        for account, share in zip(accounts, got, strict=True):
            account.charge_works_share(amount_fen=share, effective_date=day, reference=reference,
                                       actor=ACTOR, reraise_threshold_percent=RERAISE_PERCENT)
        self.community.record_posting(reference=reference, kind="works", effective_date=day,
                                      actor=ACTOR)
        self._collect(self.community, *accounts)
        for key, share in zip(keys, expected, strict=True):
            self.model_balance[key] -= share
        event("works paid")

    @precondition(lambda self: self._open())
    @rule(data=st.data(), buyer=st.sampled_from(["o1", "o2", "o4", "developer"]))
    def sell(self, data: st.DataObject, buyer: str) -> None:
        key = data.draw(st.sampled_from(self._open()))
        account = self.accounts[key]
        day, reference = self._next()
        if [buyer] == self.model_owner[key]:
            with pytest.raises(RuleViolated) as refused:
                account.sell(buyer_owner_ids=[buyer], effective_date=day, reference=reference,
                             actor=ACTOR)
            assert refused.value.rule == "F7"
            assert self._pending() == 0
            return
        account.sell(buyer_owner_ids=[buyer], effective_date=day, reference=reference,
                     actor=ACTOR)
        self._collect(account)
        self.model_owner[key] = [buyer]  # F7: the balance stays with the unit

    @precondition(lambda self: self._open())
    @rule(data=st.data())
    def refund_destroyed_unit(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(self._open()))
        account = self.accounts[key]
        day, reference = self._next()
        account.refund_on_destruction(effective_date=day, reference=reference, actor=ACTOR)
        self._collect(account)
        self.model_balance[key] = 0
        self.model_closed.add(key)
        event("unit destroyed and refunded")
        for command in (
            lambda: account.top_up(amount_fen=100, effective_date=day, reference="x",
                                   actor=ACTOR, reraise_threshold_percent=RERAISE_PERCENT),
            lambda: account.refund_on_destruction(effective_date=day, reference="x",
                                                  actor=ACTOR),
            lambda: account.sell(buyer_owner_ids=["o9"], effective_date=day, reference="x",
                                 actor=ACTOR),
        ):
            with pytest.raises(DomainError) as refused:
                command()
            assert refused.value.rule == "F7"
        assert self._pending() == 0

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def conserved(self) -> None:
        """F11: the bank legs of every event ever emitted sum to the sub-accounts."""
        bank_fen = sum(getattr(e, "bank_delta_fen", 0)
                       for events in self.events.values() for e in events)
        assert bank_fen == sum(a.balance_fen for a in self.accounts.values())

    @invariant()
    def no_negative_balance(self) -> None:
        assert all(a.balance_fen >= 0 for a in self.accounts.values())

    @invariant()
    def apportionments_exact_and_fair(self) -> None:
        for total_fen, weights, shares in self.apportionments:
            assert sum(shares) == total_fen
            weight_sum = sum(weights)
            for weight, share in zip(weights, shares, strict=True):
                assert abs(share - Fraction(total_fen * weight, weight_sum)) < 1

    @invariant()
    def matches_the_model(self) -> None:
        for key, account in self.accounts.items():
            assert account.balance_fen == self.model_balance[key], key
            assert account.closed == (key in self.model_closed)
            assert account.owner_ids == self.model_owner[key]
            assert account.first_deposit_fen == self.model_first[key]
            first = self.model_first[key]
            if not account.closed:
                # F4: flagged exactly while below 30 % of the first deposit
                below = first is not None and account.balance_fen * 100 < first * RERAISE_PERCENT
                assert account.reraise_demanded == below, key
            assert account.balance_fen == (account.deposited_fen + account.income_fen
                                           - account.charged_fen - account.refunded_fen)

    @invariant()
    def rebuilt_from_events_equals_live(self) -> None:
        for aggregate in [self.community, *self.accounts.values()]:
            rebuilt = project_aggregate(None, self.events[aggregate.id])
            assert rebuilt is not None
            assert type(rebuilt) is type(aggregate)
            live = {k: v for k, v in aggregate.__dict__.items() if k != "_pending_events"}
            again = {k: v for k, v in rebuilt.__dict__.items() if k != "_pending_events"}
            assert again == live


TestFund = FundMachine.TestCase
