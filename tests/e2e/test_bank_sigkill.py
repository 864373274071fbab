"""The SIGKILL bank test, short: concurrent deposits under repeated Idempotency-Keys against
``fundledger serve --workers 2`` on PostgreSQL, the server killed -9 twice mid-run and
restarted; every acknowledged deposit is in the log once, none twice, and the fund conserves
(F11). The longer run: ``python -m tests.e2e.bank_sigkill`` (see that module)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_URL
from tests.e2e.bank_sigkill import run_bank_test

pytestmark = pytest.mark.postgres


def test_f11_deposits_survive_two_sigkills_of_the_server_exactly_once(
        pg_database: str, tmp_path: Path) -> None:
    # pg_database: skip (or fail under FUNDLEDGER_REQUIRE_PG) without a server; the run
    # makes a database of its own, since killed workers leave their connections behind.
    outcome = run_bank_test(PG_ADMIN_URL, tmp_path, deposits=40, clients=6, kills=2)
    assert outcome.problems() == [], (tmp_path / "serve.log").read_text()[-4000:]
    assert outcome.kills == 2 and outcome.repeats > 0
    assert len(outcome.acknowledged) == 40 and sum(outcome.logged.values()) == 40
