"""The three-rates view (R1): per community, street, district and city, how many communities
have a committee, a serving enterprise and party-organisation coverage, and whether the
year's targets are met.

The view keeps the facts the rates are made of, not the rates: the communities and their
place (``Community.Registered``), each community's current committee of each kind
(``Community.CommitteeRecorded``; a ``None`` reference removes it), each committee's party
coverage (``Committee.Formed``, ``PartyCoverageRecorded``, ``MemberLeft``, ``Dissolved``) and
each service contract's state (``ServiceContract.Started``, ``Terminated``). From them each
batch decides the flags of the communities it touched and keeps, in the same transaction,
those flags, each street's counts and each street's changes by year
(``projections/three_rates_kept.py``): a read sums a few kept rows, at any size of city.

* committee established: the community has a current owners' committee or property
  management committee;
* property service covered: one of its contracts has started and not terminated, or the
  owners manage it themselves (``Community.SelfManagementRecorded`` until
  ``SelfManagementEnded``);
* party coverage: one of its current committees, not dissolved, has a party branch set up or
  at least one party member among its seated members (C4).

Rates are exact ``Fraction`` s (and whole basis points, rounded down, for display); targets
are compared in integers: ``count * 100 >= percent * communities``.

Each batch folds its events in memory per key, then writes each touched row once.

The history across years (``trend``) is kept beside the facts: every handled event is also
stored as a dated fact of its community, and each touched community's flags by business
date are folded again from all its facts (``projections/three_rates_history.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, ClassVar, Literal, NamedTuple, Protocol, TypeVar, cast
from uuid import UUID

from eventsourcing.persistence import ProgrammingError, Tracking
from eventsourcing.sqlite import SQLiteCursor
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from domain.committee import Committee
from domain.community import Community
from domain.errors import InvalidInput
from domain.service_contract import ServiceContract
from ledger.persistence.connection_loss import retry_if_lost
from projections.columns import in_chunks
from projections.recorders import PostgresViewRecorder, SQLiteViewRecorder
from projections.runner import BatchingProjection, Handler, event_topic
from projections.three_rates_history import (
    FACTS,
    HISTORY,
    Fact,
    StagedFact,
    Via,
    formed_value,
    party_value,
    timeline,
)
from projections.three_rates_kept import (
    ADD_COUNTS,
    ADD_YEAR_CHANGES,
    COUNTS,
    DROP_EMPTY_YEAR,
    KEPT_ROWS,
    LACKS_INDEXES,
    UPDATE_FLAGS,
    YEAR_CHANGES,
    CommunityFlags,
    HistoryRow,
    KeptReader,
    KeptReads,
    RateCounts,
    Where,
    as_date,
    conditions,
    count_changes,
    flag_rows,
    history_row,
    where_of,
    year_change_rows,
)

T = TypeVar("T")
VIEW_NAME = "three_rates"
COMMUNITIES = "three_rates_communities"
SLOTS = "three_rates_committee_slots"
COMMITTEES = "three_rates_committees"
PARTY = "three_rates_party_members"
CONTRACTS = "three_rates_contracts"
SELF_MANAGED = "three_rates_self_managed"
TREND_YEARS_MAX = 30  # a trend reads one count per year: a bound on the statements

Level = Literal["community", "street", "district", "city"]
LEVELS: tuple[Level, ...] = ("community", "street", "district", "city")
RATES = ("committee", "service", "party")


@dataclass(frozen=True)
class Target:
    """A rate's target: at least ``percent`` (more than, when ``strict``)."""

    percent: int
    strict: bool = False

    def met(self, count: int, total: int) -> bool:
        if self.strict:
            return count * 100 > self.percent * total
        return count * 100 >= self.percent * total


# R1 (Beijing three-year action plan): the year's target per rate. Years after the last entry
# keep its targets; years before the first have none.
TARGETS: dict[int, dict[str, Target]] = {
    2020: {"committee": Target(30), "service": Target(60, strict=True), "party": Target(30)},
    2021: {"committee": Target(70), "service": Target(70), "party": Target(70)},
    2022: {"committee": Target(90), "service": Target(90), "party": Target(90)},
}


def targets_for(year: int) -> dict[str, Target] | None:
    known = [y for y in TARGETS if y <= year]
    return TARGETS[max(known)] if known else None


def target_percents(year: int) -> dict[str, int] | None:
    """The year's target per rate in percent; None before the first target year."""
    targets = targets_for(year)
    return {r: targets[r].percent for r in RATES} if targets else None


def trend_years(to_year: int, from_year: int | None = None) -> list[int]:
    """The years a trend shows: from ``from_year`` to ``to_year``; when not given, from the
    first target year (or ``to_year`` itself, when earlier), at most ``TREND_YEARS_MAX``
    years. Empty when the range is reversed."""
    first = from_year if from_year is not None else max(
        min(min(TARGETS), to_year), to_year - TREND_YEARS_MAX + 1)
    return list(range(first, to_year + 1))


@dataclass(frozen=True)
class ThreeRates:
    """One scope's counts, rates and target flags for one year."""

    level: str
    code: str | None
    year: int
    communities: int
    with_committee: int
    with_service: int
    with_party: int

    def count(self, rate: str) -> int:
        return {"committee": self.with_committee, "service": self.with_service,
                "party": self.with_party}[rate]

    def rate(self, rate: str) -> Fraction | None:
        """The exact rate; None for a scope without communities."""
        return Fraction(self.count(rate), self.communities) if self.communities else None

    def basis_points(self, rate: str) -> int | None:
        """The rate in 0.01 %, rounded down."""
        return self.count(rate) * 10_000 // self.communities if self.communities else None

    def target_met(self, rate: str) -> bool | None:
        """None when the year has no target or the scope has no communities."""
        targets = targets_for(self.year)
        if targets is None or not self.communities:
            return None
        return targets[rate].met(self.count(rate), self.communities)

    @property
    def committee_rate(self) -> Fraction | None:
        return self.rate("committee")

    @property
    def service_rate(self) -> Fraction | None:
        return self.rate("service")

    @property
    def party_rate(self) -> Fraction | None:
        return self.rate("party")

    @property
    def all_targets_met(self) -> bool | None:
        flags = [self.target_met(r) for r in RATES]
        return None if None in flags else all(flags)


class CommitteeFormed(NamedTuple):
    """A committee's row's columns set once, when it is formed."""

    community_code: str
    committee_reference: str
    kind: str


@dataclass
class CommitteeChange:
    """A committee's change in one batch; ``formed`` when the batch created it."""

    formed: CommitteeFormed | None = None
    party: set[str] | None = None  # the party members, replaced wholesale
    left: set[str] = field(default_factory=set)  # members who left (when not replaced)
    branch: bool | None = None
    dissolved: bool = False


@dataclass
class ThreeRatesBatch:
    communities: list[tuple[str, str, str]] = field(default_factory=list)
    # (community, kind) -> committee reference, None once it is gone
    slots: dict[tuple[str, str], str | None] = field(default_factory=dict)
    committees: dict[UUID, CommitteeChange] = field(default_factory=dict)
    # contract id -> (community, reference) for contracts started in this batch
    started: dict[UUID, tuple[str, str]] = field(default_factory=dict)
    terminated: set[UUID] = field(default_factory=set)
    # community id hex -> whether the owners manage it themselves, as the batch leaves it
    self_managed: dict[str, bool] = field(default_factory=dict)
    # every event as a dated fact of its community, for the history (three_rates_history)
    dated: list[StagedFact] = field(default_factory=list)

    def committee(self, committee_id: UUID) -> CommitteeChange:
        found = self.committees.get(committee_id)
        if found is None:
            found = self.committees[committee_id] = CommitteeChange()
        return found


class ThreeRatesQueries(Protocol):
    def reading(self, *, snapshot: bool = True) -> AbstractContextManager[KeptReader]: ...

    def counts_in(self, where: Where) -> RateCounts: ...

    def communities_in(self, where: Where) -> list[CommunityFlags]: ...

    def year_ends_in(self, years: list[int], where: Where) -> list[RateCounts]: ...


def _scope(level: str, code: str | None) -> tuple[str | None, str | None, str | None]:
    """(community, street, district) filters for a level."""
    if level not in LEVELS:
        raise InvalidInput(f"level {level!r} is not one of {', '.join(LEVELS)}", rule="R2",
                           field="level")
    if level == "city":
        return (None, None, None)
    if not code:
        raise InvalidInput(f"a {level} needs its code", rule="R2", field="code")
    return (code if level == "community" else None, code if level == "street" else None,
            code if level == "district" else None)


class ThreeRatesProjection(BatchingProjection[ThreeRatesBatch]):
    name = VIEW_NAME

    def new_batch(self) -> ThreeRatesBatch:
        return ThreeRatesBatch()

    def topic_handlers(self) -> dict[str, Handler]:
        return {
            event_topic(Community, "Registered"): self.process_community_registered,
            event_topic(Community, "CommitteeRecorded"): self.process_committee_recorded,
            event_topic(Committee, "Formed"): self.process_committee_formed,
            event_topic(Committee, "PartyCoverageRecorded"): self.process_party_coverage,
            event_topic(Committee, "MemberLeft"): self.process_member_left,
            event_topic(Committee, "Dissolved"): self.process_dissolved,
            event_topic(ServiceContract, "Started"): self.process_contract_started,
            event_topic(ServiceContract, "Terminated"): self.process_contract_terminated,
            event_topic(Community, "SelfManagementRecorded"): self.process_self_managed,
            event_topic(Community, "SelfManagementEnded"): self.process_self_management_ended,
        }

    def _date(self, via: Via, ref: str, event: Any, tracking: Tracking, kind: str,
              key: str = "", value: str = "") -> None:
        self.batch.dated.append(StagedFact(via, ref, Fact(
            tracking.notification_id, as_date(event.effective_date), kind, key, value)))

    def process_community_registered(self, event: Any, tracking: Tracking) -> None:
        self.batch.communities.append((event.code, event.district, event.street))
        self._date("code", event.code, event, tracking, "registered")

    def process_committee_recorded(self, event: Any, tracking: Tracking) -> None:
        # The event carries no code: the slot is keyed by the community's aggregate id,
        # which the communities table keeps beside the code.
        self.batch.slots[(event.originator_id.hex, event.kind)] = event.committee_reference
        self._date("community_id", event.originator_id.hex, event, tracking, "slot",
                   event.kind, event.committee_reference or "")

    def process_committee_formed(self, event: Any, tracking: Tracking) -> None:
        change = self.batch.committee(event.originator_id)
        change.formed = CommitteeFormed(event.community_code, event.committee_reference,
                                        event.kind)
        change.party = set(event.party_member_ids)
        change.branch = bool(event.party_branch_set_up)
        self._date("code", event.community_code, event, tracking, "formed",
                   event.originator_id.hex, formed_value(
                       event.committee_reference, change.party, change.branch))

    def process_party_coverage(self, event: Any, tracking: Tracking) -> None:
        change = self.batch.committee(event.originator_id)
        change.party = set(event.party_member_ids)
        change.left.clear()
        change.branch = bool(event.party_branch_set_up)
        self._date("committee_id", event.originator_id.hex, event, tracking, "party",
                   event.originator_id.hex, party_value(change.party, change.branch))

    def process_member_left(self, event: Any, tracking: Tracking) -> None:
        change = self.batch.committee(event.originator_id)
        if change.party is not None:
            change.party.discard(event.member_id)
        else:
            change.left.add(event.member_id)
        self._date("committee_id", event.originator_id.hex, event, tracking, "left",
                   event.originator_id.hex, event.member_id)

    def process_dissolved(self, event: Any, tracking: Tracking) -> None:
        self.batch.committee(event.originator_id).dissolved = True
        self._date("committee_id", event.originator_id.hex, event, tracking, "dissolved",
                   event.originator_id.hex)

    def process_contract_started(self, event: Any, tracking: Tracking) -> None:
        self.batch.started[event.originator_id] = (event.community_code,
                                                   event.contract_reference)
        self._date("code", event.community_code, event, tracking, "started",
                   event.originator_id.hex)

    def process_contract_terminated(self, event: Any, tracking: Tracking) -> None:
        self.batch.terminated.add(event.originator_id)
        self._date("contract_id", event.originator_id.hex, event, tracking, "terminated",
                   event.originator_id.hex)

    def process_self_managed(self, event: Any, tracking: Tracking) -> None:
        self.batch.self_managed[event.originator_id.hex] = True
        self._date("community_id", event.originator_id.hex, event, tracking, "self", "", "1")

    def process_self_management_ended(self, event: Any, tracking: Tracking) -> None:
        self.batch.self_managed[event.originator_id.hex] = False
        self._date("community_id", event.originator_id.hex, event, tracking, "self", "", "0")

    # -- queries -----------------------------------------------------------------------------

    def rates(self, level: Level | str, code: str | None = None, *, year: int) -> ThreeRates:
        """The counts, rates and target flags of a community, street, district or the city."""
        counts = self.queries.counts_in(where_of(_scope(level, code)))
        return ThreeRates(level, None if level == "city" else code, year, **counts._asdict())

    def communities(self, level: Level | str, code: str | None = None) -> list[CommunityFlags]:
        """Each community of a scope with its place and flags, in place order: the rows
        ``rates`` counts, so a drill-down always adds up to its parent."""
        return self.queries.communities_in(where_of(_scope(level, code)))

    def trend(self, level: Level | str, code: str | None = None, *,
              years: list[int]) -> list[ThreeRates]:
        """The scope's counts as they stood at the end of each year, by business date: the
        communities with a history row dated by then, each with the flags of its last row
        dated by then (see ``projections/three_rates_history.py``)."""
        check_trend_years(years)
        counts = self.queries.year_ends_in(years, where_of(_scope(level, code)))
        return [ThreeRates(level, None if level == "city" else code, year, **c._asdict())
                for year, c in zip(years, counts, strict=True)]

    @property
    def queries(self) -> ThreeRatesQueries:
        """The view's reads, also of a place narrowed further (``Where``: the officials'
        dashboard, a street within the viewer's district)."""
        return cast(ThreeRatesQueries, self.view)


def check_trend_years(years: list[int]) -> None:
    if not 0 < len(years) <= TREND_YEARS_MAX:
        raise InvalidInput(f"a trend spans 1 to {TREND_YEARS_MAX} years", rule="R1",
                           field="years")


# Per community: has a committee, is served, has party coverage, from the facts. ``{c}`` etc.
# are the tables. The view keeps each community's three flags, each street's counts and
# year changes (three_rates_kept), so a read counts nothing; these decide the flags of the
# communities a batch touched, an index look-up each.
# The probes are scalar subqueries, not EXISTS: PostgreSQL may run an EXISTS as a hashed set
# too, and for a street of 157 communities among 50,000 it did, reading every slot and
# contract (18.6 ms, against 3.1 as probes).
_HAS_COMMITTEE = (
    "(SELECT 1 FROM {s} AS s WHERE s.community_id = c.community_id LIMIT 1) IS NOT NULL")
_HAS_SERVICE = (
    "(SELECT 1 FROM {k} AS k WHERE k.community_code = c.community_code AND NOT k.terminated "
    "LIMIT 1) IS NOT NULL OR (SELECT 1 FROM {o} AS o WHERE o.community_id = c.community_id "
    "LIMIT 1) IS NOT NULL")
_HAS_PARTY = (
    "(SELECT 1 FROM {s} AS s JOIN {m} AS m "
    "ON m.community_code = c.community_code AND m.committee_reference = s.committee_reference "
    "WHERE s.community_id = c.community_id AND NOT m.dissolved AND (m.party_branch_set_up "
    "OR EXISTS (SELECT 1 FROM {p} AS p WHERE p.committee_id = m.committee_id)) LIMIT 1) "
    "IS NOT NULL")


def _listing(committee: str, service: str, party: str) -> str:
    """The three facts, one row per community."""
    return ("SELECT c.community_code AS community_code, c.district AS district, "
            f"c.street AS street, CASE WHEN {committee} THEN 1 ELSE 0 END AS committee, "
            f"CASE WHEN {service} THEN 1 ELSE 0 END AS service, "
            f"CASE WHEN {party} THEN 1 ELSE 0 END AS party "
            "FROM {c} AS c WHERE ")


# Each community's flags as its facts give them, for the communities a batch touched (the
# view keeps them beside the community).
_RECOUNT = _listing(_HAS_COMMITTEE, _HAS_SERVICE, _HAS_PARTY)


_SQLITE_TABLES = {"c": COMMUNITIES, "s": SLOTS, "m": COMMITTEES, "p": PARTY, "k": CONTRACTS,
                  "o": SELF_MANAGED, "n": COUNTS, "y": YEAR_CHANGES, "h": HISTORY}


def _touched(batch: ThreeRatesBatch, codes: Iterable[str]) -> tuple[list[str], list[str]]:
    """The batch's communities whose flags may have changed (every fact is dated, so those
    with a dated fact), and those of them it counted before (not registered by it)."""
    registered = {code for code, _, _ in batch.communities}
    touched = sorted(set(codes))
    return touched, [code for code in touched if code not in registered]


def _community_rows(batch: ThreeRatesBatch) -> list[tuple[str, str, str, str]]:
    """(community id hex, code, district, street): the id joins the committee slots."""
    return [(Community.create_id(code).hex, code, district, street)
            for code, district, street in batch.communities]


def _slot_changes(batch: ThreeRatesBatch) -> tuple[list[tuple[str, str, str]],
                                                   list[tuple[str, str]]]:
    """Slots to set (community id, kind, reference) and to clear (community id, kind)."""
    sets = [(cid, kind, ref) for (cid, kind), ref in batch.slots.items() if ref is not None]
    clears = [(cid, kind) for (cid, kind), ref in batch.slots.items() if ref is None]
    return sets, clears


def _self_management_changes(
    batch: ThreeRatesBatch,
) -> tuple[list[tuple[str]], list[tuple[str]]]:
    """Communities whose owners now manage them, and those no longer doing so."""
    changes = sorted(batch.self_managed.items())
    return ([(cid,) for cid, on in changes if on], [(cid,) for cid, on in changes if not on])


def _new_contracts(batch: ThreeRatesBatch) -> list[tuple[UUID, str, str, bool]]:
    return [(cid, community, ref, cid in batch.terminated)
            for cid, (community, ref) in batch.started.items()]


Lookup = Callable[[Via, list[str]], dict[str, str]]


def _known_communities(batch: ThreeRatesBatch) -> dict[tuple[str, str], str]:
    """The communities the batch itself tells, by (via, ref): those it registers, and those
    of the committees it forms and the contracts it starts."""
    known = {("community_id", Community.create_id(code).hex): code
             for code, _, _ in batch.communities}
    known.update({("committee_id", cid.hex): change.formed.community_code
                  for cid, change in batch.committees.items() if change.formed is not None})
    known.update({("contract_id", cid.hex): code for cid, (code, _) in batch.started.items()})
    return known


def _dated_facts(batch: ThreeRatesBatch, lookup: Lookup) -> list[tuple[str, Fact]]:
    """Each staged fact with its community's code; ``lookup`` finds the rest in the view
    (called once per kind of reference, after the batch's facts are written)."""
    known = _known_communities(batch)
    missing: dict[Via, set[str]] = {}
    for staged in batch.dated:
        if staged.via != "code" and (staged.via, staged.ref) not in known:
            missing.setdefault(staged.via, set()).add(staged.ref)
    for via, refs in missing.items():
        known.update({(via, ref): code for ref, code in lookup(via, sorted(refs)).items()})
    out = []
    for staged in batch.dated:
        code = staged.ref if staged.via == "code" else known.get((staged.via, staged.ref))
        if code is None:
            raise ProgrammingError(f"three-rates view: no community for {staged.via} "
                                   f"{staged.ref} ({staged.fact.kind})")
        out.append((code, staged.fact))
    return out


def _history_rows(facts: Iterable[tuple[str, Fact]]) -> list[HistoryRow]:
    """Every community's history, folded from all its facts (see three_rates_history)."""
    by_code: dict[str, list[Fact]] = {}
    for code, fact in facts:
        by_code.setdefault(code, []).append(fact)
    return [(code, day, *flags) for code in sorted(by_code)
            for day, flags in timeline(by_code[code])]


def _fact_from_row(row: Any) -> tuple[str, Fact]:
    day = row["effective_date"]
    return (str(row["community_code"]), Fact(int(row["position"]), as_date(day), str(row["kind"]),
                                             str(row["key"]), str(row["value"])))


# Where a staged fact's community is found: (table, id column).
_LOOKUP_TABLES: dict[str, tuple[str, str]] = {
    "community_id": (COMMUNITIES, "community_id"), "committee_id": (COMMITTEES, "committee_id"),
    "contract_id": (CONTRACTS, "contract_id")}
class PostgresThreeRatesRecorder(KeptReads, PostgresViewRecorder[ThreeRatesBatch]):
    view_name = VIEW_NAME
    view_tables: ClassVar[tuple[tuple[str, str], ...]] = (
        (COMMUNITIES, "community_code"), (COUNTS, "district,street"),
        (YEAR_CHANGES, "district,street,year"), (SLOTS, "community_id,kind"),
        (COMMITTEES, "committee_id"), (PARTY, "committee_id,member_id"),
        (CONTRACTS, "contract_id"), (SELF_MANAGED, "community_id"),
        (FACTS, "community_code,position"), (HISTORY, "community_code,effective_date"))

    def view_create_statements(self) -> list[Composed]:
        c, s, m, p, k = (self.table(t) for t in (COMMUNITIES, SLOTS, COMMITTEES, PARTY,
                                                  CONTRACTS))
        o, h, f = self.table(SELF_MANAGED), self.table(HISTORY), self.table(FACTS)
        self.insert_fact_statement = SQL(
            "INSERT INTO {} (community_code, position, effective_date, kind, key, value) "
            "VALUES (%s, %s, %s, %s, %s, %s)").format(f)
        self.select_facts_statement = SQL(
            "SELECT community_code, position, effective_date, kind, key, value FROM {} "
            "WHERE community_code = ANY(%s)").format(f)
        self.delete_history_statement = SQL(
            "DELETE FROM {} WHERE community_code = ANY(%s)").format(h)
        self.insert_history_statement = SQL(
            "INSERT INTO {} (community_code, effective_date, committee, service, party) "
            "VALUES (%s, %s, %s, %s, %s)").format(h)
        self.lookup_statements = {
            via: SQL("SELECT {0} AS ref, community_code FROM {1} WHERE {0} = ANY(%s)").format(
                Identifier(column), self.table(table))
            for via, (table, column) in _LOOKUP_TABLES.items()}
        self.insert_self_managed_statement = SQL(
            "INSERT INTO {} VALUES (%s) ON CONFLICT DO NOTHING").format(o)
        self.delete_self_managed_statement = SQL(
            "DELETE FROM {} WHERE community_id = %s").format(o)
        self.insert_communities_statement = SQL(
            "INSERT INTO {} (community_id, community_code, district, street) "
            "VALUES (%s, %s, %s, %s)").format(c)
        self.upsert_slot_statement = SQL(
            "INSERT INTO {} (community_id, kind, committee_reference) VALUES (%s, %s, %s) "
            "ON CONFLICT (community_id, kind) DO UPDATE "
            "SET committee_reference = excluded.committee_reference").format(s)
        self.delete_slot_statement = SQL(
            "DELETE FROM {} WHERE community_id = %s AND kind = %s").format(s)
        self.insert_committee_statement = SQL(
            "INSERT INTO {} (committee_id, community_code, committee_reference, kind, "
            "party_branch_set_up, dissolved) VALUES (%s, %s, %s, %s, %s, %s)").format(m)
        self.update_committee_statement = SQL(
            "UPDATE {} SET party_branch_set_up = coalesce(%s::boolean, party_branch_set_up), "
            "dissolved = dissolved OR %s::boolean WHERE committee_id = %s").format(m)
        self.clear_party_statement = SQL("DELETE FROM {} WHERE committee_id = %s").format(p)
        self.delete_party_statement = SQL(
            "DELETE FROM {} WHERE committee_id = %s AND member_id = %s").format(p)
        self.insert_party_statement = SQL(
            "INSERT INTO {} (committee_id, member_id) VALUES (%s, %s)").format(p)
        self.insert_contract_statement = SQL(
            "INSERT INTO {} (contract_id, community_code, contract_reference, terminated) "
            "VALUES (%s, %s, %s, %s)").format(k)
        self.terminate_contract_statement = SQL(
            "UPDATE {} SET terminated = true WHERE contract_id = %s").format(k)
        n, y = self.table(COUNTS), self.table(YEAR_CHANGES)
        tables = {"c": c, "s": s, "m": m, "p": p, "k": k, "o": o, "n": n, "y": y, "h": h}
        self.tables = tables
        self.select_history_statement = SQL(
            "SELECT community_code, effective_date, committee, service, party FROM {} "
            "WHERE community_code = ANY(%s)").format(h)
        self.recount_statement = SQL(
            _RECOUNT + "c.community_code = ANY(%s)").format(**tables)
        self.select_kept_flags_statement = SQL(
            KEPT_ROWS + "c.community_code = ANY(%s)").format(**tables)
        self.update_flags_statement = SQL(UPDATE_FLAGS.format(c="{}", m="%s")).format(c)
        self.add_counts_statement = SQL(ADD_COUNTS.format(n="{}", m="%s")).format(n)
        self.add_year_changes_statement = SQL(ADD_YEAR_CHANGES.format(y="{}", m="%s")).format(y)
        self.drop_empty_years_statement = SQL(DROP_EMPTY_YEAR.format(y="{}", m="%s")).format(y)
        return [
            SQL("CREATE TABLE IF NOT EXISTS {} (community_id text PRIMARY KEY, "
                "community_code text NOT NULL UNIQUE, district text NOT NULL, "
                "street text NOT NULL, committee boolean NOT NULL DEFAULT false, "
                "service boolean NOT NULL DEFAULT false, "
                "party boolean NOT NULL DEFAULT false, lacks smallint NOT NULL DEFAULT 3)"
                ).format(c),
            *(SQL("CREATE INDEX IF NOT EXISTS {} ON {} (" + columns + ")").format(
                Identifier(COMMUNITIES + suffix), c) for suffix, columns in LACKS_INDEXES),
            SQL("CREATE TABLE IF NOT EXISTS {} (district text NOT NULL, street text NOT NULL, "
                "communities bigint NOT NULL, with_committee bigint NOT NULL, "
                "with_service bigint NOT NULL, with_party bigint NOT NULL, "
                "complete bigint NOT NULL, PRIMARY KEY (district, street))").format(n),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (street)").format(
                Identifier(COUNTS + "_street"), n),
            SQL("CREATE TABLE IF NOT EXISTS {} (district text NOT NULL, street text NOT NULL, "
                "year integer NOT NULL, communities bigint NOT NULL, "
                "with_committee bigint NOT NULL, with_service bigint NOT NULL, "
                "with_party bigint NOT NULL, PRIMARY KEY (district, street, year))").format(y),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (street)").format(
                Identifier(YEAR_CHANGES + "_street"), y),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (district, street)").format(
                Identifier(COMMUNITIES + "_place"), c),
            SQL("CREATE TABLE IF NOT EXISTS {} (community_id text NOT NULL, kind text NOT NULL, "
                "committee_reference text NOT NULL, PRIMARY KEY (community_id, kind))"
                ).format(s),
            SQL("CREATE TABLE IF NOT EXISTS {} (committee_id uuid PRIMARY KEY, "
                "community_code text NOT NULL, committee_reference text NOT NULL, "
                "kind text NOT NULL, party_branch_set_up boolean NOT NULL, "
                "dissolved boolean NOT NULL)").format(m),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (community_code, committee_reference)"
                ).format(Identifier(COMMITTEES + "_community"), m),
            SQL("CREATE TABLE IF NOT EXISTS {} (committee_id uuid NOT NULL, "
                "member_id text NOT NULL, PRIMARY KEY (committee_id, member_id))").format(p),
            SQL("CREATE TABLE IF NOT EXISTS {} (contract_id uuid PRIMARY KEY, "
                "community_code text NOT NULL, contract_reference text NOT NULL, "
                "terminated boolean NOT NULL)").format(k),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (community_code)").format(
                Identifier(CONTRACTS + "_community"), k),
            SQL("CREATE TABLE IF NOT EXISTS {} (community_id text PRIMARY KEY)").format(o),
            SQL("CREATE TABLE IF NOT EXISTS {} (community_code text NOT NULL, "
                "position bigint NOT NULL, effective_date date NOT NULL, kind text NOT NULL, "
                "key text NOT NULL, value text NOT NULL, "
                "PRIMARY KEY (community_code, position))").format(f),
            SQL("CREATE TABLE IF NOT EXISTS {} (community_code text NOT NULL, "
                "effective_date date NOT NULL, committee boolean NOT NULL, "
                "service boolean NOT NULL, party boolean NOT NULL, "
                "PRIMARY KEY (community_code, effective_date))").format(h),
        ]

    def _write_batch(self, curs: Cursor[DictRow], batch: ThreeRatesBatch) -> None:
        self._write_facts(curs, batch)
        if batch.dated:
            self._write_history(curs, batch)

    def _write_history(self, curs: Cursor[DictRow], batch: ThreeRatesBatch) -> None:
        """The batch's dated facts, then the history of each community they touch, folded
        again from all its facts (see three_rates_history)."""
        def lookup(via: Via, refs: list[str]) -> dict[str, str]:
            keys: list[Any] = refs if via == "community_id" else [UUID(r) for r in refs]
            curs.execute(self.lookup_statements[via], (keys,))
            return {r["ref"] if isinstance(r["ref"], str) else r["ref"].hex:
                    str(r["community_code"]) for r in curs.fetchall()}

        dated = _dated_facts(batch, lookup)
        curs.executemany(self.insert_fact_statement, [(code, *fact) for code, fact in dated])
        codes = sorted({code for code, _ in dated})
        curs.execute(self.select_facts_statement, (codes,))
        history = _history_rows(_fact_from_row(row) for row in curs.fetchall())
        curs.execute(self.select_history_statement, (codes,))
        old = [history_row(row) for row in curs.fetchall()]
        curs.execute(self.delete_history_statement, (codes,))
        curs.executemany(self.insert_history_statement, history)
        self._write_kept(curs, batch, codes, old, history)

    def _write_kept(self, curs: Cursor[DictRow], batch: ThreeRatesBatch, codes: list[str],
                    old: list[HistoryRow], new: list[HistoryRow]) -> None:
        """The touched communities' flags, and their streets' counts and year changes by
        the difference (see three_rates_kept)."""
        touched, counted = _touched(batch, codes)
        curs.execute(self.select_kept_flags_statement, (counted,))
        before = [CommunityFlags.from_row(row) for row in curs.fetchall()]
        curs.execute(self.recount_statement, (touched,))
        after = [CommunityFlags.from_row(row) for row in curs.fetchall()]
        curs.executemany(self.update_flags_statement, flag_rows(after))
        curs.executemany(self.add_counts_statement, count_changes(before, after))
        years = year_change_rows({f.community_code: (f.district, f.street) for f in after},
                                 old, new)
        curs.executemany(self.add_year_changes_statement, years)
        curs.executemany(self.drop_empty_years_statement, [key[:3] for key in years])

    def _write_facts(self, curs: Cursor[DictRow], batch: ThreeRatesBatch) -> None:
        if batch.communities:
            curs.executemany(self.insert_communities_statement, _community_rows(batch))
        sets, clears = _slot_changes(batch)
        if sets:
            curs.executemany(self.upsert_slot_statement, sets)
        if clears:
            curs.executemany(self.delete_slot_statement, clears)
        for committee_id, change in batch.committees.items():
            if change.formed is not None:
                curs.execute(self.insert_committee_statement,
                             (committee_id, *change.formed, bool(change.branch),
                              change.dissolved))
            else:
                curs.execute(self.update_committee_statement,
                             (change.branch, change.dissolved, committee_id))
                _check_updated(curs.rowcount, committee_id)
            if change.party is not None:
                if change.formed is None:
                    curs.execute(self.clear_party_statement, (committee_id,))
                if change.party:
                    curs.executemany(self.insert_party_statement,
                                     [(committee_id, member) for member in sorted(change.party)])
            elif change.left:
                curs.executemany(self.delete_party_statement,
                                 [(committee_id, member) for member in sorted(change.left)])
        new_contracts = _new_contracts(batch)
        if new_contracts:
            curs.executemany(self.insert_contract_statement, new_contracts)
        ended = [(cid,) for cid in sorted(batch.terminated) if cid not in batch.started]
        if ended:
            curs.executemany(self.terminate_contract_statement, ended)
        started, stopped = _self_management_changes(batch)
        if started:
            curs.executemany(self.insert_self_managed_statement, started)
        if stopped:
            curs.executemany(self.delete_self_managed_statement, stopped)

    @contextmanager
    def reading(self, *, snapshot: bool = True) -> Iterator[KeptReader]:
        with self.datastore.transaction(commit=False) as curs:
            if snapshot:
                curs.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")

            def run(template: str, where: Where) -> list[Any]:
                curs.execute(SQL(template.replace("{cond}", conditions(where, "%s"))).format(
                    **{name: table for name, table in self.tables.items()
                       if "{" + name + "}" in template}), [value for _, value in where])
                return curs.fetchall()

            yield KeptReader(run)

    @retry_if_lost
    def alone(self, read: Callable[[KeptReader], T]) -> T:
        return super().alone(read)


def _check_updated(updated: int, committee_id: UUID) -> None:
    if updated != 1:
        raise ProgrammingError(f"three-rates view: committee {committee_id} changed before "
                               "it was formed")


class SQLiteThreeRatesRecorder(KeptReads, SQLiteViewRecorder[ThreeRatesBatch]):
    view_name = VIEW_NAME
    view_tables: ClassVar[tuple[tuple[str, str], ...]] = (
        (COMMUNITIES, "community_code"), (COUNTS, "district, street"),
        (YEAR_CHANGES, "district, street, year"), (SLOTS, "community_id, kind"),
        (COMMITTEES, "committee_id"), (PARTY, "committee_id, member_id"),
        (CONTRACTS, "contract_id"), (SELF_MANAGED, "community_id"),
        (FACTS, "community_code, position"), (HISTORY, "community_code, effective_date"))

    def view_create_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {COMMUNITIES} (community_id TEXT PRIMARY KEY, "
            "community_code TEXT NOT NULL UNIQUE, district TEXT NOT NULL, "
            "street TEXT NOT NULL, committee INTEGER NOT NULL DEFAULT 0, "
            "service INTEGER NOT NULL DEFAULT 0, party INTEGER NOT NULL DEFAULT 0, "
            "lacks INTEGER NOT NULL DEFAULT 3)",
            *(f"CREATE INDEX IF NOT EXISTS {COMMUNITIES}{suffix} ON {COMMUNITIES} ({columns})"
              for suffix, columns in LACKS_INDEXES),
            f"CREATE TABLE IF NOT EXISTS {COUNTS} (district TEXT NOT NULL, "
            "street TEXT NOT NULL, communities INTEGER NOT NULL, "
            "with_committee INTEGER NOT NULL, with_service INTEGER NOT NULL, "
            "with_party INTEGER NOT NULL, complete INTEGER NOT NULL, "
            "PRIMARY KEY (district, street))",
            f"CREATE INDEX IF NOT EXISTS {COUNTS}_street ON {COUNTS} (street)",
            f"CREATE TABLE IF NOT EXISTS {YEAR_CHANGES} (district TEXT NOT NULL, "
            "street TEXT NOT NULL, year INTEGER NOT NULL, communities INTEGER NOT NULL, "
            "with_committee INTEGER NOT NULL, with_service INTEGER NOT NULL, "
            "with_party INTEGER NOT NULL, PRIMARY KEY (district, street, year))",
            f"CREATE INDEX IF NOT EXISTS {YEAR_CHANGES}_street ON {YEAR_CHANGES} (street)",
            f"CREATE INDEX IF NOT EXISTS {COMMUNITIES}_place ON {COMMUNITIES} "
            "(district, street)",
            f"CREATE TABLE IF NOT EXISTS {SLOTS} (community_id TEXT NOT NULL, "
            "kind TEXT NOT NULL, committee_reference TEXT NOT NULL, "
            "PRIMARY KEY (community_id, kind))",
            f"CREATE TABLE IF NOT EXISTS {COMMITTEES} (committee_id TEXT PRIMARY KEY, "
            "community_code TEXT NOT NULL, committee_reference TEXT NOT NULL, "
            "kind TEXT NOT NULL, party_branch_set_up INTEGER NOT NULL, "
            "dissolved INTEGER NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {COMMITTEES}_community ON {COMMITTEES} "
            "(community_code, committee_reference)",
            f"CREATE TABLE IF NOT EXISTS {PARTY} (committee_id TEXT NOT NULL, "
            "member_id TEXT NOT NULL, PRIMARY KEY (committee_id, member_id))",
            f"CREATE TABLE IF NOT EXISTS {CONTRACTS} (contract_id TEXT PRIMARY KEY, "
            "community_code TEXT NOT NULL, contract_reference TEXT NOT NULL, "
            "terminated INTEGER NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {CONTRACTS}_community ON {CONTRACTS} (community_code)",
            f"CREATE TABLE IF NOT EXISTS {SELF_MANAGED} (community_id TEXT PRIMARY KEY)",
            f"CREATE TABLE IF NOT EXISTS {FACTS} (community_code TEXT NOT NULL, "
            "position INTEGER NOT NULL, effective_date TEXT NOT NULL, kind TEXT NOT NULL, "
            "key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (community_code, position))",
            f"CREATE TABLE IF NOT EXISTS {HISTORY} (community_code TEXT NOT NULL, "
            "effective_date TEXT NOT NULL, committee INTEGER NOT NULL, "
            "service INTEGER NOT NULL, party INTEGER NOT NULL, "
            "PRIMARY KEY (community_code, effective_date))",
        ]

    def _write_batch(self, c: SQLiteCursor, batch: ThreeRatesBatch) -> None:
        self._write_facts(c, batch)
        if batch.dated:
            self._write_history(c, batch)

    def _write_history(self, c: SQLiteCursor, batch: ThreeRatesBatch) -> None:
        """The batch's dated facts, then the history of each community they touch, folded
        again from all its facts (see three_rates_history)."""
        def lookup(via: Via, refs: list[str]) -> dict[str, str]:
            table, column = _LOOKUP_TABLES[via]
            found: dict[str, str] = {}
            for chunk in in_chunks(refs):
                c.execute(f"SELECT {column} AS ref, community_code FROM {table} "
                          f"WHERE {column} IN ({','.join('?' * len(chunk))})", chunk)
                found.update({str(r["ref"]): str(r["community_code"]) for r in c.fetchall()})
            return found

        dated = _dated_facts(batch, lookup)
        c.executemany(f"INSERT INTO {FACTS} VALUES (?, ?, ?, ?, ?, ?)",
                      [(code, fact.position, fact.effective_date.isoformat(), fact.kind,
                        fact.key, fact.value) for code, fact in dated])
        codes = sorted({code for code, _ in dated})
        facts: list[tuple[str, Fact]] = []
        old: list[HistoryRow] = []
        for chunk in in_chunks(codes):
            marks = ",".join("?" * len(chunk))
            c.execute(f"SELECT community_code, position, effective_date, kind, key, value "
                      f"FROM {FACTS} WHERE community_code IN ({marks})", chunk)
            facts += [_fact_from_row(row) for row in c.fetchall()]
            c.execute(f"SELECT community_code, effective_date, committee, service, party "
                      f"FROM {HISTORY} WHERE community_code IN ({marks})", chunk)
            old += [history_row(row) for row in c.fetchall()]
            c.execute(f"DELETE FROM {HISTORY} WHERE community_code IN ({marks})", chunk)
        history = _history_rows(facts)
        c.executemany(f"INSERT INTO {HISTORY} VALUES (?, ?, ?, ?, ?)",
                      [(code, day.isoformat(), *flags) for code, day, *flags in history])
        self._write_kept(c, batch, codes, old, history)

    def _write_kept(self, c: SQLiteCursor, batch: ThreeRatesBatch, codes: list[str],
                    old: list[HistoryRow], new: list[HistoryRow]) -> None:
        """The touched communities' flags, and their streets' counts and year changes by
        the difference (see three_rates_kept)."""
        touched, counted = _touched(batch, codes)
        before = self._chunked_flags(c, KEPT_ROWS, counted)
        after = self._chunked_flags(c, _RECOUNT, touched)
        c.executemany(UPDATE_FLAGS.format(c=COMMUNITIES, m="?"), flag_rows(after))
        c.executemany(ADD_COUNTS.format(n=COUNTS, m="?"), count_changes(before, after))
        years = year_change_rows({f.community_code: (f.district, f.street) for f in after},
                                 old, new)
        c.executemany(ADD_YEAR_CHANGES.format(y=YEAR_CHANGES, m="?"), years)
        c.executemany(DROP_EMPTY_YEAR.format(y=YEAR_CHANGES, m="?"), [key[:3] for key in years])

    @staticmethod
    def _chunked_flags(c: SQLiteCursor, select: str, codes: list[str]) -> list[CommunityFlags]:
        found = []
        for chunk in in_chunks(codes):
            c.execute(select.format(**_SQLITE_TABLES)
                      + f"c.community_code IN ({','.join('?' * len(chunk))})", chunk)
            found += [CommunityFlags.from_row(row) for row in c.fetchall()]
        return found

    def _write_facts(self, c: SQLiteCursor, batch: ThreeRatesBatch) -> None:
        if batch.communities:
            c.executemany(f"INSERT INTO {COMMUNITIES} (community_id, community_code, "
                          "district, street) VALUES (?, ?, ?, ?)", _community_rows(batch))
        sets, clears = _slot_changes(batch)
        if sets:
            c.executemany(f"INSERT INTO {SLOTS} VALUES (?, ?, ?) ON CONFLICT "
                          "(community_id, kind) DO UPDATE "
                          "SET committee_reference = excluded.committee_reference", sets)
        if clears:
            c.executemany(f"DELETE FROM {SLOTS} WHERE community_id = ? AND kind = ?", clears)
        for committee_id, change in batch.committees.items():
            key = committee_id.hex
            if change.formed is not None:
                c.execute(f"INSERT INTO {COMMITTEES} VALUES (?, ?, ?, ?, ?, ?)",
                          (key, *change.formed, bool(change.branch), change.dissolved))
            else:
                c.execute(f"UPDATE {COMMITTEES} SET "
                          "party_branch_set_up = coalesce(?, party_branch_set_up), "
                          "dissolved = dissolved OR ? WHERE committee_id = ?",
                          (change.branch, change.dissolved, key))
                _check_updated(c.sqlite_cursor.rowcount, committee_id)
            if change.party is not None:
                if change.formed is None:
                    c.execute(f"DELETE FROM {PARTY} WHERE committee_id = ?", (key,))
                if change.party:
                    c.executemany(f"INSERT INTO {PARTY} VALUES (?, ?)",
                                  [(key, member) for member in sorted(change.party)])
            elif change.left:
                c.executemany(f"DELETE FROM {PARTY} WHERE committee_id = ? AND member_id = ?",
                              [(key, member) for member in sorted(change.left)])
        new_contracts = [(cid.hex, *rest) for cid, *rest in _new_contracts(batch)]
        if new_contracts:
            c.executemany(f"INSERT INTO {CONTRACTS} VALUES (?, ?, ?, ?)", new_contracts)
        ended = [(cid.hex,) for cid in sorted(batch.terminated) if cid not in batch.started]
        if ended:
            c.executemany(f"UPDATE {CONTRACTS} SET terminated = 1 WHERE contract_id = ?", ended)
        started, stopped = _self_management_changes(batch)
        if started:
            c.executemany(f"INSERT INTO {SELF_MANAGED} VALUES (?) ON CONFLICT DO NOTHING",
                          started)
        if stopped:
            c.executemany(f"DELETE FROM {SELF_MANAGED} WHERE community_id = ?", stopped)

    @contextmanager
    def reading(self, *, snapshot: bool = True) -> Iterator[KeptReader]:
        # One transaction: in WAL mode its reads share one snapshot, asked for or not.
        with self.datastore.transaction(commit=False) as c:
            def run(template: str, where: Where) -> list[Any]:
                c.execute(template.replace("{cond}", conditions(where, "?")).format(
                    **_SQLITE_TABLES), [value for _, value in where])
                return list(c.fetchall())

            yield KeptReader(run)


ThreeRatesProjection.postgres_recorder = PostgresThreeRatesRecorder
ThreeRatesProjection.sqlite_recorder = SQLiteThreeRatesRecorder
