"""How a parallel verify splits the log among its processes (``_range_bounds``)."""

from __future__ import annotations

from itertools import pairwise

from projections.seal.evidence import HEADS_READ_EVENTS, ROOT_EVENTS, _range_bounds


def test_without_streams_to_read_first_the_ranges_are_even() -> None:
    assert _range_bounds(200_000, 2, 0) == [0, 100_000, 200_000]
    assert _range_bounds(10, 3, 0) == [0, 3, 7, 10]


def test_later_ranges_hold_fewer_events_for_the_heads_and_root_they_compute() -> None:
    bounds = _range_bounds(200_000, 2, 40_000)
    first, last = bounds[1] - bounds[0], bounds[2] - bounds[1]
    assert bounds[0] == 0 and bounds[-1] == 200_000
    assert first > 100_000 > last
    # The first walks what the last walks plus the streams' heads read and their root.
    assert first - last == round(40_000 * (HEADS_READ_EVENTS + ROOT_EVENTS))


def test_every_range_keeps_some_events_and_the_bounds_cover_the_log() -> None:
    for sealed, workers, streams in ((100, 11, 1_000), (7, 5, 7), (1_000_000, 8, 10)):
        bounds = _range_bounds(sealed, workers, streams)
        assert bounds[0] == 0 and bounds[-1] == sealed and len(bounds) == workers + 1
        assert all(low <= high for low, high in pairwise(bounds))
        if sealed >= 4 * workers:
            assert all(high > low for low, high in pairwise(bounds))
