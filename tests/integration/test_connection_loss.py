"""Issue 15 item 3: a lost database connection is retried once on a working one, and a
database that is really gone answers 503 with Retry-After, quickly, without closing the
client's keep-alive connection. Every write is in the log exactly once.

On real PostgreSQL: the pool's backends are ended with ``pg_terminate_backend`` on a
database of the test's own, or the ledger reaches the server through a proxy
(``pg_proxy``) that cuts connections, drops replies or stops listening.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.http.app import create_app
from api.http.idempotency import RACE_WAIT_S
from api.http.problems import PROBLEM_JSON
from ledger.access import Principal, Role, Scope, new_token, token_digest
from ledger.persistence.scratch import scratch_database
from ledger.settings import Settings
from tests.conftest import PG_ADMIN_URL
from tests.integration.http_support import community_body
from tests.integration.pg_proxy import PgProxy, pg_proxy

pytestmark = pytest.mark.postgres
CONNECT_TIMEOUT_S = 2


def _token(app: FastAPI, role: Role) -> dict[str, str]:
    token, token_id = new_token()
    app.state.services.access.add_token(
        token_digest(token), Principal(f"{role.value}-{token_id}", role, Scope.parse("city"),
                                       token_id))
    return {"Authorization": f"Bearer {token}"}


def _seeded(client: Any, app: FastAPI) -> dict[str, str]:
    """Community CY-A with unit 1-101's first deposit paid; a custodian's headers."""
    admin, custodian = _token(app, Role.admin), _token(app, Role.custodian)
    registered = client.post("/v1/communities", json=community_body("CY-A", "110105", "110105001"),
                             headers={**admin, "Idempotency-Key": "register"})
    assert registered.status_code == 201, registered.text
    assert _deposit(client, custodian, "FIRST", kind="first", amount="16100.00"
                    ).status_code == 201
    return custodian


def _deposit(client: Any, headers: dict[str, str], reference: str, *, kind: str = "top_up",
             amount: str = "100.00") -> Any:
    return client.post("/v1/communities/CY-A/deposits", json={
        "reference": reference, "building": "1", "unit": "101", "amount_yuan": amount,
        "paid_on": "2026-03-01", "kind": kind}, headers={**headers, "Idempotency-Key": reference})


def _logged(database_url: str, reference: str) -> int:
    """How many events the log holds for the bank reference (by its posting's event)."""
    url, _, schema = database_url.partition("?schema=")
    with psycopg.connect(url) as conn:
        if schema:
            conn.execute(f'SET search_path TO "{schema}"')
        row = conn.execute(
            "SELECT count(*) FROM posting_references r JOIN fundledger_events e "
            "USING (originator_id, originator_version) WHERE r.reference LIKE %s",
            (f"%{reference}",)).fetchone()
    assert row is not None
    return int(row[0])


def _terminate_other_backends(database: str) -> int:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()", (database,)).fetchone()
    assert row is not None
    return int(row[0])


def test_deposits_after_the_pools_backends_are_terminated_answer_201_once_each() -> None:
    with scratch_database(PG_ADMIN_URL, "fundledger_conn") as url:
        app = create_app(Settings(db=url), follow_views=False)
        with TestClient(app, raise_server_exceptions=False) as client:
            custodian = _seeded(client, app)
            for n in range(6):
                assert _terminate_other_backends(url.rsplit("/", 1)[1]) > 0
                deposit = _deposit(client, custodian, f"BANK-{n}")
                assert deposit.status_code == 201, deposit.text
                assert deposit.json()["already_posted"] is False
            assert [_logged(url, f"BANK-{n}") for n in range(6)] == [2] * 6  # key + bank line


def _waiting_for_a_lock(database_url: str) -> bool:
    database = database_url.partition("?")[0].rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                           "AND wait_event_type = 'Lock'", (database,)).fetchone()
    return row is not None and row[0] > 0


def test_a_deposit_whose_commit_answer_was_lost_answers_as_written_at_once(
        pg_url: str) -> None:
    """The commit happens, its answer never arrives, the connection dies: the retry finds
    the save's own events and answers as the first attempt would have; not ten seconds
    later as a repeat that found the reference already posted."""
    url, _, schema = pg_url.partition("?schema=")
    with pg_proxy() as proxy:
        app = create_app(Settings(db=proxy.url(pg_url)), follow_views=False)
        with TestClient(app, raise_server_exceptions=False) as client:
            custodian = _seeded(client, app)
            answer: list[Any] = []
            posting = threading.Thread(
                target=lambda: answer.append(_deposit(client, custodian, "BANK-LOST")))
            with psycopg.connect(url) as locker:
                # The deposit's save waits behind this lock, its statement sent; the lock
                # goes, the save commits, and its answer is dropped on the way.
                locker.execute(f'LOCK TABLE "{schema}".fundledger_events IN EXCLUSIVE MODE')
                posting.start()
                deadline = time.monotonic() + 8
                while not _waiting_for_a_lock(url):
                    assert time.monotonic() < deadline, "the deposit never reached its save"
                    time.sleep(0.02)
                proxy.replies_dropped.set()
            started = time.monotonic()
            while _logged(pg_url, "BANK-LOST") < 2:  # committed: the bank line and the key
                assert time.monotonic() < started + 8, "the deposit never committed"
                time.sleep(0.02)
            proxy.replies_dropped.clear()
            proxy.cut()
            posting.join(timeout=30)
            elapsed = time.monotonic() - started
    assert answer and answer[0].status_code == 201, answer
    assert answer[0].json()["already_posted"] is False
    assert elapsed < RACE_WAIT_S / 2
    assert _logged(pg_url, "BANK-LOST") == 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served_through(pg_url: str) -> Iterator[tuple[PgProxy, str, FastAPI]]:
    """The API on a real socket (uvicorn in a thread), its database behind a proxy."""
    with pg_proxy() as proxy:
        app = create_app(Settings(db=proxy.url(pg_url), pg_connect_timeout_s=CONNECT_TIMEOUT_S),
                         follow_views=False)
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 20
            while not server.started:
                assert time.monotonic() < deadline and thread.is_alive(), "no server"
                time.sleep(0.05)
            yield proxy, f"http://127.0.0.1:{port}", app
        finally:
            server.should_exit = True
            thread.join(timeout=20)


def _local_port(response: httpx.Response) -> int | None:
    """The client side's port of the connection that carried the response; None once the
    server has closed it."""
    stream = response.extensions["network_stream"]
    try:
        return int(stream.get_extra_info("client_addr")[1])
    except OSError:
        return None


def test_an_unreachable_database_answers_503_quickly_and_keeps_the_connection(
        served_through: tuple[PgProxy, str, FastAPI]) -> None:
    proxy, base, app = served_through
    with httpx.Client(base_url=base, timeout=30) as client:
        custodian = _seeded(client, app)
        proxy.stop()
        started = time.monotonic()
        refused = _deposit(client, custodian, "BANK-DOWN")
        elapsed = time.monotonic() - started
        refused_on = _local_port(refused)
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == PROBLEM_JSON
        assert int(refused.headers["Retry-After"]) > 0
        body = refused.json()
        assert body["rule"] == "database-unavailable" and "Idempotency-Key" in body["detail"]
        assert elapsed < CONNECT_TIMEOUT_S + 3, elapsed
        proxy.start()
        repeated = _deposit(client, custodian, "BANK-DOWN")
        assert repeated.status_code == 201, repeated.text
        assert refused_on is not None and _local_port(repeated) == refused_on  # kept alive
