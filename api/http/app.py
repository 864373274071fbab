"""The FastAPI application: ``create_app(settings)``, served by ``fundledger serve``.

One process holds one ``FundLedger`` (thread-safe; FastAPI runs the routes on a thread
pool) and the views it reads. On the embedded store nothing else would keep the views
current or seal the log, so the process follows the views and the sealer itself (a signed
checkpoint every minute, and one at shutdown); on PostgreSQL the runners are separate
processes (``fundledger projections run --follow``, ``fundledger seal --follow``) unless
asked otherwise.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http import (
    routes_enterprises,
    routes_funds,
    routes_governance,
    routes_history,
    routes_signin,
    routes_streams,
    routes_views,
    routes_votes,
)
from api.http.docs import serve_docs_offline
from api.http.health import ReadinessProbe, healthz, readyz
from api.http.metrics import count_writes, metrics
from api.http.problems import (
    PROBLEM_RESPONSES,
    Problem,
    document_problems,
    install_problem_handlers,
    problem,
)
from api.http.request_log import RequestTelemetry
from api.http.routing import api_routes
from api.http.security import Policy
from api.http.services import CityShard, Services
from api.http.url_identifiers import NormalisedUrl
from api.web.app import create_web_app
from api.web.pages import WEB_PREFIX
from domain.errors import InvalidInput
from ledger.application import FundLedger
from ledger.persistence.access_tables import AccessTables, open_access_tables
from ledger.persistence.web_tables import WebTables
from ledger.settings import Settings
from projections.runner import Followers, Runner, open_projection
from projections.seal.follower import SealFollower
from projections.views import VIEWS

BODY_BYTES_MAX = 1024 * 1024
REQUEST_ID_HEADER = "X-Request-Id"
CONVERTER = re.compile(r"\{(\w+):\w+\}")


class BodyLimit:
    """Refuse a request body over the limit (413) before a route parses any of it."""

    def __init__(self, app: ASGIApp, limit: int = BODY_BYTES_MAX) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            response = problem(413, f"a request body has at most {self.limit} bytes",
                               rule="body-size")
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise Problem(413, f"a request body has at most {self.limit} bytes",
                              rule="body-size")
            return message

        await self.app(scope, counted, send)


class RequestId:
    """Give each request an id (``request.state.request_id``, recorded in the actor of the
    events it writes) and answer it in ``X-Request-Id``.

    Plain ASGI: ``@app.middleware("http")`` ran every request's app in a task of its own,
    behind a memory stream, which cost more of a deposit's time than its token lookup.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        header = (REQUEST_ID_HEADER.lower().encode(), request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        await self.app(scope, receive, send_with_id)


def create_app_without_followers() -> FastAPI:
    """One of ``fundledger serve --workers N``'s processes: settings from the environment,
    views followed elsewhere (``fundledger projections run --follow``)."""
    return create_app(Settings(), follow_views=False)


def create_app(settings: Settings | None = None, *, follow_views: bool | None = None,
               access: AccessTables | None = None, web: WebTables | None = None,
               city_shards: Callable[[], list[CityShard]] | None = None,
               sibling_shards: Callable[[], list[CityShard]] | None = None) -> FastAPI:
    """The API on one database. ``access``: the tokens and stored responses to use instead of
    this database's own, and ``web`` the pages' sign-in codes and sessions (a sharded city's
    gateway hands every shard the city's); ``city_shards``: for the city database's app
    below the gateway, every district's (the officials' dashboard names their communities
    and follows their positions); ``sibling_shards``: for a district's app below it, the
    same (its pages name every district's communities, and know their log is one of
    several)."""
    settings = settings or Settings()
    if settings.shards:  # a sharded city is served by api.http.shard_gateway
        raise InvalidInput("with FUNDLEDGER_SHARDS the API is the shard gateway "
                           "(api.http.shard_gateway.create_gateway), one app per database "
                           "below it", rule="shards", field="FUNDLEDGER_SHARDS")
    follow = (not settings.is_postgres) if follow_views is None else follow_views

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ledger = FundLedger(settings)
        try:
            views = {name: open_projection(ledger, cls) for name, cls in VIEWS.items()}
            runner = Runner(ledger)
            svc = Services(ledger, runner, views,
                           access if access is not None else open_access_tables(ledger.recorder),
                           web=web, city_shards=city_shards,
                           sibling_shards=sibling_shards)
            sealing: SealFollower | None = None
            if follow:
                svc.followers = Followers(runner, list(views.values())).start()
                sealing = SealFollower(ledger).start()
                svc._sealer = sealing.sealer
            app.state.services = svc
            app.state.readiness = ReadinessProbe(svc, settings)
            count_writes(ledger.recorder)
            yield
            if svc.followers is not None:
                svc.followers.stop()
            if sealing is not None:
                sealing.stop()
        finally:
            ledger.close()

    app = FastAPI(
        title="fundledger", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
        description="Residential maintenance funds, governance and property-service "
                    "enterprises, as an event-sourced ledger. Amounts are decimal strings "
                    "in yuan (and `_fen` integers in responses); errors are RFC 9457 "
                    "problem+json naming the rule and the field.")
    install_problem_handlers(app)
    document_problems(app)

    app.add_middleware(RequestId)
    app.add_middleware(BodyLimit)
    # It logs and counts the other middleware's refusals too.
    app.add_middleware(RequestTelemetry, routes=lambda: app.routes)
    # Outermost: every layer and route reads the URL's identifiers as the ledger keys them.
    app.add_middleware(NormalisedUrl)
    # routes_votes before routes_governance: its GET /v1/votes beside POST /v1/votes.
    for router in (routes_funds.router, routes_votes.router, routes_governance.router,
                   routes_enterprises.router, routes_views.router, routes_streams.router,
                   routes_history.router, routes_signin.router):
        app.include_router(router, responses=PROBLEM_RESPONSES)
    serve_docs_offline(app)
    # The owners' pages (api/web), and the site's front door leads to them.
    app.mount(WEB_PREFIX, create_web_app(lambda: app.state.services))

    async def front_door(request: Request) -> RedirectResponse:
        return RedirectResponse(f"{WEB_PREFIX}/", status_code=307)

    app.add_route("/", front_door, include_in_schema=False)
    # Operations (docs/operations.md): unauthenticated probes, and metrics for a scraper's
    # token; not in the OpenAPI document, which describes the ledger's API.
    app.add_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    app.add_route("/readyz", readyz, methods=["GET"], include_in_schema=False)
    app.add_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    return app


def route_policies(app: FastAPI) -> dict[tuple[str, str], Policy | None]:
    """Each route's declared policy (None where a route has none): for the policy test."""
    policies: dict[tuple[str, str], Policy | None] = {}
    for route in api_routes(app.routes):
        found = [d.call for d in route.dependant.dependencies if isinstance(d.call, Policy)]
        path = CONVERTER.sub(r"{\1}", route.path)  # as the OpenAPI document writes it
        for method in route.methods or ():
            policies[(method, path)] = found[0] if found else None
    return policies
