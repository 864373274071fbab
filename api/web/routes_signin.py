"""Signing in and out: a one-time code (typed, or from its link), a staff member's API token
exchanged once, and the language switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.web.i18n import language
from api.web.identity import SignInRefused
from api.web.pages import (
    LANG_COOKIE,
    LANG_COOKIE_MAX_AGE_S,
    SESSION_COOKIE,
    WEB_PREFIX,
    SignedIn,
    Viewer,
    check_csrf,
    check_signin_csrf,
    current_viewer,
    local_path,
    redirect,
    render,
    services,
    set_session_cookie,
    set_signin_csrf,
    signin_csrf,
)
from ledger.persistence.web_tables import WebSession

router = APIRouter()
FormText = Annotated[str, Form(max_length=200)]
CsrfField = Annotated[str | None, Form(max_length=100)]


def home_of(viewer: Viewer) -> str:
    return f"{WEB_PREFIX}/units" if viewer.owner_id else f"{WEB_PREFIX}/votes"


@router.get("/")
def home(request: Request) -> Response:
    viewer = current_viewer(request)
    return redirect(home_of(viewer) if viewer else f"{WEB_PREFIX}/signin")


def _signin_page(request: Request, *, error: str | None = None, status_code: int = 200,
                 signed_out: bool = False) -> HTMLResponse:
    token = signin_csrf(request)
    response = render(request, "signin.html", {"error": error, "signed_out": signed_out,
                                               "signin_csrf": token},
                      status_code=status_code)
    set_signin_csrf(request, response, token)
    return response


@router.get("/signin")
def signin_page(request: Request, out: int = 0) -> Response:
    viewer = current_viewer(request)
    if viewer is not None:
        return redirect(home_of(viewer))
    return _signin_page(request, signed_out=out == 1)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _signed_in(request: Request, session_id: str, session: WebSession, to: str) -> Response:
    response = redirect(to)
    set_session_cookie(request, response, session_id, session.expires_at)
    return response


def _refused(request: Request, refused: SignInRefused) -> HTMLResponse:
    if refused.rate_limited:
        return _signin_page(request, error="signin_rate_limited", status_code=429)
    return _signin_page(request, error="signin_refused", status_code=401)


@router.post("/signin")
def signin_with_code(request: Request, code: FormText, csrf: CsrfField = None) -> Response:
    check_signin_csrf(request, csrf)
    try:
        session_id, session = services(request).signin().redeem(code, _client(request))
    except SignInRefused as refused:
        return _refused(request, refused)
    return _signed_in(request, session_id, session, f"{WEB_PREFIX}/units")


@router.post("/signin/token")
def signin_with_token(request: Request, token: FormText, csrf: CsrfField = None) -> Response:
    check_signin_csrf(request, csrf)
    try:
        session_id, session = services(request).signin().exchange_token(token,
                                                                         _client(request))
    except SignInRefused as refused:
        return _refused(request, refused)
    return _signed_in(request, session_id, session, f"{WEB_PREFIX}/votes")


@router.post("/signout")
def signout(request: Request, viewer: SignedIn, csrf: CsrfField = None) -> Response:
    check_csrf(request, viewer, csrf)
    services(request).signin().sign_out(viewer.session_id)
    response = redirect(f"{WEB_PREFIX}/signin?out=1")
    response.delete_cookie(SESSION_COOKIE, path=WEB_PREFIX)
    return response


@router.get("/lang")
def switch_language(request: Request, to: str = "zh", next: str | None = None) -> Response:
    """A preference, not a change to anything: a plain link sets it."""
    response = redirect(local_path(next, f"{WEB_PREFIX}/"))
    response.set_cookie(LANG_COOKIE, language(to), max_age=LANG_COOKIE_MAX_AGE_S,
                        path=WEB_PREFIX, samesite="lax")
    return response
