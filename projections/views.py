"""The views the runner knows, by name: ``fundledger projections rebuild balance``."""

from __future__ import annotations

from typing import Any

from projections.audit import AuditProjection
from projections.balance import BalanceProjection
from projections.credit import CreditProjection
from projections.runner import BatchingProjection
from projections.three_rates import ThreeRatesProjection

VIEWS: dict[str, type[BatchingProjection[Any]]] = {
    "balance": BalanceProjection,
    "audit": AuditProjection,
    "three_rates": ThreeRatesProjection,
    "credit": CreditProjection,
}
