"""A bounded memory of facts a view runner reads again and again (units' places, streams'
last digests), for the runner's own process."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def remember(known: dict[K, V], found: Mapping[K, V], limit: int) -> None:
    """``found`` into ``known``: what it holds brought up to date, the rest added while it
    holds fewer than ``limit``; once full, it keeps what it holds.

    Each month's bank batches go through a city's units in the same order. A memory emptied
    when full, in a city of more units than it holds, lost each unit just before its next
    turn, and every look-up missed; kept, the ones it holds are found every month (in such a
    sweep no policy finds more).
    """
    room = limit - len(known)
    if room >= len(found):
        known.update(found)
        return
    for key, value in found.items():
        if key in known:
            known[key] = value
        elif room > 0:
            known[key] = value
            room -= 1
