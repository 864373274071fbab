"""schemathesis against the app's own OpenAPI document, on a seeded embedded ledger.

Positive and negative data for every operation, called with a token of a role the route
admits: no 5xx, every response matches its documented schema and status, and every 4xx is
problem+json.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from api.http.app import create_app, route_policies
from api.http.problems import PROBLEM_JSON
from ledger.access import Principal, Role, Scope, new_token, token_digest
from ledger.settings import Settings
from tests.integration.http_support import Api, seed

_FOLDER = Path(tempfile.mkdtemp(prefix="fundledger-schema-"))
APP = create_app(Settings(db=str(_FOLDER / "fundledger.db")), follow_views=True)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)  # the document needs no store
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
# A body over 1 MiB is refused before it is read (413), whatever else is wrong with it.
schema.config.checks.negative_data_rejection.expected_statuses.append("413")
# Schema-valid data can still break a ledger rule (F2's rate, F8's balance: 422, naming the
# rule); the negative cases and the response schemas keep the contract strict.
schema.config.checks.positive_data_acceptance.expected_statuses.extend(["413", "422"])
POLICIES = route_policies(APP)
# Made now (auth is asked for while collecting), recorded when the app has started.
ISSUED = {role: new_token() for role in Role}
TOKENS = {role: token for role, (token, _) in ISSUED.items()}


@schema.auth(refresh_interval=None)
class RoleToken:
    """A token of a role the route admits, set as auth (so negative cases never mutate it)."""

    def get(self, case: Any, context: Any) -> str:
        # schemathesis also tries methods a path does not have (405): any token does then.
        policy = POLICIES.get((case.method.upper(), case.operation.path))
        return TOKENS[policy.roles[0] if policy is not None else Role.admin]

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(scope="module")
def tokens() -> Iterator[dict[Role, str]]:
    """The app started (its lifespan) on a seeded store; a city token per role."""
    try:
        with TestClient(APP, raise_server_exceptions=False) as client:
            api = Api(APP, client)
            seed(api)
            for role, (token, token_id) in ISSUED.items():
                scope = Scope.parse("owner:owner-CY-A-0" if role is Role.owner else "city")
                api.services.access.add_token(token_digest(token), Principal(
                    f"schemathesis-{role.value}", role, scope, token_id))
            yield TOKENS
    finally:
        shutil.rmtree(_FOLDER, ignore_errors=True)


@schemathesis.check
def problem_json_for_client_errors(ctx: Any, response: Any, case: Any) -> None:
    if 400 <= response.status_code < 500:
        content_type = response.headers.get("content-type", [""])
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type == PROBLEM_JSON, (response.status_code, content_type)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_honours_its_own_schema(case: Any, tokens: dict[Role, str]) -> None:
    case.call_and_validate()
