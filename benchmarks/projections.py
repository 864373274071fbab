"""Catch-up speed of each view, beside the raw notification read speed, on PostgreSQL.

    python benchmarks/projections.py [--units 50000] [--pg-url URL] [--batch N] [--repeat 3]

Writes --units units and four deposits each (so 5 × units events and more) through
FundLedger.register_units and FundLedger.import_deposits batches into a throwaway database
it creates and drops, then in the same run measures
  (a) eventsourcing's raw read: the library's ``PostgresApplicationRecorder.
      select_notifications``, whole log (the issue's baseline), in pages of --batch and of
      1,000 (the faster of the two is the baseline: a larger page is not always faster to
      read, and the baseline must not be the slower one);
  (b) the same pages through our recorder's ``select_notifications`` (tuple rows in binary
      format: what every view reads through), and those decoded to domain events;
  (c) each view's catch-up from event one, as ``fundledger projections rebuild`` does it:
      --batch events (default: the runner's own on PostgreSQL, ``BATCH_EVENTS_MAX``) and
      one tracking position per transaction, the view's read indexes built at the end
      (projections.runner.rebuild).
Each figure is the fastest of --repeat runs; each view's runs alternate with runs of (a),
and its share is printed against those too (on a shared machine the load moves between
figures taken a minute apart). Target (issue 20): balance and audit at no less than half
of (a). Each view is shown against
(b) too, so the share its own work takes is plain. The log is vacuumed and checkpointed
before anything is measured, so autovacuum cleaning up after the fill does not run during
one figure and not another.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

# This script is named like the package it measures: run as `python benchmarks/projections.py`
# its folder comes first on sys.path and `import projections` would import the script itself.
# So the folder is taken off the path, and the project is imported once that is done.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

if TYPE_CHECKING:
    from ledger.application import FundLedger
    from ledger.commands import UnitRow

DEPOSITS_PER_UNIT = 4
IMPORT_LINES_MAX = 50_000
UNITS_PER_COMMUNITY = 5_000


def unit_rows(count: int) -> list[UnitRow]:
    from ledger.commands import UnitRow

    return [UnitRow(f"P{n // UNITS_PER_COMMUNITY:03d}", "Bench",
                    f"D{n // UNITS_PER_COMMUNITY % 3}", f"S{n // UNITS_PER_COMMUNITY % 7}",
                    str(n % UNITS_PER_COMMUNITY // 100), str(n % 100), 5_000 + n % 9_000,
                    "register", [f"o{n}"]) for n in range(count)]


def fill(app: FundLedger, units: int) -> None:
    from domain.unit_account import first_deposit_due_fen
    from ledger.commands import DepositLine

    rows = unit_rows(units)
    for start in range(0, len(rows), IMPORT_LINES_MAX):
        app.register_units(rows[start:start + IMPORT_LINES_MAX], effective_date=date(2026, 1, 1),
                           actor="bench")
    rate = app.settings.deposit_rate_fen_per_m2
    lines = [DepositLine(f"L-{n}-{round_}", r.community_code, r.building, r.unit,
                         first_deposit_due_fen(r.area_m2_hundredths, rate) if round_ == 0
                         else 10_000, date(2026, 1, 1) + timedelta(days=round_),
                         "first" if round_ == 0 else "top_up")
             for round_ in range(DEPOSITS_PER_UNIT) for n, r in enumerate(rows)]
    for start in range(0, len(lines), IMPORT_LINES_MAX):
        app.import_deposits(lines[start:start + IMPORT_LINES_MAX], actor="bench")


RAW_PAGE = 1_000  # the library's read in pages of this size too (see (a) above)


def read_all(app: FundLedger, page_size: int, *, library: bool = False,
             decode: bool = False) -> int:
    from eventsourcing.postgres import PostgresApplicationRecorder

    from ledger.persistence.transcoder import event_decoder

    select = (partial(PostgresApplicationRecorder.select_notifications, app.recorder)
              if library else app.recorder.select_notifications)
    to_event = event_decoder(app.mapper)
    count, start = 0, 0
    while page := select(start, page_size, inclusive_of_start=False):
        if decode:
            for notification in page:
                to_event(notification)
        count += len(page)
        start = page[-1].id
    return count


def timed(action: Callable[[], int], repeat: int = 1) -> tuple[int, float]:
    """The count and the shortest of ``repeat`` runs' times: on a shared machine the least
    disturbed run, and the same rule for every figure, so their ratios stay fair."""
    best = float("inf")
    count = 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = action()
        best = min(best, time.perf_counter() - started)
    return count, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=None,
                        help="events per page and transaction (default: the runner's)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each figure, the fastest kept (default 3)")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    from ledger.application import FundLedger
    from ledger.persistence.scratch import scratch_database
    from ledger.settings import Settings

    with scratch_database(args.pg_url, "fundledger_bench") as url:
        app = FundLedger(Settings(db=url))
        try:
            started = time.perf_counter()
            fill(app, args.units)
            last = app.recorder.max_notification_id() or 0
            print(f"wrote {last:,} events in {time.perf_counter() - started:.1f} s "
                  f"(PostgreSQL, {args.units:,} units)")
            settle(url)
            from projections.runner import BATCH_EVENTS_MAX
            measure(app, args.batch or BATCH_EVENTS_MAX, args.repeat)
        finally:
            app.close()


def settle(url: str) -> None:
    """VACUUM ANALYZE and a CHECKPOINT: the fill's aftermath done before the figures."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")


def measure(app: FundLedger, batch: int, repeat: int = 3) -> None:
    from projections.runner import Runner, open_projection, rebuild
    from projections.views import VIEWS

    read_all(app, batch)  # warm the cache: every figure below reads warm
    pages = sorted({RAW_PAGE, batch})

    def raw_read() -> tuple[int, float]:
        """The library's read in the page size it reads faster (the shorter time)."""
        return min((timed(partial(read_all, app, size, library=True)) for size in pages),
                   key=lambda run: run[1])

    raw_count, raw_s = min((raw_read() for _ in range(repeat)), key=lambda run: run[1])
    raw_rate = raw_count / raw_s
    print(f"{'raw select_notifications (library)':<36}{raw_count:>10,} events "
          f"{raw_rate:>10,.0f}/s (the faster of pages of {' and '.join(f'{p:,}' for p in pages)})")
    ours_count, ours_s = timed(lambda: read_all(app, batch), repeat)
    ours_rate = ours_count / ours_s
    print(f"{'  our recorder select_notifications':<36}{ours_count:>10,} events "
          f"{ours_rate:>10,.0f}/s")
    decoded_count, decoded_s = timed(lambda: read_all(app, batch, decode=True), repeat)
    print(f"{'    + decoded to domain events':<36}{decoded_count:>10,} events "
          f"{decoded_count / decoded_s:>10,.0f}/s")
    runner = Runner(app)
    for view_name, view_class in VIEWS.items():
        projection = open_projection(app, view_class)
        # Each run of the view right after a run of the raw read: the machine's load moves
        # both alike, and the view's share of raw is the fastest of each, side by side.
        best_raw, best_view, count = float("inf"), float("inf"), 0
        for _ in range(repeat):
            raw_count, raw_s = raw_read()
            count, seconds = timed(partial(rebuild, runner, projection,
                                           batch_events_max=batch))
            best_raw, best_view = min(best_raw, raw_s), min(best_view, seconds)
        rate, beside = count / best_view, raw_count / best_raw
        assert runner.position(projection) == app.recorder.max_notification_id()
        print(f"{'view ' + view_name + ' catch-up':<36}{count:>10,} events {rate:>10,.0f}/s "
              f"({rate / beside:.2f} of the raw read beside it, {beside:,.0f}/s; "
              f"{rate / raw_rate:.2f} of raw above, {rate / ours_rate:.2f} of our read; "
              f"{batch:,} events per transaction)")


if __name__ == "__main__":
    main()
