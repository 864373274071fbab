"""``fundledger serve`` as operated (issue 19): probes, metrics summed over ``--workers``, and
one log line per request in the chosen format, read from the server's real stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_http_serve import ROOT, _cli, _free_port, serving

DEPOSIT_ROUTE = {"method": "POST", "route": "/v1/communities/{code}/deposits", "status": "201"}
UNITS = 12


def _wait_ready(base: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        response = httpx.get(f"{base}/readyz", timeout=5)
        if response.status_code == 200:
            return response.json()  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, response.text
        time.sleep(0.2)


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [(sample.labels, sample.value) for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == name]


def _deposited(text: str) -> float:
    return sum(value for labels, value in _samples(text, "fundledger_http_requests_total")
               if labels == DEPOSIT_ROUTE)


def _log(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines()]


@pytest.mark.postgres
def test_workers_share_their_metrics_and_log_one_json_line_per_request(
        pg_url: str, tmp_path: Path) -> None:
    with serving(pg_url, tmp_path, "--workers", "2") as (base, env):
        assert httpx.get(f"{base}/healthz", timeout=5).json() == {"status": "alive"}
        _wait_ready(base)
        admin = _cli(env, "tokens", "create", "--role", "admin")
        custodian = _cli(env, "tokens", "create", "--role", "custodian")
        monitor = _cli(env, "tokens", "create", "--role", "monitor")
        registered = httpx.post(f"{base}/v1/communities", timeout=30, headers={
            "Authorization": f"Bearer {admin}", "Idempotency-Key": "ops-register"}, json={
            "code": "CY-OPS", "name": "运维小区", "district": "110105",
            "street": "110105001", "effective_date": "2026-01-01",
            "units": [{"building": "1", "unit": f"{101 + i}", "area_m2": "100.00",
                       "area_source": "register", "owner_ids": [f"o-{i}"]}
                      for i in range(UNITS)]})
        assert registered.status_code == 201, registered.text
        request_ids = []
        for i in range(UNITS):  # each on its own connection: the workers take turns
            response = httpx.post(
                f"{base}/v1/communities/CY-OPS/deposits", timeout=30,
                headers={"Authorization": f"Bearer {custodian}",
                         "Idempotency-Key": f"ops-{i}", "Connection": "close"},
                json={"reference": f"OPS-{i}", "building": "1", "unit": f"{101 + i}",
                      "amount_yuan": "20000.00", "paid_on": "2026-02-01", "kind": "first"})
            assert response.status_code == 201, response.text
            request_ids.append(response.headers["X-Request-Id"])

        scraped_by = set()
        for _ in range(8):
            scrape = httpx.get(f"{base}/metrics", timeout=30, headers={
                "Authorization": f"Bearer {monitor}", "Connection": "close"})
            assert scrape.status_code == 200, scrape.text
            # Whichever worker answers, the count is every worker's deposits together.
            assert _deposited(scrape.text) == UNITS
            scraped_by |= {labels["pid"] for labels, _ in
                           _samples(scrape.text, "fundledger_db_pool_connections")}
        assert httpx.get(f"{base}/metrics", timeout=5).status_code == 401

    lines = _log(tmp_path)  # every line of the server's stderr parses as JSON
    deposits = [line for line in lines if line.get("request_id") in request_ids]
    assert sorted(line["request_id"] for line in deposits) == sorted(request_ids)
    assert {line["route"] for line in deposits} == {DEPOSIT_ROUTE["route"]}
    assert len({line["principal"] for line in deposits}) == 1
    served_by = {line["pid"] for line in deposits}
    assert len(served_by | {int(pid) for pid in scraped_by}) == 2, (served_by, scraped_by)
    text = (tmp_path / "serve.log").read_text()
    assert custodian not in text and monitor not in text
    assert "HTTP/1.1" not in text  # uvicorn's access log is off: each request logged once


def test_a_terminal_format_on_request_and_the_probes_on_the_embedded_store(
        tmp_path: Path) -> None:
    env = {**os.environ, "FUNDLEDGER_DB": str(tmp_path / "ops.db"),
           "FUNDLEDGER_LOG_FORMAT": "json"}  # the flag wins over the setting
    port = _free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "ledger", "serve", "--port", str(port), "--log-format",
         "human"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        ready = _wait_ready(base)  # the embedded store: views followed in-process
        assert set(ready["views"]) >= {"balance", "audit"}
        request_id = httpx.get(f"{base}/readyz", timeout=5).headers["X-Request-Id"]
    finally:
        server.terminate()
        server.wait(timeout=20)
    text = (tmp_path / "serve.log").read_text()
    mine = [line for line in text.splitlines() if f"request_id={request_id}" in line]
    assert len(mine) == 1 and "GET /readyz 200" in mine[0] and "duration_ms=" in mine[0]
    assert not any(line.startswith("{") for line in text.splitlines())
