"""Runners sharing a view, each reading pages of its own size, apply every event once.

A runner's page is refused when another runner has already applied any part of it, not only
when the whole page lies behind the view: otherwise a longer page overlapping a shorter one
applied the shorter one's events a second time.
"""

from __future__ import annotations

import threading

import pytest

from ledger.application import FundLedger
from projections.audit import AuditProjection
from projections.balance import BalanceProjection
from projections.runner import Runner, ViewOvertaken, open_projection
from tests.integration.test_projections import check_views, deposits, register


def test_a_page_another_runner_applied_in_part_is_refused_and_read_on(app: FundLedger) -> None:
    register(app)
    deposits(app, "FD", first=True)
    deposits(app, "TU", first=False)
    log = app.recorder.select_notifications(0, 100_000)
    assert len(log) > 4
    first, second = Runner(app), Runner(app)
    balance = open_projection(app, BalanceProjection)
    other_balance = open_projection(app, BalanceProjection)
    first.process_page(balance, log[: len(log) // 2])
    with pytest.raises(ViewOvertaken):
        second.process_page(other_balance, log)  # overlaps the page already applied
    assert second.catch_up(other_balance) > 0  # reads on from the view's position
    audit = open_projection(app, AuditProjection)
    first.catch_up(audit)
    check_views(app, balance, audit)


def test_runners_with_different_page_sizes_racing_apply_each_event_once(
        app: FundLedger) -> None:
    register(app)
    for n in range(4):
        deposits(app, f"R{n}", first=n == 0)
    errors: list[BaseException] = []

    def run(projection: BalanceProjection, size: int) -> None:
        try:
            Runner(app).catch_up(projection, batch_events_max=size)
        except BaseException as error:
            errors.append(error)

    # Each runner with its own recorder, as separate processes would have.
    threads = [threading.Thread(target=run, args=(open_projection(app, BalanceProjection), size))
               for size in (1, 3, 7, 50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    runner = Runner(app)
    balance, audit = open_projection(app, BalanceProjection), open_projection(app,
                                                                              AuditProjection)
    runner.catch_up(audit)
    check_views(app, balance, audit)
