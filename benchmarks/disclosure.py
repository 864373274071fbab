"""How long the publishable disclosure (F10) of a large community takes, beside a raw read of
the same rows.

    python benchmarks/disclosure.py [--units 5000] [--rounds 3] [--store sqlite|postgres]
                                    [--pg-url URL]

It writes one community of --units units (each registered, with a first deposit and a
top-up, and one emergency works withdrawal shared by every unit) into a throwaway ledger — an SQLite
file, or a scratch PostgreSQL database it creates and drops — then measures, in the same run:
  (a) the raw read: the community's unit-account event rows by a plain SELECT (sqlite3 or
      psycopg), no decoding: the floor any disclosure pays;
  (b) projections.history.disclosure: the same rows read and folded into the year's figures;
  (c) the printable HTML (api.render.disclosure_print.print_html);
  (d) the PDF (WeasyPrint), its pages and size (more than UNITS_PRINTED_MAX units print
      per building);
  (e) with --full, once: the PDF with every unit's line, as it was printed before;
each its p50 over --rounds.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

# Run as `python benchmarks/disclosure.py`, this folder comes first on sys.path, and its
# api.py would shadow the package: take the folder off the path first.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from api.render.disclosure_print import (  # noqa: E402
    UNITS_PRINTED_MAX,
    Issue,
    pdf_bytes,
    print_html,
)
from domain.unit_account import first_deposit_due_fen  # noqa: E402
from ledger.application import FundLedger  # noqa: E402
from ledger.commands import DepositLine, UnitRow, WithdrawalRequest  # noqa: E402
from ledger.settings import Settings  # noqa: E402
from projections.history.disclosure import disclosure  # noqa: E402
from projections.history.fund import unit_account_ids  # noqa: E402

CODE = "BIG-0001"
YEAR = 2026
DOORS_PER_BUILDING = 200


def fill(app: FundLedger, units: int) -> None:
    rows = [UnitRow(CODE, "大型社区", "110105", "110105003", str(n // DOORS_PER_BUILDING + 1),
                    f"{n % DOORS_PER_BUILDING // 4 + 1}{n % 4 + 1:02d}", 6_000 + n * 37 % 9_000,
                    "register", [f"owner-{n:06d}"]) for n in range(units)]
    app.register_units(rows, effective_date=date(YEAR, 1, 1), actor="bench")
    rate = app.settings.deposit_rate_fen_per_m2
    app.import_deposits([DepositLine(f"F-{n}", CODE, r.building, r.unit,
                                     first_deposit_due_fen(r.area_m2_hundredths, rate),
                                     date(YEAR, 1, 10), "first") for n, r in enumerate(rows)]
                        + [DepositLine(f"T-{n}", CODE, r.building, r.unit, 10_000,
                                       date(YEAR, 3, 10), "top_up")
                           for n, r in enumerate(rows)], actor="bench")
    app.declare_emergency(community_code=CODE, emergency_id="EM-BIG-1", category="roof_leak",
                          description="Rainstorm: every roof leaking", declared_on=date(YEAR, 6, 1),
                          actor="bench")
    app.withdraw(WithdrawalRequest(
        reference="WD-BIG-1", community_code=CODE, project="Emergency roof waterproofing",
        cost_kind="roof_waterproofing", invoice_fen=units * 50_000, paid_on=date(YEAR, 6, 2),
        buildings=sorted({r.building for r in rows}), emergency_id="EM-BIG-1"), actor="bench")


def raw_read(app: FundLedger) -> Callable[[], int]:
    """A plain SELECT of the community's unit-account event rows; returns the row count."""
    ids = list(unit_account_ids(app.community(CODE), sorted(app.community(CODE).units)).values())
    recorder: Any = app.recorder
    table = recorder.events_table_name
    if app.settings.db.startswith("postgresql"):
        import psycopg

        def read_pg() -> int:
            with psycopg.connect(app.settings.db) as conn:
                rows = conn.execute(
                    f"SELECT originator_id, originator_version, topic, state FROM {table} "
                    "WHERE originator_id = ANY(%s)", (ids,)).fetchall()
            return len(rows)
        return read_pg
    import sqlite3

    def read_sqlite() -> int:
        count = 0
        with sqlite3.connect(app.settings.db) as conn:
            for start in range(0, len(ids), 500):
                chunk = [i.hex for i in ids[start:start + 500]]
                count += len(conn.execute(
                    f"SELECT originator_id, originator_version, topic, state FROM {table} "
                    f"WHERE originator_id IN ({','.join('?' * len(chunk))})", chunk).fetchall())
        return count
    return read_sqlite


def timed(name: str, rounds: int, work: Callable[[], Any]) -> Any:
    seconds, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = work()
        seconds.append(time.perf_counter() - started)
    print(f"{name}: p50 {statistics.median(seconds) * 1000:,.0f} ms, "
          f"max {max(seconds) * 1000:,.0f} ms ({rounds} rounds)", flush=True)
    return result


def measure(app: FundLedger, rounds: int, full: bool) -> None:
    rows = timed("(a) raw SELECT of the unit-account events", rounds, raw_read(app))
    print(f"    {rows:,} rows")
    found = timed("(b) disclosure(): read and fold", rounds,
                  lambda: disclosure(app, CODE, YEAR))
    issue = Issue(issuer="基准测试", issued_on=date(YEAR, 12, 31),
                  log_position=app.recorder.max_notification_id() or 0, checkpoint=None,
                  fingerprint=None, proof_url="http://localhost/web/proofs?community=" + CODE,
                  details_url=f"http://localhost/web/disclosure.csv?community={CODE}")
    html = timed("(c) printable HTML", rounds, lambda: print_html(found, issue))
    pdf = timed("(d) PDF (WeasyPrint)", rounds, lambda: pdf_bytes(html))
    summed = len(found.units) > UNITS_PRINTED_MAX
    print(f"    {len(found.units):,} units ({'summed per building' if summed else 'in full'}), "
          f"{len(html) / 1e3:,.0f} kB of HTML, PDF {len(pdf) / 1e3:,.0f} kB, {_pages(pdf)} pages")
    if full and summed:
        html = print_html(found, issue, units_printed_max=len(found.units))
        pdf = timed("(e) PDF with every unit's line, as before", 1, lambda: pdf_bytes(html))
        print(f"    {len(html) / 1e3:,.0f} kB of HTML, PDF {len(pdf) / 1e3:,.0f} kB, "
              f"{_pages(pdf)} pages")


def _pages(pdf: bytes) -> str:
    """The page count as poppler's pdfinfo reads it (the PDF's objects are compressed)."""
    with tempfile.NamedTemporaryFile(suffix=".pdf") as file:
        file.write(pdf)
        file.flush()
        try:
            info = subprocess.run(["pdfinfo", file.name], capture_output=True, text=True,
                                  check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return "?"
    found = re.search(r"^Pages:\s+(\d+)", info, re.M)
    return found.group(1) if found else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--full", action="store_true",
                        help="Also print every unit's line, as before (slow: once).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.environ.setdefault("FUNDLEDGER_SIGNING_KEY_FILE", str(Path(folder) / "bench.key"))
        if args.store == "postgres":
            from ledger.persistence.scratch import scratch_database

            with scratch_database(args.pg_url, "fundledger_bench") as url:
                run(url, args.units, args.rounds, args.full)
        else:
            run(str(Path(folder) / "bench.db"), args.units, args.rounds, args.full)


def run(db: str, units: int, rounds: int, full: bool) -> None:
    app = FundLedger(Settings(db=db))
    try:
        started = time.perf_counter()
        fill(app, units)
        print(f"wrote {units:,} units' events ({app.recorder.max_notification_id() or 0:,} in "
              f"the log) in {time.perf_counter() - started:.1f} s", flush=True)
        measure(app, rounds, full)
    finally:
        app.close()


if __name__ == "__main__":
    main()
