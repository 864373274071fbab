"""The owners' pages' sign-in and sessions, and GET /v1/votes, over HTTP on both stores.

(The same flows in a real browser are ``tests/e2e/test_owners_browser.py``.)
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from api.web.identity import FAILURE_WINDOW, FAILURES_MAX, SignInRefused, utc_now
from domain.ids import vote_id
from ledger.access import Role
from tests.integration.http_support import (
    COMMUNITY,
    OTHER,
    Api,
    community_body,
    open_api,
    page_csrf,
    seed,
)

ACTOR = "test:office"
VOTE = "ROOF-1"


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    for opened in open_api(db_url):
        seed(opened)
        yield opened


def _open_vote(api: Api, community: str = COMMUNITY) -> str:
    """A fund-use vote over units 1-101 and 1-102, open; returns its id."""
    ledger = api.services.ledger
    ledger.deliver_units(community_code=community, delivered_on=date(2026, 2, 2), actor=ACTOR)
    ledger.propose_vote(community_code=community, vote_reference=VOTE, matter_kind="fund_use",
                        title="屋面防水", proposed_on=date(2026, 3, 1), actor=ACTOR,
                        unit_keys=["1-101", "1-102"], approved_amount_fen=100_000,
                        purpose="屋面防水层翻新")
    ledger.publish_vote(community_code=community, vote_reference=VOTE,
                        published_on=date(2026, 3, 2), actor=ACTOR)
    ledger.open_vote(community_code=community, vote_reference=VOTE,
                     opened_on=date(2026, 3, 17), actor=ACTOR)
    return str(vote_id(community, VOTE))


def _sign_in(api: Api, code: str) -> Any:
    page = api.client.get("/web/signin")
    return api.client.post("/web/signin", data={"code": code, "csrf": page_csrf(page.text)},
                           follow_redirects=False)


def _invite(api: Api, owner: str, community: str = COMMUNITY, **kwargs: Any) -> str:
    return api.services.signin().invite(community, owner, issued_by="test", **kwargs).code


def test_a_code_signs_in_once_and_the_store_keeps_only_its_digest(api: Api) -> None:
    custodian = api.token(Role.custodian, "district:110105")
    issued = api.post(f"/v1/communities/{COMMUNITY}/sign-in-codes", custodian,
                      {"owner_id": "owner-CY-A-1"})
    assert issued.status_code == 201, issued.text
    assert issued.headers["cache-control"] == "no-store"
    body = issued.json()
    assert body["written"] == "sign-in-code" and body["unit_keys"] == ["1-102"]
    assert body["link"].endswith(f"/web/signin#code={body['code']}")

    signed_in = _sign_in(api, body["code"].lower().replace("-", " "))  # as a person types it
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/web/units"
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=" in cookie
    units = api.client.get("/web/units")
    assert units.status_code == 200 and "1 号楼 102" in units.text

    api.client.cookies.clear()
    again = _sign_in(api, body["code"])
    assert again.status_code == 401 and "无效" in again.text
    tables = api.services.signin().tables
    with tables.datastore.transaction(commit=False) as c:
        for table in ("web_signin_codes", "web_sessions"):
            c.execute(f"SELECT * FROM {tables.names[table]}")
            stored = repr([tuple(row) for row in c.fetchall()])
            assert body["code"] not in stored and body["code"].replace("-", "") not in stored


def test_an_expired_code_is_refused(api: Api) -> None:
    code = _invite(api, "owner-CY-A-0", now=utc_now() - timedelta(days=4))
    refused = _sign_in(api, code)
    assert refused.status_code == 401
    assert api.client.get("/web/units", follow_redirects=False).status_code == 303


def test_a_new_code_replaces_the_unused_one(api: Api) -> None:
    first = _invite(api, "owner-CY-A-0")
    second = _invite(api, "owner-CY-A-0")
    assert _sign_in(api, first).status_code == 401
    assert _sign_in(api, second).status_code == 303


def test_guessing_codes_is_rate_limited(api: Api) -> None:
    good = _invite(api, "owner-CY-A-0")
    for n in range(FAILURES_MAX):
        assert _sign_in(api, f"WRONG-CODE-{n:04d}").status_code == 401
    limited = _sign_in(api, good)
    assert limited.status_code == 429 and "15" in limited.text
    assert api.client.get("/web/units", follow_redirects=False).status_code == 303


def test_failed_sign_ins_are_kept_only_for_their_window(api: Api) -> None:
    """Anyone can fail to sign in: the attempts kept are the rate limit's window, a
    client's older ones dropped with its next failure and every client's once a window."""
    signin = api.services.signin()
    start = utc_now()
    now = [start]
    signin.clock = lambda: now[0]
    long_ago = start - timedelta(days=1)

    def fail(client: str, after: timedelta) -> None:
        now[0] = start + after
        with pytest.raises(SignInRefused):
            signin.redeem("WRONG-CODE", client)

    for _ in range(3):
        fail("10.0.0.1", timedelta(0))
    for _ in range(2):
        fail("10.0.0.2", timedelta(minutes=10))
    assert signin.tables.failures_since("10.0.0.1", long_ago) == 3
    fail("10.0.0.2", FAILURE_WINDOW + timedelta(minutes=1))
    # The first client never came back: its attempts went with the window's sweep.
    assert signin.tables.failures_since("10.0.0.1", long_ago) == 0
    assert signin.tables.failures_since("10.0.0.2", long_ago) == 3
    fail("10.0.0.2", FAILURE_WINDOW + timedelta(minutes=11))
    assert signin.tables.failures_since("10.0.0.2", long_ago) == 2


def test_a_developers_session_keeps_to_the_community_its_code_was_issued_in(
        api: Api) -> None:
    """Every community's unsold units carry the owner id "developer": signed in with a code
    from one community, a developer sees and votes in that community's votes only."""
    admin = api.token(Role.admin)
    ledger = api.services.ledger
    votes = {}
    for code, street in (("CY-DEV-A", "110105001"), ("CY-DEV-B", "110105002")):
        body = community_body(code, "110105", street)
        body["units"][3]["owner_ids"] = ["developer"]  # 1-104 unsold
        assert api.post("/v1/communities", admin, body).status_code == 201
        ledger.propose_vote(community_code=code, vote_reference="HIRE", title="选聘物业",
                            matter_kind="hire_enterprise", proposed_on=date(2026, 3, 1),
                            actor=ACTOR)
        ledger.publish_vote(community_code=code, vote_reference="HIRE",
                            published_on=date(2026, 3, 2), actor=ACTOR)
        ledger.open_vote(community_code=code, vote_reference="HIRE",
                         opened_on=date(2026, 3, 17), actor=ACTOR)
        votes[code] = str(vote_id(code, "HIRE"))
    assert _sign_in(api, _invite(api, "developer", "CY-DEV-A")).status_code == 303
    session = api.services.signin().session(api.client.cookies.get("fl_session"))
    assert session is not None and str(session.principal.scope) == "owner:developer/CY-DEV-A"
    assert api.client.get(f"/web/votes/{votes['CY-DEV-A']}").status_code == 200
    assert api.client.get(f"/web/votes/{votes['CY-DEV-B']}").status_code == 404
    page = api.client.get(f"/web/votes/{votes['CY-DEV-A']}")
    refused = api.client.post(f"/web/votes/{votes['CY-DEV-B']}/ballot", data={
        "choice": "agree", "confirm": "yes", "csrf": page_csrf(page.text)})
    assert refused.status_code == 404
    assert ledger.ballots_cast(ledger.vote("CY-DEV-B", "HIRE")) == 0


def test_a_forged_or_signed_out_session_is_refused(api: Api) -> None:
    api.client.cookies.set("fl_session", "forged", path="/web")
    forged = api.client.get("/web/units", follow_redirects=False)
    assert forged.status_code == 303 and forged.headers["location"] == "/web/signin"
    api.client.cookies.clear()
    assert _sign_in(api, _invite(api, "owner-CY-A-0")).status_code == 303
    session = api.client.cookies.get("fl_session")
    page = api.client.get("/web/units")
    out = api.client.post("/web/signout", data={"csrf": page_csrf(page.text)},
                          follow_redirects=False)
    assert out.status_code == 303
    api.client.cookies.set("fl_session", str(session), path="/web")
    assert api.client.get("/web/units", follow_redirects=False).status_code == 303


def test_revoking_an_owner_ends_their_sessions(api: Api) -> None:
    assert _sign_in(api, _invite(api, "owner-CY-A-0")).status_code == 303
    assert api.services.signin().revoke_owner("owner-CY-A-0") == (0, 1)
    assert api.client.get("/web/units", follow_redirects=False).status_code == 303


def test_a_ballot_posted_without_csrf_changes_nothing_and_with_it_is_recorded(
        api: Api) -> None:
    id_ = _open_vote(api)
    assert _sign_in(api, _invite(api, "owner-CY-A-0")).status_code == 303
    form = {"choice": "agree", "confirm": "yes"}
    assert api.client.post(f"/web/votes/{id_}/ballot", data=form).status_code == 403
    other_site = api.client.post(f"/web/votes/{id_}/ballot", headers={
        "Origin": "https://evil.example"}, data={**form, "csrf": page_csrf(
            api.client.get(f"/web/votes/{id_}").text)})
    assert other_site.status_code == 403
    ledger = api.services.ledger
    assert ledger.vote_count(ledger.vote(COMMUNITY, VOTE)).ballots == {}
    page = api.client.get(f"/web/votes/{id_}")
    cast = api.client.post(f"/web/votes/{id_}/ballot", data={**form, "csrf": page_csrf(page.text)})
    assert cast.status_code == 200 and "不能更改" in cast.text
    count = ledger.vote_count(ledger.vote(COMMUNITY, VOTE))
    assert [b.choice for b in count.ballots.values()] == ["agree"]
    assert count.receipt_for("owner-CY-A-0") in cast.text
    again = api.client.post(f"/web/votes/{id_}/ballot",
                            data={"choice": "disagree", "confirm": "yes",
                                  "csrf": page_csrf(page.text)})
    # Refused with the rule (one ballot per voter), beside the ballot that stands.
    assert again.status_code == 422 and "V5" in again.text and "提交投票" not in again.text
    count = ledger.vote_count(ledger.vote(COMMUNITY, VOTE))
    assert [b.choice for b in count.ballots.values()] == ["agree"]


def test_an_owner_sees_only_their_own_units_and_votes(api: Api) -> None:
    id_ = _open_vote(api)
    api.settle()
    assert _sign_in(api, _invite(api, "owner-CY-A-3")).status_code == 303
    assert api.client.get("/web/units/1/104").status_code == 200
    for path in ("/web/units/1/101", "/web/units/9/999", f"/web/votes/{id_}"):
        assert api.client.get(path).status_code == 404, path  # 1-104 is outside the range


def test_a_signed_in_pages_request_log_line_names_the_owner_not_the_session(
        api: Api, log_lines: io.StringIO) -> None:
    assert _sign_in(api, _invite(api, "owner-CY-A-3")).status_code == 303
    before = len(log_lines.getvalue().splitlines())
    assert api.client.get("/web/units/1/104").status_code == 200
    [line] = [json.loads(text) for text in log_lines.getvalue().splitlines()[before:]]
    assert line["route"] == "/web/units/{building}/{unit}" and line["status"] == 200
    assert line["principal"] is not None and "owner-CY-A-3" not in log_lines.getvalue()
    for cookie in api.client.cookies.values():
        assert cookie not in log_lines.getvalue()


def test_staff_exchange_a_token_for_a_session_and_owners_cannot(api: Api) -> None:
    _open_vote(api)
    api.settle()  # votes are listed from the audit view
    page = api.client.get("/web/signin")
    owner_token = api.token(Role.owner, "owner:owner-CY-A-0")
    refused = api.client.post("/web/signin/token", data={
        "token": owner_token, "csrf": page_csrf(page.text)}, follow_redirects=False)
    assert refused.status_code == 401
    official = api.token(Role.official, "district:110105")
    signed_in = api.client.post("/web/signin/token", data={
        "token": official, "csrf": page_csrf(page.text)})
    assert signed_in.status_code == 200 and "屋面防水" in signed_in.text
    assert api.client.get("/web/units").status_code == 404  # staff have no units


def test_get_votes_lists_the_votes_in_scope_paged(api: Api) -> None:
    _open_vote(api)
    ledger = api.services.ledger
    for reference in ("A-2", "A-3"):
        ledger.propose_vote(community_code=COMMUNITY, vote_reference=reference,
                            matter_kind="other_ordinary", title=reference,
                            proposed_on=date(2026, 4, 1), actor=ACTOR)
    ledger.propose_vote(community_code=OTHER, vote_reference="B-1",
                        matter_kind="other_ordinary", title="B", proposed_on=date(2026, 4, 1),
                        actor=ACTOR)
    api.settle()
    city = api.token(Role.auditor)
    district = api.token(Role.official, "district:110105")
    owner = api.token(Role.owner, "owner:owner-CY-A-1")

    def listed(token: str, **params: Any) -> list[str]:
        response = api.get("/v1/votes", token, **params)
        assert response.status_code == 200, response.text
        return [f"{v['community_code']}/{v['reference']}" for v in response.json()["items"]]

    assert listed(city) == ["CY-A/A-2", "CY-A/A-3", "CY-A/ROOF-1", "CY-B/B-1"]
    assert listed(district) == ["CY-A/A-2", "CY-A/A-3", "CY-A/ROOF-1"]
    assert listed(district, status="open") == ["CY-A/ROOF-1"]
    assert listed(owner) == ["CY-A/ROOF-1"]  # the electorate holds owner-CY-A-1
    assert listed(city, community=OTHER) == ["CY-B/B-1"]
    assert api.get("/v1/votes", district, community=OTHER).status_code == 404
    first = api.get("/v1/votes", city, limit=2).json()
    assert first["next_after"] == "CY-A/A-3"
    assert listed(city, limit=2, after=first["next_after"]) == ["CY-A/ROOF-1", "CY-B/B-1"]


def test_sign_in_codes_are_for_owners_in_the_issuers_scope(api: Api) -> None:
    custodian = api.token(Role.custodian, "district:110105")
    outside = api.post(f"/v1/communities/{OTHER}/sign-in-codes", custodian,
                       {"owner_id": "owner-CY-B-0"})
    assert outside.status_code == 404
    nobody = api.post(f"/v1/communities/{COMMUNITY}/sign-in-codes", custodian,
                      {"owner_id": "owner-CY-B-0"})
    assert nobody.status_code == 404 and nobody.json()["field"] == "owner_id"
    auditor = api.token(Role.auditor)
    assert api.post(f"/v1/communities/{COMMUNITY}/sign-in-codes", auditor,
                    {"owner_id": "owner-CY-A-0"}).status_code == 403
