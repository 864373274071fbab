"""Deposits per second through the ledger, beside raw-database ceilings from the same run.

    python benchmarks/deposits.py [--lines 100000] [--singles 2000] [--rounds 3] [--pg-url URL]

For each store (SQLite, then PostgreSQL) it measures
  (a) single postings through FundLedger.post_deposit, beside one raw row per transaction;
  (b) one bank batch of --lines lines through FundLedger.import_deposits (one transaction),
      beside raw executemany in 1,000-row transactions on a plain table.
Each round measures the ledger and then its raw ceilings on fresh databases, one right after
the other, and prints its figures; the summary gives the median of each figure and of each
round's share of raw. (On a shared virtual machine one run can be slowed by a third while
the next is not; a share taken within a round, and the median over rounds, says more than
one run.) The PostgreSQL rounds use throwaway databases created and dropped here.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from domain.unit_account import first_deposit_due_fen
from ledger.application import FundLedger
from ledger.commands import DepositLine, UnitRow
from ledger.persistence.scratch import scratch_database
from ledger.settings import Settings

LINES_PER_UNIT = 4  # a first deposit and three top-ups: bank files repeat accounts
RAW_CHUNK = 1_000
RAW_TABLE = (
    "CREATE TABLE raw_deposits (reference TEXT PRIMARY KEY, community_code TEXT, "
    "building TEXT, unit TEXT, amount_fen BIGINT, paid_on TEXT, kind TEXT)"
)


def units(count: int) -> list[UnitRow]:
    rng = random.Random(7)
    per_community = 5_000
    return [
        UnitRow(f"B{n // per_community:03d}", "Bench", "110105", "110105001",
                str(n % per_community // 100), str(n % 100), rng.randint(4500, 16000),
                "register", [f"o{n}"])
        for n in range(count)
    ]


def batch(rows: list[UnitRow], rate: int, tag: str) -> list[DepositLine]:
    lines: list[DepositLine] = []
    day = date(2026, 1, 1)
    for round_ in range(LINES_PER_UNIT):
        for n, r in enumerate(rows):
            kind = "first" if round_ == 0 else "top_up"
            amount = first_deposit_due_fen(r.area_m2_hundredths, rate) if round_ == 0 else 10_000
            lines.append(DepositLine(f"{tag}-{n}-{round_}", r.community_code, r.building,
                                     r.unit, amount, day + timedelta(days=round_), kind,
                                     len(lines) + 2))
    return lines


def rate_per_s(count: int, seconds: float) -> str:
    return f"{count / seconds:>10,.0f}/s"


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure_ledger(db: str, lines_count: int, singles: int) -> tuple[float, float]:
    app = FundLedger(Settings(db=db))
    try:
        rows = units(lines_count // LINES_PER_UNIT)
        app.register_units(rows, effective_date=date(2026, 1, 1), actor="bench")
        lines = batch(rows, app.settings.deposit_rate_fen_per_m2, "L")
        batch_s = timed(lambda: app.import_deposits(lines, actor="bench"))
        rng = random.Random(1)
        picks = [rng.choice(rows) for _ in range(singles)]
        started = time.perf_counter()
        for n, r in enumerate(picks):
            app.post_deposit(DepositLine(f"S-{n}", r.community_code, r.building, r.unit, 100,
                                         date(2026, 6, 1), "top_up"), actor="bench")
        single_s = time.perf_counter() - started
        return len(lines) / batch_s, singles / single_s
    finally:
        app.close()


class _Counter(Aggregate):
    def __init__(self) -> None:
        self.count = 0

    @event("Incremented")
    def increment(self) -> None:
        self.count += 1


def measure_library_single(db: str, saves: int) -> float:
    """eventsourcing's own one-event-per-save rate on the same store: the floor under (a)."""
    app: Application[Any] = Application(env=Settings(db=db).eventsourcing_env()
                                        | {"IS_SNAPSHOTTING_ENABLED": "n"})
    try:
        counter = _Counter()
        app.save(counter)
        started = time.perf_counter()
        for _ in range(saves):
            counter.increment()
            app.save(counter)
        return saves / (time.perf_counter() - started)
    finally:
        app.close()


def raw_rows(count: int) -> list[tuple[str, str, str, str, int, str, str]]:
    return [(f"R-{n}", "B000", str(n % 50), str(n % 100), 10_000, "2026-01-01", "top_up")
            for n in range(count)]


def measure_raw_sqlite(path: Path, lines_count: int, singles: int) -> tuple[float, float]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(RAW_TABLE)
    rows = raw_rows(lines_count + singles)
    insert = "INSERT INTO raw_deposits VALUES (?,?,?,?,?,?,?)"

    def many() -> None:
        for start in range(0, lines_count, RAW_CHUNK):
            conn.execute("BEGIN")
            conn.executemany(insert, rows[start:start + RAW_CHUNK])
            conn.execute("COMMIT")

    def one_by_one() -> None:
        for row in rows[lines_count:]:
            conn.execute("BEGIN")
            conn.execute(insert, row)
            conn.execute("COMMIT")

    many_s, single_s = timed(many), timed(one_by_one)
    conn.close()
    return lines_count / many_s, singles / single_s


def measure_raw_pg(url: str, lines_count: int, singles: int) -> tuple[float, float]:
    with psycopg.connect(url) as conn:
        conn.execute(RAW_TABLE)
        conn.commit()
        rows = raw_rows(lines_count + singles)
        insert = "INSERT INTO raw_deposits VALUES (%s,%s,%s,%s,%s,%s,%s)"

        def many() -> None:
            with conn.cursor() as cur:
                for start in range(0, lines_count, RAW_CHUNK):
                    cur.executemany(insert, rows[start:start + RAW_CHUNK])
                    conn.commit()

        def one_by_one() -> None:
            with conn.cursor() as cur:
                for row in rows[lines_count:]:
                    cur.execute(insert, row)
                    conn.commit()

        return lines_count / timed(many), singles / timed(one_by_one)


Figures = tuple[float, float, float, float, float]  # batch, single, raw many, raw 1, library


def report(label: str, figures: Figures) -> None:
    batch_rate, single_rate, raw_many, raw_single, library_single = figures
    print(f"{label:<18} (a) single posting {single_rate:>7,.0f}/s   raw 1 row/txn "
          f"{raw_single:>7,.0f}/s = {single_rate / raw_single:6.1%}   (eventsourcing alone, "
          f"1 event/save: {library_single:,.0f}/s)")
    print(f"{label:<18} (b) bank batch     {batch_rate:>7,.0f}/s   raw executemany "
          f"{raw_many:>7,.0f}/s = {batch_rate / raw_many:6.1%}")


def summarize(store: str, rounds: list[Figures]) -> None:
    columns = zip(*rounds, strict=True)
    medians = cast(Figures, tuple(statistics.median(column) for column in columns))
    report(f"{store} median", medians)
    single_shares = sorted(r[1] / r[3] for r in rounds)
    batch_shares = sorted(r[0] / r[2] for r in rounds)
    print(f"{store} shares of raw by round: single "
          f"{', '.join(f'{x:.1%}' for x in single_shares)}; batch "
          f"{', '.join(f'{x:.1%}' for x in batch_shares)} "
          f"(medians {statistics.median(single_shares):.1%}, "
          f"{statistics.median(batch_shares):.1%})")


def sqlite_round(lines: int, singles: int) -> Figures:
    with tempfile.TemporaryDirectory() as folder:
        batch_rate, single_rate = measure_ledger(str(Path(folder) / "bench.db"), lines, singles)
        raw_many, raw_single = measure_raw_sqlite(Path(folder) / "raw.db", lines, singles)
        library = measure_library_single(str(Path(folder) / "lib.db"), singles)
    return batch_rate, single_rate, raw_many, raw_single, library


def postgres_round(pg_url: str, lines: int, singles: int) -> Figures:
    with scratch_database(pg_url, "fundledger_bench") as url:
        batch_rate, single_rate = measure_ledger(url, lines, singles)
        raw_many, raw_single = measure_raw_pg(url, lines, singles)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA library")  # its own tables, apart from the ledger's
        library = measure_library_single(f"{url}?schema=library", singles)
    return batch_rate, single_rate, raw_many, raw_single, library


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--singles", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    print(f"deposits benchmark: batch of {args.lines:,} lines, {args.singles:,} single "
          f"postings, {args.rounds} rounds")
    sqlite_rounds: list[Figures] = []
    pg_rounds: list[Figures] = []
    for number in range(1, args.rounds + 1):
        sqlite_rounds.append(sqlite_round(args.lines, args.singles))
        report(f"SQLite round {number}", sqlite_rounds[-1])
        pg_rounds.append(postgres_round(args.pg_url, args.lines, args.singles))
        report(f"PostgreSQL round {number}", pg_rounds[-1])
    summarize("SQLite", sqlite_rounds)
    summarize("PostgreSQL", pg_rounds)


if __name__ == "__main__":
    main()
