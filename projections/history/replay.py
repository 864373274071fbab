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

How the cuts choose and order the events (and why a business-date cut filters rather than
stops) is told in ``streams``; a fund, which has no stream of its own, is its community's
replay plus each sub-account's (``fund``).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, cast
from uuid import UUID

from domain.ballot import BallotRecord, count_of
from domain.community import Community
from domain.errors import InvalidInput, NotFound
from domain.eventsourcing_internals import LIBRARY_AGGREGATE_ATTRIBUTES
from domain.ids import (
    ballot_id,
    committee_id,
    community_id,
    contract_id,
    enterprise_id,
    roll_id,
    unit_account_id,
    unit_key,
    vote_id,
)
from domain.roll import ElectoralRoll
from domain.vote import Vote
from ledger.application import FundLedger
from ledger.csv_files import parse_date
from projections.history.fund import sub_accounts_at, unit_account_ids
from projections.history.streams import (
    Cut,
    EventRef,
    Logged,
    as_utc,
    cut,
    fold,
    last_event,
    read_streams,
)

KINDS = ("fund", "unit", "vote", "committee", "enterprise", "contract")
KEY_HELP = {
    "fund": "COMMUNITY",
    "unit": "COMMUNITY/BUILDING/UNIT or COMMUNITY/BUILDING-UNIT",
    "vote": "COMMUNITY/VOTE_REFERENCE",
    "committee": "COMMUNITY/COMMITTEE_REFERENCE",
    "enterprise": "CREDIT_CODE",
    "contract": "COMMUNITY/CONTRACT_REFERENCE",
}
# An event's place in its stream and its recorded time, which the library sets.
_EVENT_HEADER = ("originator_id", "originator_version", "timestamp")


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
    # The events the answer folds, in log order (for a page that lists them; not in the JSON,
    # where a fund's could be tens of thousands).
    included: tuple[EventRef, ...] = ()

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
        if name in LIBRARY_AGGREGATE_ATTRIBUTES:  # the library's bookkeeping, not state
            continue
        state[name.lstrip("_")] = jsonable(value)
    return state


def event_fields(event: Any) -> dict[str, Any]:
    """Every field of a domain event except the header (id, version, timestamp), JSON-able."""
    return {k: jsonable(v) for k, v in vars(event).items() if k not in _EVENT_HEADER}



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
        last_event=last_event(cuts, business_order).ref(),
        events_included=sum(len(c.events) for c in cuts),
        events_dated_later=sum(c.dated_later for c in cuts), state=state,
        included=_included(cuts))


def _included(cuts: Sequence[Cut]) -> tuple[EventRef, ...]:
    return tuple(sorted((e.ref() for c in cuts for e in c.events), key=lambda r: r.position))


def _vote_parts(
    app: FundLedger, vote: Vote, as_of: date | None, known_at: datetime | None,
    state: dict[str, Any],
) -> list[Cut]:
    """A vote whose roll and ballots are streams of their own (issue 16): they join its state
    at the same cut, as ``electorate``, ``ballots`` and ``last_ballot_on``, the names a vote
    that keeps them inline has in its own state."""
    the_roll_id = roll_id(vote.id)
    roll_cut = cut(read_streams(app, [the_roll_id])[the_roll_id], as_of, known_at)
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
    kind: str, key: str, as_of: date | None, known_at: datetime | None, stream: list[Logged]
) -> NotFound:
    first = stream[0]
    if known_at is not None and first.event.timestamp > as_utc(known_at):
        return NotFound(f"{kind} {key} was first recorded at {first.event.timestamp.isoformat()}, "
                        f"after {known_at.isoformat()}", rule="replay", field="known_at")
    return NotFound(f"{kind} {key} begins on {first.business_date}, after {as_of}",
                    rule="replay", field="as_of")


def _parts(kind: str, key: str, count: int) -> list[str]:
    parts = key.split("/")
    if len(parts) != count or not all(parts):
        raise InvalidInput(f"a {kind} is named {KEY_HELP[kind]}, not {key!r}", rule="key-shape",
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

    ``bank_balance_fen`` sums the bank legs of the included money events, apart from the
    balances, so ``conserved`` checks F11 at the cut.
    """
    _parts("fund", code, 1)
    current = app.community(code)  # NotFound on community_code
    unit_ids = unit_account_ids(current, sorted(current.units))
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
            community_cut = Cut(streams[the_id][:1], 0, True)
    community = cast(Community, fold(community_cut.events, business_order=business_order))
    sub_accounts = sub_accounts_at(streams, unit_ids, as_of, known_at)
    units: list[dict[str, Any]] = []
    totals = dict.fromkeys(_UNIT_TOTALS, 0)
    for sub in sub_accounts:
        account = sub.account
        line: dict[str, Any] = {
                "unit": sub.key, "building": account.building, "door": account.unit,
                "area_m2_hundredths": account.area_m2_hundredths,
                "owner_ids": list(account.owner_ids), "closed": account.closed,
                "reraise_demanded": account.reraise_demanded}
        for name in _UNIT_TOTALS:
            amount = int(getattr(account, name))
            line[name] = amount
            totals[name] += amount
        units.append(line)
    bank_balance_fen = sum(sub.bank_delta_fen for sub in sub_accounts)
    state = aggregate_state(community)
    state.update(totals)
    state.update({"bank_balance_fen": bank_balance_fen,
                  "conserved": bank_balance_fen == totals["balance_fen"],
                  "unit_count": len(units), "sub_accounts": units})
    cuts = [community_cut, *(sub.cut for sub in sub_accounts)]
    return Replayed(
        kind="fund", key=code, aggregate_id=the_id, as_of=as_of, known_at=known_at,
        order="business_date" if business_order else "log",
        last_event=last_event(cuts, business_order).ref(),
        events_included=sum(len(c.events) for c in cuts),
        events_dated_later=sum(c.dated_later for c in cuts), state=state,
        included=_included(cuts))


__all__ = [
    "KEY_HELP",
    "KINDS",
    "Replayed",
    "aggregate_state",
    "event_fields",
    "jsonable",
    "parse_cut",
    "replay",
]
