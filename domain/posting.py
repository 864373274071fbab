"""Postings that touch many sub-accounts at once: works withdrawals (F8) and income (F5).

The posting aggregate is the document an owner reads in the disclosure (F10): the invoice,
what it was for, on what authority, and its split over the charging range. The money moves
in the units' own events, saved in the same transaction.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, RuleViolated
from domain.ids import posting_id
from domain.money import apportion

# F8: costs the fund never pays.
EXCLUDED_COST_KINDS = {
    "developer_defect": "defects within warranty are owed by the developer or builder",
    "utility_lines": "water, power, gas and heating lines are the utilities' to repair",
    "third_party_damage": "damage caused by a person is paid by that person",
    "service_contract_upkeep": "upkeep the service contract assigns to the property company",
}
CHARGEABLE_COST_KINDS = (
    "lift",
    "roof_waterproofing",
    "water_supply_drainage",
    "facade",
    "fire_system",
    "water_pump",
    "structure",
    "security_system",
    "other_common_parts",
)
BASES = ("emergency", "resolution")
# F6: the ledger never invests the fund (no command buys anything with it); the income of
# government bonds bought outside it arrives as F5 income like interest.
INCOME_SOURCES = ("interest", "bond_income", "common_area_income")
INCOME_POLICIES = ("by_balance",)
CHARGING_RANGE_UNITS_MAX = 20_000


def check_cost_kind(cost_kind: str) -> None:
    if cost_kind in EXCLUDED_COST_KINDS:
        raise RuleViolated(
            f"cost kind {cost_kind!r} is never chargeable to the fund: "
            + EXCLUDED_COST_KINDS[cost_kind],
            rule="F8",
            field="cost_kind",
        )
    if cost_kind not in CHARGEABLE_COST_KINDS:
        raise InvalidInput(
            f"cost kind {cost_kind!r} is not one of {', '.join(CHARGEABLE_COST_KINDS)}",
            rule="F8",
            field="cost_kind",
        )


def works_split(invoice_fen: int, areas: list[tuple[str, int]]) -> list[list[Any]]:
    """F8: each unit's share of the invoice by floor area, summing exactly to the invoice."""
    shares = apportion(invoice_fen, [area for _, area in areas])
    return [[key, area, share] for (key, area), share in zip(areas, shares, strict=True)]


def income_split(amount_fen: int, balances: list[tuple[str, int]]) -> list[list[Any]]:
    """F5 default policy: in proportion to balance, whole fen, remainder by unit order."""
    if sum(balance for _, balance in balances) <= 0:
        raise RuleViolated(
            "no sub-account holds a balance to allocate income by", rule="F5", field="amount_yuan"
        )
    shares = apportion(amount_fen, [balance for _, balance in balances])
    return [[key, balance, share] for (key, balance), share in zip(balances, shares, strict=True)]


class WorksWithdrawal(Aggregate):
    """A works project charged to the units of its charging range (F8, F9)."""

    @staticmethod
    def create_id(reference: str, **_: Any) -> UUID:
        return posting_id(reference)

    @event("WorksWithdrawalPaid")
    def __init__(
        self,
        reference: str,
        community_code: str,
        project: str,
        cost_kind: str,
        basis: str,
        emergency_id: str | None,
        emergency_category: str | None,
        resolution_id: str | None,
        invoice_fen: int,
        shares: list[list[Any]],
        disclosure_pending: bool,
        effective_date: date,
        actor: str,
    ) -> None:
        self.reference = reference
        self.community_code = community_code
        self.project = project
        self.cost_kind = cost_kind
        self.basis = basis
        self.emergency_id = emergency_id
        self.emergency_category = emergency_category
        self.resolution_id = resolution_id
        self.invoice_fen = invoice_fen
        self.shares = shares
        self.disclosure_pending = disclosure_pending
        self.effective_date = effective_date


class IncomeAllocation(Aggregate):
    """Value-added income received by the fund and its split over sub-accounts (F5)."""

    @staticmethod
    def create_id(reference: str, **_: Any) -> UUID:
        return posting_id(reference)

    @event("FundIncomeAllocated")
    def __init__(
        self,
        reference: str,
        community_code: str,
        source: str,
        policy: str,
        amount_fen: int,
        shares: list[list[Any]],
        effective_date: date,
        actor: str,
    ) -> None:
        self.reference = reference
        self.community_code = community_code
        self.source = source
        self.policy = policy
        self.amount_fen = amount_fen
        self.shares = shares
        self.effective_date = effective_date
