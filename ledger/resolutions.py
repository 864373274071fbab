"""The owners' resolutions other commands cite: the F8 gate, hiring (E1), self-management (R1).

A works withdrawal, a service contract and self-management each cite a resolution of the
owners, and only the votes can answer whether it allows them. The fund and enterprise
commands ask this one object, which ``ledger.application.FundLedger`` wires in explicitly,
rather than calling placeholder methods that another command mixin had to override: with
those, reordering the application's base classes silently made every resolution unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from domain.community import Community
from domain.errors import NotFound, RuleViolated
from domain.vote import Vote

HIRE_ENTERPRISE = "hire_enterprise"

# (community code, vote reference) -> the vote, raising NotFound when it has none.
FindVote = Callable[[str, str], Vote]


class Resolutions:
    """Checks a cited resolution against the recorded votes; returns what to save with it."""

    def __init__(self, find_vote: FindVote) -> None:
        self._find_vote = find_vote

    def approve_withdrawal(
        self, community: Community, resolution_id: str, charging_range: list[str],
        amount_fen: int, paid_on: date, reference: str, actor: str,
    ) -> list[Vote]:
        """F8: the cited vote allows this withdrawal; it records the withdrawal against its
        approved amount, so the vote is saved in the withdrawal's transaction."""
        try:
            vote = self._find_vote(community.code, resolution_id)
        except NotFound:
            raise NotFound(f"resolution {resolution_id!r} is unknown in community "
                           f"{community.code}: no owners' vote with that reference",
                           rule="F8", field="resolution_id") from None
        vote.record_withdrawal(withdrawal_reference=reference, amount_fen=amount_fen,
                               charging_range=charging_range, community_code=community.code,
                               withdrawn_on=paid_on, actor=actor)
        return [vote]

    def approve_hiring(self, community: Community, resolution_id: str) -> list[Vote]:
        """E1: the cited vote is a passed vote to hire an enterprise (nothing to save)."""
        vote = self._find_vote(community.code, resolution_id)
        if vote.matter_kind != HIRE_ENTERPRISE or not vote.passed:
            raise RuleViolated(
                f"resolution {resolution_id} is not a passed vote to hire an enterprise",
                rule="E1", field="resolution_id")
        return []

    def check_self_management(self, community: Community, resolution_id: str) -> None:
        """R1: the owners decided to manage the community themselves by a passed vote."""
        if not self._find_vote(community.code, resolution_id).passed:
            raise RuleViolated(f"resolution {resolution_id} did not pass", rule="R1",
                               field="resolution_id")
