"""``fundledger serve`` over a real socket on PostgreSQL, with the views' runner as its own
process (the production shape): a token from the CLI, a deposit posted with an
Idempotency-Key, read back through the balance view, and its change on the SSE stream."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from domain.unit_account import first_deposit_due_fen
from ledger.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "ledger", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


@contextmanager
def serving(pg_url: str, tmp_path: Path, *serve_args: str
            ) -> Iterator[tuple[str, dict[str, str]]]:
    """``fundledger serve`` and ``projections run --follow`` on the database, until exit."""
    env = {**os.environ, "FUNDLEDGER_DB": pg_url, "FUNDLEDGER_ACTOR": "test"}
    port = _free_port()
    processes = []
    for name, args in (("serve", ["serve", "--port", str(port), *serve_args]),
                       ("runner", ["projections", "run", "--follow"])):
        log = (tmp_path / f"{name}.log").open("wb")
        processes.append(subprocess.Popen([sys.executable, "-m", "ledger", *args], env=env,
                                          cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/docs", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        yield base, env
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)


@pytest.fixture
def served(pg_url: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    with serving(pg_url, tmp_path) as made:
        yield made


def test_post_a_deposit_and_read_it_back_over_a_socket(
        served: tuple[str, dict[str, str]]) -> None:
    base, env = served
    admin = _cli(env, "tokens", "create", "--role", "admin", "--name", "registry")
    custodian = _cli(env, "tokens", "create", "--role", "custodian", "--scope",
                     "district:110105", "--name", "fund-office")
    auditor = _cli(env, "tokens", "create", "--role", "auditor")
    with httpx.Client(base_url=base, timeout=30) as client:
        registered = client.post("/v1/communities", headers={
            "Authorization": f"Bearer {admin}", "Idempotency-Key": "register-1"}, json={
            "code": "CY-E2E", "name": "测试小区", "district": "110105", "street": "110105001",
            "effective_date": "2026-01-01", "units": [
                {"building": "1", "unit": "101", "area_m2": "88.50",
                 "area_source": "register", "owner_ids": ["owner-1"]}]})
        assert registered.status_code == 201, registered.text
        deposit = {"reference": "BANK-E2E-1", "building": "1", "unit": "101",
                   "amount_yuan": "17700.00", "paid_on": "2026-02-01", "kind": "first"}
        headers = {"Authorization": f"Bearer {custodian}", "Idempotency-Key": "dep-1"}
        first = client.post("/v1/communities/CY-E2E/deposits", headers=headers, json=deposit)
        again = client.post("/v1/communities/CY-E2E/deposits", headers=headers, json=deposit)
        assert first.status_code == again.status_code == 201, first.text
        assert first.content == again.content
        assert again.headers["Idempotent-Replayed"] == "true"
        position = first.json()["position"]
        account = client.get("/v1/communities/CY-E2E/units/1/101/account",
                             params={"min_position": position},
                             headers={"Authorization": f"Bearer {auditor}"})
        assert account.status_code == 200, account.text
        assert account.json()["balance_yuan"] == "17700.00"
        assert account.json()["balance_fen"] == 1_770_000
        stream = client.get("/v1/streams/balance", params={"until_caught_up": "true"},
                            headers={"Authorization": f"Bearer {auditor}",
                                     "Last-Event-ID": str(position - 1)})
        data = [json.loads(line[len("data: "):]) for line in stream.text.splitlines()
                if line.startswith("data: ")]
        assert [(d["position"], d["data"]["amount_fen"]) for d in data] == [
            (position, 1_770_000)]


WORKER_DEPOSITS = 40


def test_several_workers_share_the_port_and_post_each_deposit_once(
        pg_url: str, tmp_path: Path) -> None:
    with serving(pg_url, tmp_path, "--workers", "2", "--no-access-log") as (base, env):
        admin = _cli(env, "tokens", "create", "--role", "admin", "--name", "registry")
        custodian = _cli(env, "tokens", "create", "--role", "custodian", "--name", "office")
        units = [{"building": "1", "unit": str(101 + n), "area_m2": "80.00",
                  "area_source": "register", "owner_ids": [f"owner-{n}"]} for n in range(4)]
        with httpx.Client(base_url=base, timeout=30) as client:
            registered = client.post("/v1/communities", headers={
                "Authorization": f"Bearer {admin}", "Idempotency-Key": "register-w"}, json={
                "code": "CY-W", "name": "Workers", "district": "110105",
                "street": "110105001", "effective_date": "2026-01-01", "units": units})
            assert registered.status_code == 201, registered.text
            due_fen = first_deposit_due_fen(8_000, Settings().deposit_rate_fen_per_m2)
            for n in range(4):
                first = client.post("/v1/communities/CY-W/deposits", json={
                    "reference": f"FIRST-W-{n}", "building": "1", "unit": str(101 + n),
                    "amount_yuan": f"{due_fen // 100}.{due_fen % 100:02d}",
                    "paid_on": "2026-01-10", "kind": "first"}, headers={
                    "Authorization": f"Bearer {custodian}", "Idempotency-Key": f"first-{n}"})
                assert first.status_code == 201, first.text

        def post(n: int) -> httpx.Response:
            # Each deposit is sent twice under its key, from different connections (and
            # so, likely, different workers): one event either way.
            deposit = {"reference": f"BANK-W-{n % WORKER_DEPOSITS}", "building": "1",
                       "unit": str(101 + n % 4), "amount_yuan": "100.00",
                       "paid_on": "2026-02-01", "kind": "top_up"}
            with httpx.Client(base_url=base, timeout=60) as client:
                return client.post("/v1/communities/CY-W/deposits", json=deposit, headers={
                    "Authorization": f"Bearer {custodian}",
                    "Idempotency-Key": f"w-{n % WORKER_DEPOSITS}"})

        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(post, range(2 * WORKER_DEPOSITS)))
        assert [r.status_code for r in responses] == [201] * (2 * WORKER_DEPOSITS), [
            r.text for r in responses if r.status_code != 201]
        by_key: dict[int, set[bytes]] = {}
        for n, response in enumerate(responses):
            by_key.setdefault(n % WORKER_DEPOSITS, set()).add(response.content)
        assert all(len(bodies) == 1 for bodies in by_key.values())  # a repeat replays
        statement = json.loads(_cli(env, "statement", "CY-W", "--json"))
    log = (tmp_path / "serve.log").read_text()
    assert "Started parent process" in log and log.count("Started server process") == 2
    assert sum(u["deposits_fen"] for u in statement["units"]) == (
        4 * due_fen + WORKER_DEPOSITS * 10_000)


def test_several_workers_need_postgresql(tmp_path: Path) -> None:
    env = {**os.environ, "FUNDLEDGER_DB": str(tmp_path / "embedded.db")}
    done = subprocess.run([sys.executable, "-m", "ledger", "serve", "--workers", "2"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "needs PostgreSQL" in done.stderr
