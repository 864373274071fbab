"""The commands that cite an owners' resolution reach the votes through ``ledger.resolutions``.

A works withdrawal (F8), a hiring (E1) and self-management (R1) each cite a passed vote, on
one ``FundLedger`` as the API builds it; an unknown or failed vote refuses them. (Which base
class defines what is kept order-free by ``tests/unit/test_command_wiring.py``.)
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from domain.credit_code import with_check_character
from domain.errors import NotFound, RuleViolated
from domain.unit_account import first_deposit_due_fen
from ledger.application import FundLedger
from ledger.commands import DepositLine, UnitRow, WithdrawalRequest
from ledger.resolutions import Resolutions

ACTOR = "test:resolutions"
ENTERPRISE = with_check_character("91110105MA01RRAA0")
AREA = 8_000
DOORS = ("101", "102")


def community(app: FundLedger, code: str) -> None:
    """Units paid up but not delivered: the developer holds them and casts the one vote (V3)."""
    app.register_units(
        [UnitRow(code, f"Community {code}", "D1", "S1", "1", door, AREA, "register",
                 [f"owner-{door}"], line) for line, door in enumerate(DOORS, start=2)],
        effective_date=date(2026, 1, 1), actor=ACTOR)
    due = first_deposit_due_fen(AREA, app.settings.deposit_rate_fen_per_m2)
    app.import_deposits([DepositLine(f"FD-{code}-{door}", code, "1", door, due,
                                     date(2026, 1, 10), "first", line=line)
                         for line, door in enumerate(DOORS, start=2)], actor="test:bank")


def vote(app: FundLedger, code: str, reference: str, matter_kind: str, choice: str,
         **proposal: Any) -> None:
    app.propose_vote(community_code=code, vote_reference=reference, matter_kind=matter_kind,
                     title=reference, proposed_on=date(2026, 3, 1), actor=ACTOR, **proposal)
    app.publish_vote(community_code=code, vote_reference=reference,
                     published_on=date(2026, 3, 1), actor=ACTOR)
    app.open_vote(community_code=code, vote_reference=reference, opened_on=date(2026, 3, 16),
                  actor=ACTOR)
    app.cast_ballot(community_code=code, vote_reference=reference, owner_id="developer",
                    choice=choice, cast_on=date(2026, 3, 17))
    app.close_vote(community_code=code, vote_reference=reference, closed_on=date(2026, 3, 18),
                   actor=ACTOR)


def withdrawal(code: str, reference: str, resolution_id: str) -> WithdrawalRequest:
    return WithdrawalRequest(
        reference=reference, community_code=code, project="Roof", cost_kind="roof_waterproofing",
        invoice_fen=10_000, paid_on=date(2026, 4, 1), buildings=["1"], unit_keys=[],
        resolution_id=resolution_id)


def hire(app: FundLedger, code: str, resolution_id: str) -> None:
    app.start_service_contract(
        community_code=code, enterprise_code=ENTERPRISE, contract_reference=f"C-{code}",
        starts_on=date(2026, 4, 1), filed_on=date(2026, 4, 1), open_ended=True, ends_on=None,
        actor=ACTOR, resolution_id=resolution_id)


def self_manage(app: FundLedger, code: str, resolution_id: str) -> None:
    app.record_self_management(community_code=code, resolution_id=resolution_id,
                               started_on=date(2026, 4, 1), actor=ACTOR)


def test_the_fund_ledger_wires_its_own_votes_in_as_the_resolutions(app: FundLedger) -> None:
    assert isinstance(app.resolutions, Resolutions)
    community(app, "RS-1")
    vote(app, "RS-1", "ROOF", "fund_use", "agree", buildings=["1"],
         approved_amount_fen=50_000, purpose="Roof")
    app.withdraw(withdrawal("RS-1", "WD-1", "ROOF"), actor=ACTOR)
    assert app.vote("RS-1", "ROOF").withdrawn_fen == 10_000  # recorded against the vote (F8)


def test_a_withdrawal_a_hiring_and_self_management_cite_a_passed_resolution(
    app: FundLedger,
) -> None:
    app.register_enterprise(credit_code=ENTERPRISE, name="Resolute Property",
                            registered_on=date(2026, 1, 1), actor=ACTOR)
    for code in ("RS-1", "RS-2", "RS-3"):
        community(app, code)
    vote(app, "RS-1", "ROOF", "fund_use", "agree", buildings=["1"],
         approved_amount_fen=50_000, purpose="Roof")
    vote(app, "RS-2", "HIRE", "hire_enterprise", "agree")
    vote(app, "RS-2", "HIRE-NO", "hire_enterprise", "disagree")
    vote(app, "RS-3", "SELF", "other_ordinary", "agree")
    vote(app, "RS-3", "SELF-NO", "other_ordinary", "disagree")

    with pytest.raises(NotFound) as unknown:
        app.withdraw(withdrawal("RS-1", "WD-0", "NO-SUCH-VOTE"), actor=ACTOR)
    assert unknown.value.rule == "F8"
    with pytest.raises(RuleViolated, match="not a passed vote to hire") as refused:
        hire(app, "RS-2", "HIRE-NO")
    assert refused.value.rule == "E1"
    with pytest.raises(RuleViolated, match="did not pass") as failed:
        self_manage(app, "RS-3", "SELF-NO")
    assert failed.value.rule == "R1"

    assert not app.withdraw(withdrawal("RS-1", "WD-1", "ROOF"), actor=ACTOR).already_posted
    hire(app, "RS-2", "HIRE")
    assert app.community("RS-2").service_contract == "C-RS-2"
    self_manage(app, "RS-3", "SELF")
    assert app.community("RS-3").self_management == "SELF"
