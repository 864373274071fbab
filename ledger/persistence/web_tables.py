"""Tables beside the event log for the owners' web pages: sign-in codes and sessions.

Like the API tokens (``access_tables.py``) they are not events: a code is used up, a session
expires or is revoked, and none of that is the ledger's history. Only SHA-256 digests of codes
and session ids are stored (each carries at least 60 random bits and is tried under a rate
limit, or carries 256 bits), so a copy of the database signs nobody in. Failed sign-in
attempts are kept per client for the rate limit.

One implementation for both stores: the statements differ only in their placeholders and in
how a moment is stored (ISO text in UTC on SQLite, ``timestamptz`` on PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from psycopg import sql

from ledger.access import Principal, Role, Scope

CODES = "web_signin_codes"
SESSIONS = "web_sessions"
FAILURES = "web_signin_failures"


@dataclass(frozen=True)
class SignInCode:
    """What a code, once redeemed, signs in as: an owner of units in one community."""

    owner_id: str
    community_code: str
    issued_by: str
    expires_at: datetime


@dataclass(frozen=True)
class WebSession:
    """A signed-in browser: who (a principal, as a token would name one), until when, and
    for an owner the community and the units found at sign-in."""

    session_ref: str  # public: names the session in revocations, never signs anyone in
    principal: Principal
    community_code: str | None
    unit_keys: tuple[str, ...]
    via: str  # "code", "token" (later "oidc"): how the person proved who they are
    expires_at: datetime


def _utc(moment: datetime) -> datetime:
    assert moment.tzinfo is not None, "moments are aware"
    return moment.astimezone(UTC)


class WebTables:
    """Codes, sessions and failed attempts on the ledger's own store."""

    def __init__(self, datastore: Any) -> None:
        self.datastore = datastore
        self.postgres = isinstance(datastore, PostgresDatastore)
        self.p = "%s" if self.postgres else "?"
        if self.postgres:
            schema = sql.Identifier(datastore.schema or "public")
            self.names = {name: sql.SQL("{}.{}").format(schema, sql.Identifier(name))
                          .as_string() for name in (CODES, SESSIONS, FAILURES)}
        else:
            self.names = {name: name for name in (CODES, SESSIONS, FAILURES)}

    # -- plumbing ----------------------------------------------------------------------------

    def _sql(self, statement: str) -> str:
        return statement.format(p=self.p, **{k.replace("web_", ""): v
                                             for k, v in self.names.items()})

    def _moment(self, moment: datetime) -> Any:
        # Fixed-width ISO text in UTC: SQLite compares the moments as strings.
        return _utc(moment) if self.postgres else _utc(moment).isoformat(timespec="microseconds")

    def _read_moment(self, value: Any) -> datetime:
        return _utc(value) if isinstance(value, datetime) else datetime.fromisoformat(value)

    @contextmanager
    def _cursor(self, commit: bool) -> Iterator[Any]:
        with self.datastore.transaction(commit=commit) as cursor:
            yield cursor

    def create_tables(self) -> None:
        moment = "timestamptz" if self.postgres else "TEXT"
        statements = [
            "CREATE TABLE IF NOT EXISTS {signin_codes} (digest TEXT PRIMARY KEY, "
            "owner_id TEXT NOT NULL, community_code TEXT NOT NULL, issued_by TEXT NOT NULL, "
            f"created_at {moment} NOT NULL, expires_at {moment} NOT NULL, used_at {moment})",
            "CREATE INDEX IF NOT EXISTS web_signin_codes_owner ON {signin_codes} "
            "(owner_id, community_code)",
            "CREATE TABLE IF NOT EXISTS {sessions} (digest TEXT PRIMARY KEY, "
            "session_ref TEXT NOT NULL UNIQUE, principal TEXT NOT NULL, role TEXT NOT NULL, "
            "scope TEXT NOT NULL, community_code TEXT, unit_keys TEXT NOT NULL, "
            f"via TEXT NOT NULL, created_at {moment} NOT NULL, expires_at {moment} NOT NULL, "
            f"revoked_at {moment})",
            f"CREATE TABLE IF NOT EXISTS {{signin_failures}} (client TEXT NOT NULL, "
            f"at {moment} NOT NULL)",
            "CREATE INDEX IF NOT EXISTS web_signin_failures_client ON {signin_failures} "
            "(client, at)",
        ]
        with self._cursor(commit=True) as c:
            if self.postgres:
                from ledger.persistence.postgres import SCHEMA_LOCK_KEY

                c.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            for statement in statements:
                c.execute(self._sql(statement))

    # -- codes -------------------------------------------------------------------------------

    def add_code(self, digest: str, code: SignInCode, now: datetime) -> None:
        """Store a code's digest; the owner's earlier unused codes for the community stop
        working (the newest letter is the one that counts)."""
        with self._cursor(commit=True) as c:
            c.execute(self._sql(
                "UPDATE {signin_codes} SET used_at = {p} WHERE owner_id = {p} "
                "AND community_code = {p} AND used_at IS NULL"),
                (self._moment(now), code.owner_id, code.community_code))
            c.execute(self._sql(
                "INSERT INTO {signin_codes} (digest, owner_id, community_code, issued_by, "
                "created_at, expires_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p})"),
                (digest, code.owner_id, code.community_code, code.issued_by,
                 self._moment(now), self._moment(code.expires_at)))

    def use_code(self, digest: str, now: datetime) -> SignInCode | None:
        """Mark a live code used and return it, or None if it is unknown, used or expired.

        One conditional UPDATE: two browsers racing with the same code cannot both win."""
        with self._cursor(commit=True) as c:
            c.execute(self._sql(
                "UPDATE {signin_codes} SET used_at = {p} WHERE digest = {p} "
                "AND used_at IS NULL AND expires_at > {p} "
                "RETURNING owner_id, community_code, issued_by, expires_at"),
                (self._moment(now), digest, self._moment(now)))
            row = c.fetchone()
        if row is None:
            return None
        # By name: SQLite's rows and PostgreSQL's (dicts) agree on nothing else.
        return SignInCode(row["owner_id"], row["community_code"], row["issued_by"],
                          self._read_moment(row["expires_at"]))

    def code_community(self, digest: str) -> str | None:
        """The community a code was issued for, used or not: where a shard gateway sends
        the sign-in that types it (the shard then decides whether it still signs in)."""
        with self._cursor(commit=False) as c:
            c.execute(self._sql("SELECT community_code FROM {signin_codes} WHERE digest = {p}"),
                      (digest,))
            row = c.fetchone()
        return None if row is None else str(row["community_code"])

    def revoke_codes(self, owner_id: str, now: datetime) -> int:
        with self._cursor(commit=True) as c:
            c.execute(self._sql("UPDATE {signin_codes} SET used_at = {p} WHERE owner_id = {p} "
                                "AND used_at IS NULL RETURNING digest"),
                      (self._moment(now), owner_id))
            return len(c.fetchall())  # RETURNING: SQLite's cursor here has no rowcount

    # -- sessions ----------------------------------------------------------------------------

    def add_session(self, digest: str, session: WebSession, now: datetime) -> None:
        p = session.principal
        with self._cursor(commit=True) as c:
            c.execute(self._sql(
                "INSERT INTO {sessions} (digest, session_ref, principal, role, scope, "
                "community_code, unit_keys, via, created_at, expires_at) "
                "VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"),
                (digest, session.session_ref, p.name, p.role.value, str(p.scope),
                 session.community_code, json.dumps(list(session.unit_keys)), session.via,
                 self._moment(now), self._moment(session.expires_at)))

    def session(self, digest: str, now: datetime) -> WebSession | None:
        """The live session with this digest: not revoked, not expired."""
        with self._cursor(commit=False) as c:
            c.execute(self._sql(
                "SELECT session_ref, principal, role, scope, community_code, unit_keys, via, "
                "expires_at FROM {sessions} WHERE digest = {p} AND revoked_at IS NULL "
                "AND expires_at > {p}"), (digest, self._moment(now)))
            row = c.fetchone()
        if row is None:
            return None
        ref = row["session_ref"]
        return WebSession(ref, Principal(row["principal"], Role(row["role"]),
                                         Scope.parse(row["scope"]), ref),
                          row["community_code"], tuple(json.loads(row["unit_keys"])),
                          row["via"], self._read_moment(row["expires_at"]))

    def revoke_session(self, digest: str, now: datetime) -> bool:
        with self._cursor(commit=True) as c:
            c.execute(self._sql("UPDATE {sessions} SET revoked_at = {p} WHERE digest = {p} "
                                "AND revoked_at IS NULL RETURNING digest"),
                      (self._moment(now), digest))
            return bool(c.fetchall())

    def revoke_sessions_of(self, scope: str, now: datetime) -> int:
        """Sign out every browser of one principal's scope (``owner:<id>``)."""
        with self._cursor(commit=True) as c:
            c.execute(self._sql("UPDATE {sessions} SET revoked_at = {p} WHERE scope = {p} "
                                "AND revoked_at IS NULL RETURNING digest"),
                      (self._moment(now), scope))
            return len(c.fetchall())

    # -- the rate limit ----------------------------------------------------------------------

    def record_failure(self, client: str, now: datetime, *, forget_before: datetime) -> None:
        """One failed attempt; the client's attempts before ``forget_before`` are dropped
        with it (an unauthenticated write: what it leaves must stay bounded)."""
        with self._cursor(commit=True) as c:
            c.execute(self._sql("DELETE FROM {signin_failures} WHERE client = {p} AND at < {p}"),
                      (client, self._moment(forget_before)))
            c.execute(self._sql("INSERT INTO {signin_failures} (client, at) VALUES ({p}, {p})"),
                      (client, self._moment(now)))

    def failures_since(self, client: str, since: datetime) -> int:
        with self._cursor(commit=False) as c:
            c.execute(self._sql("SELECT count(*) AS failures FROM {signin_failures} "
                                "WHERE client = {p} AND at > {p}"), (client, self._moment(since)))
            row = c.fetchone()
        return int(row["failures"])

    def forget_failures_before(self, before: datetime) -> None:
        """Every client's attempts before a moment, dropped."""
        with self._cursor(commit=True) as c:
            c.execute(self._sql("DELETE FROM {signin_failures} WHERE at < {p}"),
                      (self._moment(before),))


def open_web_tables(recorder: Any) -> WebTables:
    """The web tables on the application recorder's own store, created if missing."""
    tables = WebTables(recorder.datastore)
    tables.create_tables()
    return tables


__all__: Sequence[str] = ("SignInCode", "WebSession", "WebTables", "open_web_tables")
