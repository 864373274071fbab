"""Ballots per second on one owners' vote as it fills, beside a raw row per transaction.

    python benchmarks/ballots.py [--units 2500] [--rounds 3] [--pg-url URL]

One community of --units units (first deposits paid, delivered, so each owner is a voter);
each round opens a new vote, every owner casts one ballot through FundLedger.cast_ballot,
one at a time, and the vote is closed and tallied. It prints, as medians over the rounds,
the time per ballot for each fifth of the electorate and the close, beside one raw INSERT
per transaction on a plain table measured in the same run (also a median of rounds), on a
throwaway PostgreSQL database it creates and drops.

What it shows: a ballot reads the vote's small state and the owner's roll entry and writes
its own stream (issue 16), so the last fifth costs what the first does; before, a ballot
loaded the whole Vote (the frozen electorate and every earlier ballot).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path
from statistics import median

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


def register_community(app: FundLedger, units: int) -> list[str]:
    """A community whose owners can all vote; returns the owners."""
    rows = [UnitRow(CODE, "Ballots", "110105", "110105001", str(n // 100), str(n % 100),
                    8_000 + n % 50 * 100, "register", [f"owner-{n}"]) for n in range(units)]
    app.register_units(rows, effective_date=date(2026, 1, 1), actor="bench")
    rate = app.settings.deposit_rate_fen_per_m2
    app.import_deposits([
        DepositLine(f"FD-{n}", CODE, r.building, r.unit,
                    first_deposit_due_fen(r.area_m2_hundredths, rate), date(2026, 1, 5), "first")
        for n, r in enumerate(rows)], actor="bench")
    app.deliver_units(community_code=CODE, delivered_on=date(2026, 1, 20), actor="bench")
    return [r.owner_ids[0] for r in rows]


def open_vote(app: FundLedger, reference: str) -> None:
    app.propose_vote(community_code=CODE, vote_reference=reference,
                     matter_kind="hire_enterprise", title="Hire a property service enterprise",
                     proposed_on=date(2026, 2, 1), actor="bench")
    app.publish_vote(community_code=CODE, vote_reference=reference,
                     published_on=date(2026, 2, 2), actor="bench")
    app.open_vote(community_code=CODE, vote_reference=reference, opened_on=date(2026, 2, 20),
                  actor="bench")


def raw_one_row_per_txn(url: str, table: str) -> float:
    with psycopg.connect(url) as conn:
        conn.execute(f"CREATE TABLE {table} (voter TEXT PRIMARY KEY, choice TEXT)")
        conn.commit()
        started = time.perf_counter()
        for n in range(RAW_ROWS):
            conn.execute(f"INSERT INTO {table} VALUES (%s, %s)", (f"v{n}", "agree"))
            conn.commit()
        return RAW_ROWS / (time.perf_counter() - started)


def one_round(app: FundLedger, owners: list[str], reference: str) -> tuple[list[float], float]:
    """Per-ballot seconds for each fifth of the electorate, and the close's seconds."""
    open_vote(app, reference)
    fifth = max(1, len(owners) // 5)
    fifths: list[float] = []
    last = time.perf_counter()
    for n, owner in enumerate(owners, start=1):
        app.cast_ballot(community_code=CODE, vote_reference=reference, owner_id=owner,
                        choice="agree", cast_on=date(2026, 2, 21))
        if n % fifth == 0 and len(fifths) < 5:
            now = time.perf_counter()
            fifths.append((now - last) / fifth)
            last = now
    started = time.perf_counter()
    result = app.close_vote(community_code=CODE, vote_reference=reference,
                            closed_on=date(2026, 2, 28), actor="bench")
    close_s = time.perf_counter() - started
    assert result.participating_heads == len(owners)
    return fifths, close_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=2_500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    with scratch_database(args.pg_url, "fundledger_ballots") as url:
        app = FundLedger(Settings(db=url))
        try:
            owners = register_community(app, args.units)
            rounds = []
            raws = []
            for r in range(args.rounds):
                rounds.append(one_round(app, owners, f"V-{r + 1}"))
                raws.append(raw_one_row_per_txn(url, f"raw_ballots_{r}"))
                fifths, close_s = rounds[-1]
                print(f"round {r + 1}: " + " ".join(f"{f * 1e3:.2f}" for f in fifths)
                      + f" ms/ballot by fifth; close {close_s:.2f} s; raw {raws[-1]:,.0f}/s")
        finally:
            app.close()
    fifths = [median(rnd[0][i] for rnd in rounds) for i in range(5)]
    close_s = median(rnd[1] for rnd in rounds)
    raw = median(raws)
    each = median(sum(rnd[0]) / 5 for rnd in rounds)
    print(f"one vote over {len(owners):,} voters, ballots one at a time; medians of "
          f"{args.rounds} rounds")
    for i, f in enumerate(fifths):
        print(f"  fifth {i + 1}: {f * 1e3:6.2f} ms per ballot ({1 / f:7.1f}/s)")
    print(f"  last fifth / first fifth: {fifths[4] / fifths[0]:.2f}x")
    print(f"  all ballots: {1 / each:,.1f}/s; raw 1 row/txn {raw:,.0f}/s = "
          f"{1 / each / raw:.1%}")
    print(f"  close and tally of {len(owners):,} ballots: {close_s:.2f} s")


if __name__ == "__main__":
    main()
