"""The OpenAPI document describes every answer: a schema for each success, one vocabulary for
what a write wrote, and the problem+json schema once, referred to by every operation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from api.http.app import create_app
from api.http.problems import DOCUMENTED_PROBLEMS, PROBLEM_JSON
from ledger.settings import Settings

PROBLEM_REF = "#/components/schemas/ProblemDetails"
# Not JSON: a stream of Server-Sent Events, and a CSV or HTML download.
NOT_JSON = {("get", "/v1/streams/{view}"): {"text/event-stream"},
            ("get", "/v1/communities/{code}/disclosure"): {"text/csv", "text/html"}}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder: Path = tmp_path_factory.mktemp("openapi")
    # The document needs no store: the app opens its ledger only when it starts.
    return create_app(Settings(db=str(folder / "fundledger.db"))).openapi()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, operation) for path, methods in document["paths"].items()
            for method, operation in methods.items()]


def _success(operation: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    [(status, response)] = [(s, r) for s, r in operation["responses"].items() if s[0] == "2"]
    return status, response


def _schema(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    return document["components"]["schemas"][ref.rsplit("/", 1)[-1]]  # type: ignore[no-any-return]


def test_every_success_has_a_schema_or_its_media_types(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        _, response = _success(operation)
        media = set(response["content"])
        if (method, path) in NOT_JSON:
            assert media == NOT_JSON[(method, path)], (method, path)
            continue
        assert media == {"application/json"}, (method, path)
        schema = _schema(document, response["content"]["application/json"]["schema"])
        assert schema.get("properties"), f"{method} {path} answers an undescribed object"


def test_every_write_answers_what_it_wrote_and_its_position(document: dict[str, Any]) -> None:
    writes = [(path, operation) for method, path, operation in _operations(document)
              if method == "post"]
    assert len(writes) >= 30
    for path, operation in writes:
        status, response = _success(operation)
        schema = _schema(document, response["content"]["application/json"]["schema"])
        assert status == "201", path
        assert {"written", "position"} <= set(schema["properties"]), path
        assert "written" in schema["required"], path


def test_problems_are_one_schema_every_operation_refers_to(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        for status in DOCUMENTED_PROBLEMS:
            content = operation["responses"][str(status)]["content"]
            assert content == {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}, (method, path)
    problem = document["components"]["schemas"]["ProblemDetails"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])
    # Inlined, its copies made the document ~400 KB; once, it is about half of that.
    assert json.dumps(document).count('"RFC 9457 problem details') == 1
    assert len(json.dumps(document, separators=(",", ":"))) < 250_000
