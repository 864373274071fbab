"""Events verified per second, beside the raw speed of reading the same events, on PostgreSQL.

    python benchmarks/verify.py [--events 200000] [--pg-url URL] [--db LEDGER_URL]

Without --db it writes at least --events events (units and four deposits each, through
FundLedger.register_units and import_deposits batches) into a throwaway database it creates
and drops; with --db it reuses that ledger as it is. Then, in the same run:
  (a) sealing the whole log from event one (projections.seal.sealer.seal), events/s;
  (b) the raw read: a plain psycopg SELECT of every event row in log order, fetched in
      10,000-row pages (keyset, as the verifier reads) and as one server-side cursor;
  (c) verify_ledger over the whole log and its checkpoint, events/s, beside (b): in one
      process, in two, and in its default (one per core less one for the database server,
      at most 8), the log split into ranges of positions.
Each figure is the fastest of --repeat runs; each verify run follows a run of the page read,
and its share is printed against those too (the load of a shared machine moves between
figures taken seconds apart).
Target (issue 20): (c) at no less than 0.6 of the page read.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

# Run as `python benchmarks/verify.py`, this folder comes first on sys.path, and its
# projections.py would shadow the package: take the folder off the path first.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

if TYPE_CHECKING:
    from ledger.application import FundLedger

DEPOSITS_PER_UNIT = 4
IMPORT_LINES_MAX = 50_000
UNITS_PER_COMMUNITY = 5_000
PAGE_ROWS = 10_000


def fill(app: FundLedger, units: int) -> None:
    from domain.unit_account import first_deposit_due_fen
    from ledger.commands import DepositLine, UnitRow

    rows = [UnitRow(f"V{n // UNITS_PER_COMMUNITY:03d}", "Bench", "D1", "S1",
                    str(n % UNITS_PER_COMMUNITY // 100), str(n % 100), 5_000 + n % 9_000,
                    "register", [f"o{n}"]) for n in range(units)]
    for start in range(0, len(rows), IMPORT_LINES_MAX):
        app.register_units(rows[start:start + IMPORT_LINES_MAX], effective_date=date(2026, 1, 1),
                           actor="bench")
    rate = app.settings.deposit_rate_fen_per_m2
    lines = [DepositLine(f"V-{n}-{round_}", r.community_code, r.building, r.unit,
                         first_deposit_due_fen(r.area_m2_hundredths, rate) if round_ == 0
                         else 10_000, date(2026, 1, 1) + timedelta(days=round_),
                         "first" if round_ == 0 else "top_up")
             for round_ in range(DEPOSITS_PER_UNIT) for n, r in enumerate(rows)]
    for start in range(0, len(lines), IMPORT_LINES_MAX):
        app.import_deposits(lines[start:start + IMPORT_LINES_MAX], actor="bench")


def timed(action: Callable[[], int]) -> tuple[int, float]:
    started = time.perf_counter()
    count = action()
    return count, time.perf_counter() - started


def raw_reads(app: FundLedger) -> tuple[Callable[[], int], Callable[[], int]]:
    """Plain psycopg reads of the events table: keyset pages, and one server-side cursor."""
    datastore: Any = app.recorder.datastore  # type: ignore[attr-defined]
    table = f'"{datastore.schema}"."{app.recorder.events_table_name}"'  # type: ignore[attr-defined]
    columns = "notification_id, originator_id, originator_version, topic, state"
    env = app.settings.eventsourcing_env()

    def connect() -> psycopg.Connection[Any]:
        return psycopg.connect(dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"],
                               port=env["POSTGRES_PORT"], user=env["POSTGRES_USER"],
                               password=env["POSTGRES_PASSWORD"])

    def pages() -> int:
        count, after = 0, -(2**63)
        with connect() as conn, conn.cursor() as curs:
            while True:
                curs.execute(f"SELECT {columns} FROM {table} WHERE notification_id > %s "
                             "ORDER BY notification_id LIMIT %s", (after, PAGE_ROWS),
                             binary=True, prepare=True)
                rows = curs.fetchall()
                if not rows:
                    return count
                count += len(rows)
                after = rows[-1][0]

    def cursor() -> int:
        count = 0
        with connect() as conn, conn.transaction(), \
                conn.cursor(name="bench", binary=True) as curs:
            curs.itersize = PAGE_ROWS
            curs.execute(f"SELECT {columns} FROM {table} ORDER BY notification_id")
            for _ in curs:
                count += 1
        return count

    return pages, cursor


class CpuClock:
    """CPU seconds spent by this process with its children (the forked walkers), and by the
    database server: its live processes plus what its postmaster collected from the backends
    that ended (a walker's connection ends with the walk). None for the server when it runs
    elsewhere (its data directory is not readable here)."""

    def __init__(self, app: FundLedger) -> None:
        env = app.settings.eventsourcing_env()
        self.postmaster: int | None = None
        try:
            with psycopg.connect(dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"],
                                 port=env["POSTGRES_PORT"], user=env["POSTGRES_USER"],
                                 password=env["POSTGRES_PASSWORD"]) as conn:
                row = conn.execute("SHOW data_directory").fetchone()
            assert row is not None
            self.postmaster = int((Path(row[0]) / "postmaster.pid").read_text().split()[0])
        except (OSError, psycopg.Error, ValueError):
            pass
        self.tick = os.sysconf("SC_CLK_TCK")

    def here(self) -> float:
        own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                              resource.RUSAGE_CHILDREN))
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    def server(self) -> float | None:
        if self.postmaster is None:
            return None
        ticks = 0
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # it ended meanwhile: the postmaster's children's time holds it
            pid, parent = int(proc.name), int(fields[1])
            if pid == self.postmaster:  # utime, stime, and its ended children's
                ticks += sum(int(f) for f in fields[11:15])
            elif parent == self.postmaster:
                ticks += int(fields[11]) + int(fields[12])
        return ticks / self.tick


def cpu_of(clock: CpuClock, action: Callable[[], int]) -> tuple[int, float, float | None]:
    """``action``'s count, and the CPU seconds it cost here and on the database server."""
    here, server = clock.here(), clock.server()
    count = action()
    after = clock.server()
    return count, clock.here() - here, (None if server is None or after is None
                                        else after - server)


def settle(app: FundLedger) -> None:
    """VACUUM ANALYZE and a CHECKPOINT: the fill's aftermath done before the figures (for
    every figure alike), as autovacuum does it some time after a bulk load."""
    env = app.settings.eventsourcing_env()
    with psycopg.connect(dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"],
                         port=env["POSTGRES_PORT"], user=env["POSTGRES_USER"],
                         password=env["POSTGRES_PASSWORD"], autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")


def measure(app: FundLedger, repeat: int = 3) -> None:
    from projections.seal.evidence import verify_ledger, verify_workers
    from projections.seal.sealer import make_checkpoint, open_sealer, seal

    sealer = open_sealer(app)
    if (sealer.view.max_tracking_id(app.name) or 0) == 0:
        count, seconds = timed(lambda: seal(app, sealer))
        print(f"{'seal (from event one)':<38}{count:>10,} events {count / seconds:>10,.0f}/s")
    else:
        seal(app, sealer)
    make_checkpoint(app, sealer)
    settle(app)
    pages, cursor = raw_reads(app)
    pages()  # warm the cache: every figure below reads warm
    raw_count, raw_s = best_of(repeat, pages)
    raw_rate = raw_count / raw_s
    print(f"{'raw SELECT, 10,000-row keyset pages':<38}{raw_count:>10,} events "
          f"{raw_rate:>10,.0f}/s")
    cursor_count, cursor_s = best_of(repeat, cursor)
    print(f"{'raw SELECT, one server-side cursor':<38}{cursor_count:>10,} events "
          f"{cursor_count / cursor_s:>10,.0f}/s")

    def verify(workers: int) -> int:
        report = verify_ledger(app, workers=workers)
        assert report.ok, report.problem
        return report.events

    clock = CpuClock(app)
    count, here, server = cpu_of(clock, pages)
    print(f"{'CPU a raw page read costs':<38}{1e6 * here / count:>10.2f} µs an event here, "
          + ("the server's not measured" if server is None
             else f"{1e6 * server / count:.2f} on the database server"))
    for workers in sorted({1, 2, verify_workers()}):
        # Each verify right after a raw page read: the machine's load moves both alike, and
        # the share is the fastest of each, side by side (as benchmarks/projections.py).
        best_raw, best_verify, count = float("inf"), float("inf"), 0
        for _ in range(repeat):
            beside_count, beside_s = timed(pages)
            count, seconds = timed(partial(verify, workers))
            best_raw, best_verify = min(best_raw, beside_s), min(best_verify, seconds)
        rate, beside = count / best_verify, beside_count / best_raw
        label = f"verify_ledger, {workers} process{'es' if workers > 1 else ''}"
        print(f"{label:<38}{count:>10,} events {rate:>10,.0f}/s "
              f"({rate / beside:.2f} of the raw page read beside it, {beside:,.0f}/s; "
              f"{rate / raw_rate:.2f} of raw above)")
        count, here, server = cpu_of(clock, partial(verify, workers))
        if server is not None:
            # With every core busy and nothing waited for, the walk could go no faster: the
            # machine's cores share the walk's CPU and the server's, and each walker, one
            # Python process, uses one core at most.
            cores = os.cpu_count() or 1
            ceiling = count * min(cores / (here + server), workers / here)
            print(f"{'':<38}CPU: {1e6 * here / count:.2f} µs an event in the walk, "
                  f"{1e6 * server / count:.2f} on the database server: on {cores} cores "
                  f"at most {ceiling:,.0f}/s = {ceiling / beside:.2f} of the page read")


def best_of(repeat: int, action: Callable[[], int]) -> tuple[int, float]:
    """The count and the shortest of ``repeat`` runs' times."""
    runs = [timed(action) for _ in range(repeat)]
    return runs[0][0], min(seconds for _, seconds in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--db", help="Reuse this ledger (a postgresql:// URL) as it is.")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each figure, the fastest kept (default 3)")
    args = parser.parse_args()
    from ledger.application import FundLedger
    from ledger.persistence.scratch import scratch_database
    from ledger.settings import Settings

    with tempfile.TemporaryDirectory() as folder:
        # A throwaway signing key: the benchmark must not make one in the working directory.
        os.environ.setdefault("FUNDLEDGER_SIGNING_KEY_FILE", str(Path(folder) / "bench.key"))
        if args.db:
            app = FundLedger(Settings(db=args.db))
            try:
                print(f"reusing {app.recorder.max_notification_id() or 0:,} events")
                measure(app, args.repeat)
            finally:
                app.close()
            return
        with scratch_database(args.pg_url, "fundledger_bench") as url:
            app = FundLedger(Settings(db=url))
            try:
                started = time.perf_counter()
                fill(app, -(-args.events // (1 + DEPOSITS_PER_UNIT)))
                print(f"wrote {app.recorder.max_notification_id() or 0:,} events in "
                      f"{time.perf_counter() - started:.1f} s (PostgreSQL)")
                measure(app, args.repeat)
            finally:
                app.close()


if __name__ == "__main__":
    main()
