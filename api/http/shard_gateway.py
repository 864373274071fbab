"""One HTTP API for a city whose districts keep their own logs (``FUNDLEDGER_SHARDS``).

Below the gateway, each shard is served by the ledger's own app (``create_app`` on that
shard's database, unchanged), and the city database by one more, whose views are the city
views the city reader builds (``fundledger shards city-reader``). The gateway is an ASGI app
in front of them that hands each request, untouched, to the one app it concerns:

- a community: ``/v1/communities/{code}/...``, a replay key ``/v1/history/{kind}/{code}/...``,
  the ``community`` of the vote list, the body of ``POST /v1/votes`` and of
  ``POST /v1/communities`` (whose district enters the community directory first, as the CLI
  does, once the token may register there): the shard the directory names;
- a stream by its id: ``/v1/votes/{id}/...``, ``/v1/proofs/{stream}/...``: the shard holding it;
- the city's figures: ``/v1/rates``, its trend, the credit ranking: the city app; and
  ``/v1/audit`` without a community, answered by the gateway from the city reader's audit
  view (``projections.city_audit``: entries keyed by shard and position, ``after`` a
  ``shard:position`` cursor, ``shard`` to keep to one log);
- the lists of communities and votes without a community: every shard, merged in key order;
- ``/readyz``: every app below, each one's answer by its shard's name (and ``city``);
- the web pages: a vote's page by the vote's stream; a sign-in with a code to the shard of
  the community the code was issued for; any other page by the session's community (an
  owner's), else by its ``community`` query (a staff member's choice), else the default
  shard (whose app knows its siblings: a staff member's vote list there is every shard's,
  and its audit trail asks for a community rather than show one log as the city's);
- the officials' three-rates dashboard page: the city app, its figures the city views',
  its communities named by each district's balance view, its live changes following how
  far the city views have read each district's log;
- anything else (enterprises' credit records, handover checks, metrics): the default shard,
  where the CLI keeps the enterprises' credit records too.

Every app below shares the city database's tokens and stored responses, so one token works
city-wide and an idempotency key means one request wherever it lands; and its sign-in codes
and sessions, so a code issued on any shard signs in through the gateway, and a session
opens every page. Registering an enterprise is refused here (it must reach every shard:
``fundledger shards register-enterprise``), as in the CLI.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID

import anyio.to_thread
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http.app import RequestId, create_app
from api.http.problems import domain_problem, problem
from api.http.request_log import RequestTelemetry
from api.http.routes_funds import REGISTRARS
from api.http.schemas_views import CityAuditEntryPublic
from api.http.security import in_scope
from api.http.services import CityShard
from api.http.url_identifiers import normalise_url
from api.web.identity import code_digest, session_digest, utc_now
from api.web.pages import SESSION_COOKIE, WEB_PREFIX
from domain.errors import DomainError, InvalidInput
from ledger.access import Place, Principal, Role, token_digest
from ledger.persistence.access_tables import AccessTables, open_access_tables
from ledger.persistence.web_tables import WebTables, open_web_tables
from ledger.settings import Settings
from ledger.shards import ShardRouter, load_shard_map
from projections.audit import AuditFilter
from projections.city_audit import CityAuditProjection, city_audit_page, open_city_audit

BODY_MAX_BYTES = 1024 * 1024  # as the apps below refuse (BodyLimit): 413 before routing
_COMMUNITY_PATH = re.compile(r"^/v1/communities/([^/]+)(/|$)")
_HISTORY_PATH = re.compile(r"^/v1/history/([a-z]+)/([^/]+)")
_STREAM_PATH = re.compile(r"^/v1/(?:votes|proofs)/([0-9A-Fa-f-]{32,36})(/|$)")
_WEB_VOTE_PATH = re.compile(rf"^{WEB_PREFIX}/votes/([0-9A-Fa-f-]{{32,36}})(/|$)")
CITY_PATHS = ("/v1/rates", "/v1/rates/trend", "/v1/credit-ranking")
_BODY_ROUTED = ("/v1/communities", "/v1/votes", "/v1/enterprises")
AUDIT_READERS = (Role.auditor, Role.official, Role.custodian, Role.admin)  # as GET /v1/audit
# The lists every shard answers in part: the key each orders its items by (its ``after``),
# and the route's default page size.
MERGED_LISTS: dict[str, tuple[Callable[[dict[str, Any]], str], int]] = {
    "/v1/communities": (lambda item: str(item["community_code"]), 100),
    "/v1/votes": (lambda item: f"{item['community_code']}/{item['reference']}", 50),
}


@dataclass
class _Buffered:
    """A request whose body the gateway read to route it, handed on as if unread."""

    body: bytes
    receive: Receive
    sent: bool = False

    async def __call__(self) -> Message:
        if not self.sent:
            self.sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        return await self.receive()  # the client's disconnect, if it comes




class ShardGateway:
    """The ASGI app ``fundledger serve`` runs when a shard map is set (module docstring)."""

    def __init__(self, settings: Settings, *, follow_views: bool | None = None) -> None:
        shards = load_shard_map(settings.shards or "")
        self.router = ShardRouter(shards, settings)
        self._access: AccessTables | None = None
        self._web: WebTables | None = None
        self._audit: CityAuditProjection | None = None
        self.shard_apps: dict[str, FastAPI] = {}
        self.city_app: FastAPI | None = None
        self.follow_views = follow_views

    # -- lifespan ------------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        async with AsyncExitStack() as stack:
            try:
                await anyio.to_thread.run_sync(self._open)
                stack.push_async_callback(anyio.to_thread.run_sync, self.router.close)
                for app in self.apps():
                    await stack.enter_async_context(app.router.lifespan_context(app))
            except Exception as error:  # told to the server, which stops
                await send({"type": "lifespan.startup.failed", "message": str(error)})
                return
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})

    def _open(self) -> None:
        """The city's access and sign-in tables, and an app per database sharing them."""
        city = self.router.city()
        self._access = open_access_tables(city.recorder)
        self._web = open_web_tables(city.recorder)
        shards = self.router.map
        self.shard_apps = {
            name: create_app(self.router.settings_for(url), follow_views=self.follow_views,
                             access=self._access, web=self._web,
                             sibling_shards=self._districts)
            for name, url in shards.shards.items()}
        # The city views are filled by the city reader, never by this process.
        self.city_app = create_app(self.router.settings_for(shards.city), follow_views=False,
                                   access=self._access, web=self._web,
                                   city_shards=self._districts)

    def _districts(self) -> list[CityShard]:
        return [CityShard(name, self.router.map.upstream_name(name), app.state.services)
                for name, app in self.shard_apps.items()]

    def apps(self) -> list[FastAPI]:
        return [*self.shard_apps.values(), *([self.city_app] if self.city_app else [])]

    @property
    def home(self) -> FastAPI:
        return self.shard_apps[self.router.map.default]

    # -- requests ------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            await self.home(scope, receive, send)
            return
        normalise_url(scope)  # the shard is found by the URL's identifiers as keyed
        path: str = scope["path"]
        try:
            app, receive = await self._route(scope, receive)
        except DomainError as error:
            # Refused in routing: logged by its path only if that is a route's fixed path (a
            # raw path may hold what a log must not, as a sign-in link does).
            template = path if path in _BODY_ROUTED else None
            await _answered_here(template, domain_problem(error))(scope, receive, send)
            return
        except _TooLarge:
            await _answered_here(None, problem(
                413, f"a request body is at most {BODY_MAX_BYTES} bytes", rule="body-size",
                field="body"))(scope, receive, send)
            return
        if app is None:  # a list every shard answers in part
            await _answered_here(path, self._merged)(scope, receive, send)
            return
        if path == "/readyz":
            await _answered_here(path, self._ready)(scope, receive, send)
            return
        if app is self.city_app and path == "/v1/audit":
            await _answered_here(path, self._city_audit)(scope, receive, send)
            return
        await app(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive) -> tuple[FastAPI | None, Receive]:
        path: str = scope["path"]
        method: str = scope["method"]
        if self.city_app is not None and (
                path in CITY_PATHS or path.startswith(f"{WEB_PREFIX}/rates")):
            # The officials' dashboard too: the city views, with every district's names.
            return self.city_app, receive
        if method == "GET" and path == "/v1/audit":
            community = dict(parse_qsl(scope["query_string"].decode())).get("community")
            if community:  # its district's own audit, in that log's positions
                return await self._community_app(community), receive
            return self.city_app, receive  # answered here, from the city reader's view
        if method == "POST" and path == "/v1/enterprises":
            raise InvalidInput("with shards an enterprise is registered on every shard: "
                               "fundledger shards register-enterprise", rule="shards",
                               field="credit_code")
        found = _COMMUNITY_PATH.match(path)
        if found:
            return await self._community_app(found[1]), receive
        found = _HISTORY_PATH.match(path)
        if found and found[1] != "enterprise":
            return await self._community_app(found[2]), receive
        found = _STREAM_PATH.match(path)
        if found:
            return await self._stream_app(found[1]), receive
        if method == "GET" and path in MERGED_LISTS:
            community = dict(parse_qsl(scope["query_string"].decode())).get("community")
            if path == "/v1/votes" and community:
                return await self._community_app(community), receive
            return None, receive
        if method == "POST" and path in ("/v1/communities", "/v1/votes"):
            body = await _read_body(receive)
            buffered = _Buffered(body, receive)
            return await self._app_for_body(scope, path, body), buffered
        if path.startswith(f"{WEB_PREFIX}/"):
            return await self._page_app(scope, receive)
        return self.home, receive

    async def _page_app(self, scope: Scope, receive: Receive) -> tuple[FastAPI, Receive]:
        """Where a web page is: see the module docstring."""
        path: str = scope["path"]
        found = _WEB_VOTE_PATH.match(path)
        if found:
            return await self._stream_app(found[1]), receive
        if scope["method"] == "POST" and path == f"{WEB_PREFIX}/signin":
            body = await _read_body(receive)
            code = dict(parse_qsl(body.decode("utf-8", "replace"))).get("code", "")
            community = await anyio.to_thread.run_sync(self._code_community, code)
            app = await self._community_app(community) if community else self.home
            return app, _Buffered(body, receive)
        community = await anyio.to_thread.run_sync(self._session_community, scope)
        if community is None:
            community = dict(parse_qsl(scope["query_string"].decode())).get("community")
        return (await self._community_app(community) if community else self.home), receive

    def _code_community(self, code: str) -> str | None:
        assert self._web is not None
        return self._web.code_community(code_digest(code)) if code.strip() else None

    def _session_community(self, scope: Scope) -> str | None:
        """The community of the request's live session, if it has one (an owner's)."""
        assert self._web is not None
        cookies = cookie_parser(dict(scope["headers"]).get(b"cookie", b"").decode("latin-1"))
        session_id = cookies.get(SESSION_COOKIE)
        if not session_id:
            return None
        session = self._web.session(session_digest(session_id), utc_now())
        return None if session is None else session.community_code

    async def _community_app(self, code: str) -> FastAPI:
        """The shard of a community; an unknown one goes to the default shard, which
        answers for it as for any unknown community (404, or 422 for a malformed code)."""
        try:
            name = await anyio.to_thread.run_sync(self.router.shard_of_community, code)
        except DomainError:
            return self.home
        return self.shard_apps[name]

    async def _stream_app(self, text: str) -> FastAPI:
        try:
            stream = UUID(text)
        except ValueError:
            return self.home  # which refuses the malformed id (422)
        name = await anyio.to_thread.run_sync(self.router.shard_of_stream, stream)
        return self.home if name is None else self.shard_apps[name]

    async def _app_for_body(self, scope: Scope, path: str, body: bytes) -> FastAPI:
        """Where a registration or a new vote goes: its community's shard. A body that does
        not parse, or a token that may not register, goes to the default shard, which
        refuses it as it always did (nothing enters the directory)."""
        try:
            data = json.loads(body)
        except ValueError:
            return self.home
        if not isinstance(data, dict):
            return self.home
        if path == "/v1/votes":
            code = data.get("community_code")
            return await self._community_app(code) if isinstance(code, str) else self.home
        code, district, street = (data.get(name) for name in ("code", "district", "street"))
        if not (isinstance(code, str) and isinstance(district, str)
                and isinstance(street, str) and code and district and street):
            return self.home
        if not await anyio.to_thread.run_sync(self._may_register, scope, code, district,
                                              street):
            return self.home
        await anyio.to_thread.run_sync(self.router.record_directory, [(code, district)])
        return self.shard_apps[self.router.map.shard_of_district(district)]

    def _may_register(self, scope: Scope, code: str, district: str, street: str) -> bool:
        """The token may register this community: only then may it enter the directory."""
        principal = self._bearer(scope)
        if principal is None or principal.role not in REGISTRARS:
            return False
        try:
            in_scope(principal, Place(district, street, code), what="community", field="code")
        except DomainError:
            return False
        return True

    async def _ready(self, scope: Scope, _: Receive, send: Send) -> None:
        """Ready when every database below is; each one's own answer, by name."""
        named = {**self.shard_apps, **({"city": self.city_app} if self.city_app else {})}
        answers = {name: await _call(app, scope) for name, app in named.items()}
        ready = all(status == 200 for status, _, _ in answers.values())
        body = {"ready": ready, "databases": {
            name: json.loads(answer) for name, (_, _, answer) in answers.items()}}
        await _send(send, 200 if ready else 503, [(b"content-type", b"application/json")],
                    json.dumps(body, separators=(",", ":")).encode())

    # -- the city's audit search ----------------------------------------------------------------

    async def _city_audit(self, scope: Scope, _: Receive, send: Send) -> None:
        """``GET /v1/audit`` over the whole city: the city reader's audit view, keyed and
        ordered by (shard, position); ``after`` is the ``next_after`` it gave (``east:123``)
        and ``shard`` keeps to one district's log. A city-wide search is for a caller
        scoped to the city; anyone else names the community (and is sent to its shard)."""
        query = dict(parse_qsl(scope["query_string"].decode()))
        try:
            principal = await anyio.to_thread.run_sync(self._principal, scope)
            scope.setdefault("state", {})["principal"] = principal  # for the request log
            if principal.scope.level != "city":
                raise InvalidInput("a caller scoped below the city names the community to "
                                   "read", rule="scope", field="community")
            audit_filter = AuditFilter(None, query.get("unit") or None,
                                       query.get("kind") or None,
                                       _day(query, "date_from"), _day(query, "date_to"))
            limit = _whole(query, "limit", 100)
            entries, next_after = await anyio.to_thread.run_sync(lambda: city_audit_page(
                self._city_audit_view(), audit_filter, after=query.get("after") or None,
                shard=query.get("shard") or None, limit=limit))
        except DomainError as error:
            await domain_problem(error)(scope, _no_body, send)
            return
        except _Refused as refused:
            await refused.response(scope, _no_body, send)
            return
        items = [CityAuditEntryPublic.model_validate(e).model_dump(mode="json")
                 for e in entries]
        await _send(send, 200, [(b"content-type", b"application/json")], json.dumps(
            {"items": items, "next_after": next_after}, ensure_ascii=False,
            separators=(",", ":")).encode())

    def _city_audit_view(self) -> CityAuditProjection:
        if self._audit is None:
            self._audit = open_city_audit(self.router.city())
        return self._audit

    def _bearer(self, scope: Scope) -> Principal | None:
        """The live token's principal in the request's Authorization header, if any."""
        assert self._access is not None
        headers = dict(scope["headers"])
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self._access.principal(token_digest(token.strip()))

    def _principal(self, scope: Scope) -> Principal:
        """The caller, as the apps' policy finds it, for a route the gateway answers."""
        principal = self._bearer(scope)
        if principal is None:
            raise _Refused(problem(401, "send a live API token: Authorization: Bearer <token>",
                                   rule="authentication",
                                   headers={"WWW-Authenticate": "Bearer"}))
        if principal.role not in AUDIT_READERS:
            raise _Refused(problem(403, f"the role {principal.role.value} may not call this; "
                                   f"allowed: {', '.join(r.value for r in AUDIT_READERS)}",
                                   rule="role"))
        return principal

    # -- lists every shard answers in part ------------------------------------------------------

    async def _merged(self, scope: Scope, _: Receive, send: Send) -> None:
        """Each shard's page of the list, merged in key order and cut to the limit asked."""
        key, limit = MERGED_LISTS[scope["path"]]
        query = dict(parse_qsl(scope["query_string"].decode()))
        if query.get("limit", "").isdigit():
            limit = int(query["limit"])  # a limit out of range: every shard refuses it
        items: list[dict[str, Any]] = []
        more = False
        for app in self.shard_apps.values():
            status, headers, body = await _call(app, scope)
            if status != 200:  # a refusal (401, 403, 422) is each shard's alike: pass it on
                await _send(send, status, headers, body)
                return
            page = json.loads(body)
            items.extend(page["items"])
            more = more or page.get("next_after") is not None
        # Each shard's page holds its first ``limit`` items after the cursor, so the merged
        # first ``limit`` are the city's: none of a shard's later items sorts before them.
        items.sort(key=key)
        if len(items) > limit:
            items, more = items[:limit], True
        answer = {"items": items, "next_after": key(items[-1]) if more and items else None}
        await _send(send, 200, [(b"content-type", b"application/json")],
                    json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode())


class _TooLarge(Exception):
    pass


class _Refused(Exception):
    def __init__(self, response: JSONResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _day(query: dict[str, str], field: str) -> date | None:
    text = query.get(field)
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{field} {text!r} is not a date YYYY-MM-DD", rule="date-format",
                           field=field) from None


def _whole(query: dict[str, str], field: str, default: int) -> int:
    text = query.get(field)
    if text is None:
        return default
    if not text.isdigit():
        raise InvalidInput(f"{field} {text!r} is not a whole number", rule="page-size",
                           field=field)
    return int(text)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > BODY_MAX_BYTES:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class _Template:
    """What the request log reads of a matched route: its declared path."""

    def __init__(self, path: str) -> None:
        self.path = path


def _answered_here(template: str | None, answer: ASGIApp) -> ASGIApp:
    """An answer the gateway gives itself, logged and counted as the apps below log and
    count theirs (``template``: the route's path; None, unmatched), under its own
    ``X-Request-Id``."""
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if template is not None:
            scope["route"] = _Template(template)
        await answer(scope, receive, send)

    return RequestTelemetry(RequestId(app))


async def _call(app: Callable[[Scope, Receive, Send], Awaitable[None]], scope: Scope
                ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """A GET answered by one app below, in full: status, headers, body."""
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer["status"], answer["headers"] = message["status"], message.get("headers", [])
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    # A state of its own: the app below names its request (and its log line) itself.
    below = {**scope, "state": {}}
    await app(below, receive, send)
    found = below["state"].get("principal")
    if found is not None:  # the caller, for the gateway's own log line
        scope.setdefault("state", {}).setdefault("principal", found)
    return answer["status"], answer["headers"], answer["body"]


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
                ) -> None:
    # The answer is the gateway's, under its own request id (``_answered_here``).
    kept = [(k, v) for k, v in headers if k.lower() not in (b"content-length", b"x-request-id")]
    await send({"type": "http.response.start", "status": status,
                "headers": [*kept, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_gateway(settings: Settings | None = None, *, follow_views: bool | None = None
                   ) -> ShardGateway:
    return ShardGateway(settings or Settings(), follow_views=follow_views)


def create_gateway_without_followers() -> ShardGateway:
    """One of ``fundledger serve --workers N``'s processes over a sharded city."""
    return create_gateway(follow_views=False)


__all__ = ["ShardGateway", "create_gateway", "create_gateway_without_followers"]
