"""One log line per request, and the metrics of it: ``RequestTelemetry`` and the log formats.

A line names the request id (the one in ``X-Request-Id`` and in the actor of every event the
request wrote, ``...+req:<id>``), the principal id of the token's holder (never the token;
none for an unauthenticated request or a web page), the method, the route template (never the
raw path: a path may hold a one-time sign-in code, and query strings are never logged),
the status and the duration in milliseconds.

The format is one switch, ``FUNDLEDGER_LOG_FORMAT`` or ``fundledger serve --log-format``:
``json`` (one JSON object per line, for a log shipper) or ``human`` (one readable line);
unset, JSON unless stderr is a terminal. ``serve`` formats uvicorn's own lines the same way
and turns its access log off, so a request is logged once.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http.metrics import UNMATCHED, observe_request

LOGGER_NAME = "fundledger.http"
REPLAYED_HEADER = b"idempotent-replayed"
LogFormat = Literal["json", "human"]

log = logging.getLogger(LOGGER_NAME)


class RequestTelemetry:
    """Times each request, counts it by route template and status, and logs one line.

    Outermost of the app's middleware, so that a refusal by another (a body over the limit)
    is counted too; it reads the request id and the principal from the request's state,
    where ``RequestId`` and the route's policy put them.
    """

    def __init__(self, app: ASGIApp, routes: Callable[[], Sequence[BaseRoute]] = tuple) -> None:
        self.app = app
        self.routes = routes  # the app's own routes, read once they are all added
        self._paths: dict[Any, str] | None = None

    def paths(self) -> dict[Any, str]:
        """Each plain route's path by its endpoint. FastAPI's router names the matched route
        in the scope for its own routes only; for a plain one (``/healthz``) the scope has
        the endpoint."""
        if self._paths is None:
            self._paths = {route.endpoint: route.path for route in self.routes()
                           if isinstance(route, Route)}
        return self._paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_path = scope.get("root_path", "")
        status = 500  # unless a response starts: an exception escaped every handler
        replayed = False

        async def observed(message: Message) -> None:
            nonlocal status, replayed
            if message["type"] == "http.response.start":
                status = message["status"]
                replayed = any(name == REPLAYED_HEADER for name, _ in message.get("headers", ()))
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            duration_s = time.perf_counter() - started
            route = route_template(scope, root_path, self.paths)
            observe_request(scope["method"], route, status, duration_s, replayed)
            if log.isEnabledFor(logging.INFO):
                _log_request(scope, route, status, duration_s)


def route_template(scope: Scope, root_path: str, paths: Callable[[], dict[Any, str]]) -> str:
    """The matched route's path as declared (``/v1/communities/{code}``), under the mounts
    it was found through (``/web/...``), or ``<unmatched>``."""
    mounted = scope.get("root_path", "")[len(root_path):]  # the mounts' prefixes, if any
    route = scope.get("route")
    if route is None:
        path = paths().get(scope.get("endpoint")) if "endpoint" in scope else None
        if path is not None:
            return f"{mounted}{path}"
        return f"{mounted}/{{path}}" if mounted else UNMATCHED  # a mount's files, or nothing
    if isinstance(route, Mount):
        return f"{mounted}/{{path}}"
    return f"{mounted}{getattr(route, 'path', '')}" or UNMATCHED


def _log_request(scope: Scope, route: str, status: int, duration_s: float) -> None:
    state = scope.get("state", {})
    principal = state.get("principal")
    fields = {
        "request_id": state.get("request_id"),
        "principal": None if principal is None else principal.principal_id,
        "method": scope["method"],
        "route": route,
        "status": status,
        "duration_ms": round(duration_s * 1000, 2),
    }
    log.info("%s %s %s", scope["method"], route, status, extra={"fields": fields})


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: time, level, logger, message and its ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,  # which of `serve --workers N` wrote it
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class HumanFormatter(logging.Formatter):
    """A record as one line for people: time, level, message, then ``key=value`` fields."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-5s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields: dict[str, Any] = getattr(record, "fields", {})
        extra = " ".join(f"{key}={value}" for key, value in fields.items()
                         if key not in ("method", "route", "status") and value is not None)
        return f"{text} {extra}" if extra else text


def resolve_format(configured: str | None) -> LogFormat:
    """The configured format, or JSON unless stderr is a terminal."""
    if configured in ("json", "human"):
        return configured  # type: ignore[return-value]
    return "human" if sys.stderr.isatty() else "json"


def announce(log_format: LogFormat, message: str) -> None:
    """A line before the server starts, in the log's format (a JSON log stays all JSON)."""
    if log_format == "human":
        print(message, file=sys.stderr)
        return
    record = logging.makeLogRecord({"name": "fundledger", "levelname": "INFO",
                                    "msg": message})
    print(JsonFormatter().format(record), file=sys.stderr)


def log_config(log_format: LogFormat, *, request_lines: bool = True) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for ``serve`` (uvicorn applies it in every worker):
    uvicorn's lines and ours in one format on stderr, uvicorn's access log silent."""
    formatter = ("api.http.request_log.JsonFormatter" if log_format == "json"
                 else "api.http.request_log.HumanFormatter")
    handler = {"class": "logging.StreamHandler", "formatter": "line",
               "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": {"()": formatter}},
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            LOGGER_NAME: {"handlers": ["stderr"], "propagate": False,
                          "level": "INFO" if request_lines else "WARNING"},
        },
    }
