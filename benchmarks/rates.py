"""The three rates' reads at city scale, beside a raw read of the same rows, on PostgreSQL.

    python benchmarks/rates.py [--communities 10000] [--rounds 15] [--pg-url URL]

In a throwaway database it creates and drops, it fills the three-rates view's tables
directly (no events: building them through the log takes minutes per thousand communities,
and ``benchmarks/city.py`` does that) with --communities communities in 16 districts of 20
streets each, as ``city.py``'s city is laid out: six in ten with a committee (one in five of
those with a party branch, four in ten with party members; one in twenty dissolved), seven
in ten served by a contract (one in ten terminated) and one in five of the rest managing
themselves; and one to four dated history rows each between 2020 and 2026; then the view
decides their flags and keeps them with each street's counts and year changes (timed).
Then, for the city, one district and one street, the median of --rounds runs of:
  (a) the counts (``ThreeRatesProjection.rates``: ``GET /v1/rates``);
  (b) the communities with their flags (``communities``: the dashboard's rows and lacking);
  (c) the trend, seven year-ends (``trend``: ``GET /v1/rates/trend``, the dashboard's chart);
  (d) the officials' dashboard as ``/web/rates`` computes it (``api.web.rates.dashboard``);
beside the raw read: a plain ``SELECT`` of the place's communities' rows from the view's
table, and ``count(*)`` of them. Issue 20: the reads should not grow with the city.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg

# Run as `python benchmarks/rates.py`, this folder comes first on sys.path, and its api.py
# would shadow the package: take the folder off the path first.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

DISTRICTS, STREETS_PER_DISTRICT = 16, 20
YEAR = 2026


def place(n: int) -> tuple[str, str, str]:
    """Community n's code, district and street (interleaved, as city.py's are not: the
    order of the rows must not help the reads)."""
    district = n % DISTRICTS
    street = n // DISTRICTS % STREETS_PER_DISTRICT
    return (f"C{n:06d}", f"{110101 + district:06d}", f"{110101 + district:06d}{street + 1:03d}")


def fill(recorder: Any, url: str, communities: int) -> None:
    from projections import three_rates as tr
    from projections.three_rates_history import HISTORY

    table = {name: recorder.table(name).as_string() for name in (
        tr.COMMUNITIES, tr.SLOTS, tr.COMMITTEES, tr.PARTY, tr.CONTRACTS, tr.SELF_MANAGED,
        HISTORY)}
    chance = random.Random(20).random
    rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in table}
    for n in range(communities):
        code, district, street = place(n)
        community_id = uuid.uuid4().hex
        rows[tr.COMMUNITIES].append((community_id, code, district, street))
        if chance() < 0.6:
            reference = "OC-1"  # every community's first committee, by the same reference
            rows[tr.SLOTS].append((community_id, "owners_committee", reference))
            committee_id = uuid.uuid4()
            rows[tr.COMMITTEES].append((committee_id, code, reference, "owners_committee",
                                        chance() < 0.2, chance() < 0.05))
            if chance() < 0.4:
                rows[tr.PARTY].append((committee_id, f"m-{n}"))
        if chance() < 0.7:
            rows[tr.CONTRACTS].append((uuid.uuid4(), code, "K-1", chance() < 0.1))
        elif chance() < 0.2:
            rows[tr.SELF_MANAGED].append((community_id,))
        day = date(2020, 1, 1) + timedelta(days=int(chance() * 700))
        for _ in range(1 + int(chance() * 4)):
            rows[HISTORY].append((code, day, chance() < 0.6, chance() < 0.7, chance() < 0.3))
            day += timedelta(days=1 + int(chance() * 600))
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as curs:
        for name, values in rows.items():
            columns = " (community_id, community_code, district, street)" if (
                name == tr.COMMUNITIES) else ""
            with curs.copy(f"COPY {table[name]}{columns} FROM STDIN") as copy:
                for value in values:
                    copy.write_row(value)
        curs.execute("VACUUM (ANALYZE)")
    # Each community's flags and each street's counts, as the view keeps them: decided by
    # the view's own code, as for one batch registering every community.
    batch = tr.ThreeRatesBatch()
    batch.communities = [place(n) for n in range(communities)]
    started = time.perf_counter()
    with recorder.datastore.transaction(commit=True) as curs:
        recorder._write_kept(curs, batch, [code for code, _, _ in batch.communities], [],
                             rows[HISTORY])
    print(f"kept the flags, counts and year changes of {communities:,} communities (one "
          f"batch touching them all) in {time.perf_counter() - started:.1f} s")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def median_ms(rounds: int, action: Callable[[], object]) -> float:
    action()  # warm: plans and pages
    runs = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        runs.append(time.perf_counter() - started)
    return 1000 * statistics.median(runs)


def measure(view: Any, url: str, communities: int, rounds: int) -> None:
    _, district, street = place(7)
    print(f"three rates over {communities:,} communities ({DISTRICTS} districts of "
          f"{STREETS_PER_DISTRICT} streets), PostgreSQL, median of {rounds} runs, ms")
    print(f"{'place':<24}{'communities':>12}{'raw rows':>10}{'raw count':>10}{'counts':>9}"
          f"{'rows':>9}{'trend':>9}{'dashboard':>11}")
    with psycopg.connect(url, autocommit=True) as conn:
        for level, code in (("city", None), ("district", district), ("street", street)):
            print(measure_place(view, conn, level, code, rounds))


def measure_place(view: Any, conn: psycopg.Connection[Any], level: str, code: str | None,
                  rounds: int) -> str:
    """One line: the place's figures beside the raw reads of its rows."""
    from api.web.rates import dashboard
    from ledger.access import Scope
    from projections import three_rates as tr

    table = view.view.table(tr.COMMUNITIES).as_string()
    where, params = ("true", ()) if code is None else (f"{level} = %s", (code,))
    years = tr.trend_years(YEAR)
    city = Scope.parse("city")
    figures = [
        median_ms(rounds, lambda: conn.execute(
            f"SELECT community_code, district, street FROM {table} WHERE {where} "
            "ORDER BY district, street, community_code", params).fetchall()),
        median_ms(rounds, lambda: conn.execute(
            f"SELECT count(*) FROM {table} WHERE {where}", params).fetchone()),
        median_ms(rounds, lambda: view.rates(level, code, year=YEAR)),
        median_ms(rounds, lambda: view.communities(level, code)),
        median_ms(rounds, lambda: view.trend(level, code, years=years)),
        median_ms(rounds, lambda: dashboard(view, lambda codes: {}, city, level, code, YEAR)),
    ]
    counted = view.rates(level, code, year=YEAR).communities
    widths = (10, 10, 9, 9, 9, 11)
    return f"{level + ' ' + (code or ''):<24}{counted:>12,}" + "".join(
        f"{figure:>{width}.1f}" for figure, width in zip(figures, widths, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--communities", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    from ledger.application import FundLedger
    from ledger.persistence.scratch import scratch_database
    from ledger.settings import Settings
    from projections.runner import open_projection
    from projections.three_rates import ThreeRatesProjection

    with tempfile.TemporaryDirectory() as folder:
        os.environ.setdefault("FUNDLEDGER_SIGNING_KEY_FILE", str(Path(folder) / "bench.key"))
        with scratch_database(args.pg_url, "fundledger_bench") as url:
            app = FundLedger(Settings(db=url))
            try:
                view = open_projection(app, ThreeRatesProjection)
                started = time.perf_counter()
                fill(view.view, url, args.communities)
                print(f"filled the view in {time.perf_counter() - started:.1f} s")
                measure(view, url, args.communities, args.rounds)
            finally:
                app.close()


if __name__ == "__main__":
    main()
