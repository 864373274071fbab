"""The credit view (E3): each enterprise's score, rank and grade per half-year, every point
with the event that caused it.

The view keeps the scoring inputs as they arrive — the enterprises (``Enterprise.Registered``:
the events of the credit record carry the aggregate id, not the credit code), each credit
event (``Commended``, ``ViolationRecorded``, ``FineRecorded``, ``ComplaintTicketRecorded``)
with its log position, and each service contract's served area and dates
(``ServiceContract.Started``, ``Terminated``) — and the results, computed from those inputs
by the domain's own ``score_enterprise`` and ``rank_and_grade`` with the configured scheme,
so the view answers exactly what ``app.credit_score`` / ``app.credit_ranking`` answer.

Which scores are stored. The *horizon* is the half-year of the latest business date among
those inputs (a credit event's date, a contract's start or termination). For every period
up to the horizon the view stores a score for each enterprise that served in it or has a
credit event dated in it (``credit_scores``, with ``ranked`` for the ones that served: only
those are ranked, as on the write side), and its lines (``credit_lines``: base points, then
one line per event, naming the event's log position, kind and business date). A period after
the horizon has, by definition, no event yet: there the read functions compute the answer
from the stored inputs (an open-ended contract keeps an enterprise ranked at its base).

Each batch stores its inputs, then re-scores only the (enterprise, period) pairs they touch
— a credit event its own period; a contract started or terminated the periods whose service
it changed; a horizon moved forward the new periods of every contract still serving — and
re-ranks the touched periods, all in the batch's transaction with its tracking position.

Points are exact: a score and each line are stored as a fraction ("n/d" text, the area
weighting makes thirds and worse) and rounded to whole hundredths for display and ranking.
The scheme is configuration (``FUNDLEDGER_CREDIT_SCHEME_FILE``); every score row names the
scheme it was computed with, and reading a view computed under another scheme raises
``CreditViewStale``: rebuild the view after changing the scheme.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any, ClassVar, Protocol, cast
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import ProgrammingError, Tracking
from eventsourcing.sqlite import SQLiteCursor
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from domain.credit import (
    Commendation,
    ComplaintTicket,
    CreditEvent,
    CreditScheme,
    Fine,
    Period,
    Score,
    ServedProject,
    Violation,
    rank_and_grade,
    round_hundredths,
    score_enterprise,
)
from domain.enterprise import Enterprise
from domain.errors import NotFound
from domain.service_contract import ServiceContract
from ledger.credit_scheme import load_credit_scheme
from ledger.settings import Settings
from projections.recorders import PostgresViewRecorder, SQLiteViewRecorder, ViewRecorder
from projections.runner import BatchingProjection, Handler, event_topic, open_projection

VIEW_NAME = "credit"
ENTERPRISES = "credit_enterprises"
EVENTS = "credit_events"
PROJECTS = "credit_projects"
SCORES = "credit_scores"
LINES = "credit_lines"

# The record's event kinds, as ``domain.credit.ScoreLine.kind`` names them.
COMMENDATION, VIOLATION, FINE, COMPLAINT = "commendation", "violation", "fine", "complaint"


class CreditViewStale(Exception):
    """The stored scores were computed with another scheme than the one configured."""

    def __init__(self, stored: str, configured: str) -> None:
        super().__init__(
            f"the credit view was computed with the scheme {stored!r}, not the configured "
            f"{configured!r}: rebuild it (fundledger projections rebuild credit)")
        self.stored = stored
        self.configured = configured


# ---------------------------------------------------------------------------- read models


@dataclass(frozen=True)
class CreditLine:
    """Points caused by one event (or the base), with the event's place in the log."""

    event_ref: str  # "<credit code>#<entry no>", or "base"
    event_kind: str  # "base", "commendation", "violation", "fine" or "complaint"
    notification_id: int | None  # the event's log position; None for the base points
    effective_date: date | None  # the event's business date; None for the base points
    points: Fraction
    explanation: str

    @property
    def points_hundredths(self) -> int:
        return round_hundredths(self.points)


@dataclass(frozen=True)
class CreditScore:
    """One enterprise's score in one half-year; rank and grade when it served (is ranked)."""

    enterprise_code: str
    period: Period
    scheme_name: str
    points: Fraction
    served_area_m2_hundredths: int
    project_count: int
    event_count: int
    rank: int | None
    grade: str | None
    lines: tuple[CreditLine, ...]

    @property
    def points_hundredths(self) -> int:
        return round_hundredths(self.points)

    @property
    def ranked(self) -> bool:
        return self.rank is not None


# ---------------------------------------------------------------------------- the batch


@dataclass(frozen=True)
class _EventRow:
    enterprise_id: UUID
    entry_no: int
    event_kind: str
    effective_date: date
    community_code: str | None
    kind: str | None
    authority: str | None
    note: str | None
    source_ref: str | None
    amount_fen: int | None
    ticket_id: str | None
    responded: bool | None
    resolved: bool | None
    satisfied: bool | None
    notification_id: int


@dataclass
class CreditBatch:
    scheme: CreditScheme
    # enterprise id -> (credit code, name)
    enterprises: dict[UUID, tuple[str, str]] = field(default_factory=dict)
    events: list[_EventRow] = field(default_factory=list)
    # contract id -> (enterprise, community, reference, area, served from, started at)
    started: dict[UUID, tuple[str, str, str, int, date, int]] = field(default_factory=dict)
    # contract id -> (terminated on, terminated at)
    terminated: dict[UUID, tuple[date, int]] = field(default_factory=dict)

    def empty(self) -> bool:
        return not (self.enterprises or self.events or self.started or self.terminated)


# ---------------------------------------------------------------------------- the projection


class CreditProjection(BatchingProjection[CreditBatch]):
    name = VIEW_NAME

    def __init__(self, view: ViewRecorder[CreditBatch], scheme: CreditScheme | None = None) -> None:
        # Before super().__init__(), which opens the first batch with it. By default the
        # scheme the application reads: FUNDLEDGER_CREDIT_SCHEME_FILE, else the example.
        self.scheme = scheme or load_credit_scheme(Settings().credit_scheme_file)
        super().__init__(view)

    def new_batch(self) -> CreditBatch:
        return CreditBatch(self.scheme)

    def topic_handlers(self) -> dict[str, Handler]:
        return {
            event_topic(Enterprise, "Registered"): self.process_registered,
            event_topic(Enterprise, "Commended"): self.process_commended,
            event_topic(Enterprise, "ViolationRecorded"): self.process_violation,
            event_topic(Enterprise, "FineRecorded"): self.process_fine,
            event_topic(Enterprise, "ComplaintTicketRecorded"): self.process_ticket,
            event_topic(ServiceContract, "Started"): self.process_contract_started,
            event_topic(ServiceContract, "Terminated"): self.process_contract_terminated,
        }

    def process_registered(self, event: Any, tracking: Tracking) -> None:
        self.batch.enterprises[event.originator_id] = (event.credit_code, event.name)

    def process_commended(self, event: Any, tracking: Tracking) -> None:
        self._stage(event, tracking, COMMENDATION, kind=event.points_kind,
                    authority=event.authority, note=event.note)

    def process_violation(self, event: Any, tracking: Tracking) -> None:
        self._stage(event, tracking, VIOLATION, kind=event.kind, authority=event.authority,
                    note=event.note, source_ref=event.source_ref)

    def process_fine(self, event: Any, tracking: Tracking) -> None:
        self._stage(event, tracking, FINE, authority=event.authority, note=event.note,
                    amount_fen=int(event.amount_fen))

    def process_ticket(self, event: Any, tracking: Tracking) -> None:
        self._stage(event, tracking, COMPLAINT, ticket_id=event.ticket_id,
                    responded=bool(event.responded), resolved=bool(event.resolved),
                    satisfied=bool(event.satisfied))

    def _stage(self, event: Any, tracking: Tracking, event_kind: str, *, kind: str | None = None,
               authority: str | None = None, note: str | None = None,
               source_ref: str | None = None, amount_fen: int | None = None,
               ticket_id: str | None = None, responded: bool | None = None,
               resolved: bool | None = None, satisfied: bool | None = None) -> None:
        self.batch.events.append(_EventRow(
            event.originator_id, int(event.entry_no), event_kind, _day(event.effective_date),
            event.community_code, kind, authority, note, source_ref, amount_fen, ticket_id,
            responded, resolved, satisfied, tracking.notification_id))

    def process_contract_started(self, event: Any, tracking: Tracking) -> None:
        self.batch.started[event.originator_id] = (
            event.enterprise_code, event.community_code, event.contract_reference,
            int(event.area_m2_hundredths), _day(event.starts_on), tracking.notification_id)

    def process_contract_terminated(self, event: Any, tracking: Tracking) -> None:
        self.batch.terminated[event.originator_id] = (_day(event.effective_date),
                                                      tracking.notification_id)

    # -- queries -----------------------------------------------------------------------------

    def credit_for(self, enterprise_code: str, period: Period) -> CreditScore:
        """The enterprise's score in ``period``, as ``app.credit_score`` (and its rank and
        grade, as ``app.credit_ranking``, when it served in the period)."""
        with self._reading() as db:
            if not db.rows("select_enterprise", (enterprise_code,)):
                raise NotFound(f"no enterprise with credit code {enterprise_code!r} is "
                               "registered", rule="E3", field="enterprise_code")
            if _within(period, _horizon(db)):
                stored = _stored_scores(db, period, enterprise_code=enterprise_code)
                if stored:
                    self._check_scheme(stored[0].scheme_name)
                    return stored[0]
            else:
                for score in _computed_ranking(db, period, self.scheme):
                    if score.enterprise_code == enterprise_code:
                        return score
            # Neither served nor any event in the period: the base alone, unranked.
            inputs = _load_inputs(db, enterprise_code)
            return _credit_score(score_enterprise(
                [e for e, _ in inputs.events], inputs.projects, period, self.scheme,
                enterprise_code=enterprise_code), inputs, None, None)

    def ranking(self, period: Period) -> list[CreditScore]:
        """Every enterprise that served in ``period``, best first, as ``app.credit_ranking``."""
        return [score for score in self.scores(period) if score.ranked]

    def scores(self, period: Period) -> list[CreditScore]:
        """Everyone rated in ``period`` — the ranked, then those with credit events in it
        that did not serve — in rank, then credit-code order."""
        with self._reading() as db:
            if not _within(period, _horizon(db)):
                return _computed_ranking(db, period, self.scheme)
            stored = _stored_scores(db, period)
        for score in stored:
            self._check_scheme(score.scheme_name)
        return sorted(stored, key=lambda s: (s.rank is None, s.rank or 0, s.enterprise_code))

    def horizon(self) -> Period | None:
        """The half-year of the latest business date the view has seen (None: none yet).
        Scores up to it are stored; later periods are computed from the stored inputs."""
        with self._reading() as db:
            return _horizon(db)

    def _check_scheme(self, stored: str) -> None:
        if stored != self.scheme.name:
            raise CreditViewStale(stored, self.scheme.name)

    def _reading(self) -> AbstractContextManager[_Db]:
        return cast(_CreditRecorder, self.view).reading()


def open_credit_projection(app: Application[UUID]) -> CreditProjection:
    """The credit view on the application's store, scoring with the application's scheme."""
    projection = open_projection(app, CreditProjection)
    scheme = getattr(app, "credit_scheme", None)
    if isinstance(scheme, CreditScheme):
        projection.scheme = scheme
        projection.begin()
    return projection


# ---------------------------------------------------------------------------- one store's SQL

# Written once for both stores: ``?`` placeholders (``%s`` on PostgreSQL) and ``{names}`` for
# the tables (quoted, schema-qualified identifiers on PostgreSQL). Dates are ISO text and
# flags 0/1 on both, so the rows, and the code reading them, are the same.
_STATEMENTS = {
    "select_enterprise": "SELECT enterprise_code FROM {enterprises} WHERE enterprise_code = ?",
    "select_enterprise_by_id":
        "SELECT enterprise_id, enterprise_code FROM {enterprises} WHERE enterprise_id = ?",
    "insert_enterprise": "INSERT INTO {enterprises} (enterprise_id, enterprise_code, name) "
                         "VALUES (?, ?, ?)",
    "insert_event":
        "INSERT INTO {events} (enterprise_code, entry_no, event_kind, effective_date, period, "
        "community_code, kind, authority, note, source_ref, amount_fen, ticket_id, responded, "
        "resolved, satisfied, notification_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "select_events":
        "SELECT entry_no, event_kind, effective_date, community_code, kind, authority, note, "
        "source_ref, amount_fen, ticket_id, responded, resolved, satisfied, notification_id "
        "FROM {events} WHERE enterprise_code = ? ORDER BY entry_no",
    "insert_project":
        "INSERT INTO {projects} (contract_id, enterprise_code, community_code, "
        "contract_reference, area_m2_hundredths, served_from, served_until, started_at, "
        "terminated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "select_project":
        "SELECT enterprise_code, served_from, served_until FROM {projects} "
        "WHERE contract_id = ?",
    "terminate_project":
        "UPDATE {projects} SET served_until = ?, terminated_at = ? WHERE contract_id = ?",
    "select_projects":
        "SELECT community_code, area_m2_hundredths, served_from, served_until "
        "FROM {projects} WHERE enterprise_code = ? ORDER BY contract_id",
    "select_serving":
        "SELECT enterprise_code, served_from, served_until FROM {projects} "
        "WHERE served_from < ? AND (served_until IS NULL OR (served_until > ? "
        "AND served_until > served_from)) ORDER BY enterprise_code",
    "select_horizon":
        "SELECT (SELECT max(effective_date) FROM {events}) AS events_until, "
        "(SELECT max(served_from) FROM {projects}) AS starts_until, "
        "(SELECT max(served_until) FROM {projects}) AS ends_until",
    "delete_score": "DELETE FROM {scores} WHERE enterprise_code = ? AND period = ?",
    "delete_lines": "DELETE FROM {lines} WHERE enterprise_code = ? AND period = ?",
    "insert_score":
        "INSERT INTO {scores} (period, enterprise_code, scheme_name, points_hundredths, "
        "points_exact, served_area_m2_hundredths, project_count, event_count, ranked, "
        "rank, grade) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
    "insert_line":
        "INSERT INTO {lines} (enterprise_code, period, line_no, event_ref, event_kind, "
        "notification_id, effective_date, points_hundredths, points_exact, explanation) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "select_ranked":
        "SELECT enterprise_code, points_hundredths FROM {scores} "
        "WHERE period = ? AND ranked = 1 ORDER BY enterprise_code",
    "set_rank": "UPDATE {scores} SET rank = ?, grade = ? WHERE period = ? AND enterprise_code = ?",
    "select_scores":
        "SELECT enterprise_code, scheme_name, points_exact, served_area_m2_hundredths, "
        "project_count, event_count, ranked, rank, grade FROM {scores} "
        "WHERE period = ? AND (CAST(? AS TEXT) IS NULL OR enterprise_code = ?) "
        "ORDER BY enterprise_code",
    "select_lines":
        "SELECT enterprise_code, event_ref, event_kind, notification_id, effective_date, "
        "points_exact, explanation FROM {lines} "
        "WHERE period = ? AND (CAST(? AS TEXT) IS NULL OR enterprise_code = ?) "
        "ORDER BY enterprise_code, line_no",
}

# Types per store: PostgreSQL first, SQLite second.
_TABLES: tuple[tuple[str, str, str], ...] = (
    (ENTERPRISES, "enterprise_id", (
        "CREATE TABLE IF NOT EXISTS {t} (enterprise_id TEXT PRIMARY KEY, "
        "enterprise_code TEXT NOT NULL UNIQUE, name TEXT NOT NULL)")),
    (EVENTS, "enterprise_code,entry_no", (
        "CREATE TABLE IF NOT EXISTS {t} (enterprise_code TEXT NOT NULL, "
        "entry_no INTEGER NOT NULL, event_kind TEXT NOT NULL, effective_date TEXT NOT NULL, "
        "period TEXT NOT NULL, community_code TEXT, kind TEXT, authority TEXT, note TEXT, "
        "source_ref TEXT, amount_fen BIGINT, ticket_id TEXT, responded INTEGER, "
        "resolved INTEGER, satisfied INTEGER, notification_id BIGINT NOT NULL, "
        "PRIMARY KEY (enterprise_code, entry_no))")),
    (PROJECTS, "contract_id", (
        "CREATE TABLE IF NOT EXISTS {t} (contract_id TEXT PRIMARY KEY, "
        "enterprise_code TEXT NOT NULL, community_code TEXT NOT NULL, "
        "contract_reference TEXT NOT NULL, area_m2_hundredths BIGINT NOT NULL, "
        "served_from TEXT NOT NULL, served_until TEXT, started_at BIGINT NOT NULL, "
        "terminated_at BIGINT)")),
    (SCORES, "period,enterprise_code", (
        "CREATE TABLE IF NOT EXISTS {t} (period TEXT NOT NULL, enterprise_code TEXT NOT NULL, "
        "scheme_name TEXT NOT NULL, points_hundredths BIGINT NOT NULL, "
        "points_exact TEXT NOT NULL, served_area_m2_hundredths BIGINT NOT NULL, "
        "project_count INTEGER NOT NULL, event_count INTEGER NOT NULL, "
        "ranked INTEGER NOT NULL, rank INTEGER, grade TEXT, "
        "PRIMARY KEY (period, enterprise_code))")),
    (LINES, "enterprise_code,period,line_no", (
        "CREATE TABLE IF NOT EXISTS {t} (enterprise_code TEXT NOT NULL, period TEXT NOT NULL, "
        "line_no INTEGER NOT NULL, event_ref TEXT NOT NULL, event_kind TEXT NOT NULL, "
        "notification_id BIGINT, effective_date TEXT, points_hundredths BIGINT NOT NULL, "
        "points_exact TEXT NOT NULL, explanation TEXT NOT NULL, "
        "PRIMARY KEY (enterprise_code, period, line_no))")),
)
_INDEXES: tuple[tuple[str, str, str], ...] = (
    ("credit_projects_enterprise", PROJECTS, "enterprise_code"),
    ("credit_projects_serving", PROJECTS, "served_from"),
)
_TABLE_KEYS = {"enterprises": ENTERPRISES, "events": EVENTS, "projects": PROJECTS,
               "scores": SCORES, "lines": LINES}


class _Db(Protocol):
    """One open transaction on either store, running the statements above by name."""

    def run(self, name: str, params: Sequence[Any]) -> None: ...

    def run_many(self, name: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def rows(self, name: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        """The statement's rows, each by the names its SELECT gives the columns."""


class _CreditRecorder(Protocol):
    def reading(self) -> AbstractContextManager[_Db]: ...


class _PostgresDb:
    def __init__(self, curs: Cursor[DictRow], statements: dict[str, Composed]) -> None:
        self.curs = curs
        self.statements = statements

    def run(self, name: str, params: Sequence[Any]) -> None:
        self.curs.execute(self.statements[name], params)

    def run_many(self, name: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.curs.executemany(self.statements[name], rows)

    def rows(self, name: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        self.curs.execute(self.statements[name], params)
        return self.curs.fetchall()


class _SQLiteDb:
    def __init__(self, c: SQLiteCursor, statements: dict[str, str]) -> None:
        self.c = c
        self.statements = statements

    def run(self, name: str, params: Sequence[Any]) -> None:
        self.c.execute(self.statements[name], params)

    def run_many(self, name: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.c.executemany(self.statements[name], rows)

    def rows(self, name: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        self.c.execute(self.statements[name], params)
        return [dict(zip(row.keys(), row, strict=True)) for row in self.c.fetchall()]


class PostgresCreditRecorder(PostgresViewRecorder[CreditBatch]):
    view_name = VIEW_NAME
    view_tables: ClassVar[tuple[tuple[str, str], ...]] = tuple(
        (name, order) for name, order, _ in _TABLES)

    def view_create_statements(self) -> list[Composed]:
        tables = {key: self.table(name) for key, name in _TABLE_KEYS.items()}
        self.statements = {name: SQL(text.replace("?", "%s")).format(**tables)
                           for name, text in _STATEMENTS.items()}
        return [
            *(SQL(create).format(t=self.table(name)) for name, _, create in _TABLES),
            *(SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                Identifier(index), self.table(table), Identifier(column))
              for index, table, column in _INDEXES),
        ]

    def _write_batch(self, curs: Cursor[DictRow], batch: CreditBatch) -> None:
        if not batch.empty():
            _apply(_PostgresDb(curs, self.statements), batch)

    @contextmanager
    def reading(self) -> Iterator[_Db]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield _PostgresDb(curs, self.statements)


class SQLiteCreditRecorder(SQLiteViewRecorder[CreditBatch]):
    view_name = VIEW_NAME
    view_tables: ClassVar[tuple[tuple[str, str], ...]] = tuple(
        (name, order) for name, order, _ in _TABLES)
    statements: ClassVar[dict[str, str]] = {
        name: text.format(**_TABLE_KEYS) for name, text in _STATEMENTS.items()}

    def view_create_statements(self) -> list[str]:
        return [
            *(create.format(t=name) for name, _, create in _TABLES),
            *(f"CREATE INDEX IF NOT EXISTS {index} ON {table} ({column})"
              for index, table, column in _INDEXES),
        ]

    def _write_batch(self, c: SQLiteCursor, batch: CreditBatch) -> None:
        if not batch.empty():
            _apply(_SQLiteDb(c, self.statements), batch)

    @contextmanager
    def reading(self) -> Iterator[_Db]:
        with self.datastore.transaction(commit=False) as c:
            yield _SQLiteDb(c, self.statements)


CreditProjection.postgres_recorder = PostgresCreditRecorder
CreditProjection.sqlite_recorder = SQLiteCreditRecorder


# ---------------------------------------------------------------------------- applying a batch


def _apply(db: _Db, batch: CreditBatch) -> None:
    """Store the batch's inputs, re-score the pairs they touch, re-rank the periods touched."""
    horizon_before = _horizon(db)
    db.run_many("insert_enterprise", [(eid.hex, code, name)
                                      for eid, (code, name) in batch.enterprises.items()])
    codes = _enterprise_codes(db, batch)
    touched: set[tuple[str, Period]] = set()
    event_rows = []
    for e in batch.events:
        period = Period.containing(e.effective_date)
        touched.add((codes[e.enterprise_id], period))
        event_rows.append((
            codes[e.enterprise_id], e.entry_no, e.event_kind, e.effective_date.isoformat(),
            str(period), e.community_code, e.kind, e.authority, e.note, e.source_ref,
            e.amount_fen, e.ticket_id, _flag(e.responded), _flag(e.resolved),
            _flag(e.satisfied), e.notification_id))
    db.run_many("insert_event", event_rows)
    dates = [e.effective_date for e in batch.events]
    new_projects: list[tuple[str, date, date | None]] = []
    project_rows = []
    for cid, (code, community, reference, area, served_from, at) in batch.started.items():
        until, until_at = batch.terminated.get(cid, (None, None))
        new_projects.append((code, served_from, until))
        dates.extend(d for d in (served_from, until) if d is not None)
        project_rows.append((cid.hex, code, community, reference, area,
                             served_from.isoformat(), _iso(until), at, until_at))
    db.run_many("insert_project", project_rows)
    ended: list[tuple[str, date]] = []
    for cid, (until, until_at) in batch.terminated.items():
        if cid in batch.started:
            continue
        found = db.rows("select_project", (cid.hex,))
        if not found:
            raise ProgrammingError(f"credit view: contract {cid} terminated before it started")
        db.run("terminate_project", (until.isoformat(), until_at, cid.hex))
        ended.append((str(found[0]["enterprise_code"]), until))
        dates.append(until)
    horizon = max([p for p in (horizon_before, *map(Period.containing, dates)) if p],
                  default=None)
    if horizon is None:
        return
    # A new contract: every period it served in, up to the horizon.
    for code, served_from, until in new_projects:
        for period in _periods(Period.containing(served_from), horizon):
            if period.overlaps(served_from, until):
                touched.add((code, period))
    # A termination: the periods from the one it falls in (service there may have changed).
    for code, until in ended:
        touched.update((code, p) for p in _periods(Period.containing(until), horizon))
    # A horizon moved forward: the new periods of every contract serving in them.
    if horizon_before is None or horizon > horizon_before:
        first = _next(horizon_before) if horizon_before else None
        for period in _periods(first, horizon) if first else ():
            for row in db.rows("select_serving", (period.end.isoformat(),
                                                  period.first_day.isoformat())):
                touched.add((str(row["enterprise_code"]), period))
    _rescore(db, touched, batch.scheme)


def _enterprise_codes(db: _Db, batch: CreditBatch) -> dict[UUID, str]:
    codes = {eid: code for eid, (code, _) in batch.enterprises.items()}
    for eid in {e.enterprise_id for e in batch.events} - set(codes):
        found = db.rows("select_enterprise_by_id", (eid.hex,))
        if not found:
            raise ProgrammingError(f"credit view: enterprise {eid} has credit events but was "
                                   "never registered")
        codes[eid] = str(found[0]["enterprise_code"])
    return codes


def _rescore(db: _Db, touched: set[tuple[str, Period]], scheme: CreditScheme) -> None:
    by_code: dict[str, list[Period]] = {}
    for code, period in sorted(touched, key=lambda t: (t[0], t[1])):
        by_code.setdefault(code, []).append(period)
    for code, periods in by_code.items():
        inputs = _load_inputs(db, code)
        events = [e for e, _ in inputs.events]
        for period in periods:
            key = (str(period), code)
            db.run("delete_lines", (code, str(period)))
            db.run("delete_score", (code, str(period)))
            score = score_enterprise(events, inputs.projects, period, scheme,
                                     enterprise_code=code)
            event_count = sum(1 for e in events if period.contains(e.effective_date))
            if not score.projects and not event_count:
                continue  # neither served nor rated in the period: nothing to store
            db.run("insert_score", (*key, scheme.name, score.points_hundredths,
                                    _exact(score.points), score.served_area_m2_hundredths,
                                    len(score.projects), event_count, _flag(bool(score.projects))))
            db.run_many("insert_line", [
                (code, str(period), line_no, line.event_ref, line.event_kind,
                 line.notification_id, _iso(line.effective_date),
                 line.points_hundredths, _exact(line.points), line.explanation)
                for line_no, line in enumerate(_lines(score, inputs), start=1)])
    for period in sorted({period for _, period in touched}):
        ranked = db.rows("select_ranked", (str(period),))
        graded = rank_and_grade([_stub(str(row["enterprise_code"]), period,
                                       int(row["points_hundredths"]), scheme.name)
                                 for row in ranked], scheme)
        db.run_many("set_rank", [(g.rank, g.grade, str(period), g.enterprise_code)
                                 for g in graded])


def _stub(code: str, period: Period, hundredths: int, scheme_name: str) -> Score:
    """What ranking needs of a stored score: its code and its points in hundredths."""
    return Score(code, period, scheme_name, Fraction(hundredths, 100), 0, (), ())


# ---------------------------------------------------------------------------- reading back


@dataclass(frozen=True)
class _Inputs:
    events: list[tuple[CreditEvent, tuple[str, date, int]]]  # (event, (kind, date, position))
    projects: list[ServedProject]
    sources: dict[str, tuple[str, date, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sources.update((event.ref, source) for event, source in self.events)


def _load_inputs(db: _Db, code: str) -> _Inputs:
    events: list[tuple[CreditEvent, tuple[str, date, int]]] = []
    for row in db.rows("select_events", (code,)):
        ref, on = f"{code}#{row['entry_no']}", date.fromisoformat(row["effective_date"])
        event_kind, community = row["event_kind"], row["community_code"]
        event: CreditEvent
        if event_kind == COMMENDATION:
            event = Commendation(ref, on, row["kind"], row["authority"], row["note"], community)
        elif event_kind == VIOLATION:
            event = Violation(ref, on, row["kind"], row["authority"], row["note"],
                              row["source_ref"], community)
        elif event_kind == FINE:
            event = Fine(ref, on, int(row["amount_fen"]), row["authority"], row["note"],
                         community)
        else:
            event = ComplaintTicket(ref, on, row["ticket_id"], bool(row["responded"]),
                                    bool(row["resolved"]), bool(row["satisfied"]), community)
        events.append((event, (str(event_kind), on, int(row["notification_id"]))))
    projects = [
        ServedProject(str(row["community_code"]), int(row["area_m2_hundredths"]),
                      date.fromisoformat(row["served_from"]),
                      date.fromisoformat(row["served_until"]) if row["served_until"] else None)
        for row in db.rows("select_projects", (code,))]
    return _Inputs(events, projects)


def _lines(score: Score, inputs: _Inputs) -> list[CreditLine]:
    lines = []
    for line in score.lines:
        source = inputs.sources.get(line.event_ref)
        if source is None:
            lines.append(CreditLine(line.event_ref, line.kind, None, None, line.points,
                                    line.explanation))
        else:
            kind, on, position = source
            lines.append(CreditLine(line.event_ref, kind, position, on, line.points,
                                    line.explanation))
    return lines


def _credit_score(score: Score, inputs: _Inputs, rank: int | None,
                  grade: str | None) -> CreditScore:
    return CreditScore(
        score.enterprise_code, score.period, score.scheme_name, score.points,
        score.served_area_m2_hundredths, len(score.projects),
        sum(1 for e, _ in inputs.events if score.period.contains(e.effective_date)),
        rank, grade, tuple(_lines(score, inputs)))


def _stored_scores(db: _Db, period: Period, *,
                   enterprise_code: str | None = None) -> list[CreditScore]:
    key = (str(period), enterprise_code, enterprise_code)
    lines: dict[str, list[CreditLine]] = {}
    for row in db.rows("select_lines", key):
        position, on = row["notification_id"], row["effective_date"]
        lines.setdefault(str(row["enterprise_code"]), []).append(CreditLine(
            event_ref=str(row["event_ref"]), event_kind=str(row["event_kind"]),
            notification_id=None if position is None else int(position),
            effective_date=date.fromisoformat(on) if on else None,
            points=Fraction(row["points_exact"]), explanation=str(row["explanation"])))
    scores = []
    for row in db.rows("select_scores", key):
        code, rank, grade = str(row["enterprise_code"]), row["rank"], row["grade"]
        scores.append(CreditScore(
            enterprise_code=code, period=period, scheme_name=str(row["scheme_name"]),
            points=Fraction(row["points_exact"]),
            served_area_m2_hundredths=int(row["served_area_m2_hundredths"]),
            project_count=int(row["project_count"]), event_count=int(row["event_count"]),
            rank=None if rank is None else int(rank), grade=None if grade is None else str(grade),
            lines=tuple(lines.get(code, ()))))
    return scores


def _computed_ranking(db: _Db, period: Period, scheme: CreditScheme) -> list[CreditScore]:
    """A period after the horizon: ranked from the stored inputs, nothing stored."""
    serving = sorted({str(row["enterprise_code"]) for row in db.rows(
        "select_serving", (period.end.isoformat(), period.first_day.isoformat()))})
    inputs = {code: _load_inputs(db, code) for code in serving}
    scores = [score_enterprise([e for e, _ in inputs[code].events], inputs[code].projects,
                               period, scheme, enterprise_code=code) for code in serving]
    return [_credit_score(g.score, inputs[g.enterprise_code], g.rank, g.grade)
            for g in rank_and_grade(scores, scheme)]


def _horizon(db: _Db) -> Period | None:
    found = [Period.containing(date.fromisoformat(v))
             for v in db.rows("select_horizon", ())[0].values() if v]
    return max(found, default=None)


def _within(period: Period, horizon: Period | None) -> bool:
    return horizon is not None and period <= horizon


def _periods(first: Period, last: Period) -> Iterator[Period]:
    period = first
    while period <= last:
        yield period
        period = _next(period)


def _next(period: Period) -> Period:
    return Period(period.year, 2) if period.half == 1 else Period(period.year + 1, 1)


def _exact(points: Fraction) -> str:
    return f"{points.numerator}/{points.denominator}"


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _day(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
