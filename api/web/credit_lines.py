"""Each line of an enterprise's credit score in the reader's words (E3), Chinese first.

The score's own explanations are the domain's English (the API and CLI keep them). A page
says the same in the reader's language from the same inputs, never from that text: the line
(its kind, its points in each project it counts in, from ``Score.projects``), the event
behind it, and the scheme's names for what it weighs (the default deduction, the fine's
band, the three complaint weights). Nothing here scores: the points are the domain's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any

from api.web.format import area_text, yuan_text
from api.web.i18n import labeller, language, translator
from domain.credit import (
    Commendation,
    ComplaintTicket,
    CreditEvent,
    CreditScheme,
    Fine,
    ProjectScore,
    Score,
    ScoreLine,
    Violation,
    format_points,
)

Translate = Callable[..., str]
Label = Callable[[str, str], str]


def _number(points: Fraction) -> str:
    """Whole points as an integer ("10"), others to the hundredth ("3.33")."""
    return str(points.numerator) if points.denominator == 1 else format_points(points)


# Between the items of a list, and between the parts of a line, per language.
SEPARATORS = {"zh": ("、", "；"), "en": (", ", "; ")}


class CreditWords:
    """Explanations in one language (``zh`` or ``en``)."""

    def __init__(self, scheme: CreditScheme, lang: str) -> None:
        self.scheme = scheme
        self.t: Translate = translator(lang)
        self.label: Label = labeller(lang)
        self.list_separator, self.separator = SEPARATORS[language(lang)]

    def fields(self, event: CreditEvent) -> list[tuple[str, str]]:
        """The event's recorded facts, each named and its value in words (its date and
        reference are shown apart)."""
        out = []
        for name, value in dataclasses.asdict(event).items():
            if name in ("ref", "effective_date") or value in (None, ""):
                continue
            out.append((self.label("credit_field", name), self._value(event, name, value)))
        return out

    def _value(self, event: CreditEvent, name: str, value: Any) -> str:
        if isinstance(value, bool):
            return self.t("credit_yes" if value else "credit_no")
        if name == "amount_fen":
            return yuan_text(int(value))
        if name == "authority":
            return self.label("credit_authority", str(value))
        if name == "kind":
            kinds = "credit_commendation" if isinstance(event, Commendation) else "credit_violation"
            return self.label(kinds, str(value))
        return str(value)

    def handover_items(self, items: Sequence[str]) -> str:
        return self.list_separator.join(
            self.label("credit_handover_item", item) for item in items)

    def explain(self, score: Score, events: Mapping[str, CreditEvent]) -> dict[str, str]:
        """Each line's explanation, by its event reference."""
        if not score.projects:
            tickets = _tickets(score.lines)
            return {line.event_ref: self.reason(line, events.get(line.event_ref), tickets)
                    for line in score.lines}
        return {line.event_ref: self._weighted(line, score, events.get(line.event_ref))
                for line in score.lines}

    def _weighted(self, line: ScoreLine, score: Score, event: CreditEvent | None) -> str:
        """As the domain merges a line over projects: said once when it counts the same in
        every project, else per project with its area and the area-weighted result."""
        per: list[tuple[ProjectScore, str]] = [
            (project, self.reason(own, event, _tickets(project.lines)))
            for project in score.projects for own in project.lines
            if own.event_ref == line.event_ref]
        if len(per) == len(score.projects) and len({r for _, r in per}) == 1:
            reason = per[0][1]
            return reason if len(per) == 1 else reason + self.t("credit_in_full", count=len(per))
        total = score.served_area_m2_hundredths
        parts = [reason + self.t("credit_project_share", community=project.community_code,
                                 area=area_text(project.area_m2_hundredths),
                                 total=area_text(total))
                 for project, reason in per]
        return (self.separator.join(parts)
                + self.t("credit_weighted", points=format_points(line.points)))

    def reason(self, line: ScoreLine, event: CreditEvent | None, tickets: int) -> str:
        """One line as it counts in one project (or with no project served)."""
        if event is None:
            return self.t("credit_why_base", points=_number(line.points))
        on = event.effective_date.isoformat()
        where = (self.t("credit_where_community", community=event.community_code)
                 if event.community_code else self.t("credit_where_enterprise"))
        if isinstance(event, Commendation):
            kind = self.label("credit_commendation", event.kind)
            if event.kind not in self.scheme.commendation_points:
                return self.t("credit_why_commendation_unknown", on=on, kind=kind, where=where)
            return self.t("credit_why_commendation", on=on, kind=kind, where=where,
                          authority=self.label("credit_authority", event.authority),
                          points=_number(line.points))
        if isinstance(event, Violation):
            default = ("" if event.kind in self.scheme.violation_deductions
                       else self.t("credit_default_deduction"))
            return self.t("credit_why_violation", on=on, where=where, source=event.source_ref,
                          kind=self.label("credit_violation", event.kind),
                          authority=self.label("credit_authority", event.authority),
                          points=_number(-line.points), default=default)
        if isinstance(event, Fine):
            band, _ = self.scheme.fine_deduction(event.amount_fen)
            return self.t("credit_why_fine", on=on, where=where,
                          amount=yuan_text(event.amount_fen), band=yuan_text(band.from_fen),
                          authority=self.label("credit_authority", event.authority),
                          points=_number(-line.points))
        return self._ticket(event, line, tickets, on)

    def _ticket(self, ticket: ComplaintTicket, line: ScoreLine, tickets: int, on: str) -> str:
        where = (self.t("credit_where_community", community=ticket.community_code)
                 if ticket.community_code else "")
        failed = [self.t(key, weight=weight) for key, ok, weight in (
            ("credit_not_responded", ticket.responded, self.scheme.complaint_response_weight),
            ("credit_not_resolved", ticket.resolved, self.scheme.complaint_resolution_weight),
            ("credit_not_satisfied", ticket.satisfied, self.scheme.complaint_satisfaction_weight),
        ) if not ok]
        if not failed:
            return self.t("credit_why_ticket_ok", ticket=ticket.ticket_id, where=where)
        return self.t("credit_why_ticket", on=on, ticket=ticket.ticket_id, where=where,
                      failed=self.list_separator.join(failed), tickets=tickets,
                      points=format_points(-line.points))


def _tickets(lines: Sequence[ScoreLine]) -> int:
    return sum(1 for line in lines if line.kind == "complaint")

