"""The F10 disclosure: a fund's balance and each unit's deposits, use, income and balance.

Replayed from the events themselves, filtered by business date, so "as of 1 March" shows
what was true on 1 March, including postings recorded later but dated before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from domain.community import Community
from domain.errors import NotFound
from domain.ids import posting_id, unit_account_id
from domain.posting import IncomeAllocation, WorksWithdrawal
from ledger.application import FundLedger
from ledger.loading import load_histories, load_many


@dataclass
class UnitStatement:
    unit_key: str
    building: str
    unit: str
    area_m2_hundredths: int
    owner_ids: list[str]
    deposits_fen: int = 0
    income_fen: int = 0
    withdrawals_fen: int = 0
    refunds_fen: int = 0
    balance_fen: int = 0
    first_deposit_fen: int | None = None
    reraise_demanded: bool = False
    closed: bool = False


@dataclass
class PostingStatement:
    reference: str
    kind: str
    effective_date: date
    amount_fen: int
    description: str
    basis: str | None
    shares: list[list[Any]]


@dataclass
class FundStatement:
    community_code: str
    community_name: str
    district: str
    street: str
    as_of: date | None
    units: list[UnitStatement] = field(default_factory=list)
    postings: list[PostingStatement] = field(default_factory=list)
    bank_balance_fen: int = 0

    @property
    def balance_fen(self) -> int:
        return sum(u.balance_fen for u in self.units)

    @property
    def conserved(self) -> bool:
        """F11: the sub-accounts sum to the bank balance."""
        return self.balance_fen == self.bank_balance_fen

    def total(self, name: str) -> int:
        return sum(int(getattr(u, name)) for u in self.units)


# The sub-account side of each money event, written apart from the events' own bank legs,
# so that the F11 check below compares two independent sums.
_UNIT_SIGN = {"FirstDepositPaid": 1, "ToppedUp": 1, "IncomeCredited": 1,
              "WorksShareCharged": -1, "RefundedOnDestruction": -1}


def _fold(line: UnitStatement, event: Any) -> int:
    """Apply one sub-account event to the statement line; returns its bank leg."""
    kind = type(event).__name__
    amount = int(getattr(event, "amount_fen", 0))
    if kind == "FirstDepositPaid":
        line.first_deposit_fen = amount
        line.deposits_fen += amount
    elif kind == "ToppedUp":
        line.deposits_fen += amount
    elif kind == "IncomeCredited":
        line.income_fen += amount
    elif kind == "WorksShareCharged":
        line.withdrawals_fen += amount
    elif kind == "RefundedOnDestruction":
        line.refunds_fen += amount
        line.closed = True
    elif kind == "Sold":
        line.owner_ids = list(event.buyer_owner_ids)
    elif kind == "ReraiseDemanded":
        line.reraise_demanded = True
    elif kind == "ReraiseSatisfied":
        line.reraise_demanded = False
    line.balance_fen += _UNIT_SIGN.get(kind, 0) * amount
    return int(getattr(event, "bank_delta_fen", 0))


def fund_statement(
    app: FundLedger, community_code: str, *, unit_key: str | None = None,
    as_of: date | None = None,
) -> FundStatement:
    community: Community = app.community(community_code)
    keys = sorted(community.units) if unit_key is None else [unit_key]
    for key in keys:
        if key not in community.units:
            raise NotFound(f"community {community_code} has no unit {key}", rule="F1",
                           field="unit")
    ids = [unit_account_id(community_code, *community.units[k]) for k in keys]
    histories = load_histories(app, ids)
    statement = FundStatement(community.code, community.name, community.district,
                              community.street, as_of)
    for key, account_id in zip(keys, ids, strict=True):
        # The register row describes the unit whatever its date; money counts by its own date
        # (a deposit may be dated before the register was imported).
        registered, *later = histories[account_id]
        events = [e for e in later if as_of is None or e.effective_date <= as_of]
        if not events and as_of is not None and registered.effective_date > as_of:
            continue
        line = UnitStatement(key, registered.building, registered.unit,
                             registered.area_m2_hundredths, list(registered.owner_ids))
        for event in events:
            statement.bank_balance_fen += _fold(line, event)
        statement.units.append(line)
    statement.postings = _postings(app, community, as_of) if unit_key is None else []
    return statement


def _postings(app: FundLedger, community: Community, as_of: date | None) -> list[PostingStatement]:
    loaded = load_many(app, [posting_id(reference) for _, reference in community.postings])
    postings: list[PostingStatement] = []
    for posting in loaded.values():
        if as_of is not None and posting.effective_date > as_of:
            continue
        if isinstance(posting, WorksWithdrawal):
            authority = (f"emergency {posting.emergency_id} ({posting.emergency_category})"
                         if posting.basis == "emergency"
                         else f"resolution {posting.resolution_id}")
            postings.append(PostingStatement(
                posting.reference, "works", posting.effective_date, posting.invoice_fen,
                f"{posting.project} [{posting.cost_kind}]", authority, posting.shares))
        elif isinstance(posting, IncomeAllocation):
            postings.append(PostingStatement(
                posting.reference, "income", posting.effective_date, posting.amount_fen,
                f"{posting.source} allocated {posting.policy}", None, posting.shares))
    return sorted(postings, key=lambda p: (p.effective_date, p.reference))
