"""The auditor's replay, history and disclosure over HTTP, scoped like every other read."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest

from domain.ids import unit_account_id
from ledger.access import Role
from ledger.application import FundLedger
from ledger.settings import Settings
from projections.seal.evidence import verify_ledger
from projections.seal.proofs import SealError, verify_proof
from projections.seal.sealer import seal_and_checkpoint
from tests.integration.http_support import COMMUNITY, OTHER, STREET, Api, open_api, seed


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    yield from open_api(db_url)


def test_a_unit_replayed_on_both_axes_names_its_last_event(api: Api) -> None:
    seed(api)
    auditor = api.token(Role.auditor, f"street:{STREET}")
    url = f"/v1/history/unit/{COMMUNITY}/1/102"
    before = api.get(url, auditor, as_of="2026-01-15")
    assert before.status_code == 200, before.text
    assert before.json()["state"]["balance_fen"] == 0
    after = api.get(url, auditor, as_of="2026-02-01").json()
    assert after["state"]["balance_fen"] == 1_810_000
    assert after["last_event"]["event"].endswith("FirstDepositPaid")
    log_end = api.services.ledger.recorder.max_notification_id()
    assert 0 < after["last_event"]["position"] <= log_end
    known = api.get(url, auditor, known_at="2000-01-01")
    assert known.status_code == 404 and known.json()["field"] == "known_at"
    assert api.get(url, auditor, as_of="1 March").json()["field"] == "as_of"
    hidden = api.get(f"/v1/history/unit/{OTHER}/1/102", auditor)
    assert hidden.status_code == 404


def test_a_key_of_the_wrong_shape_for_its_kind_is_refused_naming_the_shape(api: Api) -> None:
    seed(api)
    auditor = api.token(Role.auditor, "city")
    wrong = api.get(f"/v1/history/committee/{COMMUNITY}", auditor)
    assert wrong.status_code == 422, wrong.text
    assert wrong.json()["rule"] == "key-shape" and wrong.json()["field"] == "key"
    assert "COMMUNITY/COMMITTEE_REFERENCE" in wrong.json()["detail"]
    too_many = api.get(f"/v1/history/vote/{COMMUNITY}/V1/extra", auditor)
    assert too_many.status_code == 422 and too_many.json()["rule"] == "key-shape"


def test_a_community_history_pages_in_log_order(api: Api) -> None:
    seed(api)
    auditor = api.token(Role.auditor)
    positions: list[int] = []
    after = 0
    while True:
        page = api.get(f"/v1/communities/{COMMUNITY}/history", auditor, after=after,
                       limit=3).json()
        positions += [event["position"] for event in page["events"]]
        if page["at_end"]:
            break
        after = page["next_after"]
    assert positions == sorted(positions) and len(positions) == len(set(positions))
    assert len(positions) >= 1 + 4 + 4  # the community, its units, their deposits


def test_the_yearly_disclosure_as_csv_and_html(api: Api) -> None:
    seed(api)
    auditor = api.token(Role.auditor)
    response = api.get(f"/v1/communities/{COMMUNITY}/disclosure", auditor, year=2026,
                       format="csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows, "the disclosure has lines"
    page = api.get(f"/v1/communities/{COMMUNITY}/disclosure", auditor, year=2026)
    assert page.headers["content-type"].startswith("text/html")
    assert "<script" not in page.text and COMMUNITY in page.text


def test_a_proof_verifies_offline_against_the_published_checkpoint(api: Api) -> None:
    seed(api)
    auditor = api.token(Role.auditor, f"street:{STREET}")
    stream = unit_account_id(COMMUNITY, "1", "102")
    unsealed = api.get(f"/v1/proofs/{stream}/2", auditor)
    assert unsealed.status_code in (404, 409), unsealed.text
    seal_and_checkpoint(api.services.ledger, api.services.sealer())
    checkpoint = api.get("/v1/checkpoints/latest", auditor).json()
    proof = api.get(f"/v1/proofs/{stream}/2", auditor)
    assert proof.status_code == 200, proof.text
    assert verify_proof(proof.json(), checkpoint["public_key"]) is True
    edited = proof.json()
    edited["event"]["version"] = 3
    with pytest.raises(SealError):
        verify_proof(edited, checkpoint["public_key"])
    hidden = api.get(f"/v1/proofs/{unit_account_id(OTHER, '1', '102')}/2", auditor)
    assert hidden.status_code == 404


def test_the_api_seals_what_it_writes_and_signs_a_checkpoint_when_it_stops(
        db_url: str) -> None:
    served = open_api(db_url)
    api = next(served)
    seed(api)
    written = api.services.ledger.recorder.max_notification_id()
    served.close()  # the app shuts down: its sealer catches up and signs a last checkpoint
    app = FundLedger(Settings(db=db_url))
    try:
        report = verify_ledger(app)
        assert report.ok and report.unsealed == 0
        assert report.events == written
        assert report.checkpoint is not None and report.checkpoint.position == written
    finally:
        app.close()
