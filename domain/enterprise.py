"""A property service enterprise and its credit record (E3) as events on one aggregate.

The credit record holds facts only: commendations, violations, fines and complaint tickets,
each dated and numbered in order (``entry_no``; ``ref`` is "<credit code>#<entry_no>", the
handle a score line cites). Points are never stored: ``domain.credit`` computes them from
this record with a configurable scheme.

Idempotency, because checks and imports are repeated:

* ``record_violation`` is idempotent per ``source_ref``: a second call with the same source,
  kind and date records nothing and returns False; the same source with a different kind or
  date is refused with ``Conflict``. So an overdue handover, checked every night, is recorded
  once (``record_overdue_handover``).
* ``record_complaint_ticket`` is idempotent per ``ticket_id`` the same way.
* ``record_engagement`` is idempotent per contract.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.credit import Commendation, ComplaintTicket, CreditEvent, Fine, Violation
from domain.credit_code import validate_credit_code
from domain.errors import Conflict, InvalidInput, RuleViolated
from domain.identifiers import CODE, check_identifier, check_text
from domain.ids import enterprise_id
from domain.money import AMOUNT_FEN_MAX, format_fen
from domain.service_contract import ServiceContract

NAME_LENGTH_MAX = 200
TEXT_LENGTH_MAX = 200
NOTE_LENGTH_MAX = 2000
# Kinds are keys of the scheme's point tables: short snake_case tokens.
_KIND_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")


class Enterprise(Aggregate):
    """Registered under its unified social credit code. Create with ``register``."""

    @staticmethod
    def create_id(credit_code: str) -> UUID:
        return enterprise_id(credit_code)

    @classmethod
    def register(cls, credit_code: str, name: str, *, on: date, actor: str) -> Enterprise:
        credit_code = validate_credit_code(credit_code)
        name = _text(name, "name", NAME_LENGTH_MAX)
        actor = _text(actor, "actor", TEXT_LENGTH_MAX)
        return cls(credit_code=credit_code, name=name, effective_date=_day(on), actor=actor)

    @event("Registered")
    def __init__(self, credit_code: str, name: str, effective_date: date, actor: str) -> None:
        self.credit_code = credit_code
        self.name = name
        self.registered_on = effective_date
        self.credit_record: list[CreditEvent] = []
        self.violations_by_source: dict[str, Violation] = {}
        self.tickets_by_id: dict[str, ComplaintTicket] = {}
        self.engaged_contract_ids: list[str] = []

    # ------------------------------------------------------------------ commands

    def commend(
        self,
        on: date,
        points_kind: str,
        authority: str,
        note: str,
        *,
        actor: str,
        community_code: str | None = None,
    ) -> None:
        """A commendation by ``authority``; ``points_kind`` selects its points in the scheme."""
        self._commended(
            entry_no=self._next_entry_no(),
            effective_date=_day(on),
            actor=_text(actor, "actor", TEXT_LENGTH_MAX),
            points_kind=_kind(points_kind, "points_kind"),
            authority=_text(authority, "authority", TEXT_LENGTH_MAX),
            note=_note(note),
            community_code=_community(community_code),
        )

    def record_violation(
        self,
        on: date,
        kind: str,
        authority: str,
        note: str,
        source_ref: str,
        *,
        actor: str,
        community_code: str | None = None,
    ) -> bool:
        """Record a violation once per ``source_ref``; False if it was already recorded."""
        actor = _text(actor, "actor", TEXT_LENGTH_MAX)
        on = _day(on)
        kind = _kind(kind, "kind")
        authority = _text(authority, "authority", TEXT_LENGTH_MAX)
        note = _note(note)
        source_ref = _text(source_ref, "source_ref", TEXT_LENGTH_MAX)
        community_code = _community(community_code)
        known = self.violations_by_source.get(source_ref)
        if known is not None:
            if (known.kind, known.effective_date) != (kind, on):
                raise Conflict(
                    f"source {source_ref} was recorded as '{known.kind}' on "
                    f"{known.effective_date.isoformat()} ({known.ref}); a correction is a new "
                    "source, not a second violation from this one",
                    rule="E3",
                    field="source_ref",
                )
            return False
        self._violation_recorded(
            entry_no=self._next_entry_no(),
            effective_date=_day(on),
            actor=actor,
            kind=kind,
            authority=authority,
            note=note,
            source_ref=source_ref,
            community_code=community_code,
        )
        return True

    def record_overdue_handover(
        self, contract: ServiceContract, as_of: date, *, actor: str
    ) -> bool:
        """E2: if ``contract``'s handover is overdue on ``as_of``, record the violation, dated
        on the deadline, unless already recorded. True if a violation was recorded now."""
        if contract.enterprise_code != self.credit_code:
            raise RuleViolated(
                f"contract {contract.contract_reference} is with {contract.enterprise_code}, "
                f"not {self.credit_code}",
                rule="E2",
                field="enterprise_code",
            )
        violation = contract.overdue_handover_violation(as_of)
        if violation is None:
            return False
        return self.record_violation(
            violation.effective_date,
            violation.kind,
            violation.authority,
            violation.note,
            violation.source_ref,
            actor=actor,
            community_code=violation.community_code,
        )

    def record_fine(
        self,
        on: date,
        amount_fen: int,
        authority: str,
        note: str,
        *,
        actor: str,
        community_code: str | None = None,
    ) -> None:
        if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
            raise InvalidInput("a fine is a whole number of fen", rule="E3", field="amount_fen")
        if not 0 < amount_fen <= AMOUNT_FEN_MAX:
            raise InvalidInput(
                f"a fine is more than 0 and at most {format_fen(AMOUNT_FEN_MAX)} yuan",
                rule="E3",
                field="amount_fen",
            )
        self._fine_recorded(
            entry_no=self._next_entry_no(),
            effective_date=_day(on),
            actor=_text(actor, "actor", TEXT_LENGTH_MAX),
            amount_fen=amount_fen,
            authority=_text(authority, "authority", TEXT_LENGTH_MAX),
            note=_note(note),
            community_code=_community(community_code),
        )

    def record_complaint_ticket(
        self,
        on: date,
        ticket_id: str,
        responded: bool,
        resolved: bool,
        satisfied: bool,
        *,
        actor: str,
        community_code: str | None = None,
    ) -> bool:
        """A closed 12345 hotline ticket (接诉即办); once per ``ticket_id``, False if known."""
        actor = _text(actor, "actor", TEXT_LENGTH_MAX)
        on = _day(on)
        ticket_id = _text(ticket_id, "ticket_id", TEXT_LENGTH_MAX)
        community_code = _community(community_code)
        for name, flag in (
            ("responded", responded),
            ("resolved", resolved),
            ("satisfied", satisfied),
        ):
            if not isinstance(flag, bool):
                raise InvalidInput(f"{name} is true or false", rule="E3", field=name)
        if (resolved or satisfied) and not responded:
            raise InvalidInput(
                "a ticket never responded to cannot be resolved or satisfied",
                rule="E3",
                field="responded",
            )
        known = self.tickets_by_id.get(ticket_id)
        if known is not None:
            same = (
                known.effective_date,
                known.responded,
                known.resolved,
                known.satisfied,
                known.community_code,
            ) == (on, responded, resolved, satisfied, community_code)
            if not same:
                raise Conflict(
                    f"ticket {ticket_id} was already recorded differently ({known.ref})",
                    rule="E3",
                    field="ticket_id",
                )
            return False
        self._complaint_ticket_recorded(
            entry_no=self._next_entry_no(),
            effective_date=_day(on),
            actor=actor,
            ticket_id=ticket_id,
            responded=responded,
            resolved=resolved,
            satisfied=satisfied,
            community_code=community_code,
        )
        return True

    def record_engagement(self, contract: ServiceContract, *, actor: str) -> bool:
        """Served-community bookkeeping: remember the contract, so the application finds the
        projects to score without a read model. Save with the contract. False if known."""
        actor = _text(actor, "actor", TEXT_LENGTH_MAX)
        if contract.enterprise_code != self.credit_code:
            raise RuleViolated(
                f"contract {contract.contract_reference} is with {contract.enterprise_code}, "
                f"not {self.credit_code}",
                rule="E1",
                field="enterprise_code",
            )
        if str(contract.id) in self.engaged_contract_ids:
            return False
        self._engagement_recorded(
            effective_date=contract.starts_on,
            actor=actor,
            community_code=contract.community_code,
            contract_reference=contract.contract_reference,
            contract_id=str(contract.id),
        )
        return True

    # ------------------------------------------------------------------ events

    @event("Commended")
    def _commended(
        self,
        entry_no: int,
        effective_date: date,
        actor: str,
        points_kind: str,
        authority: str,
        note: str,
        community_code: str | None,
    ) -> None:
        self.credit_record.append(
            Commendation(
                self._ref(entry_no), effective_date, points_kind, authority, note, community_code
            )
        )

    @event("ViolationRecorded")
    def _violation_recorded(
        self,
        entry_no: int,
        effective_date: date,
        actor: str,
        kind: str,
        authority: str,
        note: str,
        source_ref: str,
        community_code: str | None,
    ) -> None:
        violation = Violation(
            self._ref(entry_no), effective_date, kind, authority, note, source_ref, community_code
        )
        self.credit_record.append(violation)
        self.violations_by_source[source_ref] = violation

    @event("FineRecorded")
    def _fine_recorded(
        self,
        entry_no: int,
        effective_date: date,
        actor: str,
        amount_fen: int,
        authority: str,
        note: str,
        community_code: str | None,
    ) -> None:
        self.credit_record.append(
            Fine(self._ref(entry_no), effective_date, amount_fen, authority, note, community_code)
        )

    @event("ComplaintTicketRecorded")
    def _complaint_ticket_recorded(
        self,
        entry_no: int,
        effective_date: date,
        actor: str,
        ticket_id: str,
        responded: bool,
        resolved: bool,
        satisfied: bool,
        community_code: str | None,
    ) -> None:
        ticket = ComplaintTicket(
            self._ref(entry_no),
            effective_date,
            ticket_id,
            responded,
            resolved,
            satisfied,
            community_code,
        )
        self.credit_record.append(ticket)
        self.tickets_by_id[ticket_id] = ticket

    @event("EngagementRecorded")
    def _engagement_recorded(
        self,
        effective_date: date,
        actor: str,
        community_code: str,
        contract_reference: str,
        contract_id: str,
    ) -> None:
        self.engaged_contract_ids.append(contract_id)

    # ------------------------------------------------------------------ queries

    def credit_events(self) -> list[CreditEvent]:
        """The record as scoring input for ``domain.credit.score_enterprise``."""
        return list(self.credit_record)

    def _next_entry_no(self) -> int:
        return len(self.credit_record) + 1

    def _ref(self, entry_no: int) -> str:
        return f"{self.credit_code}#{entry_no}"


def _text(value: str, field: str, length_max: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} must be non-empty text", rule="E3", field=field)
    stripped = value.strip()
    if len(stripped) > length_max:
        raise InvalidInput(
            f"{field} is longer than {length_max} characters", rule="E3", field=field
        )
    return check_text(stripped, field)


def _day(value: date, field: str = "on") -> date:
    # A datetime is a date subclass; refusing it keeps a clock time out of the events.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidInput(f"{field} must be a calendar date", rule="E3", field=field)
    return value


def _note(note: str) -> str:
    if not isinstance(note, str) or len(note) > NOTE_LENGTH_MAX:
        raise InvalidInput(
            f"note must be text of at most {NOTE_LENGTH_MAX} characters", rule="E3", field="note"
        )
    return check_text(note.strip(), "note")


def _kind(kind: str, field: str) -> str:
    if not isinstance(kind, str) or _KIND_PATTERN.fullmatch(kind) is None:
        raise InvalidInput(
            f"{kind!r} is not a kind like 'service_quality' (lower case, digits, underscores)",
            rule="E3",
            field=field,
        )
    return kind


def _community(community_code: str | None) -> str | None:
    if community_code is None:
        return None
    return check_identifier(community_code, CODE, "community_code")
