"""The auditor's replay: any aggregate as it stood, on two time axes, from its stored events.

Two questions, two axes, usable together:

``as_of`` (a business date): "what was true on 1 March". The events whose business date
(``effective_date``: paid on, sold on, cast on) is on or before ``as_of`` are folded,
wherever they sit in the log: a deposit dated 15 February but recorded in April counts on
1 March. ``known_at`` (a recorded time): "what did the ledger say on 1 March". Only the
events the ledger held then count: for each stream, the longest prefix (in version order)
whose recorded ``timestamp`` is on or before ``known_at``. A prefix, not a filter, because
the ledger only ever held prefixes of a stream; a version written later can never have been
known before the one it follows.

How a business-date cut folds (the choice, and why). Events of one aggregate are not always
in business-date order: a back-dated deposit is recorded after a withdrawal dated later. A
cut that stops at the first event dated after ``as_of`` (a prefix) would leave the
back-dated deposit out, so the cut *filters*: every event dated on or before ``as_of`` is
in. It then folds the kept events in business-date order (ties in version order, which is
the order they were decided in), the creation event always first, with the events' own
``apply`` (the domain's mutators). Sums (balances, totals) come out the same in any order;
last-writer state (a unit's owners after two sales entered out of date order) is right only
in business-date order. One thing is not re-derived: state the domain *derived* from a
running balance when it recorded an event (the F4 re-raise flag is its own event, dated as
the posting that raised it) is shown as the recorded F4 events dated on or before ``as_of``
leave it. After back-dated postings the ledger's recorded demands can differ from what the
rule would say of the business-date balance path; the replay reports what was recorded
rather than inventing demands the ledger never made. With no ``as_of`` the fold is the
library's own ``mutate`` in version order: exactly the aggregate as the repository would
give it at that point of the log.

A creation event dated after ``as_of`` is still folded first when later events of the
aggregate are dated on or before it (a deposit dated before the register was imported, as
the statements count it); with none, the aggregate did not exist as of that date.

The answer names the last event it includes: the one latest by (business date, log
position) under ``as_of``, else the one latest in the log. A creation event included only to
describe the aggregate (dated after ``as_of``) ranks first, not last.

Events are read straight from the events table with their log positions (notification ids),
so every answer can be checked against the log itself; snapshots are never used.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, cast
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.ballot import BallotRecord, count_of
from domain.committee import Committee
from domain.community import Community
from domain.enterprise import Enterprise
from domain.errors import InvalidInput, NotFound
from domain.ids import (
    ballot_id,
    committee_id,
    community_id,
    contract_id,
    enterprise_id,
    posting_id,
    roll_id,
    unit_account_id,
    unit_key,
    vote_id,
)
from domain.roll import ElectoralRoll
from domain.service_contract import ServiceContract
from domain.unit_account import UnitAccount
from domain.vote import Vote
from ledger.application import FundLedger
from ledger.csv_files import parse_date
from ledger.persistence.transcoder import event_decoder

KINDS = ("fund", "unit", "vote", "committee", "enterprise", "contract")
KEY_HELP = {
    "fund": "COMMUNITY",
    "unit": "COMMUNITY/BUILDING/UNIT or COMMUNITY/BUILDING-UNIT",
    "vote": "COMMUNITY/VOTE_REFERENCE",
    "committee": "COMMUNITY/COMMITTEE_REFERENCE",
    "enterprise": "CREDIT_CODE",
    "contract": "COMMUNITY/CONTRACT_REFERENCE",
}
HISTORY_LIMIT_MAX = 1000
# A history page reads at most this many log entries looking for the community's events, so
# a small community in a big city answers in bounded time; the cursor carries on from there.
HISTORY_SCAN_MAX = 50_000
_SCAN_BATCH = 1000
_IDS_PER_QUERY = 400
# The library's own bookkeeping on every aggregate; not part of the domain's state.
_LIBRARY_ATTRIBUTES = ("_id", "_version", "_created_on", "_modified_on", "_pending_events")
_EVENT_HEADER = ("originator_id", "originator_version", "timestamp")


# -- what an answer names -------------------------------------------------------------------


@dataclass(frozen=True)
class EventRef:
    """One stored event, as an auditor cites it."""

    originator_id: UUID
    originator_version: int
    position: int  # the event's notification id: its place in the one log
    topic: str
    event: str  # the event class's qualified name, e.g. UnitAccount.ToppedUp
    business_date: date | None
    recorded_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "originator_id": str(self.originator_id),
            "originator_version": self.originator_version,
            "position": self.position,
            "topic": self.topic,
            "event": self.event,
            "business_date": self.business_date.isoformat() if self.business_date else None,
            "recorded_at": self.recorded_at.isoformat(),
        }


@dataclass(frozen=True)
class Replayed:
    """An aggregate's state at a cut, and the last event the cut includes."""

    kind: str
    key: str
    aggregate_id: UUID
    as_of: date | None
    known_at: datetime | None
    order: str  # "log" (version order, no as_of) or "business_date"
    last_event: EventRef
    events_included: int
    # recorded by known_at but dated after as_of: left out of a business-date cut
    events_dated_later: int
    state: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "aggregate_id": str(self.aggregate_id),
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "known_at": self.known_at.isoformat() if self.known_at else None,
            "order": self.order,
            "last_event": self.last_event.to_json(),
            "events_included": self.events_included,
            "events_dated_later": self.events_dated_later,
            "state": self.state,
        }


@dataclass(frozen=True)
class HistoryEvent:
    """One event of a community's history with every field it carries."""

    ref: EventRef
    aggregate: str  # the aggregate class: Community, UnitAccount, Vote, ...
    fields: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {**self.ref.to_json(), "aggregate": self.aggregate, "fields": self.fields}


@dataclass(frozen=True)
class HistoryPage:
    """A page of a community's events in log order; ask again with ``after=next_after``."""

    community_code: str
    after_position: int
    events: list[HistoryEvent]
    next_after: int
    at_end: bool  # the log holds nothing after next_after (yet)

    def to_json(self) -> dict[str, Any]:
        return {
            "community_code": self.community_code,
            "after_position": self.after_position,
            "next_after": self.next_after,
            "at_end": self.at_end,
            "events": [e.to_json() for e in self.events],
        }


# -- the cut's parameters, as text comes in (CLI options, query strings) --------------------


def parse_cut(as_of: str | None, known_at: str | None) -> tuple[date | None, datetime | None]:
    """``as_of`` as YYYY-MM-DD; ``known_at`` as ISO 8601, UTC unless it names a zone, and a
    date alone meaning the end of that day (UTC). Refused as ``InvalidInput`` naming the field.
    """
    day = None if as_of is None else parse_date(as_of, "as_of")
    if known_at is None:
        return day, None
    try:
        if len(known_at) == len("YYYY-MM-DD"):
            return day, datetime.combine(parse_date(known_at, "known_at"), time.max, tzinfo=UTC)
        moment = datetime.fromisoformat(known_at)
    except (ValueError, InvalidInput):
        raise InvalidInput(f"known_at {known_at!r} is not an ISO 8601 date or date-time",
                           rule="date-format", field="known_at") from None
    return day, moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- JSON-able state ------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Domain values as JSON values: dates as ISO text, ids as text, records as objects."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return {name: jsonable(getattr(value, name)) for name in value._fields}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float):
        raise TypeError("a float in a ledger state: money and areas are integers")
    return str(value)


def aggregate_state(aggregate: Any) -> dict[str, Any]:
    """The domain's attributes of an aggregate (a leading underscore dropped), JSON-able."""
    state: dict[str, Any] = {}
    for name, value in vars(aggregate).items():
        if name in _LIBRARY_ATTRIBUTES:
            continue
        state[name.lstrip("_")] = jsonable(value)
    return state


def event_fields(event: Any) -> dict[str, Any]:
    """Every field of a domain event except the header (id, version, timestamp), JSON-able."""
    return {k: jsonable(v) for k, v in vars(event).items() if k not in _EVENT_HEADER}


# -- reading streams with their log positions -----------------------------------------------


@dataclass(frozen=True)
class _Logged:
    position: int
    event: Any  # the domain event

    @property
    def version(self) -> int:
        return int(self.event.originator_version)

    @property
    def business_date(self) -> date | None:
        return business_date(self.event)

    def ref(self) -> EventRef:
        return EventRef(
            originator_id=self.event.originator_id, originator_version=self.version,
            position=self.position, topic=get_topic(type(self.event)),
            event=type(self.event).__qualname__, business_date=self.business_date,
            recorded_at=self.event.timestamp)


def business_date(event: Any) -> date | None:
    day = getattr(event, "effective_date", None)
    return day if isinstance(day, date) else None


def _chunks(items: Sequence[UUID], size: int) -> Iterator[Sequence[UUID]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def read_streams(app: FundLedger, ids: Sequence[UUID]) -> dict[UUID, list[_Logged]]:
    """Every stored event of each id with its log position, by version; snapshots unused."""
    rows = _select_positions(app, list(dict.fromkeys(ids)))
    streams: dict[UUID, list[_Logged]] = {i: [] for i in ids}
    to_domain_event = event_decoder(app.mapper)
    for position, originator_id, version, topic, state in rows:
        stored = StoredEvent(originator_id, version, topic, bytes(state))
        streams[originator_id].append(_Logged(position, to_domain_event(stored)))
    for stream in streams.values():
        stream.sort(key=lambda logged: logged.version)
    return streams


def _select_positions(
    app: FundLedger, ids: list[UUID]
) -> list[tuple[int, UUID, int, str, bytes]]:
    """(position, originator id, version, topic, state) rows of the ids, from either store."""
    from eventsourcing.sqlite import SQLiteApplicationRecorder

    recorder: Any = app.recorder
    table = recorder.events_table_name
    rows: list[tuple[int, UUID, int, str, bytes]] = []
    if isinstance(recorder, SQLiteApplicationRecorder):
        with recorder.datastore.transaction(commit=False) as c:
            for chunk in _chunks(ids, _IDS_PER_QUERY):
                marks = ",".join("?" * len(chunk))
                c.execute(f"SELECT rowid, originator_id, originator_version, topic, state "
                          f"FROM {table} WHERE originator_id IN ({marks})",
                          [i.hex for i in chunk])
                rows.extend((r[0], UUID(r[1]), r[2], r[3], r[4]) for r in c.fetchall())
        return rows
    from psycopg.rows import tuple_row
    from psycopg.sql import SQL, Identifier

    statement = SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state "
        "FROM {}.{} WHERE originator_id = ANY(%s)"
    ).format(Identifier(recorder.datastore.schema), Identifier(table))
    uuid_column = recorder.datastore.originator_id_type == "uuid"
    with recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
        for chunk in _chunks(ids, 10_000):
            curs.execute(statement, (list(chunk) if uuid_column else [i.hex for i in chunk],))
            rows.extend((r[0], r[1] if uuid_column else UUID(r[1]), r[2], r[3], r[4])
                        for r in curs.fetchall())
    return rows


# -- cutting and folding --------------------------------------------------------------------


@dataclass
class _Cut:
    events: list[_Logged]  # in fold order; empty if the aggregate did not exist at the cut
    dated_later: int = 0
    creation_dated_later: bool = False


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cut(stream: list[_Logged], as_of: date | None, known_at: datetime | None) -> _Cut:
    """The events a cut includes, in fold order (see the module's docstring)."""
    recorded: list[_Logged] = []
    for logged in stream:
        if known_at is not None and logged.event.timestamp > _utc(known_at):
            break  # the ledger held a prefix of the stream at known_at
        recorded.append(logged)
    if as_of is None or not recorded:
        return _Cut(recorded)
    first, later = recorded[0], recorded[1:]
    dated = [e for e in later if e.business_date is None or e.business_date <= as_of]
    dated.sort(key=lambda e: (e.business_date or date.min, e.version))
    created_later = first.business_date is not None and first.business_date > as_of
    if not dated and created_later:
        return _Cut([], len(later))
    return _Cut([first, *dated], len(later) - len(dated), created_later)


def fold(cut_events: list[_Logged], *, business_order: bool) -> Any:
    """The aggregate after the events, by the domain's own mutators."""
    aggregate = cut_events[0].event.mutate(None)
    for logged in cut_events[1:]:
        if not business_order:
            aggregate = logged.event.mutate(aggregate)  # the library's checked path
            continue
        # Out of version order the library's mutate refuses; apply is the same mutator.
        # The version is set as mutate would have it, for mutators that read it.
        aggregate.version = logged.version - 1
        logged.event.apply(aggregate)
        aggregate.version = logged.version
        aggregate.modified_on = logged.event.timestamp
    return aggregate


def _last(cuts: Sequence[_Cut], business_order: bool) -> _Logged:
    def rank(logged: _Logged, c: _Cut) -> tuple[date, int]:
        if not business_order:
            return (date.min, logged.position)
        if c.creation_dated_later and logged is c.events[0]:
            return (date.min, logged.position)
        return (logged.business_date or date.min, logged.position)

    return max(((e, c) for c in cuts for e in c.events), key=lambda ec: rank(*ec))[0]


# -- replay ---------------------------------------------------------------------------------


def replay(
    app: FundLedger, kind: str, key: str, *, as_of: date | None = None,
    known_at: datetime | None = None,
) -> Replayed:
    """``kind`` (one of ``KINDS``) named by its natural ``key``, at the cut.

    Raises ``NotFound`` naming the field of the key that is unknown, or ``as_of`` /
    ``known_at`` if the aggregate did not exist yet at that cut; ``InvalidInput`` for a
    kind or key that does not parse.
    """
    if kind not in KINDS:
        raise InvalidInput(f"kind {kind!r} is not one of {', '.join(KINDS)}", rule="replay",
                           field="kind")
    if kind == "fund":
        return _replay_fund(app, key, as_of, known_at)
    aggregate_id, not_found = _resolve(app, kind, key)
    stream = read_streams(app, [aggregate_id])[aggregate_id]
    if not stream:
        raise not_found
    the_cut = cut(stream, as_of, known_at)
    if not the_cut.events:
        raise _not_yet(kind, key, as_of, known_at, stream)
    business_order = as_of is not None
    aggregate = fold(the_cut.events, business_order=business_order)
    state = aggregate_state(aggregate)
    cuts = [the_cut]
    if isinstance(aggregate, Vote) and aggregate.opened and not aggregate.ballots_inline:
        cuts += _vote_parts(app, aggregate, as_of, known_at, state)
    return Replayed(
        kind=kind, key=key, aggregate_id=aggregate_id, as_of=as_of, known_at=known_at,
        order="business_date" if business_order else "log",
        last_event=_last(cuts, business_order).ref(),
        events_included=sum(len(c.events) for c in cuts),
        events_dated_later=sum(c.dated_later for c in cuts), state=state)


def _vote_parts(
    app: FundLedger, vote: Vote, as_of: date | None, known_at: datetime | None,
    state: dict[str, Any],
) -> list[_Cut]:
    """A vote whose roll and ballots are streams of their own (issue 16): they join its state
    at the same cut, as ``electorate``, ``ballots`` and ``last_ballot_on``, the names a vote
    that keeps them inline has in its own state."""
    the_roll_id = roll_id(vote.id)
    roll_stream = read_streams(app, [the_roll_id])[the_roll_id]
    roll_cut = cut(roll_stream, as_of, known_at)
    if not roll_cut.events:
        return []
    roll = cast(ElectoralRoll, fold(roll_cut.events, business_order=False))
    ids = [ballot_id(vote.id, key) for key in roll.electorate.voter_keys]
    cuts = [roll_cut]
    records = []
    for stream in read_streams(app, ids).values():
        ballot_cut = cut(stream, as_of, known_at)
        if ballot_cut.events:
            cuts.append(ballot_cut)
            records.append(cast(BallotRecord, fold(ballot_cut.events, business_order=False)))
    count = count_of(roll.electorate, records)
    state.update(electorate=jsonable(roll.electorate), ballots=jsonable(dict(count.ballots)),
                 last_ballot_on=jsonable(count.last_ballot_on))
    return cuts


def _not_yet(
    kind: str, key: str, as_of: date | None, known_at: datetime | None, stream: list[_Logged]
) -> NotFound:
    first = stream[0]
    if known_at is not None and first.event.timestamp > _utc(known_at):
        return NotFound(f"{kind} {key} was first recorded at {first.event.timestamp.isoformat()}, "
                        f"after {known_at.isoformat()}", rule="replay", field="known_at")
    return NotFound(f"{kind} {key} begins on {first.business_date}, after {as_of}",
                    rule="replay", field="as_of")


def _parts(kind: str, key: str, count: int) -> list[str]:
    parts = key.split("/")
    if len(parts) != count or not all(parts):
        raise InvalidInput(f"a {kind} is named {KEY_HELP[kind]}, not {key!r}", rule="replay",
                           field="key")
    return parts


def _resolve(app: FundLedger, kind: str, key: str) -> tuple[UUID, NotFound]:
    """The aggregate id a key names, and the error to raise if it has no events."""
    if kind == "enterprise":
        _parts(kind, key, 1)
        return enterprise_id(key), NotFound(
            f"no enterprise with credit code {key!r} is registered", rule="E1",
            field="enterprise_code")
    if kind == "unit":
        parts = key.split("/")
        if len(parts) == 2 and all(parts):
            code, door_key = parts
            community = app.community(code)  # NotFound on community_code
            if door_key not in community.units:
                raise NotFound(f"community {code} has no unit {door_key}", rule="F1",
                               field="unit")
            building, door = community.units[door_key]
        else:
            code, building, door = _parts(kind, key, 3)
        return unit_account_id(code, building, door), NotFound(
            f"community {code!r} has no registered unit {unit_key(building, door)}",
            rule="F1", field="unit")
    code, reference = _parts(kind, key, 2)
    app.community(code)  # an unknown community is named as such
    if kind == "vote":
        return vote_id(code, reference), NotFound(
            f"community {code} has no vote {reference!r}", rule="V5", field="vote_reference")
    if kind == "committee":
        return committee_id(code, reference), NotFound(
            f"community {code} has no committee {reference!r}", rule="C1",
            field="committee_reference")
    return contract_id(code, reference), NotFound(
        f"community {code} has no service contract {reference!r}", rule="E1",
        field="contract_reference")


_UNIT_TOTALS = ("balance_fen", "deposited_fen", "income_fen", "charged_fen", "refunded_fen")


def _replay_fund(
    app: FundLedger, code: str, as_of: date | None, known_at: datetime | None
) -> Replayed:
    """A community's fund: the community aggregate and every sub-account, at the cut.

    The fund has no stream of its own (its balance is the sum of its sub-accounts), so its
    replay is the community's plus each unit's; ``bank_balance_fen`` sums the bank legs of
    the included money events, apart from the balances, so ``conserved`` checks F11 at the cut.
    """
    _parts("fund", code, 1)
    current = app.community(code)  # NotFound on community_code
    unit_ids = {k: unit_account_id(code, *current.units[k]) for k in sorted(current.units)}
    the_id = community_id(code)
    streams = read_streams(app, [the_id, *unit_ids.values()])
    community_cut = cut(streams[the_id], None, known_at)
    if not community_cut.events:
        raise _not_yet("fund", code, as_of, known_at, streams[the_id])
    # The fund exists from the community's registration; business dates cut its units.
    business_order = as_of is not None
    if business_order:
        community_cut = cut(streams[the_id], as_of, known_at)
        if not community_cut.events:  # registered after as_of: the register row only
            community_cut = _Cut(streams[the_id][:1], 0, True)
    community = cast(Community, fold(community_cut.events, business_order=business_order))
    units: list[dict[str, Any]] = []
    totals = dict.fromkeys(_UNIT_TOTALS, 0)
    bank_balance_fen = 0
    cuts = [community_cut]
    for door_key, account_id in unit_ids.items():
        unit_cut = cut(streams[account_id], as_of, known_at)
        if not unit_cut.events:
            continue
        cuts.append(unit_cut)
        account = cast(UnitAccount, fold(unit_cut.events, business_order=business_order))
        bank_balance_fen += sum(int(getattr(e.event, "bank_delta_fen", 0))
                                for e in unit_cut.events)
        line: dict[str, Any] = {
                "unit": door_key, "building": account.building, "door": account.unit,
                "area_m2_hundredths": account.area_m2_hundredths,
                "owner_ids": list(account.owner_ids), "closed": account.closed,
                "reraise_demanded": account.reraise_demanded}
        for name in _UNIT_TOTALS:
            amount = int(getattr(account, name))
            line[name] = amount
            totals[name] += amount
        units.append(line)
    state = aggregate_state(community)
    state.update(totals)
    state.update({"bank_balance_fen": bank_balance_fen,
                  "conserved": bank_balance_fen == totals["balance_fen"],
                  "unit_count": len(units), "sub_accounts": units})
    return Replayed(
        kind="fund", key=code, aggregate_id=the_id, as_of=as_of, known_at=known_at,
        order="business_date" if business_order else "log",
        last_event=_last(cuts, business_order).ref(),
        events_included=sum(len(c.events) for c in cuts),
        events_dated_later=sum(c.dated_later for c in cuts), state=state)


# -- a community's history ------------------------------------------------------------------


def _creation_topics() -> list[str]:
    # Aggregates of a community that the community's own state does not list in full.
    return [get_topic(cast(Any, Vote).Proposed), get_topic(cast(Any, Committee).Formed),
            get_topic(cast(Any, ServiceContract).Started)]


def _community_ids(app: FundLedger, community: Community, up_to: int) -> set[UUID]:
    """Ids of the community's aggregates created at or before log position ``up_to``."""
    ids = {community_id(community.code)}
    ids.update(unit_account_id(community.code, b, u) for b, u in community.units.values())
    ids.update(posting_id(reference) for _, reference in community.postings)
    if up_to <= 0:
        return ids
    topics = _creation_topics()
    start: int | None = None
    while True:
        page = app.recorder.select_notifications(
            start=start, limit=_SCAN_BATCH, stop=up_to, topics=topics, inclusive_of_start=False)
        for notification in page:
            event = event_decoder(app.mapper)(notification)
            if getattr(event, "community_code", None) == community.code:
                ids.add(cast(UUID, notification.originator_id))
        if len(page) < _SCAN_BATCH:
            return ids
        start = page[-1].id


def community_history(
    app: FundLedger, community_code: str, after_position: int = 0, limit: int = 100
) -> HistoryPage:
    """The community's events after log position ``after_position``, in log order.

    Its events are those of the community, its units, its postings, votes, committees and
    service contracts, and the events of enterprises that name it (credit events,
    engagements). A page holds at most ``limit`` events and reads at most
    ``HISTORY_SCAN_MAX`` log entries; carry on with ``after_position=page.next_after``
    until ``at_end``.
    """
    if not 1 <= limit <= HISTORY_LIMIT_MAX:
        raise InvalidInput(f"limit is 1 to {HISTORY_LIMIT_MAX}", rule="history", field="limit")
    if after_position < 0:
        raise InvalidInput("after is a log position, 0 or more", rule="history",
                           field="after")
    community = app.community(community_code)  # NotFound on community_code
    ids = _community_ids(app, community, after_position)
    enterprise_prefix = get_topic(Enterprise) + "."
    events: list[HistoryEvent] = []
    position = after_position
    scanned = 0
    at_end = False
    while len(events) < limit and scanned < HISTORY_SCAN_MAX:
        page = app.recorder.select_notifications(
            start=position, limit=_SCAN_BATCH, inclusive_of_start=False)
        if not page:
            at_end = True
            break
        for notification in page:
            position = notification.id
            mine = notification.originator_id in ids
            if not mine and (notification.originator_version == 1
                             or notification.topic.startswith(enterprise_prefix)):
                # a new aggregate of the community, or an enterprise event naming it
                event = event_decoder(app.mapper)(notification)
                mine = getattr(event, "community_code", None) == community_code
                if mine and notification.originator_version == 1:
                    ids.add(cast(UUID, notification.originator_id))
            if mine:
                event = event_decoder(app.mapper)(notification)
                events.append(HistoryEvent(
                    _Logged(notification.id, event).ref(),
                    type(event).__qualname__.split(".")[0], event_fields(event)))
                if len(events) == limit:
                    break
        scanned += len(page)
        if len(page) < _SCAN_BATCH and position == page[-1].id:
            at_end = True
            break
    return HistoryPage(community_code, after_position, events, position, at_end)


__all__ = [
    "HISTORY_LIMIT_MAX",
    "KEY_HELP",
    "KINDS",
    "EventRef",
    "HistoryEvent",
    "HistoryPage",
    "Replayed",
    "aggregate_state",
    "community_history",
    "event_fields",
    "jsonable",
    "parse_cut",
    "replay",
]
