"""Identifiers have one spelling and text one line: normalised at the edges, checked inside."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from domain.community import Community
from domain.enterprise import Enterprise
from domain.errors import BatchRejected, InvalidInput
from domain.identifiers import IDENTIFIER_RULE, TEXT_RULE, normalise
from domain.unit_account import UnitAccount
from domain.vote import Vote
from ledger.access import Place, Scope, grantable
from ledger.csv_files import read_deposits, read_units

ON = date(2026, 1, 1)
DEPOSIT_HEADER = "reference,community_code,building,unit,amount_yuan,paid_on,kind\n"
UNIT_HEADER = ("community_code,community_name,district,street,building,unit,area_m2,"
               "area_source,owner_id\n")


def register_unit(building: str = "1", unit: str = "101", code: str = "CY-1") -> UnitAccount:
    return UnitAccount.register(community_code=code, building=building, unit=unit,
                                area_m2_hundredths=8_000, area_source="register",
                                owner_ids=["owner-a"], effective_date=ON, actor="test")


def test_full_width_and_padded_identifiers_normalise_to_ascii() -> None:
    assert normalise("１０１") == "101"
    assert normalise(" HG-１\t") == "HG-1"
    assert normalise("ＣＹ－０００１") == "CY-0001"


@pytest.mark.parametrize(("building", "unit", "field"), [
    ("１", "101", "building"), ("1", "１０１", "unit"), ("1", " 101", "unit"),
    ("1-2", "601", "building"), ("1", "", "unit"), ("1", "10/1", "unit"),
])
def test_the_domain_refuses_a_building_or_door_outside_its_set(
        building: str, unit: str, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        register_unit(building, unit)
    assert (raised.value.rule, raised.value.field) == (IDENTIFIER_RULE, field)


@pytest.mark.parametrize("reference", ["HG-１", " HG-1", "HG 1", "HG/1", "-HG", "H" * 65, ""])
def test_a_deposit_reference_outside_its_set_is_refused_and_changes_nothing(
        reference: str) -> None:
    account = register_unit()
    with pytest.raises(InvalidInput) as raised:
        account.pay_first_deposit(amount_fen=1_600_000, rate_fen_per_m2=20_000,
                                  effective_date=ON, reference=reference, actor="test")
    assert (raised.value.rule, raised.value.field) == (IDENTIFIER_RULE, "reference")
    assert account.balance_fen == 0 and account.version == 1


@pytest.mark.parametrize("district, street, field", [
    ("1101", "110105001", "district"), ("110105", "1101050", "street"),
    ("110105", "110108001", "street"), ("D 1", "S1", "district"),
])
def test_a_community_in_a_malformed_place_is_refused(district: str, street: str,
                                                      field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        Community.register(code="CY-1", name="Garden", district=district, street=street,
                           effective_date=ON, actor="test")
    assert (raised.value.rule, raised.value.field) == (IDENTIFIER_RULE, field)


def test_the_codes_in_use_stay_valid() -> None:
    for code, district, street in (("CY-0001", "110105", "110105001"),
                                   ("110105-002", "Chaoyang", "Jianwai"), ("PJ-1", "D1", "S1")):
        Community.register(code=code, name="Garden", district=district, street=street,
                           effective_date=ON, actor="test")
    register_unit("3", "2-601")


@pytest.mark.parametrize("bad", ["line\nbreak", "tab\there", "nul\x00", "para\u2029graph",
                                 "bidi\u202eoverride", "c1\x85next"])
def test_control_characters_are_refused_in_every_text_that_enters_an_event(bad: str) -> None:
    community = Community.register(code="CY-1", name="Garden", district="110105",
                                   street="110105001", effective_date=ON, actor="test")
    enterprise = Enterprise.register("911100007109288314", "Service Co", on=ON, actor="test")
    commands = {
        "community_name": lambda: Community.register(
            code="CY-2", name=bad, district="110105", street="110105001", effective_date=ON,
            actor="test"),
        "description": lambda: community.declare_emergency(
            emergency_id="E-1", category="roof_leak", description=bad, effective_date=ON,
            actor="test"),
        "title": lambda: Vote.propose(community_code="CY-1", vote_reference="V-1",
                                      matter_kind="other_ordinary", title=bad, proposed_on=ON,
                                      actor="test"),
        "name": lambda: Enterprise.register("911100007109288314", bad, on=ON, actor="test"),
        "note": lambda: enterprise.commend(ON, "district", "authority", bad, actor="test"),
    }
    for field, command in commands.items():
        with pytest.raises(InvalidInput) as raised:
            command()
        assert (raised.value.rule, raised.value.field) == (TEXT_RULE, field), field
    assert community.version == 1 and enterprise.version == 1


def test_text_in_any_language_with_quotes_is_kept() -> None:
    community = Community.register(code="CY-1", name='朝阳 "花园" 小区', district="110105",
                                   street="110105001", effective_date=ON, actor="test")
    assert community.name == '朝阳 "花园" 小区'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "file.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_re_encoded_bank_line_reads_as_the_original(tmp_path: Path) -> None:
    original = read_deposits(write(tmp_path, DEPOSIT_HEADER
                                   + "HG-1,CY-1,1,101,10.00,2026-01-10,first\n"))
    recoded = read_deposits(write(tmp_path, DEPOSIT_HEADER
                                  + "ＨＧ－１,ＣＹ-1,１,１０１,10.00,2026-01-10,first\n"))
    assert recoded == original


def test_a_register_line_with_a_full_width_door_names_the_same_unit(tmp_path: Path) -> None:
    [row] = read_units(write(tmp_path, UNIT_HEADER
                             + "CY-1,Garden,110105,110105001,１,１０１,80.00,register,owner-ａ\n"))
    assert (row.building, row.unit, row.owner_ids) == ("1", "101", ["owner-a"])


@pytest.mark.parametrize(("line", "field"), [
    ("HG 1,CY-1,1,101,10.00,2026-01-10,first", "reference"),
    ("HG-1,CY/1,1,101,10.00,2026-01-10,first", "community_code"),
    ("HG-1,CY-1,1-2,101,10.00,2026-01-10,first", "building"),
])
def test_a_bank_line_with_a_malformed_identifier_is_refused_naming_it(
        tmp_path: Path, line: str, field: str) -> None:
    with pytest.raises(BatchRejected) as raised:
        read_deposits(write(tmp_path, DEPOSIT_HEADER + line + "\n"))
    assert (raised.value.line, raised.value.rule, raised.value.field) == (2, IDENTIFIER_RULE,
                                                                          field)


@pytest.mark.parametrize("text", ["community:CY-0001,CY-0003", "district:%", "community:*",
                                  "district:1101", "street:1101050", "owner:13800138000",
                                  "community:", "city:CY-1", "province:11", "owner:o-1/",
                                  "owner:o-1/CY 1", "owner:/CY-1"])
def test_a_malformed_scope_is_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        Scope.parse(text)
    assert raised.value.rule == "scope"
    assert "community:<code>" in raised.value.message


@pytest.mark.parametrize(("text", "scope"), [
    ("city", "city"), ("community:CY-0001", "community:CY-0001"),
    ("district:110105", "district:110105"), ("district:D1", "district:D1"),
    ("street:１１０１０５００１", "street:110105001"), ("owner:owner-a", "owner:owner-a"),
    ("owner:developer/ＣＹ-0001", "owner:developer/CY-0001"),
])
def test_a_well_formed_scope_reads_normalised(text: str, scope: str) -> None:
    assert str(Scope.parse(text)) == scope


def test_the_developers_scope_keeps_to_its_community_and_alone_holds_nothing() -> None:
    """Every community's unsold units carry the one owner id ``developer``: a developer's
    scope names its community; ``owner:developer`` alone would hold every community's."""
    bound = Scope.parse("owner:developer/CY-0001")
    here = Place("110105", "110105001", "CY-0001", ("developer",))
    there = Place("110105", "110105001", "CY-0002", ("developer",))
    assert bound.holds(here) and not bound.holds(there)
    unbound = Scope.parse("owner:developer")  # as a token made before this reads back
    assert not unbound.holds(here) and not unbound.holds(there)
    with pytest.raises(InvalidInput) as raised:
        grantable(unbound)
    assert (raised.value.rule, raised.value.field) == ("scope", "scope")
    assert "owner:developer/<community code>" in raised.value.message
    assert grantable(bound) == bound
    # Any other owner id holds its units wherever they are, or in one community if named.
    owner = Scope.parse("owner:o-7")
    assert owner.holds(Place("1", "2", "CY-0001", ("o-7",)))
    assert owner.holds(Place("1", "2", "CY-0002", ("o-7", "o-8")))
    assert not Scope.parse("owner:o-7/CY-0001").holds(Place("1", "2", "CY-0002", ("o-7",)))
