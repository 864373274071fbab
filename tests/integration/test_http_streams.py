"""SSE streams of view changes: in log order, resumable by Last-Event-ID, scoped by place."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ledger.access import Role
from tests.integration.http_support import (
    COMMUNITY,
    OTHER,
    OTHER_STREET,
    STREET,
    Api,
    open_api,
    seed,
)


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    yield from open_api(db_url)


def _events(api: Api, token: str, view: str, last_event_id: int | None = None,
            **params: Any) -> list[dict[str, Any]]:
    headers = api.headers(token)
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    response = api.client.get(f"/v1/streams/{view}", headers=headers,
                              params={"until_caught_up": "true", **params})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events: list[dict[str, Any]] = []
    for block in response.text.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines()
                      if ": " in line and not line.startswith(":"))
        if "data" in fields:
            data = json.loads(fields["data"])
            assert fields["id"] == data["id"] and fields["event"] == view
            events.append(data)
    return events


def _deposit(api: Api, token: str, community: str, reference: str) -> int:
    response = api.post(f"/v1/communities/{community}/deposits", token, {
        "reference": reference, "building": "1", "unit": "101", "amount_yuan": "10.00",
        "paid_on": "2026-05-01", "kind": "top_up"})
    assert response.status_code == 201, response.text
    return int(response.json()["position"])


def test_a_reconnect_gets_exactly_what_it_missed_in_order(api: Api) -> None:
    seed(api)
    subscriber = api.token(Role.subscriber)
    first = _events(api, subscriber, "balance")
    positions = [int(e["id"]) for e in first]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert {e["type"] for e in first} >= {"fundledger.UnitAccount.Registered",
                                          "fundledger.UnitAccount.FirstDepositPaid"}
    custodian = api.token(Role.custodian)
    written = [_deposit(api, custodian, COMMUNITY, f"R-{i}") for i in range(3)]
    api.settle()
    missed = _events(api, subscriber, "balance", last_event_id=positions[-1])
    assert [int(e["id"]) for e in missed] == written
    assert [e["data"]["amount_fen"] for e in missed] == [1_000] * 3
    assert _events(api, subscriber, "balance", last_event_id=written[-1]) == []


def test_r2_a_street_subscriber_sees_its_street_only(api: Api) -> None:
    seed(api)
    custodian = api.token(Role.custodian)
    mine = _deposit(api, custodian, COMMUNITY, "MINE")
    theirs = _deposit(api, custodian, OTHER, "THEIRS")
    api.settle()
    street = api.token(Role.subscriber, f"street:{STREET}")
    seen = _events(api, street, "audit", last_event_id=mine - 1)
    assert [int(e["id"]) for e in seen] == [mine]
    assert {e["community"] for e in _events(api, street, "audit")} == {COMMUNITY}
    # Asking for another street than one's own scope shows nothing, never more.
    assert _events(api, street, "audit", street=OTHER_STREET) == []
    city = api.token(Role.subscriber)
    assert [int(e["id"]) for e in _events(api, city, "audit", last_event_id=mine - 1,
                                          street=OTHER_STREET)] == [theirs]


def test_streams_are_refused_to_owners_and_unknown_views(api: Api) -> None:
    seed(api)
    owner = api.token(Role.owner, "owner:owner-CY-A-0")
    assert api.client.get("/v1/streams/balance", headers=api.headers(owner)).status_code == 403
    subscriber = api.token(Role.subscriber)
    response = api.client.get("/v1/streams/nope", headers=api.headers(subscriber))
    assert response.status_code == 404 and response.json()["field"] == "view"


def test_a_client_cut_off_mid_stream_resumes_with_no_gap_and_no_duplicate(api: Api) -> None:
    seed(api)
    custodian = api.token(Role.custodian)
    for i in range(30):
        _deposit(api, custodian, COMMUNITY if i % 2 else OTHER, f"CUT-{i}")
    api.settle()
    subscriber = api.token(Role.subscriber)
    everything = [int(e["id"]) for e in _events(api, subscriber, "audit")]
    assert len(everything) > 30
    received: list[int] = []
    with api.client.stream("GET", "/v1/streams/audit", headers=api.headers(subscriber),
                           params={"until_caught_up": "true"}) as response:
        for line in response.iter_lines():
            if line.startswith("id: "):
                received.append(int(line[len("id: "):]))
            if len(received) == 17:
                break  # the connection drops here, mid-stream
    rest = [int(e["id"]) for e in _events(api, subscriber, "audit",
                                          last_event_id=received[-1])]
    assert received + rest == everything
    token_id = subscriber.removeprefix("flt_").split("_", 1)[0]
    deadline = time.monotonic() + 5
    while api.services.streams_open(token_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.services.streams_open(token_id) == 0  # a dropped client frees its stream
