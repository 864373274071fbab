"""What the three-rates view keeps so that its reads do not grow with the city.

Counting a place's three rates from the facts means visiting each of its communities (a
city of 50,000: 95 ms for the counts, 360 ms for the officials' page). So each batch that
touches a community also keeps, in the same transaction:

* the community's three flags and how many of the three it lacks (``lacks``), beside its
  place in ``three_rates_communities``: the drill-down and the lacking list read them,
  the lacking list by an index in order of what each lacks;
* each street's counts in ``three_rates_counts`` (communities, with committee, served, with
  party coverage, complete): a place's counts are the sum of its streets' rows;
* each street's year-end changes in ``three_rates_year_changes``: for every year, how much
  the changes dated in it moved the street's counts (from its communities' history rows,
  see ``three_rates_history``), so a year's end is the sum of the years up to it.

Counts and changes are kept by difference: a batch takes out what the touched communities
counted before and adds what they count now, and a row that sums to nothing is removed, so
any batching and a rebuild leave the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import date
from typing import Any, NamedTuple, TypeVar

COUNTS = "three_rates_counts"
YEAR_CHANGES = "three_rates_year_changes"

# (column, value) pairs that a read's communities all match; () is the whole city. The
# columns are the communities' own: community_code, street, district.
Where = tuple[tuple[str, str], ...]
SCOPE_COLUMNS = ("community_code", "street", "district")


class RateCounts(NamedTuple):
    """A scope's counts, named as the counting SELECTs name their columns."""

    communities: int
    with_committee: int
    with_service: int
    with_party: int

    @classmethod
    def from_row(cls, row: Any) -> RateCounts:
        """From a row of either store, by column name."""
        return cls._make(int(row[name]) for name in cls._fields)


class CommunityFlags(NamedTuple):
    """One community's place and which of the three it has."""

    community_code: str
    district: str
    street: str
    committee: bool
    service: bool
    party: bool

    @classmethod
    def from_row(cls, row: Any) -> CommunityFlags:
        return cls(str(row["community_code"]), str(row["district"]), str(row["street"]),
                   bool(row["committee"]), bool(row["service"]), bool(row["party"]))

    def has(self, rate: str) -> bool:
        return bool(getattr(self, rate))

    @property
    def lacks(self) -> int:
        return 3 - self.committee - self.service - self.party


# A history row of one community: its code, the date, and its three flags from that date.
HistoryRow = tuple[str, date, bool, bool, bool]

# -- reads: ``{cond}`` is the Where's conditions, ``{c}`` the communities, ``{n}`` the counts,
# ``{y}`` the year changes, ``{h}`` the history ----------------------------------------------

_SUMS = ("coalesce(sum(c.communities), 0) AS communities, "
         "coalesce(sum(c.with_committee), 0) AS with_committee, "
         "coalesce(sum(c.with_service), 0) AS with_service, "
         "coalesce(sum(c.with_party), 0) AS with_party")
KEPT_COUNTS = f"SELECT {_SUMS} FROM {{n}} AS c WHERE {{cond}}"
COMMUNITY_COUNTS = (
    "SELECT count(*) AS communities, "
    "coalesce(sum(CASE WHEN c.committee THEN 1 ELSE 0 END), 0) AS with_committee, "
    "coalesce(sum(CASE WHEN c.service THEN 1 ELSE 0 END), 0) AS with_service, "
    "coalesce(sum(CASE WHEN c.party THEN 1 ELSE 0 END), 0) AS with_party "
    "FROM {c} AS c WHERE {cond}")
KEPT_ROWS = ("SELECT c.community_code AS community_code, c.district AS district, "
             "c.street AS street, c.committee AS committee, c.service AS service, "
             "c.party AS party FROM {c} AS c WHERE ")
ROWS_ORDER = " ORDER BY c.district, c.street, c.community_code"
_COMMUNITIES = KEPT_ROWS + "{cond}" + ROWS_ORDER
_FIRST = _COMMUNITIES + " LIMIT 1"
# Those lacking most first, then by code: the communities' (lacks DESC, code) indexes.
_LACKING = (KEPT_ROWS + "{cond} AND c.lacks > 0 "
            "ORDER BY c.lacks DESC, c.community_code LIMIT {limit}")
_LACKING_COUNT = ("SELECT coalesce(sum(c.communities - c.complete), 0) AS lacking "
                  "FROM {n} AS c WHERE {cond}")
_COMMUNITY_LACKING = "SELECT count(*) AS lacking FROM {c} AS c WHERE {cond} AND c.lacks > 0"
_BELOW = {level: (f"SELECT c.{level} AS place, {_SUMS} FROM {{n}} AS c WHERE {{cond}} "
                  f"GROUP BY c.{level} ORDER BY c.{level}") for level in ("district", "street")}
_YEARS = (f"SELECT c.year AS year, {_SUMS} FROM {{y}} AS c WHERE {{cond}} GROUP BY c.year")
_HISTORY = ("SELECT h.effective_date AS effective_date, h.committee AS committee, "
            "h.service AS service, h.party AS party FROM {h} AS h "
            "JOIN {c} AS c ON c.community_code = h.community_code WHERE {cond} "
            "ORDER BY h.effective_date")


def where_of(scope: Sequence[str | None]) -> Where:
    """A (community, street, district) scope's one filter, the most specific given."""
    for column, value in zip(SCOPE_COLUMNS, scope, strict=True):
        if value is not None:
            return ((column, value),)
    return ()


def _of_community(where: Where) -> bool:
    return any(column == "community_code" for column, _ in where)


def as_date(value: date | str) -> date:
    """A business date as decoded (a date) or as text (SQLite's, an older encoding's)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


# Runs a read template (``{cond}`` filled in, the Where's values bound) in an open read
# transaction, returning its rows.
Run = Callable[[str, Where], list[Any]]
T = TypeVar("T")


class KeptReader:
    """The view's reads of what it keeps, each a statement in one read transaction that they
    share (``KeptReads.reading``): a page's figures, lacking list and trend from one
    snapshot."""

    def __init__(self, run: Run) -> None:
        self._run = run

    def counts_in(self, where: Where) -> RateCounts:
        template = COMMUNITY_COUNTS if _of_community(where) else KEPT_COUNTS
        return RateCounts.from_row(self._run(template, where)[0])

    def communities_in(self, where: Where) -> list[CommunityFlags]:
        return [CommunityFlags.from_row(row) for row in self._run(_COMMUNITIES, where)]

    def first_in(self, where: Where) -> CommunityFlags | None:
        """The place's first community, in place order (it names the place's district)."""
        rows = self._run(_FIRST, where)
        return CommunityFlags.from_row(rows[0]) if rows else None

    def below_in(self, level: str, where: Where) -> list[tuple[str, RateCounts]]:
        """Each district or street of the place with its counts, in code order."""
        return [(str(row["place"]), RateCounts.from_row(row))
                for row in self._run(_BELOW[level], where)]

    def lacking_in(self, where: Where, limit: int) -> tuple[list[CommunityFlags], int]:
        """Up to ``limit`` communities lacking any of the three, those lacking most first,
        and how many lack any in all."""
        shown = [CommunityFlags.from_row(row)
                 for row in self._run(_LACKING.replace("{limit}", str(int(limit))), where)]
        count = self._run(_COMMUNITY_LACKING if _of_community(where) else _LACKING_COUNT,
                          where)[0]["lacking"]
        return shown, int(count)

    def year_ends_in(self, years: list[int], where: Where) -> list[RateCounts]:
        """The place's counts at each year's end, in the order asked."""
        if _of_community(where):
            history = [(as_date(row["effective_date"]), bool(row["committee"]),
                        bool(row["service"]), bool(row["party"]))
                       for row in self._run(_HISTORY, where)]
            by_year = year_changes(history)
        else:
            by_year = {int(row["year"]): [int(row[name]) for name in RateCounts._fields]
                       for row in self._run(_YEARS, where)}
        return [RateCounts._make(sum(change[i] for year, change in by_year.items()
                                     if year <= end) for i in range(4)) for end in years]


class KeptReads:
    """The view's reads of what it keeps, on either store: several in one snapshot
    (``reading``), or one alone."""

    def reading(self, *, snapshot: bool = True) -> AbstractContextManager[KeptReader]:
        """A read transaction for several reads; ``snapshot`` makes them all see one state
        of the view (one statement alone always does)."""
        raise NotImplementedError

    def alone(self, read: Callable[[KeptReader], T]) -> T:
        with self.reading(snapshot=False) as reader:
            return read(reader)

    def counts_in(self, where: Where) -> RateCounts:
        return self.alone(lambda reader: reader.counts_in(where))

    def communities_in(self, where: Where) -> list[CommunityFlags]:
        return self.alone(lambda reader: reader.communities_in(where))

    def year_ends_in(self, years: list[int], where: Where) -> list[RateCounts]:
        return self.alone(lambda reader: reader.year_ends_in(years, where))


def conditions(where: Where, mark: str) -> str:
    return " AND ".join(f"c.{column} = {mark}" for column, _ in where) or "true"


# -- writes ---------------------------------------------------------------------------------

# district, street, then the changes of the five counts (communities, with committee,
# served, with party coverage, complete)
CountChange = tuple[str, str, int, int, int, int, int]
# district, street, year, then the changes of the four counts
YearChange = tuple[str, str, int, int, int, int, int]


def count_changes(before: Iterable[CommunityFlags],
                  after: Iterable[CommunityFlags]) -> list[CountChange]:
    """What a batch changed in each street's counts: every touched community's flags as
    they were (``before``: none for one it registers) out, as they are now (``after``) in."""
    changes: dict[tuple[str, str], list[int]] = {}
    for flags, sign in [*((f, -1) for f in before), *((f, 1) for f in after)]:
        change = changes.setdefault((flags.district, flags.street), [0, 0, 0, 0, 0])
        for i, counted in enumerate((True, flags.committee, flags.service, flags.party,
                                     flags.lacks == 0)):
            change[i] += sign * counted
    return [(district, street, *change) for (district, street), change  # type: ignore[misc]
            in sorted(changes.items()) if any(change)]


def year_changes(history: Iterable[tuple[date, bool, bool, bool]]) -> dict[int, list[int]]:
    """One community's history rows, in date order, as changes to its place's four counts,
    by the year they are dated in: counted from its first row, each row's flags replacing
    the row's before."""
    changes: dict[int, list[int]] = {}
    before = (0, 0, 0, 0)
    for day, committee, service, party in history:
        now = (1, int(committee), int(service), int(party))
        change = changes.setdefault(day.year, [0, 0, 0, 0])
        for i in range(4):
            change[i] += now[i] - before[i]
        before = now
    return changes


def year_change_rows(places: dict[str, tuple[str, str]], old: Iterable[HistoryRow],
                     new: Iterable[HistoryRow]) -> list[YearChange]:
    """What rewriting the touched communities' history (``old`` rows out, ``new`` in)
    changed in their streets' year changes; ``places`` gives each code's district and
    street (a code without a registered community has no place, and counts nowhere, as
    in the counts)."""
    totals: dict[tuple[str, str, int], list[int]] = {}
    for rows, sign in ((old, -1), (new, 1)):
        by_code: dict[str, list[tuple[date, bool, bool, bool]]] = {}
        for code, day, committee, service, party in rows:
            if code in places:
                by_code.setdefault(code, []).append((as_date(day), committee, service, party))
        for code, history in by_code.items():
            district, street = places[code]
            for year, change in year_changes(sorted(history)).items():
                total = totals.setdefault((district, street, year), [0, 0, 0, 0])
                for i in range(4):
                    total[i] += sign * change[i]
    return [(district, street, year, *total)  # type: ignore[misc]
            for (district, street, year), total in sorted(totals.items()) if any(total)]


def flag_rows(after: Iterable[CommunityFlags]) -> list[tuple[bool, bool, bool, int, str]]:
    """``UPDATE_FLAGS``' parameters for each touched community."""
    return [(f.committee, f.service, f.party, f.lacks, f.community_code) for f in after]


def history_row(row: Any) -> HistoryRow:
    """A history row as either store returns it (SQLite's date as text)."""
    return (str(row["community_code"]), as_date(row["effective_date"]), bool(row["committee"]),
            bool(row["service"]), bool(row["party"]))


# The write side's statements, on either store: ``{m}`` is its parameter mark.
UPDATE_FLAGS = ("UPDATE {c} SET committee = {m}, service = {m}, party = {m}, lacks = {m} "
                "WHERE community_code = {m}")
ADD_COUNTS = (
    "INSERT INTO {n} AS n (district, street, communities, with_committee, with_service, "
    "with_party, complete) VALUES ({m}, {m}, {m}, {m}, {m}, {m}, {m}) "
    "ON CONFLICT (district, street) DO UPDATE SET "
    "communities = n.communities + excluded.communities, "
    "with_committee = n.with_committee + excluded.with_committee, "
    "with_service = n.with_service + excluded.with_service, "
    "with_party = n.with_party + excluded.with_party, "
    "complete = n.complete + excluded.complete")
ADD_YEAR_CHANGES = (
    "INSERT INTO {y} AS y (district, street, year, communities, with_committee, "
    "with_service, with_party) VALUES ({m}, {m}, {m}, {m}, {m}, {m}, {m}) "
    "ON CONFLICT (district, street, year) DO UPDATE SET "
    "communities = y.communities + excluded.communities, "
    "with_committee = y.with_committee + excluded.with_committee, "
    "with_service = y.with_service + excluded.with_service, "
    "with_party = y.with_party + excluded.with_party")
DROP_EMPTY_YEAR = (
    "DELETE FROM {y} WHERE district = {m} AND street = {m} AND year = {m} "
    "AND communities = 0 AND with_committee = 0 AND with_service = 0 AND with_party = 0")
# The lacking list's order within the city, a district and a street (the last also finds a
# street's communities).
LACKS_INDEXES = (("_lacks", "lacks DESC, community_code"),
                 ("_district_lacks", "district, lacks DESC, community_code"),
                 ("_street_lacks", "street, lacks DESC, community_code"))
