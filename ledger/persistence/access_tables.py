"""Tables beside the event log for the HTTP API: token digests and replayable responses.

They are not events: a token can be revoked and a stored response expires, neither of which
is part of the ledger's history. Both live in the log's own database (and schema), so a
PostgreSQL ledger needs nothing more, and an embedded one stays one file.

Stored responses are keyed ``<principal id>/<key>``: a holder's keys never meet another's.
A token name belongs to one principal for good: a second holder cannot take it, even after
the first's tokens are revoked, because the name is what people read in the events' actors.
The rule is checked in code, in the transaction that inserts the token (on PostgreSQL under
an advisory lock, so two concurrent creations cannot both pass), rather than by a UNIQUE
index: a rotated token shares its holder's name, and databases made before the rule may
hold two holders of one name, which must still open (their keys and actors are told apart
by principal id all the same). Such tables gain the ``principal_id`` column on opening, each
token being its own principal.

A token may expire (``expires_at``, null for never): an expired token finds no principal,
as a revoked one, and ``expired_at`` says when it expired so that the API can say so. Tables
made before expiry gain the nullable ``expires_at`` column on opening (``create_tables``,
idempotent like the rest), their tokens never expiring. Rotation works on an expired token
too (it is not revoked): the new token gets the lifetime asked for, else the old one's.
"""


from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from psycopg import Cursor, sql
from psycopg.rows import tuple_row

from domain.errors import Conflict
from ledger.access import Principal, Role, Scope, check_token_name
from ledger.persistence.connection_loss import retry_if_lost

# Held while a token is inserted, so that the name check and the insert are one step.
TOKEN_NAMES_LOCK_KEY = 0x746F6B6E  # "tokn"


@dataclass(frozen=True)
class StoredResponse:
    """The first response to a POST under an idempotency key, replayed to every repeat."""

    key: str
    request_digest: str
    status: int
    body: bytes
    position: int | None


@dataclass(frozen=True)
class TokenListing:
    """What ``tokens list`` shows of a token: never its secret, nor its digest."""

    token_id: str
    name: str
    principal_id: str
    role: str
    scope: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "live"


class AccessTables(Protocol):
    def create_tables(self) -> None: ...

    def add_token(self, digest: str, principal: Principal,
                  expires_at: datetime | None = None) -> None:
        """Store a token's digest for ``principal``; ``Conflict`` (rule ``token-name``) if
        another principal has (or had) its name, ``InvalidInput`` for a malformed name."""
        ...

    def rotate_token(self, token_id: str, digest: str, new_token_id: str,
                     expires_at: datetime | None = None) -> Principal | None:
        """Revoke a token not yet revoked (expired or not) and give its principal a new one
        (same name, role, scope and principal id), in one transaction; None if no such
        token has ``token_id``. The new token expires at ``expires_at``, or if None after
        the old token's lifetime (never if it had none)."""
        ...

    def principal(self, digest: str) -> Principal | None:
        """The live (not revoked, not expired) token's principal."""
        ...

    def expired_at(self, digest: str) -> datetime | None:
        """When the token, not revoked, expired; None if it is live, revoked or unknown."""
        ...

    def list_tokens(self) -> list[TokenListing]: ...

    def principal_and_response(
        self, digest: str, key: str
    ) -> tuple[Principal | None, StoredResponse | None]:
        """The token's principal and the response stored under ``<principal id>/<key>``,
        if any: the two lookups of an idempotent POST in one query."""
        ...

    def revoke_token(self, token_id: str) -> bool: ...

    def store_response(self, response: StoredResponse) -> bool:
        """Store the first response under its key; False if one was stored already."""
        ...

    def response(self, key: str) -> StoredResponse | None: ...


PRINCIPAL_COLUMNS = "principal, role, scope, token_id, principal_id"
LISTING_COLUMNS = ("token_id, principal, principal_id, role, scope, created_at, expires_at, "
                   "revoked_at")
# A token that is neither revoked nor expired (the parameter: now).
_LIVE = "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > {p})"


def _principal(row: Any) -> Principal:
    name, role, scope, token_id, principal_id = row
    return Principal(name, Role(role), Scope.parse(scope), token_id, principal_id)


def namespaced_key(principal: Principal, key: str) -> str:
    """Where a principal's idempotency key is recorded and its response stored."""
    return f"{principal.principal_id}/{key}"


# A live token's principal, and beside it the response stored under "<principal id>/<key>"
# (``namespaced_key``).
_PRINCIPAL_AND_RESPONSE = (
    "SELECT t.principal, t.role, t.scope, t.token_id, t.principal_id, r.key, "
    "r.request_digest, r.status, r.body, r.position FROM {tokens} t LEFT JOIN {responses} r "
    "ON r.key = t.principal_id || '/' || {p} WHERE t.digest = {p} AND t.revoked_at IS NULL "
    "AND (t.expires_at IS NULL OR t.expires_at > {p})")
# Another principal's token under this name, live or revoked.
_NAME_TAKEN = "SELECT token_id FROM {tokens} WHERE principal = {p} AND principal_id <> {p}"
_INSERT_TOKEN = ("INSERT INTO {tokens} (digest, token_id, principal, role, scope, created_at, "
                 "principal_id, expires_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})")
_REVOKE_FOR_ROTATION = ("UPDATE {tokens} SET revoked_at = {p} WHERE token_id = {p} AND "
                        f"revoked_at IS NULL RETURNING {PRINCIPAL_COLUMNS}, created_at, "
                        "expires_at")
_EXPIRED_AT = ("SELECT expires_at FROM {tokens} WHERE digest = {p} AND revoked_at IS NULL "
               "AND expires_at <= {p}")
_LIST_TOKENS = f"SELECT {LISTING_COLUMNS} FROM {{tokens}} ORDER BY created_at, token_id"


def _name_taken(principal: Principal, taken_by: str) -> Conflict:
    return Conflict(
        f"the token name {principal.name!r} is taken (by token {taken_by}'s holder, for good "
        "even once revoked): choose another, or rotate that token", rule="token-name",
        field="name")


def _principal_and_response(
    row: tuple[Any, ...] | None
) -> tuple[Principal | None, StoredResponse | None]:
    if row is None:
        return None, None
    key, digest, status, body, position = row[5:]
    return _principal(row[:5]), (
        None if key is None else StoredResponse(key, digest, status, bytes(body), position))


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _iso(moment: datetime) -> str:
    """A time as SQLite stores expiry: UTC, to the microsecond, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _moment(value: Any) -> datetime | None:
    """A stored time (SQLite's text, PostgreSQL's timestamptz) as an aware datetime."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _token_row(digest: str, principal: Principal, created_at: Any,
               expires_at: Any) -> tuple[Any, ...]:
    return (digest, principal.token_id, principal.name, principal.role.value,
            str(principal.scope), created_at, principal.principal_id, expires_at)


def _listing(row: Any) -> TokenListing:
    token_id, name, principal_id, role, scope, created, expires, revoked = row
    created_at = _moment(created)
    assert created_at is not None
    return TokenListing(token_id, name, principal_id, role, scope, created_at,
                        _moment(expires), _moment(revoked))


def _rotated_expiry(row: tuple[Any, ...], asked: datetime | None, now: datetime
                    ) -> datetime | None:
    """The new token's expiry: as asked, else the old token's lifetime from now."""
    if asked is not None:
        return asked
    created, expires = _moment(row[5]), _moment(row[6])
    if expires is None or created is None:
        return None
    lifetime: timedelta = expires - created
    return now + lifetime


def _add_principal_ids(cursor: Any, tokens: str) -> None:
    """A token table made before principal ids: each token becomes its own principal (its
    name may be another's too; the id tells them apart)."""
    cursor.execute(f"ALTER TABLE {tokens} ADD COLUMN principal_id text")
    cursor.execute(f"UPDATE {tokens} SET principal_id = token_id")


class SQLiteAccessTables:
    def __init__(self, datastore: SQLiteDatastore) -> None:
        self.datastore = datastore

    def create_tables(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute("CREATE TABLE IF NOT EXISTS api_tokens (digest TEXT PRIMARY KEY, "
                      "token_id TEXT NOT NULL UNIQUE, principal TEXT NOT NULL, "
                      "role TEXT NOT NULL, scope TEXT NOT NULL, created_at TEXT NOT NULL, "
                      "revoked_at TEXT, principal_id TEXT NOT NULL, expires_at TEXT)")
            c.execute("CREATE TABLE IF NOT EXISTS api_responses (key TEXT PRIMARY KEY, "
                      "request_digest TEXT NOT NULL, status INTEGER NOT NULL, "
                      "body BLOB NOT NULL, position INTEGER, created_at TEXT NOT NULL)")
        with self.datastore.transaction(commit=False) as c:
            c.execute("PRAGMA table_info(api_tokens)")
            columns = {row[1] for row in c.fetchall()}
        if "principal_id" not in columns:
            # Writing first: a transaction that read before writing cannot wait for the
            # lock (SQLite refuses it at once if another connection wrote since).
            with self.datastore.transaction(commit=True) as c:
                _add_principal_ids(c, "api_tokens")
        if "expires_at" not in columns:
            with self.datastore.transaction(commit=True) as c:
                c.execute("PRAGMA table_info(api_tokens)")  # another process may have added it
                if "expires_at" not in {row[1] for row in c.fetchall()}:
                    c.execute("ALTER TABLE api_tokens ADD COLUMN expires_at TEXT")

    def add_token(self, digest: str, principal: Principal,
                  expires_at: datetime | None = None) -> None:
        check_token_name(principal.name)
        # Insert, then look: the insert takes SQLite's one write lock (waiting for it, as a
        # transaction that read first could not), so no other token is inserted between
        # the look and the commit; a name taken rolls the insert back.
        with self.datastore.transaction(commit=True) as c:
            c.execute(_INSERT_TOKEN.format(tokens="api_tokens", p="?"),
                      _token_row(digest, principal, _now(),
                                 None if expires_at is None else _iso(expires_at)))
            c.execute(_NAME_TAKEN.format(tokens="api_tokens", p="?"),
                      (principal.name, principal.principal_id))
            taken = c.fetchone()
            if taken is not None:
                raise _name_taken(principal, taken[0])

    def rotate_token(self, token_id: str, digest: str, new_token_id: str,
                     expires_at: datetime | None = None) -> Principal | None:
        moment = datetime.now(UTC)
        now = moment.isoformat()
        with self.datastore.transaction(commit=True) as c:
            c.execute(_REVOKE_FOR_ROTATION.format(tokens="api_tokens", p="?"), (now, token_id))
            row = c.fetchone()
            if row is None:
                return None
            rotated = replace(_principal(tuple(row)[:5]), token_id=new_token_id)
            expiry = _rotated_expiry(tuple(row), expires_at, moment)
            c.execute(_INSERT_TOKEN.format(tokens="api_tokens", p="?"),
                      _token_row(digest, rotated, now, None if expiry is None else _iso(expiry)))
        return rotated

    def principal(self, digest: str) -> Principal | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT {PRINCIPAL_COLUMNS} FROM api_tokens "
                      f"WHERE digest = ? AND {_LIVE.format(p='?')}",
                      (digest, _iso(datetime.now(UTC))))
            row = c.fetchone()
        return None if row is None else _principal(tuple(row))

    def expired_at(self, digest: str) -> datetime | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(_EXPIRED_AT.format(tokens="api_tokens", p="?"),
                      (digest, _iso(datetime.now(UTC))))
            row = c.fetchone()
        return None if row is None else _moment(row[0])

    def list_tokens(self) -> list[TokenListing]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(_LIST_TOKENS.format(tokens="api_tokens"))
            return [_listing(tuple(row)) for row in c.fetchall()]

    def principal_and_response(
        self, digest: str, key: str
    ) -> tuple[Principal | None, StoredResponse | None]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(_PRINCIPAL_AND_RESPONSE.format(
                tokens="api_tokens", responses="api_responses", p="?"),
                (key, digest, _iso(datetime.now(UTC))))
            row = c.fetchone()
        return _principal_and_response(None if row is None else tuple(row))

    def revoke_token(self, token_id: str) -> bool:
        with self.datastore.transaction(commit=True) as c:
            c.execute("UPDATE api_tokens SET revoked_at = ? WHERE token_id = ? "
                      "AND revoked_at IS NULL RETURNING token_id", (_now(), token_id))
            return c.fetchone() is not None

    def store_response(self, response: StoredResponse) -> bool:
        with self.datastore.transaction(commit=True) as c:
            c.execute("INSERT INTO api_responses VALUES (?, ?, ?, ?, ?, ?) "
                      "ON CONFLICT (key) DO NOTHING RETURNING key",
                      (response.key, response.request_digest, response.status, response.body,
                       response.position, _now()))
            return c.fetchone() is not None

    def response(self, key: str) -> StoredResponse | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT key, request_digest, status, body, position FROM api_responses "
                      "WHERE key = ?", (key,))
            row = c.fetchone()
        return None if row is None else StoredResponse(*tuple(row))


class PostgresAccessTables:
    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore
        schema = sql.Identifier(datastore.schema or "public")
        self.tokens = sql.SQL("{}.api_tokens").format(schema)
        self.responses = sql.SQL("{}.api_responses").format(schema)
        # Rendered once: composing a statement per call costs more than the lookup's parse.
        self._select_principal = sql.SQL(
            f"SELECT {PRINCIPAL_COLUMNS} FROM {{}} "
            f"WHERE digest = %s AND {_LIVE.format(p='%s')}").format(self.tokens).as_string()
        tokens = self.tokens.as_string()
        self._name_taken = _NAME_TAKEN.format(tokens=tokens, p="%s")
        self._insert_token = _INSERT_TOKEN.format(tokens=tokens, p="%s")
        self._revoke_for_rotation = _REVOKE_FOR_ROTATION.format(tokens=tokens, p="%s")
        self._expired_at = _EXPIRED_AT.format(tokens=tokens, p="%s")
        self._list_tokens = _LIST_TOKENS.format(tokens=tokens)
        self._insert_response = sql.SQL(
            "INSERT INTO {} (key, request_digest, status, body, position) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING RETURNING key"
        ).format(self.responses).as_string()
        self._select_principal_and_response = _PRINCIPAL_AND_RESPONSE.format(
            tokens=self.tokens.as_string(), responses=self.responses.as_string(), p="%s")
        self._select_response = sql.SQL(
            "SELECT key, request_digest, status, body, position FROM {} WHERE key = %s"
        ).format(self.responses).as_string()

    def create_tables(self) -> None:
        from ledger.persistence.postgres import SCHEMA_LOCK_KEY

        with self.datastore.transaction(commit=True) as c:
            c.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            c.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (digest text PRIMARY KEY, "
                "token_id text NOT NULL UNIQUE, principal text NOT NULL, role text NOT NULL, "
                "scope text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), "
                "revoked_at timestamptz, principal_id text NOT NULL, expires_at timestamptz)"
            ).format(self.tokens))
            c.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = %s "
                      "AND table_name = 'api_tokens' AND column_name = 'principal_id'",
                      (self.datastore.schema or "public",))
            if c.fetchone() is None:
                _add_principal_ids(c, self.tokens.as_string())
            # Tables made before tokens expired: their tokens never expire.
            c.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS expires_at timestamptz"
                              ).format(self.tokens))
            c.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (key text PRIMARY KEY, "
                "request_digest text NOT NULL, status integer NOT NULL, body bytea NOT NULL, "
                "position bigint, created_at timestamptz NOT NULL DEFAULT now())"
            ).format(self.responses))

    def add_token(self, digest: str, principal: Principal,
                  expires_at: datetime | None = None) -> None:
        check_token_name(principal.name)
        with self._transaction() as c:
            c.execute("SELECT pg_advisory_xact_lock(%s)", (TOKEN_NAMES_LOCK_KEY,))
            c.execute(self._name_taken, (principal.name, principal.principal_id))
            taken = c.fetchone()
            if taken is not None:
                raise _name_taken(principal, taken[0])
            c.execute(self._insert_token,
                      _token_row(digest, principal, datetime.now(UTC), expires_at))

    def rotate_token(self, token_id: str, digest: str, new_token_id: str,
                     expires_at: datetime | None = None) -> Principal | None:
        now = datetime.now(UTC)
        with self._transaction() as c:
            c.execute(self._revoke_for_rotation, (now, token_id))
            row = c.fetchone()
            if row is None:
                return None
            rotated = replace(_principal(row[:5]), token_id=new_token_id)
            c.execute(self._insert_token, _token_row(digest, rotated, now,
                                                     _rotated_expiry(row, expires_at, now)))
        return rotated

    def principal(self, digest: str) -> Principal | None:
        row = self._one(self._select_principal, (digest, datetime.now(UTC)))
        return None if row is None else _principal(row)

    def expired_at(self, digest: str) -> datetime | None:
        row = self._one(self._expired_at, (digest, datetime.now(UTC)))
        return None if row is None else _moment(row[0])

    def list_tokens(self) -> list[TokenListing]:
        with self._transaction() as c:
            c.execute(self._list_tokens)
            return [_listing(row) for row in c.fetchall()]

    def principal_and_response(
        self, digest: str, key: str
    ) -> tuple[Principal | None, StoredResponse | None]:
        return _principal_and_response(self._one(self._select_principal_and_response,
                                                 (key, digest, datetime.now(UTC))))

    def revoke_token(self, token_id: str) -> bool:
        with self.datastore.transaction(commit=True) as c:
            c.execute(sql.SQL("UPDATE {} SET revoked_at = now() WHERE token_id = %s "
                              "AND revoked_at IS NULL").format(self.tokens), (token_id,))
            return bool(c.rowcount)

    def store_response(self, response: StoredResponse) -> bool:
        row = self._one(self._insert_response, (
            response.key, response.request_digest, response.status, response.body,
            response.position))
        return row is not None

    def response(self, key: str) -> StoredResponse | None:
        row = self._one(self._select_response, (key,))
        if row is None:
            return None
        key, digest, status, body, position = row
        return StoredResponse(key, digest, status, bytes(body), position)

    @contextmanager
    def _transaction(self) -> Iterator[Cursor[tuple[Any, ...]]]:
        """One transaction, its rows tuples (as SQLite's are), committed unless it raises."""
        with self.datastore.get_connection() as conn, conn.transaction(), \
                conn.cursor(row_factory=tuple_row) as c:
            yield c

    @retry_if_lost
    def _one(self, statement: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """One statement on its own, in autocommit: one round trip (an explicit BEGIN and
        COMMIT or ROLLBACK around it cost two more), prepared on each pooled connection.
        Each statement here is atomic by itself, so no guarantee depends on a transaction.
        Each may run again if its connection is lost: the reads are reads, and storing a
        response inserts nothing the second time (the caller then reads the stored one)."""
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as c:
            c.execute(statement, params, prepare=True)
            return c.fetchone()


def open_access_tables(recorder: Any) -> AccessTables:
    """The access tables on the application recorder's own store, created if missing."""
    tables: AccessTables
    if isinstance(recorder.datastore, PostgresDatastore):
        tables = PostgresAccessTables(recorder.datastore)
    else:
        tables = SQLiteAccessTables(recorder.datastore)
    tables.create_tables()
    return tables
