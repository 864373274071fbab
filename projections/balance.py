"""The balance view: every unit sub-account's and every fund's money to date (F1, F4, F10).

One row per unit sub-account (deposits, withdrawals, income, refunds, balance, the F4
re-raise flag) and one row per community with its place in the city (district, street),
from ``Community.Registered``: unit rows are joined to it, because a registration saves the
units before their community, so a unit's district is not known when its row is made. Fund
totals are sums over the unit rows, so they can never disagree with them.

Each batch adds up its events per unit in memory, then writes each touched unit once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, cast

from eventsourcing.persistence import ProgrammingError, Tracking
from eventsourcing.sqlite import SQLiteCursor
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from domain.community import Community
from domain.ids import unit_key
from domain.unit_account import UnitAccount
from ledger.persistence.pg_binary import (
    PgArray,
    bool_array,
    int8_array,
    register_array_dumpers,
    text_array,
    uuid_int_array,
)
from projections.recorders import PostgresViewRecorder, SQLiteViewRecorder
from projections.runner import BatchingProjection, Handler, event_topic

VIEW_NAME = "balance"
COMMUNITIES = "balance_communities"
UNITS = "balance_units"

# Positions in a unit's delta list.
DEPOSITS, WITHDRAWALS, INCOME, REFUNDS, BALANCE = range(5)


@dataclass
class BalanceBatch:
    communities: list[tuple[str, str, str, str]] = field(default_factory=list)
    # Units are named by their id's UUID.int: UUID's __hash__, __eq__ and __lt__ are Python
    # code, and a batch looks each unit up several times. unit -> (community, building,
    # unit, unit key, area):
    registered: dict[int, tuple[str, str, str, str, int]] = field(default_factory=dict)
    deltas: dict[int, list[int]] = field(default_factory=dict)
    first_deposits: dict[int, int] = field(default_factory=dict)
    reraise: dict[int, bool] = field(default_factory=dict)
    closed: set[int] = field(default_factory=set)

    def delta(self, unit_id: int) -> list[int]:
        found = self.deltas.get(unit_id)
        if found is None:
            found = self.deltas[unit_id] = [0, 0, 0, 0, 0]
        return found

    def touched(self) -> list[int]:
        """Units with a change other than their registration, in a fixed order."""
        ids = set(self.deltas) | set(self.first_deposits) | set(self.reraise) | self.closed
        return sorted(ids)

    def change_columns(self, unit_ids: list[int]) -> list[Sequence[Any]]:
        """change() of each unit, as its eight columns; a dict or set that is empty in this
        batch is not consulted for each unit."""
        n = len(unit_ids)
        zero = (0, 0, 0, 0, 0)
        columns: list[Sequence[Any]] = list(zip(
            *[d or zero for d in map(self.deltas.get, unit_ids)], strict=True)) or [()] * 5
        columns.append(list(map(self.first_deposits.get, unit_ids)) if self.first_deposits
                       else [None] * n)
        columns.append(list(map(self.reraise.get, unit_ids)) if self.reraise else [None] * n)
        columns.append(list(map(self.closed.__contains__, unit_ids)) if self.closed
                       else [False] * n)
        return columns

    def change(self, unit_id: int) -> tuple[int, int, int, int, int, int | None, bool | None,
                                              bool]:
        d = self.deltas.get(unit_id) or [0, 0, 0, 0, 0]
        return (d[DEPOSITS], d[WITHDRAWALS], d[INCOME], d[REFUNDS], d[BALANCE],
                self.first_deposits.get(unit_id), self.reraise.get(unit_id),
                unit_id in self.closed)


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

    def select_units(self, *scope: str | None) -> list[tuple[Any, ...]]: ...

    def select_funds(self, *scope: str | None) -> list[tuple[Any, ...]]: ...


class BalanceProjection(BatchingProjection[BalanceBatch]):
    name = VIEW_NAME

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

    def process_community_registered(self, event: Any, tracking: Tracking) -> None:
        self.batch.communities.append((event.code, event.name, event.district, event.street))

    def process_unit_registered(self, event: Any, tracking: Tracking) -> None:
        self.batch.registered[event.originator_id.int] = (
            event.community_code, event.building, event.unit,
            unit_key(event.building, event.unit), event.area_m2_hundredths)

    def process_first_deposit(self, event: Any, tracking: Tracking) -> None:
        delta = self.batch.delta(event.originator_id.int)
        delta[DEPOSITS] += event.amount_fen
        delta[BALANCE] += event.amount_fen
        self.batch.first_deposits[event.originator_id.int] = event.amount_fen

    def process_topped_up(self, event: Any, tracking: Tracking) -> None:
        delta = self.batch.delta(event.originator_id.int)
        delta[DEPOSITS] += event.amount_fen
        delta[BALANCE] += event.amount_fen

    def process_income(self, event: Any, tracking: Tracking) -> None:
        delta = self.batch.delta(event.originator_id.int)
        delta[INCOME] += event.amount_fen
        delta[BALANCE] += event.amount_fen

    def process_works_share(self, event: Any, tracking: Tracking) -> None:
        delta = self.batch.delta(event.originator_id.int)
        delta[WITHDRAWALS] += event.amount_fen
        delta[BALANCE] -= event.amount_fen

    def process_refund(self, event: Any, tracking: Tracking) -> None:
        delta = self.batch.delta(event.originator_id.int)
        delta[REFUNDS] += event.amount_fen
        delta[BALANCE] -= event.amount_fen
        self.batch.closed.add(event.originator_id.int)

    def process_reraise_demanded(self, event: Any, tracking: Tracking) -> None:
        self.batch.reraise[event.originator_id.int] = True

    def process_reraise_satisfied(self, event: Any, tracking: Tracking) -> None:
        self.batch.reraise[event.originator_id.int] = False

    # -- queries -----------------------------------------------------------------------------

    def units(self, *, community: str | None = None, street: str | None = None,
              district: str | None = None) -> list[UnitBalance]:
        """Unit sub-accounts in a community, street or district (all when none is given)."""
        queries = cast(BalanceQueries, self.view)
        return [UnitBalance(*row) for row in queries.select_units(community, street, district)]

    def funds(self, *, community: str | None = None, street: str | None = None,
              district: str | None = None) -> list[FundBalance]:
        """Per fund (community) totals in a community, street or district."""
        queries = cast(BalanceQueries, self.view)
        return [FundBalance(*row) for row in queries.select_funds(community, street, district)]


# Columns of a unit row after its key, in table order: the batch's change for that unit.
_UNIT_COLUMNS = ("deposits_fen", "withdrawals_fen", "income_fen", "refunds_fen", "balance_fen",
                 "first_deposit_fen", "reraise_demanded", "closed")
_UNIT_SELECT = (
    "u.community_code, c.district, c.street, u.building, u.unit, u.unit_key, "
    "u.area_m2_hundredths, u.deposits_fen, u.withdrawals_fen, u.income_fen, u.refunds_fen, "
    "u.balance_fen, u.first_deposit_fen, u.reraise_demanded, u.closed")
_FUND_SELECT = (
    "c.community_code, c.name, c.district, c.street, count(u.unit_id) AS units, "
    "CAST(coalesce(sum(u.deposits_fen), 0) AS bigint) AS deposits_fen, "
    "CAST(coalesce(sum(u.withdrawals_fen), 0) AS bigint) AS withdrawals_fen, "
    "CAST(coalesce(sum(u.income_fen), 0) AS bigint) AS income_fen, "
    "CAST(coalesce(sum(u.refunds_fen), 0) AS bigint) AS refunds_fen, "
    "CAST(coalesce(sum(u.balance_fen), 0) AS bigint) AS balance_fen, "
    "CAST(coalesce(sum(CASE WHEN u.reraise_demanded THEN 1 ELSE 0 END), 0) AS bigint) "
    "AS reraise_demanded_units")
# A filter left as None matches everything. PostgreSQL must be told the parameters' type.
_SCOPE = ("(%s::text IS NULL OR c.community_code = %s) AND (%s::text IS NULL OR c.street = %s) "
          "AND (%s::text IS NULL OR c.district = %s)")
_SCOPE_SQLITE = ("(? IS NULL OR c.community_code = ?) AND (? IS NULL OR c.street = ?) "
                 "AND (? IS NULL OR c.district = ?)")


def _scope_params(community: str | None, street: str | None,
                  district: str | None) -> tuple[str | None, ...]:
    return (community, community, street, street, district, district)


def _new_unit_rows(batch: BalanceBatch) -> list[tuple[Any, ...]]:
    """Units registered in this batch, with the batch's later changes already folded in."""
    rows = []
    for unit_id, (community, building, unit, key, area) in batch.registered.items():
        d, w, i, r, b, first, reraise, closed = batch.change(unit_id)
        rows.append((unit_id, community, building, unit, key, area, d, w, i, r, b, first,
                     bool(reraise), closed))
    return rows


def _new_unit_columns(batch: BalanceBatch) -> list[Sequence[Any]]:
    """_new_unit_rows as columns (for PostgreSQL's unnest); the batch has registered units."""
    unit_ids = list(batch.registered)
    *changes, reraise, closed = batch.change_columns(unit_ids)
    return [unit_ids, *zip(*batch.registered.values(), strict=True), *changes,
            list(map(bool, reraise)), closed]


# The array builders for the columns of _new_unit_columns and of BalanceBatch.change_columns.
_NEW_UNIT_COLUMNS: tuple[Callable[[Any], PgArray], ...] = (
    uuid_int_array, text_array, text_array, text_array, text_array, *(int8_array,) * 7,
    bool_array, bool_array)
_CHANGE_COLUMNS: tuple[Callable[[Any], PgArray], ...] = (*(int8_array,) * 6, bool_array,
                                                         bool_array)


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
            "INSERT INTO {} (community_code, name, district, street) "
            "SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[])"
        ).format(communities)
        self.insert_units_statement = SQL(
            "INSERT INTO {} SELECT * FROM unnest(%b::uuid[], %b::text[], %b::text[], "
            "%b::text[], %b::text[], %b::bigint[], %b::bigint[], %b::bigint[], %b::bigint[], "
            "%b::bigint[], %b::bigint[], %b::bigint[], %b::boolean[], %b::boolean[])"
        ).format(units)
        self.update_units_statement = SQL(
            "UPDATE {} AS u SET deposits_fen = u.deposits_fen + d.deposits, "
            "withdrawals_fen = u.withdrawals_fen + d.withdrawals, "
            "income_fen = u.income_fen + d.income, refunds_fen = u.refunds_fen + d.refunds, "
            "balance_fen = u.balance_fen + d.balance, "
            "first_deposit_fen = coalesce(d.first_deposit, u.first_deposit_fen), "
            "reraise_demanded = coalesce(d.reraise, u.reraise_demanded), "
            "closed = u.closed OR d.closed "
            "FROM unnest(%b::uuid[], %b::bigint[], %b::bigint[], %b::bigint[], %b::bigint[], "
            "%b::bigint[], %b::bigint[], %b::boolean[], %b::boolean[]) "
            "AS d(unit_id, deposits, withdrawals, income, refunds, balance, first_deposit, "
            "reraise, closed) WHERE u.unit_id = d.unit_id"
        ).format(units)
        self.select_units_statement = SQL(
            "SELECT " + _UNIT_SELECT + " FROM {} AS u JOIN {} AS c USING (community_code) "
            "WHERE " + _SCOPE + " ORDER BY u.community_code, u.unit_key"
        ).format(units, communities)
        self.select_funds_statement = SQL(
            "SELECT " + _FUND_SELECT + " FROM {} AS c LEFT JOIN {} AS u USING (community_code) "
            "WHERE " + _SCOPE + " GROUP BY c.community_code ORDER BY c.community_code"
        ).format(communities, units)
        return [
            SQL("CREATE TABLE IF NOT EXISTS {} (community_code text PRIMARY KEY, "
                "name text NOT NULL, district text NOT NULL, street text NOT NULL)"
                ).format(communities),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (district, street)").format(
                Identifier(COMMUNITIES + "_place"), communities),
            SQL("CREATE TABLE IF NOT EXISTS {} (unit_id uuid PRIMARY KEY, "
                "community_code text NOT NULL, building text NOT NULL, unit text NOT NULL, "
                "unit_key text NOT NULL, area_m2_hundredths bigint NOT NULL, "
                "deposits_fen bigint NOT NULL, withdrawals_fen bigint NOT NULL, "
                "income_fen bigint NOT NULL, refunds_fen bigint NOT NULL, "
                "balance_fen bigint NOT NULL, first_deposit_fen bigint, "
                "reraise_demanded boolean NOT NULL, closed boolean NOT NULL) "
                # Room on each page for the row's next version: a batch's UPDATE then stays
                # on the page (a HOT update) and leaves both indexes alone.
                "WITH (fillfactor = 50)").format(units),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (community_code, unit_key)").format(
                Identifier(UNITS + "_community"), units),
        ]

    def _write_batch(self, curs: Cursor[DictRow], batch: BalanceBatch) -> None:
        # Each column goes as a binary array built in C (pg_binary): psycopg's own list
        # dumping, an element at a time in Python, was half of a batch's commit CPU.
        register_array_dumpers(curs)
        if batch.communities:
            curs.execute(self.insert_communities_statement,
                         [text_array(column) for column in zip(*batch.communities, strict=True)],
                         binary=True)
        if batch.registered:
            curs.execute(self.insert_units_statement,
                         [build(column) for build, column in zip(
                             _NEW_UNIT_COLUMNS, _new_unit_columns(batch), strict=True)],
                         prepare=True, binary=True)
        touched, registered = batch.touched(), batch.registered
        changed = [u for u in touched if u not in registered] if registered else touched
        if changed:
            curs.execute(self.update_units_statement,
                         [uuid_int_array(changed), *(build(column) for build, column in zip(
                             _CHANGE_COLUMNS, batch.change_columns(changed), strict=True))],
                         prepare=True, binary=True)
            _check_updated(curs.rowcount, len(changed))

    def select_units(self, *scope: str | None) -> list[tuple[Any, ...]]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_units_statement, _scope_params(*scope))
            return [tuple(row.values()) for row in curs.fetchall()]

    def select_funds(self, *scope: str | None) -> list[tuple[Any, ...]]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_funds_statement, _scope_params(*scope))
            return [tuple(row.values()) for row in curs.fetchall()]


class SQLiteBalanceRecorder(SQLiteViewRecorder[BalanceBatch]):
    view_name = VIEW_NAME
    view_tables: ClassVar[tuple[tuple[str, str], ...]] = (
        (COMMUNITIES, "community_code"), (UNITS, "community_code, unit_key"))

    def view_create_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {COMMUNITIES} (community_code TEXT PRIMARY KEY, "
            "name TEXT NOT NULL, district TEXT NOT NULL, street TEXT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {COMMUNITIES}_place ON {COMMUNITIES} "
            "(district, street)",
            f"CREATE TABLE IF NOT EXISTS {UNITS} (unit_id TEXT PRIMARY KEY, "
            "community_code TEXT NOT NULL, building TEXT NOT NULL, unit TEXT NOT NULL, "
            "unit_key TEXT NOT NULL, area_m2_hundredths INTEGER NOT NULL, "
            "deposits_fen INTEGER NOT NULL, withdrawals_fen INTEGER NOT NULL, "
            "income_fen INTEGER NOT NULL, refunds_fen INTEGER NOT NULL, "
            "balance_fen INTEGER NOT NULL, first_deposit_fen INTEGER, "
            "reraise_demanded INTEGER NOT NULL, closed INTEGER NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {UNITS}_community ON {UNITS} "
            "(community_code, unit_key)",
        ]

    def _write_batch(self, c: SQLiteCursor, batch: BalanceBatch) -> None:
        if batch.communities:
            c.executemany(f"INSERT INTO {COMMUNITIES} VALUES (?, ?, ?, ?)", batch.communities)
        new_rows = [(f"{row[0]:032x}", *row[1:]) for row in _new_unit_rows(batch)]
        if new_rows:
            c.executemany(f"INSERT INTO {UNITS} VALUES ({', '.join('?' * 14)})", new_rows)
        changed = [u for u in batch.touched() if u not in batch.registered]
        if changed:
            c.executemany(
                f"UPDATE {UNITS} SET deposits_fen = deposits_fen + ?, "
                "withdrawals_fen = withdrawals_fen + ?, income_fen = income_fen + ?, "
                "refunds_fen = refunds_fen + ?, balance_fen = balance_fen + ?, "
                "first_deposit_fen = coalesce(?, first_deposit_fen), "
                "reraise_demanded = coalesce(?, reraise_demanded), closed = closed OR ? "
                "WHERE unit_id = ?",
                [(*batch.change(u), f"{u:032x}") for u in changed])
            _check_updated(c.sqlite_cursor.rowcount, len(changed))

    def _select(self, statement: str, scope: Sequence[str | None]) -> list[tuple[Any, ...]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, _scope_params(*scope))
            return [tuple(row) for row in c.fetchall()]

    def select_units(self, *scope: str | None) -> list[tuple[Any, ...]]:
        rows = self._select(
            f"SELECT {_UNIT_SELECT} FROM {UNITS} AS u JOIN {COMMUNITIES} AS c "
            f"USING (community_code) WHERE {_SCOPE_SQLITE} ORDER BY u.community_code, u.unit_key",
            scope)
        # SQLite keeps booleans as 0/1.
        return [(*row[:13], bool(row[13]), bool(row[14])) for row in rows]

    def select_funds(self, *scope: str | None) -> list[tuple[Any, ...]]:
        return self._select(
            f"SELECT {_FUND_SELECT} FROM {COMMUNITIES} AS c LEFT JOIN {UNITS} AS u "
            f"USING (community_code) WHERE {_SCOPE_SQLITE} GROUP BY c.community_code "
            "ORDER BY c.community_code", scope)


BalanceProjection.postgres_recorder = PostgresBalanceRecorder
BalanceProjection.sqlite_recorder = SQLiteBalanceRecorder
