"""The balance and audit views against a plain-Python replay of the log, on both stores.

The replay below is written apart from the views: it reads the notification log, decodes
each event and adds amounts up by event class name, so a view that double counts, skips an
event or mixes units up disagrees with it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, Tracking
from typer.testing import CliRunner

from api import cli_projections  # noqa: F401  (registers `fundledger projections`)
from api.cli_common import cli
from domain.ids import unit_account_id, unit_key
from domain.unit_account import first_deposit_due_fen
from ledger.application import FundLedger
from ledger.commands import DepositLine, UnitRow, WithdrawalRequest
from ledger.settings import Settings
from ledger.write_context import WriteContext
from projections import audit as audit_module
from projections.audit import AuditFilter, AuditProjection
from projections.balance import BalanceProjection
from projections.runner import (
    Followers,
    ProjectionFailed,
    Runner,
    ViewBehind,
    open_projection,
    rebuild,
    runners_lock,
    view_status,
    wait_until_applied,
)
from projections.view_locks import ViewBusy

ACTOR = "test:projections"
# (community, district, street, building, unit, area in 0.01 m²)
UNITS = [
    ("PJ-1", "D1", "S1", "1", "101", 9_000),
    ("PJ-1", "D1", "S1", "1", "102", 6_000),
    ("PJ-1", "D1", "S1", "2", "101", 12_000),
    ("PJ-1", "D1", "S1", "2", "102", 7_500),
    ("PJ-2", "D1", "S2", "1", "101", 8_000),
    ("PJ-2", "D1", "S2", "1", "102", 8_000),
    ("PJ-3", "D2", "S3", "5", "501", 10_000),
]
MONEY_SIGN = {"FirstDepositPaid": 1, "ToppedUp": 1, "IncomeCredited": 1,
              "WorksShareCharged": -1, "RefundedOnDestruction": -1}
COLUMN = {"FirstDepositPaid": "deposits_fen", "ToppedUp": "deposits_fen",
          "IncomeCredited": "income_fen", "WorksShareCharged": "withdrawals_fen",
          "RefundedOnDestruction": "refunds_fen"}
AUDITED = {*MONEY_SIGN, "Sold", "WorksWithdrawalPaid", "FundIncomeAllocated", "Tallied"}


@pytest.fixture
def app(db_url: str) -> Iterator[FundLedger]:
    ledger = FundLedger(Settings(db=db_url))
    try:
        yield ledger
    finally:
        ledger.close()


def register(app: FundLedger) -> None:
    rows = [UnitRow(code, f"Community {code}", district, street, building, door, area,
                    "register", [f"owner-{code}-{building}-{door}"], line)
            for line, (code, district, street, building, door, area) in enumerate(UNITS, 2)]
    app.register_units(rows, effective_date=date(2026, 1, 1), actor=ACTOR)


def deposits(app: FundLedger, tag: str, *, first: bool, skip: str = "",
             write: WriteContext | None = None) -> None:
    rate = app.settings.deposit_rate_fen_per_m2
    app.import_deposits([
        DepositLine(f"{tag}-{n}", code, building, door,
                    first_deposit_due_fen(area, rate) if first else 10_000 + n,
                    date(2026, 1, 5), "first" if first else "top_up")
        for n, (code, _, _, building, door, area) in enumerate(UNITS) if code != skip],
        actor=ACTOR, write=write)


def build(app: FundLedger) -> None:
    """Units, a batch of deposits, income, an emergency withdrawal, a fund vote and a
    withdrawal under it, a sale and a destruction refund."""
    register(app)
    deposits(app, "FD", first=True)
    deposits(app, "TU", first=False)
    app.allocate_income(community_code="PJ-1", amount_fen=12_345, source="interest",
                        received_on=date(2026, 3, 1), reference="INT-1", actor=ACTOR)
    app.declare_emergency(community_code="PJ-1", emergency_id="E-1", category="roof_leak",
                          description="rain through the roof", declared_on=date(2026, 3, 2),
                          actor=ACTOR)
    app.withdraw(WithdrawalRequest(
        reference="W-1", community_code="PJ-1", project="Roof", cost_kind="roof_waterproofing",
        invoice_fen=3_000_000, paid_on=date(2026, 3, 5), buildings=["1"], emergency_id="E-1"),
        actor=ACTOR)
    fund_vote_and_withdrawal(app)
    app.sell_unit(community_code="PJ-2", building="1", unit="101", buyer_owner_ids=["buyer"],
                  sold_on=date(2026, 4, 1), reference="SALE-1", actor=ACTOR)
    app.refund_destroyed_unit(community_code="PJ-3", building="5", unit="501",
                              destroyed_on=date(2026, 4, 2), reference="REF-1", actor=ACTOR)


def fund_vote_and_withdrawal(app: FundLedger) -> None:
    app.deliver_units(community_code="PJ-2", delivered_on=date(2026, 1, 10), actor=ACTOR)
    app.propose_vote(community_code="PJ-2", vote_reference="PUMP", matter_kind="fund_use",
                     title="Replace the pump", proposed_on=date(2026, 2, 1), actor=ACTOR,
                     buildings=["1"], approved_amount_fen=500_000, purpose="Water pump")
    app.publish_vote(community_code="PJ-2", vote_reference="PUMP",
                     published_on=date(2026, 2, 1), actor=ACTOR)
    app.open_vote(community_code="PJ-2", vote_reference="PUMP", opened_on=date(2026, 2, 16),
                  actor=ACTOR)
    app.cast_ballots(community_code="PJ-2", vote_reference="PUMP", cast_on=date(2026, 2, 20),
                     ballots=[("owner-PJ-2-1-101", "agree", ()), ("owner-PJ-2-1-102", "agree", ())])
    app.close_vote(community_code="PJ-2", vote_reference="PUMP", closed_on=date(2026, 2, 28),
                   actor=ACTOR)
    app.withdraw(WithdrawalRequest(
        reference="W-2", community_code="PJ-2", project="Pump", cost_kind="water_pump",
        invoice_fen=400_000, paid_on=date(2026, 3, 10), buildings=["1"], resolution_id="PUMP"),
        actor=ACTOR)


def more(app: FundLedger) -> None:
    deposits(app, "TU2", first=False, skip="PJ-3")  # PJ-3's only unit was destroyed
    app.allocate_income(community_code="PJ-2", amount_fen=999, source="interest",
                        received_on=date(2026, 6, 1), reference="INT-2", actor=ACTOR)


# -- the independent replay -------------------------------------------------------------------


def logged_events(app: FundLedger) -> list[tuple[int, Any]]:
    events, start = [], 0
    while page := app.recorder.select_notifications(start, 500, inclusive_of_start=False):
        events += [(n.id, app.mapper.to_domain_event(n)) for n in page]
        start = page[-1].id
    return events


def expected_balances(app: FundLedger) -> dict[tuple[str, str], dict[str, Any]]:
    units: dict[Any, tuple[str, str]] = {}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for _, event in logged_events(app):
        kind = type(event).__name__
        if kind == "Registered" and hasattr(event, "building"):
            units[event.originator_id] = (event.community_code,
                                          unit_key(event.building, event.unit))
            rows[units[event.originator_id]] = {
                "deposits_fen": 0, "withdrawals_fen": 0, "income_fen": 0, "refunds_fen": 0,
                "balance_fen": 0, "reraise_demanded": False}
        elif kind in MONEY_SIGN:
            row = rows[units[event.originator_id]]
            row[COLUMN[kind]] += event.amount_fen
            row["balance_fen"] += MONEY_SIGN[kind] * event.amount_fen
        elif kind in ("ReraiseDemanded", "ReraiseSatisfied"):
            rows[units[event.originator_id]]["reraise_demanded"] = kind == "ReraiseDemanded"
    return rows


def viewed_balances(view: BalanceProjection) -> dict[tuple[str, str], dict[str, Any]]:
    return {(u.community_code, u.unit_key): {
        "deposits_fen": u.deposits_fen, "withdrawals_fen": u.withdrawals_fen,
        "income_fen": u.income_fen, "refunds_fen": u.refunds_fen, "balance_fen": u.balance_fen,
        "reraise_demanded": u.reraise_demanded} for u in view.units()}


def expected_audit(app: FundLedger) -> list[tuple[int, str, int | None, str | None]]:
    return [(nid, type(e).__name__,
             getattr(e, "amount_fen", None) or getattr(e, "invoice_fen", None)
             or getattr(e, "balance_transferred_fen", None), getattr(e, "reference", None))
            for nid, e in logged_events(app) if type(e).__name__ in AUDITED]


def viewed_audit(view: AuditProjection) -> list[tuple[int, str, int | None, str | None]]:
    rows, after = [], 0
    while page := view.entries(after=after, limit=7):  # small pages: keyset paging
        rows += page
        after = page[-1].notification_id
    return [(r.notification_id, r.kind, r.amount_fen if r.kind != "Tallied" else None,
             r.reference if r.kind != "Tallied" else None) for r in rows]


def check_views(app: FundLedger, balance: BalanceProjection, audit: AuditProjection) -> None:
    assert viewed_balances(balance) == expected_balances(app)
    assert viewed_audit(audit) == [
        (nid, kind, None if kind == "Tallied" else amount, None if kind == "Tallied" else ref)
        for nid, kind, amount, ref in expected_audit(app)]
    last = app.recorder.max_notification_id()
    runner = Runner(app)
    assert runner.position(balance) == runner.position(audit) == last


@pytest.fixture
def views(app: FundLedger) -> tuple[Runner, BalanceProjection, AuditProjection]:
    return (Runner(app), open_projection(app, BalanceProjection),
            open_projection(app, AuditProjection))


# -- tests --------------------------------------------------------------------------------------


def test_views_equal_a_plain_replay_and_count_each_event_once(
    app: FundLedger, views: tuple[Runner, BalanceProjection, AuditProjection]
) -> None:
    runner, balance, audit = views
    build(app)
    assert runner.catch_up(balance) == runner.catch_up(audit) == app.recorder.max_notification_id()
    check_views(app, balance, audit)
    sums = balance.view.checksum(), audit.view.checksum()

    assert runner.catch_up(balance) == runner.catch_up(audit) == 0  # nothing new: no change
    assert (balance.view.checksum(), audit.view.checksum()) == sums

    more(app)
    runner.catch_up(balance, batch_events_max=5)
    runner.catch_up(audit, batch_events_max=5)
    check_views(app, balance, audit)


def test_scopes_totals_and_citations(
    app: FundLedger, views: tuple[Runner, BalanceProjection, AuditProjection]
) -> None:
    runner, balance, audit = views
    build(app)
    runner.catch_up(balance)
    runner.catch_up(audit)
    expected = expected_balances(app)
    assert {u.unit_key for u in balance.units(street="S2")} == {"1-101", "1-102"}
    assert {u.community_code for u in balance.units(district="D1")} == {"PJ-1", "PJ-2"}
    funds = {f.community_code: f for f in balance.funds()}
    for code, fund in funds.items():
        assert fund.balance_fen == sum(r["balance_fen"] for (c, _), r in expected.items()
                                       if c == code)
        assert fund.balance_fen == (fund.deposits_fen + fund.income_fen - fund.withdrawals_fen
                                    - fund.refunds_fen)
    assert funds["PJ-3"].balance_fen == 0 and funds["PJ-3"].refunds_fen > 0
    assert [f.community_code for f in balance.funds(district="D2")] == ["PJ-3"]

    shares = audit.entries(AuditFilter(community="PJ-1", kind="WorksShareCharged"))
    assert {s.unit_key for s in shares} == {"1-101", "1-102"}
    assert {s.cites for s in shares} == {"emergency E-1 (roof_leak)"}
    pump = audit.entries(AuditFilter(community="PJ-2", kind="WorksShareCharged"))
    assert {s.cites for s in pump} == {"resolution PUMP"}
    (tally,) = audit.entries(AuditFilter(kind="Tallied"))
    assert (tally.community_code, tally.reference, tally.cites) == (
        "PJ-2", "PUMP", "fund_use passed")
    unit = audit.entries(AuditFilter(community="PJ-1", unit="1-102"))
    assert [e.kind for e in unit] == ["FirstDepositPaid", "ToppedUp", "IncomeCredited",
                                      "WorksShareCharged"]
    in_march = audit.entries(AuditFilter(date_from=date(2026, 3, 1), date_to=date(2026, 3, 31)))
    assert in_march and all(date(2026, 3, 1) <= e.business_date <= date(2026, 3, 31)
                            for e in in_march)
    # The actor filter matches any part of the recorded actor, on either store alike.
    everything = audit.entries(AuditFilter(), limit=1_000)
    assert audit.entries(AuditFilter(actor=":proj"), limit=1_000) == everything
    assert audit.entries(AuditFilter(community="PJ-1", unit="1-102", actor=ACTOR)) == unit
    assert audit.entries(AuditFilter(actor="someone-else")) == []


def test_a_batch_fed_again_after_its_commit_is_refused_by_the_tracking_position(
    app: FundLedger, views: tuple[Runner, BalanceProjection, AuditProjection]
) -> None:
    runner, balance, audit = views
    build(app)
    page = app.recorder.select_notifications(0, 10_000, inclusive_of_start=False)
    for projection in (balance, audit):
        assert runner.process_page(projection, page) == page[-1].id
        checksum = projection.view.checksum()
        # A runner that crashed after the commit, before remembering it, sends it again:
        assert runner.process_page(projection, page) == page[-1].id
        assert projection.view.checksum() == checksum
        # ...and at the recorder, the repeated position rolls the whole batch back.
        projection.begin()
        for notification in page:  # through the library's entry point, event by event
            projection.process_event(app.mapper.to_domain_event(notification),
                                     Tracking(app.name, notification.id))
        with pytest.raises(IntegrityError):
            projection.commit(Tracking(app.name, page[-1].id))
        assert projection.view.checksum() == checksum
    check_views(app, balance, audit)


def test_rebuild_and_small_batches_give_the_same_view(
    app: FundLedger, views: tuple[Runner, BalanceProjection, AuditProjection]
) -> None:
    runner, balance, audit = views
    build(app)
    for projection in (balance, audit):
        runner.catch_up(projection)
        live = projection.view.checksum()
        progressed: list[int] = []
        assert rebuild(runner, projection, progress=progressed.append) == sum(progressed)
        assert projection.view.checksum() == live
        projection.view.drop()
        runner.catch_up(projection, batch_events_max=3)  # batches split saves everywhere
        assert projection.view.checksum() == live
    check_views(app, balance, audit)


def test_an_audit_view_remembering_fewer_units_than_the_city_has_builds_the_same_view(
    app: FundLedger, views: tuple[Runner, BalanceProjection, AuditProjection],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A city of more units than the audit runner keeps in memory: the others' places are
    looked up batch by batch, every entry still names its unit; and once full, the runner
    keeps the units it holds (emptied instead, a monthly sweep over the city found none)."""
    runner, _, audit = views
    build(app)
    more(app)
    runner.catch_up(audit)
    whole = audit.view.checksum()
    monkeypatch.setattr(audit_module, "KNOWN_UNITS_MAX", 3)
    audit.view.drop()
    runner.catch_up(audit, batch_events_max=4)
    assert audit.view.checksum() == whole
    known = getattr(audit.view, "known_units", None)
    if known is not None:  # PostgreSQL's view remembers units; SQLite's looks each batch up
        first_three = {unit_account_id(code, building, unit).int
                       for code, _, _, building, unit, _ in UNITS[:3]}
        assert set(known) == first_three


def test_a_failing_handler_stops_at_its_event_and_resumes_there_once_fixed(
    app: FundLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(app)
    runner = Runner(app)

    def broken(self: BalanceProjection, event: Any, tracking: Tracking) -> None:
        raise ValueError("income handler is broken")

    with monkeypatch.context() as patch:
        patch.setattr(BalanceProjection, "process_income", broken)
        balance = open_projection(app, BalanceProjection)
        with pytest.raises(ProjectionFailed) as raised:
            runner.catch_up(balance, batch_events_max=10_000)
    first_income = min(nid for nid, e in logged_events(app)
                       if type(e).__name__ == "IncomeCredited")
    assert raised.value.failure.notification_id == first_income
    state = view_status(runner, balance)
    assert state.position == first_income - 1  # the events before it were committed
    assert state.failure is not None and state.failure.notification_id == first_income
    assert "income handler is broken" in state.failure.error
    assert state.lag == app.recorder.max_notification_id() - (first_income - 1)

    fixed = open_projection(app, BalanceProjection)  # a restarted runner, with the fix
    runner.catch_up(fixed)
    assert view_status(runner, fixed).failure is None
    assert view_status(runner, fixed).lag == 0
    assert viewed_balances(fixed) == expected_balances(app)


def test_followers_in_process_apply_events_as_they_are_written(
    app: FundLedger, views: tuple[Runner, BalanceProjection, AuditProjection]
) -> None:
    runner, balance, audit = views
    register(app)
    with Followers(runner, [balance, audit]) as followers:
        build_rest = [lambda: deposits(app, "FD", first=True),
                      lambda: deposits(app, "TU", first=False), lambda: more(app)]
        for command in build_rest:
            command()
        last = app.recorder.max_notification_id()
        assert last is not None
        for projection in (balance, audit):
            wait_until_applied(runner, projection, last, timeout_s=30)
        assert followers.alive()
    assert not followers.alive()
    check_views(app, balance, audit)


def test_a_read_waits_for_the_position_its_write_returned_then_times_out_clearly(
    app: FundLedger, views: tuple[Runner, BalanceProjection, AuditProjection]
) -> None:
    runner, balance, _ = views
    register(app)
    runner.catch_up(balance)
    write = WriteContext()
    deposits(app, "FD", first=True, write=write)
    written = write.position
    assert written is not None and written > runner.position(balance)
    assert written == app.recorder.max_notification_id()
    with pytest.raises(ViewBehind, match=f"not yet at {written}"):
        wait_until_applied(runner, balance, written, timeout_s=0.1)
    stop = threading.Event()
    follower = threading.Thread(target=runner.follow, args=(balance, stop))
    follower.start()
    try:
        reached = wait_until_applied(runner, balance, written, timeout_s=20)
    finally:
        stop.set()
        follower.join(timeout=30)
    assert reached >= written
    assert sum(row["deposits_fen"] for row in viewed_balances(balance).values()) > 0


def test_the_cli_runs_reports_rebuilds_and_checksums(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNDLEDGER_DB", sqlite_url)
    ledger = FundLedger(Settings(db=sqlite_url))
    try:
        build(ledger)
        last = ledger.recorder.max_notification_id()
    finally:
        ledger.close()
    cli_runner = CliRunner()
    ran = cli_runner.invoke(cli, ["projections", "run"])
    assert ran.exit_code == 0, ran.output
    assert f"at {last:,}" in ran.output
    before = cli_runner.invoke(cli, ["projections", "checksum", "balance"])
    rebuilt = cli_runner.invoke(cli, ["projections", "rebuild", "balance"])
    assert rebuilt.exit_code == 0, rebuilt.output
    digest = before.output.split()[-1]
    assert len(digest) == 64 and digest in rebuilt.output
    status = cli_runner.invoke(cli, ["projections", "status"])
    assert status.exit_code == 0 and "balance" in status.output and "audit" in status.output
    unknown = cli_runner.invoke(cli, ["projections", "rebuild", "nope"])
    assert unknown.exit_code == 2


def test_a_rebuild_is_refused_while_a_runner_follows_the_view_and_allowed_after(
    app: FundLedger, views: tuple[Runner, BalanceProjection, AuditProjection]
) -> None:
    """A rebuild drops the view; a runner committing into it meanwhile would move its
    position past events the rebuild then skips. So it is refused, and changes nothing."""
    runner, balance, audit = views
    build(app)
    last = app.recorder.max_notification_id()
    assert last is not None
    with Followers(runner, [balance]):
        wait_until_applied(runner, balance, last, timeout_s=30)
        before = balance.view.checksum()
        # As another process would open it.
        elsewhere = open_projection(app, BalanceProjection)
        with pytest.raises(ViewBusy, match="'balance' is being followed or caught up"):
            rebuild(Runner(app), elsewhere)
        assert balance.view.checksum() == before
        assert runner.position(balance) == last
        # Another view is not locked by this one's runner.
        assert rebuild(Runner(app), audit) > 0
    assert rebuild(runner, balance) == last
    assert balance.view.checksum() == before
    check_views(app, balance, audit)


def test_runners_are_refused_while_a_view_is_rebuilt_and_share_it_otherwise(
    app: FundLedger, views: tuple[Runner, BalanceProjection, AuditProjection]
) -> None:
    runner, balance, _ = views
    register(app)
    with balance.view.lock(exclusive=True):  # what a rebuild holds
        followers = Followers(runner, [balance]).start()
        with pytest.raises(ViewBusy, match="'balance' is being rebuilt"):
            followers.join(timeout_s=30)
        assert runner.position(balance) == 0
    # Runners share: two followers (say, two runner processes) at once.
    with Followers(runner, [balance]), Followers(Runner(app),
                                                 [open_projection(app, BalanceProjection)]):
        deposits(app, "FD", first=True)
        last = app.recorder.max_notification_id()
        assert last is not None
        wait_until_applied(runner, balance, last, timeout_s=30)
        # ... and a third, exclusive holder is refused.
        with pytest.raises(ViewBusy), balance.view.lock(exclusive=True):
            pass


def test_the_cli_refuses_to_rebuild_a_view_a_runner_holds(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNDLEDGER_DB", sqlite_url)
    ledger = FundLedger(Settings(db=sqlite_url))
    try:
        build(ledger)
        runner, balance = Runner(ledger), open_projection(ledger, BalanceProjection)
        with runners_lock(balance):
            runner.catch_up(balance)
            before = balance.view.checksum()
            refused = CliRunner().invoke(cli, ["projections", "rebuild", "balance"])
            assert refused.exit_code == 1
            assert "is being followed or caught up by another runner" in refused.output
            assert balance.view.checksum() == before
        rebuilt = CliRunner().invoke(cli, ["projections", "rebuild", "balance"])
        assert rebuilt.exit_code == 0, rebuilt.output
        assert before in rebuilt.output
    finally:
        ledger.close()


def view_indexes(projection: BalanceProjection | AuditProjection) -> set[str]:
    """The names of the indexes on the view's own tables, as the store lists them."""
    view: Any = projection.view
    tables = [name for name, _ in view.view_tables]
    with view.datastore.transaction(commit=False) as cursor:
        if hasattr(view, "schema"):  # PostgreSQL
            cursor.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s "
                           "AND tablename = ANY(%s)", (view.datastore.schema, tables))
            return {row["indexname"] for row in cursor.fetchall()}
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN "
                       f"({','.join('?' * len(tables))})", tables)
        return {row["name"] for row in cursor.fetchall()}


def test_a_rebuild_builds_the_read_indexes_at_its_end_even_when_it_fails(
    app: FundLedger, views: tuple[Runner, BalanceProjection, AuditProjection],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner, balance, audit = views
    build(app)
    for projection in (balance, audit):
        runner.catch_up(projection)
        indexes, live = view_indexes(projection), projection.view.checksum()
        assert len(indexes) > len(projection.view.view_tables)  # more than the primary keys
        rebuild(runner, projection)
        assert view_indexes(projection) == indexes
        assert projection.view.checksum() == live

    def broken(self: AuditProjection, event: Any, tracking: Tracking) -> None:
        raise ValueError("tally handler is broken")

    indexes = view_indexes(audit)
    with monkeypatch.context() as patch:
        patch.setattr(AuditProjection, "process_tallied", broken)
        failing = open_projection(app, AuditProjection)
        with pytest.raises(ProjectionFailed):
            rebuild(runner, failing)
    assert view_indexes(audit) == indexes
    assert [e.kind for e in audit.entries(AuditFilter(community="PJ-1", unit="1-102"))] == [
        "FirstDepositPaid", "ToppedUp", "IncomeCredited", "WorksShareCharged"]
