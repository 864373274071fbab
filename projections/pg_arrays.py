"""PostgreSQL binary arrays built mostly in C, for the views' ``unnest(%b::bigint[], ...)``.

psycopg dumps a Python list in binary one element at a time in Python code (about 2 µs an
element): half the client CPU of a balance view batch's commit. These functions build the
same ``array_send`` bytes with ``struct``, ``bytes.join`` and strided slice assignment, and
wrap them in a class whose dumper passes them on as they are, typed with the array's OID::

    curs.execute(statement, [uuid_array(ids), int8_array(amounts)], binary=True)

The wire format (one dimension): int32 ndim = 1, int32 has-null flag, uint32 element OID,
int32 length, int32 lower bound = 1, then per element an int32 byte length (-1: NULL) and
its bytes. An empty array is ndim = 0 with no dimension, as psycopg sends it.

A column may hold None (a slower path). Integers must fit a bigint (``struct.error``).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from itertools import chain
from typing import Any, ClassVar
from uuid import UUID

import psycopg
from psycopg.abc import Buffer
from psycopg.adapt import AdaptersMap, Dumper, PyFormat
from psycopg.pq import Format

INT8_OID, BOOL_OID, TEXT_OID, UUID_OID = 20, 16, 25, 2950

_head = struct.Struct(">iiIii").pack
_empty_head = struct.Struct(">iiI").pack
_pack_len = struct.Struct(">i").pack
_pack_int8 = struct.Struct(">iq").pack
_NULL = _pack_len(-1)
_LEN_1 = _pack_len(1)
_LEN_16 = _pack_len(16)


class PgArray:
    """A one-dimensional PostgreSQL array in binary form; subclasses fix the element type."""

    __slots__ = ("data",)
    element_oid: ClassVar[int]

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.data!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.data == other.data

    def __hash__(self) -> int:
        return hash((type(self), self.data))


class Int8Array(PgArray):
    __slots__ = ()
    element_oid = INT8_OID


class BoolArray(PgArray):
    __slots__ = ()
    element_oid = BOOL_OID


class TextArray(PgArray):
    __slots__ = ()
    element_oid = TEXT_OID


class UuidArray(PgArray):
    __slots__ = ()
    element_oid = UUID_OID


def _header(element_oid: int, n: int, hasnull: bool) -> bytes:
    return _head(1, hasnull, element_oid, n, 1) if n else _empty_head(0, 0, element_oid)


def int8_array(values: Sequence[int | None]) -> Int8Array:
    n = len(values)
    try:
        packed = struct.pack(f">{n}q", *values)
    except struct.error:
        if None not in values:
            raise
        return Int8Array(_header(INT8_OID, n, True) + b"".join(
            [_NULL if v is None else _pack_int8(8, v) for v in values]))
    # Interleave the 8-byte values with their lengths (00 00 00 08) by strided copies.
    buf = bytearray(12 * n)
    buf[3::12] = b"\x08" * n
    for k in range(8):
        buf[4 + k::12] = packed[k::8]
    return Int8Array(_header(INT8_OID, n, False) + buf)


def bool_array(values: Sequence[bool | None]) -> BoolArray:
    n = len(values)
    if None in values:
        return BoolArray(_header(BOOL_OID, n, True) + b"".join(
            [_NULL if v is None else _LEN_1 + (b"\x01" if v else b"\x00") for v in values]))
    buf = bytearray(5 * n)
    buf[3::5] = b"\x01" * n
    buf[4::5] = bytes(map(bool, values))
    return BoolArray(_header(BOOL_OID, n, False) + buf)


def uuid_array(values: Sequence[UUID | None]) -> UuidArray:
    n = len(values)
    try:
        raw = [u.bytes for u in values]  # type: ignore[union-attr]
    except AttributeError:
        if not any(v is None for v in values):
            raise
        return UuidArray(_header(UUID_OID, n, True) + b"".join(
            [_NULL if v is None else _LEN_16 + v.bytes for v in values]))
    return UuidArray(_header(UUID_OID, n, False) + (_LEN_16 + _LEN_16.join(raw) if n else b""))


def uuid_int_array(values: Sequence[int]) -> UuidArray:
    """A uuid[] of UUIDs given as their 128-bit ints (``UUID.int``): views key their staged
    units by the int, whose hash is C code where UUID's is Python."""
    n = len(values)
    raw = [v.to_bytes(16, "big") for v in values]
    return UuidArray(_header(UUID_OID, n, False) + (_LEN_16 + _LEN_16.join(raw) if n else b""))


def text_array(values: Sequence[str | None]) -> TextArray:
    n = len(values)
    try:
        encoded = list(map(str.encode, values))  # type: ignore[arg-type]
    except TypeError:
        if not any(v is None for v in values):
            raise
        parts = []
        for v in values:
            if v is None:
                parts.append(_NULL)
            else:
                b = v.encode()
                parts += (_pack_len(len(b)), b)
        return TextArray(_header(TEXT_OID, n, True) + b"".join(parts))
    return TextArray(_header(TEXT_OID, n, False) + b"".join(
        chain.from_iterable(zip(map(_pack_len, map(len, encoded)), encoded, strict=True))))


class _PgArrayDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj: PgArray) -> Buffer | None:
        return obj.data


class Int8ArrayDumper(_PgArrayDumper):
    oid = 1016  # int8[]


class BoolArrayDumper(_PgArrayDumper):
    oid = 1000  # bool[]


class TextArrayDumper(_PgArrayDumper):
    oid = 1009  # text[]


class UuidArrayDumper(_PgArrayDumper):
    oid = 2951  # uuid[]


_DUMPERS: tuple[tuple[type[PgArray], type[Dumper]], ...] = (
    (Int8Array, Int8ArrayDumper), (BoolArray, BoolArrayDumper), (TextArray, TextArrayDumper),
    (UuidArray, UuidArrayDumper))


def register_dumpers(adapters: AdaptersMap) -> None:
    """Register the arrays' dumpers on a connection's, a cursor's or psycopg's adapters."""
    for cls, dumper in _DUMPERS:
        adapters.register_dumper(cls, dumper)


def ensure_dumpers(curs: psycopg.Cursor[Any]) -> None:
    """Make the arrays adaptable on this cursor and its connection.

    The global registration below reaches only connections opened after this module was
    imported: a connection (and a cursor) copies the adapters' maps on write, so one opened
    earlier keeps its own. One dict look-up when they are there already.
    """
    try:
        curs.adapters.get_dumper(UuidArray, PyFormat.BINARY)
    except psycopg.ProgrammingError:
        register_dumpers(curs.connection.adapters)
        register_dumpers(curs.adapters)


# Global: only these classes are affected.
register_dumpers(psycopg.adapters)
