"""projections.columns: the SQL and row conversions derived from a view's declared columns."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from ledger.persistence.pg_binary import BIGINT, BOOLEAN, DATE, TEXT, TIMESTAMPTZ, UUID_INT
from projections.columns import (
    Column,
    arrays,
    columns_getter,
    definitions,
    from_sqlite,
    names,
    placeholders,
    to_sqlite,
    transposed,
    unnest,
    values_getter,
)

COLUMNS = (Column("entry_id", UUID_INT), Column("amount_fen", BIGINT),
           Column("note", TEXT, nullable=True), Column("settled", BOOLEAN),
           Column("paid_on", DATE), Column("recorded_at", TIMESTAMPTZ, nullable=True))


@dataclass
class Entry:
    entry_id: int | str  # a view gives SQLite a uuid as its hex itself
    amount_fen: int
    note: str | None
    settled: bool
    paid_on: date
    recorded_at: datetime | None


def test_statement_parts_follow_the_declaration() -> None:
    assert names(COLUMNS[:3], "u.") == "u.entry_id, u.amount_fen, u.note"
    assert definitions(COLUMNS[:4]) == ("entry_id uuid PRIMARY KEY, amount_fen bigint NOT NULL, "
                                        "note text, settled boolean NOT NULL")
    assert definitions(COLUMNS[:4], sqlite=True) == (
        "entry_id TEXT PRIMARY KEY, amount_fen INTEGER NOT NULL, note TEXT, "
        "settled INTEGER NOT NULL")
    assert unnest(COLUMNS[:4]) == "unnest(%b::uuid[], %b::bigint[], %b::text[], %b::boolean[])"
    assert placeholders(COLUMNS) == "?, ?, ?, ?, ?, ?"


def test_arrays_are_built_per_column_type() -> None:
    built = arrays(COLUMNS[:2], transposed([(1, 10), (2, 20)], 2))
    assert built == [UUID_INT.array([1, 2]), BIGINT.array([10, 20])]
    assert transposed([], 3) == [(), (), ()]
    with pytest.raises(AssertionError):
        arrays(COLUMNS[4:5], [[date(2026, 1, 1)]])  # dates are not sent as arrays


def test_getters_read_the_named_attributes_in_order() -> None:
    entries = [Entry(1, 5, None, True, date(2026, 1, 2), None),
               Entry(2, -3, "x", False, date(2026, 3, 4), datetime(2026, 3, 4, tzinfo=UTC))]
    assert values_getter(COLUMNS)(entries[1]) == (
        2, -3, "x", False, date(2026, 3, 4), datetime(2026, 3, 4, tzinfo=UTC))
    assert columns_getter(["amount_fen", "note"])(entries) == [[5, -3], [None, "x"]]
    assert columns_getter(["amount_fen"])([]) == [[]]


def test_sqlite_round_trip_gives_what_postgresql_would() -> None:
    entry = Entry(f"{7:032x}", 100, None, True, date(2026, 5, 6),
                  datetime(2026, 5, 6, 7, 8, tzinfo=UTC))
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    conn.execute(f"CREATE TABLE t ({definitions(COLUMNS, sqlite=True)})")
    conn.execute(f"INSERT INTO t ({names(COLUMNS)}) VALUES ({placeholders(COLUMNS)})",
                 to_sqlite(values_getter(COLUMNS)(entry), COLUMNS))
    row = conn.execute(f"SELECT {names(COLUMNS)} FROM t").fetchone()
    assert Entry(**from_sqlite(row, COLUMNS)) == entry
