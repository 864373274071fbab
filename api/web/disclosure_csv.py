"""The yearly disclosure as a spreadsheet a person opens: labelled in their language,
cost kinds by name, amounts in yuan as plain numbers (so the sheet can add them up).

UTF-8 with a byte-order mark: without it, the spreadsheet most owners have reads Chinese
as GBK and shows mojibake.
"""

from __future__ import annotations

import csv
import io

from api.web.format import yuan_plain
from api.web.i18n import labeller, translator
from domain.money import format_area
from projections.history.disclosure import MOVEMENTS, Disclosure

_MOVEMENT_KEYS = ("opening_balance", "deposits", "income", "use", "refunds",
                  "closing_balance")


def basis_text(basis: str, lang: str) -> str:
    """``resolution R`` / ``emergency E (category)`` in words."""
    t, label = translator(lang), labeller(lang)
    kind, _, rest = basis.partition(" ")
    if kind == "resolution":
        return t("basis_resolution", id=rest)
    emergency_id, _, category = rest.partition(" ")
    return t("basis_emergency", id=emergency_id,
             category=label("emergency", category.strip("()")))


def disclosure_csv(d: Disclosure, lang: str) -> bytes:
    t, label = translator(lang), labeller(lang)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow([t("disclosure_title", year=d.year), f"{d.community_name} ({d.community_code})"])
    w.writerow([])
    w.writerow([t("totals"), t("amount")])
    for key, name in zip(_MOVEMENT_KEYS, MOVEMENTS, strict=True):
        w.writerow([t(key), yuan_plain(d.total(name))])
    w.writerow([t("bank_balance"), yuan_plain(d.bank_balance_fen)])
    w.writerow([])
    w.writerow([t("projects")])
    w.writerow([t("reference"), t("paid_on"), t("project"), t("cost_kind"), t("basis"),
                t("invoice")])
    for p in d.projects:
        w.writerow([p.reference, p.paid_on.isoformat(), p.project,
                    label("cost_kind", p.cost_kind), basis_text(p.basis, lang),
                    yuan_plain(p.invoice_fen)])
    w.writerow([])
    w.writerow([t("income_title")])
    w.writerow([t("reference"), t("date"), t("source"), t("amount")])
    for i in d.income:
        w.writerow([i.reference, i.received_on.isoformat(), label("income_source", i.source),
                    yuan_plain(i.amount_fen)])
    w.writerow([])
    w.writerow([t("unit"), t("area"), *(t(key) for key in _MOVEMENT_KEYS)])
    for u in d.units:
        w.writerow([u.unit, format_area(u.area_m2_hundredths),
                    *(yuan_plain(int(getattr(u, n))) for n in MOVEMENTS)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
