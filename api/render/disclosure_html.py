"""The yearly disclosure (F10) as a plain printable page: escaped text, a print stylesheet,
no script. Amounts in yuan, areas in m².
"""

from __future__ import annotations

from html import escape
from typing import Any

from domain.money import format_area, format_fen
from projections.history.disclosure import MOVEMENTS, Disclosure

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
            + "".join(_cell(y(getattr(u, n)), True) for n in MOVEMENTS) + "</tr>")
    parts.append(f"</tbody><tfoot><tr>{_cell('total')}<td></td>"
                 + "".join(_cell(y(d.total(n)), True) for n in MOVEMENTS)
                 + "</tr></tfoot></table>")
    parts.append("<p class=\"meta\">Each owner may query their own sub-account "
                 "(fundledger statement CODE --unit BUILDING-UNIT).</p></body></html>")
    return "\n".join(parts) + "\n"
