"""ledger.persistence.pg_binary's arrays read back from real PostgreSQL as what was sent."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import postgres
from psycopg.adapt import AdaptersMap

from ledger.persistence.pg_binary import (
    PgArray,
    bool_array,
    int8_array,
    register_array_dumpers,
    register_dumpers,
    text_array,
    uuid_array,
)

pytestmark = pytest.mark.postgres

INT8_MAX = 2**63 - 1


@pytest.fixture
def conn(pg_database: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_database) as conn:
        register_dumpers(conn.adapters)
        yield conn


COLUMNS: list[tuple[Callable[[Any], PgArray], str, list[Any]]] = [
    (int8_array, "bigint", [0, -1, INT8_MAX, -INT8_MAX - 1, 42]),
    (int8_array, "bigint", [None, 7, None]),
    (int8_array, "bigint", [None]),
    (int8_array, "bigint", []),
    (bool_array, "boolean", [True, False]),
    (bool_array, "boolean", [None, True]),
    (bool_array, "boolean", []),
    (uuid_array, "uuid", [uuid.uuid4(), uuid.uuid4()]),
    (uuid_array, "uuid", [uuid.uuid4(), None]),
    (uuid_array, "uuid", []),
    (text_array, "text", ["", "中山路 12 号", "naïve ☃ 🎉", "x" * 5000]),
    (text_array, "text", [None, "a"]),
    (text_array, "text", []),
]


@pytest.mark.parametrize(("build", "sql_type", "values"), COLUMNS)
def test_unnest_reads_back(conn: psycopg.Connection[Any], build: Callable[[Any], PgArray],
                           sql_type: str, values: list[Any]) -> None:
    rows = conn.execute(f"SELECT * FROM unnest(%b::{sql_type}[]) WITH ORDINALITY",
                        [build(values)], binary=True).fetchall()
    assert [r[0] for r in rows] == values


def test_several_columns_prepared(conn: psycopg.Connection[Any]) -> None:
    """As the views use them: several columns of one unnest, a prepared statement, reused."""
    conn.execute("CREATE TEMP TABLE t (id uuid, name text, amount bigint, flag boolean)")
    statement = ("INSERT INTO t SELECT * FROM unnest(%b::uuid[], %b::text[], %b::bigint[], "
                 "%b::boolean[])")
    expected = []
    for n in (3, 0, 1000, 1):
        rows = [(uuid.uuid4(), f"名{i}", i * 10**12, i % 2 == 0) for i in range(n)]
        columns = list(zip(*rows, strict=True)) or [[], [], [], []]
        conn.execute(statement, [uuid_array(columns[0]), text_array(columns[1]),
                                 int8_array(columns[2]), bool_array(columns[3])],
                     prepare=True, binary=True)
        expected += rows
    got = conn.execute("SELECT * FROM t").fetchall()
    assert sorted(got, key=str) == sorted(expected, key=str)


def test_register_array_dumpers_on_the_cursor_and_its_connection_only(
        pg_database: str) -> None:
    """Nothing is registered globally: a connection cannot send the arrays until
    register_array_dumpers is called on one of its cursors; then that connection's next
    cursors can, and another connection still cannot."""
    context = AdaptersMap(types=postgres.types)
    postgres.register_default_adapters(context)
    with psycopg.connect(pg_database, context=context) as conn:
        with conn.cursor() as curs, pytest.raises(psycopg.ProgrammingError):
            curs.execute("SELECT unnest(%b::bigint[])", [int8_array([1])], binary=True)
        conn.rollback()
        with conn.cursor() as curs:
            register_array_dumpers(curs)
            register_array_dumpers(curs)
            curs.execute("SELECT unnest(%b::bigint[])", [int8_array([1, 2])], binary=True)
            assert curs.fetchall() == [(1,), (2,)]
        with conn.cursor() as curs:  # the connection has them now
            curs.execute("SELECT unnest(%b::uuid[])", [uuid_array([])], binary=True)
            assert curs.fetchall() == []
    with psycopg.connect(pg_database) as other, other.cursor() as curs, pytest.raises(
            psycopg.ProgrammingError):
        curs.execute("SELECT unnest(%b::bigint[])", [int8_array([1])], binary=True)
