"""The three-rates view (R1): per community, street, district and city, how many communities
have a committee, a serving enterprise and party-organisation coverage, and whether the
year's targets are met.

The view keeps the facts the rates are made of, not the rates: the communities and their
place (``Community.Registered``), each community's current committee of each kind
(``Community.CommitteeRecorded``; a ``None`` reference removes it), each committee's party
coverage (``Committee.Formed``, ``PartyCoverageRecorded``, ``MemberLeft``, ``Dissolved``) and
each service contract's state (``ServiceContract.Started``, ``Terminated``). A query counts
over a scope in one statement, so the counts always agree with the facts.

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, ClassVar, Literal, NamedTuple, Protocol, cast
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
from projections.recorders import PostgresViewRecorder, SQLiteViewRecorder
from projections.runner import BatchingProjection, Handler, event_topic

VIEW_NAME = "three_rates"
COMMUNITIES = "three_rates_communities"
SLOTS = "three_rates_committee_slots"
COMMITTEES = "three_rates_committees"
PARTY = "three_rates_party_members"
CONTRACTS = "three_rates_contracts"
SELF_MANAGED = "three_rates_self_managed"

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

    def committee(self, committee_id: UUID) -> CommitteeChange:
        found = self.committees.get(committee_id)
        if found is None:
            found = self.committees[committee_id] = CommitteeChange()
        return found


class RateCounts(NamedTuple):
    """A scope's counts, named as the counting SELECT names its columns (see _FLAGS)."""

    communities: int
    with_committee: int
    with_service: int
    with_party: int

    @classmethod
    def from_row(cls, row: Any) -> RateCounts:
        """From a row of either store, by column name."""
        return cls._make(int(row[name]) for name in cls._fields)


class CommunityFlags(NamedTuple):
    """One community's place and which of the three it has (see _ROWS)."""

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


class ThreeRatesQueries(Protocol):
    def select_counts(self, *scope: str | None) -> RateCounts: ...

    def select_communities(self, *scope: str | None) -> list[CommunityFlags]: ...


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

    def process_community_registered(self, event: Any, tracking: Tracking) -> None:
        self.batch.communities.append((event.code, event.district, event.street))

    def process_committee_recorded(self, event: Any, tracking: Tracking) -> None:
        # The event carries no code: the slot is keyed by the community's aggregate id,
        # which the communities table keeps beside the code.
        self.batch.slots[(event.originator_id.hex, event.kind)] = event.committee_reference

    def process_committee_formed(self, event: Any, tracking: Tracking) -> None:
        change = self.batch.committee(event.originator_id)
        change.formed = CommitteeFormed(event.community_code, event.committee_reference,
                                        event.kind)
        change.party = set(event.party_member_ids)
        change.branch = bool(event.party_branch_set_up)

    def process_party_coverage(self, event: Any, tracking: Tracking) -> None:
        change = self.batch.committee(event.originator_id)
        change.party = set(event.party_member_ids)
        change.left.clear()
        change.branch = bool(event.party_branch_set_up)

    def process_member_left(self, event: Any, tracking: Tracking) -> None:
        change = self.batch.committee(event.originator_id)
        if change.party is not None:
            change.party.discard(event.member_id)
        else:
            change.left.add(event.member_id)

    def process_dissolved(self, event: Any, tracking: Tracking) -> None:
        self.batch.committee(event.originator_id).dissolved = True

    def process_contract_started(self, event: Any, tracking: Tracking) -> None:
        self.batch.started[event.originator_id] = (event.community_code,
                                                   event.contract_reference)

    def process_contract_terminated(self, event: Any, tracking: Tracking) -> None:
        self.batch.terminated.add(event.originator_id)

    def process_self_managed(self, event: Any, tracking: Tracking) -> None:
        self.batch.self_managed[event.originator_id.hex] = True

    def process_self_management_ended(self, event: Any, tracking: Tracking) -> None:
        self.batch.self_managed[event.originator_id.hex] = False

    # -- queries -----------------------------------------------------------------------------

    def rates(self, level: Level | str, code: str | None = None, *, year: int) -> ThreeRates:
        """The counts, rates and target flags of a community, street, district or the city."""
        queries = cast(ThreeRatesQueries, self.view)
        counts = queries.select_counts(*_scope(level, code))
        return ThreeRates(level, None if level == "city" else code, year, **counts._asdict())

    def communities(self, level: Level | str, code: str | None = None) -> list[CommunityFlags]:
        """Each community of a scope with its place and flags, in place order: the rows
        ``rates`` counts, so a drill-down always adds up to its parent."""
        return cast(ThreeRatesQueries, self.view).select_communities(*_scope(level, code))


# Per community: has a committee, is served, has party coverage. ``{c}`` etc. are the tables.
_HAS_COMMITTEE = ("EXISTS (SELECT 1 FROM {s} AS s WHERE s.community_id = c.community_id)")
_HAS_SERVICE = (
    "EXISTS (SELECT 1 FROM {k} AS k "
    "WHERE k.community_code = c.community_code AND NOT k.terminated) OR EXISTS (SELECT 1 "
    "FROM {o} AS o WHERE o.community_id = c.community_id)")
_HAS_PARTY = (
    "EXISTS (SELECT 1 FROM {s} AS s JOIN {m} AS m "
    "ON m.community_code = c.community_code AND m.committee_reference = s.committee_reference "
    "WHERE s.community_id = c.community_id AND NOT m.dissolved AND (m.party_branch_set_up "
    "OR EXISTS (SELECT 1 FROM {p} AS p WHERE p.committee_id = m.committee_id)))")
_FLAGS = (
    "SELECT count(*) AS communities, "
    f"coalesce(sum(CASE WHEN {_HAS_COMMITTEE} THEN 1 ELSE 0 END), 0) AS with_committee, "
    f"coalesce(sum(CASE WHEN {_HAS_SERVICE} THEN 1 ELSE 0 END), 0) AS with_service, "
    f"coalesce(sum(CASE WHEN {_HAS_PARTY} THEN 1 ELSE 0 END), 0) AS with_party "
    "FROM {c} AS c WHERE "
)
# The same facts one row per community, for a drill-down and for what each one lacks.
_ROWS = (
    "SELECT c.community_code AS community_code, c.district AS district, c.street AS street, "
    f"CASE WHEN {_HAS_COMMITTEE} THEN 1 ELSE 0 END AS committee, "
    f"CASE WHEN {_HAS_SERVICE} THEN 1 ELSE 0 END AS service, "
    f"CASE WHEN {_HAS_PARTY} THEN 1 ELSE 0 END AS party "
    "FROM {c} AS c WHERE "
)
_ROWS_ORDER = " ORDER BY c.district, c.street, c.community_code"
_SCOPE = ("(%s::text IS NULL OR c.community_code = %s) AND (%s::text IS NULL OR c.street = %s) "
          "AND (%s::text IS NULL OR c.district = %s)")
_SCOPE_SQLITE = ("(? IS NULL OR c.community_code = ?) AND (? IS NULL OR c.street = ?) "
                 "AND (? IS NULL OR c.district = ?)")


def _scope_params(community: str | None, street: str | None,
                  district: str | None) -> tuple[str | None, ...]:
    return (community, community, street, street, district, district)


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


class PostgresThreeRatesRecorder(PostgresViewRecorder[ThreeRatesBatch]):
    view_name = VIEW_NAME
    view_tables: ClassVar[tuple[tuple[str, str], ...]] = (
        (COMMUNITIES, "community_code"), (SLOTS, "community_id,kind"),
        (COMMITTEES, "committee_id"), (PARTY, "committee_id,member_id"),
        (CONTRACTS, "contract_id"), (SELF_MANAGED, "community_id"))

    def view_create_statements(self) -> list[Composed]:
        c, s, m, p, k = (self.table(t) for t in (COMMUNITIES, SLOTS, COMMITTEES, PARTY,
                                                  CONTRACTS))
        o = self.table(SELF_MANAGED)
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
        self.select_communities_statement = SQL(_ROWS + _SCOPE + _ROWS_ORDER).format(
            c=c, s=s, m=m, p=p, k=k, o=o)
        self.select_counts_statement = SQL(_FLAGS + _SCOPE).format(c=c, s=s, m=m, p=p, k=k,
                                                                   o=o)
        return [
            SQL("CREATE TABLE IF NOT EXISTS {} (community_id text PRIMARY KEY, "
                "community_code text NOT NULL UNIQUE, district text NOT NULL, "
                "street text NOT NULL)").format(c),
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
        ]

    def _write_batch(self, curs: Cursor[DictRow], batch: ThreeRatesBatch) -> None:
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

    @retry_if_lost
    def select_counts(self, *scope: str | None) -> RateCounts:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_counts_statement, _scope_params(*scope))
            row = curs.fetchone()
        assert row is not None
        return RateCounts.from_row(row)

    def select_communities(self, *scope: str | None) -> list[CommunityFlags]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_communities_statement, _scope_params(*scope))
            return [CommunityFlags.from_row(row) for row in curs.fetchall()]


def _check_updated(updated: int, committee_id: UUID) -> None:
    if updated != 1:
        raise ProgrammingError(f"three-rates view: committee {committee_id} changed before "
                               "it was formed")


class SQLiteThreeRatesRecorder(SQLiteViewRecorder[ThreeRatesBatch]):
    view_name = VIEW_NAME
    view_tables: ClassVar[tuple[tuple[str, str], ...]] = (
        (COMMUNITIES, "community_code"), (SLOTS, "community_id, kind"),
        (COMMITTEES, "committee_id"), (PARTY, "committee_id, member_id"),
        (CONTRACTS, "contract_id"), (SELF_MANAGED, "community_id"))

    def view_create_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {COMMUNITIES} (community_id TEXT PRIMARY KEY, "
            "community_code TEXT NOT NULL UNIQUE, district TEXT NOT NULL, "
            "street TEXT NOT NULL)",
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
        ]

    def _write_batch(self, c: SQLiteCursor, batch: ThreeRatesBatch) -> None:
        if batch.communities:
            c.executemany(f"INSERT INTO {COMMUNITIES} VALUES (?, ?, ?, ?)",
                          _community_rows(batch))
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

    def select_counts(self, *scope: str | None) -> RateCounts:
        statement = _FLAGS.format(c=COMMUNITIES, s=SLOTS, m=COMMITTEES, p=PARTY,
                                  k=CONTRACTS, o=SELF_MANAGED) + _SCOPE_SQLITE
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, _scope_params(*scope))
            row = c.fetchone()
        return RateCounts.from_row(row)


    def select_communities(self, *scope: str | None) -> list[CommunityFlags]:
        statement = _ROWS.format(c=COMMUNITIES, s=SLOTS, m=COMMITTEES, p=PARTY, k=CONTRACTS,
                                 o=SELF_MANAGED) + _SCOPE_SQLITE + _ROWS_ORDER
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, _scope_params(*scope))
            return [CommunityFlags.from_row(row) for row in c.fetchall()]

ThreeRatesProjection.postgres_recorder = PostgresThreeRatesRecorder
ThreeRatesProjection.sqlite_recorder = SQLiteThreeRatesRecorder
