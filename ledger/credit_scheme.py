"""The credit scheme is configuration (E3): the example by default, or a JSON file.

The file mirrors ``domain.credit.CreditScheme``::

    {"name": "...", "base_points": 100, "commendation_points": {"city": 5},
     "violation_deductions": {"safety": 10}, "violation_deduction_default": 5,
     "fine_bands": [{"from_fen": 0, "deduction": 2}],
     "complaint_response_weight": 5, "complaint_resolution_weight": 10,
     "complaint_satisfaction_weight": 10,
     "grade_shares_percent": [["A", 20], ["B", 50], ["C", 20], ["D", 10]]}
"""

from __future__ import annotations

import json
from pathlib import Path

from domain.credit import EXAMPLE_SCHEME, CreditScheme, FineBand
from domain.errors import InvalidInput


def load_credit_scheme(path: Path | None) -> CreditScheme:
    if path is None:
        return EXAMPLE_SCHEME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return CreditScheme(
            name=data["name"],
            base_points=data["base_points"],
            commendation_points=data["commendation_points"],
            violation_deductions=data["violation_deductions"],
            violation_deduction_default=data["violation_deduction_default"],
            fine_bands=tuple(FineBand(b["from_fen"], b["deduction"]) for b in data["fine_bands"]),
            complaint_response_weight=data["complaint_response_weight"],
            complaint_resolution_weight=data["complaint_resolution_weight"],
            complaint_satisfaction_weight=data["complaint_satisfaction_weight"],
            grade_shares_percent=tuple((g, s) for g, s in data["grade_shares_percent"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InvalidInput(f"credit scheme {path} is unreadable: {error!r}", rule="E3",
                           field="FUNDLEDGER_CREDIT_SCHEME_FILE") from None
