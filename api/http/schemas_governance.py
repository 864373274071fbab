"""What the governance routes answer: votes, ballots, tallies, committees and custody."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from api.http.models import Written, m2_of, yuan_of


class VotePublic(BaseModel):
    """A vote: its matter, dates, status, candidates, electorate totals and ballot count."""

    id: str
    community_code: str
    reference: str
    matter_kind: str
    title: str
    status: str
    purpose: str | None
    charging_range: list[str] | None
    seats: int | None
    candidates: list[str]
    approved_amount_fen: int | None
    approved_amount_yuan: ClassVar[property] = yuan_of("approved_amount_fen", nullable=True)
    proposed_on: date | None
    published_on: date | None
    opened_on: date | None
    closed_on: date | None
    electorate_heads: int | None
    electorate_area_m2_hundredths: int | None
    electorate_area_m2: ClassVar[property] = m2_of("electorate_area_m2_hundredths",
                                                   nullable=True)
    ballots_cast: int | None = Field(description=(
        "Ballots recorded so far; null in a listing (counting reads every ballot stream, so "
        "read the vote itself for its count)."))
    provisional: bool = Field(description=(
        "True until the vote closes: there is no outcome yet, so `passed` and `elected` "
        "are null (V6: the outcome is the tally recorded at closing)."))
    passed: bool | None = Field(description="The recorded outcome; null until closed.")
    elected: list[str] | None = Field(description=(
        "The candidates the recorded tally elected; null until closed."))
    version: int


class VoteWritten(Written, VotePublic):
    """A vote proposed or opened, as it stands after the command."""


class NominationRecorded(Written):
    id: str
    candidate_id: str


class VotePublished(Written):
    id: str
    published_on: date


class BallotCast(Written):
    """One ballot; the voter keeps ``receipt`` to check it later."""

    id: str
    owner_id: str
    choice: str
    candidates: list[str]
    receipt: str


class PaperBallotsCast(Written):
    id: str
    receipts: list[str]


class BallotReceipt(BaseModel):
    """A ballot as recorded, found by its receipt, and whether the tally counted it."""

    id: str
    receipt: str
    voter_key: str
    choice: str
    candidates: list[str]
    status: str
    counted_in_recorded_tally: bool


class CandidateTallyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    candidate_id: str
    agreeing_area_m2_hundredths: int
    agreeing_area_m2: ClassVar[property] = m2_of("agreeing_area_m2_hundredths")
    agreeing_heads: int
    majority_met: bool
    elected: bool


class TallyPublic(BaseModel):
    """The four tallies (area AND headcount, Civil Code art. 278), thresholds and outcome."""

    model_config = ConfigDict(from_attributes=True)
    provisional: bool = Field(description=(
        "True for a running count of a vote not yet closed: `passed` and `elected` then say "
        "what the outcome would be if it closed now, not an outcome."))
    matter_kind: str
    electorate_area_m2_hundredths: int
    electorate_area_m2: ClassVar[property] = m2_of("electorate_area_m2_hundredths")
    electorate_heads: int
    participating_area_m2_hundredths: int
    participating_area_m2: ClassVar[property] = m2_of("participating_area_m2_hundredths")
    participating_heads: int
    agreeing_area_m2_hundredths: int
    agreeing_area_m2: ClassVar[property] = m2_of("agreeing_area_m2_hundredths")
    agreeing_heads: int
    quorum_fraction: tuple[int, int]
    majority_fraction: tuple[int, int]
    majority_inclusive: bool
    quorum_area_met: bool
    quorum_heads_met: bool
    majority_area_met: bool
    majority_heads_met: bool
    passed: bool
    elected: list[str]
    candidate_tallies: list[CandidateTallyPublic]
    quorum_met: bool


class VoteClosed(Written):
    id: str
    tally: TallyPublic


class TallyReport(BaseModel):
    """The tally recounted from the ballots now, beside the one recorded at closing (V6)."""

    id: str
    status: str
    provisional: bool = Field(description=(
        "True while the vote is open: `recount` is a running count and `recorded` is null."))
    recount: TallyPublic
    recorded: TallyPublic | None
    recount_matches_recorded: bool | None


class CommitteeMember(BaseModel):
    member_id: str
    is_owner: bool
    residents_committee_representative: bool


class CommitteePublic(BaseModel):
    """A committee: members, term, filing, party coverage, re-election due, dissolution."""

    community_code: str
    reference: str
    kind: str
    seats: int
    members: list[CommitteeMember]
    chair_id: str | None
    alternate_ids: list[str]
    former_member_ids: list[str]
    election_vote_id: str | None
    term_start: date
    term_end: date
    formed_on: date
    filed_on: date | None
    street_office: str | None
    party_member_ids: list[str]
    party_member_count: int
    party_branch_set_up: bool
    reelection_due_on: date | None
    dissolved_on: date | None
    active: bool
    version: int


class CommitteeWritten(Written, CommitteePublic):
    """A committee formed, appointed, filed, covered or left, as it stands after."""


class CustodyTransferPending(BaseModel):
    to_custodian: str
    resolution_id: str
    due_by: str


class CustodyPublic(BaseModel):
    """Who holds the community's fund (F3), and a decided move not yet completed."""

    community_code: str
    custodian: str
    transfer_pending: CustodyTransferPending | None


class CustodyDecided(Written, CustodyPublic):
    pass


class CustodyTransferred(Written, CustodyPublic):
    balance_moved_fen: int
    balance_moved_yuan: ClassVar[property] = yuan_of("balance_moved_fen")
