"""The three rates across years (R1): each community's three flags by business date.

The three-rates view keeps the present; a trend needs each community as it stood at the end
of each year, by the business date of the facts (a committee appointed in 2021 counts from
2021 on, however late it is recorded). Facts reach the log out of business-date order all
the time (a contract recorded in 2026 as started in 2019, a committee's appointment recorded
after the year's contracts), so the flags after an event in log order are not the flags on
its date. The view therefore keeps:

* ``three_rates_facts``: every event that can change a community's flags, as a dated fact of
  that community (its log position, business date, kind, key and value);
* ``three_rates_history``: derived from them, per community, a row for each business date on
  which its flags changed (the first row at its earliest fact, usually its registration).

Whenever a batch adds facts to a community, its history is folded again from all its facts
in business-date order (``timeline``, then log position within a day) and rewritten: a pure
function of the facts, so any batching and any rebuild give the same rows. A community
counts at a year's end from its first fact on, with the flags of its last history row dated
by then.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from itertools import groupby
from typing import Literal, NamedTuple

FACTS = "three_rates_facts"
HISTORY = "three_rates_history"

# What a fact is about: how the batch finds its community before the view is written.
Via = Literal["code", "community_id", "committee_id", "contract_id"]


class Fact(NamedTuple):
    """One event's change to one community's facts, as stored (``value`` is text)."""

    position: int
    effective_date: date
    kind: str  # registered, slot, formed, party, left, dissolved, started, terminated, self
    key: str
    value: str


class StagedFact(NamedTuple):
    """A fact staged by a handler, its community still to be found: by ``via`` and ``ref``
    (the code itself, or the community's, committee's or contract's id in hex)."""

    via: Via
    ref: str
    fact: Fact


def formed_value(reference: str, party: Iterable[str], branch: bool) -> str:
    return json.dumps({"reference": reference, "party": sorted(party), "branch": branch},
                      sort_keys=True)


def party_value(party: Iterable[str], branch: bool) -> str:
    return json.dumps({"party": sorted(party), "branch": branch}, sort_keys=True)


Flags = tuple[bool, bool, bool]  # committee, service, party (the order of RATES)


@dataclass
class _Committee:
    reference: str
    party: set[str]
    branch: bool
    dissolved: bool = False


@dataclass
class _State:
    """One community's facts as of a business date, folded as the view's SQL counts them."""

    slots: dict[str, str] = field(default_factory=dict)  # committee kind -> reference
    committees: dict[str, _Committee] = field(default_factory=dict)
    contracts: set[str] = field(default_factory=set)
    self_managed: bool = False

    def apply(self, fact: Fact) -> None:
        kind, key, value = fact.kind, fact.key, fact.value
        committee = self.committees.get(key)
        if kind == "slot":
            if value:
                self.slots[key] = value
            else:
                self.slots.pop(key, None)
        elif kind == "formed":
            data = json.loads(value)
            self.committees[key] = _Committee(data["reference"], set(data["party"]),
                                              bool(data["branch"]))
        elif kind == "party" and committee is not None:
            data = json.loads(value)
            committee.party, committee.branch = set(data["party"]), bool(data["branch"])
        elif kind == "left" and committee is not None:
            committee.party.discard(value)
        elif kind == "dissolved" and committee is not None:
            committee.dissolved = True
        elif kind == "started":
            self.contracts.add(key)
        elif kind == "terminated":
            self.contracts.discard(key)
        elif kind == "self":
            self.self_managed = value == "1"

    def flags(self) -> Flags:
        current = set(self.slots.values())
        party = any(c.reference in current and not c.dissolved and (c.branch or c.party)
                    for c in self.committees.values())
        return (bool(current), bool(self.contracts) or self.self_managed, party)


def timeline(facts: Iterable[Fact]) -> list[tuple[date, Flags]]:
    """A community's flags on each business date they changed, from its first fact on.

    Facts apply in business-date order, and in log order within a day; a fact about a
    committee not yet formed by its date changes nothing (the domain refuses such dates)."""
    state = _State()
    out: list[tuple[date, Flags]] = []
    ordered = sorted(facts, key=lambda f: (f.effective_date, f.position))
    for day, same_day in groupby(ordered, key=lambda f: f.effective_date):
        for fact in same_day:
            state.apply(fact)
        flags = state.flags()
        if not out or out[-1][1] != flags:
            out.append((day, flags))
    return out
