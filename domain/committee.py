"""Owners' committees (业主委员会) and property management committees (物业管理委员会).

An owners' committee comes from a passed committee-election vote (C1): its members are the
vote's elected candidates, its term at most 5 years, and it is filed with the street office
within 30 days of the election. Members leave and alternates step in; when even with every
waiting alternate seated fewer than half of the seats would be filled, a new election is due
(C2) and that is recorded as an event. Where no owners' committee can be formed, a property
management committee is appointed instead (C3) and is dissolved within 30 days after an
owners' committee is filed. Both record their party-organisation coverage (C4).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids
from domain.checks import check_actor, check_date
from domain.electorate import JsonRecord
from domain.errors import Conflict, InvalidInput, NotFound, RuleViolated
from domain.identifiers import CODE, REFERENCE, check_identifier, check_text
from domain.vote import (
    COMMITTEE_ELECTION,
    DEFAULT_SEAT_BOUNDS,
    SeatBounds,
    Vote,
    check_seats,
)

OWNERS_COMMITTEE = "owners_committee"
PROPERTY_MANAGEMENT_COMMITTEE = "property_management_committee"

# C1: an owners' committee serves at most 5 years and is filed within 30 days of election.
OWNERS_COMMITTEE_TERM_YEARS_MAX = 5
FILING_DAYS_MAX = 30
# C3: a property management committee has at least 7 members, serves at most 3 years and is
# dissolved within 30 days after an owners' committee is filed.
PMC_MEMBERS_MIN = 7
# Not in the sources: a sanity bound so a typo cannot appoint a crowd.
PMC_MEMBERS_MAX = 51
PMC_TERM_YEARS_MAX = 3
DISSOLUTION_DAYS_MAX = 30
ALTERNATES_MAX = 20

_ID_PATTERN = re.compile(r"[A-Za-z0-9_.:@/-]{1,64}")
STREET_OFFICE_LENGTH_MAX = 200
REASON_LENGTH_MAX = 500


@dataclass(frozen=True)
class PmcMember:
    """A property management committee member as the street office appoints them."""

    member_id: str
    is_owner: bool
    residents_committee_representative: bool = False


def add_years(day: date, years: int) -> date:
    """The same calendar day ``years`` later; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


class Committee(Aggregate):
    """An owners' committee or a property management committee of one community."""

    @staticmethod
    def create_id(community_code: str, committee_reference: str) -> UUID:
        return ids.committee_id(community_code, committee_reference)

    # ---- commands ------------------------------------------------------------------------

    @classmethod
    def form_owners_committee(
        cls,
        *,
        election: Vote,
        committee_reference: str,
        term_start: date,
        term_end: date,
        actor: str,
        alternate_ids: Sequence[str] = (),
        party_member_ids: Sequence[str] = (),
        party_branch_set_up: bool = False,
        seat_bounds: SeatBounds = DEFAULT_SEAT_BOUNDS,
    ) -> Committee:
        """Seat the candidates a passed election elected (C1).

        ``alternate_ids`` are the alternates (候补委员) in the order they step in.
        """
        check_identifier(committee_reference, REFERENCE, "committee_reference")
        check_actor(actor)
        check_date(term_start, "term_start")
        check_date(term_end, "term_end")
        if election.matter_kind != COMMITTEE_ELECTION:
            raise RuleViolated(
                f"vote {election.vote_reference} is not a committee election",
                rule="C1",
                field="election",
            )
        if election.result is None or not election.result.passed:
            raise RuleViolated(
                f"election {election.vote_reference} has not elected a committee",
                rule="C1",
                field="election",
            )
        assert election.closed_on is not None and election.seats is not None
        assert election.household_count is not None
        members = list(election.result.elected)
        check_seats(len(members), election.household_count, seat_bounds, field="election")
        if term_start < election.closed_on:
            raise RuleViolated(
                "the term cannot start before the election", rule="C1", field="term_start"
            )
        _check_term(term_start, term_end, OWNERS_COMMITTEE_TERM_YEARS_MAX, "C1")
        alternates = _check_alternates(alternate_ids, members)
        _check_party(party_member_ids, members, party_branch_set_up)
        return cls(
            community_code=election.community_code,
            committee_reference=committee_reference,
            kind=OWNERS_COMMITTEE,
            seats=len(members),
            members=[
                {"member_id": m, "is_owner": True, "residents_committee_representative": False}
                for m in members
            ],
            chair_id=None,
            alternate_ids=alternates,
            election_vote_id=str(election.id),
            term_start=term_start,
            term_end=term_end,
            party_member_ids=sorted(party_member_ids),
            party_branch_set_up=party_branch_set_up,
            effective_date=election.closed_on,
            actor=actor,
        )

    @classmethod
    def appoint_property_management_committee(
        cls,
        *,
        community_code: str,
        committee_reference: str,
        appointed_on: date,
        members: Sequence[PmcMember],
        chair_id: str,
        term_start: date,
        term_end: date,
        actor: str,
        party_member_ids: Sequence[str] = (),
        party_branch_set_up: bool = False,
    ) -> Committee:
        """Appoint a property management committee where no owners' committee exists (C3)."""
        check_identifier(community_code, CODE, "community_code")
        check_identifier(committee_reference, REFERENCE, "committee_reference")
        check_actor(actor)
        for day, name in ((appointed_on, "appointed_on"), (term_start, "term_start"),
                          (term_end, "term_end")):
            check_date(day, name)
        member_ids = [m.member_id for m in members]
        for member_id in member_ids:
            _check_id(member_id, "members")
        if len(set(member_ids)) != len(member_ids):
            raise InvalidInput("a member is listed twice", rule="C3", field="members")
        count = len(members)
        if count % 2 == 0 or not PMC_MEMBERS_MIN <= count <= PMC_MEMBERS_MAX:
            raise RuleViolated(
                f"a property management committee of {count} is not allowed: it must be odd "
                f"and at least {PMC_MEMBERS_MIN}",
                rule="C3",
                field="members",
            )
        owners = sum(1 for m in members if m.is_owner)
        if owners * 2 < count:
            raise RuleViolated(
                f"only {owners} of {count} members are owners; at least half must be",
                rule="C3",
                field="members",
            )
        chair = next((m for m in members if m.member_id == chair_id), None)
        if chair is None or not chair.residents_committee_representative:
            raise RuleViolated(
                "the chair must be a member representing the residents' committee",
                rule="C3",
                field="chair_id",
            )
        if term_start < appointed_on:
            raise RuleViolated(
                "the term cannot start before the appointment", rule="C3", field="term_start"
            )
        _check_term(term_start, term_end, PMC_TERM_YEARS_MAX, "C3")
        _check_party(party_member_ids, member_ids, party_branch_set_up)
        return cls(
            community_code=community_code,
            committee_reference=committee_reference,
            kind=PROPERTY_MANAGEMENT_COMMITTEE,
            seats=count,
            members=[
                {
                    "member_id": m.member_id,
                    "is_owner": m.is_owner,
                    "residents_committee_representative": m.residents_committee_representative,
                }
                for m in members
            ],
            chair_id=chair_id,
            alternate_ids=[],
            election_vote_id=None,
            term_start=term_start,
            term_end=term_end,
            party_member_ids=sorted(party_member_ids),
            party_branch_set_up=party_branch_set_up,
            effective_date=appointed_on,
            actor=actor,
        )

    def file_with_street_office(self, *, filed_on: date, street_office: str, actor: str) -> None:
        """File an owners' committee with the street office, within 30 days of election (C1)."""
        check_actor(actor)
        check_date(filed_on, "filed_on")
        if not street_office.strip() or len(street_office) > STREET_OFFICE_LENGTH_MAX:
            raise InvalidInput(
                "name the street office", rule="input-format", field="street_office"
            )
        check_text(street_office, "street_office")
        if self.kind != OWNERS_COMMITTEE:
            raise RuleViolated(
                "only an owners' committee is filed with the street office",
                rule="C1",
                field="filed_on",
            )
        if self.filed_on is not None:
            raise Conflict(f"already filed on {self.filed_on}", rule="C1", field="filed_on")
        self._check_active("filed_on")
        latest = self.formed_on + timedelta(days=FILING_DAYS_MAX)
        if not self.formed_on <= filed_on <= latest:
            raise RuleViolated(
                f"elected on {self.formed_on}, the committee must be filed between then and "
                f"{latest} ({FILING_DAYS_MAX} days)",
                rule="C1",
                field="filed_on",
            )
        self._filed(street_office=street_office, effective_date=filed_on, actor=actor)

    def record_party_coverage(
        self,
        *,
        party_member_ids: Sequence[str],
        party_branch_set_up: bool,
        recorded_on: date,
        actor: str,
    ) -> None:
        """Record which seated members are party members and whether a branch exists (C4)."""
        check_actor(actor)
        check_date(recorded_on, "recorded_on")
        self._check_active("recorded_on")
        self._check_not_before_formation(recorded_on, "recorded_on")
        _check_party(party_member_ids, self.member_ids, party_branch_set_up)
        self._party_coverage_recorded(
            party_member_ids=sorted(party_member_ids),
            party_branch_set_up=party_branch_set_up,
            effective_date=recorded_on,
            actor=actor,
        )

    def member_left(self, *, member_id: str, left_on: date, actor: str, reason: str = "") -> None:
        """A member leaves (resigns, moves, loses eligibility). If even with every waiting
        alternate seated fewer than half of the seats would be filled, a new election
        becomes due (C2), recorded as a second event."""
        check_actor(actor)
        check_date(left_on, "left_on")
        if len(reason) > REASON_LENGTH_MAX:
            raise InvalidInput("the reason is too long", rule="input-format", field="reason")
        check_text(reason, "reason")
        self._check_active("left_on")
        self._check_not_before_formation(left_on, "left_on")
        if member_id not in self.member_ids:
            raise NotFound(f"{member_id} is not a seated member", rule="C2", field="member_id")
        self._member_left(member_id=member_id, reason=reason, effective_date=left_on, actor=actor)
        reachable = len(self.member_ids) + len(self.alternate_ids)
        due = self.kind == OWNERS_COMMITTEE and self.reelection_due_on is None
        if due and reachable * 2 < self.seats:
            self._reelection_due(
                seated_members=len(self.member_ids),
                waiting_alternates=len(self.alternate_ids),
                seats=self.seats,
                effective_date=left_on,
            )

    def alternate_joined(self, *, alternate_id: str, joined_on: date, actor: str) -> None:
        """The next alternate takes a vacant seat (C2)."""
        check_actor(actor)
        check_date(joined_on, "joined_on")
        self._check_active("joined_on")
        self._check_not_before_formation(joined_on, "joined_on")
        if alternate_id not in self.alternate_ids:
            raise NotFound(
                f"{alternate_id} is not a waiting alternate", rule="C2", field="alternate_id"
            )
        if len(self.member_ids) >= self.seats:
            raise RuleViolated("no seat is vacant", rule="C2", field="alternate_id")
        self._alternate_joined(alternate_id=alternate_id, effective_date=joined_on, actor=actor)

    def dissolve(
        self,
        *,
        dissolved_on: date,
        owners_committee_id: UUID | str,
        owners_committee_filed_on: date,
        actor: str,
    ) -> None:
        """Dissolve a property management committee once an owners' committee is filed:
        on or after the filing, within 30 days (C3)."""
        check_actor(actor)
        check_date(dissolved_on, "dissolved_on")
        check_date(owners_committee_filed_on, "owners_committee_filed_on")
        if self.kind != PROPERTY_MANAGEMENT_COMMITTEE:
            raise RuleViolated(
                "only a property management committee is dissolved this way",
                rule="C3",
                field="dissolved_on",
            )
        if self.dissolved_on is not None:
            raise Conflict(
                f"already dissolved on {self.dissolved_on}", rule="C3", field="dissolved_on"
            )
        latest = owners_committee_filed_on + timedelta(days=DISSOLUTION_DAYS_MAX)
        if not owners_committee_filed_on <= dissolved_on <= latest:
            raise RuleViolated(
                f"the owners' committee was filed on {owners_committee_filed_on}: dissolve "
                f"between then and {latest} ({DISSOLUTION_DAYS_MAX} days)",
                rule="C3",
                field="dissolved_on",
            )
        self._check_not_before_formation(dissolved_on, "dissolved_on")
        self._dissolved(
            owners_committee_id=str(owners_committee_id),
            owners_committee_filed_on=owners_committee_filed_on,
            effective_date=dissolved_on,
            actor=actor,
        )

    # ---- queries -------------------------------------------------------------------------

    @property
    def member_ids(self) -> list[str]:
        return [m["member_id"] for m in self.members]

    @property
    def party_member_count(self) -> int:
        return len(self.party_member_ids)

    @property
    def has_party_coverage(self) -> bool:
        """C4: a party branch is set up or at least one member is a party member."""
        return self.party_branch_set_up or bool(self.party_member_ids)

    @property
    def is_active(self) -> bool:
        return self.dissolved_on is None

    # ---- events --------------------------------------------------------------------------

    @event("Formed")
    def __init__(
        self,
        *,
        community_code: str,
        committee_reference: str,
        kind: str,
        seats: int,
        members: list[JsonRecord],
        chair_id: str | None,
        alternate_ids: list[str],
        election_vote_id: str | None,
        term_start: date,
        term_end: date,
        party_member_ids: list[str],
        party_branch_set_up: bool,
        effective_date: date,
        actor: str,
    ) -> None:
        self.community_code = community_code
        self.committee_reference = committee_reference
        self.kind = kind
        self.seats = seats
        self.members: list[dict[str, Any]] = [dict(m) for m in members]
        self.chair_id = chair_id
        self.alternate_ids = list(alternate_ids)
        self.election_vote_id = election_vote_id
        self.term_start = term_start
        self.term_end = term_end
        self.party_member_ids = list(party_member_ids)
        self.party_branch_set_up = party_branch_set_up
        self.formed_on = effective_date
        self.filed_on: date | None = None
        self.street_office: str | None = None
        self.former_member_ids: list[str] = []
        self.reelection_due_on: date | None = None
        self.dissolved_on: date | None = None

    @event("FiledWithStreetOffice")
    def _filed(self, *, street_office: str, effective_date: date, actor: str) -> None:
        self.filed_on = effective_date
        self.street_office = street_office

    @event("PartyCoverageRecorded")
    def _party_coverage_recorded(
        self,
        *,
        party_member_ids: list[str],
        party_branch_set_up: bool,
        effective_date: date,
        actor: str,
    ) -> None:
        self.party_member_ids = list(party_member_ids)
        self.party_branch_set_up = party_branch_set_up

    @event("MemberLeft")
    def _member_left(
        self, *, member_id: str, reason: str, effective_date: date, actor: str
    ) -> None:
        self.members = [m for m in self.members if m["member_id"] != member_id]
        self.former_member_ids.append(member_id)
        self.party_member_ids = [p for p in self.party_member_ids if p != member_id]

    @event("AlternateJoined")
    def _alternate_joined(self, *, alternate_id: str, effective_date: date, actor: str) -> None:
        self.alternate_ids = [a for a in self.alternate_ids if a != alternate_id]
        self.members.append(
            {"member_id": alternate_id, "is_owner": True,
             "residents_committee_representative": False}
        )

    @event("ReelectionBecameDue")
    def _reelection_due(
        self, *, seated_members: int, waiting_alternates: int, seats: int, effective_date: date
    ) -> None:
        self.reelection_due_on = effective_date

    @event("Dissolved")
    def _dissolved(
        self,
        *,
        owners_committee_id: str,
        owners_committee_filed_on: date,
        effective_date: date,
        actor: str,
    ) -> None:
        self.dissolved_on = effective_date

    # ---- helpers -------------------------------------------------------------------------

    def _check_active(self, field: str) -> None:
        if self.dissolved_on is not None:
            raise RuleViolated(
                f"the committee was dissolved on {self.dissolved_on}", rule="C3", field=field
            )

    def _check_not_before_formation(self, day: date, field: str) -> None:
        if day < self.formed_on:
            raise RuleViolated(
                f"the committee was formed on {self.formed_on}", rule="C1", field=field
            )


def _check_term(term_start: date, term_end: date, years_max: int, rule: str) -> None:
    latest = add_years(term_start, years_max)
    if not term_start < term_end <= latest:
        raise RuleViolated(
            f"the term must end after it starts and by {latest} ({years_max} years)",
            rule=rule,
            field="term_end",
        )


def _check_alternates(alternate_ids: Sequence[str], members: Sequence[str]) -> list[str]:
    for alternate in alternate_ids:
        _check_id(alternate, "alternate_ids")
    if len(alternate_ids) > ALTERNATES_MAX:
        raise InvalidInput(
            f"at most {ALTERNATES_MAX} alternates", rule="C2", field="alternate_ids"
        )
    if len(set(alternate_ids)) != len(alternate_ids) or set(alternate_ids) & set(members):
        raise InvalidInput(
            "alternates are distinct and not already members", rule="C2", field="alternate_ids"
        )
    return list(alternate_ids)


def _check_party(
    party_member_ids: Sequence[str], member_ids: Sequence[str], party_branch_set_up: bool
) -> None:
    if not isinstance(party_branch_set_up, bool):
        raise InvalidInput("say whether a party branch is set up", rule="C4",
                           field="party_branch_set_up")
    if len(set(party_member_ids)) != len(party_member_ids):
        raise InvalidInput("a party member is listed twice", rule="C4",
                           field="party_member_ids")
    strangers = sorted(set(party_member_ids) - set(member_ids))
    if strangers:
        raise InvalidInput(
            f"not members of the committee: {', '.join(strangers)}",
            rule="C4",
            field="party_member_ids",
        )


def _check_id(value: str, field: str) -> None:
    if not isinstance(value, str) or not _ID_PATTERN.fullmatch(value):
        raise InvalidInput(
            f"{field} {value!r} must be 1–64 letters, digits or _.:@/-",
            rule="input-format",
            field=field,
        )


