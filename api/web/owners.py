"""What an owner's pages show, read from the ledger: their units, each unit's movements and
balance as of a date, and the votes they may take part in.

A unit's page is the replay of its sub-account (``projections.history.streams``), cut at the
chosen business date and folded by the domain's own mutators: the same fold as the F10
statement, so the balance shown is the statement's to the fen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from domain.errors import NotFound
from domain.ids import unit_account_id
from domain.unit_account import UnitAccount
from domain.vote import Vote
from ledger.application import FundLedger
from ledger.loading import load_many
from projections.history.fund import unit_account_ids
from projections.history.streams import cut, fold, read_streams

# Each money event's effect on the unit's balance, in the order of the sign of its amount.
CREDITS = ("FirstDepositPaid", "ToppedUp", "IncomeCredited")
DEBITS = ("WorksShareCharged", "RefundedOnDestruction")


def owner_units(ledger: FundLedger, community_code: str, owner_id: str) -> tuple[str, ...]:
    """The keys of the community's open units the owner holds now (a sale moves them)."""
    community = ledger.community(community_code)
    ids = unit_account_ids(community, sorted(community.units))
    accounts = load_many(ledger, list(ids.values()))
    return tuple(key for key, account_id in ids.items()
                 if owner_id in accounts[account_id].owner_ids
                 and not accounts[account_id].closed)


@dataclass(frozen=True)
class Movement:
    """One line of a unit's history: a deposit, an income share, a works share, a refund,
    or a sale (which moves no money: the balance stays with the unit, F7)."""

    business_date: date
    kind: str  # the event's name: FirstDepositPaid, ToppedUp, ..., Sold
    reference: str
    delta_fen: int  # signed: what it did to the balance
    balance_fen: int  # the balance after it
    position: int  # its place in the log


@dataclass(frozen=True)
class UnitPage:
    community_code: str
    building: str
    unit: str
    area_m2_hundredths: int
    owner_ids: tuple[str, ...]
    as_of: date | None
    balance_fen: int
    movements: list[Movement]
    existed: bool  # False: the unit had no events on or before ``as_of``


def _delta(kind: str, event: Any) -> int | None:
    if kind in CREDITS:
        return int(event.amount_fen)
    if kind in DEBITS:
        return -int(event.amount_fen)
    return 0 if kind == "Sold" else None


def unit_page(ledger: FundLedger, community_code: str, building: str, unit: str,
              as_of: date | None) -> UnitPage:
    """The unit's sub-account as of a business date (or now), with each movement."""
    account_id = unit_account_id(community_code, building, unit)
    stream = read_streams(ledger, [account_id])[account_id]
    if not stream:
        raise NotFound(f"community {community_code!r} has no registered unit "
                       f"{building}-{unit}", rule="F1", field="unit")
    unit_cut = cut(stream, as_of, None)
    if not unit_cut.events:
        now = cast(UnitAccount, fold(stream, business_order=False))
        return UnitPage(community_code, building, unit, now.area_m2_hundredths,
                        tuple(now.owner_ids), as_of, 0, [], existed=False)
    account = cast(UnitAccount, fold(unit_cut.events, business_order=as_of is not None))
    movements: list[Movement] = []
    balance = 0
    # In business-date order, as a bank book reads (a back-dated posting where it belongs).
    for logged in sorted(unit_cut.events, key=lambda e: (e.business_date or date.min,
                                                         e.position)):
        kind = type(logged.event).__name__
        delta = _delta(kind, logged.event)
        if delta is None:
            continue
        balance += delta
        movements.append(Movement(logged.event.effective_date, kind,
                                  str(logged.event.reference), delta, balance,
                                  logged.position))
    assert balance == account.balance_fen, "the movements add up to the folded balance"
    return UnitPage(community_code, building, unit, account.area_m2_hundredths,
                    tuple(account.owner_ids), as_of, account.balance_fen, movements,
                    existed=True)


@dataclass(frozen=True)
class UnitSummary:
    key: str
    building: str
    unit: str
    area_m2_hundredths: int
    balance_fen: int


def unit_summaries(ledger: FundLedger, community_code: str, owner_id: str,
                   keys: tuple[str, ...]) -> list[UnitSummary]:
    """The units of a session that the owner still holds, with their balance now."""
    community = ledger.community(community_code)
    known = [k for k in keys if k in community.units]
    ids = unit_account_ids(community, known)
    accounts = load_many(ledger, list(ids.values()))
    found = []
    for key, account_id in ids.items():
        account = accounts[account_id]
        if owner_id in account.owner_ids:
            found.append(UnitSummary(key, account.building, account.unit,
                                     account.area_m2_hundredths, account.balance_fen))
    return found


@dataclass(frozen=True)
class OwnerVote:
    """A vote as one owner sees it: the vote, their voter (head and area) if they are in
    its electorate, their ballot and its receipt if they voted."""

    vote: Vote
    voter_key: str | None
    heads: int
    area_m2_hundredths: int
    choice: str | None
    receipt: str | None


def owner_vote(ledger: FundLedger, vote: Vote, owner_id: str) -> OwnerVote:
    standing = ledger.standing(vote, owner_id)
    voter, ballot = standing.voter, standing.ballot
    return OwnerVote(
        vote, voter.voter_key if voter else None, voter.heads if voter else 0,
        voter.area_m2_hundredths if voter else 0, ballot.choice if ballot else None,
        standing.receipt)
