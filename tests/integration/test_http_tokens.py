"""Tokens are told apart by their holder's id, never by their name (issue 15, item 1).

Idempotency keys and stored responses are namespaced by the principal id, so two tokens
never meet in each other's keys, even two that share a name in a database made before names
were unique; the actor of every event written over HTTP carries that id; a second principal
cannot take a name in use (a revoked token's included); rotation keeps the holder.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from domain.checks import ACTOR_PATTERN
from domain.errors import Conflict, InvalidInput
from ledger.access import TOKEN_NAME_CHARS_MAX, Principal, Role, Scope, new_token, token_digest
from ledger.application import FundLedger
from ledger.settings import Settings
from tests.integration.http_support import (
    COMMUNITY,
    DISTRICT,
    OTHER,
    OTHER_DISTRICT,
    Api,
    open_api,
    seed,
)

KEY = "shared-key-1"
TOP_UP = {"building": "1", "unit": "102", "amount_yuan": "10.00", "paid_on": "2026-03-01",
          "kind": "top_up"}

# The token table as a database made before issue 15 holds it: no principal ids, and names
# free to repeat.
_LEGACY_SQLITE = ("CREATE TABLE api_tokens (digest TEXT PRIMARY KEY, token_id TEXT NOT NULL "
                  "UNIQUE, principal TEXT NOT NULL, role TEXT NOT NULL, scope TEXT NOT NULL, "
                  "created_at TEXT NOT NULL, revoked_at TEXT)")
_LEGACY_POSTGRES = ("CREATE TABLE {table} (digest text PRIMARY KEY, token_id text NOT NULL "
                    "UNIQUE, principal text NOT NULL, role text NOT NULL, scope text NOT NULL, "
                    "created_at timestamptz NOT NULL DEFAULT now(), revoked_at timestamptz)")


def _legacy_tokens(db_url: str, rows: list[tuple[str, str, str, str]]) -> None:
    """Make the old token table holding ``rows`` (token, name, role, scope), as an existing
    database would, before the API opens it."""
    app = FundLedger(Settings(db=db_url))
    try:
        datastore: Any = app.recorder.datastore
        schema = getattr(datastore, "schema", None)
        table = f'"{schema or "public"}".api_tokens' if schema is not None else "api_tokens"
        ddl = _LEGACY_SQLITE if schema is None else _LEGACY_POSTGRES.format(table=table)
        with datastore.transaction(commit=True) as c:
            c.execute(ddl)
            for token, name, role, scope in rows:
                token_id = token.removeprefix("flt_").split("_", 1)[0]
                c.execute(f"INSERT INTO {table} (digest, token_id, principal, role, scope, "
                          f"created_at) VALUES ('{token_digest(token)}', '{token_id}', "
                          f"'{name}', '{role}', '{scope}', '2026-01-01T00:00:00+00:00')")
    finally:
        app.close()


def _token_id(token: str) -> str:
    return token.removeprefix("flt_").split("_", 1)[0]


@pytest.fixture
def twins(db_url: str) -> Iterator[tuple[Api, str, str]]:
    """A seeded API on a database that already held two custodian tokens named ``office``,
    one in each district."""
    first, _ = new_token()
    second, _ = new_token()
    _legacy_tokens(db_url, [(first, "office", "custodian", f"district:{DISTRICT}"),
                            (second, "office", "custodian", f"district:{OTHER_DISTRICT}")])
    for api in open_api(db_url):
        seed(api)
        yield api, first, second


def _deposit(api: Api, token: str, code: str, reference: str, key: str = KEY) -> Any:
    return api.post(f"/v1/communities/{code}/deposits", token,
                    {**TOP_UP, "reference": reference}, key=key)


def test_r2_two_tokens_of_one_name_use_the_same_key_each_in_its_own_district(
    twins: tuple[Api, str, str]
) -> None:
    api, first, second = twins
    mine = _deposit(api, first, COMMUNITY, "TWIN-A")
    theirs = _deposit(api, second, OTHER, "TWIN-B")
    assert mine.status_code == 201, mine.text
    assert theirs.status_code == 201, theirs.text  # was 422: "already used" by the other
    assert mine.json()["position"] != theirs.json()["position"]
    for token, code, reference, answer in ((first, COMMUNITY, "TWIN-A", mine),
                                           (second, OTHER, "TWIN-B", theirs)):
        again = _deposit(api, token, code, reference)
        assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
        assert again.content == answer.content  # each replays its own answer
    # The same token reusing its key with another body is still refused, writing nothing.
    before = api.services.ledger.recorder.max_notification_id()
    reused = _deposit(api, first, COMMUNITY, "TWIN-C")
    assert reused.status_code == 422 and reused.json()["rule"] == "idempotency-key"
    assert api.services.ledger.recorder.max_notification_id() == before


def test_events_written_over_http_name_the_token_that_wrote_them(
    twins: tuple[Api, str, str]
) -> None:
    api, first, second = twins
    written = [_deposit(api, token, code, f"ACTOR-{code}", key=f"actor-{code}").json()
               for token, code in ((first, COMMUNITY), (second, OTHER))]
    auditor = api.token(Role.auditor)
    actors = []
    for code, answer in zip((COMMUNITY, OTHER), written, strict=True):
        statement = api.get(f"/v1/communities/{code}/units/1/102/statement", auditor,
                            min_position=answer["position"]).json()
        actors.append(next(e["actor"] for e in statement["items"]
                           if e["reference"] == f"ACTOR-{code}"))
    assert actors[0] != actors[1]
    for actor, token in zip(actors, (first, second), strict=True):
        assert actor.startswith(f"http:office@{_token_id(token)}+req:")
        assert ACTOR_PATTERN.fullmatch(actor)


def test_a_second_token_cannot_take_a_name_in_use_even_a_revoked_ones(db_url: str) -> None:
    for api in open_api(db_url):
        access = api.services.access
        token = api.token(Role.custodian, f"district:{DISTRICT}", name="fund-office")
        other, other_id = new_token()
        elsewhere = Principal("fund-office", Role.custodian, Scope.parse(
            f"district:{OTHER_DISTRICT}"), other_id)
        with pytest.raises(Conflict) as refused:
            access.add_token(token_digest(other), elsewhere)
        assert (refused.value.rule, refused.value.field) == ("token-name", "name")
        assert access.principal(token_digest(other)) is None  # nothing was written
        assert access.revoke_token(_token_id(token))
        with pytest.raises(Conflict):
            access.add_token(token_digest(other), elsewhere)


def test_a_token_name_is_plain_and_short_enough_to_be_recorded_whole(db_url: str) -> None:
    for api in open_api(db_url):
        for name in ("", "a" * (TOKEN_NAME_CHARS_MAX + 1), "街道办", "bob@x", "a b"):
            token, token_id = new_token()
            with pytest.raises(InvalidInput) as refused:
                api.services.access.add_token(token_digest(token), Principal(
                    name, Role.auditor, Scope.parse("city"), token_id))
            assert (refused.value.rule, refused.value.field) == ("token-name", "name")
            assert api.services.access.principal(token_digest(token)) is None


def test_a_rotated_token_keeps_its_holders_keys_and_actor(db_url: str) -> None:
    for api in open_api(db_url):
        seed(api)
        old = api.token(Role.custodian, f"district:{DISTRICT}", name="rotating")
        first = _deposit(api, old, COMMUNITY, "ROT-1")
        assert first.status_code == 201, first.text
        new, new_id = new_token()
        rotated = api.services.access.rotate_token(_token_id(old), token_digest(new), new_id)
        assert rotated is not None and rotated.name == "rotating"
        assert rotated.principal_id == _token_id(old) and rotated.token_id == new_id
        assert api.get("/v1/communities", old).status_code == 401
        again = _deposit(api, new, COMMUNITY, "ROT-1")  # a retry after the rotation
        assert again.content == first.content
        assert again.headers["Idempotent-Replayed"] == "true"
        assert api.services.access.rotate_token(_token_id(old), token_digest(new),
                                                new_id) is None  # revoked: nothing to rotate
