"""R1's recorded self-management: by a passed resolution, never beside a serving enterprise,
ended by the next enterprise's entry."""

from __future__ import annotations

from datetime import date

import pytest

from domain.errors import Conflict, NotFound, RuleViolated
from ledger.application import FundLedger
from tests.integration.test_three_rates_view import (
    ACTOR,
    ENTERPRISE_A,
    build,
    self_manage,
)


def test_r1_e1_self_management_needs_a_passed_resolution_and_no_serving_enterprise(
        app: FundLedger) -> None:
    build(app)  # TR-1 is served by ENTERPRISE_A; TR-3 and TR-4 are not served
    with pytest.raises(NotFound) as unknown:
        app.record_self_management(community_code="TR-3", resolution_id="NO-SUCH-VOTE",
                                   started_on=date(2026, 6, 20), actor=ACTOR)
    assert unknown.value.field in ("vote_reference", "resolution_id")
    with pytest.raises(RuleViolated) as served:
        self_manage(app, "TR-1", started_on=date(2026, 6, 20))
    assert served.value.rule == "E1"
    assert app.community("TR-1").self_management is None
    self_manage(app, "TR-3", started_on=date(2026, 6, 20))
    assert app.community("TR-3").self_management == "SELF-TR-3"
    with pytest.raises(Conflict):
        app.record_self_management(community_code="TR-3", resolution_id="SELF-TR-3",
                                   started_on=date(2026, 7, 1), actor=ACTOR)
    app.start_service_contract(
        community_code="TR-3", enterprise_code=ENTERPRISE_A, contract_reference="C-3",
        starts_on=date(2026, 8, 1), filed_on=date(2026, 8, 1), open_ended=True, ends_on=None,
        actor=ACTOR)
    assert app.community("TR-3").self_management is None  # the entry ended it, same save
