"""What the HTTP tests share: an API on the test's store, tokens per role and scope, a seed."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.http import idempotency
from api.http.app import create_app
from api.http.services import Services
from ledger.access import Principal, Role, Scope, new_token, token_digest
from ledger.persistence.access_tables import StoredResponse
from ledger.settings import Settings
from projections.runner import wait_until_applied

DISTRICT, STREET, COMMUNITY = "110105", "110105001", "CY-A"
OTHER_DISTRICT, OTHER_STREET, OTHER = "110108", "110108002", "CY-B"
_names = itertools.count()


@dataclass
class Api:
    app: FastAPI
    client: TestClient

    @property
    def services(self) -> Services:
        return self.app.state.services  # type: ignore[no-any-return]

    def settle(self) -> None:
        """Wait until every view has applied the whole log (the followers run in-process)."""
        svc = self.services
        last = svc.ledger.recorder.max_notification_id() or 0
        for view in svc.views.values():
            wait_until_applied(svc.runner, view, last, timeout_s=20)

    def token(self, role: Role, scope: str = "city", name: str | None = None) -> str:
        token, token_id = new_token()
        principal = Principal(name or f"{role.value}-{next(_names)}", role, Scope.parse(scope),
                              token_id)
        self.services.access.add_token(token_digest(token), principal)
        return token

    def headers(self, token: str, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    def post(self, path: str, token: str, body: Any, key: str | None = None) -> Any:
        key = key or f"k-{next(_names)}"
        return self.client.post(path, json=body, headers=self.headers(token, key))

    def get(self, path: str, token: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.headers(token))


def full_width(text: str) -> str:
    """``text`` as a Chinese input method may type it: every ASCII character full-width."""
    return text.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})


def community_body(code: str, district: str, street: str, units: int = 4) -> dict[str, Any]:
    return {"code": code, "name": f"小区 {code}", "district": district, "street": street,
            "effective_date": "2026-01-01",
            "units": [{"building": "1", "unit": f"{101 + i}", "area_m2": f"{80 + 10 * i}.50",
                       "area_source": "register", "owner_ids": [f"owner-{code}-{i}"]}
                      for i in range(units)]}


def open_api(db_url: str) -> Iterator[Api]:
    app = create_app(Settings(db=db_url), follow_views=True)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(app, client)


def seed(api: Api) -> str:
    """Two communities in two districts, with first deposits; returns an admin token."""
    admin = api.token(Role.admin)
    custodian = api.token(Role.custodian)
    for code, district, street in ((COMMUNITY, DISTRICT, STREET),
                                   (OTHER, OTHER_DISTRICT, OTHER_STREET)):
        assert api.post("/v1/communities", admin,
                        community_body(code, district, street)).status_code == 201
        for i in range(4):
            response = api.post(f"/v1/communities/{code}/deposits", custodian, {
                "reference": f"SEED-{code}-{i}", "building": "1", "unit": f"{101 + i}",
                "amount_yuan": f"{16100 + 2000 * i}.00", "paid_on": "2026-02-01", "kind": "first"})
            assert response.status_code == 201, response.text
    api.settle()
    return admin


def page_csrf(html: str) -> str:
    """The CSRF token a page's form carries."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


def staff_sign_in(client: TestClient, token: str) -> None:
    """A staff member exchanges their API token for a page session, as on the sign-in page."""
    client.cookies.clear()
    page = client.get("/web/signin")
    signed_in = client.post("/web/signin/token", follow_redirects=False, data={
        "token": token, "csrf": page_csrf(page.text)})
    assert signed_in.status_code == 303, signed_in.text


class LostAnswers:
    """Storing an answer fails as if the process ended there; the answers it was given are
    kept, to compare a repeat's answer with what the first request would have said."""

    def __init__(self, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
        self.access, self.monkeypatch = api.services.access, monkeypatch
        self.store_response = self.access.store_response
        self.lost: list[bytes] = []
        monkeypatch.setattr(self.access, "store_response", self.crash)

    def crash(self, response: StoredResponse) -> bool:
        self.lost.append(response.body)
        raise RuntimeError("the process ended here")

    def restore(self) -> None:
        """The process is back; a repeat waits 0.2 s for an answer that will not come."""
        self.monkeypatch.setattr(self.access, "store_response", self.store_response)
        self.monkeypatch.setattr(idempotency, "RACE_WAIT_S", 0.2)
