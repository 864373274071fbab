"""The owners' pages: a FastAPI app of its own, mounted at ``/web`` by ``fundledger serve``.

Apart from the API so that each keeps its own answers: the API speaks problem+json and
documents every route in OpenAPI; the pages answer HTML (a sign-in page, a 404 page) and
are not part of the API's contract. Every script, style and font comes from the package
(``static/``), and the Content-Security-Policy allows nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http.services import Services
from api.web import (
    routes_audit,
    routes_credit,
    routes_disclosure,
    routes_notices,
    routes_officials,
    routes_proofs,
    routes_publish,
    routes_signin,
    routes_units,
    routes_votes,
)
from api.web.pages import (
    WEB_PREFIX,
    CsrfRefused,
    PageNotFound,
    SignInRequired,
    current_viewer,
    redirect,
    render,
)
from domain.errors import NotFound

STATIC = Path(__file__).parent / "static"
# Scripts and styles from this site only; no frames, no plug-ins, forms post here only.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # no-referrer made Chromium send Origin: null
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()),
                                                  *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, with_headers)


def _error_page(request: Request, key: str, status_code: int) -> HTMLResponse:
    viewer = current_viewer(request) if status_code != 403 else None
    return render(request, "error.html", {"message": key}, viewer=viewer,
                  status_code=status_code)


def create_web_app(services: Callable[[], Services]) -> FastAPI:
    web = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    web.state.services = services
    for module in (routes_signin, routes_units, routes_votes, routes_disclosure,
                   routes_notices, routes_officials, routes_proofs, routes_audit,
                   routes_credit, routes_publish):
        web.include_router(module.router)
    web.mount("/static", StaticFiles(directory=STATIC), name="static")

    @web.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, _: SignInRequired) -> Response:
        return redirect(f"{WEB_PREFIX}/signin")

    @web.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, _: CsrfRefused) -> Response:
        return _error_page(request, "csrf_refused", 403)

    @web.exception_handler(PageNotFound)
    @web.exception_handler(NotFound)
    async def not_found(request: Request, _: Exception) -> Response:
        return _error_page(request, "not_found", 404)

    @web.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        return _error_page(request, "not_found" if error.status_code == 404
                           else "error_title", error.status_code)

    web.add_middleware(SecurityHeaders)
    return web
