"""Who is signed in: one-time sign-in codes for owners, API tokens exchanged once, sessions.

An owner has no password and no token. A custodian or official issues a code for the owner
(``fundledger owners invite`` or ``POST /v1/communities/{code}/sign-in-codes``), carried by
letter or SMS; the owner types it, or opens its link, and gets a session. Officials,
custodians and auditors may instead exchange their API token once for a session.

Every way in ends in ``start_session``: it is the seam for a real identity provider. An OIDC
sign-in would add a callback route that checks the provider's ID token, maps its subject to a
``Principal`` (as ``owner:<id>`` or a staff role and scope) and calls ``start_session`` with
``via="oidc"``; nothing after it changes.

Codes and session ids are random and stored only as SHA-256 digests; a code is single-use,
expires, and its attempts are rate-limited per client. Nothing here logs a code.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from api.web.owners import owner_units
from domain.errors import InvalidInput, NotFound
from domain.unit_account import DEVELOPER_OWNER_ID
from ledger.access import Principal, Role, Scope, token_digest
from ledger.application import FundLedger
from ledger.persistence.access_tables import AccessTables
from ledger.persistence.web_tables import SignInCode, WebSession, WebTables

# 30 letters and digits nobody confuses when reading a letter aloud (no 0/O, 1/I/L, U).
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
CODE_LENGTH = 12  # 30**12: about 59 bits, against at most FAILURES_MAX guesses a window
CODE_GROUP = 4
CODE_VALID_DEFAULT = timedelta(hours=72)
CODE_VALID_MAX = timedelta(days=30)
SESSION_LIFETIME = timedelta(hours=12)
FAILURES_MAX = 10
FAILURE_WINDOW = timedelta(minutes=15)
# Staff who may exchange an API token for a session; owners sign in with a code, and an
# admin's token is for the command line, not for a browser left open.
TOKEN_EXCHANGE_ROLES = (Role.official, Role.custodian, Role.auditor)
CSRF_CONTEXT = b"fundledger-web-csrf"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class SignInRefused(Exception):
    """A code or token that signs nobody in; ``rate_limited`` when the client tried too
    often. One message for unknown, used and expired codes: it tells a guesser nothing."""

    def __init__(self, rate_limited: bool = False) -> None:
        super().__init__("rate limited" if rate_limited else "refused")
        self.rate_limited = rate_limited


@dataclass(frozen=True)
class IssuedCode:
    code: str  # shown once, to be carried to the owner; never stored
    owner_id: str
    community_code: str
    unit_keys: tuple[str, ...]
    expires_at: datetime

    def link(self, base_url: str) -> str:
        """The sign-in link. The code rides in the fragment, which a browser never sends,
        so no server or proxy log holds it; the page posts it in a form body."""
        return f"{base_url.rstrip('/')}/web/signin#code={self.code}"


def new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i:i + CODE_GROUP] for i in range(0, CODE_LENGTH, CODE_GROUP))


def normalise_code(text: str) -> str:
    """What the owner typed, as issued: case, spaces and dashes do not matter."""
    raw = "".join(ch for ch in text.upper() if ch not in " -\t")
    return "-".join(raw[i:i + CODE_GROUP] for i in range(0, len(raw), CODE_GROUP))


def code_digest(code: str) -> str:
    return hashlib.sha256(b"code:" + normalise_code(code).encode()).hexdigest()


def session_digest(session_id: str) -> str:
    return hashlib.sha256(b"session:" + session_id.encode()).hexdigest()


def csrf_token(session_id: str) -> str:
    """The token every form of a session carries: derived from the session id, which only
    the cookie holds, so another site can neither read nor compute it."""
    return hmac.new(session_id.encode(), CSRF_CONTEXT, hashlib.sha256).hexdigest()[:32]


def csrf_matches(expected: str, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(expected, sent)


class SignIn:
    """Codes, token exchange and sessions on the ledger's store."""

    def __init__(self, ledger: FundLedger, tables: WebTables, access: AccessTables,
                 clock: Clock = utc_now) -> None:
        self.ledger, self.tables, self.access, self.clock = ledger, tables, access, clock
        self._forgotten_at: datetime | None = None  # when every client's old failures went

    def invite(self, community_code: str, owner_id: str, *, issued_by: str,
               valid_for: timedelta = CODE_VALID_DEFAULT,
               now: datetime | None = None) -> IssuedCode:
        """A fresh code for an owner of units in the community (the previous one stops
        working). Refused for an id that holds no unit there (404, as for any absent unit)."""
        if not timedelta(0) < valid_for <= CODE_VALID_MAX:
            raise InvalidInput(f"a code is valid for at most {CODE_VALID_MAX.days} days",
                               rule="sign-in-code", field="valid_for")
        units = owner_units(self.ledger, community_code, owner_id)
        if not units:
            raise NotFound(f"owner {owner_id!r} holds no unit in {community_code}",
                           rule="F1", field="owner_id")
        now = now or self.clock()
        code = new_code()
        self.tables.add_code(code_digest(code), SignInCode(
            owner_id, community_code, issued_by, now + valid_for), now)
        return IssuedCode(code, owner_id, community_code, units, now + valid_for)

    def redeem(self, code: str, client: str) -> tuple[str, WebSession]:
        """A session for the code's owner; the code is used up."""
        now = self._check_rate(client)
        found = self.tables.use_code(code_digest(code), now) if code.strip() else None
        if found is None:
            self._record_failure(client, now)
            raise SignInRefused()
        # The units as the register says now: a unit sold since the letter is not shown.
        units = owner_units(self.ledger, found.community_code, found.owner_id)
        # The developer's id is the same in every community: its session keeps to this one.
        bound = found.community_code if found.owner_id == DEVELOPER_OWNER_ID else ""
        principal = Principal(f"owner:{found.owner_id}", Role.owner,
                              Scope("owner", found.owner_id, bound), "")
        return self.start_session(principal, via="code", community_code=found.community_code,
                                  unit_keys=units, now=now)

    def exchange_token(self, token: str, client: str) -> tuple[str, WebSession]:
        """A session for a staff member's API token (the token itself stays valid)."""
        now = self._check_rate(client)
        principal = self.access.principal(token_digest(token.strip())) if token else None
        if principal is None or principal.role not in TOKEN_EXCHANGE_ROLES:
            self._record_failure(client, now)
            raise SignInRefused()
        return self.start_session(principal, via="token", community_code=None, unit_keys=(),
                                  now=now)

    def start_session(self, principal: Principal, *, via: str, community_code: str | None,
                      unit_keys: tuple[str, ...], now: datetime) -> tuple[str, WebSession]:
        """The one way a session begins, whatever proved who the person is."""
        session_id = secrets.token_urlsafe(32)
        ref = secrets.token_hex(6)
        session = WebSession(ref, Principal(principal.name, principal.role, principal.scope,
                                            ref),
                             community_code, unit_keys, via, now + SESSION_LIFETIME)
        self.tables.add_session(session_digest(session_id), session, now)
        return session_id, session

    def session(self, session_id: str | None) -> WebSession | None:
        if not session_id:
            return None
        return self.tables.session(session_digest(session_id), self.clock())

    def sign_out(self, session_id: str) -> None:
        self.tables.revoke_session(session_digest(session_id), self.clock())

    def revoke_owner(self, owner_id: str) -> tuple[int, int]:
        """Every unused code and every session of an owner, ended now."""
        now = self.clock()
        return (self.tables.revoke_codes(owner_id, now),
                self.tables.revoke_sessions_of(str(Scope("owner", owner_id)), now))

    def _record_failure(self, client: str, now: datetime) -> None:
        """Anyone may fail to sign in, from any address: only the window's attempts are
        kept. A client's older ones go with its next failure; every client's, at most once
        a window (clients that never come back)."""
        forget_before = now - FAILURE_WINDOW
        self.tables.record_failure(client, now, forget_before=forget_before)
        if self._forgotten_at is None or now - self._forgotten_at >= FAILURE_WINDOW:
            self.tables.forget_failures_before(forget_before)
            self._forgotten_at = now

    def _check_rate(self, client: str) -> datetime:
        now = self.clock()
        if self.tables.failures_since(client, now - FAILURE_WINDOW) >= FAILURES_MAX:
            raise SignInRefused(rate_limited=True)
        return now
