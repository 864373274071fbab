"""The balance view: every unit sub-account's and every fund's money to date (F1, F4, F10).

One row per unit sub-account (deposits, withdrawals, income, refunds, balance, the F4
re-raise flag) and one row per community with its place in the city (district, street),
from ``Community.Registered``: unit rows are joined to it, because a registration saves the
units before their community, so a unit's district is not known when its row is made. Fund
totals are sums over the unit rows, so they can never disagree with them.

Each batch adds up its events per unit in memory, then writes each touched unit once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, NamedTuple, Protocol, cast

from eventsourcing.persistence import ProgrammingError, Tracking
from eventsourcing.sqlite import SQLiteCursor
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from domain.community import Community
from domain.ids import unit_key
from domain.unit_account import UnitAccount
from ledger.persistence.connection_loss import retry_if_lost
from ledger.persistence.pg_binary import (
    BIGINT,
    BOOLEAN,
    TEXT,
    UUID_INT,
    register_array_dumpers,
)
from ledger.persistence.transcoder import EventState
from projections.columns import (
    Column,
    arrays,
    columns_getter,
    definitions,
    from_sqlite,
    in_chunks,
    names,
    placeholders,
    transposed,
    unnest,
)
from projections.recorders import PostgresViewRecorder, SQLiteViewRecorder
from projections.runner import BatchingProjection, Handler, event_topic

VIEW_NAME = "balance"
COMMUNITIES = "balance_communities"
UNITS = "balance_units"


class CommunityRow(NamedTuple):
    community_code: str
    name: str
    district: str
    street: str


COMMUNITY_COLUMNS = (Column("community_code", TEXT), Column("name", TEXT),
                     Column("district", TEXT), Column("street", TEXT))


class UnitRegistration(NamedTuple):
    """A unit row's columns set once, by its registration."""

    community_code: str
    building: str
    unit: str
    unit_key: str
    area_m2_hundredths: int


REGISTRATION_COLUMNS = (Column("community_code", TEXT), Column("building", TEXT),
                        Column("unit", TEXT), Column("unit_key", TEXT),
                        Column("area_m2_hundredths", BIGINT))


@dataclass(slots=True)
class UnitDelta:
    """A unit's money in one batch: each field is added to its row's column of that name."""

    deposits_fen: int = 0
    withdrawals_fen: int = 0
    income_fen: int = 0
    refunds_fen: int = 0
    balance_fen: int = 0


_NO_DELTA = UnitDelta()  # read, never changed: the delta of a unit without one
_DELTA_FIELDS = tuple(f.name for f in fields(UnitDelta))
_delta_columns = columns_getter(_DELTA_FIELDS)

# How a batch's value for a column (``{new}``) meets the row's stored one (``{old}``).
ADDED = "{old} + {new}"
LATEST = "coalesce({new}, {old})"  # the batch's, when it has one
EITHER = "{old} OR {new}"


@dataclass(frozen=True)
class ChangedColumn:
    """A unit row's column that later events change, and how a batch's change merges in."""

    column: Column
    merge: str

    def assignment(self, old_prefix: str, new: str) -> str:
        """``name = <merge>`` for an UPDATE, the stored value named with ``old_prefix``."""
        name = self.column.name
        return f"{name} = " + self.merge.format(old=old_prefix + name, new=new)


CHANGED_COLUMNS: tuple[ChangedColumn, ...] = (
    *(ChangedColumn(Column(name, BIGINT), ADDED) for name in _DELTA_FIELDS),
    ChangedColumn(Column("first_deposit_fen", BIGINT, nullable=True), LATEST),
    ChangedColumn(Column("reraise_demanded", BOOLEAN), LATEST),
    ChangedColumn(Column("closed", BOOLEAN), EITHER),
)
UNIT_ID = Column("unit_id", UUID_INT)
UNIT_COLUMNS = (UNIT_ID, *REGISTRATION_COLUMNS, *(c.column for c in CHANGED_COLUMNS))


@dataclass
class BalanceBatch:
    communities: list[CommunityRow] = field(default_factory=list)
    # Units are named by their id's UUID.int: UUID's __hash__, __eq__ and __lt__ are Python
    # code, and a batch looks each unit up several times.
    registered: dict[int, UnitRegistration] = field(default_factory=dict)
    deltas: dict[int, UnitDelta] = field(default_factory=dict)
    first_deposits: dict[int, int] = field(default_factory=dict)
    reraise: dict[int, bool] = field(default_factory=dict)
    closed: set[int] = field(default_factory=set)

    def delta(self, unit_id: int) -> UnitDelta:
        found = self.deltas.get(unit_id)
        if found is None:
            found = self.deltas[unit_id] = UnitDelta()
        return found

    def touched(self) -> list[int]:
        """Units with a change other than their registration, in a fixed order."""
        ids = set(self.deltas) | set(self.first_deposits) | set(self.reraise) | self.closed
        return sorted(ids)

    def change_columns(self, unit_ids: list[int]) -> list[Sequence[Any]]:
        """change() of each unit, as one column per CHANGED_COLUMNS entry; a dict or set
        that is empty in this batch is not consulted for each unit."""
        n = len(unit_ids)
        deltas = [d or _NO_DELTA for d in map(self.deltas.get, unit_ids)]
        by_name: dict[str, Sequence[Any]] = dict(zip(_DELTA_FIELDS, _delta_columns(deltas),
                                                     strict=True))
        by_name["first_deposit_fen"] = (list(map(self.first_deposits.get, unit_ids))
                                        if self.first_deposits else [None] * n)
        by_name["reraise_demanded"] = (list(map(self.reraise.get, unit_ids)) if self.reraise
                                       else [None] * n)
        by_name["closed"] = (list(map(self.closed.__contains__, unit_ids)) if self.closed
                             else [False] * n)
        return [by_name[changed.column.name] for changed in CHANGED_COLUMNS]

    def change(self, unit_id: int) -> tuple[Any, ...]:
        """The unit's value for each of CHANGED_COLUMNS in this batch (None: unchanged)."""
        delta = self.deltas.get(unit_id) or _NO_DELTA
        by_name = {name: getattr(delta, name) for name in _DELTA_FIELDS}
        by_name.update(first_deposit_fen=self.first_deposits.get(unit_id),
                       reraise_demanded=self.reraise.get(unit_id),
                       closed=unit_id in self.closed)
        return tuple(by_name[changed.column.name] for changed in CHANGED_COLUMNS)


@dataclass(frozen=True)
class UnitBalance:
    community_code: str
    district: str
    street: str
    building: str
    unit: str
    unit_key: str
    area_m2_hundredths: int
    deposits_fen: int
    withdrawals_fen: int
    income_fen: int
    refunds_fen: int
    balance_fen: int
    first_deposit_fen: int | None
    reraise_demanded: bool
    closed: bool


@dataclass(frozen=True)
class FundBalance:
    community_code: str
    name: str
    district: str
    street: str
    units: int
    deposits_fen: int
    withdrawals_fen: int
    income_fen: int
    refunds_fen: int
    balance_fen: int
    reraise_demanded_units: int


class BalanceQueries(Protocol):
    """The queries both stores' balance recorders answer."""

    def select_units(self, *scope: str | None) -> list[UnitBalance]: ...

    def select_funds(self, *scope: str | None) -> list[FundBalance]: ...

    def select_names(self, codes: list[str]) -> dict[str, str]: ...


class BalanceProjection(BatchingProjection[BalanceBatch]):
    name = VIEW_NAME
    tracking_is_transient = True  # read during the call, never kept
    reads_state = True  # ids, codes and amounts: no event is built (a third of a rebuild)

    def new_batch(self) -> BalanceBatch:
        return BalanceBatch()

    def topic_handlers(self) -> dict[str, Handler]:
        return {
            event_topic(Community, "Registered"): self.process_community_registered,
            event_topic(UnitAccount, "Registered"): self.process_unit_registered,
            event_topic(UnitAccount, "FirstDepositPaid"): self.process_first_deposit,
            event_topic(UnitAccount, "ToppedUp"): self.process_topped_up,
            event_topic(UnitAccount, "IncomeCredited"): self.process_income,
            event_topic(UnitAccount, "WorksShareCharged"): self.process_works_share,
            event_topic(UnitAccount, "RefundedOnDestruction"): self.process_refund,
            event_topic(UnitAccount, "ReraiseDemanded"): self.process_reraise_demanded,
            event_topic(UnitAccount, "ReraiseSatisfied"): self.process_reraise_satisfied,
        }

    def process_community_registered(self, event: EventState, tracking: Tracking) -> None:
        state = event.state
        self.batch.communities.append(
            CommunityRow(state["code"], state["name"], state["district"], state["street"]))

    def process_unit_registered(self, event: EventState, tracking: Tracking) -> None:
        state = event.state
        self.batch.registered[event.originator_id.int] = UnitRegistration(
            state["community_code"], state["building"], state["unit"],
            unit_key(state["building"], state["unit"]), state["area_m2_hundredths"])

    def process_first_deposit(self, event: EventState, tracking: Tracking) -> None:
        amount = event.state["amount_fen"]
        delta = self.batch.delta(event.originator_id.int)
        delta.deposits_fen += amount
        delta.balance_fen += amount
        self.batch.first_deposits[event.originator_id.int] = amount

    def process_topped_up(self, event: EventState, tracking: Tracking) -> None:
        amount = event.state["amount_fen"]
        delta = self.batch.delta(event.originator_id.int)
        delta.deposits_fen += amount
        delta.balance_fen += amount

    def process_income(self, event: EventState, tracking: Tracking) -> None:
        amount = event.state["amount_fen"]
        delta = self.batch.delta(event.originator_id.int)
        delta.income_fen += amount
        delta.balance_fen += amount

    def process_works_share(self, event: EventState, tracking: Tracking) -> None:
        amount = event.state["amount_fen"]
        delta = self.batch.delta(event.originator_id.int)
        delta.withdrawals_fen += amount
        delta.balance_fen -= amount

    def process_refund(self, event: EventState, tracking: Tracking) -> None:
        amount = event.state["amount_fen"]
        delta = self.batch.delta(event.originator_id.int)
        delta.refunds_fen += amount
        delta.balance_fen -= amount
        self.batch.closed.add(event.originator_id.int)

    def process_reraise_demanded(self, event: EventState, tracking: Tracking) -> None:
        self.batch.reraise[event.originator_id.int] = True

    def process_reraise_satisfied(self, event: EventState, tracking: Tracking) -> None:
        self.batch.reraise[event.originator_id.int] = False

    # -- queries -----------------------------------------------------------------------------

    def units(self, *, community: str | None = None, street: str | None = None,
              district: str | None = None) -> list[UnitBalance]:
        """Unit sub-accounts in a community, street or district (all when none is given)."""
        queries = cast(BalanceQueries, self.view)
        return queries.select_units(community, street, district)

    def community_names(self, codes: Iterable[str]) -> dict[str, str]:
        """The names of these communities (those the view holds), by code."""
        wanted = sorted(set(codes))
        return cast(BalanceQueries, self.view).select_names(wanted) if wanted else {}

    def funds(self, *, community: str | None = None, street: str | None = None,
              district: str | None = None) -> list[FundBalance]:
        """Per fund (community) totals in a community, street or district."""
        queries = cast(BalanceQueries, self.view)
        return queries.select_funds(community, street, district)


# The SELECTs name the read models' fields: a unit row's own, but its community's place.
_PLACE = {"district", "street"}
_UNIT_SELECT = ", ".join(("c." if f.name in _PLACE else "u.") + f.name
                         for f in fields(UnitBalance))
_FUND_SELECT = ", ".join([
    "c.community_code, c.name, c.district, c.street, count(u.unit_id) AS units",
    *(f"CAST(coalesce(sum(u.{name}), 0) AS bigint) AS {name}" for name in _DELTA_FIELDS),
    "CAST(coalesce(sum(CASE WHEN u.reraise_demanded THEN 1 ELSE 0 END), 0) AS bigint) "
    "AS reraise_demanded_units"])
# A filter left as None matches everything. PostgreSQL must be told the parameters' type.
_SCOPE = ("(%s::text IS NULL OR c.community_code = %s) AND (%s::text IS NULL OR c.street = %s) "
          "AND (%s::text IS NULL OR c.district = %s)")
_SCOPE_SQLITE = ("(? IS NULL OR c.community_code = ?) AND (? IS NULL OR c.street = ?) "
                 "AND (? IS NULL OR c.district = ?)")


def _scope_params(community: str | None, street: str | None,
                  district: str | None) -> tuple[str | None, ...]:
    return (community, community, street, street, district, district)


# Flags that a batch may leave unset (None) where an existing row keeps its own value:
# a new row starts them false.
_STARTS_FALSE = frozenset(changed.column.name for changed in CHANGED_COLUMNS
                          if changed.merge is LATEST and not changed.column.nullable)


def _new_unit_rows(batch: BalanceBatch) -> list[tuple[Any, ...]]:
    """Units registered in this batch, with the batch's later changes already folded in,
    in UNIT_COLUMNS order."""
    return [(unit_id, *registration,
             *(bool(value) if changed.column.name in _STARTS_FALSE else value
               for changed, value in zip(CHANGED_COLUMNS, batch.change(unit_id), strict=True)))
            for unit_id, registration in batch.registered.items()]


def _new_unit_columns(batch: BalanceBatch) -> list[Sequence[Any]]:
    """_new_unit_rows as columns (for PostgreSQL's unnest); the batch has registered units."""
    unit_ids = list(batch.registered)
    changes = batch.change_columns(unit_ids)
    return [unit_ids,
            *transposed(list(batch.registered.values()), len(REGISTRATION_COLUMNS)),
            *(list(map(bool, values)) if changed.column.name in _STARTS_FALSE else values
              for changed, values in zip(CHANGED_COLUMNS, changes, strict=True))]


def _changes(column: ChangedColumn, values: Sequence[Any]) -> bool:
    """Whether a batch's values for a column change any row: adding zero, a LATEST
    without a value and OR-ing false leave a row as it is."""
    if column.merge is LATEST:
        return values.count(None) != len(values)
    return any(values)


def _check_updated(updated: int, expected: int) -> None:
    if updated != expected:
        msg = f"balance view: {expected - updated} unit(s) changed before they were registered"
        raise ProgrammingError(msg)


class PostgresBalanceRecorder(PostgresViewRecorder[BalanceBatch]):
    view_name = VIEW_NAME
    # The planner cannot see how short a batch's unnest is and hash-joins it against every
    # unit of the city: a scan per batch that grows with the city. A batch touches at most a
    # thousand units, so each is looked up by its key instead.
    transaction_settings: ClassVar[dict[str, str]] = {
        **PostgresViewRecorder.transaction_settings,
        "enable_hashjoin": "off", "enable_mergejoin": "off"}
    view_tables: ClassVar[tuple[tuple[str, str], ...]] = (
        (COMMUNITIES, "community_code"), (UNITS, "community_code,unit_key"))

    def view_create_statements(self) -> list[Composed]:
        communities, units = self.table(COMMUNITIES), self.table(UNITS)
        self.insert_communities_statement = SQL(
            f"INSERT INTO {{}} ({names(COMMUNITY_COLUMNS)}) "
            f"SELECT * FROM {unnest(COMMUNITY_COLUMNS)}").format(communities)
        self.insert_units_statement = SQL(
            f"INSERT INTO {{}} ({names(UNIT_COLUMNS)}) SELECT * FROM {unnest(UNIT_COLUMNS)}"
        ).format(units)
        self.update_statements: dict[tuple[ChangedColumn, ...], Composed] = {}
        self.select_units_statement = SQL(
            "SELECT " + _UNIT_SELECT + " FROM {} AS u JOIN {} AS c USING (community_code) "
            "WHERE " + _SCOPE + " ORDER BY u.community_code, u.unit_key"
        ).format(units, communities)
        self.select_funds_statement = SQL(
            "SELECT " + _FUND_SELECT + " FROM {} AS c LEFT JOIN {} AS u USING (community_code) "
            "WHERE " + _SCOPE + " GROUP BY c.community_code ORDER BY c.community_code"
        ).format(communities, units)
        self.select_names_statement = SQL(
            "SELECT community_code, name FROM {} WHERE community_code = ANY(%s)"
        ).format(communities)
        return [
            SQL(f"CREATE TABLE IF NOT EXISTS {{}} ({definitions(COMMUNITY_COLUMNS)})"
                ).format(communities),
            SQL(f"CREATE TABLE IF NOT EXISTS {{}} ({definitions(UNIT_COLUMNS)}) "
                # Room on each page for the row's next version: a batch's UPDATE then stays
                # on the page (a HOT update) and leaves both indexes alone.
                "WITH (fillfactor = 50)").format(units),
        ]

    def view_index_statements(self) -> list[tuple[str, Composed]]:
        communities, units = self.table(COMMUNITIES), self.table(UNITS)
        return [(name, SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                    Identifier(name), table, SQL(columns)))
                for name, table, columns in (
                    (COMMUNITIES + "_place", communities, "district, street"),
                    (UNITS + "_community", units, "community_code, unit_key"))]

    def _write_batch(self, curs: Cursor[DictRow], batch: BalanceBatch) -> None:
        # Each column goes as a binary array built in C (pg_binary): psycopg's own list
        # dumping, an element at a time in Python, was half of a batch's commit CPU.
        register_array_dumpers(curs)
        if batch.communities:
            curs.execute(self.insert_communities_statement,
                         arrays(COMMUNITY_COLUMNS,
                                transposed(batch.communities, len(COMMUNITY_COLUMNS))),
                         binary=True)
        if batch.registered:
            curs.execute(self.insert_units_statement,
                         arrays(UNIT_COLUMNS, _new_unit_columns(batch)),
                         prepare=True, binary=True)
        touched, registered = batch.touched(), batch.registered
        changed = [u for u in touched if u not in registered] if registered else touched
        if changed:
            # Only the columns this batch changes: a page of top-ups sends and sets two
            # columns, not eight (a quarter of the UPDATE's time on the server).
            columns = [(column, values) for column, values in zip(
                CHANGED_COLUMNS, batch.change_columns(changed), strict=True)
                if _changes(column, values)] or [(CHANGED_COLUMNS[0], [0] * len(changed))]
            statement = self._update_statement(tuple(column for column, _ in columns))
            curs.execute(statement,
                         arrays((UNIT_ID, *(column.column for column, _ in columns)),
                                [changed, *(values for _, values in columns)]),
                         prepare=True, binary=True)
            _check_updated(curs.rowcount, len(changed))

    def _update_statement(self, columns: tuple[ChangedColumn, ...]) -> Composed:
        """``UPDATE`` of the unit rows from an unnest of the unit ids and these columns."""
        statement = self.update_statements.get(columns)
        if statement is None:
            unnested = (UNIT_ID, *(changed.column for changed in columns))
            statement = self.update_statements[columns] = SQL(
                "UPDATE {} AS u SET "
                + ", ".join(changed.assignment("u.", "d." + changed.column.name)
                            for changed in columns)
                + f" FROM {unnest(unnested)} AS d({names(unnested)}) "
                "WHERE u.unit_id = d.unit_id"
            ).format(self.table(UNITS))
        return statement

    @retry_if_lost
    def select_units(self, *scope: str | None) -> list[UnitBalance]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_units_statement, _scope_params(*scope))
            return [UnitBalance(**row) for row in curs.fetchall()]

    @retry_if_lost
    def select_funds(self, *scope: str | None) -> list[FundBalance]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_funds_statement, _scope_params(*scope))
            return [FundBalance(**row) for row in curs.fetchall()]

    def select_names(self, codes: list[str]) -> dict[str, str]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_names_statement, (codes,))
            return {row["community_code"]: row["name"] for row in curs.fetchall()}


class SQLiteBalanceRecorder(SQLiteViewRecorder[BalanceBatch]):
    view_name = VIEW_NAME
    view_tables: ClassVar[tuple[tuple[str, str], ...]] = (
        (COMMUNITIES, "community_code"), (UNITS, "community_code, unit_key"))

    def view_create_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {COMMUNITIES} "
            f"({definitions(COMMUNITY_COLUMNS, sqlite=True)})",
            f"CREATE TABLE IF NOT EXISTS {UNITS} ({definitions(UNIT_COLUMNS, sqlite=True)})",
        ]

    def view_index_statements(self) -> list[tuple[str, str]]:
        return [(f"{COMMUNITIES}_place", f"CREATE INDEX IF NOT EXISTS {COMMUNITIES}_place "
                 f"ON {COMMUNITIES} (district, street)"),
                (f"{UNITS}_community", f"CREATE INDEX IF NOT EXISTS {UNITS}_community "
                 f"ON {UNITS} (community_code, unit_key)")]

    def _write_batch(self, c: SQLiteCursor, batch: BalanceBatch) -> None:
        if batch.communities:
            c.executemany(f"INSERT INTO {COMMUNITIES} ({names(COMMUNITY_COLUMNS)}) "
                          f"VALUES ({placeholders(COMMUNITY_COLUMNS)})", batch.communities)
        new_rows = [(f"{row[0]:032x}", *row[1:]) for row in _new_unit_rows(batch)]
        if new_rows:
            c.executemany(f"INSERT INTO {UNITS} ({names(UNIT_COLUMNS)}) "
                          f"VALUES ({placeholders(UNIT_COLUMNS)})", new_rows)
        changed = [u for u in batch.touched() if u not in batch.registered]
        if changed:
            c.executemany(
                f"UPDATE {UNITS} SET "
                + ", ".join(changed_column.assignment("", "?")
                            for changed_column in CHANGED_COLUMNS)
                + " WHERE unit_id = ?",
                [(*batch.change(u), f"{u:032x}") for u in changed])
            _check_updated(c.sqlite_cursor.rowcount, len(changed))

    def _select(self, statement: str, scope: Sequence[str | None]) -> list[Any]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, _scope_params(*scope))
            return list(c.fetchall())

    def select_units(self, *scope: str | None) -> list[UnitBalance]:
        rows = self._select(
            f"SELECT {_UNIT_SELECT} FROM {UNITS} AS u JOIN {COMMUNITIES} AS c "
            f"USING (community_code) WHERE {_SCOPE_SQLITE} ORDER BY u.community_code, u.unit_key",
            scope)
        return [UnitBalance(**from_sqlite(row, UNIT_COLUMNS)) for row in rows]

    def select_funds(self, *scope: str | None) -> list[FundBalance]:
        rows = self._select(
            f"SELECT {_FUND_SELECT} FROM {COMMUNITIES} AS c LEFT JOIN {UNITS} AS u "
            f"USING (community_code) WHERE {_SCOPE_SQLITE} GROUP BY c.community_code "
            "ORDER BY c.community_code", scope)
        return [FundBalance(**row) for row in rows]

    def select_names(self, codes: list[str]) -> dict[str, str]:
        names: dict[str, str] = {}
        with self.datastore.transaction(commit=False) as c:
            for chunk in in_chunks(codes):
                c.execute(f"SELECT community_code, name FROM {COMMUNITIES} WHERE community_code "
                          f"IN ({','.join('?' * len(chunk))})", chunk)
                names.update({row["community_code"]: row["name"] for row in c.fetchall()})
        return names


BalanceProjection.postgres_recorder = PostgresBalanceRecorder
BalanceProjection.sqlite_recorder = SQLiteBalanceRecorder
