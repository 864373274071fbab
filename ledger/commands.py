"""The inputs of the fund's commands, already parsed: typed, in fen, with their line number.

Entry points (CSV import, CLI, HTTP) build these; the application never sees raw text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date

DEPOSIT_KINDS = ("first", "top_up")


@dataclass(frozen=True, slots=True)
class UnitRow:
    community_code: str
    community_name: str
    district: str
    street: str
    building: str
    unit: str
    area_m2_hundredths: int
    area_source: str
    owner_ids: list[str]
    line: int = 0


@dataclass(frozen=True, slots=True)
class DepositLine:
    reference: str
    community_code: str
    building: str
    unit: str
    amount_fen: int
    paid_on: date
    kind: str
    line: int = 0

    def digest(self) -> str:
        """What a repeat of this bank reference must match to count as the same posting."""
        return content_digest(
            "deposit", self.kind, self.community_code, self.building, self.unit,
            str(self.amount_fen), self.paid_on.isoformat(),
        )


@dataclass(frozen=True, slots=True)
class WithdrawalRequest:
    reference: str
    community_code: str
    project: str
    cost_kind: str
    invoice_fen: int
    paid_on: date
    buildings: list[str] = field(default_factory=list)
    unit_keys: list[str] = field(default_factory=list)
    emergency_id: str | None = None
    resolution_id: str | None = None

    def digest(self) -> str:
        return content_digest(
            "withdrawal", self.community_code, self.project, self.cost_kind,
            str(self.invoice_fen), self.paid_on.isoformat(), ",".join(sorted(self.buildings)),
            ",".join(sorted(self.unit_keys)), self.emergency_id or "", self.resolution_id or "",
        )


def content_digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
