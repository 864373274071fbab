"""Fixtures every integration test shares: ledgers opened on the test's store."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from ledger.application import FundLedger
from ledger.settings import Settings


@pytest.fixture
def open_ledger(db_url: str) -> Iterator[Callable[[], FundLedger]]:
    """Opens FundLedger instances on the test's store and closes them all afterwards."""
    opened: list[FundLedger] = []

    def make() -> FundLedger:
        app = FundLedger(Settings(db=db_url))
        opened.append(app)
        return app

    yield make
    for app in opened:
        app.close()


@pytest.fixture
def app(open_ledger: Callable[[], FundLedger]) -> FundLedger:
    """An empty ledger on the test's store."""
    return open_ledger()
