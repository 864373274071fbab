"""The yearly disclosure (F10): totals, projects charged with their split, each unit's year.

Built from two replays of the fund by business date (``replay``, the sub-accounts
folded by the domain's own mutators): as of the last day of the year before (opening
balances) and as of the last day of the year (closing balances); the year's deposits,
income, use and refunds are their differences, so a back-dated posting recorded later lands
in the year it is dated in. (``projections.history.statements`` computes the same figures, but
``ledger`` may not import the outer ring; the tests compare the two.) The projects are the
works withdrawals dated in the year, read from their posting documents (project, cost kind,
authority, invoice, split by floor area).

Every figure is integer fen. ``to_csv`` writes one table with a ``record`` column (``fund``,
``unit``, ``project``, ``share``, ``income``) so a program reads it back exactly; ``to_html``
writes a plain printable page (escaped text, a print stylesheet, no script).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from html import escape
from typing import Any

from domain.errors import InvalidInput
from domain.ids import posting_id
from domain.money import format_area, format_fen
from domain.posting import IncomeAllocation, WorksWithdrawal
from ledger.application import FundLedger
from ledger.loading import load_many
from projections.history.replay import replay

YEAR_MIN = 1998  # the housing reform that created the funds; nothing is older
YEAR_MAX = 2200


@dataclass(frozen=True)
class UnitYear:
    """One sub-account's year: opening + deposits + income - use - refunds = balance."""

    unit: str
    building: str
    door: str
    area_m2_hundredths: int
    opening_balance_fen: int
    deposits_fen: int
    income_fen: int
    use_fen: int
    refunds_fen: int
    balance_fen: int
    closed: bool


@dataclass(frozen=True)
class ProjectShare:
    unit: str
    area_m2_hundredths: int
    share_fen: int


@dataclass(frozen=True)
class ProjectCharged:
    """A works withdrawal of the year and its cost split over the charging range (F8)."""

    reference: str
    paid_on: date
    project: str
    cost_kind: str
    basis: str  # "resolution R" or "emergency E (category)"
    invoice_fen: int
    shares: list[ProjectShare]

    @property
    def shares_fen(self) -> int:
        return sum(s.share_fen for s in self.shares)


@dataclass(frozen=True)
class IncomeReceived:
    reference: str
    received_on: date
    source: str
    policy: str
    amount_fen: int


@dataclass
class Disclosure:
    community_code: str
    community_name: str
    district: str
    street: str
    year: int
    units: list[UnitYear] = field(default_factory=list)
    projects: list[ProjectCharged] = field(default_factory=list)
    income: list[IncomeReceived] = field(default_factory=list)
    # F11 at the year's end: the sum of the bank legs, independent of the balances
    bank_balance_fen: int = 0

    @property
    def period_start(self) -> date:
        return date(self.year, 1, 1)

    @property
    def period_end(self) -> date:
        return date(self.year, 12, 31)

    def total(self, name: str) -> int:
        return sum(int(getattr(u, name)) for u in self.units)

    @property
    def balance_fen(self) -> int:
        return self.total("balance_fen")

    @property
    def conserved(self) -> bool:
        return self.balance_fen == self.bank_balance_fen

    def problems(self) -> list[str]:
        """What does not add up (empty when the disclosure is consistent)."""
        found = []
        for u in self.units:
            if (u.opening_balance_fen + u.deposits_fen + u.income_fen - u.use_fen
                    - u.refunds_fen != u.balance_fen):
                found.append(f"unit {u.unit}: opening + movements != balance")
        for p in self.projects:
            if p.shares_fen != p.invoice_fen:
                found.append(f"project {p.reference}: shares {p.shares_fen} != invoice "
                             f"{p.invoice_fen}")
        if sum(p.invoice_fen for p in self.projects) != self.total("use_fen"):
            found.append("the projects' invoices differ from the units' use")
        if not self.conserved:
            found.append("F11: the sub-accounts do not sum to the bank balance")
        return found


def disclosure(app: FundLedger, community_code: str, year: int) -> Disclosure:
    """The F10 disclosure of one community's fund for one calendar year."""
    if not YEAR_MIN <= year <= YEAR_MAX:
        raise InvalidInput(f"year must be {YEAR_MIN} to {YEAR_MAX}", rule="F10", field="year")
    end = date(year, 12, 31)
    closing = replay(app, "fund", community_code, as_of=end)  # NotFound on community_code
    opening = replay(app, "fund", community_code, as_of=date(year - 1, 12, 31))
    state = closing.state
    result = Disclosure(community_code, str(state["name"]), str(state["district"]),
                        str(state["street"]), year,
                        bank_balance_fen=int(state["bank_balance_fen"]))
    before = {str(u["unit"]): u for u in opening.state["sub_accounts"]}
    for line in closing.state["sub_accounts"]:
        result.units.append(_unit_year(line, before.get(str(line["unit"]))))
    _postings(app, community_code, result)
    return result


def _unit_year(after: dict[str, Any], before: dict[str, Any] | None) -> UnitYear:
    def moved(name: str) -> int:
        return int(after[name]) - (int(before[name]) if before else 0)

    return UnitYear(
        unit=str(after["unit"]), building=str(after["building"]), door=str(after["door"]),
        area_m2_hundredths=int(after["area_m2_hundredths"]),
        opening_balance_fen=int(before["balance_fen"]) if before else 0,
        deposits_fen=moved("deposited_fen"), income_fen=moved("income_fen"),
        use_fen=moved("charged_fen"), refunds_fen=moved("refunded_fen"),
        balance_fen=int(after["balance_fen"]), closed=bool(after["closed"]))


def _postings(app: FundLedger, community_code: str, result: Disclosure) -> None:
    """The works withdrawals and income allocations dated in the year, by date, reference."""
    references = [reference for _, reference in app.community(community_code).postings]
    documents = load_many(app, [posting_id(reference) for reference in references])
    in_year = sorted((d for d in documents.values()
                      if result.period_start <= d.effective_date <= result.period_end),
                     key=lambda d: (d.effective_date, d.reference))
    for document in in_year:
        if isinstance(document, WorksWithdrawal):
            basis = (f"emergency {document.emergency_id} ({document.emergency_category})"
                     if document.basis == "emergency"
                     else f"resolution {document.resolution_id}")
            result.projects.append(ProjectCharged(
                reference=document.reference, paid_on=document.effective_date,
                project=document.project, cost_kind=document.cost_kind, basis=basis,
                invoice_fen=document.invoice_fen,
                shares=[ProjectShare(str(k), int(w), int(s)) for k, w, s in document.shares]))
        elif isinstance(document, IncomeAllocation):
            result.income.append(IncomeReceived(
                document.reference, document.effective_date, document.source,
                document.policy, document.amount_fen))


# -- CSV ------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "record", "community_code", "year", "reference", "date", "unit", "building", "door",
    "area_m2_hundredths", "opening_balance_fen", "deposits_fen", "income_fen", "use_fen",
    "refunds_fen", "balance_fen", "amount_fen", "description", "basis", "note",
)
_MOVEMENTS = ("opening_balance_fen", "deposits_fen", "income_fen", "use_fen", "refunds_fen",
              "balance_fen")


def to_csv(d: Disclosure) -> str:
    """One table; ``record`` says what a row is. Amounts are integer fen.

    fund: the community's totals, ``amount_fen`` the bank balance at the year's end, ``note``
    "conserved" or "not conserved" (F11); unit: one sub-account's year; project: a works
    withdrawal (``amount_fen`` the invoice, ``note`` the cost kind); share: one unit's share
    of the project named in ``reference`` (``area_m2_hundredths`` its weight); income: value
    added income received (``note`` the allocation policy).
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    common = {"community_code": d.community_code, "year": d.year}
    writer.writerow({**common, "record": "fund", "date": d.period_end.isoformat(),
                     **{name: d.total(name) for name in _MOVEMENTS},
                     "amount_fen": d.bank_balance_fen, "description": d.community_name,
                     "note": "conserved" if d.conserved else "not conserved"})
    for u in d.units:
        writer.writerow({**common, "record": "unit", "unit": u.unit, "building": u.building,
                         "door": u.door, "area_m2_hundredths": u.area_m2_hundredths,
                         **{name: getattr(u, name) for name in _MOVEMENTS},
                         "note": "closed" if u.closed else ""})
    for p in d.projects:
        writer.writerow({**common, "record": "project", "reference": p.reference,
                         "date": p.paid_on.isoformat(), "amount_fen": p.invoice_fen,
                         "description": p.project, "basis": p.basis, "note": p.cost_kind})
        for s in p.shares:
            writer.writerow({**common, "record": "share", "reference": p.reference,
                             "unit": s.unit, "area_m2_hundredths": s.area_m2_hundredths,
                             "amount_fen": s.share_fen})
    for i in d.income:
        writer.writerow({**common, "record": "income", "reference": i.reference,
                         "date": i.received_on.isoformat(), "amount_fen": i.amount_fen,
                         "description": i.source, "note": i.policy})
    return buffer.getvalue()


# -- HTML -----------------------------------------------------------------------------------

_STYLE = """
body { font-family: "Noto Sans CJK SC", "Source Han Sans", sans-serif; font-size: 10.5pt;
       color: #000; margin: 2em; }
h1 { font-size: 16pt; margin-bottom: 0.2em; }
h2 { font-size: 12.5pt; margin-top: 1.4em; border-bottom: 1px solid #000; }
h3 { font-size: 11pt; margin-bottom: 0.3em; }
table { border-collapse: collapse; width: 100%; margin: 0.4em 0 1em; }
th, td { border: 1px solid #888; padding: 2px 6px; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tfoot td { font-weight: bold; }
.meta { color: #333; }
.warn { color: #a00; font-weight: bold; }
@media print {
  @page { size: A4; margin: 14mm 12mm; }
  body { margin: 0; font-size: 9.5pt; }
  thead { display: table-header-group; }
  tr, .project p { page-break-inside: avoid; break-inside: avoid; }
  h2, h3, .project p { page-break-after: avoid; break-after: avoid; }
}
"""


def _cell(value: Any, numeric: bool = False) -> str:
    text = escape(str(value))
    return f'<td class="n">{text}</td>' if numeric else f"<td>{text}</td>"


def _head(*names: str, numeric_from: int = 1) -> str:
    cells = "".join(f'<th class="n">{escape(n)}</th>' if i >= numeric_from
                    else f"<th>{escape(n)}</th>" for i, n in enumerate(names))
    return f"<thead><tr>{cells}</tr></thead>"


def to_html(d: Disclosure) -> str:
    """A printable page: escaped text, a print stylesheet, no script. Amounts in yuan."""
    y = format_fen
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{escape(d.community_name)} 维修资金年度公示 {d.year}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{escape(d.community_name)} ({escape(d.community_code)}) — 住宅专项维修资金 "
        f"{d.year} 年度公示 / maintenance fund disclosure</h1>",
        f'<p class="meta">{escape(d.district)} / {escape(d.street)}; period '
        f"{d.period_start.isoformat()} to {d.period_end.isoformat()}; amounts in yuan, "
        "areas in m² (M165 arts. 30–31, F10).</p>",
        "<h2>Totals</h2><table>",
        _head("", "yuan"),
        "<tbody>",
    ]
    for label, name in (("opening balance", "opening_balance_fen"),
                        ("deposits", "deposits_fen"), ("value-added income", "income_fen"),
                        ("use (works charged)", "use_fen"), ("refunds", "refunds_fen"),
                        ("closing balance", "balance_fen")):
        parts.append(f"<tr>{_cell(label)}{_cell(y(d.total(name)), True)}</tr>")
    parts.append(f"<tr>{_cell('bank balance (sum of the bank legs)')}"
                 f"{_cell(y(d.bank_balance_fen), True)}</tr></tbody></table>")
    parts.append("<p>The sub-accounts sum to the bank balance (F11).</p>" if d.conserved else
                 '<p class="warn">The sub-accounts do NOT sum to the bank balance (F11).</p>')
    parts.append(f"<h2>Projects charged ({len(d.projects)})</h2>")
    if not d.projects:
        parts.append("<p>No works were charged to the fund this year.</p>")
    for p in d.projects:
        parts.append(
            f'<div class="project"><h3>{escape(p.project)}</h3>'
            f'<p class="meta">reference {escape(p.reference)}; paid {p.paid_on.isoformat()}; '
            f"cost kind {escape(p.cost_kind)}; authority {escape(p.basis)}; invoice "
            f"{y(p.invoice_fen)} yuan, split by floor area over {len(p.shares)} units.</p>"
            "<table>" + _head("unit", "area m²", "share (yuan)") + "<tbody>")
        parts.extend(f"<tr>{_cell(s.unit)}{_cell(format_area(s.area_m2_hundredths), True)}"
                     f"{_cell(y(s.share_fen), True)}</tr>" for s in p.shares)
        parts.append(f"</tbody><tfoot><tr>{_cell('total')}<td></td>"
                     f"{_cell(y(p.shares_fen), True)}</tr></tfoot></table></div>")
    if d.income:
        parts.append("<h2>Value-added income</h2><table>"
                     + _head("reference", "received", "source", "yuan", numeric_from=3)
                     + "<tbody>")
        parts.extend(f"<tr>{_cell(i.reference)}{_cell(i.received_on.isoformat())}"
                     f"{_cell(i.source)}{_cell(y(i.amount_fen), True)}</tr>" for i in d.income)
        parts.append("</tbody></table>")
    parts.append(f"<h2>Sub-accounts ({len(d.units)})</h2><table>"
                 + _head("unit", "area m²", "opening", "deposits", "income", "use",
                         "refunds", "balance") + "<tbody>")
    for u in d.units:
        parts.append(
            f"<tr>{_cell(u.unit + (' (closed)' if u.closed else ''))}"
            f"{_cell(format_area(u.area_m2_hundredths), True)}"
            + "".join(_cell(y(getattr(u, n)), True) for n in _MOVEMENTS) + "</tr>")
    parts.append(f"</tbody><tfoot><tr>{_cell('total')}<td></td>"
                 + "".join(_cell(y(d.total(n)), True) for n in _MOVEMENTS)
                 + "</tr></tfoot></table>")
    parts.append("<p class=\"meta\">Each owner may query their own sub-account "
                 "(fundledger statement CODE --unit BUILDING-UNIT).</p></body></html>")
    return "\n".join(parts) + "\n"


__all__ = [
    "CSV_COLUMNS",
    "Disclosure",
    "IncomeReceived",
    "ProjectCharged",
    "ProjectShare",
    "UnitYear",
    "disclosure",
    "to_csv",
    "to_html",
]
