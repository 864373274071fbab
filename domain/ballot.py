"""One voter's ballot in one vote: its own small record of fact (V5).

A ballot's stream is keyed by (vote, voter) (``ballot_id``) and holds one event: either the
ballot as cast, or the mark the close left for a voter who did not vote. The store allows
one event at version 1 of a stream, so a voter's second ballot, and a ballot that arrives
after the close counted the vote, both fail to save: one ballot per voter is the store's
uniqueness, not a scan of earlier ballots, and the tally never misses a ballot that
committed while it was being recorded (the close's mark for that voter would collide and
the close would count again).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids
from domain.checks import check_actor, check_date
from domain.electorate import Electorate, Voter
from domain.vote import Ballot, BallotCount, Vote, ballot_receipt

# A ballot's event is the first and only one of its stream.
BALLOT_VERSION = 1


class BallotRecord(Aggregate):
    """What one voter did in one vote: a ballot, or nothing by the time the vote closed."""

    @staticmethod
    def create_id(vote_id: UUID, voter_key: str) -> UUID:
        return ids.ballot_id(vote_id, voter_key)

    @classmethod
    def cast(
        cls,
        *,
        vote: Vote,
        voter: Voter | None,
        voter_key: str,
        choice: str,
        cast_on: date,
        actor: str,
        candidates: Sequence[str] = (),
    ) -> BallotRecord:
        """The ballot of the roll's ``voter`` (None: not on the roll) by owner ``actor``."""
        chosen = vote.check_ballot(voter=voter, voter_key=voter_key, choice=choice,
                                   cast_on=cast_on, actor=actor, candidates=candidates)
        return cls(vote_id=vote.id, community_code=vote.community_code,
                   vote_reference=vote.vote_reference, voter_key=voter_key, choice=choice,
                   candidates=chosen, effective_date=cast_on, actor=actor)

    @classmethod
    def left_uncast(
        cls, *, vote: Vote, voter_key: str, closed_on: date, actor: str
    ) -> BallotRecord:
        """The close's mark for a voter who had not voted: the slot is taken, so a ballot
        still on its way is refused instead of landing after the tally."""
        check_actor(actor)
        check_date(closed_on, "closed_on")
        return cls._uncast(vote_id=vote.id, community_code=vote.community_code,
                           vote_reference=vote.vote_reference, voter_key=voter_key,
                           effective_date=closed_on, actor=actor)

    @event("Cast")
    def __init__(
        self,
        *,
        vote_id: UUID,
        community_code: str,
        vote_reference: str,
        voter_key: str,
        choice: str | None,
        candidates: list[str],
        effective_date: date,
        actor: str,
    ) -> None:
        self.vote_id = vote_id
        self.community_code = community_code
        self.vote_reference = vote_reference
        self.voter_key = voter_key
        self.choice = choice
        self.candidates = list(candidates)
        self.recorded_on = effective_date

    @classmethod
    def _uncast(
        cls, *, vote_id: UUID, community_code: str, vote_reference: str, voter_key: str,
        effective_date: date, actor: str,
    ) -> BallotRecord:
        return cls._create(cls.ClosedUncast, id=cls.create_id(vote_id, voter_key),
                           vote_id=vote_id, community_code=community_code,
                           vote_reference=vote_reference, voter_key=voter_key, choice=None,
                           candidates=[], effective_date=effective_date, actor=actor)

    class ClosedUncast(Aggregate.Created):
        """The vote closed without a ballot from this voter (its fields as ``Cast``'s, no
        choice)."""

        vote_id: UUID
        community_code: str
        vote_reference: str
        voter_key: str
        choice: None
        candidates: list[str]
        effective_date: date
        actor: str

    @property
    def was_cast(self) -> bool:
        return self.choice is not None

    @property
    def ballot(self) -> Ballot:
        assert self.choice is not None, "no ballot was cast"
        return Ballot(self.voter_key, self.choice, tuple(self.candidates))

    @property
    def receipt(self) -> str:
        assert self.choice is not None, "no ballot was cast"
        return ballot_receipt(self.vote_id, self.voter_key, self.choice, self.candidates,
                              BALLOT_VERSION)


def count_of(electorate: Electorate, records: Iterable[BallotRecord]) -> BallotCount:
    """The count of a vote from its roll and its ballot records (marks of the close left out),
    by voter key."""
    cast = sorted((r for r in records if r.was_cast), key=lambda r: r.voter_key)
    return BallotCount(
        electorate,
        {r.voter_key: r.ballot for r in cast},
        {r.voter_key: r.receipt for r in cast},
        max((r.recorded_on for r in cast), default=None),
    )
