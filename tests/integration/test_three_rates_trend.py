"""The three rates across years (R1): each year's end by business date, on both stores.

A fact counts from its business date on, whatever the order it reaches the log: a committee
appointed in 2021 and recorded after later facts still moves 2021 and every later year, and
no earlier one. The history rebuilds identically from event one under any batching.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from domain.credit_code import with_check_character
from domain.errors import InvalidInput
from ledger.application import FundLedger
from ledger.commands import UnitRow
from ledger.settings import Settings
from projections.runner import Runner, open_projection, rebuild
from projections.three_rates import ThreeRates, ThreeRatesProjection
from tests.integration.test_three_rates_view import MEMBERS

ACTOR = "test:three-rates-trend"
ENTERPRISE = with_check_character("91110105MA01TRTT0")
YEARS = list(range(2018, 2026))
# (community, district, street, registered on)
COMMUNITIES = [("TT-1", "D1", "S1", date(2019, 6, 1)), ("TT-2", "D1", "S1", date(2019, 6, 1)),
               ("TT-3", "D1", "S2", date(2022, 3, 1))]


@pytest.fixture
def app(db_url: str) -> Iterator[FundLedger]:
    ledger = FundLedger(Settings(db=db_url))
    try:
        yield ledger
    finally:
        ledger.close()


def register(app: FundLedger, code: str, district: str, street: str, on: date) -> None:
    app.register_units([UnitRow(code, f"Community {code}", district, street, "1", "101", 8_000,
                                "register", [f"owner-{code}"], 2)],
                       effective_date=on, actor=ACTOR)


def appoint(app: FundLedger, code: str, on: date, party: list[str]) -> None:
    app.appoint_property_management_committee(
        community_code=code, committee_reference=f"PMC-{code}", appointed_on=on,
        members=MEMBERS, chair_id="rc-chair", term_start=on,
        term_end=date(on.year + 3, on.month, 1), actor=ACTOR, party_member_ids=party)


def counts(trend: list[ThreeRates]) -> dict[int, tuple[int, int, int, int]]:
    return {t.year: (t.communities, t.with_committee, t.with_service, t.with_party)
            for t in trend}


def test_r1_a_fact_moves_its_business_year_and_later_never_earlier(app: FundLedger) -> None:
    runner = Runner(app)
    view = open_projection(app, ThreeRatesProjection)
    for code, district, street, on in COMMUNITIES:
        register(app, code, district, street, on)
    app.register_enterprise(credit_code=ENTERPRISE, name="Trend Property",
                            registered_on=date(2019, 1, 1), actor=ACTOR)
    app.start_service_contract(
        community_code="TT-1", enterprise_code=ENTERPRISE, contract_reference="C-1",
        starts_on=date(2020, 3, 1), filed_on=date(2020, 3, 5), open_ended=False,
        ends_on=date(2026, 12, 31),
        actor=ACTOR)
    appoint(app, "TT-1", date(2023, 5, 1), party=["s1"])
    app.give_contract_notice(community_code="TT-1", contract_reference="C-1",
                             given_on=date(2024, 1, 10), reason="not_renewing", actor=ACTOR)
    app.terminate_contract(community_code="TT-1", contract_reference="C-1",
                           terminated_on=date(2024, 6, 30), actor=ACTOR)
    runner.catch_up(view)
    before = counts(view.trend("city", years=YEARS))
    # Nothing before the first registration; TT-3 counts from 2022; TT-1 served from 2020
    # to mid-2024, with a committee (party-covered) from 2023.
    assert before == {2018: (0, 0, 0, 0), 2019: (2, 0, 0, 0), 2020: (2, 0, 1, 0),
                      2021: (2, 0, 1, 0), 2022: (3, 0, 1, 0), 2023: (3, 1, 1, 1),
                      2024: (3, 1, 0, 1), 2025: (3, 1, 0, 1)}
    present = view.rates("city", year=2025)
    assert before[2025] == (present.communities, present.with_committee,
                            present.with_service, present.with_party)

    # TT-2's committee, appointed in 2021 but recorded only now, after the later facts.
    appoint(app, "TT-2", date(2021, 9, 1), party=[])
    runner.catch_up(view)
    after = counts(view.trend("city", years=YEARS))
    for year in YEARS:
        moved = (0, 1, 0, 0) if year >= 2021 else (0, 0, 0, 0)
        assert after[year] == tuple(a + m for a, m in zip(before[year], moved, strict=True)), year
    street = counts(view.trend("street", "S1", years=YEARS))
    assert street[2021] == (2, 1, 1, 0) and street[2020] == (2, 0, 1, 0)
    assert counts(view.trend("street", "S2", years=[2021, 2022])) == {
        2021: (0, 0, 0, 0), 2022: (1, 0, 0, 0)}
    assert view.trend("community", "TT-2", years=[2021])[0].with_committee == 1

    # Out of business-date order the other way: TT-3's contract (from 2025) is recorded
    # first, its committee (from 2023) after it. The committee's years do not get the
    # contract that came later in business time.
    app.start_service_contract(
        community_code="TT-3", enterprise_code=ENTERPRISE, contract_reference="C-3",
        starts_on=date(2025, 2, 1), filed_on=date(2025, 2, 5), open_ended=True, ends_on=None,
        actor=ACTOR)
    appoint(app, "TT-3", date(2023, 1, 1), party=[])
    runner.catch_up(view)
    tt3 = counts(view.trend("community", "TT-3", years=YEARS))
    assert [tt3[y] for y in (2022, 2023, 2024, 2025)] == [
        (1, 0, 0, 0), (1, 1, 0, 0), (1, 1, 0, 0), (1, 1, 1, 0)]
    present = view.rates("city", year=2025)
    assert counts(view.trend("city", years=[2025]))[2025] == (
        present.communities, present.with_committee, present.with_service, present.with_party)

    live, trend = view.view.checksum(), view.trend("city", years=YEARS)
    rebuild(runner, view)
    assert (view.view.checksum(), view.trend("city", years=YEARS)) == (live, trend)
    view.view.drop()
    runner.catch_up(view, batch_events_max=1)  # every event its own batch
    assert (view.view.checksum(), view.trend("city", years=YEARS)) == (live, trend)


def test_r1_a_trend_is_bounded(app: FundLedger) -> None:
    view = open_projection(app, ThreeRatesProjection)
    with pytest.raises(InvalidInput) as raised:
        view.trend("city", years=list(range(1990, 2030)))
    assert raised.value.field == "years"


def test_r1_a_year_end_counts_its_own_last_day_and_answers_in_the_order_asked(
        app: FundLedger) -> None:
    view = open_projection(app, ThreeRatesProjection)
    register(app, "TT-9", "D9", "S9", date(2020, 12, 31))
    appoint(app, "TT-9", date(2021, 12, 31), party=["s1"])
    app.register_enterprise(credit_code=ENTERPRISE, name="Trend Property",
                            registered_on=date(2019, 1, 1), actor=ACTOR)
    app.start_service_contract(
        community_code="TT-9", enterprise_code=ENTERPRISE, contract_reference="C-9",
        starts_on=date(2022, 1, 1), filed_on=date(2022, 1, 1), open_ended=True, ends_on=None,
        actor=ACTOR)
    Runner(app).catch_up(view)
    asked = [2022, 2019, 2021, 2020, 2021]
    assert [(t.year, t.communities, t.with_committee, t.with_service, t.with_party)
            for t in view.trend("district", "D9", years=asked)] == [
        (2022, 1, 1, 1, 1), (2019, 0, 0, 0, 0), (2021, 1, 1, 0, 1), (2020, 1, 0, 0, 0),
        (2021, 1, 1, 0, 1)]
    assert counts(view.trend("district", "D8", years=[2022])) == {2022: (0, 0, 0, 0)}
