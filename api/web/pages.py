"""What every owners' page shares: the templates, who is signed in, CSRF, the language.

A page is rendered on the server (Jinja2, autoescaped) and works without script; htmx only
refreshes the notices. Who is signed in comes from the session cookie, looked up by its
digest on every request (a revoked or expired session is gone at once). Every form that
changes something carries a CSRF token derived from the session id (or, before sign-in, a
double-submit cookie), and a form without it changes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.http.services import Services
from api.web.disclosure_csv import basis_text
from api.web.format import area_text, yuan_text
from api.web.i18n import MESSAGES, labeller, language, translator
from api.web.identity import csrf_matches, csrf_token
from ledger.persistence.web_tables import WebSession

WEB_PREFIX = "/web"
SESSION_COOKIE = "fl_session"
SIGNIN_CSRF_COOKIE = "fl_signin_csrf"
LANG_COOKIE = "fl_lang"
LANG_COOKIE_MAX_AGE_S = 365 * 24 * 3600
# The owners' calendar: Beijing, UTC+8 all year (China keeps no daylight saving).
BEIJING = timezone(timedelta(hours=8))
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


def buildings_of(unit_keys: list[str]) -> list[str]:
    """The buildings of a charging range (``BUILDING-UNIT`` keys), in number order."""
    found = {key.split("-", 1)[0] for key in unit_keys}
    return sorted(found, key=lambda b: (len(b), b))


def beijing_today() -> date:
    return datetime.now(UTC).astimezone(BEIJING).date()


class SignInRequired(Exception):
    """No live session: the page answers with the way to sign in."""


class CsrfRefused(Exception):
    """A form that changes something came without its token, or from another site."""


class PageNotFound(Exception):
    """Absent, or not the viewer's to see: the same page either way (404)."""


@dataclass(frozen=True)
class Viewer:
    """The signed-in person on this request."""

    session_id: str
    session: WebSession

    @property
    def csrf(self) -> str:
        return csrf_token(self.session_id)

    @property
    def owner_id(self) -> str | None:
        scope = self.session.principal.scope
        return scope.code if scope.level == "owner" else None


def services(request: Request) -> Services:
    getter: Callable[[], Services] = request.app.state.services
    return getter()


def current_viewer(request: Request) -> Viewer | None:
    session_id = request.cookies.get(SESSION_COOKIE)
    session = services(request).signin().session(session_id)
    if session is None or session_id is None:
        return None
    request.state.principal = session.principal  # the request log names who asked
    return Viewer(session_id, session)


def signed_in(request: Request) -> Viewer:
    viewer = current_viewer(request)
    if viewer is None:
        raise SignInRequired()
    return viewer


def owner(request: Request) -> Viewer:
    """An owner's session (a staff session has no units or ballots of its own)."""
    viewer = signed_in(request)
    if viewer.owner_id is None or viewer.session.community_code is None:
        raise PageNotFound()
    return viewer


SignedIn = Annotated[Viewer, Depends(signed_in)]
Owner = Annotated[Viewer, Depends(owner)]
ServicesDep = Annotated[Services, Depends(services)]


def same_origin(request: Request) -> bool:
    """A browser names the page a form was posted from; another site's is refused."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def check_csrf(request: Request, viewer: Viewer, sent: str | None) -> None:
    if not same_origin(request) or not csrf_matches(viewer.csrf, sent):
        raise CsrfRefused()


def check_signin_csrf(request: Request, sent: str | None) -> None:
    expected = request.cookies.get(SIGNIN_CSRF_COOKIE)
    if not same_origin(request) or expected is None or not csrf_matches(expected, sent):
        raise CsrfRefused()


def lang_of(request: Request) -> str:
    return language(request.cookies.get(LANG_COOKIE))


def render(request: Request, template: str, context: dict[str, Any], *,
           viewer: Viewer | None = None, status_code: int = 200) -> HTMLResponse:
    lang = lang_of(request)
    t = translator(lang)
    page = {
        "request": request, "lang": lang, "t": t, "label": labeller(lang),
        # A message key, or a ledger's refusal as it stands (it names its rule).
        "say": lambda text: t(text) if text in MESSAGES else text,
        "basis": lambda text: basis_text(text, lang),
        "ranges": lambda keys: ("、" if lang == "zh" else ", ").join(
            t("range_building", building=b) for b in buildings_of(keys)),
        "yuan": yuan_text, "area": area_text, "viewer": viewer, "prefix": WEB_PREFIX,
        "path": request.url.path, "csrf": viewer.csrf if viewer else None, **context}
    response = templates.TemplateResponse(request, template, page, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"  # a shared phone's back button shows nothing
    return response


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def set_session_cookie(request: Request, response: Response, session_id: str,
                       expires_at: datetime) -> None:
    max_age = int((expires_at - datetime.now(UTC)).total_seconds())
    response.set_cookie(SESSION_COOKIE, session_id, max_age=max_age, path=WEB_PREFIX,
                        httponly=True, samesite="lax", secure=secure(request))


def signin_csrf(request: Request) -> str:
    """A double-submit token for the sign-in forms (there is no session to derive it from):
    another site can make a browser post, but cannot read the cookie to fill the field."""
    return request.cookies.get(SIGNIN_CSRF_COOKIE) or secrets.token_urlsafe(24)


def set_signin_csrf(request: Request, response: Response, token: str) -> None:
    response.set_cookie(SIGNIN_CSRF_COOKIE, token, path=WEB_PREFIX, httponly=True,
                        samesite="strict", secure=secure(request))


def local_path(path: str | None, fallback: str) -> str:
    """Only a path of these pages: a redirect never leaves the site."""
    if path and path.startswith(WEB_PREFIX + "/") and "\\" not in path:
        return path
    return fallback

