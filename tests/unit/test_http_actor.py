"""The actor an HTTP write records: the holder's name and id, whole, in the domain's form."""

from __future__ import annotations

from starlette.requests import Request

from api.http.security import actor
from domain.checks import ACTOR_PATTERN
from ledger.access import TOKEN_NAME_CHARS_MAX, Principal, Role, Scope, new_token

REQUEST_ID = "0123456789abcdef"  # as long as the app's request ids


def _actor(name: str) -> tuple[str, str]:
    _, token_id = new_token()
    request = Request({"type": "http", "state": {"request_id": REQUEST_ID}})
    return actor(request, Principal(name, Role.custodian, Scope.parse("city"), token_id)), \
        token_id


def test_the_longest_name_is_recorded_whole_beside_the_holders_id() -> None:
    name = "n" * TOKEN_NAME_CHARS_MAX
    recorded, token_id = _actor(name)
    assert recorded == f"http:{name}@{token_id}+req:{REQUEST_ID}"
    assert ACTOR_PATTERN.fullmatch(recorded)


def test_a_name_from_before_the_name_rule_still_makes_a_valid_actor_naming_its_holder() -> None:
    recorded, token_id = _actor("街道办 fund@office+req:x" * 3)
    assert ACTOR_PATTERN.fullmatch(recorded)
    assert recorded.count("@") == 1 and recorded.count("+") == 1  # reads one way only
    assert f"@{token_id}+req:{REQUEST_ID}" in recorded
