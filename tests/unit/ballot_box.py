"""A vote with its roll and ballot records held in memory, keyed as the store keys them.

The unit tests drive the domain's own aggregates (``Vote``, ``ElectoralRoll``, ``RollEntry``,
``BallotRecord``) through the steps the ledger takes, with a dict standing in for the
store: a second record under one ballot id is refused with V5, as the store's uniqueness
on (stream id, version 1) refuses it in the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

from domain.ballot import BallotRecord, count_of
from domain.electorate import Electorate, UnitHolding
from domain.errors import Conflict
from domain.roll import RollEntry, roll_of
from domain.vote import Ballot, BallotCount, TallyResult, Vote


class BoxedVote:
    """A ``Vote`` plus what the ledger keeps beside it; unknown attributes are the vote's."""

    def __init__(self, vote: Vote) -> None:
        self.vote = vote
        self.roll: list[Any] = []
        self.records: dict[UUID, BallotRecord] = {}
        self._electorate: Electorate | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.vote, name)

    def open(self, *, opened_on: date, holdings: Sequence[UnitHolding], actor: str) -> None:
        self._electorate = self.vote.open(opened_on=opened_on, holdings=holdings, actor=actor)
        self.roll = roll_of(self.vote, self._electorate, actor=actor)

    @property
    def electorate(self) -> Electorate | None:
        return self._electorate

    def entry(self, owner_id: str) -> RollEntry | None:
        return next((e for e in self.roll[1:] if e.owner_id == owner_id), None)

    def _store(self, record: BallotRecord) -> None:
        if record.id in self.records:
            raise Conflict(f"voter {record.voter_key} has a ballot record already", rule="V5",
                           field="voter_key")
        self.records[record.id] = record

    def cast_ballot(self, *, voter_key: str, choice: str, cast_on: date, actor: str,
                    candidates: Sequence[str] = ()) -> str:
        voter = self._electorate.voter(voter_key) if self._electorate else None
        record = BallotRecord.cast(vote=self.vote, voter=voter, voter_key=voter_key,
                                   choice=choice, cast_on=cast_on, actor=actor,
                                   candidates=candidates)
        self._store(record)
        return record.receipt

    def count(self) -> BallotCount:
        assert self._electorate is not None
        return count_of(self._electorate, self.records.values())

    def close(self, *, closed_on: date, actor: str) -> TallyResult:
        count = self.count() if self._electorate is not None else None
        result = self.vote.close(closed_on=closed_on, actor=actor, count=count)
        assert self._electorate is not None and count is not None
        for voter_key in self._electorate.voter_keys:
            if voter_key not in count.ballots:
                self._store(BallotRecord.left_uncast(vote=self.vote, voter_key=voter_key,
                                                     closed_on=closed_on, actor=actor))
        return result

    def recount(self) -> TallyResult:
        return self.vote.recount(self.count())

    def receipt_for(self, voter_key: str) -> str:
        return self.count().receipt_for(voter_key)

    @property
    def ballots(self) -> dict[str, Ballot]:
        return dict(self.count().ballots)

    def all_events(self) -> list[Any]:
        """Every pending event of the vote, its roll and its ballot records, collected."""
        events = list(self.vote.collect_events())
        for aggregate in (*self.roll, *self.records.values()):
            events.extend(aggregate.collect_events())
        return events
