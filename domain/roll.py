"""A vote's roll: its electorate, frozen once when the vote opens, and each owner's line.

The ``ElectoralRoll`` holds every voter (V3; for fund use, the charging range's, V4) in one
event: what a close tallies against and an auditor recounts with. A ballot must not decode
it (its cost would grow with the community), so the roll is also entered owner by owner:
a ``RollEntry`` per owner (and one for the developer's units) names the voter the owner
votes as, with the voter's units and weight, and is found by its id, ``roll_entry_id(vote,
owner)``. Both are written with the vote's opening, in one transaction, from the same
``Electorate``; the vote keeps that electorate's digest, so either can be checked against it.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids
from domain.electorate import DEVELOPER_VOTER_KEY, Electorate, JsonRecord, Voter
from domain.vote import Vote


class ElectoralRoll(Aggregate):
    """The electorate of one vote, as frozen when it opened."""

    @staticmethod
    def create_id(vote_id: UUID) -> UUID:
        return ids.roll_id(vote_id)

    @event("Frozen")
    def __init__(
        self,
        *,
        vote_id: UUID,
        community_code: str,
        vote_reference: str,
        electorate_digest: str,
        voters: list[JsonRecord],
        effective_date: date,
        actor: str,
    ) -> None:
        self.vote_id = vote_id
        self.community_code = community_code
        self.vote_reference = vote_reference
        self.electorate_digest = electorate_digest
        self.electorate = Electorate.from_records(voters)
        self.frozen_on = effective_date


class RollEntry(Aggregate):
    """One owner's line of a vote's roll: the voter they vote as (co-owners, and one owner's
    several units, are one voter, V3), looked up by id when the owner casts a ballot."""

    @staticmethod
    def create_id(vote_id: UUID, owner_id: str) -> UUID:
        return ids.roll_entry_id(vote_id, owner_id)

    @event("Entered")
    def __init__(
        self,
        *,
        vote_id: UUID,
        community_code: str,
        owner_id: str,
        voter: JsonRecord,
        effective_date: date,
        actor: str,
    ) -> None:
        self.vote_id = vote_id
        self.community_code = community_code
        self.owner_id = owner_id
        self.voter = Voter.from_record(voter)


def roll_of(vote: Vote, electorate: Electorate, *, actor: str) -> list[Any]:
    """The roll and its entries for ``vote`` just opened over ``electorate``: save them with
    the vote. One entry per owner, and one under the developer's key for its units."""
    assert vote.opened_on is not None and vote.electorate_digest == electorate.digest()
    opened_on, digest = vote.opened_on, vote.electorate_digest
    roll = ElectoralRoll(vote_id=vote.id, community_code=vote.community_code,
                         vote_reference=vote.vote_reference, electorate_digest=digest,
                         voters=electorate.to_records(), effective_date=opened_on, actor=actor)
    entries = [
        RollEntry(vote_id=vote.id, community_code=vote.community_code, owner_id=owner_id,
                  voter=record, effective_date=opened_on, actor=actor)
        for voter in electorate.voters
        for record in (voter.to_record(),)
        for owner_id in (voter.owner_ids or (DEVELOPER_VOTER_KEY,))
    ]
    return [roll, *entries]
