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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from operator import attrgetter
from sys import intern
from typing import Any, ClassVar, NamedTuple, Protocol, TypeVar, cast
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
from ledger.persistence.connection_loss import retry_if_lost
from ledger.persistence.pg_binary import (
    BIGINT,
    DATE,
    TEXT,
    TIMESTAMPTZ,
    UUID_INT,
    UUID_TYPE,
    register_array_dumpers,
)
from ledger.persistence.transcoder import EventState
from projections.bounded import remember
from projections.columns import (
    Column,
    arrays,
    definitions,
    from_sqlite,
    names,
    placeholders,
    to_sqlite,
    transposed,
    unnest,
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
_KIND_OF_TOPIC = {event_topic(UnitAccount, kind): kind for kind in UNIT_MONEY_KINDS}


# An entry being staged: its values in ENTRY_COLUMNS order, in a list, so that what a unit
# money event or a tally does not carry (community, unit key, a vote's reference and amount,
# a share's authority) is filled in at commit from the lookups, in place (``_resolve``).
_Entry = list[Any]
# Where those go in an entry.
_COMMUNITY, _UNIT_KEY, _AMOUNT, _REFERENCE, _CITES = 2, 3, 5, 9, 10


class UnitPlace(NamedTuple):
    """What a unit money event does not carry: its unit's community and key."""

    community_code: str
    unit_key: str


class VoteFacts(NamedTuple):
    """What a vote's tally does not carry, from its proposal."""

    community_code: str
    vote_reference: str
    matter_kind: str
    approved_amount_fen: int | None


# About 160 bytes a unit, its place's strings shared (sys.intern): 160 MB at most. A city
# of more units looks the rest up, a batch's in one query.
KNOWN_UNITS_MAX = 1_000_000
UUID_ORDER = attrgetter("int")  # UUIDs' order, compared in C rather than by UUID.__lt__


@dataclass
class AuditBatch:
    """A batch's entries in log order; units are named by their id's ``UUID.int``: UUID's
    own ``__hash__`` and ``__eq__`` are Python code, and a batch looks each unit up several
    times."""

    rows: list[_Entry] = field(default_factory=list)
    # Entries still to be resolved at commit: (entry, unit, the withdrawal whose authority
    # a share cites or None), and (entry, vote).
    unit_rows: list[tuple[_Entry, int, str | None]] = field(default_factory=list)
    vote_rows: list[tuple[_Entry, UUID]] = field(default_factory=list)
    units: dict[int, UnitPlace] = field(default_factory=dict)  # by UUID.int
    votes: dict[UUID, VoteFacts] = field(default_factory=dict)
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


# The entries table, in table order: what a batch COPYs in and a page SELECTs, by name.
ENTRY_COLUMNS = (
    Column("notification_id", BIGINT), Column("kind", TEXT), Column("community_code", TEXT),
    Column("unit_key", TEXT, nullable=True), Column("units", TEXT, nullable=True),
    Column("amount_fen", BIGINT, nullable=True), Column("actor", TEXT),
    Column("business_date", DATE), Column("recorded_at", TIMESTAMPTZ),
    Column("reference", TEXT, nullable=True), Column("cites", TEXT, nullable=True))
assert [c.name for c in ENTRY_COLUMNS] == [f.name for f in fields(AuditEntry)]
assert [ENTRY_COLUMNS[i].name for i in (_COMMUNITY, _UNIT_KEY, _AMOUNT, _REFERENCE, _CITES)] \
    == ["community_code", "unit_key", "amount_fen", "reference", "cites"]

# The lookup tables: each row a key, then a named tuple's fields.
UNIT_ID = Column("unit_id", UUID_INT)
UNIT_COLUMNS = (UNIT_ID, Column("community_code", TEXT), Column("unit_key", TEXT))
VOTE_ID = Column("vote_id", UUID_TYPE)
VOTE_COLUMNS = (VOTE_ID, Column("community_code", TEXT), Column("vote_reference", TEXT),
                Column("matter_kind", TEXT), Column("approved_amount_fen", BIGINT, nullable=True))
REFERENCE = Column("reference", TEXT)
AUTHORITY_COLUMNS = (REFERENCE, Column("authority", TEXT))
assert tuple(c.name for c in UNIT_COLUMNS[1:]) == UnitPlace._fields
assert tuple(c.name for c in VOTE_COLUMNS[1:]) == VoteFacts._fields

class ListedVote(NamedTuple):
    """A vote as the view lists it: enough to find it (``Vote`` is the source of truth)."""

    community_code: str
    vote_reference: str
    vote_id: UUID


TNamed = TypeVar("TNamed", UnitPlace, VoteFacts, ListedVote)


def _named(cls: type[TNamed], row: Any) -> TNamed:
    """A named tuple from a row's columns of the same names."""
    return cls._make(row[name] for name in cls._fields)


@dataclass(frozen=True)
class AuditFilter:
    community: str | None = None
    unit: str | None = None
    kind: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    actor: str | None = None  # any part of the recorded actor (e.g. a token holder's name)

    def params(self) -> tuple[Any, ...]:
        # Each filter twice: "(? IS NULL OR column = ?)".
        return tuple(v for value in (self.community, self.unit, self.kind, self.date_from,
                                     self.date_to, self.actor) for v in (value, value))


class AuditQueries(Protocol):
    def select_entries(self, audit_filter: AuditFilter, after: int,
                       limit: int) -> list[AuditEntry]: ...

    def select_votes(self, community: str | None, after: tuple[str, str],
                     limit: int) -> list[ListedVote]: ...


def _authority(state: dict[str, Any]) -> str:
    if state["basis"] == "emergency":
        return f"emergency {state['emergency_id']} ({state['emergency_category']})"
    return f"resolution {state['resolution_id']}"


def _when(state: dict[str, Any]) -> tuple[date, datetime]:
    """An event's business date and recorded-at timestamp, as its state holds them: stored
    JSON's envelopes, or the values themselves (a decoded event's state)."""
    day, at = state["effective_date"], state["timestamp"]
    return (day if isinstance(day, date) else date.fromisoformat(day["_data_"]),
            at if isinstance(at, datetime) else datetime.fromisoformat(at["_data_"]))


def _share_keys(shares: list[list[Any]]) -> str:
    return ",".join(str(share[0]) for share in shares)


class AuditProjection(BatchingProjection[AuditBatch]):
    name = VIEW_NAME
    tracking_is_transient = True  # read during the call, never kept
    reads_state = True  # plain values and two dates: no event is built

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

    def process_unit_registered(self, event: EventState, tracking: Tracking) -> None:
        state = event.state
        self.batch.units[event.originator_id.int] = UnitPlace(
            intern(state["community_code"]), intern(unit_key(state["building"], state["unit"])))

    def process_unit_money(self, event: EventState, tracking: Tracking) -> None:
        kind = _KIND_OF_TOPIC[event.topic]
        state = event.state
        entry = [tracking.notification_id, kind, None, None, None, state["amount_fen"],
                 state["actor"], *_when(state), state["reference"], None]
        batch = self.batch
        batch.rows.append(entry)
        batch.unit_rows.append((entry, event.originator_id.int,
                                state["reference"] if kind == "WorksShareCharged" else None))

    def process_sold(self, event: EventState, tracking: Tracking) -> None:
        state = event.state
        entry = [tracking.notification_id, "Sold", None, None, None,
                 state["balance_transferred_fen"], state["actor"], *_when(state),
                 state["reference"], None]
        self.batch.rows.append(entry)
        self.batch.unit_rows.append((entry, event.originator_id.int, None))

    def process_withdrawal(self, event: EventState, tracking: Tracking) -> None:
        state = event.state
        authority = _authority(state)
        self.batch.authorities[state["reference"]] = authority
        self.batch.rows.append([
            tracking.notification_id, "WorksWithdrawalPaid", state["community_code"], None,
            _share_keys(state["shares"]), state["invoice_fen"], state["actor"],
            *_when(state), state["reference"], authority])

    def process_income_allocated(self, event: EventState, tracking: Tracking) -> None:
        state = event.state
        self.batch.rows.append([
            tracking.notification_id, "FundIncomeAllocated", state["community_code"], None,
            _share_keys(state["shares"]), state["amount_fen"], state["actor"],
            *_when(state), state["reference"], f"income {state['source']}"])

    def process_vote_proposed(self, event: EventState, tracking: Tracking) -> None:
        state = event.state
        self.batch.votes[event.originator_id] = VoteFacts(
            state["community_code"], state["vote_reference"], state["matter_kind"],
            state["approved_amount_fen"])

    def process_tallied(self, event: EventState, tracking: Tracking) -> None:
        state = event.state
        outcome = "passed" if state["passed"] else "failed"
        entry = [tracking.notification_id, "Tallied", None, None, None, None, state["actor"],
                 *_when(state), None, f"{state['matter_kind']} {outcome}"]
        self.batch.rows.append(entry)
        self.batch.vote_rows.append((entry, event.originator_id))

    # -- queries -----------------------------------------------------------------------------

    def entries(self, audit_filter: AuditFilter | None = None, *, after: int = 0,
                limit: int = 100) -> list[AuditEntry]:
        """A page of entries in log order after notification id ``after`` (keyset paging)."""
        assert 0 < limit <= PAGE_SIZE_MAX
        queries = cast(AuditQueries, self.view)
        return queries.select_entries(audit_filter or AuditFilter(), after, limit)

    def votes(self, community: str | None = None, *, after: tuple[str, str] = ("", ""),
              limit: int = 100) -> list[ListedVote]:
        """Proposed votes by (community, reference), after that pair (keyset paging)."""
        assert 0 < limit <= PAGE_SIZE_MAX
        return cast(AuditQueries, self.view).select_votes(community, after, limit)


def _resolve(batch: AuditBatch, units: dict[int, UnitPlace], votes: dict[UUID, VoteFacts],
             authorities: dict[str, str]) -> list[_Entry]:
    """Fill in each staged entry from the batch's lookups, then the view's stored ones; the
    entries' values in ENTRY_COLUMNS order, in log order."""
    batch_units, batch_authorities = batch.units, batch.authorities
    for entry, unit_id, cites_withdrawal in batch.unit_rows:
        found = batch_units.get(unit_id) or units.get(unit_id)
        if found is None:
            raise ProgrammingError(f"audit view: unit {UUID(int=unit_id)} was never registered")
        entry[_COMMUNITY], entry[_UNIT_KEY] = found
        if cites_withdrawal is not None:
            entry[_CITES] = (batch_authorities.get(cites_withdrawal)
                             or authorities.get(cites_withdrawal))
    for entry, vote_id in batch.vote_rows:
        vote = batch.votes.get(vote_id) or votes.get(vote_id)
        if vote is None:
            raise ProgrammingError(f"audit view: vote {vote_id} was never proposed")
        entry[_COMMUNITY] = vote.community_code
        entry[_REFERENCE] = vote.vote_reference
        entry[_AMOUNT] = vote.approved_amount_fen
    return batch.rows


def _missing(batch: AuditBatch) -> tuple[list[int], list[UUID], list[str]]:
    units = {unit_id for _, unit_id, _ in batch.unit_rows}.difference(batch.units)
    votes = {vote_id for _, vote_id in batch.vote_rows}.difference(batch.votes)
    withdrawals = {w for _, _, w in batch.unit_rows if w is not None}.difference(
        batch.authorities)
    return sorted(units), sorted(votes, key=UUID_ORDER), sorted(withdrawals)


# A filter left as None matches everything; PostgreSQL must be told the parameters' type.
# ``AuditFilter.params()``'s conditions, on either store (the city's audit adds its own key).
FILTER_PG = (
    "(%s::text IS NULL OR community_code = %s) AND (%s::text IS NULL OR unit_key = %s) "
    "AND (%s::text IS NULL OR kind = %s) "
    "AND (%s::date IS NULL OR business_date >= %s) AND (%s::date IS NULL OR business_date <= %s) "
    "AND (%s::text IS NULL OR strpos(actor, %s) > 0)")
FILTER_SQLITE = (
    "(? IS NULL OR community_code = ?) AND (? IS NULL OR unit_key = ?) "
    "AND (? IS NULL OR kind = ?) AND (? IS NULL OR business_date >= ?) "
    "AND (? IS NULL OR business_date <= ?) AND (? IS NULL OR instr(actor, ?) > 0)")
_ENTRY_FILTER_PG = f"notification_id > %s AND {FILTER_PG} ORDER BY notification_id LIMIT %s"
_ENTRY_FILTER_SQLITE = f"notification_id > ? AND {FILTER_SQLITE} ORDER BY notification_id LIMIT ?"


def sqlite_params(audit_filter: AuditFilter) -> list[Any]:
    """The filter's parameters as SQLite compares them: dates as ISO text."""
    return [None if v is None else v.isoformat() if isinstance(v, date) else v
            for v in audit_filter.params()]


_LIST_VOTES_PG = (
    "SELECT community_code, vote_reference, vote_id FROM {} "
    "WHERE (%s::text IS NULL OR community_code = %s) "
    "AND (community_code, vote_reference) > (%s, %s) "
    "ORDER BY community_code, vote_reference LIMIT %s")
_LIST_VOTES_SQLITE = (
    "SELECT community_code, vote_reference, vote_id FROM {} "
    "WHERE (? IS NULL OR community_code = ?) AND (community_code, vote_reference) > (?, ?) "
    "ORDER BY community_code, vote_reference LIMIT ?")


# The entries' indexes for the audit pages (by community, by unit): name suffix, columns.
_ENTRY_INDEXES = (("_community", "community_code, notification_id"),
                  ("_unit", "community_code, unit_key, notification_id"))


def _insert_sql(columns: Sequence[Column]) -> str:
    return f"INSERT INTO {{}} ({names(columns)}) SELECT * FROM {unnest(columns)}"


def _select_sql(columns: Sequence[Column]) -> str:
    """The rows whose key (the first column) is one of an array's."""
    key = columns[0]
    return f"SELECT {names(columns)} FROM {{}} WHERE {key.name} = ANY({key.type.array_parameter})"


def _key_rows(items: dict[Any, Any]) -> list[tuple[Any, ...]]:
    """A lookup dict's items as table rows: the key, then the named tuple's fields."""
    return [(key, *value) for key, value in items.items()]


class AuditTables:
    """The audit view's tables and its entries' columns, on either store. The city's audit
    (``projections.city_audit``) keeps tables of its own, its entries keyed by shard and
    position."""

    view_name = VIEW_NAME
    entries_table: ClassVar[str] = ENTRIES
    units_table: ClassVar[str] = UNITS
    votes_table: ClassVar[str] = VOTES
    authorities_table: ClassVar[str] = AUTHORITIES
    entry_columns: ClassVar[tuple[Column, ...]] = ENTRY_COLUMNS
    entry_indexes: ClassVar[tuple[tuple[str, str], ...]] = _ENTRY_INDEXES
    view_tables: ClassVar[tuple[tuple[str, str], ...]] = (
        (ENTRIES, "notification_id"), (UNITS, "unit_id"), (VOTES, "vote_id"),
        (AUTHORITIES, "reference"))

    @classmethod
    def entries_definition(cls, *, sqlite: bool = False) -> str:
        """The entries table's columns and key, in a CREATE TABLE."""
        return definitions(cls.entry_columns, sqlite=sqlite)

    def entry_values(self, batch: AuditBatch,
                     rows: list[_Entry]) -> Iterable[Sequence[Any]]:
        """A batch's entry rows as the entries table takes them (the city's add a shard)."""
        return rows


class PostgresAuditRecorder(AuditTables, PostgresViewRecorder[AuditBatch]):
    known_units: dict[int, UnitPlace]  # by UUID.int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.known_units = {}
        super().__init__(*args, **kwargs)

    def drop(self) -> None:
        self.known_units.clear()
        super().drop()

    def view_create_statements(self) -> list[Composed]:
        entries, units = self.table(self.entries_table), self.table(self.units_table)
        votes, authorities = self.table(self.votes_table), self.table(self.authorities_table)
        # COPY (binary) writes a batch's rows several times faster than INSERT ... unnest.
        self.copy_entries_statement = SQL(
            f"COPY {{}} ({names(self.entry_columns)}) FROM STDIN (FORMAT BINARY)"
        ).format(entries)
        self.insert_units_statement = SQL(_insert_sql(UNIT_COLUMNS)).format(units)
        self.insert_votes_statement = SQL(_insert_sql(VOTE_COLUMNS)).format(votes)
        self.insert_authorities_statement = SQL(_insert_sql(AUTHORITY_COLUMNS)).format(
            authorities)
        self.select_units_statement = SQL(_select_sql(UNIT_COLUMNS)).format(units)
        self.select_votes_statement = SQL(_select_sql(VOTE_COLUMNS)).format(votes)
        self.select_authorities_statement = SQL(_select_sql(AUTHORITY_COLUMNS)).format(
            authorities)
        self.select_entries_statement = SQL(
            f"SELECT {names(ENTRY_COLUMNS)} FROM {{}} WHERE " + _ENTRY_FILTER_PG
        ).format(entries)
        self.select_listed_votes_statement = SQL(_LIST_VOTES_PG).format(votes)
        return [
            SQL(f"CREATE TABLE IF NOT EXISTS {{}} ({self.entries_definition()})"
                ).format(entries),
            *(SQL(f"CREATE TABLE IF NOT EXISTS {{}} ({definitions(columns)})").format(table)
              for table, columns in ((units, UNIT_COLUMNS), (votes, VOTE_COLUMNS),
                                     (authorities, AUTHORITY_COLUMNS))),
        ]

    def view_index_statements(self) -> list[tuple[str, Composed]]:
        name = self.entries_table
        entries = self.table(name)
        return [(name + suffix, SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                    Identifier(name + suffix), entries, SQL(columns)))
                for suffix, columns in self.entry_indexes]

    def _write_batch(self, curs: Cursor[DictRow], batch: AuditBatch) -> None:
        register_array_dumpers(curs)
        self._insert(curs, self.insert_units_statement, UNIT_COLUMNS, _key_rows(batch.units))
        self._insert(curs, self.insert_votes_statement, VOTE_COLUMNS, _key_rows(batch.votes))
        self._insert(curs, self.insert_authorities_statement, AUTHORITY_COLUMNS,
                     list(batch.authorities.items()))
        unit_ids, vote_ids, references = _missing(batch)
        # A unit's community and key never change: remember them between batches (bounded),
        # which spares most batches a look-up round trip.
        known = self.known_units
        units: dict[int, UnitPlace] = {}
        unknown = []
        for u in unit_ids:
            found = known.get(u)
            if found is None:
                unknown.append(u)
            else:
                units[u] = found
        looked_up = {r["unit_id"].int: UnitPlace(intern(r["community_code"]),
                                                 intern(r["unit_key"]))
                     for r in self._select(curs, self.select_units_statement, UNIT_ID, unknown)}
        units.update(looked_up)
        remember(known, batch.units, KNOWN_UNITS_MAX)
        remember(known, looked_up, KNOWN_UNITS_MAX)
        votes = {r["vote_id"]: _named(VoteFacts, r)
                 for r in self._select(curs, self.select_votes_statement, VOTE_ID, vote_ids)}
        authorities = {r["reference"]: r["authority"]
                       for r in self._select(curs, self.select_authorities_statement, REFERENCE,
                                             references)}
        rows = _resolve(batch, units, votes, authorities)
        if rows:
            with curs.copy(self.copy_entries_statement) as copy:
                copy.set_types([c.type.name for c in self.entry_columns])
                for row in self.entry_values(batch, rows):
                    copy.write_row(row)

    @staticmethod
    def _insert(curs: Cursor[DictRow], statement: Composed, columns: Sequence[Column],
                rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            curs.execute(statement, arrays(columns, transposed(rows, len(columns))),
                         prepare=True, binary=True)

    @staticmethod
    def _select(curs: Cursor[DictRow], statement: Composed, key: Column,
                keys: Sequence[Any]) -> list[DictRow]:
        if not keys:
            return []
        curs.execute(statement, arrays([key], [keys]), prepare=True, binary=True)
        return curs.fetchall()

    @retry_if_lost
    def select_entries(self, audit_filter: AuditFilter, after: int,
                       limit: int) -> list[AuditEntry]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_entries_statement, (after, *audit_filter.params(), limit))
            return [AuditEntry(**row) for row in curs.fetchall()]

    def select_votes(self, community: str | None, after: tuple[str, str],
                     limit: int) -> list[ListedVote]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_listed_votes_statement,
                         (community, community, *after, limit))
            return [_named(ListedVote, row) for row in curs.fetchall()]


class SQLiteAuditRecorder(AuditTables, SQLiteViewRecorder[AuditBatch]):

    def view_create_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.entries_table} "
            f"({self.entries_definition(sqlite=True)})",
            *(f"CREATE TABLE IF NOT EXISTS {table} ({definitions(columns, sqlite=True)})"
              for table, columns in ((self.units_table, UNIT_COLUMNS),
                                     (self.votes_table, VOTE_COLUMNS),
                                     (self.authorities_table, AUTHORITY_COLUMNS))),
        ]

    def view_index_statements(self) -> list[tuple[str, str]]:
        name = self.entries_table
        return [(name + suffix, f"CREATE INDEX IF NOT EXISTS {name}{suffix} "
                 f"ON {name} ({columns})") for suffix, columns in self.entry_indexes]

    def _write_batch(self, c: SQLiteCursor, batch: AuditBatch) -> None:
        units_table, votes_table = self.units_table, self.votes_table
        authorities_table = self.authorities_table
        self._insert(c, units_table, UNIT_COLUMNS,
                     [(f"{k:032x}", *v) for k, v in batch.units.items()])
        self._insert(c, votes_table, VOTE_COLUMNS,
                     [(k.hex, *v) for k, v in batch.votes.items()])
        self._insert(c, authorities_table, AUTHORITY_COLUMNS, list(batch.authorities.items()))
        unit_ids, vote_ids, references = _missing(batch)
        units = {int(r["unit_id"], 16): _named(UnitPlace, r) for r in self._select(
            c, units_table, UNIT_COLUMNS, [f"{u:032x}" for u in unit_ids])}
        votes = {UUID(r["vote_id"]): _named(VoteFacts, r) for r in self._select(
            c, votes_table, VOTE_COLUMNS, [v.hex for v in vote_ids])}
        authorities = {r["reference"]: r["authority"] for r in self._select(
            c, authorities_table, AUTHORITY_COLUMNS, references)}
        columns = self.entry_columns
        rows = _resolve(batch, units, votes, authorities)
        self._insert(c, self.entries_table, columns,
                     [to_sqlite(row, columns) for row in self.entry_values(batch, rows)])

    @staticmethod
    def _insert(c: SQLiteCursor, table: str, columns: Sequence[Column],
                rows: Sequence[Sequence[Any]]) -> None:
        c.executemany(f"INSERT INTO {table} ({names(columns)}) VALUES ({placeholders(columns)})",
                      rows)

    @staticmethod
    def _select(c: SQLiteCursor, table: str, columns: Sequence[Column],
                keys: Sequence[str]) -> list[Any]:
        """The rows whose key (the first column) is one of ``keys``."""
        rows: list[Any] = []
        for start in range(0, len(keys), 500):  # under SQLite's bound-variable limit
            chunk = keys[start:start + 500]
            c.execute(f"SELECT {names(columns)} FROM {table} WHERE {columns[0].name} IN "
                      f"({','.join('?' * len(chunk))})", list(chunk))
            rows += c.fetchall()
        return rows

    def select_entries(self, audit_filter: AuditFilter, after: int,
                       limit: int) -> list[AuditEntry]:
        params = sqlite_params(audit_filter)
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT {names(ENTRY_COLUMNS)} FROM {ENTRIES} "
                      f"WHERE {_ENTRY_FILTER_SQLITE}", (after, *params, limit))
            rows = c.fetchall()
        return [AuditEntry(**from_sqlite(row, ENTRY_COLUMNS)) for row in rows]

    def select_votes(self, community: str | None, after: tuple[str, str],
                     limit: int) -> list[ListedVote]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(_LIST_VOTES_SQLITE.format(self.votes_table),
                      (community, community, *after, limit))
            rows = c.fetchall()
        return [ListedVote(r["community_code"], r["vote_reference"], UUID(r["vote_id"]))
                for r in rows]


AuditProjection.postgres_recorder = PostgresAuditRecorder
AuditProjection.sqlite_recorder = SQLiteAuditRecorder
