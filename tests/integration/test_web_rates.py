"""The officials' three-rates page over HTTP on both stores: what it lists of a large place.

(The page in a real browser, live, is ``tests/e2e/test_officials_browser.py``.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import pytest

from api.web import rates
from domain.committee import PmcMember
from ledger.access import Role
from tests.integration.http_support import (
    COMMUNITY,
    DISTRICT,
    OTHER,
    OTHER_DISTRICT,
    STREET,
    Api,
    community_body,
    open_api,
    seed,
    staff_sign_in,
)

THIRD = "CY-AA"  # beside CY-A on its street (and between it and CY-B), with a committee


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    for opened in open_api(db_url):
        admin = seed(opened)
        assert opened.post("/v1/communities", admin,
                           community_body(THIRD, DISTRICT, STREET)).status_code == 201
        opened.services.ledger.appoint_property_management_committee(
            community_code=THIRD, committee_reference="PMC-1", appointed_on=date(2026, 4, 1),
            members=[PmcMember("rc-chair", is_owner=False,
                               residents_committee_representative=True),
                     PmcMember("street-1", is_owner=False),
                     PmcMember("street-2", is_owner=False),
                     *(PmcMember(f"o-{n}", is_owner=True) for n in range(1, 5))],
            chair_id="rc-chair", term_start=date(2026, 4, 1), term_end=date(2029, 3, 31),
            actor="test:street-office")
        opened.settle()
        yield opened


def _listed(html: str) -> list[str]:
    section = html.split('id="lacking"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r'data-code="([^"]+)"', section)


def test_the_communities_lacking_most_are_listed_first_and_the_rest_counted(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    staff_sign_in(api.client, api.token(Role.official, "city"))
    whole = api.client.get("/web/rates", params={"year": 2026})
    assert whole.status_code == 200, whole.text
    # CY-A and CY-B lack all three; CY-AA has its committee: it comes last.
    assert _listed(whole.text) == [COMMUNITY, OTHER, THIRD]
    assert re.search(r'id="lacking-unlisted" hidden>', whole.text)

    monkeypatch.setattr(rates, "LACKING_SHOWN_MAX", 2)
    city = api.client.get("/web/rates", params={"year": 2026})
    assert _listed(city.text) == [COMMUNITY, OTHER]
    assert "以上为所缺事项最多的 2 个社区；另有 1 个社区未列出" in city.text
    # The figures still count every community; a street's page lists its own.
    assert re.search(r'data-rate="committee".*?class="total">3<', city.text, re.S)
    street = api.client.get("/web/rates", params={"level": "street", "code": STREET,
                                                  "year": 2026})
    assert _listed(street.text) == [COMMUNITY, THIRD]
    assert re.search(r'id="lacking-unlisted" hidden>', street.text)


def test_a_street_named_alike_in_two_districts_shows_each_official_their_own(
        api: Api) -> None:
    admin = api.token(Role.admin)
    for code, district in (("SAME-A", DISTRICT), ("SAME-B", OTHER_DISTRICT)):
        assert api.post("/v1/communities", admin,
                        community_body(code, district, "Garden-Street")).status_code == 201
    api.settle()
    staff_sign_in(api.client, api.token(Role.official, f"district:{DISTRICT}"))
    own = api.client.get("/web/rates", params={"level": "street", "code": "Garden-Street",
                                               "year": 2026})
    assert own.status_code == 200, own.text
    assert _listed(own.text) == ["SAME-A"]
    assert re.search(r'data-rate="committee".*?class="total">1<', own.text, re.S)
    staff_sign_in(api.client, api.token(Role.official, "city"))
    both = api.client.get("/web/rates", params={"level": "street", "code": "Garden-Street",
                                                "year": 2026})
    assert _listed(both.text) == ["SAME-A", "SAME-B"]
    assert re.search(r'data-rate="committee".*?class="total">2<', both.text, re.S)
    # Not a place of the district's: 404, as before it had a community.
    staff_sign_in(api.client, api.token(Role.official, f"district:{DISTRICT}"))
    assert api.client.get("/web/rates", params={"level": "street", "code": "Nowhere",
                                                "year": 2026}).status_code == 404
