"""Long lists of keys sent to the database in pieces: one statement's parameters are bounded
(SQLite's variables, PostgreSQL's message and plan), and each caller knows its own bound."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive pieces of at most ``size``, in order."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
