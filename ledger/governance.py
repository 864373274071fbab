"""Owners' votes, committee elections and committees (V1–V6, C1–C4), and custody (F3).

A vote's tally lives on the ``Vote``; its electorate, frozen when it opens from the units'
current owners, areas and delivery, is its roll (``domain.roll``), and each ballot is its own
stream keyed by (vote, voter) (``domain.ballot``). A ballot reads the vote's small state and
the casting owner's roll entry, two small aggregates, whatever the community's size or the
turnout, and writes one event; one ballot per voter is the store's uniqueness on that
stream. Closing reads the roll and every ballot in bulk and writes, with the tally, a mark in
the stream of every voter who did not vote, so a ballot racing the close either committed
first (the close's mark collides, the close counts again) or collides with the mark and is
refused (V5): never counted after the tally. Votes recorded before this shape keep their
ballots inline and are counted as before. What other commands ask of a passed vote (the F8
gate, hiring, self-management) is ``ledger.resolutions``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any, TypeVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from domain.ballot import BallotRecord, count_of
from domain.committee import (
    OWNERS_COMMITTEE,
    PROPERTY_MANAGEMENT_COMMITTEE,
    Committee,
    PmcMember,
)
from domain.electorate import DEVELOPER_VOTER_KEY, UnitHolding, Voter
from domain.errors import Conflict, NotFound, RuleViolated
from domain.ids import ballot_id, committee_id, roll_entry_id, roll_id, unit_account_id, vote_id
from domain.roll import ElectoralRoll, RollEntry, roll_of
from domain.unit_account import DEVELOPER_OWNER_ID
from domain.vote import (
    CLOSED,
    COMMITTEE_ELECTION,
    FUND_USE,
    OPEN,
    Ballot,
    BallotCount,
    SeatBounds,
    TallyResult,
    Vote,
)
from ledger.base import LedgerBase, _Work
from ledger.loading import load_many
from ledger.persistence.references import PostingReference, ReferenceRecorder, StreamRecorder
from ledger.write_context import IdempotencyKey, WriteContext

T = TypeVar("T")
# Who may cast in a vote: sees the vote (None: absent) and whether an owner is on its roll,
# and raises to refuse (see ``cast_ballots_in``).
BallotGate = Callable[[Vote | None, Callable[[str], bool]], None]

RECEIPT_KIND = "ballot-receipt"
# Closed votes whose receipts without a reference are kept (a few bytes each but for the
# rare vote cast before receipt references): more than a city holds at once.
UNREFERENCED_VOTES_MAX = 100_000


def receipt_reference(vote_id: UUID, receipt: str) -> str:
    """Where a ballot's receipt is recorded among the posting references."""
    return f"receipt:{vote_id}/{receipt}"


# The stored topic of a ballot stream begun by a cast (a ballot's first event).
_CAST_TOPIC = get_topic(BallotRecord.Cast)  # type: ignore[attr-defined]  # made by @event


@dataclass(frozen=True)
class Standing:
    """An owner's place in one vote, as the owner's own page shows it."""

    voter: Voter | None
    ballot: Ballot | None
    receipt: str | None


class GovernanceCommands(LedgerBase):
    @property
    def seat_bounds(self) -> SeatBounds:
        s = self.settings
        return SeatBounds(s.committee_seats_min, s.committee_seats_max,
                          s.small_community_households_max, s.small_community_seats_min)

    # -- votes ---------------------------------------------------------------------------

    def vote(self, community_code: str, vote_reference: str) -> Vote:
        try:
            return cast(Vote, self._get(vote_id(community_code, vote_reference)))
        except AggregateNotFoundError:
            raise NotFound(f"community {community_code} has no vote {vote_reference!r}",
                           rule="V5", field="vote_reference") from None

    def propose_vote(
        self, *, community_code: str, vote_reference: str, matter_kind: str, title: str,
        proposed_on: date, actor: str, buildings: Sequence[str] = (),
        unit_keys: Sequence[str] = (), approved_amount_fen: int | None = None,
        purpose: str | None = None, seats: int | None = None, write: WriteContext | None = None,
    ) -> Vote:
        """Propose a resolution; a fund-use vote names its charging range (V4)."""

        def attempt() -> Vote:
            community = self._community(community_code)
            try:
                existing = self.vote(community_code, vote_reference)
            except NotFound:
                pass
            else:
                raise Conflict(f"vote {vote_reference} of {community_code} exists already "
                               f"({existing.status})", rule="V5", field="vote_reference")
            charging_range = (community.resolve_range(buildings=list(buildings),
                                                      unit_keys=list(unit_keys))
                              if matter_kind == FUND_USE else None)
            vote = Vote.propose(
                community_code=community_code, vote_reference=vote_reference,
                matter_kind=matter_kind, title=title, proposed_on=proposed_on, actor=actor,
                charging_range=charging_range, approved_amount_fen=approved_amount_fen,
                purpose=purpose, seats=seats,
                household_count=len(community.units) if matter_kind == COMMITTEE_ELECTION
                else None, seat_bounds=self.seat_bounds)
            self._save_aggregates(vote, write=write)
            return vote

        return self._retrying(attempt, write)

    def _vote_step(self, community_code: str, vote_reference: str,
                   step: Callable[[Vote], T], write: WriteContext | None) -> T:
        return self._update(lambda: self.vote(community_code, vote_reference), step, write)

    def nominate_candidate(
        self, *, community_code: str, vote_reference: str, candidate_id: str, eligible: bool,
        nominated_on: date, actor: str, ineligibility_reason: str | None = None,
        write: WriteContext | None = None,
    ) -> None:
        """C1: an ineligible candidate (ties to the serving company, a defaulter) is refused."""
        self._vote_step(community_code, vote_reference, lambda v: v.nominate(
            candidate_id=candidate_id, eligible=eligible,
            ineligibility_reason=ineligibility_reason, nominated_on=nominated_on, actor=actor),
            write)

    def publish_vote(self, *, community_code: str, vote_reference: str, published_on: date,
                     actor: str, write: WriteContext | None = None) -> None:
        self._vote_step(community_code, vote_reference,
                        lambda v: v.publish(published_on=published_on, actor=actor), write)

    def open_vote(self, *, community_code: str, vote_reference: str, opened_on: date,
                  actor: str, write: WriteContext | None = None) -> Vote:
        """V5: no earlier than 15 days after publication; the electorate is frozen now, as
        the vote's roll, in the opening's transaction."""

        def attempt() -> Vote:
            vote = self.vote(community_code, vote_reference)
            electorate = vote.open(opened_on=opened_on, holdings=self.holdings(community_code),
                                   actor=actor)
            self._save(_Work([vote, *roll_of(vote, electorate, actor=actor)]), write)
            return vote

        return self._retrying(attempt, write)

    def vote_count(self, vote: Vote) -> BallotCount:
        """The vote's frozen electorate and every ballot recorded in it, with receipts."""
        if vote.ballots_inline:
            return vote.inline_count()
        if not vote.opened:
            raise RuleViolated(f"vote {vote.vote_reference} has not opened; there is nothing "
                               "to count", rule="V5", field="vote_reference")
        roll, ids = self._ballot_ids(vote)
        return count_of(roll.electorate, load_many(self, ids).values())

    def _ballot_ids(self, vote: Vote) -> tuple[ElectoralRoll, list[UUID]]:
        """An opened vote's frozen roll, and the id of every voter's ballot stream in it."""
        roll = cast(ElectoralRoll, self._get(roll_id(vote.id)))
        return roll, [ballot_id(vote.id, key) for key in roll.electorate.voter_keys]

    def ballots_cast(self, vote: Vote) -> int:
        """How many ballots an opened vote holds: its ballot streams that began with a cast
        (not with the close's mark), counted from their first events alone, no ballot
        decoded (the count of a vote page asked for often on its last evening)."""
        if vote.ballots_inline:
            return len(vote.inline_count().ballots)
        if not vote.opened:
            return 0
        _, ids = self._ballot_ids(vote)
        recorder = cast(StreamRecorder, self.recorder)
        return sum(stored.topic == _CAST_TOPIC
                   for stored in recorder.select_first_events(ids).values())

    def ballot_with_receipt(self, vote: Vote, receipt: str) -> Ballot | None:
        """The ballot of an opened vote that has this receipt (None: none has).

        A ballot recorded with its receipt as a reference is found with one lookup and one
        ballot read. Ballots cast before receipts were recorded so are looked for among
        all of the vote's ballots, as before: a receipt not found by its reference. Once a
        vote has closed its ballots are fixed, and the few without a reference are kept
        here: a mistyped receipt then costs the one lookup, not a read of every ballot."""
        if not vote.opened:
            return None
        if vote.ballots_inline:
            return self.vote_count(vote).ballot_with_receipt(receipt)
        recorder = cast(ReferenceRecorder, self.recorder)
        reference = receipt_reference(vote.id, receipt)
        found = recorder.select_references([reference]).get(reference)
        if found is not None:
            record = load_many(self, [found.originator_id]).get(found.originator_id)
            if (isinstance(record, BallotRecord) and record.was_cast
                    and record.receipt == receipt):
                return record.ballot
        if vote.status != CLOSED:
            # Open: a process of a version before receipt references may still cast into
            # it (a rolling upgrade), so its ballots without one are looked for each time.
            return self.vote_count(vote).ballot_with_receipt(receipt)
        unreferenced = self._unreferenced_receipts.get(vote.id)
        if unreferenced is None:
            unreferenced = self._unreferenced_receipts_of(vote)
            if len(self._unreferenced_receipts) < UNREFERENCED_VOTES_MAX:
                self._unreferenced_receipts[vote.id] = unreferenced
        return unreferenced.get(receipt)

    @cached_property
    def _unreferenced_receipts(self) -> dict[UUID, dict[str, Ballot]]:
        """Closed votes' ballots recorded without their receipt as a reference, by receipt
        (none at all for a vote cast on this version)."""
        return {}

    def _unreferenced_receipts_of(self, vote: Vote) -> dict[str, Ballot]:
        count = self.vote_count(vote)
        by_reference = {receipt_reference(vote.id, receipt): receipt
                        for receipt in count.receipts.values()}
        recorded = cast(ReferenceRecorder, self.recorder).select_references(list(by_reference))
        wanted = {receipt for reference, receipt in by_reference.items()
                  if reference not in recorded}
        return {receipt: count.ballots[key] for key, receipt in count.receipts.items()
                if receipt in wanted}

    def vote_by_id(self, the_vote_id: UUID) -> Vote | None:
        found = load_many(self, [the_vote_id]).get(the_vote_id)
        return found if isinstance(found, Vote) else None

    def on_roll(self, vote: Vote, owner_id: str) -> bool:
        """Whether the owner is in the vote's frozen electorate: one roll entry read."""
        if vote.ballots_inline:
            return vote.inline_count().electorate.voter_key_for_owner(owner_id) is not None
        entry_id = roll_entry_id(vote.id, owner_id)
        return entry_id in load_many(self, [entry_id])

    def standing(self, vote: Vote, owner_id: str) -> Standing:
        """One owner's place in a vote: the voter they vote as (None: not in the electorate,
        or the vote has not opened) and their ballot with its receipt, if cast. Reads the
        owner's roll entry and one ballot stream, whatever the turnout."""
        if vote.ballots_inline:
            count = vote.inline_count()
            key = count.electorate.voter_key_for_owner(owner_id)
            if key is None:
                return Standing(None, None, None)
            ballot = count.ballots.get(key)
            return Standing(count.electorate.voter(key), ballot,
                            count.receipts.get(key) if ballot is not None else None)
        if not vote.opened:
            return Standing(None, None, None)
        entry = cast(RollEntry | None, load_many(self, [roll_entry_id(vote.id, owner_id)])
                     .get(roll_entry_id(vote.id, owner_id)))
        if entry is None:
            return Standing(None, None, None)
        record_id = ballot_id(vote.id, entry.voter.voter_key)
        record = cast(BallotRecord | None, load_many(self, [record_id]).get(record_id))
        if record is None or not record.was_cast:
            return Standing(entry.voter, None, None)
        return Standing(entry.voter, record.ballot, record.receipt)

    def holdings(self, community_code: str) -> list[UnitHolding]:
        """V3 inputs: each unit's area and owners; the developer's unsold or undelivered units."""
        community = self._community(community_code)
        keys = sorted(community.units)
        ids = [unit_account_id(community_code, *community.units[k]) for k in keys]
        accounts = load_many(self, ids)
        holdings = []
        for key, account_id in zip(keys, ids, strict=True):
            account = accounts[account_id]
            if account.closed:
                continue  # a destroyed unit has no owner to vote
            # V3: the developer's unsold or undelivered units count one head together, in
            # the developer's hands (a buyer of an undelivered unit votes once it is delivered)
            developer_held = account.developer_held or not account.delivered
            holdings.append(UnitHolding(
                unit_key=key, area_m2_hundredths=account.area_m2_hundredths,
                owner_ids=() if developer_held else tuple(account.owner_ids),
                developer_held=developer_held))
        return holdings

    def cast_ballot(
        self, *, community_code: str, vote_reference: str, owner_id: str, choice: str,
        cast_on: date, candidates: Sequence[str] = (), write: WriteContext | None = None,
    ) -> str:
        """One ballot per voter (V5); returns the voter's receipt, a digest of the ballot."""
        return self.cast_ballots(community_code=community_code, vote_reference=vote_reference,
                                 ballots=[(owner_id, choice, candidates)], cast_on=cast_on,
                                 write=write)[0]

    def cast_ballots(
        self, *, community_code: str, vote_reference: str,
        ballots: Sequence[tuple[str, str, Sequence[str]]], cast_on: date,
        write: WriteContext | None = None,
    ) -> list[str]:
        """Ballots of (owner id, choice, candidates), e.g. a batch of paper ballots: each in
        its own stream, all saved in one transaction or none."""

        def admit(vote: Vote | None, on_roll: Callable[[str], bool]) -> None:
            if vote is None:
                raise NotFound(f"community {community_code} has no vote {vote_reference!r}",
                               rule="V5", field="vote_reference")

        return self.cast_ballots_in(vote_id(community_code, vote_reference), ballots=ballots,
                                    cast_on=cast_on, admit=admit, write=write)

    def cast_ballots_in(
        self, the_vote_id: UUID, *, ballots: Sequence[tuple[str, str, Sequence[str]]],
        cast_on: date, admit: BallotGate, write: WriteContext | None = None,
    ) -> list[str]:
        """``cast_ballots`` in the vote of that id, once ``admit`` let the caller in.

        ``admit`` sees the vote (None if absent) and whether an owner is on its roll, read
        with the ballots' own read (the vote's small state and the casting owners' roll
        entries, one round trip), and raises to refuse: the HTTP API's scope check needs
        nothing read twice."""
        owners = [owner_id for owner_id, _, _ in ballots]

        def attempt() -> list[str]:
            loaded = load_many(self, [the_vote_id,
                                      *(roll_entry_id(the_vote_id, o) for o in owners)])
            found = loaded.get(the_vote_id)
            vote = found if isinstance(found, Vote) else None
            admit(vote, lambda owner_id: self._on_loaded_roll(vote, loaded, owners, owner_id))
            assert vote is not None, "admit refuses an absent vote"
            if vote.ballots_inline:
                return self._cast_inline(vote, ballots, cast_on, write)
            if write is not None and write.key is not None and write.key.recorded:
                saved = self._receipts_saved_under(write.key, vote, loaded, owners)
                if saved is not None:
                    return saved
            records = [self._ballot(vote, loaded.get(roll_entry_id(the_vote_id, owner_id)),
                                    owner_id, choice, candidates, cast_on)
                       for owner_id, choice, candidates in ballots]
            self._save_ballots(vote, records, write)
            return [record.receipt for record in records]

        return self._retrying(attempt, write)

    def _receipts_saved_under(self, key: IdempotencyKey, vote: Vote, loaded: dict[UUID, Any],
                              owners: Sequence[str]) -> list[str] | None:
        """The receipts of the ballots a first request under ``key`` saved, if it did.

        That request committed and its answer was lost (its process ended before storing
        it); a repeat with the same body finds the key naming one of its ballots and answers
        from the ballots as saved. A receipt is the ballot's digest, so the answer is the one
        that was lost; without this, the voter's own ballot would refuse the repeat (V5) and
        the phone would never learn its receipt.
        """
        recorded = self._references([key.reference]).get(key.reference)
        if recorded is None or recorded.digest != key.request_digest:
            return None
        entries = [loaded.get(roll_entry_id(vote.id, owner)) for owner in owners]
        ids = [ballot_id(vote.id, entry.voter.voter_key) for entry in entries
               if isinstance(entry, RollEntry)]
        if len(ids) != len(owners) or recorded.originator_id not in ids:
            return None
        saved = load_many(self, ids)
        records = [saved.get(id_) for id_ in ids]
        if not all(isinstance(r, BallotRecord) and r.was_cast for r in records):
            return None
        return [cast(BallotRecord, r).receipt for r in records]

    def _on_loaded_roll(self, vote: Vote | None, loaded: dict[UUID, Any],
                        owners: Sequence[str], owner_id: str) -> bool:
        """``on_roll``, from the roll entries just read for the casting owners."""
        if vote is None or not vote.opened:
            return False
        if vote.ballots_inline or owner_id not in owners:
            return self.on_roll(vote, owner_id)
        return roll_entry_id(vote.id, owner_id) in loaded

    @staticmethod
    def _ballot(vote: Vote, entry: RollEntry | None, owner_id: str, choice: str,
                candidates: Sequence[str], cast_on: date) -> BallotRecord:
        if not vote.opened:
            raise RuleViolated(f"vote {vote.vote_reference} is not open", rule="V5",
                               field="vote_reference")
        if entry is None:
            raise NotFound(f"owner {owner_id!r} is not in the electorate of vote "
                           f"{vote.vote_reference}", rule="V4", field="owner_id")
        return BallotRecord.cast(vote=vote, voter=entry.voter, voter_key=entry.voter.voter_key,
                                 choice=choice, cast_on=cast_on, actor=owner_id,
                                 candidates=list(candidates))

    def _save_ballots(self, vote: Vote, records: list[BallotRecord],
                      write: WriteContext | None) -> None:
        """Save ballot streams; a voter's stream already taken refuses the ballot (V5)."""
        keys = [record.voter_key for record in records]
        twice = next((key for key in keys if keys.count(key) > 1), None)
        if twice is not None:
            raise Conflict(f"voter {twice} has two ballots in this batch; a voter counts once",
                           rule="V5", field="voter_key")
        # Each receipt as a reference of its ballot, in the same transaction: a receipt is
        # then checked with one lookup, not by loading every ballot of the vote.
        receipts = [PostingReference(receipt_reference(vote.id, record.receipt), RECEIPT_KIND,
                                     record.receipt, record.id, 1) for record in records]
        try:
            self._save(_Work(list(records), receipts), write)
        except IntegrityError:
            self._raise_if_key_used(write)
            taken = load_many(self, [record.id for record in records])
            first = next((cast(BallotRecord, taken[r.id]) for r in records if r.id in taken),
                         None)
            if first is None:
                raise  # not a ballot's stream: decide again
            if first.was_cast:
                raise Conflict(f"voter {first.voter_key} has already voted; a later ballot is "
                               "refused", rule="V5", field="voter_key") from None
            raise Conflict(f"vote {vote.vote_reference} closed on {first.recorded_on} before "
                           "this ballot was recorded; it is not counted", rule="V5",
                           field="vote_reference") from None

    def _cast_inline(self, vote: Vote, ballots: Sequence[tuple[str, str, Sequence[str]]],
                     cast_on: date, write: WriteContext | None) -> list[str]:
        """Ballots of a vote opened before ballots had streams: recorded in the vote."""
        electorate = vote.inline_count().electorate
        receipts = []
        for owner_id, choice, candidates in ballots:
            voter_key = (DEVELOPER_VOTER_KEY if owner_id == DEVELOPER_OWNER_ID
                         else electorate.voter_key_for_owner(owner_id))
            if voter_key is None:
                raise NotFound(f"owner {owner_id!r} is not in the electorate of vote "
                               f"{vote.vote_reference}", rule="V4", field="owner_id")
            receipts.append(vote.cast_inline_ballot(voter_key=voter_key, choice=choice,
                                                    cast_on=cast_on, actor=owner_id,
                                                    candidates=list(candidates)))
        self._save_aggregates(vote, write=write)
        return receipts

    def close_vote(self, *, community_code: str, vote_reference: str, closed_on: date,
                   actor: str, write: WriteContext | None = None) -> TallyResult:
        """The tally, with its four counts and the thresholds applied, becomes an event (V6).

        Saved with a mark in the stream of each voter who has not voted: a ballot saved
        meanwhile makes that mark collide, and the close counts again with it."""

        def attempt() -> TallyResult:
            vote = self.vote(community_code, vote_reference)
            if vote.ballots_inline or vote.status != OPEN:
                result = vote.close(closed_on=closed_on, actor=actor)  # refused if not open
                self._save_aggregates(vote, write=write)
                return result
            count = self.vote_count(vote)
            result = vote.close(closed_on=closed_on, actor=actor, count=count)
            marks = [BallotRecord.left_uncast(vote=vote, voter_key=key, closed_on=closed_on,
                                              actor=actor)
                     for key in count.electorate.voter_keys if key not in count.ballots]
            self._save(_Work([vote, *marks]), write)
            return result

        return self._retrying(attempt, write)

    # -- custody (F3) --------------------------------------------------------------------

    def decide_custody_transfer(
        self, *, community_code: str, resolution_id: str, decided_on: date, actor: str,
        to_custodian: str = "owners_meeting", write: WriteContext | None = None,
    ) -> None:
        """F3: the owners' meeting takes custody by a passed resolution."""

        def attempt() -> None:
            community = self._community(community_code)
            vote = self.vote(community_code, resolution_id)
            if not vote.passed:
                raise RuleViolated(f"resolution {resolution_id} did not pass", rule="F3",
                                   field="resolution_id")
            community.decide_custody_transfer(to_custodian=to_custodian,
                                              resolution_id=resolution_id,
                                              effective_date=decided_on, actor=actor)
            self._save_aggregates(community, write=write)

        self._retrying(attempt, write)

    def complete_custody_transfer(
        self, *, community_code: str, completed_on: date, actor: str,
        write: WriteContext | None = None,
    ) -> int:
        """F3: record the balance handed over; returns it in fen."""

        def attempt() -> int:
            community = self._community(community_code)
            balance_fen = sum(a.balance_fen for a in self._accounts(community,
                                                                    sorted(community.units)))
            community.complete_custody_transfer(balance_fen=balance_fen,
                                                effective_date=completed_on, actor=actor)
            self._save_aggregates(community, write=write)
            return balance_fen

        return self._retrying(attempt, write)

    # -- committees ----------------------------------------------------------------------

    def committee(self, community_code: str, committee_reference: str) -> Committee:
        try:
            return cast(Committee, self._get(
                committee_id(community_code, committee_reference)))
        except AggregateNotFoundError:
            raise NotFound(f"community {community_code} has no committee "
                           f"{committee_reference!r}", rule="C1",
                           field="committee_reference") from None

    def form_owners_committee(
        self, *, community_code: str, election_reference: str, committee_reference: str,
        term_start: date, term_end: date, actor: str, alternate_ids: Sequence[str] = (),
        party_member_ids: Sequence[str] = (), party_branch_set_up: bool = False,
        write: WriteContext | None = None,
    ) -> Committee:
        """Seat the candidates a passed election elected (C1)."""

        def attempt() -> Committee:
            community = self._community(community_code)
            if OWNERS_COMMITTEE in community.committees:
                raise Conflict(f"community {community_code} has an owners' committee "
                               f"({community.committees[OWNERS_COMMITTEE]})", rule="C1",
                               field="committee_reference")
            committee = Committee.form_owners_committee(
                election=self.vote(community_code, election_reference),
                committee_reference=committee_reference, term_start=term_start,
                term_end=term_end, actor=actor, alternate_ids=list(alternate_ids),
                party_member_ids=list(party_member_ids),
                party_branch_set_up=party_branch_set_up, seat_bounds=self.seat_bounds)
            community.record_committee(kind=OWNERS_COMMITTEE,
                                       committee_reference=committee_reference,
                                       effective_date=term_start, actor=actor)
            self._save_aggregates(committee, community, write=write)
            return committee

        return self._retrying(attempt, write)

    def file_owners_committee(
        self, *, community_code: str, committee_reference: str, filed_on: date,
        street_office: str, actor: str, write: WriteContext | None = None,
    ) -> None:
        """File with the street office (C1); a serving property management committee is
        dissolved in the same transaction (C3)."""

        def attempt() -> None:
            community = self._community(community_code)
            committee = self.committee(community_code, committee_reference)
            committee.file_with_street_office(filed_on=filed_on, street_office=street_office,
                                              actor=actor)
            to_save: list[Any] = [committee]
            pmc_reference = community.committees.get(PROPERTY_MANAGEMENT_COMMITTEE)
            if pmc_reference is not None:
                pmc = self.committee(community_code, pmc_reference)
                pmc.dissolve(dissolved_on=filed_on, owners_committee_id=committee.id,
                             owners_committee_filed_on=filed_on, actor=actor)
                community.record_committee(kind=PROPERTY_MANAGEMENT_COMMITTEE,
                                           committee_reference=None, effective_date=filed_on,
                                           actor=actor)
                to_save += [pmc, community]
            self._save_aggregates(*to_save, write=write)

        self._retrying(attempt, write)

    def appoint_property_management_committee(
        self, *, community_code: str, committee_reference: str, appointed_on: date,
        members: Sequence[PmcMember], chair_id: str, term_start: date, term_end: date,
        actor: str, party_member_ids: Sequence[str] = (), party_branch_set_up: bool = False,
        write: WriteContext | None = None,
    ) -> Committee:
        """C3: only where no owners' committee serves."""

        def attempt() -> Committee:
            community = self._community(community_code)
            for kind in (OWNERS_COMMITTEE, PROPERTY_MANAGEMENT_COMMITTEE):
                if kind in community.committees:
                    raise Conflict(f"community {community_code} already has a {kind} "
                                   f"({community.committees[kind]})", rule="C3",
                                   field="committee_reference")
            committee = Committee.appoint_property_management_committee(
                community_code=community_code, committee_reference=committee_reference,
                appointed_on=appointed_on, members=list(members), chair_id=chair_id,
                term_start=term_start, term_end=term_end, actor=actor,
                party_member_ids=list(party_member_ids),
                party_branch_set_up=party_branch_set_up)
            community.record_committee(kind=PROPERTY_MANAGEMENT_COMMITTEE,
                                       committee_reference=committee_reference,
                                       effective_date=appointed_on, actor=actor)
            self._save_aggregates(committee, community, write=write)
            return committee

        return self._retrying(attempt, write)

    def record_party_coverage(
        self, *, community_code: str, committee_reference: str,
        party_member_ids: Sequence[str], party_branch_set_up: bool, recorded_on: date,
        actor: str, write: WriteContext | None = None,
    ) -> Committee:
        """C4: which members are party members, and whether a party branch is set up."""

        def step(committee: Committee) -> Committee:
            committee.record_party_coverage(party_member_ids=list(party_member_ids),
                                            party_branch_set_up=party_branch_set_up,
                                            recorded_on=recorded_on, actor=actor)
            return committee

        return self._committee_step(community_code, committee_reference, step, write)

    def committee_member_left(
        self, *, community_code: str, committee_reference: str, member_id: str,
        left_on: date, actor: str, reason: str = "", write: WriteContext | None = None,
    ) -> Committee:
        """A member leaves; below half the seats a new election is due (C2)."""

        def step(committee: Committee) -> Committee:
            committee.member_left(member_id=member_id, left_on=left_on, actor=actor,
                                  reason=reason)
            return committee

        return self._committee_step(community_code, committee_reference, step, write)

    def _committee_step(self, community_code: str, committee_reference: str,
                        step: Callable[[Committee], T], write: WriteContext | None) -> T:
        return self._update(lambda: self.committee(community_code, committee_reference), step,
                            write)
