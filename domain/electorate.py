"""Who votes, and with what weight: the V3 headcount over a community's units.

The Civil Code counts two things at once (art. 278; interpretation art. 9): the exclusive
area, unit by unit, and the heads, where one unit counts one, co-owners of a unit count one
together, one owner of several units counts one, and all of the developer's unsold or
undelivered units count one together.

Those rules overlap. When A and B co-own unit 1 and A alone owns unit 2, "co-owners count
one" binds A to B and "one owner of several units counts one" binds unit 1 to unit 2, so
both units and both people are one voter. We therefore merge owners transitively: owners
(and the developer) are nodes, each unit joins its owners, and every connected group is
one voter with one head and the sum of its units' areas. The union-find below always keeps
the smaller node as the root, so the grouping and the voter keys depend only on who owns
what, never on the order of the input.

Voter keys are stable strings: ``"developer"`` for the group holding the developer's units,
otherwise the group's sorted owner ids joined by ``"+"`` (owner ids may not contain ``+``,
so the key is unambiguous). An electorate is frozen when a vote opens and recorded once, as
plain JSON-friendly records (``to_records`` / ``from_records``), in the vote's roll.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.errors import InvalidInput
from domain.owner_ids import OWNER_ID_PATTERN

DEVELOPER_VOTER_KEY = "developer"
OWNER_KEY_SEPARATOR = "+"
# V3: every voter counts exactly one head, whatever it holds.
HEADS_PER_VOTER = 1

UNIT_KEY_LENGTH_MAX = 64
OWNERS_PER_UNIT_MAX = 20
# Beijing's largest property-management areas hold tens of thousands of units.
UNITS_MAX = 100_000
# 100 000 m² of exclusive area in one unit is a typo, not a flat; keeps sums far from limits.
UNIT_AREA_M2_HUNDREDTHS_MAX = 10_000_000

JsonRecord = dict[str, Any]


@dataclass(frozen=True)
class UnitHolding:
    """Who holds one unit, as the owner register says on the day the electorate is frozen."""

    unit_key: str
    area_m2_hundredths: int
    owner_ids: tuple[str, ...]
    # The developer's unsold or undelivered unit: all of these count one head together.
    developer_held: bool = False


@dataclass(frozen=True)
class VoterUnit:
    unit_key: str
    area_m2_hundredths: int


@dataclass(frozen=True)
class Voter:
    """One head: a connected group of owners (or the developer) and all their units."""

    voter_key: str
    owner_ids: tuple[str, ...]
    units: tuple[VoterUnit, ...]
    heads: int = HEADS_PER_VOTER

    @property
    def area_m2_hundredths(self) -> int:
        return sum(unit.area_m2_hundredths for unit in self.units)

    @property
    def unit_keys(self) -> tuple[str, ...]:
        return tuple(unit.unit_key for unit in self.units)

    @property
    def is_developer(self) -> bool:
        return self.voter_key == DEVELOPER_VOTER_KEY

    def to_record(self) -> JsonRecord:
        return {
            "voter_key": self.voter_key,
            "owner_ids": list(self.owner_ids),
            "units": [
                {"unit_key": u.unit_key, "area_m2_hundredths": u.area_m2_hundredths}
                for u in self.units
            ],
            "heads": self.heads,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Voter:
        return cls(
            voter_key=str(record["voter_key"]),
            owner_ids=tuple(str(o) for o in record["owner_ids"]),
            units=tuple(
                VoterUnit(str(u["unit_key"]), int(u["area_m2_hundredths"]))
                for u in record["units"]
            ),
            heads=int(record["heads"]),
        )


@dataclass(frozen=True)
class Electorate:
    """The voters of one vote, sorted by voter key. Build it with ``build_electorate``."""

    voters: tuple[Voter, ...]
    _by_key: Mapping[str, Voter] = field(init=False, repr=False, compare=False)
    _by_owner: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {v.voter_key: v for v in self.voters})
        by_owner = {owner: v.voter_key for v in self.voters for owner in v.owner_ids}
        object.__setattr__(self, "_by_owner", by_owner)

    @property
    def total_area_m2_hundredths(self) -> int:
        return sum(voter.area_m2_hundredths for voter in self.voters)

    @property
    def total_heads(self) -> int:
        return sum(voter.heads for voter in self.voters)

    @property
    def voter_keys(self) -> tuple[str, ...]:
        return tuple(voter.voter_key for voter in self.voters)

    @property
    def unit_keys(self) -> tuple[str, ...]:
        return tuple(sorted(key for voter in self.voters for key in voter.unit_keys))

    def voter(self, voter_key: str) -> Voter | None:
        return self._by_key.get(voter_key)

    def voter_key_for_owner(self, owner_id: str) -> str | None:
        """The voter an owner belongs to (so the application can turn "who" into a ballot)."""
        return self._by_owner.get(owner_id)

    def to_records(self) -> list[JsonRecord]:
        """JSON-friendly records for an event: lists and dicts of str and int only."""
        return [voter.to_record() for voter in self.voters]

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> Electorate:
        """Rebuild an electorate from ``to_records`` output (an event read back from JSON)."""
        voters = [Voter.from_record(record) for record in records]
        return cls(voters=tuple(sorted(voters, key=lambda v: v.voter_key)))

    def digest(self) -> str:
        """sha256 of the records' canonical JSON: what the vote keeps of its roll, so the
        roll read back at closing (or by an auditor) is provably the one frozen at opening."""
        canonical = json.dumps(self.to_records(), sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def build_electorate(holdings: Sequence[UnitHolding]) -> Electorate:
    """Group the holdings into voters by V3 (see the module docstring for the merge rule)."""
    _check_holdings(holdings)
    finder = _UnionFind()
    for holding in holdings:
        nodes = _nodes_of(holding)
        for node in nodes:
            finder.add(node)
        for node in nodes[1:]:
            finder.union(nodes[0], node)
    groups: dict[str, list[UnitHolding]] = {}
    for holding in holdings:
        groups.setdefault(finder.find(_nodes_of(holding)[0]), []).append(holding)
    voters = [_voter_of(group) for group in groups.values()]
    return Electorate(voters=tuple(sorted(voters, key=lambda v: v.voter_key)))


def _check_holdings(holdings: Sequence[UnitHolding]) -> None:
    if len(holdings) > UNITS_MAX:
        raise InvalidInput(
            f"{len(holdings)} units exceed the limit of {UNITS_MAX}", rule="V3", field="holdings"
        )
    seen: set[str] = set()
    for holding in holdings:
        _check_holding(holding)
        if holding.unit_key in seen:
            raise InvalidInput(
                f"unit {holding.unit_key!r} is listed twice", rule="V3", field="unit_key"
            )
        seen.add(holding.unit_key)


def _check_holding(holding: UnitHolding) -> None:
    key = holding.unit_key
    if not key or len(key) > UNIT_KEY_LENGTH_MAX or key != key.strip():
        raise InvalidInput(f"unit key {key!r} is malformed", rule="V3", field="unit_key")
    area = holding.area_m2_hundredths
    if isinstance(area, bool) or not 0 < area <= UNIT_AREA_M2_HUNDREDTHS_MAX:
        raise InvalidInput(
            f"unit {key}: area {area} (0.01 m²) must be positive and at most "
            f"{UNIT_AREA_M2_HUNDREDTHS_MAX}",
            rule="V3",
            field="area_m2_hundredths",
        )
    owners = holding.owner_ids
    if not owners and not holding.developer_held:
        raise InvalidInput(
            f"unit {key} has no owner and is not held by the developer",
            rule="V3",
            field="owner_ids",
        )
    if len(owners) > OWNERS_PER_UNIT_MAX or len(set(owners)) != len(owners):
        raise InvalidInput(
            f"unit {key}: owners must be distinct and at most {OWNERS_PER_UNIT_MAX}",
            rule="V3",
            field="owner_ids",
        )
    for owner in owners:
        # Pseudonymous ids (domain.owner_ids), never the separator of voter keys.
        if owner == DEVELOPER_VOTER_KEY or not OWNER_ID_PATTERN.fullmatch(owner):
            raise InvalidInput(
                f"unit {key}: owner id {owner!r} is malformed or reserved",
                rule="V3",
                field="owner_ids",
            )


# Node names keep owners and the developer apart even if an owner id were "developer".
_DEVELOPER_NODE = "d:"


def _nodes_of(holding: UnitHolding) -> list[str]:
    nodes = [f"o:{owner}" for owner in holding.owner_ids]
    if holding.developer_held:
        nodes.insert(0, _DEVELOPER_NODE)
    return nodes


def _voter_of(group: list[UnitHolding]) -> Voter:
    owners = sorted({owner for holding in group for owner in holding.owner_ids})
    if any(holding.developer_held for holding in group):
        voter_key = DEVELOPER_VOTER_KEY
    else:
        voter_key = OWNER_KEY_SEPARATOR.join(owners)
    units = sorted(
        (VoterUnit(h.unit_key, h.area_m2_hundredths) for h in group), key=lambda u: u.unit_key
    )
    return Voter(voter_key=voter_key, owner_ids=tuple(owners), units=tuple(units))


class _UnionFind:
    """Disjoint sets whose root is always the smallest member: order-independent."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def add(self, node: str) -> None:
        self._parent.setdefault(node, node)

    def find(self, node: str) -> str:
        root = node
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[node] != root:  # path compression
            self._parent[node], node = root, self._parent[node]
        return root

    def union(self, a: str, b: str) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            low, high = sorted((root_a, root_b))
            self._parent[high] = low
