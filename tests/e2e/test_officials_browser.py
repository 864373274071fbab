"""The officials' pages in a real browser: Debian's Chromium, headless, driven by Playwright.

One demo city and one server for the module (``fundledger demo``'s data, served by the app
``fundledger serve`` runs, its views followed live), one browser. Staff sign in by exchanging
an API token once, as a street official or the city would. Screenshots go to
``FUNDLEDGER_SCREENSHOTS`` when it is set, at phone and desktop width.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.http.services import Services
from api.web.pages import beijing_today
from domain.committee import PmcMember
from ledger.access import Principal, Role, Scope, new_token, token_digest
from tests.e2e.browser_support import (
    PHONE,
    SHOTS,
    chromium,
    demo_site,
    needs_chromium,
    shot,
)

DESKTOP = {"width": 1280, "height": 900}
# The demo's street 110105002 holds CY-0002 (no committee) and CY-0003 (an owners' committee).
STREET = "110105002"
OTHER_STREET_COMMUNITIES = ("CY-0001", "CY-0004")

pytestmark = needs_chromium


@dataclass
class Site:
    base: str
    services: Services

    def token(self, role: Role, scope: str) -> str:
        token, token_id = new_token()
        self.services.access.add_token(token_digest(token), Principal(
            f"{role.value}:{token_id}", role, Scope.parse(scope), token_id))
        return token


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("officials-web")
    with demo_site(folder) as (base, services):
        yield Site(base, services)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def _page(browser: Any, viewport: dict[str, int] = PHONE) -> Any:
    context = browser.new_context(viewport=viewport, locale="zh-CN", device_scale_factor=1)
    return context.new_page()


def _sign_in_with_token(page: Any, site: Site, token: str) -> None:
    page.goto(f"{site.base}/web/signin")
    page.locator("details.staff summary").click()
    page.get_by_label("API 令牌").fill(token)
    page.get_by_role("button", name="用令牌登录").click()


def _api_rates(site: Site, token: str, level: str, code: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"year": beijing_today().year, "level": level}
    if code:
        params["code"] = code
    answer = httpx.get(f"{site.base}/v1/rates", params=params,
                       headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _api_trend(site: Site, token: str, level: str, code: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"to_year": beijing_today().year, "level": level}
    if code:
        params["code"] = code
    answer = httpx.get(f"{site.base}/v1/rates/trend", params=params,
                       headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


TrendFigures = dict[int, tuple[int, dict[str, tuple[int, int | None]]]]


def _shown_trend(page: Any) -> TrendFigures:
    """Per year as the trend table shows it: (communities, rate -> (count, basis points))."""
    rows = page.locator("#trend tbody tr").evaluate_all("""rows => rows.map(r => [
        Number(r.dataset.year), Number(r.querySelector('.total').textContent),
        Array.from(r.querySelectorAll('[data-rate]')).map(c => [c.dataset.rate,
          Number(c.dataset.count), c.dataset.basisPoints])])""")
    return {year: (total, {rate: (count, None if bp == "None" else int(bp))
                           for rate, count, bp in cells}) for year, total, cells in rows}


def _expected_trend(api: dict[str, Any]) -> TrendFigures:
    return {y["year"]: (y["communities"], {rate: (f["count"], f["basis_points"])
                                            for rate, f in y["rates"].items()})
            for y in api["years"]}


def _shown(page: Any) -> dict[str, tuple[int, int, str]]:
    """Per rate as the page shows it: (count, communities, percent text)."""
    shown = {}
    for rate in ("committee", "service", "party"):
        card = page.locator(f"#figures [data-rate={rate}]")
        shown[rate] = (int(card.locator(".count").inner_text()),
                       int(card.locator(".total").inner_text()),
                       card.locator(".big").inner_text())
    return shown


def _expected(api: dict[str, Any]) -> dict[str, tuple[int, int, str]]:
    out = {}
    for rate, figures in api["rates"].items():
        bp = figures["basis_points"]
        out[rate] = (figures["count"], api["communities"], f"{bp // 100}.{bp % 100:02d}%")
    return out


def test_a_street_official_sees_its_street_and_it_moves_live(site: Site, browser: Any) -> None:
    token = site.token(Role.official, f"street:{STREET}")
    page = _page(browser)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _sign_in_with_token(page, site, token)
    page.get_by_role("link", name="三率").click()
    page.wait_for_selector("#rows-chart svg")  # drawn by ECharts
    # Only the street's communities: the drill-down rows and nothing of another street.
    codes = page.locator("#rows tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.code)")
    assert sorted(codes) == ["CY-0002", "CY-0003"]
    text = page.locator("main").inner_text()
    assert all(code not in text for code in OTHER_STREET_COMMUNITIES)
    assert "朝阳新城" in text and "望京花园" not in text
    # The figures are GET /v1/rates's.
    before = _api_rates(site, token, "street", STREET)
    assert _shown(page) == _expected(before)
    assert before["rates"]["committee"]["count"] == 1
    assert "无业委会或物管会" in page.locator("#lacking [data-code=CY-0002]").inner_text()
    shot(page, "rates")
    # Another street, and the city above, are not this official's (404).
    assert page.goto(f"{site.base}/web/rates?level=community&code=CY-0001").status == 404
    assert page.goto(f"{site.base}/web/rates?level=city").status == 404

    page.goto(f"{site.base}/web/rates")
    page.wait_for_selector("#rows-chart svg")
    trend_before = _api_trend(site, token, "street", STREET)
    site.services.ledger.appoint_property_management_committee(
        community_code="CY-0002", committee_reference="PMC-1", appointed_on=date(2026, 4, 1),
        members=[PmcMember("rc-chair", is_owner=False, residents_committee_representative=True),
                 PmcMember("street-1", is_owner=False), PmcMember("street-2", is_owner=False),
                 *(PmcMember(f"o-{n}", is_owner=True) for n in range(1, 5))],
        chair_id="rc-chair", term_start=date(2026, 4, 1), term_end=date(2029, 3, 31),
        actor="test:street-office", party_member_ids=["o-1"])
    # No reload: the open page follows the view.
    page.wait_for_function(
        "() => document.querySelector('#figures [data-rate=committee] .count')"
        ".textContent === '2'", timeout=10_000)
    after = _api_rates(site, token, "street", STREET)
    assert after["rates"]["committee"]["count"] == 2
    assert _shown(page) == _expected(after)
    # The trend moved from the committee's year (2026) on, no earlier, as the view says.
    page.wait_for_function(
        "() => document.querySelector('#trend [data-year=\"2026\"] [data-rate=committee]')"
        ".dataset.count === '2'", timeout=10_000)
    trend = _api_trend(site, token, "street", STREET)
    assert _shown_trend(page) == _expected_trend(trend)
    moved = [now["rates"]["committee"]["count"] - then["rates"]["committee"]["count"]
             for now, then in zip(trend["years"], trend_before["years"], strict=True)]
    assert moved == [int(y["year"] >= 2026) for y in trend["years"]]
    assert page.locator("#lacking [data-code=CY-0002]").count() == 0 or (
        "无业委会或物管会" not in page.locator("#lacking [data-code=CY-0002]").inner_text())
    assert "已更新" in page.locator("#live").inner_text()
    assert errors == []
    page.context.close()


def test_the_city_drills_down_to_a_community(site: Site, browser: Any) -> None:
    token = site.token(Role.auditor, "city")
    page = _page(browser, DESKTOP)
    _sign_in_with_token(page, site, token)
    page.goto(f"{site.base}/web/rates")
    page.wait_for_selector("#trend-chart svg")
    assert _shown(page) == _expected(_api_rates(site, token, "city", None))
    # The trend: each year's end as GET /v1/rates/trend gives it, years of the demo's
    # history (communities taken on since 2019) with the rates moving across them.
    trend = _api_trend(site, token, "city", None)
    assert _shown_trend(page) == _expected_trend(trend)
    assert len({(y["communities"], *(f["count"] for f in y["rates"].values()))
                for y in trend["years"]}) >= 3
    assert all(y["targets"] is not None for y in trend["years"])
    page.get_by_role("link", name="110105", exact=True).click()
    page.get_by_role("link", name="110105003", exact=True).click()
    assert _shown(page) == _expected(_api_rates(site, token, "street", "110105003"))
    page.get_by_role("link", name="东坝家园").click()
    assert _shown(page) == _expected(_api_rates(site, token, "community", "CY-0004"))
    page.get_by_role("link", name="全市").click()
    page.wait_for_selector("#rows-chart svg")
    shot(page, "rates-desktop")
    page.context.close()


def test_an_owner_has_no_dashboard(site: Site, browser: Any) -> None:
    from api.demo_governance import COMMUNITY
    ledger = site.services.ledger
    owner_id = ledger.unit_account(COMMUNITY, "1", "101").owner_ids[0]
    code = site.services.signin().invite(COMMUNITY, owner_id, issued_by="test").code
    page = _page(browser)
    page.goto(f"{site.base}/web/signin#code={code}")
    page.wait_for_url("**/web/units")
    assert page.get_by_role("link", name="三率").count() == 0
    assert page.goto(f"{site.base}/web/rates").status == 404
    page.context.close()


# -- proofs anyone can check ----------------------------------------------------------------


def _checkpointed(site: Site) -> Any:
    from projections.seal.sealer import seal_and_checkpoint
    _, checkpoint = seal_and_checkpoint(site.services.ledger, site.services.sealer())
    return checkpoint


def _verify_in_browser(page: Any, text: str | None = None, file: bytes | None = None,
                       key: str | None = None) -> tuple[str, str]:
    if key is not None:
        page.get_by_label("用于核验的公钥（十六进制）").fill(key)
    if file is not None:
        page.get_by_label("选择证明或账本包文件").set_input_files(
            files=[{"name": "bundle.jsonl", "mimeType": "application/json", "buffer": file}])
        page.wait_for_function("() => document.getElementById('verify-input').value.length > 0")
    if text is not None:
        page.get_by_label("或粘贴证明（JSON）或账本包（JSON Lines）").fill(text)
    page.evaluate("document.getElementById('verify-result').hidden = true")
    page.get_by_role("button", name="核验", exact=True).click()
    result = page.locator("#verify-result")
    result.wait_for(state="visible", timeout=60_000)
    return result.locator("h2").inner_text(), result.inner_text()


def test_the_browser_checks_a_proof_and_names_what_a_changed_byte_breaks(
        site: Site, browser: Any) -> None:
    from domain.ids import community_id
    from projections.seal.evidence import prove_event
    from projections.seal.proofs import SealError, verify_proof
    checkpoint = _checkpointed(site)
    key = checkpoint.public_key.hex()
    proof = prove_event(site.services.ledger, community_id("CY-0003"), 1,
                        sealer=site.services.sealer())
    assert verify_proof(proof, key)
    page = _page(browser)
    page.goto(f"{site.base}/web/proofs")  # no sign-in: anyone may check
    assert page.locator("#server-fingerprint").inner_text() == \
        page.locator("#key-fingerprint").inner_text() != "—"
    verdict, text = _verify_in_browser(page, json.dumps(proof, ensure_ascii=False))
    assert verdict == "✓ 核验通过"
    event = proof["event"]
    assert f"日志位置 {event['position']}" in text and event["topic"] in text
    shot(page, "proofs")

    # One byte of the event's state changed: the browser names that event, and says what
    # the Python verifier says.
    state = event["state"]
    at = state.index("CY-0003") + len("CY-000")
    changed = {**proof, "event": {**event, "state": state[:at] + "4" + state[at + 1:]}}
    with pytest.raises(SealError) as python_says:
        verify_proof(changed, key)
    verdict, text = _verify_in_browser(page, json.dumps(changed, ensure_ascii=False))
    assert verdict == "✗ 核验未通过"
    assert (f"出错的是事件：日志位置 {event['position']}，{event['topic']}，版本 1"
            in text)
    assert str(python_says.value) in text
    shot(page, "proofs-failed")

    # One byte of the checkpoint's signature: the checkpoint is named.
    signature = proof["checkpoint"]["signature"]
    forged = {**proof, "checkpoint": {**proof["checkpoint"],
                                      "signature": ("0" if signature[0] != "0" else "1")
                                      + signature[1:]}}
    verdict, text = _verify_in_browser(page, json.dumps(forged))
    assert verdict == "✗ 核验未通过"
    assert f"出错的是检查点（日志位置 {checkpoint.position}）" in text

    # Another key than the checkpoint's: refused, whatever the proof says of itself.
    verdict, text = _verify_in_browser(page, json.dumps(proof), key="ab" * 32)
    assert verdict == "✗ 核验未通过" and "not the trusted one" in text
    page.context.close()


def test_the_browser_checks_an_exported_bundle(site: Site, browser: Any) -> None:
    import io

    from projections.seal.evidence import export_community
    from projections.seal.proofs import SealError, verify_bundle
    checkpoint = _checkpointed(site)
    out = io.BytesIO()
    export_community(site.services.ledger, "CY-0003", out, sealer=site.services.sealer())
    bundle = out.getvalue()
    assert verify_bundle(io.BytesIO(bundle), checkpoint.public_key).community == "CY-0003"
    page = _page(browser)
    page.goto(f"{site.base}/web/proofs")
    verdict, text = _verify_in_browser(page, file=bundle)
    assert verdict == "✓ 核验通过" and "社区 CY-0003" in text
    # One byte of the 40th line's state (its first digit): that event is named, as the CLI
    # names it.
    lines = bundle.split(b"\n")
    record = json.loads(lines[40])
    start = lines[40].index(b'"state":"')
    at = next(i for i in range(start, len(lines[40])) if chr(lines[40][i]).isdigit())
    lines[40] = lines[40][:at] + (b"7" if lines[40][at:at + 1] != b"7" else b"8") + \
        lines[40][at + 1:]
    changed = b"\n".join(lines)
    with pytest.raises(SealError) as python_says:
        verify_bundle(io.BytesIO(changed), checkpoint.public_key)
    verdict, text = _verify_in_browser(page, file=changed)
    assert verdict == "✗ 核验未通过"
    assert f"出错的是事件：日志位置 {record['position']}，{record['topic']}" in text
    assert str(python_says.value) in text
    page.context.close()


# -- the audit trail ------------------------------------------------------------------------


def test_an_auditor_pages_the_trail_and_opens_an_entry_as_it_was(
        site: Site, browser: Any) -> None:
    from projections.audit import AuditFilter
    token = site.token(Role.auditor, "city")
    page = _page(browser, DESKTOP)
    _sign_in_with_token(page, site, token)
    page.get_by_role("link", name="审计").click()
    page.get_by_label("社区").select_option("CY-0003")
    page.get_by_label("类别").select_option("FirstDepositPaid")
    page.get_by_role("button", name="筛选").click()
    page.wait_for_url("**kind=FirstDepositPaid**")
    expected = site.services.audit.entries(AuditFilter("CY-0003", kind="FirstDepositPaid"),
                                           limit=100)
    shown = [int(p) for p in page.locator("#trail tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.position)")]
    assert shown == [e.notification_id for e in expected[:50]]
    page.get_by_role("link", name="下一页").click()
    page.wait_for_url("**after=**")
    shown = [int(p) for p in page.locator("#trail tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.position)")]
    assert shown == [e.notification_id for e in expected[50:100]]
    shot(page, "audit")
    # The first entry of the page, opened at its business date and recorded time.
    entry = expected[50]
    page.locator(f"#trail tr[data-position='{entry.notification_id}']").get_by_role(
        "link", name="按当时查看").click()
    page.wait_for_url("**/web/replay?**")
    assert f"日志位置 {entry.notification_id}" in page.locator("#last-event").inner_text()
    positions = page.locator("#events tbody tr td:first-child").all_inner_texts()
    assert positions[-1] == str(entry.notification_id)
    assert "FirstDepositPaid" in page.locator("#events").inner_text()
    shot(page, "replay")
    page.context.close()


def test_a_street_official_reads_only_its_streets_trail(site: Site, browser: Any) -> None:
    token = site.token(Role.official, f"street:{STREET}")
    page = _page(browser)
    _sign_in_with_token(page, site, token)
    page.goto(f"{site.base}/web/audit")
    options = page.locator("#f-community option").evaluate_all(
        "options => options.map(o => o.value)")
    assert options == ["CY-0002", "CY-0003"]
    assert page.goto(f"{site.base}/web/audit?community=CY-0001").status == 404
    assert page.goto(f"{site.base}/web/replay?kind=fund&key=CY-0003").status == 404  # auditors'
    page.context.close()


# -- enterprise credit ----------------------------------------------------------------------


def test_an_official_reads_the_ranking_and_every_line_of_a_score(
        site: Site, browser: Any) -> None:
    from domain.credit import Period
    half = Period.parse("2026H2")
    graded = site.services.ledger.credit_ranking(half)
    assert graded
    token = site.token(Role.official, "city")
    page = _page(browser, DESKTOP)
    _sign_in_with_token(page, site, token)
    page.get_by_role("link", name="企业信用").click()
    page.get_by_label("半年度").select_option("2026H2")
    page.get_by_role("button", name="查看").click()
    page.wait_for_url("**period=2026H2**")
    rows = page.locator("#ranking tbody tr")
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.code)") == [
        g.enterprise_code for g in graded]
    assert rows.locator(".score").all_inner_texts() == [g.score.display() for g in graded]
    shot(page, "credit")
    last = graded[-1]
    page.locator(f"#ranking tr[data-code='{last.enterprise_code}'] a").click()
    assert page.locator("#score").inner_text() == last.score.display()
    assert page.locator("#grade").inner_text() == last.grade
    refs = page.locator("#lines tbody tr").evaluate_all("rows => rows.map(r => r.dataset.ref)")
    assert refs == [line.event_ref for line in last.score.lines]
    _check_lines_in_words(page, site, last.score)
    shot(page, "enterprise")
    # Every enterprise's page says every line in Chinese, naming what the event says.
    for other in graded[:-1]:
        page.goto(f"{site.base}/web/credit/{other.enterprise_code}?period=2026H2")
        _check_lines_in_words(page, site, other.score)
    # In English on request, the same lines in English.
    page.context.add_cookies([{"name": "fl_lang", "value": "en", "url": site.base}])
    page.goto(f"{site.base}/web/credit/{last.enterprise_code}?period=2026H2")
    english = page.locator("#lines tbody td.why").all_inner_texts()
    assert english[0].startswith(
        f"base points: {site.services.ledger.credit_scheme.base_points}")
    # (authorities' names are the records' own, in Chinese; the sentences are English)
    assert not any(re.search("扣|加权|基础分|接诉即办|全额计入|表彰", text) for text in english)
    assert len(english) == len(last.score.lines)
    page.context.close()


def _check_lines_in_words(page: Any, site: Site, score: Any) -> None:
    """Each line in Chinese, with the facts of the event behind it and its own points."""
    scheme = site.services.ledger.credit_scheme
    events = {e.ref: e for e in site.services.ledger.enterprise(
        score.enterprise_code).credit_events()}
    texts = page.locator("#lines tbody td.why").all_inner_texts()
    assert len(texts) == len(score.lines)
    for line, text in zip(score.lines, texts, strict=True):
        assert re.search(r"[\u4e00-\u9fff]", text), text
        assert not re.search(r"\b(points|commendation|violation|complaint|ticket|fine of|"
                             r"responded|weighted)\b", text), text
        event = events.get(line.event_ref)
        if event is None:
            assert text.startswith(f"基础分 {scheme.base_points} 分"), text
            continue
        assert event.effective_date.isoformat() in text or line.kind == "complaint", text
        if getattr(event, "community_code", None):
            assert event.community_code in text, text
        if line.kind == "fine":
            whole, frac = divmod(event.amount_fen, 100)
            assert f"{whole:,}.{frac:02d} 元" in text, text
        if line.kind == "complaint":
            assert event.ticket_id in text, text


# -- the disclosure fit to publish ----------------------------------------------------------


def test_the_disclosure_publishes_in_chinese_with_its_checkpoint_and_renders_as_a_pdf(
        site: Site, browser: Any, tmp_path: Path) -> None:
    import subprocess

    from PIL import Image
    checkpoint = _checkpointed(site)
    token = site.token(Role.auditor, "city")
    page = _page(browser)
    _sign_in_with_token(page, site, token)
    page.goto(f"{site.base}/web/disclosure?community=CY-0003&year=2026")
    page.get_by_role("link", name="2026 年度", exact=True).click()
    text = page.locator("body").inner_text()
    assert "住宅专项维修资金收支公示" in text
    assert "二次供水水泵" in text and "water_pump" not in text  # cost kinds by name
    assert re.search(r"\d{1,3}(,\d{3})+\.\d{2} 元", text)  # thousands separators
    assert "审计人员" in page.locator("#issuer").inner_text()
    assert page.locator("#checkpoint-position").inner_text() == str(checkpoint.position)
    assert page.locator("#signature").inner_text() == checkpoint.signature.hex()
    assert page.locator(".qr img").evaluate("img => img.naturalWidth") > 0
    page.go_back()
    page.get_by_role("link", name="第 3 季度").click()
    assert "2026 年第 3 季度（2026-07-01 至 2026-09-30）" in page.locator("body").inner_text()

    answer = page.request.get(f"{site.base}/web/disclosure/publish.pdf?community=CY-0003"
                              "&year=2026")
    assert answer.status == 200 and answer.headers["content-type"] == "application/pdf"
    pdf = tmp_path / "disclosure.pdf"
    pdf.write_bytes(answer.body())
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf),
                    str(tmp_path / "page")], check=True)
    [png] = tmp_path.glob("page*.png")
    with Image.open(png) as image:
        grey = image.convert("L")
        dark = sum(count for value, count in enumerate(grey.histogram()) if value < 128)
        assert dark > 0.01 * grey.width * grey.height  # text and the QR code, not a blank page
    if SHOTS:
        png.replace(Path(SHOTS) / "disclosure-pdf.png")
    # The demo's large estate (CY-0004) prints its units summed per building, each building
    # once, the sums adding up to the closing balance, and names where each unit's line is.
    from api.demo import COMMUNITIES
    buildings = next(b for code, _, _, b, _, _ in COMMUNITIES if code == "CY-0004")
    page.goto(f"{site.base}/web/disclosure/publish?community=CY-0004&year=2026")
    rows = page.locator("#buildings tbody tr")
    assert rows.count() == buildings and page.locator("#units").count() == 0
    closing = [int(re.sub(r"[^0-9]", "", t)) for t in
               rows.locator("td:last-child").all_inner_texts()]
    assert sum(closing) == int(re.sub(r"[^0-9]", "", page.locator("#closing").inner_text()))
    assert "/web/disclosure.csv?community=CY-0004&year=2026" in page.locator(
        "#units-summed").inner_text()
    page.context.close()


def test_the_qr_codes_page_checks_the_communitys_own_stream(site: Site, browser: Any) -> None:
    checkpoint = _checkpointed(site)
    token = site.token(Role.official, f"street:{STREET}")
    page = _page(browser)
    _sign_in_with_token(page, site, token)
    page.goto(f"{site.base}/web/proofs?community=CY-0003")
    assert '"fundledger-proof/1"' in page.locator("#verify-input").input_value()
    verdict, text = _verify_in_browser(page)
    assert verdict == "✓ 核验通过" and f"日志位置 {checkpoint.position}" in text
    assert page.goto(f"{site.base}/web/proofs?community=CY-0001").status == 404  # not its
    page.context.clear_cookies()
    assert page.goto(f"{site.base}/web/proofs?community=CY-0003").status == 404
    assert page.goto(f"{site.base}/web/proofs").status == 200  # the checker itself: anyone's
    page.context.close()


def test_the_officials_pages_pass_axe(site: Site, browser: Any) -> None:
    from tests.e2e.test_owners_browser import _axe
    token = site.token(Role.auditor, "city")
    # The checker is injected into the page, which the pages' CSP rightly refuses.
    context = browser.new_context(viewport=PHONE, locale="zh-CN", bypass_csp=True)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    _sign_in_with_token(page, site, token)
    for path in ("/web/rates", "/web/proofs", "/web/audit?community=CY-0003",
                 "/web/replay?kind=fund&key=CY-0003", "/web/credit?period=2026H2"):
        page.goto(site.base + path)
        assert (path, _axe(page)) == (path, [])
    assert [u for u in requested if not u.startswith(site.base)] == []
    context.close()
