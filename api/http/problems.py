"""Errors as RFC 9457 ``application/problem+json``, naming the rule and the field.

The domain's typed errors map to a status by kind; validation errors list every field at
fault. No route catches ``Exception``: the last-resort handler here logs the error and
answers a bare 500 problem, so no stack trace ever reaches a client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from eventsourcing.persistence import OperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.http.routing import allowed_methods
from domain.errors import BatchRejected, DomainError
from ledger.base import IdempotencyKeyUsed
from ledger.persistence.connection_loss import ConnectionLost, DatabaseUnavailable
from projections.runner import ProjectionFailed, ViewBehind

PROBLEM_JSON = "application/problem+json"
STATUS_BY_KIND = {"invalid_input": 422, "rule_violated": 422, "not_found": 404,
                  "conflict": 409}
TITLES = {400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 413: "Request body too large",
          415: "Unsupported media type", 422: "Unprocessable content", 428: "Precondition required",
          429: "Too many requests", 500: "Internal server error",
          503: "Service unavailable", 504: "View not caught up"}
# What a 503 for the database asks a client to wait: about a reconnect's worth.
DATABASE_RETRY_AFTER_S = 2
log = logging.getLogger("fundledger.http")


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, with the ledger's rule and the field at fault."""

    model_config = ConfigDict(extra="allow", title="ProblemDetails")
    type: str
    title: str
    status: int
    detail: str
    rule: str | None = None
    field: str | None = None


DOCUMENTED_PROBLEMS = (400, 401, 403, 404, 409, 413, 422, 429, 503, 504)
# Every operation refers to the one schema (``document_problems`` puts it in the components);
# inlined, its copies were most of the OpenAPI document.
PROBLEM_SCHEMA_REF = {"$ref": "#/components/schemas/ProblemDetails"}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": TITLES[status],
             "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA_REF}}}
    for status in DOCUMENTED_PROBLEMS}


class Problem(Exception):
    """An error a route raises on purpose, with its status, rule and field."""

    def __init__(self, status: int, detail: str, *, rule: str | None = None,
                 field: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.rule = rule
        self.field = field
        self.headers = headers


def problem(status: int, detail: str, *, rule: str | None = None, field: str | None = None,
            headers: Mapping[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": TITLES.get(status, "Error"),
                            "status": status, "detail": detail}
    if rule is not None:
        body["rule"] = rule
    if field is not None:
        body["field"] = field
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def domain_problem(error: DomainError) -> JSONResponse:
    if isinstance(error, IdempotencyKeyUsed) and not error.same_request:
        status = 422  # the contract: a key reused with another body is unprocessable
    else:
        status = STATUS_BY_KIND.get(error.kind, 422)
    extra: dict[str, Any] = {}
    if isinstance(error, BatchRejected):
        extra["line"] = error.line
    return problem(status, error.message, rule=error.rule, field=error.field, **extra)


def database_problem(error: OperationalError) -> JSONResponse:
    """503 with ``Retry-After`` for a database that is unreachable, lost the connection
    (after the retries on working ones), or timed out on a lock: the request may succeed
    if repeated. A write's outcome may be unknown, so the detail says to repeat it with the
    same Idempotency-Key. Answered here, not by the last-resort handler, so the client's
    keep-alive connection stays open (uvicorn closes it after an unhandled error)."""
    log.warning("database unavailable on this request: %s", error)
    if isinstance(error, DatabaseUnavailable):
        what = "the database is unreachable"
    elif isinstance(error, ConnectionLost):
        what = "the connection to the database was lost"
    else:
        what = "the database could not serve the request in time"
    return problem(503, f"{what}; repeat the request (a write with the same "
                   "Idempotency-Key: it may have been written)", rule="database-unavailable",
                   headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)})


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and (parts[0] in ("query", "path", "header")
                  or (parts[0] == "body" and len(parts) > 1)):
        parts = parts[1:]
    return ".".join(parts) or "body"


def document_problems(app: FastAPI) -> None:
    """Add ``ProblemDetails`` to the OpenAPI document's schemas, for ``PROBLEM_RESPONSES``.

    FastAPI collects the schemas of the models routes name; this one is named by a plain
    ``$ref`` (a model would be documented as ``application/json``), so it is added here."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()  # built once and kept by the app, with the schema added
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas["ProblemDetails"] = ProblemDetails.model_json_schema(
                ref_template="#/components/schemas/{model}")
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def on_domain_error(request: Request, error: DomainError) -> JSONResponse:
        return domain_problem(error)

    @app.exception_handler(Problem)
    async def on_problem(request: Request, error: Problem) -> JSONResponse:
        return problem(error.status, error.detail, rule=error.rule, field=error.field,
                       headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [{"field": _location(tuple(e.get("loc", ()))), "rule": e.get("type", ""),
                   "message": e.get("msg", "")} for e in error.errors()]
        first = errors[0] if errors else {"field": None, "rule": "invalid", "message": ""}
        return problem(422, f"{first['field']}: {first['message']}", rule=first["rule"],
                       field=first["field"], errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request.app.routes, request.url.path))
        return problem(error.status_code, str(error.detail), headers=headers)

    @app.exception_handler(ViewBehind)
    async def on_behind(request: Request, error: ViewBehind) -> JSONResponse:
        return problem(504, str(error), rule="read-your-writes", field="min_position",
                       view=error.view_name, reached=error.reached, wanted=error.wanted)

    @app.exception_handler(ProjectionFailed)
    async def on_failed(request: Request, error: ProjectionFailed) -> JSONResponse:
        log.error("view failed: %s", error)
        return problem(503, f"the view stopped at log position "
                       f"{error.failure.notification_id}; an operator must fix and resume it",
                       rule="view-failed")

    @app.exception_handler(OperationalError)
    async def on_database_unavailable(request: Request, error: OperationalError
                                      ) -> JSONResponse:
        return database_problem(error)

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "the server failed; the error is logged (nothing of it is shown "
                       "here)")
