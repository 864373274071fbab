"""A community's fund at a cut: each sub-account folded by the domain's own mutators.

The fund has no stream of its own: its balance is the sum of its sub-accounts. The replay of
a fund and the F10 statements (and through them the yearly disclosure) read the sub-accounts
from here, so there is one fold of them. Each keeps the cut that made it, so its bank legs
(``bank_delta_fen``, recorded on every money event) can be summed apart from the balance the
mutators keep: comparing the two sums checks F11 at the cut.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import cast
from uuid import UUID

from domain.community import Community
from domain.ids import unit_account_id
from domain.unit_account import UnitAccount
from projections.history.streams import Cut, Logged, cut, fold


@dataclass(frozen=True)
class SubAccountAt:
    """One unit's sub-account as it stood at a cut."""

    key: str  # BUILDING-UNIT, as the community lists it
    account: UnitAccount
    cut: Cut

    @property
    def bank_delta_fen(self) -> int:
        """The bank legs of the included events, summed apart from the balance."""
        return sum(int(getattr(e.event, "bank_delta_fen", 0)) for e in self.cut.events)


def unit_account_ids(community: Community, keys: Iterable[str]) -> dict[str, UUID]:
    """The sub-account id of each unit key of the community, in the order given."""
    return {k: unit_account_id(community.code, *community.units[k]) for k in keys}


def sub_accounts_at(
    streams: Mapping[UUID, list[Logged]], unit_ids: Mapping[str, UUID], as_of: date | None,
    known_at: datetime | None = None,
) -> list[SubAccountAt]:
    """The sub-accounts that existed at the cut, in the order of ``unit_ids``.

    With ``as_of`` the events fold in business-date order, else in log order (see
    ``streams``); a unit whose cut is empty did not exist yet and is left out.
    """
    business_order = as_of is not None
    found: list[SubAccountAt] = []
    for key, account_id in unit_ids.items():
        unit_cut = cut(streams[account_id], as_of, known_at)
        if unit_cut.events:
            account = cast(UnitAccount, fold(unit_cut.events, business_order=business_order))
            found.append(SubAccountAt(key, account, unit_cut))
    return found
