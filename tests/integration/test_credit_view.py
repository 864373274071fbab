"""The credit view (E3) against the write side's own answers, on both stores.

A generated history — enterprises, contracts started, terminated and succeeded, and a few
hundred dated credit events over three years — is applied to the view in batches of every
size; for every enterprise and every half-year the view's score (exact, and line by line),
rank and grade must equal ``app.credit_score`` / ``app.credit_ranking``, and every line must
name the log position of the event that caused it, found independently in the log.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from domain.credit import EXAMPLE_SCHEME, Period
from domain.credit_code import with_check_character
from domain.enterprise import Enterprise
from domain.errors import DomainError, NotFound
from ledger.application import FundLedger
from ledger.commands import UnitRow
from ledger.settings import Settings
from projections.credit import CreditProjection, CreditViewStale, open_credit_projection
from projections.runner import Runner, rebuild
from projections.views import VIEWS

ACTOR = "test:credit-view"
E1, E2, E3, E4 = (with_check_character(f"91110105MA01CR{n}00") for n in "ABCD")
# community -> (units, area of each unit in hundredths of m²): served areas differ
COMMUNITIES = {"CV-1": (2, 9_000), "CV-2": (3, 7_550), "CV-3": (1, 12_000),
               "CV-4": (2, 6_000), "CV-5": (4, 8_125), "CV-6": (1, 5_000)}
PERIODS = [Period(year, half) for year in (2024, 2025, 2026, 2027) for half in (1, 2)]
FIRST_DAY, LAST_DAY = date(2025, 1, 1), date(2027, 3, 31)


def setup_world(app: FundLedger) -> None:
    """Communities (of different areas), enterprises, and their first contracts."""
    rows = [UnitRow(code, f"Community {code}", "D1", "S1", "1", str(100 + n), area, "register",
                    [f"owner-{code}-{n}"], line)
            for line, (code, n, area) in enumerate(
                [(c, n, a) for c, (units, a) in COMMUNITIES.items() for n in range(units)], 2)]
    app.register_units(rows, effective_date=date(2024, 12, 1), actor=ACTOR)
    for code, name in ((E1, "One Property"), (E2, "Two Property"), (E3, "Three Property"),
                       (E4, "Four Property")):
        app.register_enterprise(credit_code=code, name=name, registered_on=date(2024, 12, 1),
                                actor=ACTOR)
    start(app, "CV-1", E1, "K-1", date(2025, 1, 1), None)
    start(app, "CV-2", E1, "K-2", date(2025, 3, 1), date(2027, 3, 1))
    start(app, "CV-3", E2, "K-3", date(2025, 7, 1), date(2028, 6, 30))
    start(app, "CV-5", E3, "K-5", date(2025, 2, 1), date(2028, 1, 31))
    start(app, "CV-6", E3, "K-6", date(2025, 4, 1), date(2027, 4, 1))


def later_contracts(app: FundLedger) -> None:
    """E1 leaves CV-2 mid-period and E2 takes over; E3 leaves CV-5; E4 stands in at CV-4 and
    is ended the day it started (so it never served: never ranked); then E3 enters CV-4."""
    end(app, "CV-2", "K-2", notice=date(2025, 9, 1), on=date(2025, 12, 15))
    start(app, "CV-2", E2, "K-2b", date(2025, 12, 15), None)
    end(app, "CV-5", "K-5", notice=date(2026, 4, 1), on=date(2026, 8, 1))
    app.start_service_contract(
        community_code="CV-4", enterprise_code=E4, contract_reference="K-4s",
        starts_on=date(2025, 11, 1), filed_on=date(2025, 11, 1), open_ended=False,
        ends_on=date(2026, 1, 1), emergency_standin=True, actor=ACTOR)
    app.terminate_contract(community_code="CV-4", contract_reference="K-4s",
                           terminated_on=date(2025, 11, 1), actor=ACTOR)
    start(app, "CV-4", E3, "K-4", date(2026, 1, 10), date(2029, 1, 9))


def start(app: FundLedger, community: str, enterprise: str, reference: str, on: date,
          ends_on: date | None) -> None:
    app.start_service_contract(
        community_code=community, enterprise_code=enterprise, contract_reference=reference,
        starts_on=on, filed_on=on, open_ended=ends_on is None, ends_on=ends_on, actor=ACTOR)


def end(app: FundLedger, community: str, reference: str, *, notice: date, on: date) -> None:
    app.give_contract_notice(community_code=community, contract_reference=reference,
                             given_on=notice, reason="not_renewing", actor=ACTOR)
    app.terminate_contract(community_code=community, contract_reference=reference,
                           terminated_on=on, actor=ACTOR)


def credit_events(app: FundLedger, seed: int, count: int) -> None:
    """Dated credit events in random order: every kind, enterprise-wide or in a community
    (served or not), commendation and violation kinds in and out of the scheme."""
    rnd = random.Random(seed)
    span = (LAST_DAY - FIRST_DAY).days
    for n in range(count):
        code = rnd.choice((E1, E1, E2, E3, E3, E4))
        on = FIRST_DAY + timedelta(days=rnd.randrange(span))
        where = rnd.choice((None, None, *COMMUNITIES))
        kind = rnd.randrange(4)
        command: Callable[[Enterprise], Any]
        if kind == 0:
            points = rnd.choice(("city", "district", "street", "neighbourhood"))
            command = partial(Enterprise.commend, on=on, points_kind=points,
                              authority="street office", note="", actor=ACTOR,
                              community_code=where)
        elif kind == 1:
            violation = rnd.choice(("safety", "service_quality", "noise"))
            command = partial(Enterprise.record_violation, on=on, kind=violation,
                              authority="district housing", note="",
                              source_ref=f"case-{seed}-{n}", actor=ACTOR, community_code=where)
        elif kind == 2:
            fen = rnd.choice((50_000, 1_000_000, 7_500_000))
            command = partial(Enterprise.record_fine, on=on, amount_fen=fen,
                              authority="district housing", note="", actor=ACTOR,
                              community_code=where)
        else:
            responded = rnd.random() < 0.8
            command = partial(Enterprise.record_complaint_ticket, on=on,
                              ticket_id=f"T-{seed}-{n}", responded=responded,
                              resolved=responded and rnd.random() < 0.7,
                              satisfied=responded and rnd.random() < 0.6, actor=ACTOR,
                              community_code=where)
        app.record_credit_event(code, command)


def log_positions(app: FundLedger) -> dict[str, tuple[int, date]]:
    """Each credit event's ref ("<code>#<entry no>") -> (log position, business date), read
    from the log itself."""
    codes: dict[Any, str] = {}
    found: dict[str, tuple[int, date]] = {}
    start_at = 0
    while page := app.recorder.select_notifications(start_at, 500, inclusive_of_start=False):
        for notification in page:
            event: Any = app.mapper.to_domain_event(notification)
            owner, name = type(event).__qualname__.split(".")[0], type(event).__name__
            if owner != "Enterprise":
                continue
            if name == "Registered":
                codes[event.originator_id] = event.credit_code
            elif hasattr(event, "entry_no"):
                found[f"{codes[event.originator_id]}#{event.entry_no}"] = (
                    notification.id, event.effective_date)
        start_at = page[-1].id
    return found


def check_equal(app: FundLedger, view: CreditProjection) -> int:
    """The view agrees with the write side everywhere; returns how many lines it checked."""
    positions = log_positions(app)
    checked = 0
    for period in PERIODS:
        expected = app.credit_ranking(period)
        got = view.ranking(period)
        assert [(g.rank, g.enterprise_code, g.grade, g.score.points) for g in expected] == [
            (s.rank, s.enterprise_code, s.grade, s.points) for s in got], period
        places = {g.enterprise_code: (g.rank, g.grade) for g in expected}
        with_events = {ref.split("#")[0] for ref, (_, day) in positions.items()
                       if period.contains(day)}
        rated = [s.enterprise_code for s in view.scores(period)]
        assert rated == [g.enterprise_code for g in expected] + sorted(with_events - set(places))
        for code in (E1, E2, E3, E4):
            want = app.credit_score(code, period)
            have = view.credit_for(code, period)
            assert (have.points, have.points_hundredths, have.served_area_m2_hundredths,
                    have.project_count, have.scheme_name) == (
                want.points, want.points_hundredths, want.served_area_m2_hundredths,
                len(want.projects), want.scheme_name), (code, period)
            assert (have.rank, have.grade) == places.get(code, (None, None)), (code, period)
            assert [(x.event_ref, x.event_kind, x.points, x.explanation) for x in have.lines] == [
                (x.event_ref, x.kind, x.points, x.explanation) for x in want.lines]
            assert sum(x.points for x in have.lines) == have.points
            for line in have.lines:
                if line.event_ref == "base":
                    assert line.notification_id is None
                    continue
                assert (line.notification_id, line.effective_date) == positions[line.event_ref]
                assert line.effective_date is not None and period.contains(line.effective_date)
                checked += 1
    return checked


def test_view_equals_the_write_side_for_every_enterprise_and_period(app: FundLedger) -> None:
    runner = Runner(app)
    view = open_credit_projection(app)
    setup_world(app)
    credit_events(app, seed=1, count=40)
    runner.catch_up(view, batch_events_max=7)  # part of the history, then the rest
    check_equal(app, view)
    later_contracts(app)
    credit_events(app, seed=2, count=80)
    runner.catch_up(view, batch_events_max=7)
    assert check_equal(app, view) > 100
    latest = max(day for _, day in log_positions(app).values())
    assert view.horizon() == Period.containing(latest)  # stored up to here, computed after

    # The scenario as designed, so agreement is not agreement about nothing:
    h2 = app.credit_ranking(Period(2026, 2))
    assert {g.enterprise_code for g in h2} == {E1, E2, E3}  # E4 never served
    assert len({g.grade for g in h2}) > 1
    e4 = view.credit_for(E4, Period(2026, 1))
    assert e4.rank is None and e4.grade is None and e4.event_count > 0
    # 2027H2 is after the last dated event: computed from the stored inputs; E1's open-ended
    # contract in CV-1 and E2's in CV-2 keep them ranked at the base.
    late = view.ranking(Period(2027, 2))
    assert [(s.enterprise_code, s.points) for s in late] == [
        (g.enterprise_code, g.score.points) for g in app.credit_ranking(Period(2027, 2))]
    assert {s.enterprise_code for s in late} >= {E1, E2}
    with pytest.raises(NotFound):
        view.credit_for(with_check_character("91110105MA01CRX00"), Period(2026, 1))


def test_rebuild_and_batches_of_1_and_1000_give_the_same_view(app: FundLedger) -> None:
    runner = Runner(app)
    view = open_credit_projection(app)
    setup_world(app)
    credit_events(app, seed=3, count=30)
    later_contracts(app)
    credit_events(app, seed=4, count=30)
    assert runner.catch_up(view, batch_events_max=1000) == app.recorder.max_notification_id()
    live = view.view.checksum()
    check_equal(app, view)
    assert runner.catch_up(view) == 0
    assert view.view.checksum() == live  # nothing new: nothing changed

    rebuild(runner, view)
    assert view.view.checksum() == live
    view.view.drop()
    runner.catch_up(view, batch_events_max=1)  # every event its own batch
    assert view.view.checksum() == live
    check_equal(app, view)


def test_a_new_event_moves_scores_ranks_and_grades_of_the_others(app: FundLedger) -> None:
    runner = Runner(app)
    view = open_credit_projection(app)
    setup_world(app)
    runner.catch_up(view)
    period = Period(2025, 2)
    before = {s.enterprise_code: s for s in view.ranking(period)}
    assert {s.points_hundredths for s in before.values()} == {10_000}  # all at the base
    app.record_credit_event(E3, lambda e: e.commend(date(2025, 8, 1), "city", "city", "",
                                                    actor=ACTOR, community_code="CV-5"))
    runner.catch_up(view)
    after = {s.enterprise_code: s for s in view.ranking(period)}
    # A city commendation in one of E3's two communities counts with that community's share
    # of E3's served area: 5 × 4×81.25 / (4×81.25 + 50) points.
    share = 4 * 8_125 * 5
    assert after[E3].points - 100 == type(after[E3].points)(share, 4 * 8_125 + 5_000)
    assert after[E3].rank == 1 and after[E3].grade == "A"
    assert [line.event_kind for line in after[E3].lines] == ["base", "commendation"]
    assert after[E3].lines[1].notification_id == app.recorder.max_notification_id()
    assert (after[E1].rank, after[E2].rank) == (2, 3)  # the others moved down
    assert before[E3].rank == 3


def test_the_configured_scheme_scores_and_a_stale_view_says_rebuild(
    db_url: str, tmp_path: Path, open_ledger: Callable[[], FundLedger]
) -> None:
    scheme_file = tmp_path / "scheme.json"
    scheme_file.write_text(json.dumps({
        "name": "test scheme", "base_points": 60, "commendation_points": {"city": 40},
        "violation_deductions": {}, "violation_deduction_default": 1,
        "fine_bands": [{"from_fen": 0, "deduction": 3}], "complaint_response_weight": 1,
        "complaint_resolution_weight": 1, "complaint_satisfaction_weight": 1,
        "grade_shares_percent": [["A", 50], ["B", 50]]}), encoding="utf-8")
    app = FundLedger(Settings(db=db_url, credit_scheme_file=scheme_file))
    try:
        setup_world(app)
        app.record_credit_event(E2, lambda e: e.commend(date(2025, 8, 1), "city", "city", "",
                                                        actor=ACTOR))
        runner = Runner(app)
        view = open_credit_projection(app)
        runner.catch_up(view)
        top = view.ranking(Period(2025, 2))[0]
        assert (top.enterprise_code, top.points_hundredths, top.grade, top.scheme_name) == (
            E2, 10_000, "A", "test scheme")
        check_equal(app, view)

        view.scheme = EXAMPLE_SCHEME  # the configuration changed, the view did not
        with pytest.raises(CreditViewStale, match="rebuild"):
            view.ranking(Period(2025, 2))
        rebuild(runner, view)
        assert view.ranking(Period(2025, 2))[0].scheme_name == EXAMPLE_SCHEME.name
    finally:
        app.close()


def test_the_view_is_registered_for_the_cli() -> None:
    assert VIEWS["credit"] is CreditProjection


def test_a_later_date_opens_periods_where_every_serving_enterprise_is_ranked(
    app: FundLedger,
) -> None:
    runner = Runner(app)
    view = open_credit_projection(app)
    setup_world(app)
    runner.catch_up(view)
    assert view.horizon() == Period(2025, 2)  # the last contract started on 2025-07-01
    # A fine for E4, which serves nowhere, dated a year on: the periods up to it are now
    # stored, and every contract still serving in them is ranked there.
    app.record_credit_event(E4, partial(Enterprise.record_fine, on=date(2026, 10, 1),
                                        amount_fen=50_000, authority="district housing",
                                        note="", actor=ACTOR))
    runner.catch_up(view)
    assert view.horizon() == Period(2026, 2)
    for period in (Period(2026, 1), Period(2026, 2)):
        assert [s.enterprise_code for s in view.ranking(period)] == [E1, E2, E3]
        assert [s.enterprise_code for s in view.scores(period)] == [E1, E2, E3] + (
            [E4] if period.half == 2 else [])
    check_equal(app, view)


@pytest.mark.parametrize("seed", [11, 12])
def test_random_interleaving_of_contracts_credit_events_and_catch_ups(
    app: FundLedger, seed: int
) -> None:
    """Contracts started, ended and succeeded at random dates (some refused by E1/E2), credit
    events at random dates, the runner catching up at random moments with random batch sizes:
    the view always equals the write side, and a rebuild gives the same rows."""
    rnd = random.Random(seed)
    runner = Runner(app)
    view = open_credit_projection(app)
    setup_world(app)
    span = (LAST_DAY - FIRST_DAY).days
    for n in range(60):
        choice = rnd.randrange(10)
        community = rnd.choice(list(COMMUNITIES))
        on = FIRST_DAY + timedelta(days=rnd.randrange(span))
        try:
            if choice < 4:
                reference = app.community(community).service_contract
                if reference and app.contract(community, reference).terminated_on is None:
                    end(app, community, reference, notice=on,
                        on=on + timedelta(days=rnd.choice((90, 120, 400))))
                elif choice < 3:  # a successor, from the day its predecessor left or later
                    if reference:
                        left = app.contract(community, reference).terminated_on
                        on = max(on, left or on) + timedelta(days=rnd.choice((0, 0, 45)))
                    start(app, community, rnd.choice((E1, E2, E3, E4)), f"R-{seed}-{n}", on,
                          rnd.choice((None, on + timedelta(days=800))))
            else:
                credit_events(app, seed=seed * 1000 + n, count=1)
        except DomainError:
            pass  # refused: must leave no trace
        if rnd.random() < 0.2:
            runner.catch_up(view, batch_events_max=rnd.choice((1, 2, 5, 50, 1000)))
    runner.catch_up(view, batch_events_max=rnd.choice((1, 3, 1000)))
    check_equal(app, view)
    live = view.view.checksum()
    rebuild(runner, view)
    assert view.view.checksum() == live
