"""Credit scoring of property service enterprises (E3): a configurable scheme, pure functions.

The ledger keeps the inputs (dated credit events on the enterprise, the contracts that say
which communities it served and with what area); a score is always *computed* from them with
a ``CreditScheme``. Nothing here is stored, so changing the scheme and recomputing from the
same history gives the new ratings without touching any event.

How a score is built, for one enterprise and one half-year period:

* The projects are the communities the enterprise served on at least one day of the period
  (``ServedProject``). Two contracts in the same community count once, with the area of the
  one that started last.
* Each project starts at ``scheme.base_points``. A credit event dated in the period applies
  to a project when it is enterprise-wide (``community_code is None``), when it names that
  project's community, or when it names a community the enterprise did not serve in the
  period (an overdue handover is dated after service ended): such an event applies to every
  project, like an enterprise-wide one.
* Commendations add points, violations and fines deduct. Complaint tickets (接诉即办) deduct
  for the share of tickets not responded to, not resolved and not satisfied: with ``n``
  tickets applying to a project, each ticket deducts ``weight / n`` for each of the three it
  failed, so the sum is ``weight × (1 - rate)`` and a project without tickets loses nothing.
* The enterprise's score is the average of its project scores weighted by served area. An
  enterprise-wide event therefore counts in full; an event in one community counts with that
  community's share of the served area. Without projects in the period the score is the base
  plus every event in the period, each in full.
* Every point is a ``ScoreLine`` naming the event that caused it (``event_ref``), and the
  lines sum exactly to the score (``fractions.Fraction``, no floats), so a rating can be
  contested line by line. Display and ranking use the score rounded to hundredths.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from types import MappingProxyType

from domain.errors import InvalidInput
from domain.money import format_area, format_fen

RULE = "E3"

# ---------------------------------------------------------------------------- periods

_PERIOD_PATTERN = re.compile(r"(?P<year>\d{4})H(?P<half>[12])")
PERIOD_YEAR_MIN = 1990  # before the first Beijing property regulations: a typo
PERIOD_YEAR_MAX = 9998  # the half-year after 9999H2 would not be a date


@dataclass(frozen=True, order=True)
class Period:
    """A rating half-year: H1 is January to June, H2 is July to December ("2026H1")."""

    year: int
    half: int

    def __post_init__(self) -> None:
        if not PERIOD_YEAR_MIN <= self.year <= PERIOD_YEAR_MAX or self.half not in (1, 2):
            raise InvalidInput(f"no half-year {self.year}H{self.half}", rule=RULE, field="period")

    @classmethod
    def parse(cls, text: str, *, field: str = "period") -> Period:
        match = _PERIOD_PATTERN.fullmatch(text.strip().upper())
        if match is None:
            raise InvalidInput(
                f"period {text!r} is not a half-year like 2026H1 (Jan-Jun) or 2026H2 (Jul-Dec)",
                rule=RULE,
                field=field,
            )
        year = int(match["year"])
        if not PERIOD_YEAR_MIN <= year <= PERIOD_YEAR_MAX:
            raise InvalidInput(f"period {text!r} is out of range", rule=RULE, field=field)
        return cls(year, int(match["half"]))

    @classmethod
    def containing(cls, day: date) -> Period:
        return cls(day.year, 1 if day.month <= 6 else 2)

    def __str__(self) -> str:
        return f"{self.year}H{self.half}"

    @property
    def first_day(self) -> date:
        return date(self.year, 1 if self.half == 1 else 7, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, 6, 30) if self.half == 1 else date(self.year, 12, 31)

    @property
    def end(self) -> date:
        """The first day after the period (end dates are exclusive throughout)."""
        return date(self.year, 7, 1) if self.half == 1 else date(self.year + 1, 1, 1)

    def contains(self, day: date) -> bool:
        return self.first_day <= day < self.end

    def overlaps(self, start: date, until: date | None) -> bool:
        """Whether ``[start, until)`` (``until`` None: still running) shares a day with it."""
        return start < self.end and (until is None or (until > self.first_day and until > start))


# ---------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Commendation:
    ref: str
    effective_date: date
    kind: str
    authority: str
    note: str
    community_code: str | None = None


@dataclass(frozen=True)
class Violation:
    ref: str
    effective_date: date
    kind: str
    authority: str
    note: str
    source_ref: str
    community_code: str | None = None


@dataclass(frozen=True)
class Fine:
    ref: str
    effective_date: date
    amount_fen: int
    authority: str
    note: str
    community_code: str | None = None


@dataclass(frozen=True)
class ComplaintTicket:
    ref: str
    effective_date: date
    ticket_id: str
    responded: bool
    resolved: bool
    satisfied: bool
    community_code: str | None = None


CreditEvent = Commendation | Violation | Fine | ComplaintTicket


@dataclass(frozen=True)
class ServedProject:
    """One community served under one contract, over ``[served_from, served_until)``."""

    community_code: str
    area_m2_hundredths: int
    served_from: date
    served_until: date | None  # None: still serving

    def served_in(self, period: Period) -> bool:
        return period.overlaps(self.served_from, self.served_until)


# ---------------------------------------------------------------------------- the scheme


@dataclass(frozen=True)
class FineBand:
    """Fines of at least ``from_fen`` deduct ``deduction`` points (until the next band)."""

    from_fen: int
    deduction: int


@dataclass(frozen=True)
class CreditScheme:
    """Point values and grade shares: configuration, never written into an event.

    All points are whole numbers; deductions are given as positive numbers. A commendation
    kind missing from ``commendation_points`` earns nothing; a violation kind missing from
    ``violation_deductions`` costs ``violation_deduction_default``, so an unforeseen kind of
    violation is never free. ``grade_shares_percent`` lists the grades best first with the
    share of ranked enterprises each receives; the shares sum to 100.
    """

    name: str
    base_points: int
    commendation_points: Mapping[str, int]
    violation_deductions: Mapping[str, int]
    violation_deduction_default: int
    fine_bands: tuple[FineBand, ...]
    complaint_response_weight: int
    complaint_resolution_weight: int
    complaint_satisfaction_weight: int
    grade_shares_percent: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        # Read-only views, so a scheme shared by the whole application cannot drift.
        object.__setattr__(
            self, "commendation_points", MappingProxyType(dict(self.commendation_points))
        )
        object.__setattr__(
            self, "violation_deductions", MappingProxyType(dict(self.violation_deductions))
        )
        self._check()

    def _check(self) -> None:
        numbers = {
            "base_points": self.base_points,
            "violation_deduction_default": self.violation_deduction_default,
            "complaint_response_weight": self.complaint_response_weight,
            "complaint_resolution_weight": self.complaint_resolution_weight,
            "complaint_satisfaction_weight": self.complaint_satisfaction_weight,
        }
        numbers.update({f"commendation_points.{k}": v for k, v in self.commendation_points.items()})
        numbers.update(
            {f"violation_deductions.{k}": v for k, v in self.violation_deductions.items()}
        )
        numbers.update({f"fine_bands[{i}]": b.deduction for i, b in enumerate(self.fine_bands)})
        for name, value in numbers.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInput(
                    f"{name} must be a whole number of points, at least 0", rule=RULE, field=name
                )
        starts = [band.from_fen for band in self.fine_bands]
        if not starts or starts[0] != 0 or starts != sorted(set(starts)):
            raise InvalidInput(
                "fine_bands must start at 0 fen and rise strictly", rule=RULE, field="fine_bands"
            )
        grades = [grade for grade, _ in self.grade_shares_percent]
        shares = [share for _, share in self.grade_shares_percent]
        if (
            not grades
            or len(set(grades)) != len(grades)
            or any(share < 0 for share in shares)
            or sum(shares) != 100
        ):
            raise InvalidInput(
                "grade_shares_percent must name distinct grades whose shares sum to 100",
                rule=RULE,
                field="grade_shares_percent",
            )

    def fine_deduction(self, amount_fen: int) -> tuple[FineBand, int]:
        band = [b for b in self.fine_bands if b.from_fen <= amount_fen][-1]
        return band, band.deduction


EXAMPLE_SCHEME = CreditScheme(
    name="EXAMPLE scheme (illustrative values, not an official Beijing scheme)",
    base_points=100,
    commendation_points={"city": 5, "district": 3, "street": 1},
    violation_deductions={
        "overdue_handover": 10,
        "safety": 10,
        "unlawful_charge": 8,
        "service_quality": 5,
        "fund_misuse": 10,
    },
    violation_deduction_default=5,
    fine_bands=(
        FineBand(from_fen=0, deduction=2),
        FineBand(from_fen=1_000_000, deduction=5),  # 10,000 yuan
        FineBand(from_fen=5_000_000, deduction=10),  # 50,000 yuan
    ),
    complaint_response_weight=5,
    complaint_resolution_weight=10,
    complaint_satisfaction_weight=10,
    grade_shares_percent=(("A", 20), ("B", 50), ("C", 20), ("D", 10)),
)
"""An EXAMPLE scheme to run the ledger and the demo with. The sources we hold publish no point
values or grade shares (docs/rules.md E3), so these numbers are illustrative, NOT the official
Beijing scheme: configure the real one before rating anybody."""


# ---------------------------------------------------------------------------- scores


@dataclass(frozen=True)
class ScoreLine:
    """Points caused by one event (or the base), with the reason in words."""

    event_ref: str
    kind: str  # "base", "commendation", "violation", "fine" or "complaint"
    points: Fraction
    explanation: str


@dataclass(frozen=True)
class ProjectScore:
    community_code: str
    area_m2_hundredths: int
    points: Fraction
    lines: tuple[ScoreLine, ...]


@dataclass(frozen=True)
class Score:
    enterprise_code: str
    period: Period
    scheme_name: str
    points: Fraction
    served_area_m2_hundredths: int
    projects: tuple[ProjectScore, ...]
    lines: tuple[ScoreLine, ...]  # contributions to ``points``; they sum to it exactly

    @property
    def points_hundredths(self) -> int:
        return round_hundredths(self.points)

    def display(self) -> str:
        return format_points(self.points)


@dataclass(frozen=True)
class Graded:
    rank: int  # 1..n, unique; equal scores are ordered by credit code
    enterprise_code: str
    grade: str
    score: Score


def round_hundredths(points: Fraction) -> int:
    """Hundredths of a point, half away from zero (the same for a score and its negative)."""
    sign = -1 if points < 0 else 1
    return sign * int(abs(points) * 100 + Fraction(1, 2))


def format_points(points: Fraction) -> str:
    hundredths = round_hundredths(points)
    sign = "-" if hundredths < 0 else ""
    whole, frac = divmod(abs(hundredths), 100)
    return f"{sign}{whole}.{frac:02d}"


BASE_REF = "base"


def score_enterprise(
    credit_events: Iterable[CreditEvent],
    served_projects: Iterable[ServedProject],
    period: Period,
    scheme: CreditScheme,
    *,
    enterprise_code: str,
) -> Score:
    """The enterprise's score for ``period`` under ``scheme``, every point with its cause."""
    projects = _projects_in(served_projects, period)
    events = sorted(
        (e for e in credit_events if period.contains(e.effective_date)),
        key=lambda e: (e.effective_date, e.ref),
    )
    served_codes = {p.community_code for p in projects}
    if not projects:
        lines = _project_lines(events, scheme)
        return Score(
            enterprise_code=enterprise_code,
            period=period,
            scheme_name=scheme.name,
            points=sum((line.points for line in lines), Fraction(0)),
            served_area_m2_hundredths=0,
            projects=(),
            lines=tuple(lines),
        )
    project_scores = tuple(
        _score_project(project, events, served_codes, scheme) for project in projects
    )
    total_area = sum(p.area_m2_hundredths for p in projects)
    order = [BASE_REF, *(e.ref for e in events)]
    lines = _weighted_lines(project_scores, total_area, order)
    return Score(
        enterprise_code=enterprise_code,
        period=period,
        scheme_name=scheme.name,
        points=sum((line.points for line in lines), Fraction(0)),
        served_area_m2_hundredths=total_area,
        projects=project_scores,
        lines=tuple(lines),
    )


def rank_and_grade(scores: Sequence[Score], scheme: CreditScheme) -> list[Graded]:
    """Rank by score (hundredths, as displayed), ties by credit code; grade by ranking share.

    With ``n`` enterprises ranked, a grade covers the ranks up to ``ceil(cumulative share ×
    n / 100)`` (so a lone enterprise in the top share still gets the top grade). Equal scores
    get the same grade, the one of the best place they share: ordering ties by code decides
    the listing, never the grade.
    """
    codes = [s.enterprise_code for s in scores]
    if len(set(codes)) != len(codes):
        raise InvalidInput("an enterprise appears twice in one ranking", rule=RULE, field="scores")
    if len({s.period for s in scores}) > 1:
        raise InvalidInput("scores from different periods", rule=RULE, field="scores")
    ordered = sorted(scores, key=lambda s: (-s.points_hundredths, s.enterprise_code))
    count = len(ordered)
    cutoffs: list[tuple[str, int]] = []
    cumulative = 0
    for grade, share in scheme.grade_shares_percent:
        cumulative += share
        cutoffs.append((grade, -(-cumulative * count // 100)))
    graded: list[Graded] = []
    place = 0
    for position, score in enumerate(ordered, start=1):
        if position == 1 or score.points_hundredths != ordered[position - 2].points_hundredths:
            place = position
        grade = next(g for g, last_rank in cutoffs if place <= last_rank)
        graded.append(Graded(position, score.enterprise_code, grade, score))
    return graded


# ---------------------------------------------------------------------------- internals


def _projects_in(served: Iterable[ServedProject], period: Period) -> list[ServedProject]:
    latest: dict[str, ServedProject] = {}
    for project in served:
        if not project.served_in(period):
            continue
        known = latest.get(project.community_code)
        if known is None or project.served_from > known.served_from:
            latest[project.community_code] = project
    return [latest[code] for code in sorted(latest)]


def _score_project(
    project: ServedProject,
    events: Sequence[CreditEvent],
    served_codes: set[str],
    scheme: CreditScheme,
) -> ProjectScore:
    applying = [
        e
        for e in events
        if e.community_code is None
        or e.community_code == project.community_code
        or e.community_code not in served_codes
    ]
    lines = _project_lines(applying, scheme)
    return ProjectScore(
        community_code=project.community_code,
        area_m2_hundredths=project.area_m2_hundredths,
        points=sum((line.points for line in lines), Fraction(0)),
        lines=tuple(lines),
    )


def _project_lines(events: Sequence[CreditEvent], scheme: CreditScheme) -> list[ScoreLine]:
    lines = [ScoreLine(BASE_REF, "base", Fraction(scheme.base_points), "base points")]
    tickets = sum(1 for e in events if isinstance(e, ComplaintTicket))
    for event in events:
        lines.append(_line(event, scheme, tickets))
    return lines


def _line(event: CreditEvent, scheme: CreditScheme, tickets: int) -> ScoreLine:
    where = f" in {event.community_code}" if event.community_code else " (enterprise-wide)"
    on = event.effective_date.isoformat()
    if isinstance(event, Commendation):
        if event.kind in scheme.commendation_points:
            points = scheme.commendation_points[event.kind]
            why = f"commendation '{event.kind}' by {event.authority} on {on}{where}: +{points}"
        else:
            points = 0
            why = f"commendation '{event.kind}' on {on}{where}: kind not in the scheme, 0"
        return ScoreLine(event.ref, "commendation", Fraction(points), why)
    if isinstance(event, Violation):
        deduction = scheme.violation_deductions.get(event.kind, scheme.violation_deduction_default)
        default = "" if event.kind in scheme.violation_deductions else " (default deduction)"
        why = (
            f"violation '{event.kind}' found by {event.authority} on {on}{where}, "
            f"source {event.source_ref}: -{deduction}{default}"
        )
        return ScoreLine(event.ref, "violation", Fraction(-deduction), why)
    if isinstance(event, Fine):
        band, deduction = scheme.fine_deduction(event.amount_fen)
        why = (
            f"fine of {format_fen(event.amount_fen)} yuan by {event.authority} on {on}{where}, "
            f"band from {format_fen(band.from_fen)} yuan: -{deduction}"
        )
        return ScoreLine(event.ref, "fine", Fraction(-deduction), why)
    return _ticket_line(event, scheme, tickets)


def _ticket_line(ticket: ComplaintTicket, scheme: CreditScheme, tickets: int) -> ScoreLine:
    failed = [
        (name, weight)
        for name, ok, weight in (
            ("not responded", ticket.responded, scheme.complaint_response_weight),
            ("not resolved", ticket.resolved, scheme.complaint_resolution_weight),
            ("not satisfied", ticket.satisfied, scheme.complaint_satisfaction_weight),
        )
        if not ok
    ]
    weight = sum(w for _, w in failed)
    points = Fraction(-weight, tickets)
    where = f" in {ticket.community_code}" if ticket.community_code else ""
    if failed:
        reasons = ", ".join(f"{name} ({w})" for name, w in failed)
        why = (
            f"complaint ticket {ticket.ticket_id}{where} on {ticket.effective_date.isoformat()}: "
            f"{reasons}, shared over {tickets} ticket(s): -{format_points(-points)}"
        )
    else:
        why = f"complaint ticket {ticket.ticket_id}{where}: responded, resolved, satisfied: 0"
    return ScoreLine(ticket.ref, "complaint", points, why)


def _weighted_lines(
    projects: Sequence[ProjectScore], total_area: int, order: Sequence[str]
) -> list[ScoreLine]:
    """Each cause's contribution to the area-weighted average, base first, then by date."""
    points: dict[str, Fraction] = {}
    kinds: dict[str, str] = {}
    reasons: dict[str, list[str]] = {}
    for project in projects:
        share = Fraction(project.area_m2_hundredths, total_area)
        for line in project.lines:
            points[line.event_ref] = points.get(line.event_ref, Fraction(0)) + line.points * share
            kinds[line.event_ref] = line.kind
            reasons.setdefault(line.event_ref, []).append(
                f"{line.explanation} [{project.community_code}: "
                f"{format_area(project.area_m2_hundredths)} of {format_area(total_area)} m²]"
            )
    return [
        ScoreLine(
            ref, kinds[ref], points[ref], _merge_reasons(reasons[ref], len(projects), points[ref])
        )
        for ref in order
        if ref in points
    ]


def _merge_reasons(reasons: list[str], project_count: int, points: Fraction) -> str:
    if len(reasons) == project_count and len({_strip_where(r) for r in reasons}) == 1:
        # The same points in every project: the event counts in full; say it once.
        if project_count == 1:
            return _strip_where(reasons[0])
        return _strip_where(reasons[0]) + f" (in full: the same in all {project_count} projects)"
    return "; ".join(reasons) + f" => area-weighted {format_points(points)}"


def _strip_where(reason: str) -> str:
    return reason.rsplit(" [", 1)[0]
