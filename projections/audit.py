"""The audit view: one row per money movement and per governance decision (F10, V6).

Each row says what happened (the event's kind), the amount, which unit(s), who acted, the
business date, when it was recorded (the event's timestamp), its reference, and the
resolution or emergency it cites. Rows are keyed by the event's notification id, so pages
are keyset pages in log order and a row can be traced to its event.

Unit money events do not carry their community, and a vote's tally does not carry its
community either, so the view keeps two small lookup tables of its own (units from
``UnitAccount.Registered``, votes from ``Vote.Proposed``) and one of the works withdrawals'
authorities (the unit shares of a withdrawal cite the withdrawal's emergency or resolution;
a withdrawal is saved before its shares, so it is always known by then). Lookups a batch
cannot answer from its own events are resolved with one query per table at commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import attrgetter
from typing import Any, ClassVar, Protocol, cast
from uuid import UUID

from eventsourcing.persistence import ProgrammingError, Tracking
from eventsourcing.sqlite import SQLiteCursor
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from domain.ids import unit_key
from domain.posting import IncomeAllocation, WorksWithdrawal
from domain.unit_account import UnitAccount
from domain.vote import Vote
from ledger.persistence.pg_binary import (
    PgArray,
    int8_array,
    register_array_dumpers,
    text_array,
    uuid_array,
    uuid_int_array,
)
from projections.recorders import PostgresViewRecorder, SQLiteViewRecorder
from projections.runner import BatchingProjection, Handler, event_topic

VIEW_NAME = "audit"
ENTRIES = "audit_entries"
UNITS = "audit_units"
VOTES = "audit_votes"
AUTHORITIES = "audit_authorities"
PAGE_SIZE_MAX = 1_000

UNIT_MONEY_KINDS = ("FirstDepositPaid", "ToppedUp", "IncomeCredited", "WorksShareCharged",
                    "RefundedOnDestruction")
KINDS = (*UNIT_MONEY_KINDS, "Sold", "WorksWithdrawalPaid", "FundIncomeAllocated", "Tallied")


@dataclass
class _Row:
    """An entry being staged; ``community_code``, ``unit_key`` and ``cites`` may be resolved
    at commit from ``unit_id`` / ``vote_id`` / the cited withdrawal's reference. A unit is
    named by its id's ``UUID.int``: UUID's own ``__hash__`` and ``__eq__`` are Python code, and
    a batch looks each of its units up several times."""

    notification_id: int
    kind: str
    community_code: str | None
    unit_key: str | None
    units: str | None
    amount_fen: int | None
    actor: str
    business_date: date
    recorded_at: datetime
    reference: str | None
    cites: str | None
    unit_id: int | None = None
    vote_id: UUID | None = None
    cites_withdrawal: str | None = None

    def values(self) -> tuple[Any, ...]:
        return (self.notification_id, self.kind, self.community_code, self.unit_key,
                self.units, self.amount_fen, self.actor, self.business_date,
                self.recorded_at, self.reference, self.cites)


KNOWN_UNITS_MAX = 500_000  # about 100 MB at most; a city larger than that looks some up
UUID_ORDER = attrgetter("int")  # UUIDs' order, compared in C rather than by UUID.__lt__


@dataclass
class AuditBatch:
    rows: list[_Row] = field(default_factory=list)
    units: dict[int, tuple[str, str]] = field(default_factory=dict)  # by UUID.int
    votes: dict[UUID, tuple[str, str, str, int | None]] = field(default_factory=dict)
    authorities: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEntry:
    notification_id: int
    kind: str
    community_code: str
    unit_key: str | None
    units: str | None
    amount_fen: int | None
    actor: str
    business_date: date
    recorded_at: datetime
    reference: str | None
    cites: str | None


@dataclass(frozen=True)
class AuditFilter:
    community: str | None = None
    unit: str | None = None
    kind: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def params(self) -> tuple[Any, ...]:
        # Each filter twice: "(? IS NULL OR column = ?)".
        return tuple(v for value in (self.community, self.unit, self.kind, self.date_from,
                                     self.date_to) for v in (value, value))


class AuditQueries(Protocol):
    def select_entries(self, audit_filter: AuditFilter, after: int,
                       limit: int) -> list[tuple[Any, ...]]: ...


def _authority(event: Any) -> str:
    if event.basis == "emergency":
        return f"emergency {event.emergency_id} ({event.emergency_category})"
    return f"resolution {event.resolution_id}"


def _share_keys(shares: list[list[Any]]) -> str:
    return ",".join(str(share[0]) for share in shares)


class AuditProjection(BatchingProjection[AuditBatch]):
    name = VIEW_NAME

    def new_batch(self) -> AuditBatch:
        return AuditBatch()

    def topic_handlers(self) -> dict[str, Handler]:
        handlers: dict[str, Handler] = {
            event_topic(UnitAccount, kind): self.process_unit_money for kind in UNIT_MONEY_KINDS}
        handlers.update({
            event_topic(UnitAccount, "Registered"): self.process_unit_registered,
            event_topic(UnitAccount, "Sold"): self.process_sold,
            event_topic(WorksWithdrawal, "WorksWithdrawalPaid"): self.process_withdrawal,
            event_topic(IncomeAllocation, "FundIncomeAllocated"): self.process_income_allocated,
            event_topic(Vote, "Proposed"): self.process_vote_proposed,
            event_topic(Vote, "Tallied"): self.process_tallied,
        })
        return handlers

    def process_unit_registered(self, event: Any, tracking: Tracking) -> None:
        self.batch.units[event.originator_id.int] = (
            event.community_code, unit_key(event.building, event.unit))

    def process_unit_money(self, event: Any, tracking: Tracking) -> None:
        kind = type(event).__name__
        self.batch.rows.append(_Row(
            tracking.notification_id, kind, None, None, None, event.amount_fen, event.actor,
            event.effective_date, event.timestamp, event.reference, None,
            unit_id=event.originator_id.int,
            cites_withdrawal=event.reference if kind == "WorksShareCharged" else None))

    def process_sold(self, event: Any, tracking: Tracking) -> None:
        self.batch.rows.append(_Row(
            tracking.notification_id, "Sold", None, None, None, event.balance_transferred_fen,
            event.actor, event.effective_date, event.timestamp, event.reference,
            None, unit_id=event.originator_id.int))

    def process_withdrawal(self, event: Any, tracking: Tracking) -> None:
        authority = _authority(event)
        self.batch.authorities[event.reference] = authority
        self.batch.rows.append(_Row(
            tracking.notification_id, "WorksWithdrawalPaid", event.community_code, None,
            _share_keys(event.shares), event.invoice_fen, event.actor, event.effective_date,
            event.timestamp, event.reference, authority))

    def process_income_allocated(self, event: Any, tracking: Tracking) -> None:
        self.batch.rows.append(_Row(
            tracking.notification_id, "FundIncomeAllocated", event.community_code, None,
            _share_keys(event.shares), event.amount_fen, event.actor, event.effective_date,
            event.timestamp, event.reference, f"income {event.source}"))

    def process_vote_proposed(self, event: Any, tracking: Tracking) -> None:
        self.batch.votes[event.originator_id] = (
            event.community_code, event.vote_reference, event.matter_kind,
            event.approved_amount_fen)

    def process_tallied(self, event: Any, tracking: Tracking) -> None:
        outcome = "passed" if event.passed else "failed"
        self.batch.rows.append(_Row(
            tracking.notification_id, "Tallied", None, None, None, None, event.actor,
            event.effective_date, event.timestamp, None, f"{event.matter_kind} {outcome}",
            vote_id=event.originator_id))

    # -- queries -----------------------------------------------------------------------------

    def entries(self, audit_filter: AuditFilter | None = None, *, after: int = 0,
                limit: int = 100) -> list[AuditEntry]:
        """A page of entries in log order after notification id ``after`` (keyset paging)."""
        assert 0 < limit <= PAGE_SIZE_MAX
        queries = cast(AuditQueries, self.view)
        rows = queries.select_entries(audit_filter or AuditFilter(), after, limit)
        return [AuditEntry(*row) for row in rows]


def _resolve(batch: AuditBatch, units: dict[int, tuple[str, str]],
             votes: dict[UUID, tuple[str, str, str, int | None]],
             authorities: dict[str, str]) -> list[tuple[Any, ...]]:
    """Fill in each staged row from the batch's lookups, then the view's stored ones."""
    rows = []
    for row in batch.rows:
        if row.unit_id is not None:
            found = batch.units.get(row.unit_id) or units.get(row.unit_id)
            if found is None:
                raise ProgrammingError(
                    f"audit view: unit {UUID(int=row.unit_id)} was never registered")
            row.community_code, row.unit_key = found
        if row.vote_id is not None:
            vote = batch.votes.get(row.vote_id) or votes.get(row.vote_id)
            if vote is None:
                raise ProgrammingError(f"audit view: vote {row.vote_id} was never proposed")
            row.community_code, row.reference, _, row.amount_fen = vote
        if row.cites_withdrawal is not None:
            row.cites = (batch.authorities.get(row.cites_withdrawal)
                         or authorities.get(row.cites_withdrawal))
        rows.append(row.values())
    return rows


def _missing(batch: AuditBatch) -> tuple[list[int], list[UUID], list[str]]:
    units = {r.unit_id for r in batch.rows if r.unit_id is not None} - set(batch.units)
    votes = {r.vote_id for r in batch.rows if r.vote_id is not None} - set(batch.votes)
    withdrawals = {r.cites_withdrawal for r in batch.rows
                   if r.cites_withdrawal is not None} - set(batch.authorities)
    return sorted(units), sorted(votes, key=UUID_ORDER), sorted(withdrawals)


# A filter left as None matches everything; PostgreSQL must be told the parameters' type.
_ENTRY_FILTER_PG = (
    "notification_id > %s "
    "AND (%s::text IS NULL OR community_code = %s) AND (%s::text IS NULL OR unit_key = %s) "
    "AND (%s::text IS NULL OR kind = %s) "
    "AND (%s::date IS NULL OR business_date >= %s) AND (%s::date IS NULL OR business_date <= %s) "
    "ORDER BY notification_id LIMIT %s")
_ENTRY_FILTER_SQLITE = (
    "notification_id > ? AND (? IS NULL OR community_code = ?) AND (? IS NULL OR unit_key = ?) "
    "AND (? IS NULL OR kind = ?) AND (? IS NULL OR business_date >= ?) "
    "AND (? IS NULL OR business_date <= ?) ORDER BY notification_id LIMIT ?")


# The array builders (pg_binary: built in C, not psycopg's per-element list dumping) for
# the columns of the units, votes and authorities a batch inserts.
_UNIT_COLUMNS: tuple[Callable[[Any], PgArray], ...] = (uuid_int_array, text_array, text_array)
_VOTE_COLUMNS: tuple[Callable[[Any], PgArray], ...] = (
    uuid_array, text_array, text_array, text_array, int8_array)
_AUTHORITY_COLUMNS: tuple[Callable[[Any], PgArray], ...] = (text_array, text_array)

_ENTRY_TYPES = ("int8", "text", "text", "text", "text", "int8", "text", "date", "timestamptz",
                "text", "text")


class PostgresAuditRecorder(PostgresViewRecorder[AuditBatch]):
    view_name = VIEW_NAME
    known_units: dict[int, tuple[str, str]]  # by UUID.int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.known_units = {}
        super().__init__(*args, **kwargs)

    def drop(self) -> None:
        self.known_units.clear()
        super().drop()
    view_tables: ClassVar[tuple[tuple[str, str], ...]] = (
        (ENTRIES, "notification_id"), (UNITS, "unit_id"), (VOTES, "vote_id"),
        (AUTHORITIES, "reference"))

    def view_create_statements(self) -> list[Composed]:
        entries, units = self.table(ENTRIES), self.table(UNITS)
        votes, authorities = self.table(VOTES), self.table(AUTHORITIES)
        # COPY (binary) writes a batch's rows several times faster than INSERT ... unnest.
        self.copy_entries_statement = SQL(
            "COPY {} (notification_id, kind, community_code, unit_key, units, amount_fen, "
            "actor, business_date, recorded_at, reference, cites) FROM STDIN (FORMAT BINARY)"
        ).format(entries)
        self.insert_units_statement = SQL(
            "INSERT INTO {} SELECT * FROM unnest(%b::uuid[], %b::text[], %b::text[])"
        ).format(units)
        self.insert_votes_statement = SQL(
            "INSERT INTO {} SELECT * FROM unnest(%b::uuid[], %b::text[], %b::text[], "
            "%b::text[], %b::bigint[])").format(votes)
        self.insert_authorities_statement = SQL(
            "INSERT INTO {} SELECT * FROM unnest(%b::text[], %b::text[])").format(authorities)
        self.select_units_statement = SQL(
            "SELECT unit_id, community_code, unit_key FROM {} WHERE unit_id = ANY(%b::uuid[])"
        ).format(units)
        self.select_votes_statement = SQL(
            "SELECT vote_id, community_code, vote_reference, matter_kind, approved_amount_fen "
            "FROM {} WHERE vote_id = ANY(%b::uuid[])").format(votes)
        self.select_authorities_statement = SQL(
            "SELECT reference, authority FROM {} WHERE reference = ANY(%b::text[])"
        ).format(authorities)
        self.select_entries_statement = SQL(
            "SELECT * FROM {} WHERE " + _ENTRY_FILTER_PG).format(entries)
        return [
            SQL("CREATE TABLE IF NOT EXISTS {} (notification_id bigint PRIMARY KEY, "
                "kind text NOT NULL, community_code text NOT NULL, unit_key text, units text, "
                "amount_fen bigint, actor text NOT NULL, business_date date NOT NULL, "
                "recorded_at timestamptz NOT NULL, reference text, cites text)").format(entries),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (community_code, notification_id)").format(
                Identifier(ENTRIES + "_community"), entries),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (community_code, unit_key, "
                "notification_id)").format(Identifier(ENTRIES + "_unit"), entries),
            SQL("CREATE TABLE IF NOT EXISTS {} (unit_id uuid PRIMARY KEY, "
                "community_code text NOT NULL, unit_key text NOT NULL)").format(units),
            SQL("CREATE TABLE IF NOT EXISTS {} (vote_id uuid PRIMARY KEY, "
                "community_code text NOT NULL, vote_reference text NOT NULL, "
                "matter_kind text NOT NULL, approved_amount_fen bigint)").format(votes),
            SQL("CREATE TABLE IF NOT EXISTS {} (reference text PRIMARY KEY, "
                "authority text NOT NULL)").format(authorities),
        ]

    def _write_batch(self, curs: Cursor[DictRow], batch: AuditBatch) -> None:
        register_array_dumpers(curs)
        self._insert(curs, self.insert_units_statement, _UNIT_COLUMNS,
                     [(k, *v) for k, v in batch.units.items()])
        self._insert(curs, self.insert_votes_statement, _VOTE_COLUMNS,
                     [(k, *v) for k, v in batch.votes.items()])
        self._insert(curs, self.insert_authorities_statement, _AUTHORITY_COLUMNS,
                     list(batch.authorities.items()))
        unit_ids, vote_ids, references = _missing(batch)
        # A unit's community and key never change: remember them between batches (bounded),
        # which spares most batches a look-up round trip.
        known = self.known_units
        units: dict[int, tuple[str, str]] = {}
        unknown = []
        for u in unit_ids:
            found = known.get(u)
            if found is None:
                unknown.append(u)
            else:
                units[u] = found
        units.update((r["unit_id"].int, (r["community_code"], r["unit_key"])) for r in self._select(
            curs, self.select_units_statement, uuid_int_array, unknown))
        if len(known) + len(units) + len(batch.units) > KNOWN_UNITS_MAX:
            known.clear()
        known.update(units)
        known.update(batch.units)
        votes = {r["vote_id"]: (r["community_code"], r["vote_reference"], r["matter_kind"],
                                r["approved_amount_fen"])
                 for r in self._select(curs, self.select_votes_statement, uuid_array, vote_ids)}
        authorities = {r["reference"]: r["authority"]
                       for r in self._select(curs, self.select_authorities_statement, text_array,
                                             references)}
        rows = _resolve(batch, units, votes, authorities)
        if rows:
            with curs.copy(self.copy_entries_statement) as copy:
                copy.set_types(_ENTRY_TYPES)
                for row in rows:
                    copy.write_row(row)

    @staticmethod
    def _insert(curs: Cursor[DictRow], statement: Composed,
                columns: Sequence[Callable[[Any], PgArray]],
                rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            curs.execute(statement, [build(column) for build, column in zip(
                columns, zip(*rows, strict=True), strict=True)], prepare=True, binary=True)

    @staticmethod
    def _select(curs: Cursor[DictRow], statement: Composed, build: Callable[[Any], PgArray],
                keys: Sequence[Any]) -> list[DictRow]:
        if not keys:
            return []
        curs.execute(statement, (build(keys),), prepare=True, binary=True)
        return curs.fetchall()

    def select_entries(self, audit_filter: AuditFilter, after: int,
                       limit: int) -> list[tuple[Any, ...]]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_entries_statement, (after, *audit_filter.params(), limit))
            return [tuple(row.values()) for row in curs.fetchall()]


class SQLiteAuditRecorder(SQLiteViewRecorder[AuditBatch]):
    view_name = VIEW_NAME
    view_tables: ClassVar[tuple[tuple[str, str], ...]] = (
        (ENTRIES, "notification_id"), (UNITS, "unit_id"), (VOTES, "vote_id"),
        (AUTHORITIES, "reference"))

    def view_create_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {ENTRIES} (notification_id INTEGER PRIMARY KEY, "
            "kind TEXT NOT NULL, community_code TEXT NOT NULL, unit_key TEXT, units TEXT, "
            "amount_fen INTEGER, actor TEXT NOT NULL, business_date TEXT NOT NULL, "
            "recorded_at TEXT NOT NULL, reference TEXT, cites TEXT)",
            f"CREATE INDEX IF NOT EXISTS {ENTRIES}_community ON {ENTRIES} "
            "(community_code, notification_id)",
            f"CREATE INDEX IF NOT EXISTS {ENTRIES}_unit ON {ENTRIES} "
            "(community_code, unit_key, notification_id)",
            f"CREATE TABLE IF NOT EXISTS {UNITS} (unit_id TEXT PRIMARY KEY, "
            "community_code TEXT NOT NULL, unit_key TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {VOTES} (vote_id TEXT PRIMARY KEY, "
            "community_code TEXT NOT NULL, vote_reference TEXT NOT NULL, "
            "matter_kind TEXT NOT NULL, approved_amount_fen INTEGER)",
            f"CREATE TABLE IF NOT EXISTS {AUTHORITIES} (reference TEXT PRIMARY KEY, "
            "authority TEXT NOT NULL)",
        ]

    def _write_batch(self, c: SQLiteCursor, batch: AuditBatch) -> None:
        c.executemany(f"INSERT INTO {UNITS} VALUES (?, ?, ?)",
                      [(f"{k:032x}", *v) for k, v in batch.units.items()])
        c.executemany(f"INSERT INTO {VOTES} VALUES (?, ?, ?, ?, ?)",
                      [(k.hex, *v) for k, v in batch.votes.items()])
        c.executemany(f"INSERT INTO {AUTHORITIES} VALUES (?, ?)", list(batch.authorities.items()))
        unit_ids, vote_ids, references = _missing(batch)
        units = {int(r[0], 16): (r[1], r[2]) for r in self._select(
            c, f"SELECT unit_id, community_code, unit_key FROM {UNITS} WHERE unit_id IN",
            [f"{u:032x}" for u in unit_ids])}
        votes = {UUID(r[0]): (r[1], r[2], r[3], r[4]) for r in self._select(
            c, f"SELECT vote_id, community_code, vote_reference, matter_kind, "
            f"approved_amount_fen FROM {VOTES} WHERE vote_id IN", [v.hex for v in vote_ids])}
        authorities = {r[0]: r[1] for r in self._select(
            c, f"SELECT reference, authority FROM {AUTHORITIES} WHERE reference IN", references)}
        c.executemany(f"INSERT INTO {ENTRIES} VALUES ({', '.join('?' * 11)})",
                      [(*row[:7], row[7].isoformat(), row[8].isoformat(), *row[9:])
                       for row in _resolve(batch, units, votes, authorities)])

    @staticmethod
    def _select(c: SQLiteCursor, statement: str, keys: Sequence[str]) -> list[Any]:
        rows: list[Any] = []
        for start in range(0, len(keys), 500):  # under SQLite's bound-variable limit
            chunk = keys[start:start + 500]
            c.execute(f"{statement} ({','.join('?' * len(chunk))})", list(chunk))
            rows += c.fetchall()
        return rows

    def select_entries(self, audit_filter: AuditFilter, after: int,
                       limit: int) -> list[tuple[Any, ...]]:
        params = [None if v is None else v.isoformat() if isinstance(v, date) else v
                  for v in audit_filter.params()]
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT * FROM {ENTRIES} WHERE {_ENTRY_FILTER_SQLITE}",
                      (after, *params, limit))
            rows = c.fetchall()
        return [(*row[:7], date.fromisoformat(row[7]), datetime.fromisoformat(row[8]),
                 *row[9:]) for row in rows]


AuditProjection.postgres_recorder = PostgresAuditRecorder
AuditProjection.sqlite_recorder = SQLiteAuditRecorder
