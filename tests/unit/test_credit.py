"""Credit scoring (E3): half-year periods, explainable area-weighted scores, grades."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.credit import (
    EXAMPLE_SCHEME,
    Commendation,
    ComplaintTicket,
    CreditEvent,
    CreditScheme,
    Fine,
    FineBand,
    Period,
    Score,
    ServedProject,
    Violation,
    format_points,
    rank_and_grade,
    score_enterprise,
)
from domain.errors import InvalidInput

H1 = Period(2026, 1)
CODE = "91110105MA00000012"


# ---------------------------------------------------------------------------- periods


def test_period_parses_and_prints() -> None:
    assert Period.parse("2026H1") == H1
    assert Period.parse(" 2026h2 ") == Period(2026, 2)
    assert str(Period(2026, 2)) == "2026H2"


@pytest.mark.parametrize("text", ["2026", "2026H3", "2026-H1", "26H1", "2026H0", "0999H1"])
def test_malformed_period_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Period.parse(text)
    assert (caught.value.rule, caught.value.field) == ("E3", "period")


def test_e3_halves_split_at_july() -> None:
    assert H1.contains(date(2026, 1, 1)) and H1.contains(date(2026, 6, 30))
    assert not H1.contains(date(2026, 7, 1)) and not H1.contains(date(2025, 12, 31))
    h2 = Period(2026, 2)
    assert h2.contains(date(2026, 7, 1)) and h2.contains(date(2026, 12, 31))
    assert not h2.contains(date(2027, 1, 1))
    assert (h2.first_day, h2.last_day) == (date(2026, 7, 1), date(2026, 12, 31))


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2999, 12, 31)))
def test_e3_every_day_is_in_exactly_its_half_year(day: date) -> None:
    period = Period.containing(day)
    assert period.contains(day)
    assert Period.parse(str(period)) == period
    expected = f"{day.year}H{1 if day.month < 7 else 2}"
    assert str(period) == expected


# ---------------------------------------------------------------------------- the scheme


def test_e3_example_scheme_says_it_is_an_example() -> None:
    assert "EXAMPLE" in EXAMPLE_SCHEME.name and "not an official" in EXAMPLE_SCHEME.name
    assert sum(share for _, share in EXAMPLE_SCHEME.grade_shares_percent) == 100
    assert [g for g, _ in EXAMPLE_SCHEME.grade_shares_percent] == ["A", "B", "C", "D"]


def scheme(**changes: object) -> CreditScheme:
    values: dict[str, object] = {
        "name": "test",
        "base_points": 100,
        "commendation_points": {"city": 5},
        "violation_deductions": {"safety": 10},
        "violation_deduction_default": 3,
        "fine_bands": (FineBand(0, 2), FineBand(1_000_000, 6)),
        "complaint_response_weight": 4,
        "complaint_resolution_weight": 8,
        "complaint_satisfaction_weight": 12,
        "grade_shares_percent": (("A", 20), ("B", 50), ("C", 20), ("D", 10)),
    }
    values.update(changes)
    return CreditScheme(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("grade_shares_percent", (("A", 50), ("B", 40))),
        ("grade_shares_percent", (("A", 50), ("A", 50))),
        ("fine_bands", (FineBand(100, 2),)),
        ("fine_bands", (FineBand(0, 2), FineBand(0, 3))),
        ("fine_bands", ()),
        ("base_points", -1),
        ("violation_deductions", {"safety": -10}),
    ],
)
def test_inconsistent_scheme_is_refused(field: str, value: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        scheme(**{field: value})
    assert caught.value.rule == "E3"


# ---------------------------------------------------------------------------- a worked example


def test_e3_worked_example_area_weighted_with_causes() -> None:
    projects = [
        ServedProject("C1", 100_000, date(2025, 1, 1), None),  # 1,000 m²
        ServedProject("C2", 300_000, date(2026, 3, 1), None),  # 3,000 m²
        ServedProject("C3", 999_999, date(2024, 1, 1), date(2025, 12, 31)),  # not in 2026H1
    ]
    events: list[CreditEvent] = [
        Commendation("E#1", date(2026, 2, 1), "city", "市住建委", ""),  # +5 everywhere
        Violation("E#2", date(2026, 3, 1), "safety", "消防", "", "XF-1", "C1"),  # -10 in C1
        Fine("E#3", date(2026, 4, 1), 2_000_000, "城管", "", "C2"),  # -6 in C2
        ComplaintTicket("E#4", date(2026, 5, 1), "T1", True, False, False, "C2"),
        ComplaintTicket("E#5", date(2026, 5, 2), "T2", True, True, True, "C2"),
        Violation("E#6", date(2026, 7, 1), "safety", "消防", "", "XF-2"),  # next period
    ]
    score = score_enterprise(events, projects, H1, scheme(), enterprise_code=CODE)
    # C1: 100 + 5 - 10 = 95. C2: 100 + 5 - 6 - (8 + 12) / 2 = 89. (95·1 + 89·3) / 4 = 90.5
    assert [p.points for p in score.projects] == [95, 89]
    assert score.points == Fraction(181, 2)
    assert score.display() == "90.50"
    assert score.served_area_m2_hundredths == 400_000
    by_ref = {line.event_ref: line for line in score.lines}
    assert list(by_ref) == ["base", "E#1", "E#2", "E#3", "E#4", "E#5"]
    assert by_ref["E#1"].points == 5
    assert by_ref["E#2"].points == Fraction(-10, 4)
    assert by_ref["E#3"].points == Fraction(-6 * 3, 4)
    assert by_ref["E#4"].points == Fraction(-10 * 3, 4)
    assert by_ref["E#5"].points == 0
    assert "XF-1" in by_ref["E#2"].explanation and "C1" in by_ref["E#2"].explanation
    assert sum(line.points for line in score.lines) == score.points


def test_event_in_a_community_no_longer_served_counts_everywhere() -> None:
    projects = [ServedProject("C1", 100, date(2025, 1, 1), None)]
    late = Violation("E#1", date(2026, 2, 1), "overdue_handover", "check", "", "H-1", "C0")
    score = score_enterprise([late], projects, H1, scheme(), enterprise_code=CODE)
    assert score.points == 100 - 3  # unknown kind: the default deduction


def test_without_projects_every_event_counts_in_full() -> None:
    events: list[CreditEvent] = [Violation("E#1", date(2026, 2, 1), "safety", "x", "", "S", "C1")]
    score = score_enterprise(events, [], H1, scheme(), enterprise_code=CODE)
    assert score.points == 90
    assert score.projects == ()


def test_two_contracts_in_one_community_count_once_with_the_latest_area() -> None:
    projects = [
        ServedProject("C1", 100, date(2025, 1, 1), date(2026, 3, 1)),
        ServedProject("C1", 900, date(2026, 3, 1), None),
    ]
    score = score_enterprise([], projects, H1, scheme(), enterprise_code=CODE)
    assert score.served_area_m2_hundredths == 900


def test_format_points_rounds_half_away_from_zero() -> None:
    assert format_points(Fraction(181, 2)) == "90.50"
    assert format_points(Fraction(1, 200)) == "0.01"
    assert format_points(Fraction(-1, 200)) == "-0.01"
    assert format_points(Fraction(2, 3)) == "0.67"


# ---------------------------------------------------------------------------- the recount


def recount(
    events: Sequence[CreditEvent],
    projects: Sequence[ServedProject],
    period: Period,
    rules: CreditScheme,
) -> Fraction:
    """The score as the scheme's documentation describes it, computed with rates."""
    first = date(period.year, 1 if period.half == 1 else 7, 1)
    end = date(period.year, 7, 1) if period.half == 1 else date(period.year + 1, 1, 1)
    served: dict[str, ServedProject] = {}
    for p in projects:
        stop = p.served_until or date.max
        if not (p.served_from < end and stop > first and stop > p.served_from):
            continue
        known = served.get(p.community_code)
        if known is None or p.served_from > known.served_from:
            served[p.community_code] = p
    in_period = [e for e in events if first <= e.effective_date < end]

    def points_for(community: str | None) -> Fraction:
        mine = [
            e for e in in_period
            if e.community_code is None or e.community_code == community
            or e.community_code not in served
        ]  # fmt: skip
        total = Fraction(rules.base_points)
        tickets = [e for e in mine if isinstance(e, ComplaintTicket)]
        for e in mine:
            if isinstance(e, Commendation):
                total += rules.commendation_points.get(e.kind, 0)
            elif isinstance(e, Violation):
                total -= rules.violation_deductions.get(e.kind, rules.violation_deduction_default)
            elif isinstance(e, Fine):
                bands = sorted(rules.fine_bands, key=lambda b: b.from_fen)
                total -= [b for b in bands if b.from_fen <= e.amount_fen][-1].deduction
        if tickets:
            n = len(tickets)
            responded = sum(1 for t in tickets if t.responded)
            resolved = sum(1 for t in tickets if t.resolved)
            satisfied = sum(1 for t in tickets if t.satisfied)
            total -= rules.complaint_response_weight * (1 - Fraction(responded, n))
            total -= rules.complaint_resolution_weight * (1 - Fraction(resolved, n))
            total -= rules.complaint_satisfaction_weight * (1 - Fraction(satisfied, n))
        return total

    if not served:
        return points_for(None)
    area = sum(p.area_m2_hundredths for p in served.values())
    weighted = sum(
        (p.area_m2_hundredths * points_for(code) for code, p in served.items()), Fraction(0)
    )
    return weighted / area


days = st.dates(min_value=date(2025, 10, 1), max_value=date(2026, 9, 30))
community = st.none() | st.sampled_from(["C1", "C2", "C3", "C9"])


@st.composite
def credit_events(draw: st.DrawFn) -> list[CreditEvent]:
    made: list[CreditEvent] = []
    for n in range(draw(st.integers(0, 15))):
        ref, on, where = f"E#{n + 1}", draw(days), draw(community)
        kind = draw(st.sampled_from(["commendation", "violation", "fine", "ticket"]))
        if kind == "commendation":
            made.append(
                Commendation(ref, on, draw(st.sampled_from(["city", "street"])), "a", "", where)
            )
        elif kind == "violation":
            made.append(
                Violation(ref, on, draw(st.sampled_from(["safety", "other"])), "a", "", ref, where)
            )
        elif kind == "fine":
            made.append(Fine(ref, on, draw(st.integers(1, 3_000_000)), "a", "", where))
        else:
            responded = draw(st.booleans())
            resolved = responded and draw(st.booleans())
            satisfied = responded and draw(st.booleans())
            made.append(ComplaintTicket(ref, on, f"T{n}", responded, resolved, satisfied, where))
    return made


@st.composite
def served_projects(draw: st.DrawFn) -> list[ServedProject]:
    made = []
    for _ in range(draw(st.integers(0, 4))):
        start = draw(days)
        length = draw(st.none() | st.integers(0, 200))
        until = None if length is None else start + timedelta(days=length)
        code = draw(st.sampled_from(["C1", "C2", "C3"]))
        made.append(ServedProject(code, draw(st.integers(1, 10_000_000)), start, until))
    return made


def fine_bands(starts: list[int]) -> st.SearchStrategy[tuple[FineBand, ...]]:
    deductions = st.lists(st.integers(0, 15), min_size=len(starts) + 1, max_size=len(starts) + 1)
    return deductions.map(
        lambda ds: tuple(FineBand(s, d) for s, d in zip([0, *sorted(starts)], ds, strict=True))
    )


schemes = st.builds(
    scheme,
    base_points=st.integers(0, 200),
    commendation_points=st.dictionaries(st.sampled_from(["city", "street"]), st.integers(0, 9)),
    violation_deductions=st.dictionaries(st.sampled_from(["safety"]), st.integers(0, 20)),
    violation_deduction_default=st.integers(0, 20),
    fine_bands=st.lists(st.integers(1, 3_000_000), unique=True, max_size=3).flatmap(fine_bands),
    complaint_response_weight=st.integers(0, 20),
    complaint_resolution_weight=st.integers(0, 20),
    complaint_satisfaction_weight=st.integers(0, 20),
)
periods = st.sampled_from([Period(2025, 2), Period(2026, 1), Period(2026, 2)])


@given(credit_events(), served_projects(), periods, schemes)
def test_e3_score_equals_an_independent_recount(
    events: list[CreditEvent],
    projects: list[ServedProject],
    period: Period,
    rules: CreditScheme,
) -> None:
    score = score_enterprise(events, projects, period, rules, enterprise_code=CODE)
    assert score.points == recount(events, projects, period, rules)
    # Every point has a cause, and every cause is an event of the period (or the base).
    assert sum(line.points for line in score.lines) == score.points
    in_period = {e.ref for e in events if period.contains(e.effective_date)}
    refs = [line.event_ref for line in score.lines]
    assert refs[0] == "base" and sorted(refs[1:]) == sorted(in_period)
    for project in score.projects:
        assert sum(line.points for line in project.lines) == project.points


@given(credit_events(), served_projects(), schemes, schemes)
def test_e3_changing_the_scheme_recomputes_from_the_same_history(
    events: list[CreditEvent], projects: list[ServedProject], old: CreditScheme, new: CreditScheme
) -> None:
    before = list(events)
    score_enterprise(events, projects, H1, old, enterprise_code=CODE)
    again = score_enterprise(events, projects, H1, new, enterprise_code=CODE)
    assert events == before
    assert again.points == recount(events, projects, H1, new)


# ---------------------------------------------------------------------------- ranking


def flat_score(code: str, points: Fraction) -> Score:
    return Score(code, H1, "test", points, 100, (), ())


def test_e3_ranking_is_by_score_then_code_and_ties_share_a_grade() -> None:
    scores = [
        flat_score("C", Fraction(90)),
        flat_score("A", Fraction(95)),
        flat_score("B", Fraction(95)),
        flat_score("D", Fraction(80)),
        flat_score("E", Fraction(70)),
    ]
    graded = rank_and_grade(scores, EXAMPLE_SCHEME)
    # With 5 ranked, A covers ranks up to ceil(20 % × 5) = 1, B up to ceil(70 % × 5) = 4,
    # C up to ceil(90 % × 5) = 5. B ties with A for first place, so it is graded as first.
    assert [(g.rank, g.enterprise_code, g.grade) for g in graded] == [
        (1, "A", "A"),
        (2, "B", "A"),
        (3, "C", "B"),
        (4, "D", "B"),
        (5, "E", "C"),
    ]


def test_ranking_refuses_an_enterprise_twice() -> None:
    with pytest.raises(InvalidInput):
        rank_and_grade([flat_score("A", Fraction(1)), flat_score("A", Fraction(2))], EXAMPLE_SCHEME)


@given(
    st.lists(st.integers(0, 10_000), min_size=1, max_size=40, unique=True),
    st.randoms(use_true_random=False),
)
def test_e3_grades_follow_the_shares_and_input_order_does_not_matter(
    hundredths: list[int], random: object
) -> None:
    scores = [flat_score(f"E{i:03d}", Fraction(h, 100)) for i, h in enumerate(hundredths)]
    graded = rank_and_grade(scores, EXAMPLE_SCHEME)
    shuffled = list(scores)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    assert rank_and_grade(shuffled, EXAMPLE_SCHEME) == graded
    n = len(scores)
    expected_best_first = sorted(hundredths, reverse=True)
    assert [g.score.points_hundredths for g in graded] == expected_best_first
    # Distinct scores: counts by cumulative share, rounded up.
    a, b, c = -(-20 * n // 100), -(-70 * n // 100), -(-90 * n // 100)
    expected = ["A"] * a + ["B"] * (b - a) + ["C"] * (c - b) + ["D"] * (n - c)
    assert [g.grade for g in graded] == expected


def test_month_lengths_do_not_matter_for_periods() -> None:
    for month in range(1, 13):
        last = date(2028, month, calendar.monthrange(2028, month)[1])
        assert Period.containing(last) == Period(2028, 1 if month <= 6 else 2)
