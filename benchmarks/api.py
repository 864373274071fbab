"""Deposits and ballots per second over HTTP, beside the same in-process and a raw baseline.

    python benchmarks/api.py [--clients 1 4 16] [--voters 16] [--seconds 5] [--rounds 3]
                             [--units 1600] [--communities 1] [--workers 1]
                             [--baseline DIR] [--pg-url URL]

In a throwaway PostgreSQL database it creates and drops, it registers --units units (split
evenly over --communities communities), posts their first deposits (one bank batch) and
delivers them, so every owner votes. Then, each round, for each concurrency level in
--clients it measures, for --seconds each, single top-ups of 100.00 yuan spread over the
units so that concurrent writers rarely meet on one sub-account:
  (a) over HTTP: ``fundledger serve --no-follow-views [--workers N]`` on loopback, that
      many client threads (http.client, one keep-alive connection each), every POST with its own
      Idempotency-Key; deposits per second and p50/p99 latency;
  (b) in-process: FundLedger.post_deposit called directly in this process on the same
      database, from that many threads;
  (c) raw: one INSERT per transaction into a plain table, from that many psycopg connections;
  (d) the bare route: the same requests to FastAPI with nothing of fundledger behind it
      (``bare_route.py``: the route's shape, no database), under the same uvicorn.
At one client it also times, in-process, the token lookup and the storing of a response the
API does around the command, and prints where one HTTP deposit's time goes.
And for each level in --voters, ballots on one owners' vote (a new vote for each path), each
voter casting their own: over HTTP with their own owner token (``POST /v1/votes/{id}/ballots``)
and in-process through FundLedger.cast_ballot from that many threads.
With --baseline DIR (a checkout of the code to compare with, e.g. ``git worktree add DIR
main``) the HTTP paths are measured on that code's server too, with uvicorn's pure-Python
stack (h11, asyncio), alternating with this code's server within each round.
Every HTTP answer must be 201 and fresh (no 409 or 5xx, even from voters' contention), and
after each measurement the sub-accounts' deposited totals and the vote's ballots must
account for every deposit and ballot counted, or the run fails. It prints each round, then
the medians over the rounds of the rates and of each round's ratios.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from statistics import median
from typing import IO, TYPE_CHECKING
from uuid import UUID

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
CAST_ON = date(2026, 7, 21)
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


def run_threads(clients: int, seconds: float, work: Callable[[int, int], bool]) -> Measured:
    """``work(worker, n)`` again and again from ``clients`` threads for ``seconds``, or
    until it returns False (it had nothing left to do: not counted)."""
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
                if not work(worker, n):
                    break
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

    def deposit(worker: int, n: int) -> bool:
        mine = units[worker::clients]
        code, building, unit = mine[n % len(mine)]
        posted = app.post_deposit(DepositLine(f"{tag}-{worker}-{n}", code, building, unit,
                                              TOP_UP_FEN, PAID_ON, "top_up"), actor="bench")
        if posted.already_posted:
            raise AssertionError(f"{posted.reference} was already posted")
        return True

    return run_threads(clients, seconds, deposit)


def measure_raw(url: str, clients: int, seconds: float, tag: str) -> Measured:
    connections = [psycopg.connect(url) for _ in range(clients)]
    try:
        def insert(worker: int, n: int) -> bool:
            conn = connections[worker]
            conn.execute(RAW_INSERT, (f"{tag}-{worker}-{n}", "API-000", "1", "101", TOP_UP_FEN,
                                      PAID_ON.isoformat(), "top_up"))
            conn.commit()
            return True

        return run_threads(clients, seconds, insert)
    finally:
        for conn in connections:
            conn.close()


def measure_access(app: FundLedger, token: str, seconds: float, tag: str) -> Round:
    """What the API does around the command, here in-process from one thread: its token and
    stored-response lookup (one query), and storing a response (one INSERT, committed), the
    response as long as a deposit's."""
    from ledger.access import token_digest
    from ledger.persistence.access_tables import StoredResponse, open_access_tables

    tables = open_access_tables(app.recorder)
    digest = token_digest(token)
    body = json.dumps({"reference": "H0-1-1-0", "community_code": "API-000", "building": "1",
                       "unit": "101", "amount_fen": TOP_UP_FEN, "balance_fen": 1_234_567,
                       "already_posted": False, "position": 123_456}).encode() * 2

    def look_up(worker: int, n: int) -> bool:
        principal, _ = tables.principal_and_response(digest, f"A{tag}-{n}")
        if principal is None:
            raise AssertionError("the custodian's token was not found")
        return True

    def store(worker: int, n: int) -> bool:
        if not tables.store_response(StoredResponse(f"bench/A{tag}-{n}", "digest", 201, body,
                                                    n)):
            raise AssertionError(f"bench/A{tag}-{n} was already stored")
        return True

    found = {"token lookup": run_threads(1, seconds, look_up),
             "response stored": run_threads(1, seconds, store)}
    for what, m in found.items():
        if m.errors:
            raise SystemExit(f"{what} failed: {m.errors[:5]}")
    return found


class KeepAlive:
    """One client's keep-alive connection, on the standard library's http.client: the
    client's own work per request stays small beside the server's (httpx's AsyncClient
    cost about 1.5 ms a request here, counted against the server before)."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def post(self, path: str, body: dict[str, str], headers: dict[str, str]) -> tuple[int, bytes]:
        self.conn.request("POST", path, body=json.dumps(body),
                          headers={**headers, "Content-Type": "application/json"})
        response = self.conn.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.conn.close()


def http_deposits(base: str, token: str, units: list[Unit], clients: int,
                  seconds: float | None, tag: str, count: int = 0) -> Measured:
    """``clients`` keep-alive clients posting top-ups for ``seconds`` (or ``count`` in all)."""
    http = [KeepAlive(base) for _ in range(clients)]

    def deposit(worker: int, n: int) -> bool:
        if seconds is None and n * clients + worker >= count:
            return False
        mine = units[worker::clients]
        code, building, unit = mine[n % len(mine)]
        reference = f"{tag}-{worker}-{n}"
        status, body = http[worker].post(
            f"/v1/communities/{code}/deposits",
            {"reference": reference, "building": building, "unit": unit,
             "amount_yuan": TOP_UP_YUAN, "paid_on": PAID_ON.isoformat(), "kind": "top_up"},
            {"Authorization": f"Bearer {token}", "Idempotency-Key": reference})
        if status != 201:
            raise AssertionError(f"{reference}: {status} {body!r}")
        if json.loads(body).get("already_posted") is not False:
            raise AssertionError(f"{reference}: not a fresh posting: {body!r}")
        return True

    try:
        return run_threads(clients, seconds if seconds is not None else 3600.0, deposit)
    finally:
        for client in http:
            client.close()


def voters_of(units: list[Unit], code: str) -> list[str]:
    """The owners of ``code``'s units (``prepare`` names unit n's owner ``o<n>``)."""
    return [f"o{n}" for n, unit in enumerate(units) if unit[0] == code]


def deliver(app: FundLedger, units: list[Unit]) -> None:
    for code in sorted({unit[0] for unit in units}):
        app.deliver_units(community_code=code, delivered_on=date(2026, 1, 20), actor="bench")


def owner_tokens(app: FundLedger, voters: list[str]) -> dict[str, str]:
    """Each voter's own owner token (scope ``owner:<id>``), as ``fundledger tokens create``
    makes them, stored directly: a CLI process per voter would take minutes."""
    from ledger.access import Principal, Role, Scope, new_token, token_digest
    from ledger.persistence.access_tables import open_access_tables

    tables = open_access_tables(app.recorder)
    tokens = {}
    for voter in voters:
        token, token_id = new_token()
        tables.add_token(token_digest(token), Principal(
            f"voter-{voter}", Role.owner, Scope.parse(f"owner:{voter}"), token_id))
        tokens[voter] = token
    return tokens


def open_vote(app: FundLedger, code: str, reference: str) -> UUID:
    from domain.ids import vote_id

    app.propose_vote(community_code=code, vote_reference=reference,
                     matter_kind="hire_enterprise", title="Hire a property service enterprise",
                     proposed_on=date(2026, 7, 1), actor="bench")
    app.publish_vote(community_code=code, vote_reference=reference,
                     published_on=date(2026, 7, 2), actor="bench")
    app.open_vote(community_code=code, vote_reference=reference, opened_on=date(2026, 7, 20),
                  actor="bench")
    return vote_id(code, reference)


def measure_ballots_in_process(app: FundLedger, code: str, reference: str, voters: list[str],
                               clients: int, seconds: float) -> Measured:
    def cast(worker: int, n: int) -> bool:
        mine = voters[worker::clients]
        if n >= len(mine):
            return False
        app.cast_ballot(community_code=code, vote_reference=reference, owner_id=mine[n],
                        choice="agree", cast_on=CAST_ON)
        return True

    return run_threads(clients, seconds, cast)


def http_ballots(base: str, tokens: dict[str, str], voters: list[str], vote: UUID,
                 clients: int, seconds: float) -> Measured:
    """``clients`` voters at a time, each casting their own ballot with their own token."""
    http = [KeepAlive(base) for _ in range(clients)]

    def cast(worker: int, n: int) -> bool:
        mine = voters[worker::clients]
        if n >= len(mine):
            return False
        status, body = http[worker].post(
            f"/v1/votes/{vote}/ballots", {"choice": "agree", "cast_on": CAST_ON.isoformat()},
            {"Authorization": f"Bearer {tokens[mine[n]]}", "Idempotency-Key": f"ballot-{vote}"})
        if status != 201:
            raise AssertionError(f"{mine[n]}: {status} {body!r}")
        return True

    try:
        return run_threads(clients, seconds, cast)
    finally:
        for client in http:
            client.close()


def check_ballots(app: FundLedger, code: str, reference: str, what: str,
                  measured: Measured) -> None:
    if measured.errors:
        shown = "\n  ".join(measured.errors[:10])
        raise SystemExit(f"{what}: {len(measured.errors)} of "
                         f"{len(measured.errors) + measured.count} ballots failed, e.g.\n"
                         f"  {shown}")
    found = len(app.vote_count(app.vote(code, reference)).ballots)
    if found != measured.count:
        raise SystemExit(f"{what}: the vote holds {found} ballots, {measured.count} counted")


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


def token_for(url: str, role: str, scope: str, name: str) -> str:
    """An API token, made through the CLI as an operator would."""
    env = {**os.environ, "FUNDLEDGER_DB": url, "FUNDLEDGER_ACTOR": "bench"}
    return subprocess.run(
        [sys.executable, "-m", "ledger", "tokens", "create", "--role", role, "--scope", scope,
         "--name", name], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
        check=True).stdout.strip()


@contextmanager
def served(url: str, log: IO[bytes], workers: int, root: Path | None = None, *,
           bare: bool = False) -> Iterator[tuple[str, int]]:
    """This code's ``fundledger serve`` on a free loopback port (or, from ``root``, that
    checkout's app under uvicorn's pure-Python h11 and asyncio; or, ``bare``, the bare route
    of ``bare_route.py`` under the same uvicorn as ``fundledger serve``): its base URL and
    pid."""
    import httpx

    env = {**os.environ, "FUNDLEDGER_DB": url, "FUNDLEDGER_ACTOR": "bench"}
    port = free_port()
    if bare:
        command = [sys.executable, "-m", "uvicorn", "bare_route:app", "--app-dir",
                   str(Path(__file__).resolve().parent), "--port", str(port),
                   "--no-access-log"]
    elif root is None:
        command = [sys.executable, "-m", "ledger", "serve", "--port", str(port),
                   "--no-follow-views", "--workers", str(workers)]
    else:
        command = [sys.executable, "-m", "uvicorn", "api.http.app:create_app_without_followers",
                   "--factory", "--port", str(port), "--loop", "asyncio", "--http", "h11"]
        env["PYTHONPATH"] = str(root)  # its packages before this checkout's installed ones
    server = subprocess.Popen(command, env=env, cwd=root or ROOT, stdout=log,
                              stderr=subprocess.STDOUT)
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
                raise SystemExit("the server did not start:\n"
                                 + Path(log.name).read_text(errors="replace"))
            time.sleep(0.2)
        yield base, server.pid
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


Round = dict[str, Measured]  # by "<path> <what> <level>", e.g. "HTTP deposits 4"


class Bench:
    """One run's database, servers and bookkeeping; ``round`` measures every path once."""

    def __init__(self, args: argparse.Namespace, url: str, app: FundLedger,
                 units: list[Unit], books: Books, servers: dict[str, tuple[str, str]],
                 tokens: dict[str, str], bare: str) -> None:
        self.args, self.url, self.app, self.units, self.books = args, url, app, units, books
        self.servers, self.tokens = servers, tokens  # servers: label -> (base, custodian token)
        self.bare = bare  # the bare route's base URL (bare_route.py)
        self.code = units[0][0]
        self.voters = voters_of(units, self.code)
        self.votes = 0

    def round(self, number: int) -> Round:
        a, measured = self.args, {}
        for clients in a.clients:
            tag = f"{number}-{clients}"
            m = measure_in_process(self.app, self.units, clients, a.seconds, f"I{tag}")
            self.books.check(f"in-process, {clients} threads", m)
            measured[f"in-process deposits {clients}"] = m
            m = measure_raw(self.url, clients, a.seconds, f"R{tag}")
            if m.errors:
                raise SystemExit(f"raw inserts failed: {m.errors[:5]}")
            measured[f"raw deposits {clients}"] = m
            # The servers take turns, their order alternating from round to round.
            for label in sorted(self.servers, reverse=number % 2 == 1):
                base, token = self.servers[label]
                server = list(self.servers).index(label)  # references differ by server
                m = http_deposits(base, token, self.units, clients, a.seconds,
                                  f"H{server}-{tag}")
                self.books.check(f"{label}, {clients} clients", m)
                measured[f"{label} deposits {clients}"] = m
            m = http_deposits(self.bare, self.servers["HTTP"][1], self.units, clients,
                              a.seconds, f"B-{tag}")
            if m.errors:
                raise SystemExit(f"the bare route failed: {m.errors[:5]}")
            measured[f"bare route deposits {clients}"] = m
            if clients == 1:
                measured.update(measure_access(self.app, self.servers["HTTP"][1],
                                               a.seconds / 2, tag))
        for voters in a.voters:
            reference, _ = self.new_vote()
            m = measure_ballots_in_process(self.app, self.code, reference, self.voters, voters,
                                           a.seconds)
            check_ballots(self.app, self.code, reference, "in-process ballots", m)
            measured[f"in-process ballots {voters}"] = m
            for label in sorted(self.servers, reverse=number % 2 == 1):
                reference, vote = self.new_vote()
                m = http_ballots(self.servers[label][0], self.tokens, self.voters, vote,
                                 voters, a.seconds)
                check_ballots(self.app, self.code, reference, f"{label} ballots", m)
                measured[f"{label} ballots {voters}"] = m
        return measured

    def new_vote(self) -> tuple[str, UUID]:
        """A new vote of the first community, open, every owner on its roll."""
        self.votes += 1
        reference = f"BENCH-{self.votes}"
        return reference, open_vote(self.app, self.code, reference)


def report(rounds: list[Round], args: argparse.Namespace, labels: list[str]) -> None:
    def rate(key: str) -> float:
        return median(r[key].rate for r in rounds)

    def share(key: str, of: str) -> str:
        return f"{median(r[key].rate / r[of].rate for r in rounds):6.1%}"

    print(f"medians of {len(rounds)} round{'s' if len(rounds) > 1 else ''} (rates, and each "
          "round's own ratios)")
    for clients in args.clients:
        plural = "s" if clients > 1 else ""
        print(f"deposits, {clients} client{plural} / thread{plural} / connection{plural}")
        for label in labels:
            key = f"{label} deposits {clients}"
            print(f"  {label:<13}{rate(key):>7,.0f}/s = "
                  f"{share(key, f'in-process deposits {clients}')} of in-process, "
                  f"{share(key, f'raw deposits {clients}')} of raw")
        print(f"  {'in-process':<13}{rate(f'in-process deposits {clients}'):>7,.0f}/s   "
              "FundLedger.post_deposit")
        print(f"  {'raw':<13}{rate(f'raw deposits {clients}'):>7,.0f}/s   "
              "1 INSERT per transaction, plain table")
        print(f"  {'bare route':<13}{rate(f'bare route deposits {clients}'):>7,.0f}/s   "
              "FastAPI alone, no database (bare_route.py)")
    if 1 in args.clients:
        where_time_goes(rounds)
    for voters in args.voters:
        print(f"ballots, {voters} voters at once on one vote")
        for label in labels:
            key = f"{label} ballots {voters}"
            print(f"  {label:<13}{rate(key):>7,.0f}/s = "
                  f"{share(key, f'in-process ballots {voters}')} of in-process   "
                  "no 409 or 5xx")
        print(f"  {'in-process':<13}{rate(f'in-process ballots {voters}'):>7,.0f}/s   "
              "FundLedger.cast_ballot")


def where_time_goes(rounds: list[Round]) -> None:
    """One HTTP deposit at one client, taken apart: each part's mean time (the median over
    the rounds), measured on its own in the same run; the rest is what none of them holds."""
    def ms(key: str) -> float:
        return median(1000 * r[key].seconds / r[key].count for r in rounds)

    total, command = ms("HTTP deposits 1"), ms("in-process deposits 1")
    parts = [
        ("the ledger's command", command, "FundLedger.post_deposit in-process"),
        ("token lookup", ms("token lookup"), "the token and any stored response: one query"),
        ("response stored", ms("response stored"), "one INSERT, committed, after the events'"),
        ("bare route", ms("bare route deposits 1"),
         "FastAPI and uvicorn, a plain def dependency and endpoint: two thread-pool trips"),
    ]
    print("where one HTTP deposit's time goes, 1 client (ms a request, medians of rounds)")
    print(f"  {'HTTP deposit':<22}{total:6.2f}   half the in-process rate is "
          f"{2 * command:.2f} ms a request")
    for label, value, what in parts:
        print(f"  {label:<22}{value:6.2f}   {what}")
    print(f"  {'the rest':<22}{total - sum(v for _, v, _ in parts):6.2f}   the app's middleware "
          "and request log, the key's row and metrics in the command, the route's own code")
    floor = sum(v for _, v, _ in parts)
    print(f"  the four parts alone: {floor:.2f} ms, {floor / command:.2f}x the command "
          f"({'over' if floor > 2 * command else 'within'} the {2 * command:.2f} ms that half "
          "the in-process rate allows)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16],
                        help="deposits: HTTP clients, threads, raw connections")
    parser.add_argument("--voters", type=int, nargs="*", default=[16],
                        help="ballots: voters casting at once on one vote (none: no ballots)")
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="measured seconds per path and level")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--units", type=int, default=1_600)
    parser.add_argument("--communities", type=int, default=1,
                        help="communities the units are split over (voters: the first's)")
    parser.add_argument("--workers", type=int, default=1,
                        help="the server's worker processes (fundledger serve --workers)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a checkout of other code whose server is measured alternately")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    if min(args.clients + args.voters) < 1 or not 1 <= args.communities <= args.units:
        parser.error("--clients, --voters and --communities must be at least 1, "
                     "--communities at most --units")
    if args.units < max(args.clients):
        parser.error("--units must be at least the largest --clients")
    if args.baseline is not None and args.workers != 1:
        parser.error("--baseline serves from one worker process")
    from ledger.application import FundLedger
    from ledger.persistence.scratch import scratch_database
    from ledger.settings import Settings

    units = unit_keys(args.units, args.communities)
    where = ("one community" if args.communities == 1
             else f"{args.communities} communities")
    print(f"api benchmark on PostgreSQL: {args.units:,} units in {where}, single "
          f"top-ups of {TOP_UP_YUAN} yuan, {args.seconds:g} s per path and level, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with ExitStack() as stack:
        url = stack.enter_context(scratch_database(args.pg_url, "fundledger_bench"))
        app = FundLedger(Settings(db=url))
        stack.callback(app.close)
        books = Books(app, units, prepare(app, units))
        deliver(app, units)
        tokens = owner_tokens(app, voters_of(units, units[0][0]))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(RAW_TABLE)
        token = token_for(url, "custodian", "city", "api-bench")
        roots: dict[str, Path | None] = {"HTTP": None}
        if args.baseline is not None:
            roots["HTTP baseline"] = args.baseline.resolve()
        servers: dict[str, tuple[str, str]] = {}
        logs, pids = [], []
        for label, root in roots.items():
            log = stack.enter_context(tempfile.NamedTemporaryFile(prefix="fundledger-serve-",
                                                                  suffix=".log"))
            base, pid = stack.enter_context(served(url, log, args.workers, root))
            servers[label] = (base, token)
            logs.append(log)
            pids.append(pid)
        log = stack.enter_context(tempfile.NamedTemporaryFile(prefix="bare-route-",
                                                              suffix=".log"))
        bare, _ = stack.enter_context(served(url, log, 1, bare=True))
        logs.append(log)
        books.check("in-process warm-up", measure_in_process(app, units, 1, 0.5, "WI"))
        measure_raw(url, 1, 0.5, "WR")
        http_deposits(bare, token, units, 1, None, "WB", WARMUP)
        bench = Bench(args, url, app, units, books, servers, tokens, bare)
        rounds = []
        try:
            for server, (label, (base, _)) in enumerate(servers.items()):
                warm = http_deposits(base, token, units, 1, None, f"W{server}", WARMUP)
                books.check(f"{label} warm-up", warm)
            for number in range(1, args.rounds + 1):
                rounds.append(bench.round(number))
                print(f"round {number}: " + ", ".join(
                    f"{key} {m.rate:,.0f}/s" for key, m in rounds[-1].items()), flush=True)
        except SystemExit as failed:
            tails = "\n".join(log_tail(log) for log in logs)
            raise SystemExit(f"{failed.code}\nthe servers' logs end:\n{tails}") from None
        workers = worker_processes(pids[0])

    pool = Settings(db=args.pg_url).pg_pool_size
    print(f"server: `fundledger serve --no-follow-views`, {workers} uvicorn worker process"
          f"{'es' if workers > 1 else ''} (routes on its thread pool; FundLedger pool of "
          f"{pool}+{pool} overflow connections), access log on; the HTTP clients "
          "(http.client threads) run in this process"
          + ("; baseline: the other checkout's app under uvicorn with h11 and asyncio"
             if args.baseline else ""))
    print(f"every deposit checked: {books.expected_fen:,} fen deposited in all, as counted; "
          "every ballot found in its vote")
    report(rounds, args, list(servers))


if __name__ == "__main__":
    main()
