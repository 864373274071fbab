"""The city's audit search over every district's log, built by the city reader.

The audit view of one log (``projections.audit``) keys each row by its log position. Two
shards' logs number their events independently, so in the city a position alone names no
event: each city row also names its **shard** (the district log it came from), and is keyed
by (shard, position). The rows are those each shard's own audit view holds, value for value;
the handlers are the audit view's own.

**Order and paging: by (shard, position).** Both are fixed when a row is written and
together unique, so a page's cursor (``east:123``) finds the next page exactly and the
primary key serves it. Within a shard this is that log's own order, so the city's audit of a
community (always on one shard) pages exactly as its district's audit does. Recorded time
was not chosen: it comes from the clocks of different processes, which two districts' logs
do not share, and even within one log it need not follow the log's order; a cursor on it
would need a tie-breaker anyway. A shard whose relay is behind adds rows among those of its
own shard, before a reader's cursor if it has moved on to a later shard: to follow the city
as it grows, page each shard on its own (``shard=``), whose rows only ever come after.

Exactly once, per shard: one tracking row per shard (``shard:<name>``), as for the other
city views (``projections.city_reader``). The city's tables are its own (``city_audit_*``):
a single log's audit tables are unchanged, with no migration.

Works withdrawals' references are unique within a log only (a posting's id is derived from
its reference), so the city's table of withdrawal authorities keys each by
``<shard>/<reference>``; units and votes have ids derived from their community's code, which
the community directory keeps unique city-wide.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, NamedTuple

from eventsourcing.persistence import Tracking
from psycopg.sql import SQL

from domain.errors import InvalidInput
from ledger.application import FundLedger
from ledger.persistence.pg_binary import TEXT
from projections.audit import (
    ENTRY_COLUMNS,
    FILTER_PG,
    FILTER_SQLITE,
    PAGE_SIZE_MAX,
    AuditBatch,
    AuditEntry,
    AuditFilter,
    AuditProjection,
    AuditTables,
    PostgresAuditRecorder,
    SQLiteAuditRecorder,
    sqlite_params,
)
from projections.columns import Column, from_sqlite, names
from projections.runner import open_projection

CITY_VIEW_NAME = "city_audit"
CITY_ENTRIES = "city_audit_entries"
CITY_UNITS = "city_audit_units"
CITY_VOTES = "city_audit_votes"
CITY_AUTHORITIES = "city_audit_authorities"
UPSTREAM_PREFIX = "shard:"  # ShardMap.upstream_name's

CITY_ENTRY_COLUMNS = (Column("shard", TEXT), *ENTRY_COLUMNS)
_CITY_KEY = "shard, notification_id"
_CITY_ENTRY_INDEXES = (("_community", f"community_code, {_CITY_KEY}"),
                       ("_unit", f"community_code, unit_key, {_CITY_KEY}"))
_CITY_VIEW_TABLES = ((CITY_ENTRIES, "shard,notification_id"), (CITY_UNITS, "unit_id"),
                     (CITY_VOTES, "vote_id"), (CITY_AUTHORITIES, "reference"))
_POSITION = re.compile(r"^([a-z][a-z0-9_]{0,30}):([0-9]{1,18})$")


class CityPosition(NamedTuple):
    """A city audit row's key, and a page's cursor: the shard, and the position in its log."""

    shard: str
    position: int

    @property
    def text(self) -> str:
        """``east:123``: as a page's ``next_after`` is given and taken back."""
        return f"{self.shard}:{self.position}"


CITY_START = CityPosition("", 0)  # before every shard's first row


def parse_city_position(text: str, *, field: str = "after") -> CityPosition:
    """A cursor as ``CityPosition.text`` wrote it, or InvalidInput naming ``field``."""
    found = _POSITION.match(text)
    if found is None:
        raise InvalidInput(f"{field} {text!r} is not a city audit position: give the "
                           "next_after of the page before, e.g. east:123 (shard:position)",
                           rule="city-position", field=field)
    return CityPosition(found[1], int(found[2]))


def shard_of_upstream(upstream_name: str) -> str:
    """The shard a city view's upstream (``shard:east``) names: ``east``."""
    return upstream_name.removeprefix(UPSTREAM_PREFIX)


@dataclass(frozen=True)
class CityAuditEntry(AuditEntry):
    """An audit row of one shard's log, as the city holds it."""

    shard: str

    @property
    def position(self) -> CityPosition:
        return CityPosition(self.shard, self.notification_id)


assert {c.name for c in CITY_ENTRY_COLUMNS} == {f.name for f in fields(CityAuditEntry)}


@dataclass
class ShardBatch(AuditBatch):
    """A batch of one shard's page (the city reader commits one shard's page at a time),
    its withdrawals' references put in that shard's name (see the module's doc)."""

    shard: str = ""


def in_shard(batch: AuditBatch, shard: str) -> ShardBatch:
    def named(reference: str) -> str:
        return f"{shard}/{reference}"

    staged = {f.name: getattr(batch, f.name) for f in fields(AuditBatch)}
    staged["authorities"] = {named(r): a for r, a in batch.authorities.items()}
    staged["unit_rows"] = [(entry, unit, None if withdrawal is None else named(withdrawal))
                           for entry, unit, withdrawal in batch.unit_rows]
    return ShardBatch(**staged, shard=shard)


_SELECT_CITY_PG = (
    f"SELECT {names(CITY_ENTRY_COLUMNS)} FROM {{}} WHERE ({_CITY_KEY}) > (%s, %s) "
    f"AND (%s::text IS NULL OR shard = %s) AND {FILTER_PG} "
    f"ORDER BY {_CITY_KEY} LIMIT %s")
_SELECT_CITY_SQLITE = (
    f"SELECT {names(CITY_ENTRY_COLUMNS)} FROM {CITY_ENTRIES} WHERE ({_CITY_KEY}) > (?, ?) "
    f"AND (? IS NULL OR shard = ?) AND {FILTER_SQLITE} ORDER BY {_CITY_KEY} LIMIT ?")


class _CityTables(AuditTables):
    """What the city's audit recorders change on either store's audit recorder: their
    tables, entries keyed by (shard, position), and each batch's shard named on commit."""

    view_name = CITY_VIEW_NAME
    entries_table = CITY_ENTRIES
    units_table = CITY_UNITS
    votes_table = CITY_VOTES
    authorities_table = CITY_AUTHORITIES
    entry_columns = CITY_ENTRY_COLUMNS
    entry_indexes = _CITY_ENTRY_INDEXES
    view_tables: ClassVar[tuple[tuple[str, str], ...]] = _CITY_VIEW_TABLES

    @classmethod
    def entries_definition(cls, *, sqlite: bool = False) -> str:
        return ", ".join([*(c.definition(sqlite=sqlite) for c in CITY_ENTRY_COLUMNS),
                          f"PRIMARY KEY ({_CITY_KEY})"])

    def entry_values(self, batch: AuditBatch,
                     rows: list[list[Any]]) -> Iterable[Sequence[Any]]:
        assert isinstance(batch, ShardBatch), "the city's audit commits through commit_batch"
        shard = batch.shard
        return ([shard, *row] for row in rows)

    def commit_batch(self, batch: AuditBatch, tracking: Tracking, *,
                     page_start: int | None = None) -> None:
        super().commit_batch(  # type: ignore[misc]
            in_shard(batch, shard_of_upstream(tracking.application_name)), tracking,
            page_start=page_start)


class PostgresCityAuditRecorder(_CityTables, PostgresAuditRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.select_city_entries_statement = SQL(_SELECT_CITY_PG).format(
            self.table(CITY_ENTRIES))

    def select_city_entries(self, audit_filter: AuditFilter, after: CityPosition,
                            shard: str | None, limit: int) -> list[CityAuditEntry]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_city_entries_statement,
                         (*after, shard, shard, *audit_filter.params(), limit))
            return [CityAuditEntry(**row) for row in curs.fetchall()]


class SQLiteCityAuditRecorder(_CityTables, SQLiteAuditRecorder):
    def select_city_entries(self, audit_filter: AuditFilter, after: CityPosition,
                            shard: str | None, limit: int) -> list[CityAuditEntry]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(_SELECT_CITY_SQLITE,
                      (*after, shard, shard, *sqlite_params(audit_filter), limit))
            rows = c.fetchall()
        return [CityAuditEntry(**from_sqlite(row, CITY_ENTRY_COLUMNS)) for row in rows]


class CityAuditProjection(AuditProjection):
    """The audit view over every shard's log (the city reader feeds it, one shard's page at
    a time); its lists of votes (``votes``) are the audit view's, over the city."""

    name = CITY_VIEW_NAME

    def entries(self, audit_filter: AuditFilter | None = None, *, after: int = 0,
                limit: int = 100) -> list[AuditEntry]:
        raise TypeError("the city's audit rows are keyed by shard and position: read them "
                        "with page() (a position alone names no event in the city)")

    def page(self, audit_filter: AuditFilter | None = None, *,
             after: CityPosition = CITY_START, shard: str | None = None,
             limit: int = 100) -> list[CityAuditEntry]:
        """A page of entries by (shard, position) after ``after`` (keyset paging), of one
        shard only if ``shard`` is given."""
        assert 0 < limit <= PAGE_SIZE_MAX
        view = self.view
        assert isinstance(view, PostgresCityAuditRecorder | SQLiteCityAuditRecorder)
        return view.select_city_entries(audit_filter or AuditFilter(), after, shard, limit)


CityAuditProjection.postgres_recorder = PostgresCityAuditRecorder
CityAuditProjection.sqlite_recorder = SQLiteCityAuditRecorder


def open_city_audit(city: FundLedger) -> CityAuditProjection:
    """The city's audit view in the city database, its tables created if missing."""
    return open_projection(city, CityAuditProjection)


def city_audit_page(view: CityAuditProjection, audit_filter: AuditFilter, *,
                    after: str | None = None, shard: str | None = None,
                    limit: int = 100) -> tuple[list[CityAuditEntry], str | None]:
    """What ``GET /v1/audit`` answers on the city database: a page of entries and the
    cursor of the next one (``next_after``, None after the last page). ``after`` is the
    ``next_after`` of the page before (``east:123``), or None for the first page; a malformed
    one is InvalidInput naming ``after``."""
    if not 0 < limit <= PAGE_SIZE_MAX:
        raise InvalidInput(f"limit {limit} is not between 1 and {PAGE_SIZE_MAX}",
                           rule="page-size", field="limit")
    start = CITY_START if after is None else parse_city_position(after)
    entries = view.page(audit_filter, after=start, shard=shard, limit=limit)
    return entries, entries[-1].position.text if len(entries) == limit else None
