"""No personal data enters the log: registration and sales refuse it and write nothing."""

from __future__ import annotations

from datetime import date

import pytest

from domain.errors import BatchRejected, InvalidInput
from domain.owner_ids import PSEUDONYMOUS_RULE
from ledger.application import FundLedger
from ledger.commands import UnitRow

ON = date(2026, 1, 1)


def row(unit: str, owner_ids: list[str], line: int) -> UnitRow:
    return UnitRow("CY-PII", "Garden", "110105", "110105001", "1", unit, 8000, "register",
                   owner_ids, line=line)


def test_f1_a_register_with_a_mobile_number_as_owner_id_is_refused_whole(app: FundLedger) -> None:
    rows = [row("101", ["owner-a"], 2), row("102", ["owner-b", "13800138000"], 3)]
    with pytest.raises(BatchRejected) as raised:
        app.register_units(rows, effective_date=ON, actor="test")
    assert (raised.value.line, raised.value.rule) == (3, PSEUDONYMOUS_RULE)
    assert app.recorder.max_notification_id() in (None, 0)


def test_f1_f7_a_sale_to_a_resident_id_number_is_refused_and_the_unit_keeps_its_owner(
        app: FundLedger) -> None:
    app.register_units([row("101", ["owner-a"], 2)], effective_date=ON, actor="test")
    before = app.recorder.max_notification_id()
    with pytest.raises(InvalidInput) as raised:
        app.sell_unit(community_code="CY-PII", building="1", unit="101",
                      buyer_owner_ids=["110105199001011234"], sold_on=date(2026, 2, 1),
                      reference="SALE-1", actor="test")
    assert (raised.value.rule, raised.value.field) == (PSEUDONYMOUS_RULE, "buyer_owner_id")
    assert app.recorder.max_notification_id() == before
