"""The F10 statement: a fund's balance and each unit's deposits, use, income and balance.

Replayed from the events themselves, filtered by business date, so "as of 1 March" shows
what was true on 1 March, including postings recorded later but dated before it. The
sub-accounts are those of ``fund`` (folded by the domain's own mutators, as the auditor's
replay folds them); the yearly disclosure is two of these statements, a year apart
(``statement_at``), so the ledger computes the F10 figures in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from domain.community import Community
from domain.errors import NotFound
from domain.ids import posting_id
from domain.posting import IncomeAllocation, WorksWithdrawal
from ledger.application import FundLedger
from ledger.loading import load_many
from projections.history.fund import SubAccountAt, sub_accounts_at, unit_account_ids
from projections.history.streams import Logged, read_streams


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

    @classmethod
    def of(cls, sub: SubAccountAt) -> UnitStatement:
        a = sub.account
        return cls(sub.key, a.building, a.unit, a.area_m2_hundredths, list(a.owner_ids),
                   deposits_fen=a.deposited_fen, income_fen=a.income_fen,
                   withdrawals_fen=a.charged_fen, refunds_fen=a.refunded_fen,
                   balance_fen=a.balance_fen, first_deposit_fen=a.first_deposit_fen,
                   reraise_demanded=a.reraise_demanded, closed=a.closed)


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
    unit_ids = unit_account_ids(community, keys)
    statement = statement_at(community, unit_ids, read_streams(app, list(unit_ids.values())),
                             as_of)
    if unit_key is None:
        statement.postings = [_posting_line(p) for p in postings(app, community, None, as_of)]
    return statement


def statement_at(
    community: Community, unit_ids: Mapping[str, UUID], streams: Mapping[UUID, list[Logged]],
    as_of: date | None,
) -> FundStatement:
    """The statement of the units in ``unit_ids`` as of a business date, from their streams
    (read once by a caller that cuts them at several dates); no postings."""
    statement = FundStatement(community.code, community.name, community.district,
                              community.street, as_of)
    for sub in sub_accounts_at(streams, unit_ids, as_of):
        statement.units.append(UnitStatement.of(sub))
        statement.bank_balance_fen += sub.bank_delta_fen
    return statement


def postings(
    app: FundLedger, community: Community, since: date | None, until: date | None
) -> list[WorksWithdrawal | IncomeAllocation]:
    """The community's works withdrawals and income allocations dated from ``since`` to
    ``until`` (either open), by date and reference."""
    loaded = load_many(app, [posting_id(reference) for _, reference in community.postings])
    return sorted((p for p in loaded.values()
                   if isinstance(p, WorksWithdrawal | IncomeAllocation)
                   and (since is None or p.effective_date >= since)
                   and (until is None or p.effective_date <= until)),
                  key=lambda p: (p.effective_date, p.reference))


def authority(withdrawal: WorksWithdrawal) -> str:
    """What authorised a works withdrawal: its resolution, or its emergency (F8, F9)."""
    if withdrawal.basis == "emergency":
        return f"emergency {withdrawal.emergency_id} ({withdrawal.emergency_category})"
    return f"resolution {withdrawal.resolution_id}"


def _posting_line(posting: WorksWithdrawal | IncomeAllocation) -> PostingStatement:
    if isinstance(posting, WorksWithdrawal):
        return PostingStatement(
            posting.reference, "works", posting.effective_date, posting.invoice_fen,
            f"{posting.project} [{posting.cost_kind}]", authority(posting), posting.shares)
    return PostingStatement(
        posting.reference, "income", posting.effective_date, posting.amount_fen,
        f"{posting.source} allocated {posting.policy}", None, posting.shares)
