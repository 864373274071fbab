"""The three-rates dashboard's figures (R1): one scope, the places one level down, and the
communities that keep a rate below its target, with what each lacks.

Every figure comes from the ``three_rates`` view, the one ``GET /v1/rates`` reads: the place's
communities with their flags (``communities``), read once and counted for the place's own
figures and for each place one level down, so a street's figure is always the sum of its
communities' and the place's the sum of its rows'; the trend is the view's
year-end history (``trend``), the one ``GET /v1/rates/trend`` reads. A place outside the viewer's
scope is answered as one that does not exist.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import Any

from ledger.access import Scope
from projections.three_rates import (
    LEVELS,
    RATES,
    CommunityFlags,
    ThreeRates,
    ThreeRatesProjection,
    target_percents,
    trend_years,
)

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

    def holds(self, flags: CommunityFlags) -> bool:
        return self.level == "city" or getattr(flags, _column(self.level)) == self.code


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


def _counts(level: str, code: str | None, year: int,
            communities: list[CommunityFlags]) -> ThreeRates:
    return ThreeRates(level, code, year, len(communities),
                      sum(c.committee for c in communities), sum(c.service for c in communities),
                      sum(c.party for c in communities))


# What a community lacks, by its three flags (committee, service, party), in RATES' order.
_LACKS = {flags: tuple(r for r, has in zip(RATES, flags, strict=True) if not has)
          for flags in itertools.product((False, True), repeat=len(RATES))}


def viewer_root(scope: Scope) -> Place:
    if scope.level not in LEVELS:
        raise OutOfScope()
    return Place(scope.level, scope.code or None)


def dashboard(view: ThreeRatesProjection, known_names: dict[str, str], scope: Scope,
              level: str, code: str | None, year: int) -> Dashboard:
    root = viewer_root(scope)
    place = Place(level, None if level == "city" else code)
    if level not in LEVELS or LEVELS.index(level) > LEVELS.index(root.level) or (
            level != "city" and not code):
        raise OutOfScope()
    # The place's own communities, those of them in the viewer's scope (a street's code may
    # recur in another district): not the whole scope's, filtered here.
    mine = [c for c in view.communities(level, place.code) if root.holds(c)]
    if place != root and not mine:
        raise OutOfScope()
    # The place's figures from the very rows listed below them (one read, so they add up),
    # not a second count.
    figures = _counts(level, place.code, year, mine)
    names = {c.community_code: known_names.get(c.community_code, c.community_code)
             for c in mine}
    rows = _rows(place, mine, names, year)
    lacking = [(lacks, c) for c in mine if (lacks := _LACKS[c.committee, c.service, c.party])]
    shown = heapq.nsmallest(LACKING_SHOWN_MAX, lacking,
                            key=lambda each: (-len(each[0]), each[1].community_code))
    trend = view.trend(level, place.code, years=trend_years(year))
    return Dashboard(place, year, figures, target_percents(year), _trail(root, place, mine),
                     rows, [Lacking(c.community_code, names[c.community_code], c.street, lacks)
                            for lacks, c in shown],
                     len(lacking) - len(shown), names, trend)


def _rows(place: Place, mine: list[CommunityFlags], names: dict[str, str],
          year: int) -> list[Row]:
    below = BELOW.get(place.level)
    if below is None:
        return []
    groups: dict[str, list[CommunityFlags]] = {}
    for c in mine:
        groups.setdefault(getattr(c, _column(below)), []).append(c)
    return [Row(Place(below, key), names.get(key, key) if below == "community" else key,
                _counts(below, key, year, group)) for key, group in groups.items()]


def _trail(root: Place, place: Place, mine: list[CommunityFlags]) -> list[Place]:
    """The places from the viewer's own scope down to ``place`` (links up the drill-down)."""
    if not mine:
        return [root]
    first = mine[0]
    trail = []
    for level in LEVELS[::-1]:  # city, district, street, community
        if LEVELS.index(level) > LEVELS.index(root.level):
            continue
        if LEVELS.index(level) < LEVELS.index(place.level):
            break
        trail.append(Place(level, None if level == "city" else getattr(first, _column(level))))
    return trail
