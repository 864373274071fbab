"""The SIGKILL bank test: concurrent deposits over HTTP while the server is killed -9.

``fundledger serve --workers 2`` runs on a throwaway PostgreSQL database. Client threads
post deposits, each deposit twice under its one Idempotency-Key (from two clients, so
the repeats race); meanwhile, each time a further share of the deposits is acknowledged,
the server's database connections are ended, or its whole process group is killed with
SIGKILL and restarted on the same port (``--kills`` times each). A client repeats every
request that got no answer, a 5xx or a 409 "response not stored yet", with the same key,
until it is acknowledged (201).

Then, reading the log itself (not a view):
* every acknowledged deposit is in the log exactly once, under its bank reference;
* no deposit is in the log twice;
* no request answered 500 (the server's database backends are also ended, by
  ``pg_terminate_backend``, before each kill: a lost connection is retried, not a 500);
* the fund conserves (F11: the statement's sub-accounts sum to the bank balance), and its
  deposits are the first deposits plus exactly the deposits posted.

``tests/e2e/test_bank_sigkill.py`` runs a short version in the suite; run a longer one with
``python -m tests.e2e.bank_sigkill --deposits 400 --clients 8 --kills 3``.
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from domain.ids import unit_account_id
from domain.unit_account import UnitAccount, first_deposit_due_fen
from ledger.application import FundLedger
from ledger.persistence.scratch import scratch_database
from ledger.settings import Settings
from projections.history.statements import fund_statement
from projections.history.streams import read_streams

ROOT = Path(__file__).resolve().parents[2]
COMMUNITY = "CY-BANK"
UNITS = 4
AREA_M2_HUNDREDTHS = 8_000
START_TIMEOUT_S = 60
REQUEST_TIMEOUT_S = 15
REPEAT_PAUSE_S = 0.1


@dataclass
class Outcome:
    """What the clients saw and what the log holds."""

    deposits: int
    kills: int = 0
    terminations: int = 0  # times every database backend of the server was ended
    repeats: int = 0  # requests sent again with the same key after no answer, 5xx or 409
    acknowledged: dict[str, int] = field(default_factory=dict)  # reference -> amount_fen
    refused: list[str] = field(default_factory=list)  # answers no repeat may follow
    errors: Counter[int] = field(default_factory=Counter)  # 5xx answers, by status
    logged: Counter[str] = field(default_factory=Counter)  # reference -> events in the log
    conserved: bool = False
    deposits_fen: int = 0
    expected_deposits_fen: int = 0
    seconds: float = 0.0

    def problems(self) -> list[str]:
        found = list(self.refused)
        if self.errors[500]:
            found.append(f"{self.errors[500]} answers were 500 (an unhandled error)")
        missing = [r for r in self.acknowledged if self.logged[r] != 1]
        found += [f"acknowledged {r} is in the log {self.logged[r]} times" for r in missing]
        found += [f"{r} is in the log {n} times" for r, n in self.logged.items() if n > 1]
        if len(self.acknowledged) != self.deposits:
            found.append(f"{self.deposits - len(self.acknowledged)} deposits never acknowledged")
        if not self.conserved:
            found.append("the fund does not conserve (F11)")
        if self.deposits_fen != self.expected_deposits_fen:
            found.append(f"deposits {self.deposits_fen} fen, expected "
                         f"{self.expected_deposits_fen}")
        return found


class Server:
    """``fundledger serve --workers N`` in its own process group, killed and restarted."""

    def __init__(self, env: dict[str, str], workers: int, log_path: Path) -> None:
        self.env, self.workers, self.log_path = env, workers, log_path
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ledger", "serve", "--port", str(self.port),
                 "--workers", str(self.workers), "--no-access-log"],
                env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)  # its own process group: the workers die with it
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if httpx.get(f"{self.base}/docs", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"the server did not start: {self.log_path.read_text()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL to the whole group: the supervisor and every worker, mid-request."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "ledger", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.strip()


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _deposit_body(reference: str, unit: int, amount_fen: int, kind: str) -> dict[str, Any]:
    return {"reference": reference, "building": "1", "unit": str(101 + unit),
            "amount_yuan": _yuan(amount_fen), "paid_on": "2026-03-01", "kind": kind}


def _post_until_acknowledged(
    client: httpx.Client, headers: dict[str, str], path: str, body: dict[str, Any], key: str,
    outcome: Outcome, lock: threading.Lock,
) -> bool:
    """POST with ``key`` until a 201; every other answer that may be transient (none, 5xx,
    409 "not stored yet") is repeated with the same key. False on a refusal."""
    while True:
        try:
            response = client.post(path, json=body, headers={**headers, "Idempotency-Key": key})
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 201:
            if response.json().get("reference", body.get("reference")) != body.get("reference"):
                with lock:
                    outcome.refused.append(f"{key}: answered for another deposit")
                return False
            return True
        if response is not None and not (response.status_code >= 500
                                         or response.status_code == 409):
            with lock:
                outcome.refused.append(f"{key}: {response.status_code} {response.text}")
            return False
        with lock:
            outcome.repeats += 1
            if response is not None and response.status_code >= 500:
                outcome.errors[response.status_code] += 1
        time.sleep(REPEAT_PAUSE_S)


def run_bank_test(
    admin_url: str, log_dir: Path, *, deposits: int = 60, clients: int = 6, kills: int = 2,
    workers: int = 2, seed: int = 15,
) -> Outcome:
    """The whole run on a database of its own; the outcome (``problems()`` empty if kept)."""
    started = time.monotonic()
    outcome = Outcome(deposits=deposits)
    with scratch_database(admin_url, "fundledger_bank") as url:
        env = {**os.environ, "FUNDLEDGER_DB": url, "FUNDLEDGER_ACTOR": "bank-test"}
        admin = _cli(env, "tokens", "create", "--role", "admin", "--name", "bank-registry")
        custodian = _cli(env, "tokens", "create", "--role", "custodian", "--name", "bank-office")
        server = Server(env, workers, log_dir / "serve.log")
        server.start()
        try:
            first_fen = _open_accounts(server.base, admin, custodian, outcome)
            _run_clients(server, url, custodian, outcome, deposits=deposits,
                         clients=clients, kills=kills, seed=seed)
        finally:
            server.stop()
        _read_the_log(url, outcome, first_fen * UNITS)
    outcome.seconds = time.monotonic() - started
    return outcome


def _open_accounts(base: str, admin: str, custodian: str, outcome: Outcome) -> int:
    """The community, and each unit's first deposit; returns one first deposit in fen."""
    lock = threading.Lock()
    units = [{"building": "1", "unit": str(101 + n), "area_m2": _yuan(AREA_M2_HUNDREDTHS),
              "area_source": "register", "owner_ids": [f"bank-owner-{n}"]} for n in range(UNITS)]
    due_fen = first_deposit_due_fen(AREA_M2_HUNDREDTHS, Settings().deposit_rate_fen_per_m2)
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_S) as client:
        registered = _post_until_acknowledged(
            client, {"Authorization": f"Bearer {admin}"}, "/v1/communities",
            {"code": COMMUNITY, "name": "Bank test", "district": "110105",
             "street": "110105001", "effective_date": "2026-01-01", "units": units},
            "bank-register", outcome, lock)
        assert registered, outcome.refused
        for n in range(UNITS):
            paid = _post_until_acknowledged(
                client, {"Authorization": f"Bearer {custodian}"},
                f"/v1/communities/{COMMUNITY}/deposits",
                _deposit_body(f"BANK-FIRST-{n}", n, due_fen, "first"), f"bank-first-{n}",
                outcome, lock)
            assert paid, outcome.refused
    return due_fen


def _terminate_backends(database_url: str) -> None:
    """``pg_terminate_backend`` of every connection to the run's database (the server's
    pools): the server must retry on fresh connections, not answer 500."""
    admin_url, database = database_url.rsplit("/", 1)
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = %s AND pid <> pg_backend_pid()", (database,))


def _run_clients(server: Server, database_url: str, custodian: str, outcome: Outcome, *,
                 deposits: int, clients: int, kills: int, seed: int) -> None:
    """Each deposit sent by two clients under one key; the server's connections ended and
    the server killed, ``kills`` times each."""
    rng = random.Random(seed)
    amounts = {f"BANK-{n:05d}": 10_000 + n for n in range(deposits)}  # distinct, in fen
    tasks: queue.Queue[str] = queue.Queue()
    for reference in rng.sample([*amounts, *amounts], 2 * deposits):
        tasks.put(reference)
    lock = threading.Lock()
    acknowledged = threading.Semaphore(0)
    headers = {"Authorization": f"Bearer {custodian}"}

    def client_loop() -> None:
        with httpx.Client(base_url=server.base, timeout=REQUEST_TIMEOUT_S) as client:
            while True:
                try:
                    reference = tasks.get_nowait()
                except queue.Empty:
                    return
                number = int(reference.rsplit("-", 1)[1])
                body = _deposit_body(reference, number % UNITS, amounts[reference], "top_up")
                if _post_until_acknowledged(client, headers,
                                            f"/v1/communities/{COMMUNITY}/deposits", body,
                                            f"key-{reference}", outcome, lock):
                    with lock:
                        outcome.acknowledged[reference] = amounts[reference]
                    acknowledged.release()

    threads = [threading.Thread(target=client_loop, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    # Once each further share of the requests is acknowledged (mid-run, clients busy): end
    # the server's database backends, then, a share later, kill the server.
    steps = 2 * kills
    done = 0
    for step in range(1, steps + 1):
        due = 2 * deposits * step // (steps + 1)
        for _ in range(due - done):
            acknowledged.acquire()
        done = due
        if step % 2:
            _terminate_backends(database_url)
            outcome.terminations += 1
        else:
            server.kill()
            outcome.kills += 1
            server.start()
    for thread in threads:
        thread.join()
    outcome.expected_deposits_fen = sum(amounts.values())


def _read_the_log(url: str, outcome: Outcome, first_deposits_fen: int) -> None:
    app = FundLedger(Settings(db=url))
    try:
        community = app.community(COMMUNITY)
        statement = fund_statement(app, COMMUNITY)
        ids = [unit_account_id(COMMUNITY, *community.units[key]) for key in community.units]
        for stream in read_streams(app, ids).values():
            for logged in stream:
                event = logged.event
                if isinstance(event, (UnitAccount.ToppedUp, UnitAccount.FirstDepositPaid)):
                    outcome.logged[event.reference] += 1
    finally:
        app.close()
    for n in range(UNITS):
        outcome.logged.pop(f"BANK-FIRST-{n}", None)
    outcome.conserved = statement.conserved
    outcome.deposits_fen = statement.total("deposits_fen")
    outcome.expected_deposits_fen += first_deposits_fen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url", default=os.environ.get(
        "FUNDLEDGER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--deposits", type=int, default=400)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--log-dir", type=Path, default=Path("."))
    args = parser.parse_args()
    outcome = run_bank_test(args.admin_url, args.log_dir, deposits=args.deposits,
                            clients=args.clients, kills=args.kills, workers=args.workers)
    problems = outcome.problems()
    print(f"{outcome.deposits} deposits, each sent twice under one key, by {args.clients} "
          f"clients; {outcome.terminations} backend terminations; {outcome.kills} SIGKILLs; "
          f"{outcome.repeats} repeats ({dict(outcome.errors)} 5xx); "
          f"{len(outcome.acknowledged)} acknowledged; {sum(outcome.logged.values())} in "
          f"the log; conserved={outcome.conserved}; {outcome.seconds:.1f} s")
    for problem in problems:
        print("PROBLEM:", problem)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
