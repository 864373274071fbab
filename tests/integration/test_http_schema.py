"""schemathesis against the app's own OpenAPI document, on a seeded embedded ledger.

Positive and negative data for every operation, called with a token of a role the route
admits: no 5xx, every response matches its documented schema and status, and every 4xx is
problem+json. The document must say what the server enforces, both ways:

* no rejected schema-valid request: positive data is accepted, or refused only for a reason
  no schema can state (a rule of docs/rules.md, an unknown community, a conflict with what
  is recorded: ``DOCUMENTED_REFUSALS``), never for its form;
* no accepted schema-violating request: negative data is refused with a 4xx, except a string
  that normalises into its pattern (identifiers are normalised, NFKC and trimmed, and free
  text trimmed, before the pattern is checked: `` 101`` and ``１０１`` are door ``101``; in a
  URL, every path segment and the identifier query parameters, as ``api.http.url_identifiers``
  says).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import jsonschema_rs  # schemathesis's own validator
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection

from api.http.app import create_app, route_policies
from api.http.problems import PROBLEM_JSON
from api.http.url_identifiers import IDENTIFIER_PARAMETERS, normalised_path, normalised_query
from ledger.access import Principal, Role, Scope, new_token, token_digest
from ledger.settings import Settings
from tests.integration.http_support import Api, seed

_FOLDER = Path(tempfile.mkdtemp(prefix="fundledger-schema-"))
# Made as the module is collected, before any fixture: its store and signing key named here.
APP = create_app(Settings(db=str(_FOLDER / "fundledger.db"),
                          signing_key_file=_FOLDER / "signing.key"), follow_views=True)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)  # the document needs no store
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
# A body over 1 MiB is refused before it is read (413), whatever else is wrong with it.
schema.config.checks.negative_data_rejection.expected_statuses.append("413")
# Schema-valid data can still break a ledger rule (F2's rate, F8's balance: 422, naming the
# rule); ``refused_only_for_documented_reasons`` looks at which rule.
schema.config.checks.positive_data_acceptance.expected_statuses.extend(["413", "422"])
DOCUMENT = APP.openapi()
# The rules of docs/rules.md (F1–F11, V1–V6, C1–C4, E1–E3, R1–R2) judge what is recorded,
# which a request's schema cannot know.
LEDGER_RULE = re.compile(r"[FVCER][0-9]{1,2}")
# The other reasons a well-formed request may be refused, and why no schema states them.
DOCUMENTED_REFUSALS = {
    "pseudonymous-id": "an owner id shaped like a phone or identity card number is personal "
                       "data (its digits fit the owner id pattern)",
    "credit-code-check": "the 18th character of a credit code is a checksum (GB 32100)",
    # and two (rule, field) pairs, in the check below: a street code in digits lies within
    # its district's (110105001 in 110105), a rule between two fields; known_at is an ISO
    # date or time, whose pattern admits days the calendar lacks (February 30).
    "idempotency-key": "a key this client already used with another body (schemathesis "
                       "draws keys from a small space; no schema knows past requests)",
    "read-your-writes": "a min_position beyond the log's last position",
    "key-shape": "how many parts a replay key has depends on its kind (a unit's three, a "
                 "vote's two): a rule between two parameters",
    "scope": "a rates level and its code go together (a code for a district, none for the "
             "city): a rule between two parameters",
}
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


def _is_positive(case: Any) -> bool:
    return case.meta is not None and case.meta.generation.mode.is_positive


@schemathesis.check
def refused_only_for_documented_reasons(ctx: Any, response: Any, case: Any) -> None:
    """A schema-valid request refused with 422 names a ledger rule or a documented reason."""
    if not _is_positive(case) or response.status_code != 422:
        return
    rule = response.json().get("rule") or ""
    if (case.headers or {}).get(response.json().get("field")) == "null":
        return  # FastAPI documents an optional header as string-or-null; a header is text,
        # and schemathesis sends null as "null", which is no event id.
    # The two-field check behind "identifier-format" is only about the street's digits; a
    # calendar's gaps (February 30) only about known_at, a time no pattern can bound.
    field = response.json().get("field")
    if (rule, field) in (("identifier-format", "street"), ("date-format", "known_at")):
        return
    assert LEDGER_RULE.fullmatch(rule) or rule in DOCUMENTED_REFUSALS, (
        f"rejected schema-valid request: {case.method} {case.path} {case.body!r} "
        f"{case.query!r} {case.headers!r} -> {response.text}")


def _normalised(value: Any) -> Any:
    """The body as the server reads it: every string NFKC-normalised and trimmed."""
    if isinstance(value, str):
        return unicodedata.normalize("NFKC", value).strip()
    if isinstance(value, list):
        return [_normalised(item) for item in value]
    if isinstance(value, dict):
        return {key: _normalised(item) for key, item in value.items()}
    return value


def _fits(schema: dict[str, Any], value: Any) -> bool:
    validator = jsonschema_rs.validator_for({**schema, "components": DOCUMENT["components"]})
    return bool(validator.is_valid(value))


def _folded_parameter(where: str, name: str, value: Any) -> Any:
    """A parameter as the server reads it (api.http.url_identifiers)."""
    if not isinstance(value, str):
        return value
    if where == "path":
        return normalised_path(value)
    if where == "query" and name in IDENTIFIER_PARAMETERS:
        folded = normalised_query(urlencode({name: value}).encode())
        return parse_qs(folded.decode(), keep_blank_values=True)[name][0]
    return value


def _normalises_into_its_schema(case: Any) -> bool:
    """Whether the request as the server reads it fits its schema: every string of its body,
    and its URL's identifiers, normalised (NFKC, trimmed)."""
    operation = DOCUMENT["paths"][case.operation.path][case.method.lower()]
    sent = {"path": case.path_parameters or {}, "query": case.query or {},
            "header": case.headers or {}}
    for parameter in operation.get("parameters", []):
        where, name = parameter["in"], parameter["name"]
        if name not in sent.get(where, {}):
            if parameter.get("required"):
                return False
            continue
        if not _fits(parameter["schema"], _folded_parameter(where, name, sent[where][name])):
            return False
    if "requestBody" not in operation:
        return True
    if case.body is None or not isinstance(case.body, dict | list):
        return False
    content = operation["requestBody"]["content"]["application/json"]["schema"]
    return _fits(content, _normalised(case.body))


@schemathesis.check
def schema_violations_refused_unless_normalised(ctx: Any, response: Any, case: Any) -> None:
    """schemathesis's negative_data_rejection, but a request whose body and URL identifiers
    normalise into its schema may be accepted: that is the normalisation the document
    describes."""
    try:
        negative_data_rejection(ctx, response, case)
    except AssertionError:
        if not (200 <= response.status_code < 300 and _normalises_into_its_schema(case)):
            raise


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_honours_its_own_schema(case: Any, tokens: dict[Role, str]) -> None:
    case.call_and_validate(excluded_checks=[negative_data_rejection])
