"""The HTTP API's contract on both stores: policies, scopes, amounts, idempotency, errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from api.http import idempotency
from api.http.app import create_app, route_policies
from api.http.problems import PROBLEM_JSON
from ledger.access import Role
from tests.integration.http_support import (
    COMMUNITY,
    DISTRICT,
    OTHER,
    STREET,
    Api,
    open_api,
    seed,
)

DEPOSIT = {"reference": "BANK-1", "building": "1", "unit": "102", "amount_yuan": "250.50",
           "paid_on": "2026-03-01", "kind": "top_up"}


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    yield from open_api(db_url)


@pytest.fixture
def seeded(api: Api) -> Api:
    seed(api)
    return api


def _problem(response: Any, status: int, rule: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    if rule is not None:
        assert body["rule"] == rule, body
    assert "Traceback" not in response.text
    return body


def test_every_route_declares_which_roles_may_call_it() -> None:
    app = create_app()
    policies = route_policies(app)
    documented = {(method.upper(), path) for path, operations in app.openapi()["paths"].items()
                  for method in operations}
    assert set(policies) == documented  # the walk found every route there is
    missing = [route for route, policy in policies.items() if policy is None]
    assert missing == []


def _fill(path: str, community: str) -> str:
    return (path.replace("{code}", community).replace("{building}", "1")
            .replace("{unit}", "101"))


def _routes(api: Api) -> list[tuple[str, str, tuple[Role, ...]]]:
    return [(method, path, policy.roles)
            for (method, path), policy in route_policies(api.app).items() if policy]


def test_route_role_scope_matrix(seeded: Api) -> None:
    """Every route x role: no token 401, a role outside the policy 403, inside it never
    401/403; a community route read or written from another community's scope is 404."""
    api = seeded
    for method, path, roles in _routes(api):
        url = _fill(path, COMMUNITY)
        anonymous = api.client.request(method, url, json={}, headers={"Idempotency-Key": "m"})
        _problem(anonymous, 401, "authentication")
        for role in Role:
            token = api.token(role, "city" if role is not Role.owner else "owner:owner-CY-A-0")
            response = api.client.request(method, url, json={},
                                          headers=api.headers(token, "matrix"))
            if role in roles:
                assert response.status_code not in (401, 403), (method, path, role,
                                                                response.text)
            else:
                _problem(response, 403, "role")
        if "{code}" in path:
            outsider = api.token(roles[0], f"community:{OTHER}" if roles[0] is not Role.owner
                                 else "owner:someone-else")
            response = api.client.request(method, url, json=_valid_body(method, path),
                                          headers=api.headers(outsider, "scope"))
            _problem(response, 404)


def _valid_body(method: str, path: str) -> dict[str, Any] | None:
    if method != "POST":
        return None
    if path.endswith("/deposits"):
        return DEPOSIT
    return {}


def test_a_deposit_reads_back_through_the_balance_view(seeded: Api) -> None:
    api = seeded
    custodian = api.token(Role.custodian, f"street:{STREET}")
    response = api.post(f"/v1/communities/{COMMUNITY}/deposits", custodian, DEPOSIT)
    assert response.status_code == 201, response.text
    written = response.json()
    assert written["already_posted"] is False and written["position"] > 0
    auditor = api.token(Role.auditor, f"district:{DISTRICT}")
    account = api.get(f"/v1/communities/{COMMUNITY}/units/1/102/account", auditor,
                      min_position=written["position"])
    assert account.status_code == 200, account.text
    body = account.json()
    assert body["deposits_fen"] == 1_810_000 + 25_050
    assert body["deposits_yuan"] == "18350.50"
    assert body["balance_fen"] == body["deposits_fen"]
    fund = api.get(f"/v1/communities/{COMMUNITY}/fund", auditor,
                   min_position=written["position"]).json()
    assert fund["balance_fen"] == sum(16_100_00 + 2_000_00 * i for i in range(4)) + 25_050
    audit = api.get("/v1/audit", auditor, community=COMMUNITY, kind="ToppedUp",
                    min_position=written["position"]).json()
    assert [(e["reference"], e["amount_fen"]) for e in audit["items"]] == [("BANK-1", 25_050)]


def test_a_reference_repeated_under_a_new_key_answers_the_first_position(seeded: Api) -> None:
    """A bank file sent again under new keys: each repeat writes nothing and says where the
    posting it found sits in the log, as the first answer did."""
    api = seeded
    custodian = api.token(Role.custodian)
    first = api.post(f"/v1/communities/{COMMUNITY}/deposits", custodian, DEPOSIT, key="one")
    assert first.status_code == 201, first.text
    position = first.json()["position"]
    assert position > 0
    repeat = api.post(f"/v1/communities/{COMMUNITY}/deposits", custodian, DEPOSIT, key="two")
    assert repeat.status_code == 201, repeat.text
    assert repeat.json() == {**first.json(), "already_posted": True, "position": position}
    assert api.services.ledger.recorder.max_notification_id() == position


def test_amounts_are_decimal_strings_and_a_refusal_writes_nothing(seeded: Api) -> None:
    api = seeded
    custodian = api.token(Role.custodian)
    before = api.services.ledger.recorder.max_notification_id()
    for amount, rule in ((250.5, "string_type"), (250, "string_type"), ("0", None),
                         ("0.00", None), ("-5.00", None), ("1.234", None), ("1e3", None),
                         ("", None)):
        response = api.post(f"/v1/communities/{COMMUNITY}/deposits", custodian,
                            {**DEPOSIT, "amount_yuan": amount})
        body = _problem(response, 422, rule)
        assert body["field"] == "amount_yuan", body
    response = api.post(f"/v1/communities/{COMMUNITY}/deposits", custodian,
                        {**DEPOSIT, "balance_fen": 1})
    assert _problem(response, 422)["field"] == "balance_fen"
    assert api.services.ledger.recorder.max_notification_id() == before


def test_a_bad_batch_line_refuses_the_batch_naming_it(seeded: Api) -> None:
    api = seeded
    custodian = api.token(Role.custodian)
    before = api.services.ledger.recorder.max_notification_id()
    lines = [{**DEPOSIT, "reference": f"B-{i}"} for i in range(3)]
    lines[2]["unit"] = "999"
    response = api.post(f"/v1/communities/{COMMUNITY}/deposit-batches", custodian,
                        {"lines": lines})
    body = _problem(response, 404)
    assert body["line"] == 3 and body["field"] == "unit"
    assert api.services.ledger.recorder.max_notification_id() == before
    lines[2]["unit"] = "103"
    response = api.post(f"/v1/communities/{COMMUNITY}/deposit-batches", custodian,
                        {"lines": lines})
    assert response.status_code == 201, response.text
    assert response.json()["posted"] == 3 and response.json()["total_fen"] == 3 * 25_050


def test_the_same_key_three_times_at_once_writes_once_and_answers_alike(seeded: Api) -> None:
    api = seeded
    custodian = api.token(Role.custodian)
    before = api.services.ledger.recorder.max_notification_id()
    barrier = threading.Barrier(3)
    responses: list[Any] = []

    def send() -> None:
        barrier.wait()
        responses.append(api.post(f"/v1/communities/{COMMUNITY}/deposits", custodian,
                                  DEPOSIT, key="same-key"))

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in responses] == [201] * 3, [r.text for r in responses]
    assert len({r.content for r in responses}) == 1
    assert responses[0].json()["already_posted"] is False
    after = api.services.ledger.recorder.max_notification_id()
    assert after - before == 1  # one top-up event, however many repeats
    again = api.post(f"/v1/communities/{COMMUNITY}/deposits", custodian,
                     {**DEPOSIT, "amount_yuan": "999.00"}, key="same-key")
    _problem(again, 422, "idempotency-key")
    assert api.services.ledger.recorder.max_notification_id() == after


def test_a_post_needs_an_idempotency_key_and_a_body_has_a_limit(seeded: Api) -> None:
    api = seeded
    custodian = api.token(Role.custodian)
    response = api.client.post(f"/v1/communities/{COMMUNITY}/deposits", json=DEPOSIT,
                               headers=api.headers(custodian))
    assert _problem(response, 422)["field"] == "Idempotency-Key"
    huge = {"lines": [DEPOSIT] * 12_000}
    response = api.post(f"/v1/communities/{COMMUNITY}/deposit-batches", custodian, huge)
    _problem(response, 413, "body-size")


def test_f10_r2_an_owner_reads_only_their_own_units(seeded: Api) -> None:
    api = seeded
    owner = api.token(Role.owner, "owner:owner-CY-A-1")
    mine = api.get(f"/v1/communities/{COMMUNITY}/units/1/102/account", owner)
    assert mine.status_code == 200 and mine.json()["owner_ids"] == ["owner-CY-A-1"]
    _problem(api.get(f"/v1/communities/{COMMUNITY}/units/1/101/account", owner), 404)
    _problem(api.get(f"/v1/communities/{COMMUNITY}/fund", owner), 403)
    statement = api.get(f"/v1/communities/{COMMUNITY}/units/1/102/statement", owner).json()
    assert [(e["kind"], e["amount_fen"]) for e in statement["items"]] == [
        ("FirstDepositPaid", 1_810_000)]
    _problem(api.get(f"/v1/communities/{COMMUNITY}/units/1/101/statement", owner), 404)


def test_r2_out_of_scope_reads_exactly_like_absent(seeded: Api) -> None:
    api = seeded
    street = api.token(Role.auditor, f"street:{STREET}")
    absent = api.get("/v1/communities/CY-NONE/fund", street)
    hidden = api.get(f"/v1/communities/{OTHER}/fund", street)
    assert absent.status_code == hidden.status_code == 404
    assert ({k: v for k, v in absent.json().items() if k != "detail"}
            == {k: v for k, v in hidden.json().items() if k != "detail"})
    listed = api.get("/v1/communities", street).json()["items"]
    assert [c["community_code"] for c in listed] == [COMMUNITY]
    city = api.token(Role.auditor)
    assert len(api.get("/v1/communities", city).json()["items"]) == 2


def test_a_revoked_or_unknown_token_is_refused(seeded: Api) -> None:
    api = seeded
    token = api.token(Role.auditor, name="revoked-auditor")
    token_id = token.removeprefix("flt_").split("_", 1)[0]
    assert api.get("/v1/communities", token).status_code == 200
    assert api.services.access.revoke_token(token_id)
    _problem(api.get("/v1/communities", token), 401, "authentication")
    _problem(api.get("/v1/communities", "flt_nope_nope"), 401, "authentication")


def test_a_repeat_answers_for_a_first_request_that_died_before_storing_its_answer(
    seeded: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first request committed its deposit (and its key) and then its process ended
    before the response was stored. A repeat must not be told 'not stored yet' forever: the
    deposit's bank reference makes its answer derivable, and it is stored for later repeats."""
    api = seeded
    custodian = api.token(Role.custodian)
    access = api.services.access
    store_response = access.store_response

    def crash(*_: object) -> bool:
        raise RuntimeError("the process ended here")

    monkeypatch.setattr(access, "store_response", crash)
    before = api.services.ledger.recorder.max_notification_id() or 0
    first = api.post(f"/v1/communities/{COMMUNITY}/deposits", custodian, DEPOSIT, key="lost")
    assert first.status_code == 500
    written = api.services.ledger.recorder.max_notification_id()
    assert written == before + 1  # the deposit and its key were committed
    monkeypatch.setattr(access, "store_response", store_response)
    monkeypatch.setattr(idempotency, "RACE_WAIT_S", 0.2)

    repeat = api.post(f"/v1/communities/{COMMUNITY}/deposits", custodian, DEPOSIT, key="lost")
    assert repeat.status_code == 201, repeat.text
    assert repeat.json() == {"reference": "BANK-1", "written": "deposit:top_up",
                             "already_posted": True, "position": written}
    again = api.post(f"/v1/communities/{COMMUNITY}/deposits", custodian, DEPOSIT, key="lost")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.content == repeat.content
    other = api.post(f"/v1/communities/{COMMUNITY}/deposits", custodian,
                     {**DEPOSIT, "amount_yuan": "1.00"}, key="lost")
    _problem(other, 422, "idempotency-key")
    assert api.services.ledger.recorder.max_notification_id() == written


@pytest.mark.parametrize(("path", "fields"), [
    ("/v1/audit", ("after", "min_position")),
    (f"/v1/communities/{COMMUNITY}/history", ("after",)),
    (f"/v1/communities/{COMMUNITY}/units/1/102/statement", ("after", "min_position")),
])
def test_a_log_position_past_what_a_store_holds_is_refused_naming_the_field(
        seeded: Api, path: str, fields: tuple[str, ...]) -> None:
    """Notification ids are signed 64-bit in both stores; one past that is the caller's
    mistake (422 naming the field), not a driver's overflow."""
    auditor = seeded.token(Role.auditor)
    largest = seeded.get(path, auditor, after=2**63 - 1)
    assert largest.status_code == 200, largest.text
    assert largest.json().get("items", largest.json().get("events")) == []
    for field in fields:
        assert _problem(seeded.get(path, auditor, **{field: 2**63}), 422)["field"] == field
