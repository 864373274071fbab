"""The yearly disclosure (F10) on both stores: it adds up, its CSV reads back, its HTML escapes.

A community with a year before the disclosed one (so opening balances are not zero), a
deposit back-dated into the disclosed year after the year ended, income, two projects whose
invoices do not divide evenly, a refund, and names that would break an unescaped page.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from datetime import date

import pytest

from api.render.disclosure_csv import to_csv
from api.render.disclosure_html import to_html
from domain.errors import InvalidInput, NotFound
from ledger.application import FundLedger
from ledger.commands import DepositLine, UnitRow, WithdrawalRequest
from projections.history.disclosure import Disclosure, disclosure
from projections.history.statements import fund_statement

CODE = "CY-DS"
NAME = 'Garden <b>&</b> "Sons"'
PROJECT = "<script>alert('roof')</script> & gutters"
ACTOR = "test"
RATE = 20_000
UNITS = [("1", "101", 8_950), ("1", "102", 12_000), ("1", "201", 6_425),
         ("2", "101", 7_500), ("2", "102", 15_033)]
YEAR = 2026


def first_fen(area: int) -> int:
    return (area * RATE + 50) // 100


@pytest.fixture
def ledger_with_a_year(app: FundLedger) -> FundLedger:
    rows = [UnitRow(CODE, NAME, "Chaoyang", "Jianwai", b, u, area, "register", [f"o-{b}-{u}"],
                    line) for line, (b, u, area) in enumerate(UNITS)]
    app.register_units(rows, effective_date=date(2025, 1, 1), actor=ACTOR)
    app.declare_emergency(community_code=CODE, emergency_id="E-1", category="roof_leak",
                          description="leak", declared_on=date(2025, 6, 1), actor=ACTOR)
    app.import_deposits([DepositLine(f"F-{b}-{u}", CODE, b, u, first_fen(area),
                                     date(2025, 2, 1), "first")
                         for b, u, area in UNITS], actor=ACTOR)
    # the year before: a project and income, so the disclosed year opens with balances
    app.withdraw(WithdrawalRequest("W-2025", CODE, "old lift", "lift", 333_333,
                                   date(2025, 7, 1), buildings=["1"], emergency_id="E-1"),
                 actor=ACTOR)
    app.allocate_income(community_code=CODE, amount_fen=12_345, source="interest",
                        received_on=date(2025, 12, 21), reference="I-2025", actor=ACTOR)
    # the disclosed year
    app.post_deposit(DepositLine("T-1", CODE, "2", "101", 50_000, date(2026, 3, 5), "top_up"),
                     actor=ACTOR)
    app.withdraw(WithdrawalRequest("W-2026-1", CODE, PROJECT, "roof_waterproofing",
                                   1_000_001, date(2026, 4, 2), buildings=["1", "2"],
                                   emergency_id="E-1"), actor=ACTOR)
    app.allocate_income(community_code=CODE, amount_fen=77_777, source="interest",
                        received_on=date(2026, 6, 21), reference="I-2026", actor=ACTOR)
    app.withdraw(WithdrawalRequest("W-2026-2", CODE, "pump", "water_pump", 99_999,
                                   date(2026, 9, 9), unit_keys=["2-101", "2-102", "1-201"],
                                   emergency_id="E-1"), actor=ACTOR)
    app.refund_destroyed_unit(community_code=CODE, building="1", unit="102",
                              destroyed_on=date(2026, 11, 30), reference="R-1", actor=ACTOR)
    # the next year, and a deposit recorded after the year ended but dated inside it
    app.post_deposit(DepositLine("T-2", CODE, "1", "101", 9_000, date(2027, 1, 5), "top_up"),
                     actor=ACTOR)
    app.post_deposit(DepositLine("T-3", CODE, "1", "201", 4_321, date(2026, 12, 31), "top_up"),
                     actor=ACTOR)
    return app


MOVEMENTS = ("opening_balance_fen", "deposits_fen", "income_fen", "use_fen", "refunds_fen",
             "balance_fen")


def test_f10_f11_totals_add_up_and_agree_with_the_statements(
    ledger_with_a_year: FundLedger,
) -> None:
    app = ledger_with_a_year
    d = disclosure(app, CODE, YEAR)
    assert d.problems() == []
    assert d.community_name == NAME and len(d.units) == len(UNITS)
    # totals are the sums of the unit lines; each line adds up
    for name in MOVEMENTS:
        assert d.total(name) == sum(getattr(u, name) for u in d.units)
    for u in d.units:
        assert (u.opening_balance_fen + u.deposits_fen + u.income_fen - u.use_fen
                - u.refunds_fen) == u.balance_fen
    # the year's figures against the statements at the two year ends (the disclosure is
    # built from those two statements: one F10 implementation, checked for its composition)
    closing = {s.unit_key: s for s in fund_statement(app, CODE, as_of=date(YEAR, 12, 31)).units}
    opening = {s.unit_key: s for s in fund_statement(app, CODE, as_of=date(YEAR - 1, 12, 31)).units}
    for u in d.units:
        assert u.balance_fen == closing[u.unit].balance_fen
        assert u.opening_balance_fen == opening[u.unit].balance_fen
        assert u.use_fen == closing[u.unit].withdrawals_fen - opening[u.unit].withdrawals_fen
        assert u.deposits_fen == closing[u.unit].deposits_fen - opening[u.unit].deposits_fen
    assert d.total("opening_balance_fen") > 0
    assert d.total("deposits_fen") == 50_000 + 4_321  # the 2027 top-up is not this year's
    assert d.total("refunds_fen") > 0 and next(u for u in d.units if u.unit == "1-102").closed
    assert d.bank_balance_fen == d.balance_fen and d.conserved


def test_f10_the_quarters_chain_and_add_up_to_the_year(ledger_with_a_year: FundLedger) -> None:
    """Beijing's art. 84: the quarterly disclosure beside the yearly one. Each quarter opens
    where the one before closed, and the four quarters' movements are the year's."""
    app = ledger_with_a_year
    year = disclosure(app, CODE, YEAR)
    quarters = [disclosure(app, CODE, YEAR, quarter) for quarter in (1, 2, 3, 4)]
    assert [(q.period_start, q.period_end) for q in quarters] == [
        (date(2026, 1, 1), date(2026, 3, 31)), (date(2026, 4, 1), date(2026, 6, 30)),
        (date(2026, 7, 1), date(2026, 9, 30)), (date(2026, 10, 1), date(2026, 12, 31))]
    assert all(q.problems() == [] for q in quarters)
    assert quarters[0].total("opening_balance_fen") == year.total("opening_balance_fen")
    for before, after in itertools.pairwise(quarters):
        assert after.total("opening_balance_fen") == before.balance_fen
    assert quarters[3].balance_fen == year.balance_fen
    for name in ("deposits_fen", "income_fen", "use_fen", "refunds_fen"):
        assert sum(q.total(name) for q in quarters) == year.total(name), name
    assert [[p.reference for p in q.projects] for q in quarters] == [
        [], ["W-2026-1"], ["W-2026-2"], []]
    with pytest.raises(InvalidInput):
        disclosure(app, CODE, YEAR, 5)


def test_f8_f10_each_project_splits_exactly_to_its_invoice(ledger_with_a_year: FundLedger) -> None:
    d = disclosure(ledger_with_a_year, CODE, YEAR)
    assert [p.reference for p in d.projects] == ["W-2026-1", "W-2026-2"]  # not 2025's
    assert [p.invoice_fen for p in d.projects] == [1_000_001, 99_999]
    for p in d.projects:
        assert sum(s.share_fen for s in p.shares) == p.invoice_fen
        assert p.basis == "emergency E-1 (roof_leak)"
    assert sorted(s.unit for s in d.projects[1].shares) == ["1-201", "2-101", "2-102"]
    assert sum(p.invoice_fen for p in d.projects) == d.total("use_fen")
    assert [(i.reference, i.amount_fen) for i in d.income] == [("I-2026", 77_777)]
    assert d.total("income_fen") == 77_777


def test_f10_the_csv_reads_back_to_the_same_figures(ledger_with_a_year: FundLedger) -> None:
    d = disclosure(ledger_with_a_year, CODE, YEAR)
    rows = list(csv.DictReader(io.StringIO(to_csv(d))))
    fund = [r for r in rows if r["record"] == "fund"]
    assert len(fund) == 1
    assert {n: int(fund[0][n]) for n in MOVEMENTS} == {n: d.total(n) for n in MOVEMENTS}
    assert int(fund[0]["amount_fen"]) == d.bank_balance_fen
    assert fund[0]["description"] == NAME and fund[0]["note"] == "conserved"
    units = {r["unit"]: r for r in rows if r["record"] == "unit"}
    assert set(units) == {u.unit for u in d.units}
    for u in d.units:
        assert {n: int(units[u.unit][n]) for n in MOVEMENTS} == {n: getattr(u, n)
                                                                  for n in MOVEMENTS}
        assert int(units[u.unit]["area_m2_hundredths"]) == u.area_m2_hundredths
    projects = {r["reference"]: r for r in rows if r["record"] == "project"}
    assert projects["W-2026-1"]["description"] == PROJECT
    for p in d.projects:
        assert int(projects[p.reference]["amount_fen"]) == p.invoice_fen
        shares = [r for r in rows if r["record"] == "share" and r["reference"] == p.reference]
        assert [(r["unit"], int(r["amount_fen"])) for r in shares] == [
            (s.unit, s.share_fen) for s in p.shares]
        assert sum(int(r["amount_fen"]) for r in shares) == int(
            projects[p.reference]["amount_fen"])
    assert [int(r["amount_fen"]) for r in rows if r["record"] == "income"] == [77_777]


def test_f10_the_html_page_escapes_names_and_prints_plainly(ledger_with_a_year: FundLedger) -> None:
    d = disclosure(ledger_with_a_year, CODE, YEAR)
    page = to_html(d)
    assert "<script" not in page.lower() and "<b>" not in page
    assert "&lt;script&gt;alert(&#x27;roof&#x27;)&lt;/script&gt; &amp; gutters" in page
    assert "Garden &lt;b&gt;&amp;&lt;/b&gt; &quot;Sons&quot;" in page
    assert "@media print" in page and "javascript:" not in page.lower()
    assert re.search(r"\son\w+=", page) is None  # no event handlers
    assert "10000.01" in page  # the invoice, in yuan
    for u in d.units:
        assert f"<td>{u.unit}" in page


def test_f10_a_year_without_history_and_bad_input(ledger_with_a_year: FundLedger) -> None:
    empty = disclosure(ledger_with_a_year, CODE, 2020)
    assert isinstance(empty, Disclosure)
    assert empty.units == [] and empty.projects == [] and empty.problems() == []
    with pytest.raises(NotFound) as refused:
        disclosure(ledger_with_a_year, "CY-NONE", YEAR)
    assert refused.value.field == "community_code"
    with pytest.raises(InvalidInput) as invalid:
        disclosure(ledger_with_a_year, CODE, 10_000)
    assert invalid.value.field == "year"
