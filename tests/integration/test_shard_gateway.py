"""One HTTP API over two districts' logs (``api.http.shard_gateway``), on both stores.

A city of two shards (east: the default; west: district 110105) and a city database, each
its own SQLite file or PostgreSQL schema. Every request goes to the one gateway with one
token from the city's tokens; what it writes must land on its community's shard only, and
what it reads must come from there. The city's rates come from the city views, built by the
city reader from both shards' relays (PostgreSQL and NATS, as in test_shards).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.http.shard_gateway import create_gateway
from api.web.pages import SESSION_COOKIE, Viewer
from api.web.routes_officials import city_changes
from domain.errors import NotFound
from domain.ids import vote_id
from ledger.access import Principal, Role, Scope, new_token, token_digest
from ledger.application import FundLedger
from ledger.persistence.access_tables import open_access_tables
from ledger.settings import Settings
from ledger.shards import ShardMap, ShardRouter
from projections.runner import open_projection
from projections.views import VIEWS
from tests.integration.conftest import NATS_URL, delete_streams, require_nats
from tests.integration.http_support import community_body, full_width, page_csrf, staff_sign_in

ROOT = Path(__file__).resolve().parents[2]
EAST, WEST = "110101", "110105"
CITY_E, CITY_W = "GE-1", "GW-1"  # one community in each district
PLACES = {CITY_E: (EAST, "110101001"), CITY_W: (WEST, "110105002")}
SETTLE_S = 20.0


@pytest.fixture(params=["sqlite", "postgres"])
def shard_map(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ShardMap]:
    tag = uuid.uuid4().hex[:8]
    nats = {"nats_url": NATS_URL, "nats_stream": f"FLGATE_{tag}",
            "subject_prefix": f"flgate{tag}"}
    if request.param == "sqlite":
        yield ShardMap(city=str(tmp_path / "city.db"), default="east",
                       shards={"east": str(tmp_path / "east.db"),
                               "west": str(tmp_path / "west.db")},
                       districts={WEST: "west"}, **nats)
        return
    database: str = request.getfixturevalue("pg_database")
    schemas = {name: f"g{name}_{tag}" for name in ("city", "east", "west")}
    with psycopg.connect(database, autocommit=True) as conn:
        for schema in schemas.values():
            conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield ShardMap(city=f"{database}?schema={schemas['city']}", default="east",
                       shards={name: f"{database}?schema={schemas[name]}"
                               for name in ("east", "west")},
                       districts={WEST: "west"}, **nats)
    finally:
        with psycopg.connect(database, autocommit=True) as conn:
            for schema in schemas.values():
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def gateway(shard_map: ShardMap) -> Iterator[tuple[TestClient, ShardRouter]]:
    settings = Settings(shards=shard_map.model_dump_json())
    with TestClient(create_gateway(settings, follow_views=True),
                    raise_server_exceptions=False) as client:
        router = ShardRouter(shard_map, settings)
        try:
            yield client, router
        finally:
            router.close()


def city_token(router: ShardRouter, role: Role, scope: str = "city") -> dict[str, str]:
    """A token kept in the city database, as ``fundledger tokens create`` keeps it."""
    token, token_id = new_token()
    open_access_tables(router.city().recorder).add_token(
        token_digest(token), Principal(f"{role.value}-{token_id[:6]}", role,
                                       Scope.parse(scope), token_id))
    return {"Authorization": f"Bearer {token}"}


def post(client: TestClient, path: str, headers: dict[str, str], body: Any,
         key: str | None = None) -> Any:
    return client.post(path, json=body,
                       headers={**headers, "Idempotency-Key": key or uuid.uuid4().hex})


def register_both(client: TestClient, admin: dict[str, str]) -> None:
    for code, (district, street) in PLACES.items():
        done = post(client, "/v1/communities", admin, community_body(code, district, street))
        assert done.status_code == 201, done.text


def deposit(client: TestClient, custodian: dict[str, str], code: str, unit: str,
            yuan: str, key: str | None = None) -> Any:
    return post(client, f"/v1/communities/{code}/deposits", custodian, {
        "reference": f"BANK-{code}-{unit}", "building": "1", "unit": unit,
        "amount_yuan": yuan, "paid_on": "2026-02-01", "kind": "first"}, key)


def has_community(app: FundLedger, code: str) -> bool:
    try:
        app.community(code)
    except NotFound:
        return False
    return True


def settle(router: ShardRouter) -> None:
    """Every shard's views have applied its log (the apps below follow them)."""
    deadline = time.monotonic() + SETTLE_S
    for name in router.map.shards:
        app = router.shard(name)
        last = app.recorder.max_notification_id() or 0
        for cls in VIEWS.values():
            view = open_projection(app, cls)
            while (view.view.max_tracking_id(app.name) or 0) < last:
                assert time.monotonic() < deadline, f"{name}: {cls.__name__} stays behind"
                time.sleep(0.05)


def test_each_write_lands_on_its_districts_log_and_reads_come_from_there(
    gateway: tuple[TestClient, ShardRouter]
) -> None:
    client, router = gateway
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    assert set(ready.json()["databases"]) == {"east", "west", "city"}
    admin = city_token(router, Role.admin)
    custodian = city_token(router, Role.custodian)
    register_both(client, admin)
    assert has_community(router.shard("east"), CITY_E)
    assert not has_community(router.shard("east"), CITY_W)
    assert has_community(router.shard("west"), CITY_W)
    assert not has_community(router.shard("west"), CITY_E)
    assert router.district_of(CITY_W) == WEST

    for code, yuan in ((CITY_E, "16100.00"), (CITY_W, "16100.00")):
        done = deposit(client, custodian, code, "101", yuan)
        assert done.status_code == 201, done.text
        position = done.json()["position"]
        shard = router.for_community(code)
        assert position <= (shard.recorder.max_notification_id() or 0)
        account = client.get(f"/v1/communities/{code}/units/1/101/account", headers=custodian,
                             params={"min_position": position})
        assert account.status_code == 200, account.text
        assert account.json()["balance_fen"] == int(yuan.replace(".", ""))
        # Typed full-width, the code still finds its district.
        wide = client.get(f"/v1/communities/{full_width(code)}/units/1/{full_width('101')}"
                          "/account", headers=custodian, params={"min_position": position})
        assert wide.status_code == 200 and wide.json() == account.json(), wide.text
    west_log = router.shard("west").recorder.max_notification_id()
    east_log = router.shard("east").recorder.max_notification_id()

    # The officials' dashboard page is the city app's (the city views'): signed in first.
    dashboard = client.get("/web/rates", follow_redirects=False)
    assert dashboard.status_code == 303 and dashboard.headers["location"] == "/web/signin"

    # One token, one key space: a repeat replays wherever its community is.
    repeat = deposit(client, custodian, CITY_W, "102", "18100.00", key="same-key")
    again = deposit(client, custodian, CITY_W, "102", "18100.00", key="same-key")
    assert repeat.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == repeat.json()
    assert router.shard("east").recorder.max_notification_id() == east_log
    assert (router.shard("west").recorder.max_notification_id() or 0) > (west_log or 0)


def test_lists_merge_every_district_and_page_in_code_order(
    gateway: tuple[TestClient, ShardRouter]
) -> None:
    client, router = gateway
    admin = city_token(router, Role.admin)
    register_both(client, admin)
    for code in PLACES:
        vote = post(client, "/v1/votes", admin, {
            "community_code": code, "reference": "V-1", "matter_kind": "fund_use",
            "title": "电梯维修", "proposed_on": "2026-03-01", "buildings": ["1"],
            "approved_amount_yuan": "5000.00", "purpose": "电梯更换"})
        assert vote.status_code == 201, vote.text
        one = client.get(f"/v1/votes/{vote.json()['id']}", headers=admin)
        assert one.status_code == 200 and one.json()["community_code"] == code
    settle(router)

    listed = client.get("/v1/communities", headers=admin, params={"min_position": 1})
    assert listed.status_code == 200, listed.text
    assert [f["community_code"] for f in listed.json()["items"]] == [CITY_E, CITY_W]
    first = client.get("/v1/communities", headers=admin, params={"limit": 1}).json()
    assert [f["community_code"] for f in first["items"]] == [CITY_E]
    assert first["next_after"] == CITY_E
    second = client.get("/v1/communities", headers=admin,
                        params={"limit": 1, "after": first["next_after"]}).json()
    assert [f["community_code"] for f in second["items"]] == [CITY_W]
    votes = client.get("/v1/votes", headers=admin).json()["items"]
    assert [(v["community_code"], v["reference"]) for v in votes] == [
        (CITY_E, "V-1"), (CITY_W, "V-1")]
    only_west = client.get("/v1/votes", headers=admin, params={"community": CITY_W})
    assert [v["community_code"] for v in only_west.json()["items"]] == [CITY_W]
    # A district's official sees the district's part of the city list, from either shard.
    east_official = city_token(router, Role.official, f"district:{EAST}")
    seen = client.get("/v1/communities", headers=east_official).json()["items"]
    assert [f["community_code"] for f in seen] == [CITY_E]

    # On the pages, a city auditor's vote list is every district's; the audit trail, one
    # log each, asks for a community (naming every district's) rather than show one
    # district's log as the city's.
    ids = {code: str(vote_id(code, "V-1")) for code in PLACES}
    staff_sign_in(client, _bearer(city_token(router, Role.auditor)))
    votes_page = client.get("/web/votes")
    assert votes_page.status_code == 200, votes_page.text
    assert all(f"/web/votes/{ids[code]}" in votes_page.text for code in PLACES)
    trail = client.get("/web/audit")
    assert trail.status_code == 200, trail.text
    assert "各区日志分库存放" in trail.text and 'option value=""' not in trail.text.split(
        'id="f-community"', 1)[1].split("</select>", 1)[0]
    assert all(f'<option value="{code}"' in trail.text for code in PLACES)
    west_trail = client.get("/web/audit", params={"community": CITY_W})
    assert west_trail.status_code == 200 and "各区日志分库存放" not in west_trail.text
    assert f'<option value="{CITY_W}" selected>' in west_trail.text


def test_what_the_gateway_answers_itself_is_logged_once_under_its_own_request_id(
    gateway: tuple[TestClient, ShardRouter], log_lines: io.StringIO
) -> None:
    """A merged list, /readyz and a refusal in routing: one request
    log line each, naming the route template, the status, the caller, and the request id
    the response carries (the apps below log their own parts under their own ids)."""
    client, router = gateway
    admin = city_token(router, Role.admin)
    register_both(client, admin)
    principal = open_access_tables(router.city().recorder).principal(
        token_digest(admin["Authorization"].removeprefix("Bearer ")))
    assert principal is not None
    for method, path, body, route, status, caller in (
            ("GET", "/v1/communities", None, "/v1/communities", 200, principal.principal_id),
            ("GET", "/readyz", None, "/readyz", 200, None),
            ("POST", "/v1/enterprises", {"credit_code": "X"}, "/v1/enterprises", 422, None)):
        before = len(log_lines.getvalue().splitlines())
        answer = client.request(method, path, json=body,
                                headers={**admin, "Idempotency-Key": uuid.uuid4().hex})
        assert answer.status_code == status, answer.text
        [request_id] = answer.headers.get_list("X-Request-Id")
        lines = [json.loads(line) for line in log_lines.getvalue().splitlines()[before:]]
        mine = [line for line in lines if line["request_id"] == request_id]
        assert [(line["route"], line["status"], line["principal"]) for line in mine] == [
            (route, status, caller)], lines


def test_a_registration_the_token_may_not_make_enters_no_directory(
    gateway: tuple[TestClient, ShardRouter]
) -> None:
    client, router = gateway
    east_official = city_token(router, Role.official, f"district:{EAST}")
    refused = post(client, "/v1/communities", east_official,
                   community_body(CITY_W, *PLACES[CITY_W]))
    assert refused.status_code in (403, 404), refused.text
    with pytest.raises(NotFound):
        router.district_of(CITY_W)
    unknown = client.post("/v1/communities", json=community_body(CITY_W, *PLACES[CITY_W]),
                          headers={"Authorization": "Bearer nope", "Idempotency-Key": "k"})
    assert unknown.status_code == 401
    with pytest.raises(NotFound):
        router.district_of(CITY_W)
    # A community never moves district (F1): registering it again elsewhere is refused.
    admin = city_token(router, Role.admin)
    register_both(client, admin)
    moved = post(client, "/v1/communities", admin, community_body(CITY_W, *PLACES[CITY_E]))
    assert moved.status_code == 409, moved.text
    assert (moved.json()["rule"], moved.json()["field"]) == ("F1", "district")
    assert not has_community(router.shard("east"), CITY_W)
    # An enterprise must reach every shard: the CLI's shards register-enterprise does that.
    enterprise = post(client, "/v1/enterprises", admin,
                      {"credit_code": "91110105MA01HDA00X", "name": "物业",
                       "registered_on": "2026-01-01"})
    assert enterprise.status_code == 422
    assert enterprise.json()["rule"] == "shards"


@pytest.mark.parametrize("shard_map", ["postgres"], indirect=True)  # the relays' store
def test_the_city_rates_and_audit_come_from_the_city_views_the_reader_built(
    shard_map: ShardMap, gateway: tuple[TestClient, ShardRouter]
) -> None:
    require_nats()
    client, router = gateway
    admin = city_token(router, Role.admin)
    register_both(client, admin)
    custodian = city_token(router, Role.custodian)
    for code in PLACES:
        for unit, yuan in (("101", "16100.00"), ("102", "18100.00")):
            assert deposit(client, custodian, code, unit, yuan).status_code == 201
    env = {**os.environ, "FUNDLEDGER_SHARDS": shard_map.model_dump_json()}
    env.pop("FUNDLEDGER_DB", None)
    try:
        read_into_the_city(env)
        rates = client.get("/v1/rates", headers=admin, params={"level": "city", "year": 2026})
        assert rates.status_code == 200, rates.text
        assert rates.json()["communities"] == 2
        west = client.get("/v1/rates", headers=admin,
                          params={"level": "district", "code": WEST, "year": 2026}).json()
        assert west["communities"] == 1

        # The city's audit search: both districts' entries, each naming its log, paged.
        city = client.get("/v1/audit", headers=custodian).json()
        assert sorted((e["shard"], e["community_code"]) for e in city["items"]) == [
            ("east", CITY_E), ("east", CITY_E), ("west", CITY_W), ("west", CITY_W)]
        paged, after = [], None
        while True:
            page = client.get("/v1/audit", headers=custodian,
                              params={"limit": 3, **({"after": after} if after else {})})
            assert page.status_code == 200, page.text
            paged += page.json()["items"]
            after = page.json()["next_after"]
            if after is None:
                break
        assert paged == city["items"]
        only_west = client.get("/v1/audit", headers=custodian, params={"shard": "west"})
        assert {e["community_code"] for e in only_west.json()["items"]} == {CITY_W}
        # One community: its district's own audit, in that log's positions.
        settle(router)
        own = client.get("/v1/audit", headers=custodian, params={"community": CITY_W})
        assert [e["notification_id"] for e in own.json()["items"]] == [
            e["notification_id"] for e in only_west.json()["items"]]
        below = city_token(router, Role.official, f"district:{WEST}")
        refused = client.get("/v1/audit", headers=below)
        assert (refused.status_code, refused.json()["field"]) == (422, "community")
        assert client.get("/v1/audit", headers=custodian,
                          params={"after": "nowhere"}).json()["field"] == "after"
        assert client.get("/v1/audit").status_code == 401

        # The officials' dashboard: the city's figures, every district's communities named.
        official = city_token(router, Role.official)
        staff_sign_in(client, _bearer(official))
        page = client.get("/web/rates")
        assert page.status_code == 200, page.text
        assert "小区 GE-1" in page.text and "小区 GW-1" in page.text
        gateway_app: Any = client.app
        city = gateway_app.city_app.state.services
        east_at = router.shard("east").recorder.max_notification_id() or 0
        west_at = router.shard("west").recorder.max_notification_id() or 0
        assert f"after={east_at + west_at}" in page.text  # the sum of its positions
        # It follows the city views: a deposit moves them but not the figures (nothing
        # sent); a third community moves the figures (sent, naming each district's position).
        session_id = client.cookies.get(SESSION_COOKIE)
        viewer = Viewer(session_id, city.signin().session(session_id))

        async def follow() -> dict[str, Any]:
            # A page drawn before the view read as far as it has now is refreshed at once.
            behind = city_changes(_Connected(), city, viewer, "city", None, 0)  # type: ignore[arg-type]
            assert (await asyncio.wait_for(anext(behind), 10))["id"] == str(east_at + west_at)
            await behind.aclose()
            changes = city_changes(_Connected(), city, viewer, "city", None,  # type: ignore[arg-type]
                                    east_at + west_at)
            first = asyncio.ensure_future(anext(changes))
            moved = await asyncio.to_thread(deposit, client, custodian, CITY_W, "103", "20100.00")
            assert moved.status_code == 201, moved.text
            await asyncio.to_thread(read_into_the_city, env)
            done, _ = await asyncio.wait({first}, timeout=2.5)
            assert not done, "a deposit changed no figure"
            registered = await asyncio.to_thread(
                post, client, "/v1/communities", admin,
                community_body("GW-2", WEST, PLACES[CITY_W][1]))
            assert registered.status_code == 201, registered.text
            await asyncio.to_thread(read_into_the_city, env)
            try:
                return await asyncio.wait_for(first, 10)
            finally:
                await changes.aclose()

        change = asyncio.run(follow())
        east_at = router.shard("east").recorder.max_notification_id() or 0
        west_at = router.shard("west").recorder.max_notification_id() or 0
        assert change == {"id": str(east_at + west_at), "event": "changed",
                          "data": f"east {east_at}，west {west_at}"}
        page = client.get("/web/rates")
        assert "小区 GW-2" in page.text
    finally:
        asyncio.run(delete_streams(shard_map.nats_stream))


def _bearer(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


class _Connected:
    """A request whose client stays (the live changes' own check)."""

    async def is_disconnected(self) -> bool:
        return False


def read_into_the_city(env: dict[str, str]) -> None:
    """Both relays, then the city reader, each run once as its command."""
    for args in (["relay", "east"], ["relay", "west"], ["city-read"]):
        done = subprocess.run([sys.executable, "-m", "ledger", "shards", *args], env=env,
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr


def _sign_in(client: TestClient, code: str) -> Any:
    client.cookies.clear()
    page = client.get("/web/signin")
    return client.post("/web/signin", data={"code": code, "csrf": page_csrf(page.text)},
                       follow_redirects=False)


def _open_vote(app: FundLedger, community: str) -> str:
    app.deliver_units(community_code=community, delivered_on=date(2026, 2, 2), actor="test")
    app.propose_vote(community_code=community, vote_reference="ROOF-1", matter_kind="fund_use",
                     title="屋面防水", proposed_on=date(2026, 3, 1), actor="test",
                     unit_keys=["1-101", "1-102"], approved_amount_fen=100_000,
                     purpose="屋面防水层翻新")
    app.publish_vote(community_code=community, vote_reference="ROOF-1",
                     published_on=date(2026, 3, 2), actor="test")
    app.open_vote(community_code=community, vote_reference="ROOF-1",
                  opened_on=date(2026, 3, 17), actor="test")
    return str(vote_id(community, "ROOF-1"))


def test_owners_sign_in_and_vote_on_their_pages_whichever_district_keeps_their_log(
    gateway: tuple[TestClient, ShardRouter], shard_map: ShardMap
) -> None:
    """A code issued through the gateway (or by the CLI) on either shard signs its owner in
    through the gateway, and the owner's pages read and write their community's shard."""
    client, router = gateway
    admin, custodian = city_token(router, Role.admin), city_token(router, Role.custodian)
    register_both(client, admin)
    assert deposit(client, custodian, CITY_W, "101", "16100.00").status_code == 201
    west_vote = _open_vote(router.shard("west"), CITY_W)

    # The east owner's unit has no deposit: each page shows its own shard's figures.
    for code, balance in ((CITY_W, "16,100.00"), (CITY_E, "0.00")):
        issued = post(client, f"/v1/communities/{code}/sign-in-codes", custodian,
                      {"owner_id": f"owner-{code}-0"})
        assert issued.status_code == 201, issued.text
        signed_in = _sign_in(client, issued.json()["code"])
        assert signed_in.status_code == 303, signed_in.text
        units = client.get("/web/units")
        assert units.status_code == 200 and "1 号楼 101" in units.text, units.text
        unit = client.get("/web/units/1/101")
        assert unit.status_code == 200 and balance in unit.text
        wide = client.get(f"/web/units/{full_width('1')}/{full_width('101')}")
        assert wide.status_code == 200 and balance in wide.text
        assert client.get("/web/units/1/102").status_code == 404  # another owner's

    # The west owner votes from the page: the ballot lands on the west shard only.
    west_log = router.shard("west").recorder.max_notification_id() or 0
    east_log = router.shard("east").recorder.max_notification_id()
    assert _sign_in(client, post(client, f"/v1/communities/{CITY_W}/sign-in-codes", custodian,
                                 {"owner_id": f"owner-{CITY_W}-0"}).json()["code"]
                    ).status_code == 303
    settle(router)  # the vote list is the audit view's
    listed = client.get("/web/votes").text
    assert "屋面防水" in listed
    page = client.get(f"/web/votes/{west_vote}")
    assert page.status_code == 200, page.text
    cast = client.post(f"/web/votes/{west_vote}/ballot", data={
        "choice": "agree", "confirm": "yes", "csrf": page_csrf(page.text)})
    assert cast.status_code == 200 and "不能更改" in cast.text, cast.text
    west = router.shard("west")
    count = west.vote_count(west.vote(CITY_W, "ROOF-1"))
    assert [b.choice for b in count.ballots.values()] == ["agree"]
    assert (west.recorder.max_notification_id() or 0) > west_log
    assert router.shard("east").recorder.max_notification_id() == east_log

    # A code from the CLI under the shard map signs in through the gateway too.
    env = {**os.environ, "FUNDLEDGER_SHARDS": shard_map.model_dump_json()}
    env.pop("FUNDLEDGER_DB", None)
    invited = subprocess.run([sys.executable, "-m", "ledger", "owners", "invite", CITY_W,
                              f"owner-{CITY_W}-2"], env=env, cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
    assert invited.returncode == 0, invited.stdout + invited.stderr
    assert _sign_in(client, invited.stdout.strip().splitlines()[-1]).status_code == 303
    assert "1 号楼 103" in client.get("/web/units").text
    revoked = subprocess.run([sys.executable, "-m", "ledger", "owners", "revoke",
                              f"owner-{CITY_W}-2"], env=env, cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    assert client.get("/web/units", follow_redirects=False).status_code == 303  # signed out


def test_tokens_made_by_the_cli_under_a_shard_map_are_the_citys(shard_map: ShardMap) -> None:
    env = {**os.environ, "FUNDLEDGER_SHARDS": shard_map.model_dump_json()}
    env.pop("FUNDLEDGER_DB", None)
    made = subprocess.run([sys.executable, "-m", "ledger", "tokens", "create", "--role",
                           "auditor", "--name", "city-auditor"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stdout + made.stderr
    router = ShardRouter(shard_map, Settings(shards=shard_map.model_dump_json()))
    try:
        names = [t.name for t in open_access_tables(router.city().recorder).list_tokens()]
        assert names == ["city-auditor"]
        assert not open_access_tables(router.home().recorder).list_tokens()
    finally:
        router.close()
