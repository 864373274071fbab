"""The F10 disclosure fit to publish: in Chinese, cost kinds and sources by name, amounts with
thousands separators, the issuer and date of issue, the log position, checkpoint and signature
it was drawn from, and a QR code to the page where anyone can check the ledger's proofs. The
same page is the PDF (WeasyPrint), so what is printed is what was shown.

Yearly, or quarterly as Beijing's rules (art. 84) ask where the owners manage the fund.

A community of more than ``UNITS_PRINTED_MAX`` units prints its sub-accounts summed per
building, with where to get every unit's line (the CSV download; each owner's own page):
WeasyPrint lays out some 3 ms of table row per unit, so a 5,000-unit estate printed in full
took over half a minute for some 130 pages nobody reads on a notice board
(``benchmarks/disclosure.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import segno
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.web.disclosure_csv import basis_text
from api.web.format import area_text, yuan_text
from api.web.i18n import labeller
from projections.history.disclosure import Disclosure, UnitYear
from projections.seal.proofs import Checkpoint

TEMPLATES = Path(__file__).parent / "templates"
UNITS_PRINTED_MAX = 600  # more units print per building (see the module's note)
STYLESHEET = TEMPLATES / "disclosure_print.css"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


@dataclass(frozen=True)
class Issue:
    """Who issues the disclosure, when, and from which state of the ledger."""

    issuer: str
    issued_on: date
    log_position: int  # the last event the figures could include
    checkpoint: Checkpoint | None  # the latest signed checkpoint, if any
    fingerprint: str | None
    proof_url: str  # the page that checks the ledger's proofs in the reader's browser
    details_url: str | None = None  # every unit's line (CSV), named when units are summed


@dataclass(frozen=True)
class BuildingYear:
    """A building's sub-accounts summed: the same columns as a unit's line."""

    building: str
    units: int
    area_m2_hundredths: int
    opening_balance_fen: int
    deposits_fen: int
    income_fen: int
    use_fen: int
    refunds_fen: int
    balance_fen: int


_SUMMED = ("area_m2_hundredths", "opening_balance_fen", "deposits_fen", "income_fen",
           "use_fen", "refunds_fen", "balance_fen")


def _natural(text: str) -> tuple[tuple[int, str], ...]:
    """"2" before "10": digits compare as numbers."""
    return tuple((int(part), "") if part.isdigit() else (0, part)
                 for part in re.findall(r"\d+|\D+", text))


def buildings(d: Disclosure) -> list[BuildingYear]:
    """The sub-accounts summed per building, in building order."""
    groups: dict[str, list[UnitYear]] = {}
    for unit in d.units:
        groups.setdefault(unit.building, []).append(unit)
    return [BuildingYear(building, len(units),
                         *(sum(int(getattr(u, name)) for u in units) for name in _SUMMED))
            for building, units in sorted(groups.items(), key=lambda g: _natural(g[0]))]


def qr_data_uri(url: str) -> str:
    """An SVG QR code of ``url`` as a data: URI (an <img> both Chromium and WeasyPrint show)."""
    return str(segno.make(url, error="m").svg_data_uri(scale=4, border=2))


def period_title(d: Disclosure) -> str:
    if d.quarter is None:
        return f"{d.year} 年度"
    return f"{d.year} 年第 {d.quarter} 季度"


def print_html(d: Disclosure, issue: Issue, stylesheet_href: str | None = None, *,
               units_printed_max: int = UNITS_PRINTED_MAX) -> str:
    """The whole disclosure as one printable HTML page (no script, no outside resource);
    ``stylesheet_href`` links ``STYLESHEET`` for a browser (the PDF is given it directly)."""
    label = labeller("zh")
    summed = buildings(d) if len(d.units) > units_printed_max else None
    return _env.get_template("disclosure_print.html").render(
        d=d, issue=issue, stylesheet_href=stylesheet_href, yuan=yuan_text, area=area_text,
        label=label, buildings=summed, units_printed_max=units_printed_max,
        basis=lambda text: basis_text(text, "zh"), period=period_title(d),
        qr=qr_data_uri(issue.proof_url))


def pdf_bytes(html: str) -> bytes:
    """The page as a PDF, laid out by WeasyPrint (imported here: it loads Pango)."""
    from weasyprint import CSS, HTML

    return bytes(HTML(string=html).write_pdf(stylesheets=[CSS(filename=str(STYLESHEET))]))
