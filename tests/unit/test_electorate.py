"""V3 headcount: who is one voter, checked against an independent grouping of the units."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.electorate import (
    DEVELOPER_VOTER_KEY,
    Electorate,
    UnitHolding,
    build_electorate,
)
from domain.errors import InvalidInput

OWNER_POOL = [f"o{i}" for i in range(8)]


@st.composite
def holdings_lists(draw: st.DrawFn, units_max: int = 12) -> list[UnitHolding]:
    """Random registers: co-owners, owners of several units, a developer with unsold units."""
    count = draw(st.integers(min_value=1, max_value=units_max))
    holdings = []
    for index in range(count):
        developer_held = draw(st.integers(min_value=0, max_value=3)) == 0
        owners_min = 0 if developer_held else 1
        owners = draw(
            st.lists(st.sampled_from(OWNER_POOL), min_size=owners_min, max_size=3, unique=True)
        )
        area = draw(st.integers(min_value=1, max_value=50_000))
        holdings.append(
            UnitHolding(
                unit_key=f"{1 + index // 4}-{101 + index % 4}",
                area_m2_hundredths=area,
                owner_ids=tuple(owners),
                developer_held=developer_held,
            )
        )
    return holdings


def unit_groups(holdings: list[UnitHolding]) -> list[set[str]]:
    """Independent V3 grouping: units are linked when they share an owner or both belong to
    the developer; each connected group of units is one head. (Breadth-first search, not
    the union-find under test.)"""
    def linked(a: UnitHolding, b: UnitHolding) -> bool:
        both_developer = a.developer_held and b.developer_held
        return both_developer or bool(set(a.owner_ids) & set(b.owner_ids))

    unvisited = list(holdings)
    groups: list[set[str]] = []
    while unvisited:
        frontier = [unvisited.pop()]
        group: set[str] = set()
        while frontier:
            current = frontier.pop()
            group.add(current.unit_key)
            neighbours = [h for h in unvisited if linked(current, h)]
            unvisited = [h for h in unvisited if not linked(current, h)]
            frontier.extend(neighbours)
        groups.append(group)
    return groups


def test_v3_co_owners_of_one_unit_are_one_voter() -> None:
    electorate = build_electorate([UnitHolding("1-101", 9000, ("A", "B"))])
    assert electorate.voter_keys == ("A+B",)
    assert electorate.total_heads == 1
    assert electorate.total_area_m2_hundredths == 9000


def test_v3_owner_of_several_units_is_one_voter_with_their_area() -> None:
    electorate = build_electorate(
        [UnitHolding("1-101", 9000, ("A",)), UnitHolding("2-201", 6000, ("A",))]
    )
    [voter] = electorate.voters
    assert voter.voter_key == "A"
    assert voter.unit_keys == ("1-101", "2-201")
    assert voter.area_m2_hundredths == 15000


def test_v3_co_owner_who_also_owns_another_unit_merges_the_group() -> None:
    # A+B co-own unit 1, A alone owns unit 2, B and C co-own unit 3: all one voter.
    electorate = build_electorate(
        [
            UnitHolding("1-101", 100, ("A", "B")),
            UnitHolding("1-102", 200, ("A",)),
            UnitHolding("1-103", 300, ("C", "B")),
            UnitHolding("1-104", 400, ("D",)),
        ]
    )
    assert electorate.voter_keys == ("A+B+C", "D")
    assert electorate.total_heads == 2
    assert electorate.voter_key_for_owner("C") == "A+B+C"


def test_v3_developer_units_count_one_together() -> None:
    electorate = build_electorate(
        [
            UnitHolding("1-101", 100, (), developer_held=True),
            UnitHolding("1-102", 200, ("dev-co",), developer_held=True),
            UnitHolding("1-103", 300, ("A",)),
        ]
    )
    developer = electorate.voter(DEVELOPER_VOTER_KEY)
    assert developer is not None
    assert developer.unit_keys == ("1-101", "1-102")
    assert developer.area_m2_hundredths == 300
    assert electorate.total_heads == 2


@pytest.mark.parametrize(
    ("holdings", "field"),
    [
        ([UnitHolding("1-101", 100, ("A",)), UnitHolding("1-101", 100, ("B",))], "unit_key"),
        ([UnitHolding("1-101", 0, ("A",))], "area_m2_hundredths"),
        ([UnitHolding("1-101", 100, ())], "owner_ids"),
        ([UnitHolding("1-101", 100, ("A", "A"))], "owner_ids"),
        ([UnitHolding("1-101", 100, ("A+B",))], "owner_ids"),
        ([UnitHolding("1-101", 100, ("developer",))], "owner_ids"),
    ],
)
def test_v3_malformed_registers_are_refused(holdings: list[UnitHolding], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        build_electorate(holdings)
    assert caught.value.rule == "V3"
    assert caught.value.field == field


@given(holdings_lists())
def test_heads_and_area_follow_v3(holdings: list[UnitHolding]) -> None:
    electorate = build_electorate(holdings)
    expected_groups = unit_groups(holdings)
    actual_groups = [set(voter.unit_keys) for voter in electorate.voters]
    assert sorted(map(sorted, actual_groups)) == sorted(map(sorted, expected_groups))
    assert electorate.total_heads == len(expected_groups)
    assert electorate.total_area_m2_hundredths == sum(h.area_m2_hundredths for h in holdings)
    # No unit and no owner is counted for two voters.
    units = [key for voter in electorate.voters for key in voter.unit_keys]
    owners = [owner for voter in electorate.voters for owner in voter.owner_ids]
    assert len(units) == len(set(units)) == len(holdings)
    assert len(owners) == len(set(owners))
    developer_units = {h.unit_key for h in holdings if h.developer_held}
    developer = electorate.voter(DEVELOPER_VOTER_KEY)
    if developer_units:
        assert developer is not None
        assert developer_units <= set(developer.unit_keys)
    else:
        assert developer is None


@given(holdings_lists(), st.randoms(use_true_random=False))
def test_v3_grouping_does_not_depend_on_register_order(
    holdings: list[UnitHolding], rng: random.Random
) -> None:
    shuffled = list(holdings)
    rng.shuffle(shuffled)
    assert build_electorate(shuffled) == build_electorate(holdings)


@given(holdings_lists())
def test_records_survive_json_and_rebuild_the_same_electorate(
    holdings: list[UnitHolding],
) -> None:
    electorate = build_electorate(holdings)
    records = json.loads(json.dumps(electorate.to_records()))
    assert Electorate.from_records(records) == electorate
    assert records == electorate.to_records()
