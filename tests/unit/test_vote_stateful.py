"""A vote driven by random commands: one ballot per voter, participation within the
electorate, withdrawals within the approved amount, and history that rebuilds the vote."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.domain import DomainEventProtocol
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.electorate import UnitHolding
from domain.errors import Conflict, DomainError, RuleViolated
from domain.vote import (
    ABSTAIN,
    AGREE,
    DISAGREE,
    FUND_USE,
    Vote,
)
from tests.unit.test_electorate import holdings_lists, unit_groups
from tests.unit.test_vote import (
    CLOSED_ON,
    COMMUNITY,
    OPENED_ON,
    PROPOSED_ON,
    actor_for,
)

APPROVED_FEN = 500_000


class VoteMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[DomainEventProtocol[Any]] = []
        self.voted: set[frozenset[str]] = set()
        self.withdrawn_fen = 0
        self.closed = False

    @initialize(
        holdings=holdings_lists(),
        matter_kind=st.sampled_from([FUND_USE, "hire_enterprise", "rebuild"]),
        data=st.data(),
    )
    def start(self, holdings: list[UnitHolding], matter_kind: str, data: st.DataObject) -> None:
        extra: dict[str, Any] = {}
        if matter_kind == FUND_USE:
            keys = [h.unit_key for h in holdings]
            charging = data.draw(st.lists(st.sampled_from(keys), min_size=1, unique=True))
            extra = {"charging_range": charging, "approved_amount_fen": APPROVED_FEN,
                     "purpose": "repair the lift"}
            holdings_in_range = [h for h in holdings if h.unit_key in charging]
        else:
            holdings_in_range = holdings
        self.groups = [frozenset(g) for g in unit_groups(holdings_in_range)]
        self.holdings = holdings
        self.vote = Vote.propose(community_code=COMMUNITY, vote_reference="V-1",
                                 matter_kind=matter_kind, title="t", proposed_on=PROPOSED_ON,
                                 actor="chair", **extra)
        self.vote.publish(published_on=PROPOSED_ON, actor="chair")
        self.vote.open(opened_on=OPENED_ON, holdings=holdings, actor="chair")
        self._collect()

    def _collect(self) -> None:
        self.events.extend(self.vote.collect_events())

    @rule(data=st.data(), choice=st.sampled_from([AGREE, DISAGREE, ABSTAIN]))
    def cast(self, data: st.DataObject, choice: str) -> None:
        group = data.draw(st.sampled_from(self.groups))
        unit = data.draw(st.sampled_from(sorted(group)))
        electorate = self.vote.electorate
        assert electorate is not None
        voter_key = next(v.voter_key for v in electorate.voters if unit in v.unit_keys)
        ballot: dict[str, Any] = {"voter_key": voter_key, "choice": choice, "cast_on": OPENED_ON,
                  "actor": actor_for(self.holdings, group)}
        if self.closed:
            with pytest.raises(RuleViolated):
                self.vote.cast_ballot(**ballot)
        elif group in self.voted:
            with pytest.raises(Conflict):
                self.vote.cast_ballot(**ballot)
        else:
            receipt = self.vote.cast_ballot(**ballot)
            assert receipt == self.vote.receipt_for(voter_key)
            self.voted.add(group)
        self._collect()

    @rule()
    def close(self) -> None:
        if self.closed:
            with pytest.raises(RuleViolated):
                self.vote.close(closed_on=CLOSED_ON, actor="chair")
            return
        result = self.vote.close(closed_on=CLOSED_ON, actor="chair")
        assert result.participating_heads == len(self.voted)
        self.closed = True
        self._collect()

    @rule(amount_fen=st.integers(min_value=1, max_value=APPROVED_FEN), reference=st.uuids())
    def withdraw(self, amount_fen: int, reference: Any) -> None:
        command: dict[str, Any] = {
            "withdrawal_reference": str(reference),
            "amount_fen": amount_fen,
            "charging_range": self.vote.charging_range or [],
            "community_code": COMMUNITY,
            "withdrawn_on": CLOSED_ON + timedelta(days=1),
            "actor": "fund-office",
        }
        allowed = self.vote.matter_kind == FUND_USE and self.vote.passed
        if allowed and self.withdrawn_fen + amount_fen <= APPROVED_FEN:
            self.vote.record_withdrawal(**command)
            self.withdrawn_fen += amount_fen
        else:
            with pytest.raises(DomainError):
                self.vote.record_withdrawal(**command)
        self._collect()

    @invariant()
    def no_voter_has_two_ballots(self) -> None:
        ballots = Counter(
            vars(e)["voter_key"] for e in self.events if type(e).__name__ == "BallotCast"
        )
        assert all(count == 1 for count in ballots.values())
        assert len(ballots) == len(self.voted) == len(self.vote.ballots)

    @invariant()
    def participation_stays_within_the_electorate(self) -> None:
        result = self.vote.result or self.vote.recount()
        assert result.participating_heads <= result.electorate_heads
        assert result.participating_area_m2_hundredths <= result.electorate_area_m2_hundredths
        assert result.agreeing_heads <= result.participating_heads
        assert result.agreeing_area_m2_hundredths <= result.participating_area_m2_hundredths

    @invariant()
    def withdrawals_stay_within_the_approved_amount(self) -> None:
        assert self.vote.withdrawn_fen == self.withdrawn_fen <= APPROVED_FEN

    @invariant()
    def history_rebuilds_the_live_vote(self) -> None:
        assert project_aggregate(None, self.events) == self.vote


TestVoteMachine = VoteMachine.TestCase
