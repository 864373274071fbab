"""The owners' pages in a real browser: Debian's Chromium, headless, driven by Playwright.

One demo city and one server for the module (``fundledger demo``'s data, served by the same
app ``fundledger serve`` runs), one browser; each test has its own browser context (its
own cookies). The phone is 375 px wide. Screenshots of the main pages go to
``FUNDLEDGER_SCREENSHOTS`` when it is set (``docs/screenshots/`` holds the README's).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.demo_governance import COMMUNITY, OPEN_VOTE
from api.http.services import Services
from api.web.format import yuan_text
from api.web.identity import utc_now
from domain.ids import vote_id
from projections.history.statements import fund_statement
from tests.e2e.browser_support import (
    PHONE,
    chromium,
    demo_site,
    needs_chromium,
    shot,
)

AXE = Path(__file__).parent / "vendor" / "axe.min.js"

pytestmark = needs_chromium


@dataclass
class Site:
    base: str
    services: Services

    def invite(self, owner_id: str, **kwargs: Any) -> str:
        return self.services.signin().invite(COMMUNITY, owner_id, issued_by="test",
                                             **kwargs).code


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("owners-web")
    with demo_site(folder) as (base, services):
        yield Site(base, services)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=PHONE, locale="zh-CN", device_scale_factor=1)
    yield context.new_page()
    context.close()


def _voters(site: Site) -> list[tuple[str, str]]:
    """(owner id, voter key) of the open vote's voters who own one unit alone, not voted."""
    ledger = site.services.ledger
    count = ledger.vote_count(ledger.vote(COMMUNITY, OPEN_VOTE))
    return [(v.owner_ids[0], v.voter_key) for v in count.electorate.voters
            if len(v.owner_ids) == 1 and len(v.units) == 1 and v.voter_key not in count.ballots]


def _sign_in(page: Any, site: Site, code: str) -> None:
    page.goto(f"{site.base}/web/signin")
    page.get_by_label("登录码").fill(code)
    page.get_by_role("button", name="登录", exact=True).click()


def _axe(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]]}
            for v in result["violations"]]


def test_an_owner_signs_in_sees_the_balance_votes_and_gets_the_receipt(
        site: Site, page: Any) -> None:
    owner_id, voter_key = _voters(site)[0]
    code = site.invite(owner_id)
    # The letter's link: the code rides in the fragment, the page signs in by itself.
    page.goto(f"{site.base}/web/signin#code={code}")
    page.wait_for_url("**/web/units")
    shot(page, "units")

    ledger = site.services.ledger
    count = ledger.vote_count(ledger.vote(COMMUNITY, OPEN_VOTE))
    [unit_key] = count.electorate.voter(voter_key).unit_keys  # type: ignore[union-attr]
    building, unit = unit_key.split("-")
    expected = fund_statement(ledger, COMMUNITY, unit_key=unit_key).units[0].balance_fen
    page.get_by_role("link", name=f"查看明细: {building} 号楼 {unit}").click()
    assert page.locator("#balance").inner_text() == yuan_text(expected)
    assert "首次交存" in page.locator(".ledger").inner_text()  # every movement, labelled
    shot(page, "unit")
    page.get_by_label("查询日期").fill("2026-03-01")
    page.get_by_role("button", name="查询").click()
    as_of = fund_statement(ledger, COMMUNITY, unit_key=unit_key,
                           as_of=date(2026, 3, 1)).units
    assert page.locator("#balance").inner_text() == yuan_text(as_of[0].balance_fen if as_of
                                                              else 0)

    page.get_by_role("link", name="表决", exact=True).click()
    shot(page, "votes")
    page.get_by_role("link", name="查看并投票").click()
    ballots_before = len(ledger.vote_count(ledger.vote(COMMUNITY, OPEN_VOTE)).ballots)
    page.get_by_label("反对").check()
    assert "不能更改" in page.locator("#final-note").inner_text()  # told it is final (V5)
    page.get_by_label("我已知晓投票提交后不能更改").check()
    page.get_by_role("button", name="提交投票").click()
    shown = page.locator("#receipt-value").inner_text()
    shot(page, "vote")

    after = ledger.vote_count(ledger.vote(COMMUNITY, OPEN_VOTE))
    assert len(after.ballots) == ballots_before + 1
    assert after.ballots[voter_key].choice == "disagree"
    assert after.receipt_for(voter_key) == shown
    # The receipt checks later, on the page.
    page.get_by_label("投票回执").fill(shown)
    page.get_by_role("button", name="核对").click()
    assert "反对" in page.locator("#check-result").inner_text()
    # No second ballot: the form is gone, and the page says the ballot stands.
    assert page.get_by_role("button", name="提交投票").count() == 0


def test_the_disclosure_and_notices_read_in_chinese_and_english(site: Site, page: Any) -> None:
    owner_id, _ = _voters(site)[-1]
    _sign_in(page, site, site.invite(owner_id))
    page.get_by_role("link", name="年度公示").click()
    text = page.locator("main").inner_text()
    assert "二次供水水泵" in text and "water_pump" not in text  # cost kinds by name
    shot(page, "disclosure")
    with page.expect_download() as download:
        page.get_by_role("link", name="下载表格（CSV）").click()
    csv_text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert "二次供水水泵" in csv_text and "年初余额" in csv_text
    page.get_by_role("link", name="通知").click()
    assert "表决公告：更换1号楼电梯曳引机" in page.locator("#notices").inner_text()
    shot(page, "notices")
    page.get_by_role("link", name="Switch to English").click()
    assert "Notices" in page.locator("h1").inner_text()
    shot(page, "notices-en")


def test_a_second_owner_cannot_see_the_first_owners_unit(site: Site, browser: Any) -> None:
    (_, first_key), (second, _) = _voters(site)[1:3]
    ledger = site.services.ledger
    count = ledger.vote_count(ledger.vote(COMMUNITY, OPEN_VOTE))
    [unit_key] = count.electorate.voter(first_key).unit_keys  # type: ignore[union-attr]
    building, unit = unit_key.split("-")
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    _sign_in(page, site, site.invite(second))
    page.wait_for_url("**/web/units")
    response = page.goto(f"{site.base}/web/units/{building}/{unit}")
    assert response.status == 404
    assert "没有找到" in page.locator("main").inner_text()
    context.close()


def test_a_used_or_expired_code_is_refused(site: Site, page: Any) -> None:
    owner_id, _ = _voters(site)[3]
    code = site.invite(owner_id)
    _sign_in(page, site, code)
    page.wait_for_url("**/web/units")
    page.context.clear_cookies()
    _sign_in(page, site, code)  # used
    assert "无效" in page.locator("#signin-error").inner_text()
    assert page.url.endswith("/web/signin")
    expired = site.invite(owner_id, now=utc_now() - timedelta(days=10))
    _sign_in(page, site, expired)
    assert "无效" in page.locator("#signin-error").inner_text()
    shot(page, "signin")


def test_a_forged_cookie_is_refused(site: Site, page: Any) -> None:
    page.context.add_cookies([{"name": "fl_session", "value": "forged-" + "x" * 40,
                               "url": site.base + "/web/"}])
    page.goto(f"{site.base}/web/units")
    assert page.url.endswith("/web/signin")
    assert page.get_by_label("登录码").count() == 1


def test_a_form_without_its_csrf_token_changes_nothing(site: Site, page: Any) -> None:
    owner_id, voter_key = _voters(site)[4]
    _sign_in(page, site, site.invite(owner_id))
    page.goto(f"{site.base}/web/votes/{vote_id(COMMUNITY, OPEN_VOTE)}")
    page.get_by_label("同意").check()
    page.get_by_label("我已知晓投票提交后不能更改").check()
    page.evaluate("document.querySelector('form.ballot input[name=csrf]').remove()")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="提交投票").click()
    assert posted.value.status == 403
    ledger = site.services.ledger
    assert voter_key not in ledger.vote_count(ledger.vote(COMMUNITY, OPEN_VOTE)).ballots


def test_the_pages_pass_axe_and_load_nothing_from_elsewhere(site: Site, browser: Any) -> None:
    owner_id, _ = _voters(site)[5]
    # The checker is injected into the page, which the pages' CSP rightly refuses.
    context = browser.new_context(viewport=PHONE, locale="zh-CN", bypass_csp=True)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    _sign_in(page, site, site.invite(owner_id))
    page.goto(f"{site.base}/web/votes/{vote_id(COMMUNITY, OPEN_VOTE)}")
    assert _axe(page) == []
    page.goto(f"{site.base}/web/units")
    assert _axe(page) == []
    page.goto(f"{site.base}/web/signin")  # signed in: back to the units
    page.goto(f"{site.base}/docs")
    page.wait_for_selector(".swagger-ui .info", timeout=15_000)  # rendered, offline
    assert [u for u in requested if not u.startswith(site.base)] == []
    context.close()


def test_docs_assets_are_served_from_the_package(site: Site) -> None:
    html = httpx.get(f"{site.base}/docs").text
    assert "cdn" not in html.lower() and "/docs-assets/swagger-ui-bundle.js" in html
