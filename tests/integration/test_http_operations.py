"""Operating the API (issue 19): /healthz, /readyz, /metrics and the request log, on both stores.

Readiness follows the views: written past with no runner, a view is named as behind (503);
caught up, the process is ready again. Metrics move with the requests and writes that made
them, and only a monitor's or an admin's token reads them. A request's log line is JSON
naming its request id (the one recorded in its events) and its principal, never its token.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.http.app import create_app
from api.http.request_log import LOGGER_NAME
from ledger.access import Role, token_digest
from ledger.settings import Settings
from projections.balance import BalanceProjection
from projections.nats_relay import NatsRelay, RelayTarget
from projections.runner import ProjectionFailed, open_projection
from projections.seal.sealer import seal_and_checkpoint
from projections.views import VIEWS
from tests.integration.http_support import COMMUNITY, DISTRICT, STREET, Api, community_body
from tests.integration.pg_proxy import pg_proxy

DEPOSITS = f"/v1/communities/{COMMUNITY}/deposits"


def _api(db_url: str, *, follow: bool, **settings: Any) -> Iterator[Api]:
    # The sealer's key goes to a folder of the test's own, not the working directory.
    with tempfile.TemporaryDirectory(prefix="fundledger-ops-") as folder:
        app = create_app(Settings(db=db_url, signing_key_file=Path(folder) / "signing.key",
                                  **settings), follow_views=follow)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Api(app, client)


@pytest.fixture
def stopped(db_url: str) -> Iterator[Api]:
    """An API whose views nobody follows (a stopped runner), with no lag allowed."""
    yield from _api(db_url, follow=False, ready_view_lag_events_max=0, ready_cache_s=0)


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    yield from _api(db_url, follow=True, ready_cache_s=0)


def _register(api: Api) -> str:
    """The test community, registered; returns a custodian's token."""
    admin = api.token(Role.admin)
    assert api.post("/v1/communities", admin,
                    community_body(COMMUNITY, DISTRICT, STREET)).status_code == 201
    return api.token(Role.custodian)


def _deposit(api: Api, custodian: str, n: int, key: str | None = None) -> Any:
    """Unit n's first deposit (n from 0 to 3), as ``http_support.seed`` posts it."""
    response = api.post(DEPOSITS, custodian, {
        "reference": f"OPS-{n}", "building": "1", "unit": f"{101 + n}",
        "amount_yuan": f"{16100 + 2000 * n}.00", "paid_on": "2026-02-01", "kind": "first"},
        key=key)
    assert response.status_code == 201, response.text
    return response


def test_readiness_names_a_stopped_view_behind_the_log_and_recovers_when_it_catches_up(
        stopped: Api) -> None:
    api = stopped
    assert api.client.get("/readyz").status_code == 200  # an empty log: nothing is behind
    _register(api)
    svc = api.services
    log_position = svc.runner.log_position()
    behind = api.client.get("/readyz")
    assert behind.status_code == 503
    body = behind.json()
    assert body["status"] == "not ready" and body["database"] == "ok"
    assert set(body["views"]) == set(VIEWS)
    for name, view in body["views"].items():
        assert view["ready"] is False
        assert view["lag_events"] == log_position - view["position"] > 0
        assert view["lag_s"] >= 0
        assert any(line.startswith(f"view {name}:") for line in body["not_ready"])
    assert api.client.get("/healthz").json() == {"status": "alive"}  # alive all along

    balance = svc.views["balance"]
    svc.runner.catch_up(balance)  # one view caught up: the others still hold it back
    partly = api.client.get("/readyz").json()
    assert partly["views"]["balance"] == {"position": log_position, "lag_events": 0,
                                          "lag_s": 0.0, "failure": None, "ready": True}
    assert not partly["ready"]
    assert not any(line.startswith("view balance:") for line in partly["not_ready"])

    for view in svc.views.values():
        svc.runner.catch_up(view)
    ready = api.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["not_ready"] == []
    assert all(v["lag_events"] == 0 for v in ready.json()["views"].values())


def test_readiness_waits_for_a_signed_checkpoint_when_asked_to(db_url: str) -> None:
    for api in _api(db_url, follow=False, ready_unsigned_s_max=0, ready_cache_s=0):
        _register(api)
        for view in api.services.views.values():
            api.services.runner.catch_up(view)
        unsigned = api.client.get("/readyz")
        assert unsigned.status_code == 503
        sealer = unsigned.json()["sealer"]
        assert sealer["last_checkpoint_position"] is None
        assert sealer["unsigned_events"] == api.services.runner.log_position()
        assert [line.split(":")[0] for line in unsigned.json()["not_ready"]] == ["sealer"]
        seal_and_checkpoint(api.services.ledger, api.services.sealer())
        signed = api.client.get("/readyz")
        assert signed.status_code == 200, signed.text
        assert signed.json()["sealer"]["last_checkpoint_position"] == \
            api.services.runner.log_position()
        assert signed.json()["sealer"]["last_checkpoint_age_s"] >= 0


def _metrics(api: Api, token: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = api.client.get("/metrics", headers=api.headers(token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def test_metrics_count_a_deposit_its_event_kind_and_a_replay(api: Api) -> None:
    custodian = _register(api)
    monitor = api.token(Role.monitor)
    route = (("method", "POST"), ("route", "/v1/communities/{code}/deposits"),
             ("status", "201"))
    before = _metrics(api, monitor)
    _deposit(api, custodian, 1, key="ops-dep-1")
    last = api.services.ledger.recorder.select_notifications(
        start=api.services.runner.log_position(), limit=1)[0]
    kind = (("kind", last.topic.rpartition(":")[2]),)
    after = _metrics(api, monitor)
    requests = ("fundledger_http_requests_total", route)
    assert after[requests] - before.get(requests, 0) == 1
    written = ("fundledger_events_written_total", kind)
    assert after[written] - before.get(written, 0) == 1
    count = ("fundledger_http_request_duration_seconds_count", route)
    assert after[count] - before.get(count, 0) == 1
    replays = ("fundledger_idempotent_replays_total", ())

    again = _deposit(api, custodian, 1, key="ops-dep-1")
    assert again.headers["Idempotent-Replayed"] == "true"
    replayed = _metrics(api, monitor)
    assert replayed[replays] - after[replays] == 1
    assert replayed[written] == after[written]  # a replay writes nothing
    assert replayed[requests] - after[requests] == 1

    api.client.request("BREW", "/healthz")  # a made-up method makes no series of its own
    brewed = _metrics(api, monitor)
    assert not any(dict(labels).get("method") == "BREW" for _, labels in brewed)
    assert any(dict(labels).get("method") == "other" for _, labels in brewed)

    api.settle()
    settled = _metrics(api, monitor)
    for name in VIEWS:
        assert settled[("fundledger_view_lag_events", (("view", name),))] == 0
        assert settled[("fundledger_view_failed", (("view", name),))] == 0
    assert settled[("fundledger_log_position", ())] == api.services.runner.log_position()
    pools = [key for key in settled if key[0] == "fundledger_db_pool_connections"]
    assert len(pools) == (1 if api.services.ledger.settings.is_postgres else 0)


def test_metrics_need_a_monitor_or_admin_token(api: Api) -> None:
    anonymous = api.client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.json()["rule"] == "authentication"
    for role in Role:
        token = api.token(role, "city" if role is not Role.owner else "owner:o-1")
        response = api.client.get("/metrics", headers=api.headers(token))
        if role in (Role.monitor, Role.admin):
            assert response.status_code == 200, (role, response.text)
        else:
            assert response.status_code == 403, (role, response.text)
            assert response.json()["rule"] == "role"
    # The probes need no token: a load balancer has none.
    assert api.client.get("/healthz").status_code == 200
    assert api.client.get("/readyz").status_code in (200, 503)


def test_a_request_log_line_is_json_with_the_request_id_and_principal_never_the_token(
        api: Api, log_lines: io.StringIO) -> None:
    custodian = _register(api)
    response = _deposit(api, custodian, 2)
    request_id = response.headers["X-Request-Id"]
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    mine = [line for line in lines if line["request_id"] == request_id]
    assert len(mine) == 1
    line = mine[0]
    principal = api.services.access.principal(token_digest(custodian))
    assert principal is not None
    assert line["principal"] == principal.principal_id
    assert (line["method"], line["route"], line["status"]) == (
        "POST", "/v1/communities/{code}/deposits", 201)
    assert line["duration_ms"] > 0
    assert line["level"] == "info" and line["logger"] == LOGGER_NAME
    for token in (custodian, token_digest(custodian)):
        assert token not in log_lines.getvalue()
    # The same request id is the one recorded in the event the deposit wrote.
    event = api.services.ledger.recorder.select_notifications(
        start=response.json()["position"], limit=1)[0]
    assert f"+req:{request_id}".encode() in event.state
    # An unauthenticated request is logged with no principal; an unknown path by no path.
    api.client.get("/healthz")
    api.client.get("/no/such/path/CY-SECRET")
    tail = [json.loads(line) for line in log_lines.getvalue().splitlines()][-2:]
    assert [(t["route"], t["status"], t["principal"]) for t in tail] == [
        ("/healthz", 200, None), ("<unmatched>", 404, None)]
    assert "CY-SECRET" not in log_lines.getvalue()


@pytest.mark.postgres
def test_an_unreachable_database_is_not_ready_within_the_timeout_and_alive_all_along(
        pg_url: str) -> None:
    timeout_s = 1.0
    with pg_proxy() as proxy:
        for api in _api(proxy.url(pg_url), follow=False, ready_timeout_s=timeout_s,
                        ready_cache_s=0, pg_connect_timeout_s=1):
            assert api.client.get("/readyz").status_code == 200
            proxy.stop()
            started = time.monotonic()
            down = api.client.get("/readyz")
            elapsed_s = time.monotonic() - started
            assert down.status_code == 503, down.text
            assert down.json()["database"] != "ok"
            assert down.json()["not_ready"][0].startswith("database: ")
            assert elapsed_s < timeout_s + 1.5, elapsed_s
            assert api.client.get("/healthz").status_code == 200  # alive: no restart
            proxy.start()
            deadline = time.monotonic() + 20
            while (back := api.client.get("/readyz")).status_code != 200:
                assert time.monotonic() < deadline, back.text
                time.sleep(0.2)
            assert back.json()["database"] == "ok"


def test_metrics_report_the_relays_lag_when_its_stream_is_named(
        db_url: str, target: RelayTarget) -> None:
    for api in _api(db_url, follow=True, ready_cache_s=0, nats_url=target.url,
                    nats_stream=target.stream):
        custodian = _register(api)
        monitor = api.token(Role.monitor)
        _deposit(api, custodian, 0)
        log_position = api.services.runner.log_position()
        unpublished = _metrics(api, monitor)
        assert unpublished[("fundledger_relay_up", ())] == 1
        assert unpublished[("fundledger_relay_lag_events", ())] == log_position
        assert unpublished[("fundledger_relay_lag_seconds", ())] >= 0
        asyncio.run(NatsRelay(api.services.ledger, target).relay())
        published = _metrics(api, monitor)
        assert published[("fundledger_relay_lag_events", ())] == 0
        assert published[("fundledger_relay_lag_seconds", ())] == 0
        _deposit(api, custodian, 1)
        behind = _metrics(api, monitor)
        assert behind[("fundledger_relay_lag_events", ())] == \
            api.services.runner.log_position() - log_position > 0


def test_an_unreachable_relay_stream_is_reported_not_fatal(db_url: str) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        nowhere = f"nats://127.0.0.1:{probe.getsockname()[1]}"
    for api in _api(db_url, follow=True, ready_cache_s=0, nats_url=nowhere):
        found = _metrics(api, api.token(Role.monitor))
        assert found[("fundledger_relay_up", ())] == 0
        assert ("fundledger_relay_lag_events", ()) not in found
        assert ("fundledger_view_lag_events", (("view", "balance"),)) in found


def test_a_failed_view_is_named_with_its_event_until_a_fixed_runner_passes_it(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for api in _api(db_url, follow=False, ready_cache_s=0):
        custodian = _register(api)
        _deposit(api, custodian, 0)
        svc = api.services
        for view in svc.views.values():
            if view is not svc.balance:
                svc.runner.catch_up(view)

        def broken(self: BalanceProjection, event: Any, tracking: Tracking) -> None:
            raise ValueError("first-deposit handler is broken")

        with monkeypatch.context() as patch:
            patch.setattr(BalanceProjection, "process_first_deposit", broken)
            failing = open_projection(svc.ledger, BalanceProjection)
            with pytest.raises(ProjectionFailed) as raised:
                svc.runner.catch_up(failing)
        position = raised.value.failure.notification_id
        failed = api.client.get("/readyz")
        assert failed.status_code == 503
        balance = failed.json()["views"]["balance"]
        assert balance["ready"] is False and balance["position"] == position - 1
        assert balance["failure"].startswith(f"stopped at {position} ")
        assert "first-deposit handler is broken" in balance["failure"]
        assert [line.split(":")[0] for line in failed.json()["not_ready"]] == ["view balance"]
        monitor = api.token(Role.monitor)
        assert _metrics(api, monitor)[("fundledger_view_failed", (("view", "balance"),))] == 1

        svc.runner.catch_up(svc.balance)  # a restarted runner, with the fix
        assert api.client.get("/readyz").status_code == 200
        assert _metrics(api, monitor)[("fundledger_view_failed", (("view", "balance"),))] == 0


def test_a_save_that_loses_its_race_counts_a_conflict_and_writes_nothing(api: Api) -> None:
    """What a concurrent writer does to a save (its version already taken), done directly:
    the ledger's recorder refuses it, and the conflict is counted, not a write."""
    custodian = _register(api)
    _deposit(api, custodian, 0)
    monitor = api.token(Role.monitor)
    before = _metrics(api, monitor)
    recorder = api.services.ledger.recorder
    last = recorder.select_notifications(start=api.services.runner.log_position(), limit=1)[0]
    taken = StoredEvent(originator_id=last.originator_id,
                        originator_version=last.originator_version, topic=last.topic,
                        state=last.state)
    with pytest.raises(IntegrityError):
        recorder.insert_events([taken])
    after = _metrics(api, monitor)
    conflicts = ("fundledger_write_conflicts_total", ())
    assert after[conflicts] - before.get(conflicts, 0) == 1
    written = [key for key in after if key[0] == "fundledger_events_written_total"]
    assert {key: after[key] for key in written} == {key: before[key] for key in written}
