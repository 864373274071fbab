"""Tables beside the event log for the HTTP API: token digests and replayable responses.

They are not events: a token can be revoked and a stored response expires, neither of which
is part of the ledger's history. Both live in the log's own database (and schema), so a
PostgreSQL ledger needs nothing more, and an embedded one stays one file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from psycopg import sql
from psycopg.rows import tuple_row

from ledger.access import Principal, Role, Scope
from ledger.persistence.connection_loss import retry_if_lost


@dataclass(frozen=True)
class StoredResponse:
    """The first response to a POST under an idempotency key, replayed to every repeat."""

    key: str
    request_digest: str
    status: int
    body: bytes
    position: int | None


class AccessTables(Protocol):
    def create_tables(self) -> None: ...

    def add_token(self, digest: str, principal: Principal) -> None: ...

    def principal(self, digest: str) -> Principal | None: ...

    def principal_and_response(
        self, digest: str, key: str
    ) -> tuple[Principal | None, StoredResponse | None]:
        """The token's principal and the response stored under ``<its name>/<key>``, if
        any: the two lookups of an idempotent POST in one query."""
        ...

    def revoke_token(self, token_id: str) -> bool: ...

    def store_response(self, response: StoredResponse) -> bool:
        """Store the first response under its key; False if one was stored already."""
        ...

    def response(self, key: str) -> StoredResponse | None: ...


def _principal(row: Any) -> Principal:
    name, role, scope, token_id = row
    return Principal(name, Role(role), Scope.parse(scope), token_id)


# A live token's principal, and beside it the response stored under "<principal>/<key>".
_PRINCIPAL_AND_RESPONSE = (
    "SELECT t.principal, t.role, t.scope, t.token_id, r.key, r.request_digest, r.status, "
    "r.body, r.position FROM {tokens} t LEFT JOIN {responses} r "
    "ON r.key = t.principal || '/' || {p} WHERE t.digest = {p} AND t.revoked_at IS NULL")


def _principal_and_response(
    row: tuple[Any, ...] | None
) -> tuple[Principal | None, StoredResponse | None]:
    if row is None:
        return None, None
    key, digest, status, body, position = row[4:]
    return _principal(row[:4]), (
        None if key is None else StoredResponse(key, digest, status, bytes(body), position))


def _now() -> str:
    return datetime.now(UTC).isoformat()


class SQLiteAccessTables:
    def __init__(self, datastore: SQLiteDatastore) -> None:
        self.datastore = datastore

    def create_tables(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute("CREATE TABLE IF NOT EXISTS api_tokens (digest TEXT PRIMARY KEY, "
                      "token_id TEXT NOT NULL UNIQUE, principal TEXT NOT NULL, "
                      "role TEXT NOT NULL, scope TEXT NOT NULL, created_at TEXT NOT NULL, "
                      "revoked_at TEXT)")
            c.execute("CREATE TABLE IF NOT EXISTS api_responses (key TEXT PRIMARY KEY, "
                      "request_digest TEXT NOT NULL, status INTEGER NOT NULL, "
                      "body BLOB NOT NULL, position INTEGER, created_at TEXT NOT NULL)")

    def add_token(self, digest: str, principal: Principal) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute("INSERT INTO api_tokens VALUES (?, ?, ?, ?, ?, ?, NULL)",
                      (digest, principal.token_id, principal.name, principal.role.value,
                       str(principal.scope), _now()))

    def principal(self, digest: str) -> Principal | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT principal, role, scope, token_id FROM api_tokens "
                      "WHERE digest = ? AND revoked_at IS NULL", (digest,))
            row = c.fetchone()
        return None if row is None else _principal(tuple(row))

    def principal_and_response(
        self, digest: str, key: str
    ) -> tuple[Principal | None, StoredResponse | None]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(_PRINCIPAL_AND_RESPONSE.format(
                tokens="api_tokens", responses="api_responses", p="?"), (key, digest))
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
            "SELECT principal, role, scope, token_id FROM {} "
            "WHERE digest = %s AND revoked_at IS NULL").format(self.tokens).as_string()
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
                "revoked_at timestamptz)").format(self.tokens))
            c.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (key text PRIMARY KEY, "
                "request_digest text NOT NULL, status integer NOT NULL, body bytea NOT NULL, "
                "position bigint, created_at timestamptz NOT NULL DEFAULT now())"
            ).format(self.responses))

    def add_token(self, digest: str, principal: Principal) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(sql.SQL("INSERT INTO {} (digest, token_id, principal, role, scope) "
                              "VALUES (%s, %s, %s, %s, %s)").format(self.tokens),
                      (digest, principal.token_id, principal.name, principal.role.value,
                       str(principal.scope)))

    def principal(self, digest: str) -> Principal | None:
        row = self._one(self._select_principal, (digest,))
        return None if row is None else _principal(row)

    def principal_and_response(
        self, digest: str, key: str
    ) -> tuple[Principal | None, StoredResponse | None]:
        return _principal_and_response(self._one(self._select_principal_and_response,
                                                 (key, digest)))

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
