"""A view table's columns, declared once, and the SQL both stores' recorders derive from them.

A view names each column of a table once, in table order, with its PostgreSQL type (which
also says how the column is sent as a binary array for ``unnest``, and what SQLite stores it
as). Its CREATE TABLE, INSERT column lists, ``unnest`` parameter lists and array builders
come from that one declaration, so adding a column is one edit in one place, and no list of
types can fall out of step with a list of names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ledger.persistence.pg_binary import PgArray, PgType

# What SQLite keeps each PostgreSQL type as: booleans as 0/1, dates, times and uuids as text.
_SQLITE_TYPES = {"bigint": "INTEGER", "boolean": "INTEGER", "text": "TEXT", "uuid": "TEXT",
                 "date": "TEXT", "timestamptz": "TEXT"}


@dataclass(frozen=True)
class Column:
    name: str
    type: PgType
    nullable: bool = False

    @property
    def sqlite_type(self) -> str:
        return _SQLITE_TYPES[self.type.name]

    def definition(self, *, sqlite: bool = False) -> str:
        """The column in a CREATE TABLE, e.g. ``amount_fen bigint NOT NULL``."""
        type_name = self.sqlite_type if sqlite else self.type.name
        return f"{self.name} {type_name}" + ("" if self.nullable else " NOT NULL")


def names(columns: Sequence[Column], prefix: str = "") -> str:
    """``a, b, c`` (each after ``prefix``, e.g. a table alias and its dot)."""
    return ", ".join(prefix + c.name for c in columns)


def definitions(columns: Sequence[Column], *, sqlite: bool = False) -> str:
    """The columns of a CREATE TABLE, the first being the primary key."""
    first, *rest = columns
    type_name = first.sqlite_type if sqlite else first.type.name
    return ", ".join([f"{first.name} {type_name} PRIMARY KEY",
                      *(c.definition(sqlite=sqlite) for c in rest)])


def unnest(columns: Sequence[Column]) -> str:
    """``unnest(%b::uuid[], %b::text[], ...)``: one binary array parameter per column."""
    return f"unnest({', '.join(c.type.array_parameter for c in columns)})"


def placeholders(columns: Sequence[Column]) -> str:
    """``?, ?, ?``: one SQLite parameter per column."""
    return ", ".join("?" * len(columns))


def arrays(columns: Sequence[Column], values: Sequence[Sequence[Any]]) -> list[PgArray]:
    """Each column's values (``values[i]`` for ``columns[i]``) as its binary array."""
    built = []
    for column, column_values in zip(columns, values, strict=True):
        build = column.type.array
        assert build is not None, f"{column.name} ({column.type.name}) is not sent as an array"
        built.append(build(column_values))
    return built


def transposed(rows: Sequence[Sequence[Any]], width: int) -> list[Sequence[Any]]:
    """Rows of ``width`` values as ``width`` columns (empty columns for no rows)."""
    return list(zip(*rows, strict=True)) if rows else [()] * width


def values_getter(columns: Sequence[Column]) -> Callable[[Any], tuple[Any, ...]]:
    """A function giving an object's attributes named as the columns, as a tuple in their order.

    Compiled from source, as ``namedtuple`` and ``dataclasses`` build their methods: the
    interpreter specializes a compiled function's attribute reads, which makes it about three
    times as fast as ``operator.attrgetter``'s generic look-ups, on a path taken per row.
    """
    attributes = [column.name for column in columns]
    assert all(name.isidentifier() for name in attributes), attributes
    getter: Callable[[Any], tuple[Any, ...]] = eval(  # our own identifiers, checked above
        f"lambda row: ({', '.join('row.' + name for name in attributes)},)")
    return getter


def columns_getter(attributes: Sequence[str]) -> Callable[[Sequence[Any]], list[list[Any]]]:
    """A function turning objects into columns: one list per attribute, in their order.

    Compiled from source for the reason ``values_getter`` is: one list comprehension per
    attribute, with specialized reads, beats both ``zip(*rows)`` over tuples made for it and
    ``map(attrgetter(name), ...)``.
    """
    assert all(name.isidentifier() for name in attributes), attributes
    getter: Callable[[Sequence[Any]], list[list[Any]]] = eval(  # our own identifiers
        f"lambda rows: [{', '.join(f'[row.{name} for row in rows]' for name in attributes)}]")
    return getter


def to_sqlite(values: Sequence[Any], columns: Sequence[Column]) -> tuple[Any, ...]:
    """A row's values (in ``columns`` order) as SQLite keeps them: dates and times as ISO text."""
    return tuple(value.isoformat() if value is not None and column.type.name in _ISO_TEXT
                 else value for column, value in zip(columns, values, strict=True))


def from_sqlite(row: Any, columns: Sequence[Column]) -> dict[str, Any]:
    """A SQLite row (``sqlite3.Row``) by name, with the values PostgreSQL would give: its
    boolean columns (kept as 0/1) as ``bool``, its date and time columns (ISO text) parsed."""
    values: dict[str, Any] = dict(zip(row.keys(), row, strict=True))
    for column in columns:
        value = values.get(column.name)
        if value is not None:
            parse = _FROM_SQLITE.get(column.type.name)
            if parse is not None:
                values[column.name] = parse(value)
    return values


_ISO_TEXT = {"date", "timestamptz"}
_FROM_SQLITE: dict[str, Callable[[Any], Any]] = {
    "boolean": bool, "date": date.fromisoformat, "timestamptz": datetime.fromisoformat}


SQLITE_IN_MAX = 500  # values in one SQLite IN list (bound variables stay below 999)


def in_chunks(values: list[str]) -> list[list[str]]:
    """``values`` in lists short enough for one SQLite ``IN (?, ...)`` each."""
    return [values[start:start + SQLITE_IN_MAX] for start in range(0, len(values), SQLITE_IN_MAX)]
