"""Sealing reads that take the client longer than the server lets a transaction sit idle.

At 1,000,000 units (benchmarks/city.py) the checkpoint's read of every stream's head turned
over a million rows into Python inside its transaction, the connection sat idle in it past
eventsourcing's ``idle_in_transaction_session_timeout``, and the server ended it. Here the
timeout is one second and turning the first head row into Python takes longer than that:
the checkpoint and the other whole-log reads must still succeed (PostgreSQL only: SQLite
has no such timeout).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from psycopg.rows import tuple_row

from ledger.application import FundLedger
from ledger.commands import DepositLine, UnitRow
from ledger.settings import Settings
from projections.seal import sealer as sealer_module
from projections.seal.evidence import verify_ledger
from projections.seal.sealer import make_checkpoint, open_sealer, seal

IDLE_TIMEOUT_S = 1


@pytest.fixture
def ledger(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
           ) -> Iterator[FundLedger]:
    monkeypatch.setenv("FUNDLEDGER_SIGNING_KEY_FILE", str(tmp_path / "signing.key"))
    monkeypatch.setenv("POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT", str(IDLE_TIMEOUT_S))
    app = FundLedger(Settings(db=pg_url))
    rows = [UnitRow("CY-S", "Slow Garden", "110105", "110105001", "1", str(100 + n),
                    8_000, "register", [f"owner-{n}"]) for n in range(5)]
    app.register_units(rows, effective_date=date(2026, 1, 1), actor="t")
    app.import_deposits([DepositLine(f"S-{n}", "CY-S", "1", str(100 + n), 1_600_000,
                                     date(2026, 1, 2), "first") for n in range(5)], actor="t")
    yield app
    app.close()


def _slow_on_rows_of(width: int) -> Callable[[Any], Callable[[Sequence[Any]], Any]]:
    """``tuple_row``, but the first row of ``width`` columns takes longer to make than the
    server's idle-in-transaction timeout (a million rows, in effect)."""
    slept = False

    def factory(cursor: Any) -> Callable[[Sequence[Any]], Any]:
        make = tuple_row(cursor)

        def make_row(values: Sequence[Any]) -> Any:
            nonlocal slept
            if len(values) == width and not slept:
                slept = True
                time.sleep(IDLE_TIMEOUT_S + 0.5)
            return make(values)

        return make_row

    return factory


def test_the_checkpoint_reads_every_head_however_long_the_client_takes(
        ledger: FundLedger, monkeypatch: pytest.MonkeyPatch) -> None:
    sealer = open_sealer(ledger)
    seal(ledger, sealer)
    monkeypatch.setattr(sealer_module, "tuple_row", _slow_on_rows_of(3))  # the heads' rows
    checkpoint = make_checkpoint(ledger, sealer)
    assert checkpoint is not None and checkpoint.streams == 6  # five units, one community
    assert len(sealer.store.heads_at(checkpoint.position)) == 6
    monkeypatch.setattr(sealer_module, "tuple_row", _slow_on_rows_of(5))  # whole events
    assert len(sealer.store.first_events(checkpoint.position)) == 6
    report = verify_ledger(ledger, sealer=sealer, workers=1)
    assert report.ok and report.events == checkpoint.events, report.problem
