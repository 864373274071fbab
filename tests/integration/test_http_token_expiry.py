"""Tokens that expire: refused with 401 naming the expiry; rotation gives a working one;
token tables made before expiry gain the column on opening and their tokens keep working."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ledger.access import Principal, Role, Scope, new_token, token_digest
from ledger.application import FundLedger
from ledger.persistence.access_tables import open_access_tables
from ledger.settings import Settings
from tests.integration.http_support import Api, open_api


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    yield from open_api(db_url)


def _add(api: Api, name: str, expires_at: datetime | None) -> tuple[str, str]:
    token, token_id = new_token()
    api.services.access.add_token(token_digest(token), Principal(
        name, Role.auditor, Scope.parse("city"), token_id), expires_at)
    return token, token_id


def test_an_expired_token_is_refused_naming_its_expiry_and_rotation_renews_it(api: Api) -> None:
    past = datetime.now(UTC) - timedelta(minutes=5)
    expired, expired_id = _add(api, "lapsed", past)
    live, _ = _add(api, "current", datetime.now(UTC) + timedelta(days=1))
    assert api.get("/v1/enterprises", live).status_code == 200
    refused = api.get("/v1/enterprises", expired)
    assert refused.status_code == 401, refused.text
    problem = refused.json()
    assert problem["rule"] == "token-expired"
    assert "expired" in problem["detail"] and past.date().isoformat() in problem["detail"]
    unknown = api.get("/v1/enterprises", new_token()[0])
    assert unknown.status_code == 401 and unknown.json()["rule"] == "authentication"

    # Rotating the expired token: the same holder, a new token that works.
    renewed, renewed_id = new_token()
    until = datetime.now(UTC) + timedelta(days=90)
    rotated = api.services.access.rotate_token(expired_id, token_digest(renewed), renewed_id,
                                               until)
    assert rotated is not None and rotated.name == "lapsed"
    assert api.get("/v1/enterprises", renewed).status_code == 200
    assert api.get("/v1/enterprises", expired).json()["rule"] == "authentication"  # revoked now
    listed = {t.token_id: t for t in api.services.access.list_tokens()}
    assert listed[renewed_id].expires_at is not None
    assert abs(listed[renewed_id].expires_at - until) < timedelta(seconds=1)
    assert listed[expired_id].state(datetime.now(UTC)) == "revoked"


def test_rotation_without_a_lifetime_keeps_the_old_tokens(api: Api) -> None:
    created = datetime.now(UTC)
    _, old_id = _add(api, "office", created + timedelta(days=30))
    new, new_id = new_token()
    assert api.services.access.rotate_token(old_id, token_digest(new), new_id) is not None
    listed = {t.token_id: t for t in api.services.access.list_tokens()}
    lifetime = listed[new_id].expires_at - listed[new_id].created_at  # type: ignore[operator]
    assert abs(lifetime - timedelta(days=30)) < timedelta(seconds=5)


def test_a_token_table_made_before_expiry_gains_the_column_and_keeps_its_tokens(
        db_url: str) -> None:
    app = FundLedger(Settings(db=db_url))
    try:
        tables = open_access_tables(app.recorder)
        token, token_id = new_token()
        tables.add_token(token_digest(token), Principal("old", Role.admin, Scope.parse("city"),
                                                        token_id))
        # The table as the previous release made it: no expires_at column.
        with app.recorder.datastore.transaction(commit=True) as c:
            schema = getattr(app.recorder.datastore, "schema", None)
            table = f'"{schema}".api_tokens' if schema else "api_tokens"
            c.execute(f"ALTER TABLE {table} DROP COLUMN expires_at")
        reopened = open_access_tables(app.recorder)  # what every process does on start
        open_access_tables(app.recorder)  # and again: idempotent
        principal = reopened.principal(token_digest(token))
        assert principal is not None and principal.name == "old"
        assert [t.expires_at for t in reopened.list_tokens()] == [None]
    finally:
        app.close()
