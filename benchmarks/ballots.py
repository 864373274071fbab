"""Ballots per second on one owners' vote as it fills, beside a raw row per transaction.

    python benchmarks/ballots.py [--units 2500] [--pg-url URL]

One community of --units units (first deposits paid, delivered, so each owner is a voter)
opens a vote; then every owner casts one ballot through FundLedger.cast_ballot, one at a
time. It prints the time per ballot for each fifth of the electorate, beside one raw INSERT
per transaction on a plain table measured in the same run, on a throwaway PostgreSQL
database it creates and drops.

What it shows: a ballot loads the whole Vote aggregate (the electorate frozen when it opened
and every ballot cast so far), so its cost grows with the community and with the turnout,
and all ballots of one vote take turns on that one aggregate.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

import psycopg

# Run as `python benchmarks/ballots.py`, this folder comes first on sys.path, and its
# projections.py would shadow the package: take the folder off the path first.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from domain.unit_account import first_deposit_due_fen  # noqa: E402
from ledger.application import FundLedger  # noqa: E402
from ledger.commands import DepositLine, UnitRow  # noqa: E402
from ledger.persistence.scratch import scratch_database  # noqa: E402
from ledger.settings import Settings  # noqa: E402

CODE = "VOTE-1"
RAW_ROWS = 2_000


def open_vote(app: FundLedger, units: int) -> list[str]:
    """A community whose owners can all vote, and its vote opened; returns the owners."""
    rows = [UnitRow(CODE, "Ballots", "110105", "110105001", str(n // 100), str(n % 100),
                    8_000 + n % 50 * 100, "register", [f"owner-{n}"]) for n in range(units)]
    app.register_units(rows, effective_date=date(2026, 1, 1), actor="bench")
    rate = app.settings.deposit_rate_fen_per_m2
    app.import_deposits([
        DepositLine(f"FD-{n}", CODE, r.building, r.unit,
                    first_deposit_due_fen(r.area_m2_hundredths, rate), date(2026, 1, 5), "first")
        for n, r in enumerate(rows)], actor="bench")
    app.deliver_units(community_code=CODE, delivered_on=date(2026, 1, 20), actor="bench")
    app.propose_vote(community_code=CODE, vote_reference="V-1", matter_kind="hire_enterprise",
                     title="Hire a property service enterprise", proposed_on=date(2026, 2, 1),
                     actor="bench")
    app.publish_vote(community_code=CODE, vote_reference="V-1", published_on=date(2026, 2, 2),
                     actor="bench")
    app.open_vote(community_code=CODE, vote_reference="V-1", opened_on=date(2026, 2, 20),
                  actor="bench")
    return [r.owner_ids[0] for r in rows]


def raw_one_row_per_txn(url: str) -> float:
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE raw_ballots (voter TEXT PRIMARY KEY, choice TEXT)")
        conn.commit()
        started = time.perf_counter()
        for n in range(RAW_ROWS):
            conn.execute("INSERT INTO raw_ballots VALUES (%s, %s)", (f"v{n}", "agree"))
            conn.commit()
        return RAW_ROWS / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=2_500)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    fifth = max(1, args.units // 5)
    with scratch_database(args.pg_url, "fundledger_ballots") as url:
        app = FundLedger(Settings(db=url))
        try:
            owners = open_vote(app, args.units)
            print(f"one vote over {len(owners):,} voters; ballots cast one at a time")
            started = last = time.perf_counter()
            for n, owner in enumerate(owners, start=1):
                app.cast_ballot(community_code=CODE, vote_reference="V-1", owner_id=owner,
                                choice="agree", cast_on=date(2026, 2, 21))
                if n % fifth == 0 or n == len(owners):
                    now = time.perf_counter()
                    count = n % fifth or fifth
                    each_ms = (now - last) / count * 1e3
                    print(f"  ballots {n - count + 1:>6,}-{n:<6,} {each_ms:7.1f} ms each "
                          f"({count / (now - last):6.1f}/s)")
                    last = now
            total = time.perf_counter() - started
        finally:
            app.close()
        raw = raw_one_row_per_txn(url)
    print(f"all {len(owners):,} ballots: {len(owners) / total:,.1f}/s; raw 1 row/txn "
          f"{raw:,.0f}/s = {len(owners) / total / raw:.2%}")


if __name__ == "__main__":
    main()
