"""Property service enterprises over HTTP, on SQLite and on PostgreSQL: the registry, entry,
exit with handover and the overdue check, credit events and the score behind every point."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from domain.credit import Period
from domain.credit_code import with_check_character
from ledger.access import Role
from tests.integration.http_support import (
    COMMUNITY,
    DISTRICT,
    OTHER,
    STREET,
    Api,
    LostAnswers,
    open_api,
    seed,
)

CODE_A = with_check_character("91110105MA01AAAA0")
CODE_B = with_check_character("91110105MA01BBBB0")
CONTRACTS = f"/v1/communities/{COMMUNITY}/service-contracts"


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    yield from open_api(db_url)


@pytest.fixture
def city(api: Api) -> str:
    """Two seeded communities; a city-scoped official's token."""
    seed(api)
    return api.token(Role.official, "city")


def ok(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def last_id(api: Api) -> int:
    return api.services.ledger.recorder.max_notification_id() or 0


def register(api: Api, token: str, code: str = CODE_A, name: str = "Sunshine PM") -> None:
    ok(api.post("/v1/enterprises", token,
                {"credit_code": code, "name": name, "registered_on": "2025-12-01"}))


def test_e1_e2_entry_notice_termination_handover_and_the_overdue_check(api: Api, city: str) -> None:
    district = api.token(Role.official, f"district:{DISTRICT}")
    street = api.token(Role.official, f"street:{STREET}")
    before = last_id(api)
    refused = api.post("/v1/enterprises", district, {
        "credit_code": CODE_A, "name": "Sunshine PM", "registered_on": "2025-12-01"})
    assert refused.status_code == 403 and refused.json()["rule"] == "scope"
    assert last_id(api) == before
    register(api, city)

    # the registry is the city's: readable by an official of any scope, and an auditor
    listed = ok(api.get("/v1/enterprises", district), 200)
    assert [e["credit_code"] for e in listed["items"]] == [CODE_A]
    auditor = api.token(Role.auditor, f"community:{OTHER}")
    assert ok(api.get(f"/v1/enterprises/{CODE_A}", auditor), 200)["name"] == "Sunshine PM"
    assert api.get(f"/v1/enterprises/{CODE_B}", auditor).status_code == 404
    assert api.get("/v1/enterprises", api.token(Role.custodian)).status_code == 403

    entered = ok(api.post(CONTRACTS, street, {
        "enterprise_code": CODE_A, "contract_reference": "C-1", "starts_on": "2026-01-01",
        "filed_on": "2026-01-05", "ends_on": "2026-12-31"}))
    assert entered["enterprise_code"] == CODE_A and entered["open_ended"] is False
    # E1: one serving enterprise at a time
    register(api, city, CODE_B, "Moonlight PM")
    second = api.post(CONTRACTS, street, {
        "enterprise_code": CODE_B, "contract_reference": "C-2", "starts_on": "2026-02-01",
        "filed_on": "2026-02-01"})
    assert second.status_code in (409, 422) and second.json()["rule"] == "E1"

    contract = f"{CONTRACTS}/C-1"
    early = api.post(f"{contract}/termination", street, {"terminated_on": "2026-06-01"})
    assert early.status_code == 422 and early.json()["rule"] == "E2"
    noticed = ok(api.post(f"{contract}/notice", street,
                          {"given_on": "2026-06-01", "reason": "not_renewing"}))
    assert noticed["earliest_termination"] == "2026-08-30"
    ended = ok(api.post(f"{contract}/termination", street, {"terminated_on": "2026-09-01"}))
    assert ended["handover_deadline"] == "2026-10-01"
    handed = ok(api.post(f"{contract}/handover", street,
                         {"item": "common_parts", "handed_over_on": "2026-09-10"}))
    assert handed["outstanding_handover_items"] == ["records", "prepaid_fees"]

    # the overdue check is city-wide: a street official may not run it
    assert api.post("/v1/handover-checks", street, {"as_of": "2026-10-15"}).status_code == 403
    on_time = ok(api.post("/v1/handover-checks", city, {"as_of": "2026-10-01"}))
    assert on_time["violations_recorded"] == []
    overdue = ok(api.post("/v1/handover-checks", city, {"as_of": "2026-10-15"}))
    assert overdue["violations_recorded"] == [f"{CODE_A}: {COMMUNITY}/C-1"]
    again = ok(api.post("/v1/handover-checks", city, {"as_of": "2026-10-20"}))
    assert again["violations_recorded"] == []  # recorded once
    record = ok(api.get(f"/v1/enterprises/{CODE_A}", city), 200)["credit_record"]
    assert [(e["type"], e["kind"], e["effective_date"]) for e in record] == [
        ("violation", "overdue_handover", "2026-10-01")]

    # a contract outside the caller's scope reads as absent
    elsewhere = api.token(Role.official, f"community:{OTHER}")
    assert ok(api.get(contract, street), 200)["terminated_on"] == "2026-09-01"
    assert api.get(contract, elsewhere).status_code == 404
    assert api.post(f"{contract}/handover", elsewhere,
                    {"item": "records", "handed_over_on": "2026-10-20"}).status_code == 404


def test_e2_contract_steps_whose_answers_were_lost_answer_their_repeats_as_they_would_have(
    api: Api, city: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Notice, termination and a handover item, each committed with its answer lost: each
    repeat answers that answer byte for byte (the contract as that step left it, though a
    later step changed it since) and writes nothing."""
    register(api, city)
    ok(api.post(CONTRACTS, city, {
        "enterprise_code": CODE_A, "contract_reference": "C-L", "starts_on": "2026-01-01",
        "filed_on": "2026-01-05", "ends_on": "2026-12-31"}))
    contract = f"{CONTRACTS}/C-L"
    steps = [(f"{contract}/notice", {"given_on": "2026-06-01", "reason": "not_renewing"}),
             (f"{contract}/termination", {"terminated_on": "2026-09-01"}),
             (f"{contract}/handover", {"item": "common_parts", "handed_over_on": "2026-09-10"})]
    lost: list[tuple[str, dict[str, Any], bytes, int]] = []
    for number, (path, body) in enumerate(steps):
        answers = LostAnswers(api, monkeypatch)
        first = api.post(path, city, body, key=f"lost-contract-{number}")
        assert first.status_code == 500, (path, first.text)
        lost.append((path, body, answers.lost[0], last_id(api)))
        answers.restore()
    written = last_id(api)
    for number, (path, body, answer, position) in enumerate(lost):
        repeat = api.post(path, city, body, key=f"lost-contract-{number}")
        assert repeat.status_code == 201, (path, repeat.text)
        assert repeat.content == answer, path
        assert repeat.json()["position"] == position, path
    assert last_id(api) == written
    assert ok(api.get(contract, city), 200)["outstanding_handover_items"] == [
        "records", "prepaid_fees"]


def test_e3_a_credit_event_shows_in_the_score_with_its_points(api: Api, city: str) -> None:
    street = api.token(Role.official, f"street:{STREET}")
    register(api, city)
    ok(api.post(CONTRACTS, street, {
        "enterprise_code": CODE_A, "contract_reference": "C-1", "starts_on": "2026-01-01",
        "filed_on": "2026-01-05"}))
    fine = {"kind": "fine", "on": "2026-03-01", "amount_yuan": "5000.00",
            "authority": "District housing commission", "community_code": COMMUNITY}
    first = api.post(f"/v1/enterprises/{CODE_A}/credit-events", street, fine, key="fine-1")
    written = last_id(api)
    repeat = api.post(f"/v1/enterprises/{CODE_A}/credit-events", street, fine, key="fine-1")
    assert first.status_code == repeat.status_code == 201
    assert repeat.content == first.content and last_id(api) == written
    event = first.json()["event"]
    assert (event["type"], event["amount_fen"], event["amount_yuan"]) == ("fine", 500_000,
                                                                          "5000.00")
    # an event naming no community is the city's to record; a fine needs its amount
    commendation = {"kind": "commendation", "on": "2026-04-01", "detail": "district",
                    "authority": "District housing commission"}
    assert api.post(f"/v1/enterprises/{CODE_A}/credit-events", street,
                    commendation).status_code == 403
    ok(api.post(f"/v1/enterprises/{CODE_A}/credit-events", city, commendation))
    assert api.post(f"/v1/enterprises/{CODE_A}/credit-events", street,
                    {**fine, "amount_yuan": None}).status_code == 422
    assert api.post(f"/v1/enterprises/{CODE_A}/credit-events", street,
                    {**fine, "amount_yuan": 5000}).status_code == 422
    # a community outside the caller's scope reads as absent
    assert api.post(f"/v1/enterprises/{CODE_A}/credit-events", street,
                    {**fine, "community_code": OTHER}).status_code == 404

    credit = ok(api.get(f"/v1/enterprises/{CODE_A}/credit", city, period="2026H1"), 200)
    score = api.services.ledger.credit_score(CODE_A, Period.parse("2026H1"))
    assert credit["score_hundredths"] == score.points_hundredths == 100_00 - 2_00 + 3_00
    assert credit["score"] == "101.00" and credit["grade"] == "A" and credit["rank"] == 1
    by_kind = {line["kind"]: line for line in credit["lines"]}
    assert by_kind["base"]["points_hundredths"] == 100_00 and by_kind["base"]["event"] is None
    assert by_kind["fine"]["points"] == "-2.00"
    assert by_kind["fine"]["event"]["amount_yuan"] == "5000.00"
    assert by_kind["commendation"]["points_hundredths"] == 3_00
    assert by_kind["commendation"]["event"]["authority"] == "District housing commission"
    assert sum(line["points_hundredths"] for line in credit["lines"]) \
        == credit["score_hundredths"]

    ranking = ok(api.get("/v1/credit-ranking", city, period="2026H1"), 200)
    assert [(i["rank"], i["grade"], i["enterprise_code"], i["score"])
            for i in ranking["items"]] == [(1, "A", CODE_A, "101.00")]
    assert api.get(f"/v1/enterprises/{CODE_A}/credit", city,
                   period="2026H3").status_code == 422
    later = ok(api.get(f"/v1/enterprises/{CODE_A}/credit", city, period="2026H2"), 200)
    assert later["score"] == "100.00"
