"""The yearly disclosure (F10) as one CSV table that a program reads back exactly.

A ``record`` column says what a row is (``fund``, ``unit``, ``project``, ``share``,
``income``); every amount is integer fen.
"""

from __future__ import annotations

import csv
import io

from projections.history.disclosure import MOVEMENTS, Disclosure

CSV_COLUMNS = (
    "record", "community_code", "year", "reference", "date", "unit", "building", "door",
    "area_m2_hundredths", "opening_balance_fen", "deposits_fen", "income_fen", "use_fen",
    "refunds_fen", "balance_fen", "amount_fen", "description", "basis", "note",
)


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
                     **{name: d.total(name) for name in MOVEMENTS},
                     "amount_fen": d.bank_balance_fen, "description": d.community_name,
                     "note": "conserved" if d.conserved else "not conserved"})
    for u in d.units:
        writer.writerow({**common, "record": "unit", "unit": u.unit, "building": u.building,
                         "door": u.door, "area_m2_hundredths": u.area_m2_hundredths,
                         **{name: getattr(u, name) for name in MOVEMENTS},
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
