"""A vote driven by random commands, with its roll and one record per ballot as the ledger
keeps them: one ballot per voter, participation within the electorate, a ballot that races
the close refused rather than counted late, withdrawals within the approved amount, and
history that rebuilds the vote, its roll and every ballot record."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.domain import DomainEventProtocol
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.ballot import BallotRecord
from domain.electorate import DEVELOPER_VOTER_KEY, UnitHolding
from domain.errors import Conflict, DomainError, RuleViolated
from domain.ids import ballot_id
from domain.vote import (
    ABSTAIN,
    AGREE,
    DISAGREE,
    FUND_USE,
    Vote,
)
from tests.unit.ballot_box import BoxedVote
from tests.unit.test_electorate import holdings_lists, unit_groups
from tests.unit.test_vote import (
    CLOSED_ON,
    COMMUNITY,
    OPENED_ON,
    PROPOSED_ON,
    actor_for,
    through_json,
)

APPROVED_FEN = 500_000


class VoteMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.events: dict[Any, list[DomainEventProtocol[Any]]] = {}
        self.voted: set[frozenset[str]] = set()
        self.withdrawn_fen = 0
        self.closed = False
        # Ballots decided while the vote was open, not yet stored (a request in flight).
        self.in_flight: list[BallotRecord] = []

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
        self.box = BoxedVote(Vote.propose(
            community_code=COMMUNITY, vote_reference="V-1", matter_kind=matter_kind, title="t",
            proposed_on=PROPOSED_ON, actor="chair", **extra))
        self.box.publish(published_on=PROPOSED_ON, actor="chair")
        self.box.open(opened_on=OPENED_ON, holdings=holdings, actor="chair")
        self._collect()

    @property
    def vote(self) -> Vote:
        return self.box.vote

    def _collect(self) -> None:
        for aggregate in (self.vote, *self.box.roll, *self.box.records.values()):
            self.events.setdefault(aggregate.id, []).extend(aggregate.collect_events())

    def _ballot(self, data: st.DataObject, choice: str) -> tuple[frozenset[str], dict[str, Any]]:
        """A ballot by one owner of a random voter, found as the ledger finds it: the
        owner's roll entry names the voter."""
        group = data.draw(st.sampled_from(self.groups))
        owner = actor_for(self.holdings, group)
        entry = self.box.entry(owner if owner in {o for h in self.holdings
                                                  for o in h.owner_ids} else
                               DEVELOPER_VOTER_KEY)
        assert entry is not None
        assert set(entry.voter.unit_keys) == set(group)
        return group, {"voter_key": entry.voter.voter_key, "choice": choice,
                       "cast_on": OPENED_ON, "actor": owner}

    @rule(data=st.data(), choice=st.sampled_from([AGREE, DISAGREE, ABSTAIN]))
    def cast(self, data: st.DataObject, choice: str) -> None:
        group, ballot = self._ballot(data, choice)
        if self.closed:
            with pytest.raises(RuleViolated):
                self.box.cast_ballot(**ballot)
        elif group in self.voted:
            with pytest.raises(Conflict) as refused:
                self.box.cast_ballot(**ballot)
            assert refused.value.rule == "V5"
        else:
            receipt = self.box.cast_ballot(**ballot)
            assert receipt == self.box.receipt_for(ballot["voter_key"])
            self.voted.add(group)
        self._collect()

    @rule(data=st.data())
    def decide_a_ballot_now_and_store_it_later(self, data: st.DataObject) -> None:
        """A request that passed the vote's checks while it was open and reaches the store
        after some other commands (the close among them, perhaps)."""
        if self.closed:
            return
        _, ballot = self._ballot(data, AGREE)
        voter = self.box.electorate.voter(ballot["voter_key"]) if self.box.electorate else None
        self.in_flight.append(BallotRecord.cast(vote=self.vote, voter=voter, **ballot))

    @rule()
    def store_a_ballot_in_flight(self) -> None:
        if not self.in_flight:
            return
        record = self.in_flight.pop(0)
        group = next(g for g in self.groups if set(g) == set(
            self.box.electorate.voter(record.voter_key).unit_keys))  # type: ignore[union-attr]
        if self.closed or group in self.voted:
            before = self.vote.result
            with pytest.raises(Conflict) as refused:
                self.box._store(record)
            assert refused.value.rule == "V5"
            assert self.vote.result == before
        else:
            self.box._store(record)
            self.voted.add(group)
        self._collect()

    @rule()
    def close(self) -> None:
        if self.closed:
            with pytest.raises(RuleViolated):
                self.box.close(closed_on=CLOSED_ON, actor="chair")
            return
        result = self.box.close(closed_on=CLOSED_ON, actor="chair")
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
    def one_record_per_voter_and_one_ballot_per_voter(self) -> None:
        records = Counter(e.originator_id for r in self.box.records.values()
                          for e in self.events[r.id])
        assert all(count == 1 for count in records.values())
        cast = [r for r in self.box.records.values() if r.was_cast]
        assert len(cast) == len(self.voted) == len(self.box.ballots)
        for record in self.box.records.values():
            assert record.id == ballot_id(self.vote.id, record.voter_key)

    @invariant()
    def a_closed_vote_has_a_record_for_every_voter_and_counted_every_ballot(self) -> None:
        if not self.closed:
            return
        assert self.box.electorate is not None
        assert {r.voter_key for r in self.box.records.values()} == set(
            self.box.electorate.voter_keys)
        assert self.vote.result == self.box.recount()

    @invariant()
    def participation_stays_within_the_electorate(self) -> None:
        result = self.vote.result or self.box.recount()
        assert result.electorate_heads == self.vote.electorate_heads
        assert result.participating_heads <= result.electorate_heads
        assert result.participating_area_m2_hundredths <= result.electorate_area_m2_hundredths
        assert result.agreeing_heads <= result.participating_heads
        assert result.agreeing_area_m2_hundredths <= result.participating_area_m2_hundredths

    @invariant()
    def withdrawals_stay_within_the_approved_amount(self) -> None:
        assert self.vote.withdrawn_fen == self.withdrawn_fen <= APPROVED_FEN

    @invariant()
    def history_rebuilds_the_vote_its_roll_and_its_ballots(self) -> None:
        for aggregate in (self.vote, *self.box.roll, *self.box.records.values()):
            assert project_aggregate(None, self.events[aggregate.id]) == aggregate
        roll: Any = project_aggregate(None, through_json(self.events[self.box.roll[0].id]))
        assert roll.electorate.digest() == self.vote.electorate_digest


TestVoteMachine = VoteMachine.TestCase
