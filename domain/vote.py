"""Owners' assembly votes: proposals, ballots, the exact tally, and the fund-use gate.

A vote moves proposed -> published -> open -> closed. It opens no earlier than 15 days
after publication (V5); opening freezes the electorate (V3; for fund use only the units in
the charging range, V4). Each voter casts one ballot; a second is refused, never counted
(V5). Closing records the tally as an event with the four totals, the thresholds and the
outcome (V6), computed by ``tally`` with integer cross-multiplication only (V1, V2), so an
auditor can recompute it from the ballot events with the same pure function.

Where the ballots live (issue 16). The ``Vote`` keeps a small state: its status, dates,
nominees and the electorate's digest and totals. The electorate itself is frozen once, in
the vote's roll (``domain.roll``), and each ballot is its own record of fact
(``domain.ballot``) in a stream keyed by (vote, voter), so a ballot reads neither the
electorate nor the other ballots, and the store's uniqueness refuses a voter's second one.
Closing is given the ``BallotCount`` (the roll and every ballot) to tally. Votes opened
before that change keep their electorate in their ``Opened`` event and their ballots as
``BallotCast`` events of the vote: those events still apply, and such a vote counts its
ballots from its own state (``inline_count``), exactly as it always did.

A committee election is a vote whose ballots agree to up to N nominated candidates; a
candidate is elected on the V1 majority of both area and heads, seats going to the most
agreeing heads, then area, then candidate id. A passed fund-use vote is the resolution a
works withdrawal cites (F8): ``record_withdrawal`` checks the citation and keeps the running
total within the approved amount.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids
from domain.checks import check_actor, check_date
from domain.electorate import (
    Electorate,
    JsonRecord,
    UnitHolding,
    Voter,
    build_electorate,
)
from domain.errors import Conflict, InvalidInput, NotFound, RuleViolated
from domain.identifiers import CODE, REFERENCE, check_identifier, check_text
from domain.money import AMOUNT_FEN_MAX, format_fen

# --- matter kinds (V1 ordinary, V2 special) ------------------------------------------------
FUND_USE = "fund_use"
COMMITTEE_ELECTION = "committee_election"
ORDINARY_MATTERS = (FUND_USE, COMMITTEE_ELECTION, "hire_enterprise", "dismiss_enterprise",
                    "other_ordinary")
SPECIAL_MATTERS = ("raise_fund", "reraise_fund", "rebuild", "change_common_use",
                   "common_business")
MATTER_KINDS = ORDINARY_MATTERS + SPECIAL_MATTERS

# --- ballots -------------------------------------------------------------------------------
AGREE, DISAGREE, ABSTAIN = "agree", "disagree", "abstain"
CHOICES = (AGREE, DISAGREE, ABSTAIN)

# --- thresholds as integer fractions [numerator, denominator] ------------------------------
# V1: "以上" includes the bound: participation >= 2/3 of area and of heads.
QUORUM_FRACTION = (2, 3)
# V1: "超过" excludes it: ordinary matters need > 1/2 of participating area and heads.
ORDINARY_MAJORITY_FRACTION = (1, 2)
# V2: special matters need >= 3/4 of participating area and heads.
SPECIAL_MAJORITY_FRACTION = (3, 4)

# --- procedure (V5) ------------------------------------------------------------------------
PUBLICATION_DAYS_MIN = 15

# --- limits on inputs ----------------------------------------------------------------------
TITLE_LENGTH_MAX = 200
PURPOSE_LENGTH_MAX = 1000
CANDIDATES_MAX = 100
WITHDRAWALS_MAX = 1000
_REFERENCE_PATTERN = re.compile(r"[A-Za-z0-9_.:/-]{1,64}")

# --- lifecycle -----------------------------------------------------------------------------
PROPOSED, PUBLISHED, OPEN, CLOSED = "proposed", "published", "open", "closed"


@dataclass(frozen=True)
class SeatBounds:
    """C1 bounds on an owners' committee's size: configuration, Beijing's figures by default.

    Odd, at least ``seats_min`` (``small_community_seats_min`` where the community has at
    most ``small_community_households_max`` households), at most ``seats_max`` (G2009).
    """

    seats_min: int = 5
    seats_max: int = 11
    small_community_households_max: int = 100
    small_community_seats_min: int = 3

    def minimum_for(self, household_count: int) -> int:
        if household_count <= self.small_community_households_max:
            return self.small_community_seats_min
        return self.seats_min


DEFAULT_SEAT_BOUNDS = SeatBounds()


def check_seats(seats: int, household_count: int, bounds: SeatBounds, *, field: str) -> None:
    """Refuse a committee size that C1 forbids (shared by elections and committees)."""
    if isinstance(household_count, bool) or household_count <= 0:
        raise InvalidInput(
            "household count must be a positive number", rule="C1", field="household_count"
        )
    low, high = bounds.minimum_for(household_count), bounds.seats_max
    if isinstance(seats, bool) or seats % 2 == 0 or not low <= seats <= high:
        raise RuleViolated(
            f"a committee of {seats} is not allowed: it must be odd, at least {low} "
            f"(for {household_count} households) and at most {high}",
            rule="C1",
            field=field,
        )


@dataclass(frozen=True)
class Ballot:
    """One voter's ballot as the tally sees it."""

    voter_key: str
    choice: str
    candidates: tuple[str, ...] = ()


@dataclass(frozen=True)
class CandidateTally:
    candidate_id: str
    agreeing_area_m2_hundredths: int
    agreeing_heads: int
    majority_met: bool
    elected: bool

    def to_record(self) -> JsonRecord:
        return {
            "candidate_id": self.candidate_id,
            "agreeing_area_m2_hundredths": self.agreeing_area_m2_hundredths,
            "agreeing_heads": self.agreeing_heads,
            "majority_met": self.majority_met,
            "elected": self.elected,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> CandidateTally:
        return cls(
            candidate_id=str(record["candidate_id"]),
            agreeing_area_m2_hundredths=int(record["agreeing_area_m2_hundredths"]),
            agreeing_heads=int(record["agreeing_heads"]),
            majority_met=bool(record["majority_met"]),
            elected=bool(record["elected"]),
        )


@dataclass(frozen=True)
class TallyResult:
    """The outcome of a vote with everything needed to check it (V6)."""

    matter_kind: str
    electorate_area_m2_hundredths: int
    electorate_heads: int
    participating_area_m2_hundredths: int
    participating_heads: int
    agreeing_area_m2_hundredths: int
    agreeing_heads: int
    quorum_fraction: tuple[int, int]
    majority_fraction: tuple[int, int]
    majority_inclusive: bool
    quorum_area_met: bool
    quorum_heads_met: bool
    majority_area_met: bool
    majority_heads_met: bool
    passed: bool
    # In seat order: most agreeing heads, then area, then candidate id.
    elected: tuple[str, ...] = ()
    # One per nominee, sorted by candidate id.
    candidate_tallies: tuple[CandidateTally, ...] = ()

    @property
    def quorum_met(self) -> bool:
        return self.quorum_area_met and self.quorum_heads_met

    def to_event_fields(self) -> dict[str, Any]:
        """The ``Tallied`` event's attributes, all JSON-friendly."""
        return {
            "matter_kind": self.matter_kind,
            "electorate_area_m2_hundredths": self.electorate_area_m2_hundredths,
            "electorate_heads": self.electorate_heads,
            "participating_area_m2_hundredths": self.participating_area_m2_hundredths,
            "participating_heads": self.participating_heads,
            "agreeing_area_m2_hundredths": self.agreeing_area_m2_hundredths,
            "agreeing_heads": self.agreeing_heads,
            "quorum_fraction": list(self.quorum_fraction),
            "majority_fraction": list(self.majority_fraction),
            "majority_inclusive": self.majority_inclusive,
            "quorum_area_met": self.quorum_area_met,
            "quorum_heads_met": self.quorum_heads_met,
            "quorum_met": self.quorum_met,
            "majority_area_met": self.majority_area_met,
            "majority_heads_met": self.majority_heads_met,
            "passed": self.passed,
            "elected": list(self.elected),
            "candidate_tallies": [c.to_record() for c in self.candidate_tallies],
        }

    @classmethod
    def from_event_fields(cls, fields: Mapping[str, Any]) -> TallyResult:
        """Rebuild from a ``Tallied`` event (or its JSON), e.g. to compare with a recount."""
        quorum, majority = fields["quorum_fraction"], fields["majority_fraction"]
        return cls(
            matter_kind=str(fields["matter_kind"]),
            electorate_area_m2_hundredths=int(fields["electorate_area_m2_hundredths"]),
            electorate_heads=int(fields["electorate_heads"]),
            participating_area_m2_hundredths=int(fields["participating_area_m2_hundredths"]),
            participating_heads=int(fields["participating_heads"]),
            agreeing_area_m2_hundredths=int(fields["agreeing_area_m2_hundredths"]),
            agreeing_heads=int(fields["agreeing_heads"]),
            quorum_fraction=(int(quorum[0]), int(quorum[1])),
            majority_fraction=(int(majority[0]), int(majority[1])),
            majority_inclusive=bool(fields["majority_inclusive"]),
            quorum_area_met=bool(fields["quorum_area_met"]),
            quorum_heads_met=bool(fields["quorum_heads_met"]),
            majority_area_met=bool(fields["majority_area_met"]),
            majority_heads_met=bool(fields["majority_heads_met"]),
            passed=bool(fields["passed"]),
            elected=tuple(str(c) for c in fields["elected"]),
            candidate_tallies=tuple(
                CandidateTally.from_record(r) for r in fields["candidate_tallies"]
            ),
        )


# --- the pure tally ------------------------------------------------------------------------


def is_special(matter_kind: str) -> bool:
    return matter_kind in SPECIAL_MATTERS


def at_least(part: int, whole: int, fraction: tuple[int, int]) -> bool:
    """part >= whole * n/d, exactly: part * d >= whole * n ("以上", art. 1259)."""
    numerator, denominator = fraction
    return part * denominator >= whole * numerator


def more_than(part: int, whole: int, fraction: tuple[int, int]) -> bool:
    """part > whole * n/d, exactly: part * d > whole * n ("超过", art. 1259)."""
    numerator, denominator = fraction
    return part * denominator > whole * numerator


def tally(
    electorate: Electorate,
    ballots: Iterable[Ballot],
    matter_kind: str,
    *,
    candidate_ids: Sequence[str] = (),
    seats: int = 0,
) -> TallyResult:
    """Count a vote by V1–V3. Pure: an auditor calls it on the recorded ballots.

    Abstentions participate. Every comparison is integer cross-multiplication. For a
    committee election, ``candidate_ids`` are the nominees and ``seats`` the seats N; the
    election passes only when the quorum is met and all N seats are filled by candidates
    who each have the V1 majority of both area and heads (a partly filled committee is
    not a committee: a further round is needed).
    """
    if matter_kind not in MATTER_KINDS:
        raise InvalidInput(f"unknown matter kind {matter_kind!r}", rule="V1", field="matter_kind")
    counted = _check_ballots(electorate, ballots)
    participating = [(electorate.voter(b.voter_key), b) for b in counted]
    part_area = sum(v.area_m2_hundredths for v, _ in participating if v)
    part_heads = sum(v.heads for v, _ in participating if v)
    agreeing = [v for v, b in participating if v and b.choice == AGREE]
    agree_area = sum(v.area_m2_hundredths for v in agreeing)
    agree_heads = sum(v.heads for v in agreeing)
    total_area, total_heads = electorate.total_area_m2_hundredths, electorate.total_heads

    quorum_area_met = at_least(part_area, total_area, QUORUM_FRACTION)
    quorum_heads_met = at_least(part_heads, total_heads, QUORUM_FRACTION)
    # With nobody taking part there is no majority, though 0 >= 3/4 of 0 holds arithmetically.
    if is_special(matter_kind):
        majority, inclusive = SPECIAL_MAJORITY_FRACTION, True
        majority_area_met = part_area > 0 and at_least(agree_area, part_area, majority)
        majority_heads_met = part_heads > 0 and at_least(agree_heads, part_heads, majority)
    else:
        majority, inclusive = ORDINARY_MAJORITY_FRACTION, False
        majority_area_met = more_than(agree_area, part_area, majority)
        majority_heads_met = more_than(agree_heads, part_heads, majority)
    quorum_met = quorum_area_met and quorum_heads_met

    candidate_tallies: tuple[CandidateTally, ...] = ()
    elected: tuple[str, ...] = ()
    if matter_kind == COMMITTEE_ELECTION:
        candidate_tallies, elected = _count_candidates(
            electorate, counted, candidate_ids, seats, part_area, part_heads, quorum_met
        )
        passed = quorum_met and len(elected) == seats
    else:
        passed = quorum_met and majority_area_met and majority_heads_met
    return TallyResult(
        matter_kind=matter_kind,
        electorate_area_m2_hundredths=total_area,
        electorate_heads=total_heads,
        participating_area_m2_hundredths=part_area,
        participating_heads=part_heads,
        agreeing_area_m2_hundredths=agree_area,
        agreeing_heads=agree_heads,
        quorum_fraction=QUORUM_FRACTION,
        majority_fraction=majority,
        majority_inclusive=inclusive,
        quorum_area_met=quorum_area_met,
        quorum_heads_met=quorum_heads_met,
        majority_area_met=majority_area_met,
        majority_heads_met=majority_heads_met,
        passed=passed,
        elected=elected,
        candidate_tallies=candidate_tallies,
    )


def _check_ballots(electorate: Electorate, ballots: Iterable[Ballot]) -> list[Ballot]:
    counted: list[Ballot] = []
    seen: set[str] = set()
    for ballot in ballots:
        if electorate.voter(ballot.voter_key) is None:
            raise NotFound(
                f"voter {ballot.voter_key!r} is not in the electorate", rule="V3",
                field="voter_key",
            )
        if ballot.voter_key in seen:
            raise Conflict(
                f"voter {ballot.voter_key!r} has two ballots; a voter counts once",
                rule="V5",
                field="voter_key",
            )
        if ballot.choice not in CHOICES:
            raise InvalidInput(f"unknown choice {ballot.choice!r}", rule="V5", field="choice")
        seen.add(ballot.voter_key)
        counted.append(ballot)
    return counted


def _count_candidates(
    electorate: Electorate,
    ballots: Sequence[Ballot],
    candidate_ids: Sequence[str],
    seats: int,
    part_area: int,
    part_heads: int,
    quorum_met: bool,
) -> tuple[tuple[CandidateTally, ...], tuple[str, ...]]:
    """Each candidate's agreeing area and heads, and the elected in seat order."""
    area = dict.fromkeys(candidate_ids, 0)
    heads = dict.fromkeys(candidate_ids, 0)
    for ballot in ballots:
        voter = electorate.voter(ballot.voter_key)
        if voter is None or ballot.choice != AGREE:
            continue
        for candidate in set(ballot.candidates):
            if candidate not in area:
                raise InvalidInput(
                    f"{candidate!r} is not a nominated candidate", rule="C1", field="candidates"
                )
            area[candidate] += voter.area_m2_hundredths
            heads[candidate] += voter.heads
    # V1 for each candidate: > 1/2 of participating area AND of participating heads.
    majority = {
        c: more_than(area[c], part_area, ORDINARY_MAJORITY_FRACTION)
        and more_than(heads[c], part_heads, ORDINARY_MAJORITY_FRACTION)
        for c in candidate_ids
    }
    # Seats go to the most agreeing heads, then area, then candidate id: deterministic.
    ranked = sorted(
        (c for c in candidate_ids if majority[c]), key=lambda c: (-heads[c], -area[c], c)
    )
    elected = tuple(ranked[:seats]) if quorum_met else ()
    tallies = tuple(
        CandidateTally(c, area[c], heads[c], majority[c], c in elected)
        for c in sorted(candidate_ids)
    )
    return tallies, elected


@dataclass(frozen=True)
class BallotCount:
    """A vote's frozen electorate and the ballots recorded in it, with their receipts: what a
    close tallies, an auditor recounts and a voter checks a receipt against."""

    electorate: Electorate
    ballots: Mapping[str, Ballot]  # by voter key
    receipts: Mapping[str, str]  # by voter key
    last_ballot_on: date | None = None

    def receipt_for(self, voter_key: str) -> str:
        receipt = self.receipts.get(voter_key)
        if receipt is None:
            raise NotFound(f"voter {voter_key!r} has not voted", rule="V5", field="voter_key")
        return receipt

    def ballot_with_receipt(self, receipt: str) -> Ballot | None:
        key = next((k for k, r in self.receipts.items() if r == receipt), None)
        return None if key is None else self.ballots[key]


# --- receipts ------------------------------------------------------------------------------


def ballot_receipt(
    vote_id: UUID | str, voter_key: str, choice: str, candidates: Sequence[str], version: int
) -> str:
    """A digest the voter keeps and later checks against the published ballots.

    sha256 of the canonical JSON (sorted keys, no spaces, UTF-8) of the ballot event's
    content: vote id, version (the event's position in its stream: in the vote for a vote
    that keeps its ballots inline, 1 in a ballot's own stream), voter key, choice and the
    sorted candidates.
    """
    content = {
        "vote_id": str(vote_id),
        "version": version,
        "voter_key": voter_key,
        "choice": choice,
        "candidates": sorted(candidates),
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --- the aggregate -------------------------------------------------------------------------


class Vote(Aggregate):
    """One resolution of an owners' assembly, from proposal to tally (and, for fund use,
    the withdrawals that cite it)."""

    @staticmethod
    def create_id(community_code: str, vote_reference: str) -> UUID:
        return ids.vote_id(community_code, vote_reference)

    # ---- commands: each validates everything, then fires one event -----------------------

    @classmethod
    def propose(
        cls,
        *,
        community_code: str,
        vote_reference: str,
        matter_kind: str,
        title: str,
        proposed_on: date,
        actor: str,
        charging_range: Sequence[str] | None = None,
        approved_amount_fen: int | None = None,
        purpose: str | None = None,
        seats: int | None = None,
        household_count: int | None = None,
        seat_bounds: SeatBounds = DEFAULT_SEAT_BOUNDS,
    ) -> Vote:
        check_identifier(community_code, CODE, "community_code")
        check_identifier(vote_reference, REFERENCE, "vote_reference")
        check_actor(actor)
        check_date(proposed_on, "proposed_on")
        if matter_kind not in MATTER_KINDS:
            raise InvalidInput(
                f"unknown matter kind {matter_kind!r}; one of {', '.join(MATTER_KINDS)}",
                rule="V1",
                field="matter_kind",
            )
        _check_text(title, "title", TITLE_LENGTH_MAX)
        fund = _check_fund_use(matter_kind, charging_range, approved_amount_fen, purpose)
        bounds: list[int] | None = None
        if matter_kind == COMMITTEE_ELECTION:
            if seats is None or household_count is None:
                raise InvalidInput(
                    "an election needs the seats and the household count",
                    rule="C1",
                    field="seats",
                )
            check_seats(seats, household_count, seat_bounds, field="seats")
            bounds = [seat_bounds.minimum_for(household_count), seat_bounds.seats_max]
        elif seats is not None or household_count is not None:
            raise InvalidInput("only an election has seats", rule="C1", field="seats")
        return cls(
            community_code=community_code,
            vote_reference=vote_reference,
            matter_kind=matter_kind,
            title=title,
            charging_range=fund[0],
            approved_amount_fen=fund[1],
            purpose=fund[2],
            seats=seats,
            household_count=household_count,
            seat_bounds_applied=bounds,
            effective_date=proposed_on,
            actor=actor,
        )

    def nominate(
        self,
        *,
        candidate_id: str,
        eligible: bool,
        ineligibility_reason: str | None = None,
        nominated_on: date,
        actor: str,
    ) -> None:
        """Nominate a candidate. The caller states the C1 eligibility facts (close ties to the
        serving property company, judgment defaulter); an ineligible candidate is refused."""
        check_actor(actor)
        check_date(nominated_on, "nominated_on")
        if self.matter_kind != COMMITTEE_ELECTION:
            raise RuleViolated(
                f"vote {self.vote_reference} is a {self.matter_kind} vote, not an election",
                rule="C1",
                field="candidate_id",
            )
        _check_reference(candidate_id, "candidate_id")
        if not eligible:
            why = (ineligibility_reason or "").strip() or "stated ineligible"
            raise RuleViolated(
                f"candidate {candidate_id} cannot stand: {why}", rule="C1", field="eligible"
            )
        if self.status not in (PROPOSED, PUBLISHED):
            raise RuleViolated(
                "candidates are nominated before the vote opens", rule="V5", field="candidate_id"
            )
        if candidate_id in self.candidates:
            raise Conflict(
                f"candidate {candidate_id} is already nominated", rule="C1", field="candidate_id"
            )
        if len(self.candidates) >= CANDIDATES_MAX:
            raise InvalidInput(
                f"at most {CANDIDATES_MAX} candidates", rule="C1", field="candidate_id"
            )
        self._nominate(candidate_id=candidate_id, effective_date=nominated_on, actor=actor)

    def publish(self, *, published_on: date, actor: str) -> None:
        check_actor(actor)
        check_date(published_on, "published_on")
        if self.status != PROPOSED:
            raise Conflict(f"vote is already {self.status}", rule="V5", field="published_on")
        if published_on < self.proposed_on:
            raise RuleViolated(
                "a vote cannot be published before it was proposed",
                rule="V5",
                field="published_on",
            )
        self._publish(effective_date=published_on, actor=actor)

    def open(
        self, *, opened_on: date, holdings: Sequence[UnitHolding], actor: str
    ) -> Electorate:
        """Open the vote and freeze its electorate from the owner register's ``holdings``.

        For fund use only the units in the charging range vote (V4): the other holdings are
        left out, and every unit of the range must be among the holdings. The vote records
        the electorate's digest and totals; the caller records the electorate itself once,
        as the vote's roll (``domain.roll.roll_of``), in the same transaction.
        """
        check_actor(actor)
        check_date(opened_on, "opened_on")
        if self.status == PROPOSED:
            raise RuleViolated("no vote on an unpublished item", rule="V5", field="opened_on")
        if self.status != PUBLISHED:
            raise Conflict(f"vote is already {self.status}", rule="V5", field="opened_on")
        assert self.published_on is not None
        earliest = self.published_on + timedelta(days=PUBLICATION_DAYS_MIN)
        if opened_on < earliest:
            raise RuleViolated(
                f"published on {self.published_on}, the vote may open on {earliest} at the "
                f"earliest ({PUBLICATION_DAYS_MIN} days)",
                rule="V5",
                field="opened_on",
            )
        electorate = build_electorate(self._holdings_in_range(holdings))
        if not electorate.voters:
            raise RuleViolated("the electorate is empty", rule="V3", field="holdings")
        if self.seats is not None and len(self.candidates) < self.seats:
            raise RuleViolated(
                f"{len(self.candidates)} candidates cannot fill {self.seats} seats",
                rule="C1",
                field="candidates",
            )
        self._open_with_digest(
            electorate_digest=electorate.digest(),
            electorate_area_m2_hundredths=electorate.total_area_m2_hundredths,
            electorate_heads=electorate.total_heads,
            voter_count=len(electorate.voters),
            effective_date=opened_on,
            actor=actor,
        )
        return electorate

    def check_ballot(
        self,
        *,
        voter: Voter | None,
        voter_key: str,
        choice: str,
        cast_on: date,
        actor: str,
        candidates: Sequence[str] = (),
    ) -> list[str]:
        """Every rule a ballot must meet but V5's one-per-voter; returns the sorted candidates.

        ``voter`` is the roll's voter named ``voter_key`` (None: not on the roll). ``actor``
        is the owner who casts it and must be one of the voter's owners (any representative
        may cast for the developer when the register names none). One ballot per voter is
        the store's to enforce: each ballot's stream is keyed by (vote, voter).
        """
        check_actor(actor)
        check_date(cast_on, "cast_on")
        self._check_open(cast_on, "cast_on")
        if voter is None:
            rule = "V4" if self.matter_kind == FUND_USE else "V3"
            raise NotFound(
                f"voter {voter_key!r} is not in the electorate of this vote",
                rule=rule,
                field="voter_key",
            )
        if voter.owner_ids and actor not in voter.owner_ids:
            raise RuleViolated(
                f"{actor} is not an owner of voter {voter_key}", rule="V3", field="actor"
            )
        if choice not in CHOICES:
            raise InvalidInput(
                f"choice must be one of {', '.join(CHOICES)}", rule="V5", field="choice"
            )
        return self._check_candidates(choice, candidates)

    def cast_inline_ballot(
        self,
        *,
        voter_key: str,
        choice: str,
        cast_on: date,
        actor: str,
        candidates: Sequence[str] = (),
    ) -> str:
        """A ballot in a vote opened before ballots had their own streams: recorded in the
        vote itself, as then, so its count stays one shape. Returns the receipt."""
        if not self.ballots_inline:
            raise RuleViolated(
                "this vote records each ballot in its own stream", rule="V5", field="voter_key"
            )
        electorate = self._frozen_electorate()
        chosen = self.check_ballot(voter=electorate.voter(voter_key), voter_key=voter_key,
                                   choice=choice, cast_on=cast_on, actor=actor,
                                   candidates=candidates)
        if voter_key in self._ballots:
            raise Conflict(
                f"voter {voter_key} has already voted; a later ballot is refused",
                rule="V5",
                field="voter_key",
            )
        self._cast(voter_key=voter_key, choice=choice, candidates=chosen,
                   effective_date=cast_on, actor=actor)
        return ballot_receipt(self.id, voter_key, choice, chosen, self.version)

    def close(
        self, *, closed_on: date, actor: str, count: BallotCount | None = None
    ) -> TallyResult:
        """Close the vote and record its tally (V6) of ``count``: the roll and every ballot
        recorded (a vote that keeps its ballots inline counts its own)."""
        check_actor(actor)
        check_date(closed_on, "closed_on")
        self._check_open(closed_on, "closed_on")
        count = self._count(count)
        if count.last_ballot_on is not None and closed_on < count.last_ballot_on:
            raise RuleViolated(
                f"a ballot was cast on {count.last_ballot_on}; the vote cannot close before it",
                rule="V5", field="closed_on")
        result = self.recount(count)
        self._tallied(**result.to_event_fields(), effective_date=closed_on, actor=actor)
        return result

    def record_withdrawal(
        self,
        *,
        withdrawal_reference: str,
        amount_fen: int,
        charging_range: Sequence[str],
        community_code: str,
        withdrawn_on: date,
        actor: str,
    ) -> None:
        """Gate a works withdrawal that cites this vote as its resolution (F8).

        The application saves this event with the withdrawal in one transaction, so the
        running total can never be exceeded by two concurrent withdrawals.
        """
        check_actor(actor)
        check_date(withdrawn_on, "withdrawn_on")
        check_identifier(withdrawal_reference, REFERENCE, "withdrawal_reference")
        if isinstance(amount_fen, bool) or not 0 < amount_fen <= AMOUNT_FEN_MAX:
            raise InvalidInput(
                "the amount must be positive fen", rule="amount-positive", field="amount_fen"
            )
        result = self._check_resolution(community_code, charging_range, withdrawn_on)
        assert result.passed and self.approved_amount_fen is not None
        if withdrawal_reference in self.withdrawal_references:
            raise Conflict(
                f"withdrawal {withdrawal_reference} already cites this resolution",
                rule="F8",
                field="withdrawal_reference",
            )
        if len(self.withdrawal_references) >= WITHDRAWALS_MAX:
            raise RuleViolated(
                f"at most {WITHDRAWALS_MAX} withdrawals per resolution",
                rule="F8",
                field="withdrawal_reference",
            )
        if self.withdrawn_fen + amount_fen > self.approved_amount_fen:
            raise RuleViolated(
                f"{format_fen(amount_fen)} yuan would bring withdrawals under this resolution "
                f"to {format_fen(self.withdrawn_fen + amount_fen)} yuan, above the approved "
                f"{format_fen(self.approved_amount_fen)} yuan",
                rule="F8",
                field="amount_fen",
            )
        self._withdrawal_recorded(
            withdrawal_reference=withdrawal_reference,
            amount_fen=amount_fen,
            effective_date=withdrawn_on,
            actor=actor,
        )

    # ---- queries -------------------------------------------------------------------------

    @property
    def opened(self) -> bool:
        return self.status in (OPEN, CLOSED)

    def inline_count(self) -> BallotCount:
        """The count of a vote that keeps its electorate and ballots in its own events."""
        assert self.ballots_inline, "this vote's ballots are in their own streams"
        receipts = {
            key: ballot_receipt(self.id, key, b.choice, b.candidates, self._ballot_versions[key])
            for key, b in self._ballots.items()
        }
        return BallotCount(self._frozen_electorate(), dict(self._ballots), receipts,
                           self.last_ballot_on)

    @property
    def remaining_fen(self) -> int:
        return (self.approved_amount_fen or 0) - self.withdrawn_fen

    def recount(self, count: BallotCount | None = None) -> TallyResult:
        """Tally ``count`` now (before closing: a running count); an auditor's recount."""
        count = self._count(count)
        return tally(
            count.electorate,
            count.ballots.values(),
            self.matter_kind,
            candidate_ids=self.candidates,
            seats=self.seats or 0,
        )

    def _count(self, count: BallotCount | None) -> BallotCount:
        if self.ballots_inline:
            assert count is None or count.electorate == self._electorate
            return self.inline_count()
        assert count is not None, "a vote with ballot streams is counted from them"
        # The roll read back must be the one frozen at opening: a programming error else.
        assert count.electorate.digest() == self.electorate_digest, "not this vote's roll"
        return count

    # ---- events: state changes only ------------------------------------------------------

    @event("Proposed")
    def __init__(
        self,
        *,
        community_code: str,
        vote_reference: str,
        matter_kind: str,
        title: str,
        charging_range: list[str] | None,
        approved_amount_fen: int | None,
        purpose: str | None,
        seats: int | None,
        household_count: int | None,
        seat_bounds_applied: list[int] | None,
        effective_date: date,
        actor: str,
    ) -> None:
        self.community_code = community_code
        self.vote_reference = vote_reference
        self.matter_kind = matter_kind
        self.title = title
        self.charging_range = list(charging_range) if charging_range is not None else None
        self.approved_amount_fen = approved_amount_fen
        self.purpose = purpose
        self.seats = seats
        self.household_count = household_count
        self.proposed_on = effective_date
        self.proposed_by = actor
        self.status = PROPOSED
        self.candidates: list[str] = []
        self.published_on: date | None = None
        self.opened_on: date | None = None
        self.closed_on: date | None = None
        self.electorate_digest: str | None = None
        self.electorate_area_m2_hundredths: int | None = None
        self.electorate_heads: int | None = None
        self.voter_count: int | None = None
        # Votes opened before issue 16: electorate and ballots in the vote's own events.
        self.ballots_inline = False
        self._electorate: Electorate | None = None
        self._ballots: dict[str, Ballot] = {}
        self.last_ballot_on: date | None = None
        self._ballot_versions: dict[str, int] = {}
        self.result: TallyResult | None = None
        self.withdrawn_fen = 0
        self.withdrawal_references: list[str] = []

    @event("Nominated")
    def _nominate(self, *, candidate_id: str, effective_date: date, actor: str) -> None:
        self.candidates.append(candidate_id)

    @event("Published")
    def _publish(self, *, effective_date: date, actor: str) -> None:
        self.status = PUBLISHED
        self.published_on = effective_date

    @event("OpenedWithDigest")
    def _open_with_digest(
        self,
        *,
        electorate_digest: str,
        electorate_area_m2_hundredths: int,
        electorate_heads: int,
        voter_count: int,
        effective_date: date,
        actor: str,
    ) -> None:
        self.status = OPEN
        self.opened_on = effective_date
        self.electorate_digest = electorate_digest
        self.electorate_area_m2_hundredths = electorate_area_m2_hundredths
        self.electorate_heads = electorate_heads
        self.voter_count = voter_count

    # The shape before issue 16, still applied to the votes recorded in it.
    @event("Opened")
    def _open(self, *, electorate: list[JsonRecord], effective_date: date, actor: str) -> None:
        self.status = OPEN
        self.opened_on = effective_date
        self._electorate = Electorate.from_records(electorate)
        self.ballots_inline = True
        self.electorate_digest = self._electorate.digest()
        self.electorate_area_m2_hundredths = self._electorate.total_area_m2_hundredths
        self.electorate_heads = self._electorate.total_heads
        self.voter_count = len(self._electorate.voters)

    # A ballot of a vote that keeps its ballots inline (opened before issue 16).
    @event("BallotCast")
    def _cast(
        self,
        *,
        voter_key: str,
        choice: str,
        candidates: list[str],
        effective_date: date,
        actor: str,
    ) -> None:
        self._ballots[voter_key] = Ballot(voter_key, choice, tuple(candidates))
        self.last_ballot_on = max(self.last_ballot_on or effective_date, effective_date)
        # The event being applied is the next in the sequence: its version is the receipt's.
        self._ballot_versions[voter_key] = self.version + 1

    @event("Tallied")
    def _tallied(
        self,
        *,
        matter_kind: str,
        electorate_area_m2_hundredths: int,
        electorate_heads: int,
        participating_area_m2_hundredths: int,
        participating_heads: int,
        agreeing_area_m2_hundredths: int,
        agreeing_heads: int,
        quorum_fraction: list[int],
        majority_fraction: list[int],
        majority_inclusive: bool,
        quorum_area_met: bool,
        quorum_heads_met: bool,
        quorum_met: bool,
        majority_area_met: bool,
        majority_heads_met: bool,
        passed: bool,
        elected: list[str],
        candidate_tallies: list[JsonRecord],
        effective_date: date,
        actor: str,
    ) -> None:
        self.status = CLOSED
        self.closed_on = effective_date
        self.result = TallyResult.from_event_fields(
            {
                "matter_kind": matter_kind,
                "electorate_area_m2_hundredths": electorate_area_m2_hundredths,
                "electorate_heads": electorate_heads,
                "participating_area_m2_hundredths": participating_area_m2_hundredths,
                "participating_heads": participating_heads,
                "agreeing_area_m2_hundredths": agreeing_area_m2_hundredths,
                "agreeing_heads": agreeing_heads,
                "quorum_fraction": quorum_fraction,
                "majority_fraction": majority_fraction,
                "majority_inclusive": majority_inclusive,
                "quorum_area_met": quorum_area_met,
                "quorum_heads_met": quorum_heads_met,
                "majority_area_met": majority_area_met,
                "majority_heads_met": majority_heads_met,
                "passed": passed,
                "elected": elected,
                "candidate_tallies": candidate_tallies,
            }
        )

    @event("WithdrawalRecorded")
    def _withdrawal_recorded(
        self, *, withdrawal_reference: str, amount_fen: int, effective_date: date, actor: str
    ) -> None:
        self.withdrawn_fen += amount_fen
        self.withdrawal_references.append(withdrawal_reference)

    # ---- helpers -------------------------------------------------------------------------

    @property
    def passed(self) -> bool:
        return self.result is not None and self.result.passed

    @property
    def elected(self) -> tuple[str, ...]:
        return self.result.elected if self.result is not None else ()

    def _frozen_electorate(self) -> Electorate:
        assert self._electorate is not None, "the electorate is frozen when the vote opens"
        return self._electorate

    def _holdings_in_range(self, holdings: Sequence[UnitHolding]) -> list[UnitHolding]:
        if self.charging_range is None:
            return list(holdings)
        in_range = set(self.charging_range)
        chosen = [h for h in holdings if h.unit_key in in_range]
        missing = in_range - {h.unit_key for h in chosen}
        if missing:
            raise NotFound(
                f"units of the charging range missing from the owner register: "
                f"{', '.join(sorted(missing)[:10])}",
                rule="V4",
                field="holdings",
            )
        return chosen

    def _check_open(self, on: date, field: str) -> None:
        if self.status in (PROPOSED, PUBLISHED):
            raise RuleViolated("the vote is not open yet", rule="V5", field=field)
        if self.status == CLOSED:
            raise RuleViolated("the vote is closed", rule="V5", field=field)
        assert self.opened_on is not None
        if on < self.opened_on:
            raise RuleViolated(
                f"the vote opened on {self.opened_on}", rule="V5", field=field
            )

    def _check_candidates(self, choice: str, candidates: Sequence[str]) -> list[str]:
        chosen = sorted(candidates)
        if self.matter_kind != COMMITTEE_ELECTION:
            if chosen:
                raise InvalidInput(
                    "only an election ballot names candidates", rule="V5", field="candidates"
                )
            return chosen
        assert self.seats is not None
        if choice == AGREE and not chosen:
            raise InvalidInput(
                "an agreeing election ballot names at least one candidate",
                rule="C1",
                field="candidates",
            )
        if choice != AGREE and chosen:
            raise InvalidInput(
                f"a ballot that chooses {choice!r} names no candidates",
                rule="C1",
                field="candidates",
            )
        if len(set(chosen)) != len(chosen) or len(chosen) > self.seats:
            raise RuleViolated(
                f"a ballot agrees to at most {self.seats} distinct candidates",
                rule="C1",
                field="candidates",
            )
        unknown = [c for c in chosen if c not in self.candidates]
        if unknown:
            raise NotFound(
                f"not nominated: {', '.join(unknown)}", rule="C1", field="candidates"
            )
        return chosen

    def _check_resolution(
        self, community_code: str, charging_range: Sequence[str], withdrawn_on: date
    ) -> TallyResult:
        """The F8 citation checks, each failure with its own rule and message."""
        if self.matter_kind != FUND_USE:
            raise RuleViolated(
                f"vote {self.vote_reference} is a {self.matter_kind} vote, not a fund-use "
                f"resolution",
                rule="F8",
                field="vote_id",
            )
        if community_code != self.community_code:
            raise RuleViolated(
                f"vote {self.vote_reference} belongs to community {self.community_code}, "
                f"not {community_code}",
                rule="F8",
                field="community_code",
            )
        if self.result is None:
            raise RuleViolated(
                f"vote {self.vote_reference} has not been closed and tallied",
                rule="V5",
                field="vote_id",
            )
        if not self.result.passed:
            raise RuleViolated(
                f"vote {self.vote_reference} did not pass: {_why_failed(self.result)}",
                rule="V1",
                field="vote_id",
            )
        if sorted(charging_range) != self.charging_range:
            raise RuleViolated(
                "the withdrawal's charging range differs from the range the owners voted on",
                rule="V4",
                field="charging_range",
            )
        assert self.closed_on is not None
        if withdrawn_on < self.closed_on:
            raise RuleViolated(
                f"the resolution was tallied on {self.closed_on}, after {withdrawn_on}",
                rule="F8",
                field="withdrawn_on",
            )
        return self.result


def _why_failed(result: TallyResult) -> str:
    reasons = []
    if not result.quorum_area_met:
        reasons.append("participating area below 2/3")
    if not result.quorum_heads_met:
        reasons.append("participating headcount below 2/3")
    if not result.majority_area_met:
        reasons.append("agreeing area short of the majority")
    if not result.majority_heads_met:
        reasons.append("agreeing headcount short of the majority")
    return "; ".join(reasons) or "not passed"


def _check_fund_use(
    matter_kind: str,
    charging_range: Sequence[str] | None,
    approved_amount_fen: int | None,
    purpose: str | None,
) -> tuple[list[str] | None, int | None, str | None]:
    if matter_kind != FUND_USE:
        if charging_range is not None or approved_amount_fen is not None or purpose is not None:
            raise InvalidInput(
                "only a fund-use vote has a charging range, an amount and a purpose",
                rule="V4",
                field="charging_range",
            )
        return None, None, None
    if not charging_range:
        raise InvalidInput(
            "a fund-use vote names its charging range", rule="V4", field="charging_range"
        )
    if len(set(charging_range)) != len(charging_range):
        raise InvalidInput(
            "the charging range lists a unit twice", rule="V4", field="charging_range"
        )
    if any(not isinstance(key, str) or not key for key in charging_range):
        raise InvalidInput("unit keys must be text", rule="V4", field="charging_range")
    if (
        approved_amount_fen is None
        or isinstance(approved_amount_fen, bool)
        or not 0 < approved_amount_fen <= AMOUNT_FEN_MAX
    ):
        raise InvalidInput(
            "a fund-use vote approves a positive amount in fen",
            rule="amount-positive",
            field="approved_amount_fen",
        )
    _check_text(purpose, "purpose", PURPOSE_LENGTH_MAX)
    assert purpose is not None
    return sorted(charging_range), approved_amount_fen, purpose


def _check_text(text: str | None, field: str, length_max: int) -> None:
    if not isinstance(text, str) or not text.strip() or len(text) > length_max:
        raise InvalidInput(
            f"{field} must be non-empty text of at most {length_max} characters",
            rule="input-format",
            field=field,
        )
    check_text(text, field)


def _check_reference(reference: str, field: str) -> None:
    if not isinstance(reference, str) or not _REFERENCE_PATTERN.fullmatch(reference):
        raise InvalidInput(
            f"{field} {reference!r} must be 1–64 letters, digits or _.:/-",
            rule="input-format",
            field=field,
        )


