"""A property service contract: one enterprise serving one community, from entry to handover.

Rules (docs/rules.md E1, E2; Civil Code arts. 946-949; BJ arts. 63, 75-77, 97):

* Entry (E1): the contract is filed within 15 days of its start. A community has at most one
  serving enterprise at a time; that rule spans two contracts, so the application enforces it
  with ``ensure_community_free`` (see there for what it must do).
* Exit (E2): notice, then termination no earlier than 90 days after a notice of not renewing
  (art. 947) or 60 days after notice on an open-ended contract (art. 948) or after the owners
  dismissed the enterprise (art. 946); then the common parts, the records and the prepaid fees
  are handed over within 30 days of termination, each checked off as an event. A handover
  not complete by its deadline is overdue; ``Enterprise.record_overdue_handover`` turns that
  into exactly one violation on the credit record.
* Emergency stand-in service (应急服务) lasts at most 6 calendar months and ends without notice.

Dates: an end date (``ends_on``, ``terminated_on``) is the first day the enterprise no longer
serves, so a contract serves on ``[starts_on, terminated_on)`` and a successor may start on the
day its predecessor terminated.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import MappingProxyType
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.credit import ServedProject
from domain.credit_code import validate_credit_code
from domain.errors import Conflict, InvalidInput, RuleViolated
from domain.identifiers import CODE, REFERENCE, check_identifier, check_text
from domain.ids import contract_id

FILING_DAYS_MAX = 15  # E1, BJ art. 63
HANDOVER_DAYS = 30  # E2, BJ art. 76
STANDIN_MONTHS_MAX = 6  # E2, BJ art. 77
# Days between notice and the earliest termination, by the reason for the exit (E2).
NOTICE_DAYS = MappingProxyType(
    {
        "not_renewing": 90,  # the enterprise will not renew a fixed term (Civil Code art. 947)
        "open_ended": 60,  # either side ends an open-ended contract (art. 948)
        "dismissed": 60,  # the owners' meeting dismissed the enterprise (art. 946)
    }
)
HANDOVER_ITEMS = ("common_parts", "records", "prepaid_fees")
OVERDUE_HANDOVER_KIND = "overdue_handover"
OVERDUE_HANDOVER_AUTHORITY = "fundledger E2 handover deadline check"

TEXT_LENGTH_MAX = 200
# Ten million m² in one community is a typo, not an estate.
AREA_M2_HUNDREDTHS_MAX = 1_000_000_000


def add_months(day: date, months: int) -> date:
    """The same day ``months`` calendar months later, or the month's last day if shorter."""
    years, month_index = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, month_index + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def ensure_community_free(
    community_code: str, previous: ServiceContract | None, starts_on: date
) -> None:
    """E1: refuse a contract starting on ``starts_on`` while another enterprise serves.

    The application must keep, on the community, the id of its most recent contract, pass
    that contract here before starting a new one, then save the community (pointing at the new
    contract) together with the new contract in one ``save``: the community's version number
    makes two concurrent entries conflict instead of both succeeding. ``previous`` is None
    for a community never served.
    """
    if previous is None:
        return
    if previous.community_code != community_code:
        raise ValueError("the community points at another community's contract")
    if previous.terminated_on is None or starts_on < previous.terminated_on:
        until = (
            f"until {previous.terminated_on.isoformat()}"
            if previous.terminated_on
            else "and has not terminated"
        )
        raise RuleViolated(
            f"community {community_code} is served by {previous.enterprise_code} "
            f"(contract {previous.contract_reference}) {until}; one serving enterprise at a time",
            rule="E1",
            field="community_code",
        )


@dataclass(frozen=True)
class HandoverViolation:
    """What ``Enterprise.record_violation`` receives for an overdue handover."""

    effective_date: date  # the deadline that passed
    kind: str
    authority: str
    note: str
    source_ref: str  # one per contract, so however often checked it is recorded once
    community_code: str


class ServiceContract(Aggregate):
    """One engagement of one enterprise in one community. Create with ``start``."""

    @staticmethod
    def create_id(community_code: str, contract_reference: str) -> UUID:
        return contract_id(community_code, contract_reference)

    @classmethod
    def start(
        cls,
        community_code: str,
        enterprise_code: str,
        starts_on: date,
        filed_on: date,
        open_ended: bool,
        ends_on: date | None,
        area_m2_hundredths: int,
        *,
        contract_reference: str,
        actor: str,
        emergency_standin: bool = False,
        resolution_id: str | None = None,
    ) -> ServiceContract:
        """Record the entry of ``enterprise_code`` (E1). ``ends_on`` is None iff open-ended.

        The application must first call ``ensure_community_free`` and check that the
        enterprise is registered (and, if cited, that the resolution passed).
        """
        check_identifier(community_code, CODE, "community_code")
        check_identifier(contract_reference, REFERENCE, "contract_reference")
        enterprise_code = validate_credit_code(enterprise_code, field="enterprise_code")
        actor = _text(actor, "actor", "E1")
        if resolution_id is not None:
            check_identifier(resolution_id, REFERENCE, "resolution_id")
        _day(starts_on, "starts_on", "E1")
        _day(filed_on, "filed_on", "E1")
        if ends_on is not None:
            _day(ends_on, "ends_on", "E1")
        if not isinstance(open_ended, bool) or not isinstance(emergency_standin, bool):
            raise InvalidInput(
                "open_ended and emergency_standin are true or false", rule="E1", field="open_ended"
            )
        _require_area(area_m2_hundredths)
        _require_term(starts_on, open_ended, ends_on, emergency_standin)
        if filed_on > starts_on + timedelta(days=FILING_DAYS_MAX):
            raise RuleViolated(
                f"filed on {filed_on.isoformat()}, more than {FILING_DAYS_MAX} days after the "
                f"start on {starts_on.isoformat()}",
                rule="E1",
                field="filed_on",
            )
        return cls(
            community_code=community_code,
            contract_reference=contract_reference,
            enterprise_code=enterprise_code,
            starts_on=starts_on,
            filed_on=filed_on,
            open_ended=open_ended,
            ends_on=ends_on,
            area_m2_hundredths=area_m2_hundredths,
            emergency_standin=emergency_standin,
            resolution_id=resolution_id,
            effective_date=starts_on,
            actor=actor,
        )

    @event("Started")
    def __init__(
        self,
        community_code: str,
        contract_reference: str,
        enterprise_code: str,
        starts_on: date,
        filed_on: date,
        open_ended: bool,
        ends_on: date | None,
        area_m2_hundredths: int,
        emergency_standin: bool,
        resolution_id: str | None,
        effective_date: date,
        actor: str,
    ) -> None:
        self.community_code = community_code
        self.contract_reference = contract_reference
        self.enterprise_code = enterprise_code
        self.starts_on = starts_on
        self.filed_on = filed_on
        self.open_ended = open_ended
        self.ends_on = ends_on
        self.area_m2_hundredths = area_m2_hundredths
        self.emergency_standin = emergency_standin
        self.resolution_id = resolution_id
        self.notice_on: date | None = None
        self.notice_reason: str | None = None
        self.notice_resolution_id: str | None = None
        self.terminated_on: date | None = None
        self.handed_over: dict[str, date] = {}

    # ------------------------------------------------------------------ exit: commands

    def give_notice(
        self, on: date, reason: str, *, actor: str, resolution_id: str | None = None
    ) -> None:
        """Notice of exit; ``reason`` is a key of ``NOTICE_DAYS``. "dismissed" cites the
        owners' resolution; "open_ended" needs an open-ended contract or an expired term
        (which continues open-ended, Civil Code art. 948)."""
        actor = _text(actor, "actor", "E2")
        on = _day(on, "on", "E2")
        self._require_not_terminated()
        if self.notice_on is not None:
            raise Conflict(
                f"notice was already given on {self.notice_on.isoformat()}",
                rule="E2",
                field="reason",
            )
        if reason not in NOTICE_DAYS:
            raise InvalidInput(
                f"reason {reason!r} is not one of {', '.join(NOTICE_DAYS)}",
                rule="E2",
                field="reason",
            )
        if on < self.starts_on:
            raise RuleViolated("notice before the contract started", rule="E2", field="on")
        expired = self.ends_on is not None and on >= self.ends_on
        if reason == "not_renewing" and self.open_ended:
            raise RuleViolated(
                "an open-ended contract has no term to renew; give 'open_ended' notice",
                rule="E2",
                field="reason",
            )
        if reason == "open_ended" and not (self.open_ended or expired):
            raise RuleViolated(
                "the contract has a fixed term still running; give 'not_renewing' or "
                "'dismissed' notice",
                rule="E2",
                field="reason",
            )
        if reason == "dismissed":
            if resolution_id is None:
                raise InvalidInput(
                    "a dismissal cites the owners' resolution", rule="E2", field="resolution_id"
                )
            check_identifier(resolution_id, REFERENCE, "resolution_id")
        self._notice_given(
            effective_date=on, actor=actor, reason=reason, resolution_id=resolution_id
        )

    def terminate(self, on: date, *, actor: str) -> None:
        """End the service on ``on`` (the first day not served); the handover clock starts."""
        actor = _text(actor, "actor", "E2")
        on = _day(on, "on", "E2")
        self._require_not_terminated()
        if on < self.starts_on:
            raise RuleViolated("termination before the start", rule="E2", field="on")
        earliest = self.earliest_termination
        if earliest is None and not self.emergency_standin:
            raise RuleViolated(
                "no notice was given; give notice first (90 days if not renewing, 60 if "
                "open-ended or dismissed)",
                rule="E2",
                field="on",
            )
        if earliest is not None and on < earliest:
            raise RuleViolated(
                f"notice of {self.notice_on} ({self.notice_reason}) allows termination from "
                f"{earliest.isoformat()}, not {on.isoformat()}",
                rule="E2",
                field="on",
            )
        self._terminated(effective_date=on, actor=actor)

    def check_off_handover(self, item: str, on: date, *, actor: str) -> None:
        """One of ``HANDOVER_ITEMS`` was handed over on ``on`` (late is still recorded)."""
        actor = _text(actor, "actor", "E2")
        on = _day(on, "on", "E2")
        if item not in HANDOVER_ITEMS:
            raise InvalidInput(
                f"handover item {item!r} is not one of {', '.join(HANDOVER_ITEMS)}",
                rule="E2",
                field="item",
            )
        if self.terminated_on is None:
            raise RuleViolated(
                "the handover follows termination; terminate first", rule="E2", field="on"
            )
        if on < self.terminated_on:
            raise RuleViolated(
                f"handover on {on.isoformat()} before termination on "
                f"{self.terminated_on.isoformat()}",
                rule="E2",
                field="on",
            )
        if item in self.handed_over:
            raise Conflict(
                f"{item} was already handed over on {self.handed_over[item].isoformat()}",
                rule="E2",
                field="item",
            )
        self._handover_item_checked_off(effective_date=on, actor=actor, item=item)

    # ------------------------------------------------------------------ exit: events

    @event("NoticeGiven")
    def _notice_given(
        self, effective_date: date, actor: str, reason: str, resolution_id: str | None
    ) -> None:
        self.notice_on = effective_date
        self.notice_reason = reason
        self.notice_resolution_id = resolution_id

    @event("Terminated")
    def _terminated(self, effective_date: date, actor: str) -> None:
        self.terminated_on = effective_date

    @event("HandoverItemCheckedOff")
    def _handover_item_checked_off(self, effective_date: date, actor: str, item: str) -> None:
        self.handed_over[item] = effective_date

    # ------------------------------------------------------------------ queries

    @property
    def earliest_termination(self) -> date | None:
        if self.notice_on is None or self.notice_reason is None:
            return None
        return self.notice_on + timedelta(days=NOTICE_DAYS[self.notice_reason])

    @property
    def handover_deadline(self) -> date | None:
        """The last day to hand over: 30 days after termination (None while serving)."""
        if self.terminated_on is None:
            return None
        return self.terminated_on + timedelta(days=HANDOVER_DAYS)

    @property
    def outstanding_handover_items(self) -> list[str]:
        return [item for item in HANDOVER_ITEMS if item not in self.handed_over]

    def serves_on(self, day: date) -> bool:
        return self.starts_on <= day and (self.terminated_on is None or day < self.terminated_on)

    def late_handover_items(self, as_of: date) -> list[str]:
        """Items not handed over by the deadline, seen on ``as_of`` (empty until it passed).

        An item handed over after the deadline stays late: the violation is the missed
        deadline, whether or not the handover happened since.
        """
        deadline = self.handover_deadline
        if deadline is None or as_of <= deadline:
            return []
        return [
            item
            for item in HANDOVER_ITEMS
            if item not in self.handed_over or self.handed_over[item] > deadline
        ]

    def overdue_handover(self, as_of: date) -> bool:
        return bool(self.late_handover_items(as_of))

    def overdue_handover_violation(self, as_of: date) -> HandoverViolation | None:
        """The violation an overdue handover puts on the enterprise's record, dated on the
        deadline, with a source reference unique to this contract (None if not overdue)."""
        late = self.late_handover_items(as_of)
        deadline = self.handover_deadline
        if not late or deadline is None:
            return None
        return HandoverViolation(
            effective_date=deadline,
            kind=OVERDUE_HANDOVER_KIND,
            authority=OVERDUE_HANDOVER_AUTHORITY,
            note=(
                f"handover in {self.community_code} (contract {self.contract_reference}) due by "
                f"{deadline.isoformat()}; late: {', '.join(late)}"
            ),
            source_ref=self.handover_source_ref,
            community_code=self.community_code,
        )

    @property
    def handover_source_ref(self) -> str:
        return f"E2-handover:{self.community_code}/{self.contract_reference}"

    def served_project(self) -> ServedProject:
        """This contract as an input to credit scoring (E3)."""
        return ServedProject(
            community_code=self.community_code,
            area_m2_hundredths=self.area_m2_hundredths,
            served_from=self.starts_on,
            served_until=self.terminated_on,
        )

    def _require_not_terminated(self) -> None:
        if self.terminated_on is not None:
            raise Conflict(
                f"the contract terminated on {self.terminated_on.isoformat()}",
                rule="E2",
                field="on",
            )


def _text(value: str, field: str, rule: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} must be non-empty text", rule=rule, field=field)
    stripped = value.strip()
    if len(stripped) > TEXT_LENGTH_MAX:
        raise InvalidInput(
            f"{field} is longer than {TEXT_LENGTH_MAX} characters", rule=rule, field=field
        )
    return check_text(stripped, field)


def _day(value: date, field: str, rule: str) -> date:
    # A datetime is a date subclass; refusing it keeps a clock time out of the events.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidInput(f"{field} must be a calendar date", rule=rule, field=field)
    return value


def _require_area(area_m2_hundredths: int) -> None:
    if (
        isinstance(area_m2_hundredths, bool)
        or not isinstance(area_m2_hundredths, int)
        or not 0 < area_m2_hundredths <= AREA_M2_HUNDREDTHS_MAX
    ):
        raise InvalidInput(
            "the served area must be a positive whole number of 0.01 m² "
            f"up to {AREA_M2_HUNDREDTHS_MAX}",
            rule="E1",
            field="area_m2_hundredths",
        )


def _require_term(
    starts_on: date, open_ended: bool, ends_on: date | None, emergency_standin: bool
) -> None:
    if open_ended and ends_on is not None:
        raise InvalidInput("an open-ended contract has no end date", rule="E1", field="ends_on")
    if not open_ended and ends_on is None:
        raise InvalidInput("a fixed-term contract needs ends_on", rule="E1", field="ends_on")
    if ends_on is not None and ends_on <= starts_on:
        raise InvalidInput("the contract ends before it starts", rule="E1", field="ends_on")
    if not emergency_standin:
        return
    if ends_on is None:
        raise RuleViolated(
            f"an emergency stand-in lasts at most {STANDIN_MONTHS_MAX} months; it cannot be "
            "open-ended",
            rule="E2",
            field="open_ended",
        )
    latest = add_months(starts_on, STANDIN_MONTHS_MAX)
    if ends_on > latest:
        raise RuleViolated(
            f"an emergency stand-in from {starts_on.isoformat()} must end by "
            f"{latest.isoformat()} ({STANDIN_MONTHS_MAX} months), not {ends_on.isoformat()}",
            rule="E2",
            field="ends_on",
        )
