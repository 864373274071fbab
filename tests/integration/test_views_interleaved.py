"""The views after a random interleaving of commands and catch-ups, on both stores.

Commands are drawn at random (deposits, income, emergency repairs, sales, refunds), some of
them refused by the rules; the runner catches up at random moments with random batch sizes.
Whatever the order, each view must equal the independent replay of tests/test_projections,
and a refused command must leave no trace in either.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta

import pytest

from domain.errors import DomainError
from ledger.application import FundLedger
from ledger.commands import DepositLine, WithdrawalRequest
from projections.audit import AuditProjection
from projections.balance import BalanceProjection
from projections.runner import Runner, open_projection
from tests.integration.test_projections import ACTOR, UNITS, check_views, deposits, register

COMMANDS_PER_RUN = 40
BUILDINGS = {"PJ-1": ["1", "2"], "PJ-2": ["1"], "PJ-3": ["5"]}


def random_command(app: FundLedger, rng: random.Random, n: int) -> Callable[[], object]:
    """One command with random arguments; it may break a rule, which must change nothing."""
    day = date(2026, 2, 1) + timedelta(days=n)
    code, _, _, building, door, _ = rng.choice(UNITS)
    choice = rng.randrange(10)
    if choice < 4:
        line = DepositLine(f"R-TU-{n}", code, building, door, rng.randrange(1, 50_000), day,
                           "top_up")
        return lambda: app.post_deposit(line, actor=ACTOR)
    if choice < 6:
        return lambda: app.allocate_income(
            community_code=code, amount_fen=rng.randrange(1, 10_000), source="interest",
            received_on=day, reference=f"R-INT-{n}", actor=ACTOR)
    if choice < 8:
        def repair() -> None:
            app.declare_emergency(community_code=code, emergency_id=f"R-E-{n}",
                                  category="roof_leak", description="rain through the roof",
                                  declared_on=day, actor=ACTOR)
            app.withdraw(WithdrawalRequest(
                reference=f"R-W-{n}", community_code=code, project=f"Roof {n}",
                cost_kind="roof_waterproofing", invoice_fen=rng.randrange(1, 2_000_000),
                paid_on=day, buildings=rng.sample(BUILDINGS[code], 1), emergency_id=f"R-E-{n}"),
                actor=ACTOR)
        return repair
    if choice < 9:
        return lambda: app.sell_unit(
            community_code=code, building=building, unit=door, buyer_owner_ids=[f"buyer-{n}"],
            sold_on=day, reference=f"R-SALE-{n}", actor=ACTOR)
    return lambda: app.refund_destroyed_unit(
        community_code=code, building=building, unit=door, destroyed_on=day,
        reference=f"R-REF-{n}", actor=ACTOR)


@pytest.mark.parametrize("seed", [7, 2026])
def test_views_equal_the_replay_after_random_commands_and_catch_ups(
    app: FundLedger, seed: int
) -> None:
    rng = random.Random(seed)
    runner = Runner(app)
    balance = open_projection(app, BalanceProjection)
    audit = open_projection(app, AuditProjection)
    register(app)
    deposits(app, "FD", first=True)
    refused = 0
    for n in range(COMMANDS_PER_RUN):
        command = random_command(app, rng, n)
        before = app.recorder.max_notification_id()
        try:
            command()
        except DomainError:
            refused += 1
            # A refused withdrawal may follow its (accepted) emergency; nothing else stays.
            assert app.recorder.max_notification_id() - (before or 0) <= 1
        if rng.random() < 0.3:
            projection = rng.choice([balance, audit])
            runner.catch_up(projection, batch_events_max=rng.choice([1, 3, 50, 1_000]))
    runner.catch_up(balance)
    runner.catch_up(audit)
    check_views(app, balance, audit)
    assert refused < COMMANDS_PER_RUN  # the run did more than refuse
