"""The sealer: every stored event hashed into its stream's chain, the log signed at checkpoints.

The sealer is a view like the others (``BatchingProjection`` on a ``ViewRecorder``, tracked
exactly once), with tables of its own on the application's store:

* ``event_digests(notification_id, originator_id, version, digest)``: each event's chain
  digest (``projections.seal.proofs``), committed with the tracking position of its batch. A batch
  chains on from each stream's previous version, found through the events table's own key
  (the stream and version give the event's position, the position its digest row); a table
  of heads kept up to date cost more to write than this costs to read. On PostgreSQL the
  digests have no index of their own on (originator_id, version): keyed by random stream
  ids, it took a random page per digest written, and once it outgrew the server's buffers
  (a 17M-row table) a digest cost 13 µs to write with it and 2.5 without (1.7M rows: 4.9);
  the events' key already makes a stream's version unique, and a position has one digest.
and ``seal_checkpoints(position, events, streams, heads_digest, signature, public_key,
created)``: the signed checkpoints. They are not part of the view: ``rebuild`` drops the
digests, never the checkpoints that anchor them.

A view normally sees decoded domain events; the sealer must hash the state bytes exactly as
stored, so ``SealRunner`` hands it the notifications themselves. The plain ``Runner`` would
decode every event and lose the bytes, so the sealer refuses it (every topic's handler
raises) rather than advance its position without sealing anything.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.application import Application
from eventsourcing.persistence import Notification, Tracking
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from psycopg import Connection, Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Composed, Identifier

from projections.bounded import remember
from projections.recorders import PostgresViewRecorder, SQLiteViewRecorder, ViewRecorder
from projections.runner import BatchingProjection, Handler, Progress, Runner, open_projection
from projections.seal.proofs import (
    ZERO_DIGEST,
    Checkpoint,
    SealError,
    event_chainer,
    heads_root,
    load_signing_key,
    sign_checkpoint,
    stream_key,
)

VIEW_NAME = "sealer"
DIGESTS = "event_digests"
CHECKPOINTS = "seal_checkpoints"
READ_PAGE_ROWS = 10_000
SEAL_BATCH_EVENTS = 5_000  # a sealing transaction: its cost is mostly per row, not per batch

# (notification id, stream key, version, topic, state)
EventRow = tuple[int, str, int, str, bytes]
# An event as the walk in parallel reads it: its stream's id as 16 bytes, its topic encoded.
RawEventRow = tuple[int, bytes, int, bytes, bytes]
# (notification id, stream key, version, digest)
DigestRow = tuple[int, str, int, bytes]
# An event and what was sealed at its position, if anything: EventRow + (whether the digest
# sealed there is this stream's at this version, the digest); (None, None) if none was.
SealedRow = tuple[int, str, int, str, bytes, bool | None, bytes | None]
# A verify reads every event beside its digest row; the server compares their stream and
# version, where sending both back for a comparison here cost a fifth of the read.
_SEALED_HERE = "d.originator_id = e.originator_id AND d.version = e.originator_version"
Head = tuple[str, int, bytes]


class SealRefused(SealError):
    """The log itself is broken where it is being sealed (a version gap): nothing is sealed."""


@dataclass
class SealBatch:
    events: list[EventRow] = field(default_factory=list)


def chain_batch(batch: SealBatch, heads: dict[str, tuple[int, bytes]]
                ) -> list[DigestRow]:
    """The batch's digests, chained on ``heads`` (updated in place)."""
    rows: list[DigestRow] = []
    chained = event_chainer()
    for position, key, version, topic, state in batch.events:
        previous_version, previous = heads.get(key, (0, ZERO_DIGEST))
        if version != previous_version + 1:
            raise SealRefused(
                f"stream {key}: version {version} at position {position} follows sealed "
                f"version {previous_version}; the log was altered before it was sealed")
        digest = chained(previous, position, key, version, topic, state)
        heads[key] = (version, digest)
        rows.append((position, key, version, digest))
    return rows


class SealStore(ViewRecorder[SealBatch]):
    """What the sealer, the verifier, proofs and exports read and write, on either store."""

    events_table: str = "stored_events"

    @abstractmethod
    def insert_checkpoint(self, checkpoint: Checkpoint) -> None: ...

    @abstractmethod
    def select_checkpoints(self) -> list[Checkpoint]: ...

    @abstractmethod
    def last_checkpoint(self) -> tuple[int, str] | None:
        """The last checkpoint's position and time (one row by its key: for /readyz)."""

    @abstractmethod
    def seal_state(self, application_name: str) -> tuple[int, int, list[Head]]:
        """The sealed position, the number of sealed events and every stream's head."""

    @abstractmethod
    def read_sealed(self, after: int, limit: int) -> list[SealedRow]:
        """Stored events after a position, in log order, straight from the events table,
        each with the digest row sealed at its position (or Nones)."""

    @abstractmethod
    def first_deleted(self, after: int = 0) -> DigestRow | None:
        """The first sealed event after a position whose position holds no event any more."""

    @abstractmethod
    def heads_at(self, position: int) -> list[Head]:
        """Each stream's last sealed digest at or before a position."""

    @abstractmethod
    def stream_events(self, keys: Sequence[str], max_position: int) -> list[EventRow]:
        """These streams' events up to a position, in log order."""

    @abstractmethod
    def stream_digest(self, key: str, version: int) -> DigestRow | None: ...

    @abstractmethod
    def first_events(self, max_position: int) -> list[EventRow]:
        """Every stream's first event up to a position, in log order."""


def _checkpoint(row: Sequence[Any], ledger: str) -> Checkpoint:
    position, events, streams, root, signature, public_key, created = row
    return Checkpoint(ledger, position, events, streams, bytes(root), created, bytes(signature),
                      bytes(public_key))


# About 170 bytes a stream (its id's int, its version and digest in one bytes): 170 MB at
# most. A city of more streams reads the rest's heads through the events' key, a batch's in
# one query.
KNOWN_HEADS_MAX = 1_000_000


class PostgresSealRecorder(PostgresViewRecorder[SealBatch], SealStore):
    view_name = VIEW_NAME
    view_tables: ClassVar[tuple[tuple[str, str], ...]] = (
        (DIGESTS, "notification_id"),)
    datastore: PostgresDatastore
    # Each stream's last digest this process chained (by UUID.int: its version, 8 bytes big
    # endian, then the digest): a batch chains on from them without reading the digests'
    # index, which at a million streams no longer fits the server's buffers. A head is used
    # only for the very version before a batch's first; any other is read again.
    known_heads: dict[int, bytes]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.known_heads = {}
        super().__init__(*args, **kwargs)

    def drop(self) -> None:
        self.known_heads.clear()
        super().drop()

    def view_create_statements(self) -> list[Composed]:
        digests = self.table(DIGESTS)
        id_type = Identifier(self.datastore.originator_id_type)
        self.copy_digests_statement = SQL(
            "COPY {} (notification_id, originator_id, version, digest) "
            "FROM STDIN (FORMAT BINARY)").format(digests)
        self.select_heads_statement = SQL(
            "SELECT DISTINCT ON (originator_id) originator_id, version, digest FROM {} "
            "WHERE notification_id <= %s ORDER BY originator_id, version DESC").format(digests)
        return [
            SQL("CREATE TABLE IF NOT EXISTS {} (notification_id bigint PRIMARY KEY, "
                "originator_id {} NOT NULL, version bigint NOT NULL, digest bytea NOT NULL)"
                ).format(digests, id_type),
            SQL("CREATE TABLE IF NOT EXISTS {} (position bigint PRIMARY KEY, "
                "events bigint NOT NULL, streams bigint NOT NULL, heads_digest bytea NOT NULL, "
                "signature bytea NOT NULL, public_key bytea NOT NULL, created text NOT NULL)"
                ).format(self.table(CHECKPOINTS)),
        ]

    def _write_batch(self, curs: Cursor[DictRow], batch: SealBatch) -> None:
        if not batch.events:
            return
        firsts: dict[str, int] = {}
        for _, key, version, _, _ in batch.events:
            firsts.setdefault(key, version)
        ids = {key: UUID(key) for key in firsts}
        known = self.known_heads
        heads: dict[str, tuple[int, bytes]] = {}
        wanted = []
        for key, version in firsts.items():
            if version > 1:
                head = known.get(ids[key].int)
                if head is not None and int.from_bytes(head[:8]) == version - 1:
                    heads[key] = (version - 1, head[8:])
                else:
                    wanted.append((ids[key], version - 1))
        if wanted:
            curs.execute(self._select_previous,
                         ([w[0] for w in wanted], [w[1] for w in wanted]), binary=True)
            heads.update((row["originator_id"].hex, (row["version"], bytes(row["digest"])))
                         for row in curs.fetchall())
        rows = chain_batch(batch, heads)
        # Remembered before the commit: a batch that does not commit is chained again from
        # the same events to the same digests, and finds its heads too far on to use.
        remember(known, {ids[key].int: version.to_bytes(8) + digest
                         for key, (version, digest) in heads.items()}, KNOWN_HEADS_MAX)
        # COPY: binary rows formatted in C, where arrays for unnest were dumped in Python.
        with curs.copy(self.copy_digests_statement) as copy:
            copy.set_types(["int8", "uuid", "int8", "bytea"])
            for position, key, version, digest in rows:
                copy.write_row((position, ids[key], version, digest))

    @contextmanager
    def _reading(self) -> Iterator[Cursor[Any]]:
        # One snapshot for the whole read, tuples and binary results for speed.
        with self.datastore.get_connection() as conn, conn.transaction(), \
                conn.cursor(row_factory=tuple_row) as curs:
            curs.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield curs

    def _events(self) -> Composed:
        return self.table(self.events_table)

    @cached_property
    def _select_previous(self) -> Composed:
        """Given streams and versions, their digests: each event's position by the events'
        key, then its digest row by that position (the row must name the same stream and
        version, or it is not found: a batch then refuses to chain on)."""
        return SQL(
            "SELECT d.originator_id, d.version, d.digest "
            "FROM unnest(%b::{}[], %b::bigint[]) AS a(originator_id, version) "
            "JOIN {} AS e ON e.originator_id = a.originator_id "
            "AND e.originator_version = a.version "
            "JOIN {} AS d ON d.notification_id = e.notification_id "
            "AND d.originator_id = a.originator_id AND d.version = a.version"
        ).format(Identifier(self.datastore.originator_id_type), self._events(),
                 self.table(DIGESTS))

    def insert_checkpoint(self, checkpoint: Checkpoint) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL(
                "INSERT INTO {} (position, events, streams, heads_digest, signature, "
                "public_key, created) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (position) DO NOTHING").format(self.table(CHECKPOINTS)), (
                checkpoint.position, checkpoint.events, checkpoint.streams,
                checkpoint.heads_root, checkpoint.signature, checkpoint.public_key,
                checkpoint.created))

    def select_checkpoints(self) -> list[Checkpoint]:
        with self._reading() as curs:
            curs.execute(SQL("SELECT position, events, streams, heads_digest, signature, "
                             "public_key, created FROM {} ORDER BY position").format(
                self.table(CHECKPOINTS)))
            return [_checkpoint(row, "") for row in curs.fetchall()]

    def last_checkpoint(self) -> tuple[int, str] | None:
        with self._reading() as curs:
            curs.execute(SQL("SELECT position, created FROM {} ORDER BY position DESC LIMIT 1"
                             ).format(self.table(CHECKPOINTS)))
            row = curs.fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def seal_state(self, application_name: str) -> tuple[int, int, list[Head]]:
        with self.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row) as curs:
            with conn.transaction():  # one snapshot for the three
                curs.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                curs.execute(SQL("SELECT max(notification_id) FROM {} WHERE "
                                 "application_name = %s").format(
                    self.table(self.tracking_table_name)), (application_name,))
                found = curs.fetchone()
                curs.execute(SQL("SELECT count(*) FROM {}").format(self.table(DIGESTS)))
                count = curs.fetchone()
                position = found[0] if found and found[0] else 0
                curs.execute(self.select_heads_statement, (position,), binary=True)
            rows = curs.fetchall()  # after the transaction: see _fetch_all
        heads = [(oid.hex, version, bytes(digest)) for oid, version, digest in rows]
        return position, (count[0] if count else 0), heads

    def _fetch_all(self, statement: Composed, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """One statement's rows, fetched once its transaction has ended. Turning a million
        rows into Python objects takes longer than the server lets a connection sit idle in
        a transaction (eventsourcing sets idle_in_transaction_session_timeout to 5 s): at
        1,000,000 units the server ended the connection (benchmarks/city.py), twice."""
        with self.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row) as curs:
            with conn.transaction():
                curs.execute(statement, params, binary=True)
            return curs.fetchall()

    def read_sealed(self, after: int, limit: int) -> list[SealedRow]:
        with self.datastore.get_connection() as conn:
            return self._read_sealed(conn, after, None, limit, prepare=True)

    def read_sealed_range(self, conn: Connection[Any], after: int, upto: int | None,
                          limit: int) -> list[SealedRow]:
        """``read_sealed`` up to position ``upto`` (None: the log's end), on a connection of
        the caller's own (``connect``): what one of the processes of a verify reads."""
        return self._read_sealed(conn, after, upto, limit, prepare=False)

    def _read_sealed(self, conn: Connection[Any], after: int, upto: int | None, limit: int,
                     *, prepare: bool) -> list[SealedRow]:
        # Ids as hex text from the server: parsing a UUID per row cost more than hashing it.
        with conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(SQL(
                f"SELECT e.notification_id, {self._hex_id('e.originator_id')}, "
                "e.originator_version, e.topic, e.state, "
                f"{_SEALED_HERE}, d.digest FROM {{}} AS e LEFT JOIN {{}} AS d "
                # The digests bounded too: a merge join then starts both scans at the page,
                # where the generic plan's scan of the digests started at position one.
                "ON d.notification_id = e.notification_id "
                "AND d.notification_id > %(after)s AND d.notification_id <= %(upto)s "
                "WHERE e.notification_id > %(after)s AND e.notification_id <= %(upto)s "
                "ORDER BY e.notification_id LIMIT %(limit)s"
            ).format(self._events(), self.table(DIGESTS)),
                {"after": after, "upto": 2**63 - 1 if upto is None else upto, "limit": limit},
                binary=True, prepare=prepare)
            return curs.fetchall()

    def _hex_id(self, column: str) -> str:
        """SQL for a stream id as the walk keys it: hex text, no dashes. From a uuid column,
        its 16 bytes hex-encoded (the server spent a fifth of a verify's reads making each
        id text and taking its dashes out)."""
        if self.datastore.originator_id_type == "uuid":
            return f"encode(uuid_send({column}), 'hex')"
        return f"replace({column}::text, '-', '')"

    def read_events_range(self, conn: Connection[Any], after: int, upto: int,
                          limit: int) -> list[RawEventRow]:
        """The events after ``after`` up to ``upto``, in log order, without their digest
        rows: what a walker reads where a signed checkpoint's root proves every event. Each
        stream id as its 16 bytes and each topic encoded: decoding neither to text saved a
        walker a tenth of its time (uuid ids only)."""
        with conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(SQL(
                "SELECT notification_id, uuid_send(originator_id), "
                "originator_version, convert_to(topic, 'UTF8'), state FROM {} "
                "WHERE notification_id > %s AND notification_id <= %s "
                "ORDER BY notification_id LIMIT %s"
            ).format(self._events()), (after, upto, limit), binary=True)
            return curs.fetchall()

    def heads_on(self, conn: Connection[Any], position: int, *,
                 raw: bool = False) -> list[tuple[Any, int, bytes]]:
        """``heads_at``, on a connection of the caller's own: the ids as hex text from the
        server (a UUID object made per head cost a walker more than the server's text; made
        once a stream's head is found, not for each of its digests before the sort), or with
        ``raw`` as their 16 bytes (uuid ids), as ``read_events_range`` reads them."""
        column = "uuid_send(originator_id)" if raw else self._hex_id("originator_id")
        with conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(SQL(
                f"SELECT {column}, version, digest FROM ("
                "SELECT DISTINCT ON (originator_id) originator_id, version, digest FROM {} "
                "WHERE notification_id <= %s ORDER BY originator_id, version DESC) AS heads"
            ).format(self.table(DIGESTS)), (position,), binary=True)
            return curs.fetchall()

    def connect(self) -> Connection[Any]:
        """A new connection to the ledger's database, of its own (not from the pool): what
        a forked process reads on."""
        pool: Any = self.datastore.pool
        kwargs = {k: v for k, v in dict(pool.kwargs or {}).items() if k != "row_factory"}
        if pool.get_password_func is not None:
            kwargs["password"] = pool.get_password_func()
        conn: Connection[Any] = Connection.connect(pool.conninfo, **kwargs)
        # The caller splits the work itself: no parallel workers of the planner's too.
        conn.execute("SET max_parallel_workers_per_gather = 0")
        return conn

    def first_deleted(self, after: int = 0) -> DigestRow | None:
        with self._reading() as curs:
            curs.execute(SQL(
                f"SELECT d.notification_id, {self._hex_id('d.originator_id')}, d.version, "
                "d.digest FROM {} AS d WHERE d.notification_id > %s AND NOT EXISTS (SELECT "
                "FROM {} AS e WHERE e.notification_id = d.notification_id) "
                "ORDER BY d.notification_id LIMIT 1").format(self.table(DIGESTS), self._events()),
                (after,), binary=True)
            row = curs.fetchone()
        return None if row is None else (row[0], row[1], row[2], bytes(row[3]))

    def heads_at(self, position: int) -> list[Head]:
        return [(o.hex, v, bytes(d))
                for o, v, d in self._fetch_all(self.select_heads_statement, (position,))]

    def stream_events(self, keys: Sequence[str], max_position: int) -> list[EventRow]:
        rows = self._fetch_all(SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {} WHERE originator_id = ANY(%s) AND notification_id <= %s "
            "ORDER BY notification_id").format(self._events()),
            ([UUID(k) for k in keys], max_position))
        return [(n, o.hex, v, t, bytes(s)) for n, o, v, t, s in rows]

    def stream_digest(self, key: str, version: int) -> DigestRow | None:
        with self._reading() as curs:
            curs.execute(SQL(
                "SELECT d.notification_id, d.originator_id, d.version, d.digest FROM {} AS e "
                "JOIN {} AS d ON d.notification_id = e.notification_id "
                "AND d.originator_id = e.originator_id AND d.version = e.originator_version "
                "WHERE e.originator_id = %s AND e.originator_version = %s"
            ).format(self._events(), self.table(DIGESTS)), (UUID(key), version), binary=True)
            row = curs.fetchone()
        return None if row is None else (row[0], row[1].hex, row[2], bytes(row[3]))

    def first_events(self, max_position: int) -> list[EventRow]:
        rows = self._fetch_all(SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {} WHERE originator_version = 1 AND notification_id <= %s "
            "ORDER BY notification_id").format(self._events()), (max_position,))
        return [(n, o.hex, v, t, bytes(s)) for n, o, v, t, s in rows]


_SQLITE_IDS_PER_QUERY = 400


class SQLiteSealRecorder(SQLiteViewRecorder[SealBatch], SealStore):
    """Originator ids are the library's hex text, which is what the digests hash."""

    view_name = VIEW_NAME
    view_tables: ClassVar[tuple[tuple[str, str], ...]] = (
        (DIGESTS, "notification_id"),)

    def view_create_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {DIGESTS} (notification_id INTEGER PRIMARY KEY, "
            "originator_id TEXT NOT NULL, version INTEGER NOT NULL, digest BLOB NOT NULL, "
            "UNIQUE (originator_id, version))",
            f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (position INTEGER PRIMARY KEY, "
            "events INTEGER NOT NULL, streams INTEGER NOT NULL, heads_digest BLOB NOT NULL, "
            "signature BLOB NOT NULL, public_key BLOB NOT NULL, created TEXT NOT NULL)",
        ]

    def _write_batch(self, c: SQLiteCursor, batch: SealBatch) -> None:
        if not batch.events:
            return
        firsts: dict[str, int] = {}
        for _, key, version, _, _ in batch.events:
            firsts.setdefault(key, version)
        heads: dict[str, tuple[int, bytes]] = {}
        for key, version in firsts.items():
            if version > 1:
                c.execute(f"SELECT digest FROM {DIGESTS} WHERE originator_id = ? "
                          "AND version = ?", (key, version - 1))
                row = c.fetchone()
                if row is not None:
                    heads[key] = (version - 1, bytes(row[0]))
        rows = chain_batch(batch, heads)
        c.executemany(f"INSERT INTO {DIGESTS} (notification_id, originator_id, version, digest)"
                      " VALUES (?, ?, ?, ?)", rows)

    @contextmanager
    def _reading(self) -> Iterator[SQLiteCursor]:
        with self.datastore.transaction(commit=False) as c:
            yield c

    def insert_checkpoint(self, checkpoint: Checkpoint) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"INSERT INTO {CHECKPOINTS} (position, events, streams, heads_digest, "
                      "signature, public_key, created) VALUES (?, ?, ?, ?, ?, ?, ?) "
                      "ON CONFLICT (position) DO NOTHING", (
                          checkpoint.position, checkpoint.events, checkpoint.streams,
                          checkpoint.heads_root, checkpoint.signature, checkpoint.public_key,
                          checkpoint.created))

    def select_checkpoints(self) -> list[Checkpoint]:
        with self._reading() as c:
            c.execute(f"SELECT position, events, streams, heads_digest, signature, public_key, "
                      f"created FROM {CHECKPOINTS} ORDER BY position")
            return [_checkpoint(tuple(row), "") for row in c.fetchall()]

    def last_checkpoint(self) -> tuple[int, str] | None:
        with self._reading() as c:
            c.execute(f"SELECT position, created FROM {CHECKPOINTS} ORDER BY position DESC "
                      "LIMIT 1")
            row = c.fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def seal_state(self, application_name: str) -> tuple[int, int, list[Head]]:
        with self._reading() as c:
            c.execute(f"SELECT max(notification_id) FROM {self.tracking_table_name} "
                      "WHERE application_name = ?", (application_name,))
            found = c.fetchone()
            c.execute(f"SELECT count(*) FROM {DIGESTS}")
            count = c.fetchone()
            position = found[0] if found and found[0] else 0
            heads = self._heads(c, position)
        return position, (count[0] if count else 0), heads

    def read_sealed(self, after: int, limit: int) -> list[SealedRow]:
        with self._reading() as c:
            c.execute("SELECT e.rowid, e.originator_id, e.originator_version, e.topic, e.state, "
                      f"{_SEALED_HERE}, d.digest FROM {self.events_table} AS e "
                      f"LEFT JOIN {DIGESTS} AS d ON d.notification_id = e.rowid "
                      "WHERE e.rowid > ? ORDER BY e.rowid LIMIT ?", (after, limit))
            return [(*row[:5], None if row[5] is None else bool(row[5]), row[6])
                    for row in c.fetchall()]

    def first_deleted(self, after: int = 0) -> DigestRow | None:
        with self._reading() as c:
            c.execute(f"SELECT d.notification_id, d.originator_id, d.version, d.digest "
                      f"FROM {DIGESTS} AS d WHERE d.notification_id > ? AND NOT EXISTS ("
                      f"SELECT 1 FROM {self.events_table} AS e WHERE e.rowid = "
                      "d.notification_id) ORDER BY d.notification_id LIMIT 1", (after,))
            row = c.fetchone()
        return None if row is None else (row[0], row[1], row[2], bytes(row[3]))

    def heads_at(self, position: int) -> list[Head]:
        with self._reading() as c:
            return self._heads(c, position)

    def _heads(self, c: SQLiteCursor, position: int) -> list[Head]:
        c.execute(f"SELECT d.originator_id, d.version, d.digest FROM {DIGESTS} AS d "
                  f"JOIN (SELECT originator_id, max(version) AS version FROM {DIGESTS} "
                  "WHERE notification_id <= ? GROUP BY originator_id) AS m "
                  "ON d.originator_id = m.originator_id AND d.version = m.version",
                  (position,))
        return [(row[0], row[1], bytes(row[2])) for row in c.fetchall()]

    def stream_events(self, keys: Sequence[str], max_position: int) -> list[EventRow]:
        rows: list[EventRow] = []
        with self._reading() as c:
            for start in range(0, len(keys), _SQLITE_IDS_PER_QUERY):
                chunk = list(keys[start:start + _SQLITE_IDS_PER_QUERY])
                c.execute("SELECT rowid, originator_id, originator_version, topic, state "
                          f"FROM {self.events_table} "
                          f"WHERE originator_id IN ({','.join('?' * len(chunk))}) "
                          "AND rowid <= ?", [*chunk, max_position])
                rows.extend(tuple(row) for row in c.fetchall())
        rows.sort()
        return rows

    def stream_digest(self, key: str, version: int) -> DigestRow | None:
        with self._reading() as c:
            c.execute(f"SELECT notification_id, originator_id, version, digest FROM {DIGESTS} "
                      "WHERE originator_id = ? AND version = ?", (key, version))
            row = c.fetchone()
        return None if row is None else (row[0], row[1], row[2], bytes(row[3]))

    def first_events(self, max_position: int) -> list[EventRow]:
        with self._reading() as c:
            c.execute("SELECT rowid, originator_id, originator_version, topic, state "
                      f"FROM {self.events_table} WHERE originator_version = 1 AND rowid <= ? "
                      "ORDER BY rowid", (max_position,))
            return [tuple(row) for row in c.fetchall()]


class _DecodedRefused(Mapping[str, Handler]):
    """Any topic's handler under the plain runner: refuse, naming the runner to use."""

    def __getitem__(self, topic: str) -> Handler:
        def refuse(event: Any, tracking: Tracking) -> None:
            raise SealError("the sealer needs the stored bytes: run it with SealRunner")
        return refuse

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __contains__(self, topic: object) -> bool:
        return True


class Sealer(BatchingProjection[SealBatch]):
    name = VIEW_NAME
    postgres_recorder = PostgresSealRecorder
    sqlite_recorder = SQLiteSealRecorder

    def __init__(self, view: ViewRecorder[SealBatch]) -> None:
        super().__init__(view)
        self.handlers = _DecodedRefused()

    @property
    def store(self) -> SealStore:
        assert isinstance(self.view, SealStore)
        return self.view

    def new_batch(self) -> SealBatch:
        return SealBatch()

    def topic_handlers(self) -> dict[str, Handler]:
        return {}

    def stage(self, notification: Notification) -> None:
        state = notification.state
        self.batch.events.append((notification.id, stream_key(notification.originator_id),
                                  notification.originator_version, notification.topic,
                                  state if isinstance(state, bytes) else bytes(state)))


class SealRunner(Runner):
    """The runner, handing the sealer its notifications undecoded (the bytes it hashes)."""

    def _stager(self, projection: BatchingProjection[Any]) -> Callable[[Notification], None]:
        if isinstance(projection, Sealer):
            return projection.stage
        return super()._stager(projection)


def open_sealer(app: Application[UUID]) -> Sealer:
    sealer = open_projection(app, Sealer)
    recorder = app.recorder
    assert isinstance(recorder, PostgresApplicationRecorder | SQLiteApplicationRecorder)
    sealer.store.events_table = recorder.events_table_name
    return sealer


def seal(app: Application[UUID], sealer: Sealer | None = None, *,
         progress: Progress | None = None) -> int:
    """Seal every event written so far; returns how many were sealed now."""
    return SealRunner(app).catch_up(sealer or open_sealer(app), progress=progress,
                                    batch_events_max=SEAL_BATCH_EVENTS)


def make_checkpoint(app: Application[UUID], sealer: Sealer | None = None,
                    key: Ed25519PrivateKey | None = None) -> Checkpoint | None:
    """Sign the sealed log's heads now (the latest checkpoint if nothing was sealed since).

    None when nothing is sealed yet. Seal first: a checkpoint covers the sealed events only.
    """
    store = (sealer or open_sealer(app)).store
    position, events, heads = store.seal_state(app.name)
    if position == 0:
        return None
    latest = latest_checkpoint(app, store)
    if latest is not None and latest.position >= position:
        return latest
    root, _, _ = heads_root(heads)
    settings = getattr(app, "settings", None)  # a FundLedger's; else the environment's
    signing_key = key or load_signing_key(settings.signing_key_file if settings else None)
    checkpoint = sign_checkpoint(signing_key, ledger=app.name, position=position,
                                 events=events, streams=len(heads), root=root)
    store.insert_checkpoint(checkpoint)
    return checkpoint


def seal_and_checkpoint(app: Application[UUID], sealer: Sealer | None = None, *,
                        progress: Progress | None = None) -> tuple[int, Checkpoint | None]:
    """Seal what was written, then sign a checkpoint at the sealed end of the log.

    Sealing stops at the log's end as it was when it started, which is always the end of a
    whole save, so the checkpoint never splits a transaction. Returns how many events were
    sealed now and the checkpoint (None for an empty log).
    """
    sealer = sealer or open_sealer(app)
    sealed = seal(app, sealer, progress=progress)
    return sealed, make_checkpoint(app, sealer)


def checkpoints(app: Application[UUID], store: SealStore) -> list[Checkpoint]:
    return [Checkpoint(app.name, c.position, c.events, c.streams, c.heads_root, c.created,
                       c.signature, c.public_key) for c in store.select_checkpoints()]


def latest_checkpoint(app: Application[UUID], store: SealStore) -> Checkpoint | None:
    found = checkpoints(app, store)
    return found[-1] if found else None
