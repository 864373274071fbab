"""A unit's sub-account (分户账) in its community's maintenance fund (F1–F8, F11).

One aggregate per unit, so a deposit to one unit never rewrites, nor waits on, the other
4,999 units of its community. Every money event carries both legs of its double entry: the
sub-account's change and the fund's bank account change (``bank_delta_fen``). They are equal
by construction, so the community's bank balance is always the sum of its sub-accounts (F11).
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, RuleViolated
from domain.eventsourcing_internals import trigger_event_quickly
from domain.identifiers import BUILDING, CODE, REFERENCE, UNIT, check_identifier
from domain.ids import unit_account_id, unit_key
from domain.money import AMOUNT_FEN_MAX, format_area, format_fen
from domain.owner_ids import check_owner_id

AREA_SOURCES = ("register", "surveyed", "contract")  # F1: precedence, strongest first
DEVELOPER_OWNER_ID = "developer"
OWNER_IDS_MAX = 16  # co-owners of one unit; more is a data error


def first_deposit_due_fen(area_m2_hundredths: int, rate_fen_per_m2: int) -> int:
    """F2: area × rate, rounded half up to the fen (area is in hundredths of a m²)."""
    return (area_m2_hundredths * rate_fen_per_m2 + 50) // 100


def reraise_threshold_fen(first_deposit_fen: int, threshold_percent: int) -> int:
    """F4: the least balance that is not below ``threshold_percent`` of the first deposit
    (rounded up to the fen: a balance one fen short of the exact fraction is below it)."""
    return -(-first_deposit_fen * threshold_percent // 100)


def check_owner_ids(owner_ids: list[str], field: str = "owner_id") -> None:
    if not owner_ids or not all(o.strip() for o in owner_ids):
        raise InvalidInput("a unit needs at least one owner id", rule="F1", field=field)
    if len(owner_ids) > OWNER_IDS_MAX:
        raise InvalidInput(
            f"a unit has at most {OWNER_IDS_MAX} co-owners", rule="F1", field=field
        )
    if DEVELOPER_OWNER_ID in owner_ids and len(owner_ids) > 1:
        raise InvalidInput(
            f"{DEVELOPER_OWNER_ID!r} holds a unit alone (V3 counts its units as one head); "
            "it cannot be one of several co-owners",
            rule="F1",
            field=field,
        )
    if len(set(owner_ids)) != len(owner_ids):
        raise InvalidInput("an owner id is listed twice", rule="F1", field=field)
    for owner_id in owner_ids:
        check_owner_id(owner_id, field)


def check_amount(amount_fen: int, field: str = "amount_yuan") -> None:
    if not 0 < amount_fen <= AMOUNT_FEN_MAX:
        raise InvalidInput(
            f"amount must be positive and at most {format_fen(AMOUNT_FEN_MAX)} yuan",
            rule="amount-positive",
            field=field,
        )


class MoneyMoved(Aggregate.Event):
    """A posting's two legs: the sub-account's ``amount_fen`` and the bank's delta (F11)."""

    amount_fen: int
    bank_delta_fen: int
    effective_date: date
    reference: str
    actor: str


class UnitAccount(Aggregate):
    """The sub-account of one unit, keyed by community, building and door number."""

    @staticmethod
    def create_id(community_code: str, building: str, unit: str, **_: Any) -> UUID:
        return unit_account_id(community_code, building, unit)

    @classmethod
    def register(
        cls,
        *,
        community_code: str,
        building: str,
        unit: str,
        area_m2_hundredths: int,
        area_source: str,
        owner_ids: list[str],
        effective_date: date,
        actor: str,
    ) -> UnitAccount:
        check_identifier(community_code, CODE, "community_code")
        check_identifier(building, BUILDING, "building")
        check_identifier(unit, UNIT, "unit")
        if area_source not in AREA_SOURCES:
            raise InvalidInput(
                f"area source {area_source!r} is not one of {', '.join(AREA_SOURCES)}",
                rule="F1",
                field="area_source",
            )
        if area_m2_hundredths <= 0:
            raise InvalidInput("area must be positive", rule="F1", field="area_m2")
        check_owner_ids(owner_ids)
        return cls(
            community_code=community_code,
            building=building,
            unit=unit,
            area_m2_hundredths=area_m2_hundredths,
            area_source=area_source,
            owner_ids=list(owner_ids),
            effective_date=effective_date,
            actor=actor,
        )

    @event("Registered")
    def __init__(
        self,
        community_code: str,
        building: str,
        unit: str,
        area_m2_hundredths: int,
        area_source: str,
        owner_ids: list[str],
        effective_date: date,
        actor: str,
    ) -> None:
        self.community_code = community_code
        self.building = building
        self.unit = unit
        self.area_m2_hundredths = area_m2_hundredths
        self.area_source = area_source
        self.owner_ids = list(owner_ids)
        # the register row as first given; a later sale changes owner_ids, not this
        self.registered_owner_ids = list(owner_ids)
        self.developer_held = owner_ids == [DEVELOPER_OWNER_ID]
        self.delivered = False
        self.closed = False
        self.balance_fen = 0
        self.deposited_fen = 0
        self.income_fen = 0
        self.charged_fen = 0
        self.refunded_fen = 0
        self.first_deposit_fen: int | None = None
        self.reraise_demanded = False

    # A bank batch's hot path: the library's trigger_event, with less work per event (see
    # domain.eventsourcing_internals for what it skips and the measurement).
    trigger_event = trigger_event_quickly

    @property
    def key(self) -> str:
        return unit_key(self.building, self.unit)

    def same_registration(
        self, area_m2_hundredths: int, area_source: str, owner_ids: list[str]
    ) -> bool:
        return (
            self.area_m2_hundredths == area_m2_hundredths
            and self.area_source == area_source
            and self.registered_owner_ids == list(owner_ids)
        )

    # -- deposits (F2, F4) ------------------------------------------------------------------

    def pay_first_deposit(
        self,
        *,
        amount_fen: int,
        rate_fen_per_m2: int,
        effective_date: date,
        reference: str,
        actor: str,
    ) -> None:
        self._check_open()
        check_amount(amount_fen)
        check_identifier(reference, REFERENCE, "reference")
        if self.first_deposit_fen is not None:
            raise RuleViolated(
                f"unit {self.key} has already paid its first deposit; post a top_up",
                rule="F2",
                field="kind",
            )
        due_fen = first_deposit_due_fen(self.area_m2_hundredths, rate_fen_per_m2)
        if amount_fen != due_fen:
            raise RuleViolated(
                f"the first deposit of unit {self.key} must be {format_fen(due_fen)} yuan "
                f"({format_area(self.area_m2_hundredths)} m² × "
                f"{format_fen(rate_fen_per_m2)} yuan/m²), not {format_fen(amount_fen)}",
                rule="F2",
                field="amount_yuan",
            )
        self.trigger_event(
            self.FirstDepositPaid,
            amount_fen=amount_fen,
            bank_delta_fen=amount_fen,
            rate_fen_per_m2=rate_fen_per_m2,
            effective_date=effective_date,
            reference=reference,
            actor=actor,
        )

    class FirstDepositPaid(MoneyMoved):
        rate_fen_per_m2: int  # F2 policy in force, recorded with the deposit it priced

        def apply(self, aggregate: UnitAccount) -> None:
            aggregate.first_deposit_fen = self.amount_fen
            aggregate.balance_fen += self.amount_fen
            aggregate.deposited_fen += self.amount_fen

    def top_up(
        self,
        *,
        amount_fen: int,
        effective_date: date,
        reference: str,
        actor: str,
        reraise_threshold_percent: int,
    ) -> None:
        self._check_open()
        check_amount(amount_fen)
        if self.first_deposit_fen is None:
            raise RuleViolated(
                f"unit {self.key} has not paid its first deposit; post kind first",
                rule="F2",
                field="kind",
            )
        self._move_money(
            self.ToppedUp, amount_fen, effective_date, reference, actor, reraise_threshold_percent
        )

    class ToppedUp(MoneyMoved):
        def apply(self, aggregate: UnitAccount) -> None:
            aggregate.balance_fen += self.amount_fen
            aggregate.deposited_fen += self.amount_fen

    # -- income (F5) and works (F8) -----------------------------------------------------------

    def credit_income(
        self,
        *,
        amount_fen: int,
        effective_date: date,
        reference: str,
        actor: str,
        reraise_threshold_percent: int,
    ) -> None:
        self._check_open()
        if amount_fen <= 0:
            return  # a zero share is no posting
        self._move_money(
            self.IncomeCredited,
            amount_fen,
            effective_date,
            reference,
            actor,
            reraise_threshold_percent,
        )

    class IncomeCredited(MoneyMoved):
        def apply(self, aggregate: UnitAccount) -> None:
            aggregate.balance_fen += self.amount_fen
            aggregate.income_fen += self.amount_fen

    def check_can_pay(self, amount_fen: int) -> None:
        """F8: no sub-account may go negative."""
        self._check_open()
        if amount_fen > self.balance_fen:
            raise RuleViolated(
                f"unit {self.key} holds {format_fen(self.balance_fen)} yuan, less than its "
                f"share {format_fen(amount_fen)}; no sub-account may go negative",
                rule="F8",
                field="charging_range",
            )

    def charge_works_share(
        self,
        *,
        amount_fen: int,
        effective_date: date,
        reference: str,
        actor: str,
        reraise_threshold_percent: int,
    ) -> None:
        self.check_can_pay(amount_fen)
        if amount_fen == 0:
            return
        self._move_money(
            self.WorksShareCharged,
            -amount_fen,
            effective_date,
            reference,
            actor,
            reraise_threshold_percent,
        )

    class WorksShareCharged(MoneyMoved):
        def apply(self, aggregate: UnitAccount) -> None:
            aggregate.balance_fen -= self.amount_fen
            aggregate.charged_fen += self.amount_fen

    def _move_money(
        self,
        event_class: type[MoneyMoved],
        bank_delta_fen: int,
        effective_date: date,
        reference: str,
        actor: str,
        reraise_threshold_percent: int,
    ) -> None:
        """Trigger a money event with both legs, then review the F4 flag it may change."""
        check_identifier(reference, REFERENCE, "reference")
        self.trigger_event(
            event_class,
            amount_fen=abs(bank_delta_fen),
            bank_delta_fen=bank_delta_fen,
            effective_date=effective_date,
            reference=reference,
            actor=actor,
        )
        self._review_reraise(effective_date, reraise_threshold_percent)

    # -- re-raising flag (F4) -----------------------------------------------------------------

    def _review_reraise(self, effective_date: date, threshold_percent: int) -> None:
        if self.first_deposit_fen is None:
            return
        threshold_fen = reraise_threshold_fen(self.first_deposit_fen, threshold_percent)
        below = self.balance_fen < threshold_fen
        if below and not self.reraise_demanded:
            self.trigger_event(
                self.ReraiseDemanded,
                threshold_percent=threshold_percent,
                balance_fen=self.balance_fen,
                first_deposit_fen=self.first_deposit_fen,
                threshold_fen=threshold_fen,
                effective_date=effective_date,
            )
        elif not below and self.reraise_demanded:
            self.trigger_event(
                self.ReraiseSatisfied,
                threshold_percent=threshold_percent,
                balance_fen=self.balance_fen,
                effective_date=effective_date,
            )

    class ReraiseDemanded(Aggregate.Event):
        """F4: the balance fell below ``threshold_percent`` of the first deposit.

        Version 2 records ``threshold_fen``, the balance the owner must restore (what a
        re-raise notice asks for), so no reader redoes the percentage and its rounding.
        A version-1 event (stored before it) is upcast on reading by the same rule, from its
        own ``first_deposit_fen`` and ``threshold_percent``; its stored bytes, which the seal
        hashes, are never rewritten (docs/upgrades.md, "Changing an event's shape").
        """

        class_version = 2
        threshold_percent: int
        balance_fen: int
        first_deposit_fen: int
        threshold_fen: int
        effective_date: date

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["threshold_fen"] = reraise_threshold_fen(
                state["first_deposit_fen"], state["threshold_percent"])

        def apply(self, aggregate: UnitAccount) -> None:
            aggregate.reraise_demanded = True

    class ReraiseSatisfied(Aggregate.Event):
        threshold_percent: int
        balance_fen: int
        effective_date: date

        def apply(self, aggregate: UnitAccount) -> None:
            aggregate.reraise_demanded = False

    # -- delivery, sale and destruction (F2, F7) ----------------------------------------------

    def mark_delivered(self, *, effective_date: date, actor: str) -> None:
        self._check_open()
        if self.first_deposit_fen is None:
            raise RuleViolated(
                f"unit {self.key} cannot be delivered before its first deposit is paid",
                rule="F2",
                field="unit",
            )
        if self.delivered:
            return
        self.trigger_event(self.Delivered, effective_date=effective_date, actor=actor)

    class Delivered(Aggregate.Event):
        effective_date: date
        actor: str

        def apply(self, aggregate: UnitAccount) -> None:
            aggregate.delivered = True

    def sell(
        self, *, buyer_owner_ids: list[str], effective_date: date, reference: str, actor: str
    ) -> None:
        """F7: the balance stays with the unit and so passes to the buyer; no refund."""
        self._check_open()
        check_identifier(reference, REFERENCE, "reference")
        check_owner_ids(buyer_owner_ids, "buyer_owner_id")
        if list(buyer_owner_ids) == self.owner_ids:
            raise RuleViolated(
                f"unit {self.key} already belongs to the buyer", rule="F7", field="buyer_owner_id"
            )
        self.trigger_event(
            self.Sold,
            seller_owner_ids=list(self.owner_ids),
            buyer_owner_ids=list(buyer_owner_ids),
            balance_transferred_fen=self.balance_fen,
            bank_delta_fen=0,
            effective_date=effective_date,
            reference=reference,
            actor=actor,
        )

    class Sold(Aggregate.Event):
        seller_owner_ids: list[str]
        buyer_owner_ids: list[str]
        balance_transferred_fen: int
        bank_delta_fen: int
        effective_date: date
        reference: str
        actor: str

        def apply(self, aggregate: UnitAccount) -> None:
            aggregate.owner_ids = list(self.buyer_owner_ids)
            aggregate.developer_held = self.buyer_owner_ids == [DEVELOPER_OWNER_ID]

    def refund_on_destruction(self, *, effective_date: date, reference: str, actor: str) -> None:
        """F7: a destroyed unit's balance goes back to its owner and the account closes."""
        self._check_open()
        check_identifier(reference, REFERENCE, "reference")
        self.trigger_event(
            self.RefundedOnDestruction,
            amount_fen=self.balance_fen,
            bank_delta_fen=-self.balance_fen,
            owner_ids=list(self.owner_ids),
            effective_date=effective_date,
            reference=reference,
            actor=actor,
        )

    class RefundedOnDestruction(MoneyMoved):
        owner_ids: list[str]

        def apply(self, aggregate: UnitAccount) -> None:
            aggregate.refunded_fen += self.amount_fen
            aggregate.balance_fen -= self.amount_fen
            aggregate.closed = True

    def _check_open(self) -> None:
        if self.closed:
            raise RuleViolated(
                f"unit {self.key} was destroyed and its sub-account closed", rule="F7", field="unit"
            )
