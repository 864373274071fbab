"""Deposits per second over HTTP on PostgreSQL, beside the in-process and raw rates of the same run.

    python benchmarks/api.py [--clients 1 4 16] [--seconds 5] [--units 1600] [--communities 1]
                             [--workers 1] [--pg-url URL]

In a throwaway PostgreSQL database it creates and drops, it registers --units units (split
evenly over --communities communities) and posts their first deposits (one bank batch), then
for each concurrency level in --clients measures, for --seconds each, single top-ups of 100.00
yuan spread over the units so that concurrent writers rarely meet on one sub-account:
  (a) over HTTP: ``fundledger serve --no-follow-views [--workers N]`` on loopback, that
      many httpx.AsyncClient clients (one keep-alive connection each), every POST with its own
      Idempotency-Key; deposits per second and p50/p99 latency;
  (b) in-process: FundLedger.post_deposit called directly in this process on the same
      database, from that many threads;
  (c) raw: one INSERT per transaction into a plain table, from that many psycopg connections.
Every HTTP answer must be 201 and a fresh posting, and after each measurement the sub-accounts'
deposited totals must account for every deposit counted, or the run fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, TYPE_CHECKING

import psycopg

# This script is named like the package `api`: run as `python benchmarks/api.py` its folder
# comes first on sys.path and `import api` would import the script itself. So the folder is
# taken off the path, and the project is imported once that is done (as in projections.py).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

if TYPE_CHECKING:
    from ledger.application import FundLedger

ROOT = Path(__file__).resolve().parents[1]
Unit = tuple[str, str, str]  # community code, building, unit
TOP_UP_YUAN, TOP_UP_FEN = "100.00", 10_000
PAID_ON = date(2026, 6, 1)
WARMUP = 50  # untimed deposits through each path before its first level
SERVER_START_S = 60
RAW_TABLE = (
    "CREATE TABLE raw_deposits (reference TEXT PRIMARY KEY, community_code TEXT, "
    "building TEXT, unit TEXT, amount_fen BIGINT, paid_on TEXT, kind TEXT)"
)
RAW_INSERT = "INSERT INTO raw_deposits VALUES (%s,%s,%s,%s,%s,%s,%s)"


@dataclass
class Measured:
    """One path at one concurrency level: deposits counted, seconds, latencies, failures."""

    count: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def unit_keys(count: int, communities: int) -> list[Unit]:
    """Units in ``communities`` communities, interleaved: neighbours in the list differ."""
    return [(f"API-{n % communities:03d}", str(n // communities // 100 + 1),
             str(n // communities % 100 + 101)) for n in range(count)]


def prepare(app: FundLedger, units: list[Unit]) -> int:
    """Register the units and post their first deposits; returns the fen that deposited."""
    from domain.unit_account import first_deposit_due_fen
    from ledger.commands import DepositLine, UnitRow

    rows = [UnitRow(code, "Bench", "110105", "110105001", building, unit,
                    8_000 + n % 5_000, "register", [f"o{n}"])
            for n, (code, building, unit) in enumerate(units)]
    app.register_units(rows, effective_date=date(2026, 1, 1), actor="bench")
    rate = app.settings.deposit_rate_fen_per_m2
    lines = [DepositLine(f"F-{n}", r.community_code, r.building, r.unit,
                         first_deposit_due_fen(r.area_m2_hundredths, rate), date(2026, 1, 2),
                         "first", n + 1) for n, r in enumerate(rows)]
    return app.import_deposits(lines, actor="bench").total_fen


def deposited_fen(app: FundLedger, units: list[Unit]) -> int:
    from domain.ids import unit_account_id
    from ledger.loading import load_many

    accounts = load_many(app, [unit_account_id(*unit) for unit in units])
    assert len(accounts) == len(units), f"{len(accounts)} of {len(units)} sub-accounts found"
    return sum(int(a.deposited_fen) for a in accounts.values())


def run_threads(clients: int, seconds: float, work: Callable[[int, int], None]) -> Measured:
    """``work(worker, n)`` again and again from ``clients`` threads for ``seconds``."""
    measured = Measured()
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    deadline = 0.0

    def loop(worker: int) -> None:
        latencies: list[float] = []
        errors: list[str] = []
        start.wait()
        n = 0
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            try:
                work(worker, n)
            except Exception as error:  # counted and reported: the run then fails
                errors.append(f"{type(error).__name__}: {error}")
            else:
                latencies.append(time.perf_counter() - began)
            n += 1
        with lock:
            measured.latencies += latencies
            measured.errors += errors

    threads = [threading.Thread(target=loop, args=(w,)) for w in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline = began + seconds
    start.wait()
    for thread in threads:
        thread.join()
    measured.seconds = time.perf_counter() - began
    measured.count = len(measured.latencies)
    return measured


def measure_in_process(app: FundLedger, units: list[Unit], clients: int,
                       seconds: float, tag: str) -> Measured:
    from ledger.commands import DepositLine

    def deposit(worker: int, n: int) -> None:
        mine = units[worker::clients]
        code, building, unit = mine[n % len(mine)]
        posted = app.post_deposit(DepositLine(f"{tag}-{worker}-{n}", code, building, unit,
                                              TOP_UP_FEN, PAID_ON, "top_up"), actor="bench")
        if posted.already_posted:
            raise AssertionError(f"{posted.reference} was already posted")

    return run_threads(clients, seconds, deposit)


def measure_raw(url: str, clients: int, seconds: float, tag: str) -> Measured:
    connections = [psycopg.connect(url) for _ in range(clients)]
    try:
        def insert(worker: int, n: int) -> None:
            conn = connections[worker]
            conn.execute(RAW_INSERT, (f"{tag}-{worker}-{n}", "API-000", "1", "101", TOP_UP_FEN,
                                      PAID_ON.isoformat(), "top_up"))
            conn.commit()

        return run_threads(clients, seconds, insert)
    finally:
        for conn in connections:
            conn.close()


async def http_deposits(base: str, token: str, units: list[Unit], clients: int,
                        seconds: float | None, tag: str, count: int = 0) -> Measured:
    """``clients`` keep-alive clients posting top-ups for ``seconds`` (or ``count`` in all)."""
    import httpx

    measured = Measured()
    http = [httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=1),
                              headers={"Authorization": f"Bearer {token}"})
            for _ in range(clients)]

    async def worker(number: int, client: httpx.AsyncClient, deadline: float) -> None:
        mine = units[number::clients]
        n = 0
        while (time.perf_counter() < deadline if seconds is not None
               else n * clients + number < count):
            code, building, unit = mine[n % len(mine)]
            reference = f"{tag}-{number}-{n}"
            n += 1
            body = {"reference": reference, "building": building, "unit": unit,
                    "amount_yuan": TOP_UP_YUAN, "paid_on": PAID_ON.isoformat(),
                    "kind": "top_up"}
            began = time.perf_counter()
            try:
                response = await client.post(f"/v1/communities/{code}/deposits", json=body,
                                             headers={"Idempotency-Key": reference})
            except httpx.HTTPError as error:
                measured.errors.append(f"{reference}: {type(error).__name__}: {error}")
                continue
            latency = time.perf_counter() - began
            if response.status_code != 201:
                measured.errors.append(f"{reference}: {response.status_code} {response.text}")
            elif response.json().get("already_posted") is not False:
                measured.errors.append(f"{reference}: not a fresh posting: {response.text}")
            else:
                measured.latencies.append(latency)

    try:
        began = time.perf_counter()
        await asyncio.gather(*(worker(n, client, began + (seconds or 0))
                               for n, client in enumerate(http)))
        measured.seconds = time.perf_counter() - began
    finally:
        for client in http:
            await client.aclose()
    measured.count = len(measured.latencies)
    return measured


def worker_processes(pid: int) -> int:
    """uvicorn's worker processes: its spawned children (not multiprocessing's resource
    tracker), or the server process itself if it has none."""
    children = [c for task in Path(f"/proc/{pid}/task").iterdir()
                for c in (task / "children").read_text().split()]
    workers = [c for c in children
               if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
    return len(workers) or 1


def log_tail(log: IO[bytes], lines: int = 30) -> str:
    log.flush()
    return "\n".join(Path(log.name).read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(url: str, log: IO[bytes], workers: int) -> Iterator[tuple[str, str, int]]:
    """``fundledger serve`` on a free loopback port: its base URL, a custodian token, its pid."""
    import httpx

    env = {**os.environ, "FUNDLEDGER_DB": url, "FUNDLEDGER_ACTOR": "bench"}
    token = subprocess.run(
        [sys.executable, "-m", "ledger", "tokens", "create", "--role", "custodian", "--scope",
         "city", "--name", "api-bench"], env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=60, check=True).stdout.strip()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "ledger", "serve", "--port", str(port),
                               "--no-follow-views", "--workers", str(workers)], env=env,
                              cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                if httpx.get(f"{base}/docs", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise SystemExit("fundledger serve did not start:\n"
                                 + Path(log.name).read_text(errors="replace"))
            time.sleep(0.2)
        yield base, token, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


class Books:
    """The deposits each measurement counted, checked against what the sub-accounts hold."""

    def __init__(self, app: FundLedger, units: list[Unit], first_fen: int) -> None:
        self.app, self.units, self.expected_fen = app, units, first_fen

    def check(self, what: str, measured: Measured) -> None:
        self.expected_fen += measured.count * TOP_UP_FEN
        if measured.errors:
            shown = "\n  ".join(measured.errors[:10])
            raise SystemExit(f"{what}: {len(measured.errors)} of "
                             f"{len(measured.errors) + measured.count} deposits failed, e.g.\n"
                             f"  {shown}")
        found = deposited_fen(self.app, self.units)
        if found != self.expected_fen:
            raise SystemExit(f"{what}: the sub-accounts hold {found:,} fen of deposits, "
                             f"{self.expected_fen:,} expected from the deposits counted")


def row(label: str, m: Measured, note: str = "") -> str:
    return (f"  {label:<11}{m.rate:>9,.0f}/s  p50 {m.percentile_ms(0.50):>6.1f} ms  "
            f"p99 {m.percentile_ms(0.99):>6.1f} ms{note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16],
                        help="concurrency levels: HTTP clients, threads, raw connections")
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="measured seconds per path and level")
    parser.add_argument("--units", type=int, default=1_600)
    parser.add_argument("--communities", type=int, default=1,
                        help="communities the units are split over")
    parser.add_argument("--workers", type=int, default=1,
                        help="the server's worker processes (fundledger serve --workers)")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    from ledger.persistence.scratch import scratch_database

    if min(args.clients) < 1 or not 1 <= args.communities <= args.units:
        parser.error("--clients and --communities must be at least 1, --communities at most "
                     "--units")
    if args.units < max(args.clients):
        parser.error("--units must be at least the largest --clients")
    from ledger.application import FundLedger
    from ledger.settings import Settings

    units = unit_keys(args.units, args.communities)
    where = ("one community" if args.communities == 1
             else f"{args.communities} communities")
    print(f"api benchmark on PostgreSQL: {args.units:,} units in {where}, single "
          f"top-ups of {TOP_UP_YUAN} yuan, {args.seconds:g} s per path and level")
    with scratch_database(args.pg_url, "fundledger_bench") as url, tempfile.NamedTemporaryFile(
            prefix="fundledger-serve-", suffix=".log") as log:
        app = FundLedger(Settings(db=url))
        try:
            books = Books(app, units, prepare(app, units))
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(RAW_TABLE)
            results: dict[int, dict[str, Measured]] = {c: {} for c in args.clients}

            books.check("in-process warm-up", measure_in_process(app, units, 1, 0.5, "WI"))
            for clients in args.clients:
                measured = measure_in_process(app, units, clients, args.seconds, f"I{clients}")
                books.check(f"in-process, {clients} threads", measured)
                results[clients]["in-process"] = measured
            measure_raw(url, 1, 0.5, "WR")
            for clients in args.clients:
                results[clients]["raw"] = measure_raw(url, clients, args.seconds, f"R{clients}")
                if results[clients]["raw"].errors:
                    raise SystemExit(f"raw inserts failed: {results[clients]['raw'].errors[:5]}")

            with served(url, log, args.workers) as (base, token, pid):
                workers = worker_processes(pid)
                try:
                    warm = asyncio.run(http_deposits(base, token, units, 1, None, "WH", WARMUP))
                    books.check("HTTP warm-up", warm)
                    for clients in args.clients:
                        measured = asyncio.run(http_deposits(base, token, units, clients,
                                                             args.seconds, f"H{clients}"))
                        books.check(f"HTTP, {clients} clients", measured)
                        results[clients]["HTTP"] = measured
                except SystemExit as failed:
                    raise SystemExit(f"{failed.code}\nthe server's log ends:\n{log_tail(log)}"
                                     ) from None
        finally:
            app.close()

    pool = Settings(db=args.pg_url).pg_pool_size
    print(f"server: `fundledger serve --no-follow-views`, {workers} uvicorn worker process"
          f"{'es' if workers > 1 else ''} (routes on its thread pool; FundLedger pool of "
          f"{pool}+{pool} overflow connections), access log on; the HTTP clients run in this "
          "process")
    print(f"every deposit checked: {books.expected_fen:,} fen deposited in all, as counted")
    for clients in args.clients:
        http, in_process, raw = (results[clients][k] for k in ("HTTP", "in-process", "raw"))
        plural = "s" if clients > 1 else ""
        print(f"{clients} client{plural} / thread{plural} / connection{plural}")
        print(row("HTTP", http, f"   = {http.rate / in_process.rate:6.1%} of in-process, "
                                f"{http.rate / raw.rate:6.1%} of raw"))
        print(row("in-process", in_process, "   FundLedger.post_deposit"))
        print(row("raw", raw, "   1 INSERT per transaction, plain table"))


if __name__ == "__main__":
    main()
