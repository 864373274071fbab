"""The three-rates dashboard's figures (R1): one scope, the places one level down, and the
communities that keep a rate below its target, with what each lacks.

Every figure comes from the ``three_rates`` view, the one ``GET /v1/rates`` reads, from what
it keeps per street and per community (``projections.three_rates_kept``), so a page reads
the same few rows for a street as for the city: the place's counts, each place one level
down with its own, the communities lacking most (by index), and the year-end trend, the one
``GET /v1/rates/trend`` reads. Each is read for the place within the viewer's scope (a
street's code may recur in another district). A place outside the viewer's scope is
answered as one that does not exist.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ledger.access import Scope
from projections.three_rates import (
    LEVELS,
    RATES,
    ThreeRates,
    ThreeRatesProjection,
    target_percents,
    trend_years,
)
from projections.three_rates_kept import CommunityFlags, RateCounts, Where

# One level down from each level: the city's districts, a district's streets, ...
BELOW = {"city": "district", "district": "street", "street": "community"}
# Communities listed as lacking, those lacking most first: a city holds thousands, a page
# on a phone a few screens of them; the rest are a drill-down away (and counted).
LACKING_SHOWN_MAX = 100


class OutOfScope(Exception):
    """A place the viewer's scope does not hold, or that does not exist (the same answer)."""


@dataclass(frozen=True)
class Place:
    level: str
    code: str | None

    def where(self) -> Where:
        return () if self.code is None else ((_column(self.level), self.code),)


@dataclass(frozen=True)
class Row:
    """A place one level down, with its own counts (the sum of its communities')."""

    place: Place
    name: str
    figures: ThreeRates


@dataclass(frozen=True)
class Lacking:
    """A community that lacks at least one of the three, and which."""

    code: str
    name: str
    street: str
    lacks: tuple[str, ...]


@dataclass(frozen=True)
class Dashboard:
    place: Place
    year: int
    figures: ThreeRates
    targets: dict[str, int] | None  # percent per rate; None before the first target year
    trail: list[Place]  # from the viewer's scope down to this place
    rows: list[Row]
    lacking: list[Lacking]  # those lacking most first, at most LACKING_SHOWN_MAX
    lacking_unlisted: int  # the communities lacking something that are not listed
    names: dict[str, str]  # community code -> name
    trend: list[ThreeRates]  # the place at each year's end, oldest first

    def below_target(self) -> list[str]:
        return [r for r in RATES if self.figures.target_met(r) is False]

    def chart_data(self) -> dict[str, Any]:
        """What the page's script draws: numbers only, every label is in the page."""
        return {
            "rates": list(RATES),
            "current": {r: self.figures.basis_points(r) for r in RATES},
            "targets": self.targets,
            "rows": [{"code": row.place.code, "name": row.name,
                      "basis_points": {r: row.figures.basis_points(r) for r in RATES}}
                     for row in self.rows],
            "trend": [{"year": t.year, "targets": target_percents(t.year),
                       "basis_points": {r: t.basis_points(r) for r in RATES}}
                      for t in self.trend],
        }


def _column(level: str) -> str:
    return "community_code" if level == "community" else level


def _figures(level: str, code: str | None, year: int, counts: RateCounts) -> ThreeRates:
    return ThreeRates(level, code, year, **counts._asdict())


def _flag_counts(flags: CommunityFlags) -> RateCounts:
    return RateCounts(1, int(flags.committee), int(flags.service), int(flags.party))


# What a community lacks, by its three flags (committee, service, party), in RATES' order.
_LACKS = {flags: tuple(r for r, has in zip(RATES, flags, strict=True) if not has)
          for flags in itertools.product((False, True), repeat=len(RATES))}


def viewer_root(scope: Scope) -> Place:
    if scope.level not in LEVELS:
        raise OutOfScope()
    return Place(scope.level, scope.code or None)


# The names of some communities by code (those a page shows), from wherever they are kept.
Names = Callable[[Iterable[str]], dict[str, str]]


def dashboard(view: ThreeRatesProjection, names_of: Names, scope: Scope, level: str,
              code: str | None, year: int) -> Dashboard:
    root = viewer_root(scope)
    place = Place(level, None if level == "city" else code)
    if level not in LEVELS or LEVELS.index(level) > LEVELS.index(root.level) or (
            level != "city" and not code):
        raise OutOfScope()
    # The place within the viewer's scope: a street's code may recur in another district.
    where = tuple(dict.fromkeys((*root.where(), *place.where())))
    below = BELOW.get(level)
    years = trend_years(year)
    with view.queries.reading() as reads:  # one snapshot: the page's figures agree
        communities = reads.communities_in(where) if below == "community" else []
        below_counts = reads.below_in(below, where) if below in ("district", "street") else []
        own = reads.counts_in(where) if below is None else None
        lacking, lacking_count = reads.lacking_in(where, LACKING_SHOWN_MAX)
        first = reads.first_in(where)
        trend_counts = reads.year_ends_in(years, where)
    shown = {c.community_code for c in (*lacking, *communities)}
    names = names_of(sorted(shown | ({place.code} if level == "community" and place.code
                                     else set())))
    rows = ([Row(Place("community", c.community_code),
                 names.get(c.community_code, c.community_code),
                 _figures("community", c.community_code, year, _flag_counts(c)))
             for c in communities] if below == "community" else
            [Row(Place(str(below), key), key, _figures(str(below), key, year, counts))
             for key, counts in below_counts])
    # The place's figures are the sum of the rows listed below them (so they add up); a
    # community's, its own.
    figures = _figures(level, place.code, year, own if own is not None else _total(rows))
    if place != root and not figures.communities:
        raise OutOfScope()
    trend = [_figures(level, place.code, each, counts)
             for each, counts in zip(years, trend_counts, strict=True)]
    return Dashboard(place, year, figures, target_percents(year), _trail(root, place, first),
                     rows, [Lacking(c.community_code,
                                    names.get(c.community_code, c.community_code), c.street,
                                    _LACKS[c.committee, c.service, c.party]) for c in lacking],
                     lacking_count - len(lacking), names, trend)


def _total(rows: list[Row]) -> RateCounts:
    return RateCounts(*(sum(getattr(row.figures, name) for row in rows)
                        for name in RateCounts._fields))


def _trail(root: Place, place: Place, first: CommunityFlags | None) -> list[Place]:
    """The places from the viewer's own scope down to ``place`` (links up the drill-down)."""
    if first is None:
        return [root]
    trail = []
    for level in LEVELS[::-1]:  # city, district, street, community
        if LEVELS.index(level) > LEVELS.index(root.level):
            continue
        if LEVELS.index(level) < LEVELS.index(place.level):
            break
        trail.append(Place(level, None if level == "city" else getattr(first, _column(level))))
    return trail
