"""Stable ids from natural keys (uuid5), so a retried command finds what it already wrote."""

from __future__ import annotations

from uuid import UUID, uuid5

# Fixed forever: changing it would orphan every stored aggregate.
NAMESPACE = UUID("6f1c2a8e-3d4b-5e6f-8a9b-0c1d2e3f4a5b")


def community_id(community_code: str) -> UUID:
    return uuid5(NAMESPACE, f"community:{community_code}")


def unit_key(building: str, unit: str) -> str:
    """The door number as owners and bank files write it: building-unit."""
    return f"{building}-{unit}"


def unit_account_id(community_code: str, building: str, unit: str) -> UUID:
    return uuid5(NAMESPACE, f"unit:{community_code}/{building}/{unit}")


def posting_id(reference: str) -> UUID:
    """A multi-unit posting (works withdrawal, income allocation) named by its reference."""
    return uuid5(NAMESPACE, f"posting:{reference}")


def vote_id(community_code: str, vote_reference: str) -> UUID:
    return uuid5(NAMESPACE, f"vote:{community_code}/{vote_reference}")


def committee_id(community_code: str, committee_reference: str) -> UUID:
    return uuid5(NAMESPACE, f"committee:{community_code}/{committee_reference}")


def enterprise_id(credit_code: str) -> UUID:
    return uuid5(NAMESPACE, f"enterprise:{credit_code}")


def contract_id(community_code: str, contract_reference: str) -> UUID:
    return uuid5(NAMESPACE, f"contract:{community_code}/{contract_reference}")


# A vote's parts each have their own small stream, so one ballot never reads another's.
# Derived from the vote's id (uuid5 in the vote's own namespace; a prefix per kind, so no
# voter key can name another kind's stream): the store's uniqueness on (stream id, version)
# is then what allows one ballot per voter (V5).


def ballot_id(vote_id: UUID, voter_key: str) -> UUID:
    """The one ballot a voter may cast in a vote (or the mark that the vote closed without)."""
    return uuid5(vote_id, f"ballot:{voter_key}")


def roll_id(vote_id: UUID) -> UUID:
    """The vote's electorate, frozen when it opened."""
    return uuid5(vote_id, "roll")


def roll_entry_id(vote_id: UUID, owner_id: str) -> UUID:
    """One owner's line of the roll: which voter the owner votes as, and its weight."""
    return uuid5(vote_id, f"owner:{owner_id}")
