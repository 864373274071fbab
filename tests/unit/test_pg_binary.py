"""ledger.persistence.pg_binary: its arrays are byte for byte what psycopg sends, and importing
it changes none of psycopg's global adapters."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg.adapt import PyFormat, Transformer
from psycopg.types.numeric import Int8BinaryDumper

from ledger.persistence.pg_binary import (
    BoolArray,
    Int8Array,
    PgArray,
    TextArray,
    UuidArray,
    bool_array,
    int8_array,
    register_dumpers,
    text_array,
    uuid_array,
    uuid_int_array,
)

INT8_MAX = 2**63 - 1
INT8_MIN = -(2**63)


def psycopg_bytes(values: Sequence[Any]) -> bytes:
    """What psycopg's own ListBinaryDumper makes of the list (ints dumped as int8)."""
    adapters = psycopg.adapt.AdaptersMap(psycopg.adapters)
    adapters.register_dumper(int, Int8BinaryDumper)
    tx = Transformer(adapters)
    values = list(values)
    dumped = tx.get_dumper(values, PyFormat.BINARY).dump(values)
    assert dumped is not None
    return bytes(dumped)


def array_adapters() -> psycopg.adapt.AdaptersMap:
    """psycopg's defaults with the arrays' dumpers: a map of the test's own."""
    adapters = psycopg.adapt.AdaptersMap(psycopg.adapters)
    register_dumpers(adapters)
    return adapters


def our_bytes(array: PgArray) -> bytes:
    dumper = array_adapters().get_dumper(type(array), PyFormat.BINARY)(type(array))
    dumped = dumper.dump(array)
    assert dumped is not None
    return bytes(dumped)


CASES: list[tuple[Callable[[Any], PgArray], list[Any]]] = [
    (int8_array, [0, 1, -1, INT8_MAX, INT8_MIN, 123456789012]),
    (int8_array, [None, 5, None, INT8_MIN]),
    (bool_array, [True, False, True]),
    (bool_array, [None, False, True]),
    (uuid_array, [uuid.uuid4() for _ in range(5)]),
    (uuid_array, [None, uuid.uuid4()]),
    (text_array, ["", "a", "中山路 12 号", "naïve ☃ 🎉", "x" * 1000]),
    (text_array, ["a", None, "", "é"]),
]


@pytest.mark.parametrize(("build", "values"), CASES)
def test_same_bytes_as_psycopg(build: Callable[[Any], PgArray], values: list[Any]) -> None:
    assert our_bytes(build(values)) == psycopg_bytes(values)


@pytest.mark.parametrize(("build", "cls", "oid", "element_oid"), [
    (int8_array, Int8Array, 1016, 20), (bool_array, BoolArray, 1000, 16),
    (text_array, TextArray, 1009, 25), (uuid_array, UuidArray, 2951, 2950)])
def test_empty_is_zero_dimensions(build: Callable[[Any], PgArray], cls: type[PgArray],
                                  oid: int, element_oid: int) -> None:
    array = build([])
    assert type(array) is cls
    assert array.data == b"\0\0\0\0" + b"\0\0\0\0" + element_oid.to_bytes(4, "big")
    assert array_adapters().get_dumper(cls, PyFormat.BINARY).oid == oid


def test_accepts_tuples() -> None:
    assert int8_array((1, 2)) == int8_array([1, 2])
    assert text_array(("a",)) == text_array(["a"])


def test_out_of_range_and_wrong_types_raise() -> None:
    with pytest.raises(Exception):  # noqa: B017 - struct.error
        int8_array([INT8_MAX + 1])
    with pytest.raises(Exception):  # noqa: B017 - struct.error
        int8_array([None, INT8_MIN - 1])
    with pytest.raises(TypeError):
        text_array([1])  # type: ignore[list-item]
    with pytest.raises(AttributeError):
        uuid_array(["not a uuid"])  # type: ignore[list-item]


@given(st.lists(st.one_of(st.none(), st.integers(INT8_MIN, INT8_MAX))))
def test_int8_matches_psycopg(values: list[int | None]) -> None:
    if any(v is not None for v in values):
        assert our_bytes(int8_array(values)) == psycopg_bytes(values)


@given(st.lists(st.one_of(st.none(), st.text())))
def test_text_matches_psycopg(values: list[str | None]) -> None:
    if any(v is not None for v in values):
        assert our_bytes(text_array(values)) == psycopg_bytes(values)


@given(st.lists(st.one_of(st.none(), st.booleans())))
def test_bool_matches_psycopg(values: list[bool | None]) -> None:
    if any(v is not None for v in values):
        assert our_bytes(bool_array(values)) == psycopg_bytes(values)


def test_balance_change_columns_are_change_transposed() -> None:
    """The balance view's columnar form of its changes (what it passes to these arrays)."""
    from projections.balance import BalanceBatch

    ids = [uuid.uuid4().int for _ in range(6)]
    batch = BalanceBatch()
    batch.delta(ids[0]).deposits_fen = 5
    batch.delta(ids[1]).balance_fen = -7
    assert [list(c) for c in batch.change_columns(ids)] == [
        list(c) for c in zip(*map(batch.change, ids), strict=True)]
    batch.first_deposits[ids[2]] = 100
    batch.reraise[ids[3]] = False
    batch.reraise[ids[0]] = True
    batch.closed.add(ids[4])
    assert [list(c) for c in batch.change_columns(ids)] == [
        list(c) for c in zip(*map(batch.change, ids), strict=True)]
    assert [list(c) for c in batch.change_columns([])] == [[]] * 8


@given(st.lists(st.uuids(), max_size=40))
def test_uuids_given_as_ints_are_the_same_array(values: list[uuid.UUID]) -> None:
    assert uuid_int_array([u.int for u in values]) == uuid_array(values)


WATCH_GLOBAL_ADAPTERS = """
import psycopg
calls = []
adapters = psycopg.adapters
for name in ("register_dumper", "register_loader"):
    method = getattr(adapters, name)
    setattr(adapters, name, lambda *a, _m=method, _n=name, **k: calls.append(_n) or _m(*a, **k))
add = adapters.types.add
adapters.types.add = lambda *a, **k: calls.append("types.add") or add(*a, **k)
import ledger.persistence.pg_binary as pg_binary
import ledger.persistence.postgres, projections.audit, projections.balance, projections.views
assert calls == [], calls
for cls, _ in pg_binary.ARRAY_DUMPERS:
    try:
        adapters.get_dumper(cls, psycopg.adapt.PyFormat.BINARY)
    except psycopg.ProgrammingError:
        continue
    raise AssertionError(f"{cls.__name__} is adaptable globally")
"""


def test_importing_registers_no_global_adapter() -> None:
    """In a fresh interpreter (this one may have imported it already): importing pg_binary,
    the PostgreSQL recorders and the views that use it calls none of psycopg's global
    registration methods, and leaves the arrays unadaptable outside a registered cursor."""
    done = subprocess.run([sys.executable, "-c", WATCH_GLOBAL_ADAPTERS], capture_output=True,
                          text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
