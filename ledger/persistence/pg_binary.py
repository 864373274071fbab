"""All of fundledger's PostgreSQL binary encoding: COPY rows and arrays, built mostly in C.

psycopg formats binary values one at a time in Python code (about 2 µs an array element, some
3 µs a COPY row with its Python uuid dumper). The hot paths (a large save's COPY, a view
batch's ``unnest`` arrays) build the same bytes here with ``struct``, ``bytes.join`` and
strided slice assignment, from one set of packers.

Arrays, for the views' ``unnest(%b::bigint[], ...)``
    ``int8_array`` etc. wrap ``array_send`` bytes in a class whose dumper passes them on as
    they are, typed with the array's OID::

        register_array_dumpers(curs)
        curs.execute(statement, [uuid_array(ids), int8_array(amounts)], binary=True)

    The wire format (one dimension): int32 ndim = 1, int32 has-null flag, uint32 element
    OID, int32 length, int32 lower bound = 1, then per element an int32 byte length (-1:
    NULL) and its bytes. An empty array is ndim = 0 with no dimension, as psycopg sends it.
    A column may hold None (a slower path). Integers must fit a bigint (``struct.error``).

COPY rows, for ``COPY ... FROM STDIN (FORMAT BINARY)``
    ``COPY_HEADER``, then blocks of rows (``event_copy_blocks``, ``reference_copy_blocks``),
    then ``COPY_TRAILER``. A row is an int16 field count, then per field an int32 byte length
    and its bytes, as in an array.

Nothing is registered with psycopg at import: ``register_array_dumpers`` puts the arrays'
dumpers on the cursor (and its connection) that sends them, so no other connection of the
process formats anything differently because this module was imported.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, ClassVar
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from psycopg.abc import Buffer
from psycopg.adapt import AdaptersMap, Dumper, PyFormat
from psycopg.pq import Format

from ledger.persistence.references import PostingReference

INT8_OID, BOOL_OID, TEXT_OID, UUID_OID = 20, 16, 25, 2950

# The packers, shared by arrays and COPY rows.
_pack_length = struct.Struct(">i").pack  # a field's or element's byte length
_pack_int8 = struct.Struct(">iq").pack  # a bigint with its length (8) in front
_pack_field_count = struct.Struct(">h").pack  # a COPY row's first two bytes
_pack_array_head = struct.Struct(">iiIii").pack  # ndim, has-null, element OID, length, lbound
_pack_empty_array_head = struct.Struct(">iiI").pack  # ndim = 0, has-null, element OID
_NULL = _pack_length(-1)
_LEN_1 = _pack_length(1)
_LEN_16 = _pack_length(16)

PACK_ERRORS: tuple[type[Exception], ...] = (OverflowError, struct.error)
"""What packing a value that does not fit its type (an int beyond bigint) raises."""


# -- arrays ----------------------------------------------------------------------------------


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


def _array_head(element_oid: int, n: int, hasnull: bool) -> bytes:
    if n:
        return _pack_array_head(1, hasnull, element_oid, n, 1)
    return _pack_empty_array_head(0, 0, element_oid)


def int8_array(values: Sequence[int | None]) -> Int8Array:
    n = len(values)
    try:
        packed = struct.pack(f">{n}q", *values)
    except struct.error:
        if None not in values:
            raise
        return Int8Array(_array_head(INT8_OID, n, True) + b"".join(
            [_NULL if v is None else _pack_int8(8, v) for v in values]))
    # Interleave the 8-byte values with their lengths (00 00 00 08) by strided copies.
    buf = bytearray(12 * n)
    buf[3::12] = b"\x08" * n
    for k in range(8):
        buf[4 + k::12] = packed[k::8]
    return Int8Array(_array_head(INT8_OID, n, False) + buf)


def bool_array(values: Sequence[bool | None]) -> BoolArray:
    n = len(values)
    if None in values:
        return BoolArray(_array_head(BOOL_OID, n, True) + b"".join(
            [_NULL if v is None else _LEN_1 + (b"\x01" if v else b"\x00") for v in values]))
    buf = bytearray(5 * n)
    buf[3::5] = b"\x01" * n
    buf[4::5] = bytes(map(bool, values))
    return BoolArray(_array_head(BOOL_OID, n, False) + buf)


def uuid_array(values: Sequence[UUID | None]) -> UuidArray:
    n = len(values)
    try:
        raw = [u.bytes for u in values]  # type: ignore[union-attr]
    except AttributeError:
        if not any(v is None for v in values):
            raise
        return UuidArray(_array_head(UUID_OID, n, True) + b"".join(
            [_NULL if v is None else _LEN_16 + v.bytes for v in values]))
    return UuidArray(_array_head(UUID_OID, n, False) + (_LEN_16 + _LEN_16.join(raw) if n else b""))


def uuid_int_array(values: Sequence[int]) -> UuidArray:
    """A uuid[] of UUIDs given as their 128-bit ints (``UUID.int``): views key their staged
    units by the int, whose hash is C code where UUID's is Python."""
    n = len(values)
    raw = [v.to_bytes(16, "big") for v in values]
    return UuidArray(_array_head(UUID_OID, n, False) + (_LEN_16 + _LEN_16.join(raw) if n else b""))


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
                parts += (_pack_length(len(b)), b)
        return TextArray(_array_head(TEXT_OID, n, True) + b"".join(parts))
    return TextArray(_array_head(TEXT_OID, n, False) + b"".join(
        chain.from_iterable(zip(map(_pack_length, map(len, encoded)), encoded, strict=True))))


@dataclass(frozen=True)
class PgType:
    """A column type as the views send it: its SQL name, and how a column of values of it is
    built into a binary array for ``unnest`` (None: the views never send one as an array)."""

    name: str
    array: Callable[[Sequence[Any]], PgArray] | None = None

    @property
    def array_parameter(self) -> str:
        """The placeholder of one such array in a statement, e.g. ``%b::bigint[]``."""
        return f"%b::{self.name}[]"


BIGINT = PgType("bigint", int8_array)
BOOLEAN = PgType("boolean", bool_array)
TEXT = PgType("text", text_array)
UUID_TYPE = PgType("uuid", uuid_array)
UUID_INT = PgType("uuid", uuid_int_array)  # values given as UUID.int
DATE = PgType("date")
TIMESTAMPTZ = PgType("timestamptz")


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


ARRAY_DUMPERS: tuple[tuple[type[PgArray], type[Dumper]], ...] = (
    (Int8Array, Int8ArrayDumper), (BoolArray, BoolArrayDumper), (TextArray, TextArrayDumper),
    (UuidArray, UuidArrayDumper))


def register_dumpers(adapters: AdaptersMap) -> None:
    """Register the arrays' dumpers on these adapters (a connection's, a cursor's, or a map
    of one's own); only the array classes above are affected."""
    for cls, dumper in ARRAY_DUMPERS:
        adapters.register_dumper(cls, dumper)


def register_array_dumpers(curs: psycopg.Cursor[Any]) -> None:
    """Make the arrays adaptable on this cursor and, for its next cursors, its connection.

    Both, because a cursor copies its connection's adapters on write: one made before its
    connection had the dumpers keeps its own map. One dict look-up when they are there.
    """
    try:
        curs.adapters.get_dumper(UuidArray, PyFormat.BINARY)
    except psycopg.ProgrammingError:
        register_dumpers(curs.connection.adapters)
        register_dumpers(curs.adapters)


# -- COPY rows -------------------------------------------------------------------------------

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" * 2  # signature, flags, extension
COPY_TRAILER = _pack_field_count(-1)  # the end-of-data marker
COPY_BLOCK_ROWS = 250  # rows per block written (some 50 to 100 KiB)


def _uuid_bytes(value: UUID | str) -> bytes:
    return (value if isinstance(value, UUID) else UUID(value)).bytes


def event_copy_blocks(stored_events: Iterable[StoredEvent]) -> Iterator[bytes]:
    """Blocks of binary COPY rows ``(originator_id uuid, originator_version int8, topic, state)``.

    psycopg's ``write_row`` takes about 3 µs a row here, mostly Python around its compiled
    formatter (and a Python-level dumper per uuid); this formats a row from cached parts
    (the id's 16 bytes, the topic) with two packs, and joins ``COPY_BLOCK_ROWS`` rows at a
    time. Ids are UUIDs or their strings. An aggregate's events are consecutive in a save,
    so the id of the previous row is reused without hashing it (``UUID.__hash__`` is Python).
    """
    topics: dict[str, bytes] = {}
    last_id: Any = None
    head = b""
    parts: list[bytes] = []
    extend = parts.extend
    pack_int8 = _pack_int8
    pack_length = _pack_length
    row_start = _pack_field_count(4) + _LEN_16
    for event in stored_events:
        originator_id = event.originator_id
        if originator_id is not last_id:
            last_id = originator_id
            head = row_start + _uuid_bytes(originator_id)
        topic = topics.get(event.topic)
        if topic is None:
            encoded = event.topic.encode()
            topic = topics[event.topic] = pack_length(len(encoded)) + encoded
        state = event.state
        extend((head, pack_int8(8, event.originator_version), topic, pack_length(len(state)),
                state))
        if len(parts) >= COPY_BLOCK_ROWS * 5:
            yield b"".join(parts)
            parts.clear()
    if parts:
        yield b"".join(parts)


def reference_copy_blocks(references: Sequence[PostingReference]) -> Iterator[bytes]:
    """Blocks of binary COPY rows ``(reference, kind, digest, originator_id, originator_version)``.

    A batch's references share few id objects (one per sub-account), so their 16 bytes are
    cached by object identity (the references keep the objects alive while this runs).
    """
    ids: dict[int, tuple[Any, bytes]] = {}
    kinds: dict[str, bytes] = {}
    pack_length = _pack_length
    pack_int8 = _pack_int8
    row_start = _pack_field_count(5)
    parts: list[bytes] = []
    extend = parts.extend
    for reference, kind, digest, originator_id, originator_version in references:
        cached = ids.get(id(originator_id))
        if cached is None or cached[0] is not originator_id:
            cached = ids[id(originator_id)] = (originator_id,
                                               _LEN_16 + _uuid_bytes(originator_id))
        kind_part = kinds.get(kind)
        if kind_part is None:
            encoded = kind.encode()
            kind_part = kinds[kind] = pack_length(len(encoded)) + encoded
        reference_bytes = reference.encode()
        digest_bytes = digest.encode()
        extend((row_start, pack_length(len(reference_bytes)), reference_bytes, kind_part,
                pack_length(len(digest_bytes)), digest_bytes, cached[1],
                pack_int8(8, originator_version)))
        if len(parts) >= COPY_BLOCK_ROWS * 8:
            yield b"".join(parts)
            parts.clear()
    if parts:
        yield b"".join(parts)


def copy_blocks(curs: psycopg.Cursor[Any], statement: Any, blocks: Iterable[bytes]) -> None:
    """COPY ... (FORMAT BINARY) of blocks of rows already in the binary tuple format.

    Each block is sent as it is made, so the server stores the first rows while the next
    are formatted; the header and trailer are written here.
    """
    with curs.copy(statement) as copy:
        copy.write(COPY_HEADER)
        for block in blocks:
            copy.write(block)
        copy.write(COPY_TRAILER)
