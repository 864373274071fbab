"""GET /v1/rates/trend (R1): a scope's three rates at each year's end, on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from ledger.access import Role
from projections.three_rates import TARGETS, TREND_YEARS_MAX, target_percents
from tests.integration.http_support import (
    COMMUNITY,
    DISTRICT,
    OTHER_STREET,
    STREET,
    Api,
    open_api,
    seed,
)
from tests.integration.test_three_rates_view import MEMBERS


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    yield from open_api(db_url)


def test_r1_r2_the_trend_over_http_is_the_views_year_by_year(api: Api) -> None:
    seed(api)  # two communities registered on 2026-01-01, in two districts
    api.services.ledger.appoint_property_management_committee(
        community_code=COMMUNITY, committee_reference="PMC-1", appointed_on=date(2026, 3, 1),
        members=MEMBERS, chair_id="rc-chair", term_start=date(2026, 3, 1),
        term_end=date(2029, 2, 28), actor="test:http-trend", party_member_ids=["s1"])
    api.settle()
    official = api.token(Role.official, f"street:{STREET}")
    answer = api.get("/v1/rates/trend", official, to_year=2026, level="street", code=STREET)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    years = [y["year"] for y in body["years"]]
    assert years == list(range(min(TARGETS), 2027))
    view = api.services.three_rates.trend("street", STREET, years=years)
    for shown, held in zip(body["years"], view, strict=True):
        assert shown["communities"] == held.communities
        assert {r: (f["count"], f["basis_points"], f["target_met"])
                for r, f in shown["rates"].items()} == {
            r: (held.count(r), held.basis_points(r), held.target_met(r))
            for r in ("committee", "service", "party")}
        assert shown["targets"] == target_percents(shown["year"])
    # Registered in 2026: nothing before it; in 2026 the committee and its party member.
    assert [y["communities"] for y in body["years"]] == [0] * (len(years) - 1) + [1]
    assert body["years"][-1]["rates"]["committee"]["count"] == 1
    assert body["years"][-1]["rates"]["party"]["count"] == 1

    # The same answer as GET /v1/rates for the year, when nothing is dated after it.
    now = api.get("/v1/rates", official, year=2026, level="street", code=STREET).json()
    assert now["rates"] == body["years"][-1]["rates"]

    # Another street is not this official's; the district's is not either.
    assert api.get("/v1/rates/trend", official, to_year=2026, level="street",
                   code=OTHER_STREET).status_code == 404
    assert api.get("/v1/rates/trend", official, to_year=2026, level="district",
                   code=DISTRICT).status_code == 404


@pytest.mark.parametrize(("params", "field"), [
    ({"to_year": 2026, "from_year": 2027}, "from_year"),
    ({"to_year": 2026, "from_year": 2026 - TREND_YEARS_MAX}, "from_year"),
    ({"to_year": 1999}, "to_year"),
    ({"to_year": 2026, "level": "city", "code": "X"}, "code"),
])
def test_r1_a_bad_trend_request_names_its_field(api: Api, params: dict[str, object],
                                                field: str) -> None:
    auditor = api.token(Role.auditor)
    answer = api.get("/v1/rates/trend", auditor, **params)
    assert answer.status_code == 422, answer.text
    assert field in answer.text
