"""One spelling per identifier, on every path: a re-encoded bank file or a full-width door
finds what the original wrote, and a line break never reaches the log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from api.http.app import create_app
from ledger.access import Role
from ledger.application import FundLedger
from ledger.csv_files import read_deposits, read_units
from ledger.settings import Settings
from tests.integration.http_support import (
    COMMUNITY,
    DISTRICT,
    STREET,
    Api,
    community_body,
    full_width,
    open_api,
    seed,
)

UNITS = ("community_code,community_name,district,street,building,unit,area_m2,area_source,"
         "owner_id\n")
DEPOSITS = "reference,community_code,building,unit,amount_yuan,paid_on,kind\n"


def csv_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_f1_a_re_encoded_register_and_bank_file_post_nothing_twice(
        app: FundLedger, tmp_path: Path) -> None:
    units = UNITS + "CY-ID,Garden,110105,110105001,1,101,80.00,register,owner-a\n"
    app.register_units(read_units(csv_file(tmp_path, "u.csv", units)),
                       effective_date=date(2026, 1, 1), actor="test")
    deposits = DEPOSITS + "HG-1,CY-ID,1,101,16000.00,2026-01-10,first\n"
    assert app.import_deposits(read_deposits(csv_file(tmp_path, "d.csv", deposits)),
                               actor="test").posted == 1
    last = app.recorder.max_notification_id()

    recoded_units = UNITS + "ＣＹ-ID,Garden,110105,110105001,１,１０１,80.00,register,owner-a\n"
    result = app.register_units(read_units(csv_file(tmp_path, "u2.csv", recoded_units)),
                                effective_date=date(2026, 1, 1), actor="test")
    assert (result.units_added, result.units_unchanged) == (0, 1)
    recoded = DEPOSITS + "ＨＧ－１,CY-ID,１,１０１,16000.00,2026-01-10,first\n"
    again = app.import_deposits(read_deposits(csv_file(tmp_path, "d2.csv", recoded)),
                                actor="test")
    assert (again.posted, again.already_posted) == (0, 1)
    assert app.recorder.max_notification_id() == last


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    yield from open_api(db_url)


def test_a_full_width_reference_over_http_is_the_reference_already_posted(api: Api) -> None:
    seed(api)
    custodian = api.token(Role.custodian)
    body = {"reference": "HG-1", "building": "1", "unit": "101", "amount_yuan": "10.00",
            "paid_on": "2026-03-01", "kind": "top_up"}
    first = api.post(f"/v1/communities/{COMMUNITY}/deposits", custodian, body)
    assert first.status_code == 201 and first.json()["already_posted"] is False
    last = api.services.ledger.recorder.max_notification_id()
    recoded = {**body, "reference": "ＨＧ－１ ", "building": "１", "unit": "１０１"}
    again = api.post(f"/v1/communities/{COMMUNITY}/deposits", custodian, recoded)
    assert again.status_code == 201 and again.json()["already_posted"] is True
    assert api.services.ledger.recorder.max_notification_id() == last


@pytest.mark.parametrize(("field", "value"), [
    ("name", "Garden\nDrop table"), ("code", "CY/1"), ("district", "1101"),
    ("street", "110105 001"), ("code", "CY 1"),
])
def test_a_community_with_a_malformed_field_is_refused_over_http_and_nothing_is_written(
        api: Api, field: str, value: str) -> None:
    admin = seed(api)
    last = api.services.ledger.recorder.max_notification_id()
    body: dict[str, Any] = {**community_body("CY-NEW", DISTRICT, STREET), field: value}
    response = api.post("/v1/communities", admin, body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert api.services.ledger.recorder.max_notification_id() == last


def test_the_openapi_document_uses_only_keywords_json_schema_knows(tmp_path: Path) -> None:
    document = create_app(Settings(db=str(tmp_path / "x.db"))).openapi()
    text = json.dumps(document)
    # pydantic writes a date's ge/le as "ge"/"le", which JSON Schema ignores.
    assert '"ge":' not in text and '"le":' not in text
    deposit = document["components"]["schemas"]["DepositIn"]["properties"]
    for field in ("reference", "building", "unit", "amount_yuan", "paid_on"):
        assert "pattern" in deposit[field], field


def test_a_full_width_community_and_door_in_a_url_name_the_ascii_ones(api: Api) -> None:
    seed(api)
    custodian = api.token(Role.custodian)
    # A community's own custodian: the scope check reads the URL's code as keyed, too.
    own = api.token(Role.custodian, scope=f"community:{COMMUNITY}")
    account = f"/v1/communities/{COMMUNITY}/units/1/101/account"
    before = api.get(account, custodian).json()["balance_fen"]
    wide = f"/v1/communities/{full_width(COMMUNITY)}"
    posted = api.post(f"{wide}/deposits", own, {
        "reference": "WIDE-1", "building": "1", "unit": "101", "amount_yuan": "10.00",
        "paid_on": "2026-03-01", "kind": "top_up"})
    assert posted.status_code == 201, posted.text
    position = posted.json()["position"]
    read = api.get(f"{wide}/units/{full_width('1')}/{full_width('101')}%20/account", own,
                   min_position=position)
    assert read.status_code == 200, read.text
    assert read.json()["balance_fen"] == before + 1000
    assert read.json() == api.get(account, own, min_position=position).json()


def test_an_identifier_query_parameter_is_normalised(api: Api) -> None:
    seed(api)
    auditor = api.token(Role.auditor)
    ascii_page = api.get("/v1/audit", auditor, community=COMMUNITY).json()["items"]
    assert ascii_page
    assert api.get("/v1/audit", auditor,
                   community=f" {full_width(COMMUNITY)}").json()["items"] == ascii_page
