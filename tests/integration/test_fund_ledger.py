"""The fund ledger against a real store, on embedded SQLite and on PostgreSQL.

Bank files go through ledger.csv_files as the CLI reads them; every check is on what a
custodian or an auditor can see: balances, statements, the references recorded, the log.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError

from domain.errors import (
    BatchRejected,
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    RuleViolated,
)
from domain.unit_account import first_deposit_due_fen
from ledger.application import BatchResult, FundLedger
from ledger.base import SNAPSHOT_INTERVAL
from ledger.commands import DepositLine, UnitRow, WithdrawalRequest
from ledger.csv_files import read_deposits, read_units
from ledger.loading import load_many
from ledger.persistence.references import PostingReference
from ledger.settings import Settings
from projections.history.statements import FundStatement, fund_statement

CODE = "CY-T1"
ACTOR = "test"
UNITS_HEADER = ("community_code,community_name,district,street,building,unit,area_m2,"
                "area_source,owner_id")
DEPOSITS_HEADER = "reference,community_code,building,unit,amount_yuan,paid_on,kind"
# building, unit, area in m²: four units in building 1, two in building 2
UNITS = [("1", "101", "89.50"), ("1", "102", "120.00"), ("1", "201", "64.25"),
         ("1", "202", "101.10"), ("2", "101", "75.00"), ("2", "102", "150.33")]
THREAD_JOIN_S = 60


# -- helpers ---------------------------------------------------------------------------


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def due_fen(app: FundLedger, area_m2: str) -> int:
    hundredths = int(area_m2.replace(".", ""))
    return first_deposit_due_fen(hundredths, app.settings.deposit_rate_fen_per_m2)


def register(app: FundLedger, tmp_path: Path, code: str = CODE) -> None:
    rows = [f"{code},Test Garden,Chaoyang,Jianwai,{b},{u},{area},register,owner-{b}-{u}"
            for b, u, area in UNITS]
    path = write_csv(tmp_path / f"units-{code}.csv", UNITS_HEADER, rows)
    app.register_units(read_units(path), effective_date=date(2024, 1, 1), actor=ACTOR)


def first_deposit_rows(app: FundLedger, code: str = CODE, prefix: str = "FD") -> list[str]:
    return [f"{prefix}-{b}-{u},{code},{b},{u},{yuan(due_fen(app, area))},2024-01-10,first"
            for b, u, area in UNITS]


def import_file(app: FundLedger, path: Path) -> BatchResult:
    """What ``fundledger import deposits`` does: parse the whole file, then post it."""
    return app.import_deposits(read_deposits(path), actor=ACTOR)


def balances(app: FundLedger, code: str = CODE, as_of: date | None = None) -> dict[str, int]:
    return {u.unit_key: u.balance_fen for u in fund_statement(app, code, as_of=as_of).units}


def live_balances(app: FundLedger, code: str = CODE) -> dict[str, int]:
    community = app.community(code)
    return {key: app.unit_account(code, building, unit).balance_fen
            for key, (building, unit) in community.units.items()}


def funded(app: FundLedger, tmp_path: Path, code: str = CODE) -> None:
    """A registered community whose units have all paid their first deposit."""
    register(app, tmp_path, code)
    path = write_csv(tmp_path / f"first-{code}.csv", DEPOSITS_HEADER,
                     first_deposit_rows(app, code))
    assert import_file(app, path).posted == len(UNITS)


def check_books(app: FundLedger, statement: FundStatement) -> None:
    """F11 and no negative balance, checked against more than the statement's own sums."""
    assert statement.conserved
    live = live_balances(app, statement.community_code)
    for line in statement.units:
        assert line.balance_fen >= 0, line.unit_key
        assert line.balance_fen == live[line.unit_key], line.unit_key
        assert line.balance_fen == (line.deposits_fen + line.income_fen
                                    - line.withdrawals_fen - line.refunds_fen)
    works = [p for p in statement.postings if p.kind == "works"]
    for posting in works:
        assert sum(share for _, _, share in posting.shares) == posting.amount_fen
    assert statement.total("withdrawals_fen") == sum(p.amount_fen for p in works)


def failure(result: Any) -> str:
    """The traceback of a writer's exception, for the assertion message."""
    if isinstance(result, BaseException):
        return "".join(traceback.format_exception(result))
    return repr(result)


def run_threads(*targets: Callable[[], Any]) -> list[Any]:
    """Start the targets together; each result is a value or the exception it raised."""
    barrier = threading.Barrier(len(targets))
    results: list[Any] = [None] * len(targets)

    def runner(index: int, target: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = target()
        except Exception as error:  # reported to the test, which decides
            results[index] = error

    threads = [threading.Thread(target=runner, args=(i, t), daemon=True)
               for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(THREAD_JOIN_S)
        assert not thread.is_alive(), "a writer hung"
    return results


# -- bank batches: idempotent, all or nothing ------------------------------------------


def test_importing_the_same_file_twice_posts_nothing_the_second_time(
    app: FundLedger, tmp_path: Path
) -> None:
    register(app, tmp_path)
    rows = first_deposit_rows(app) + [
        f"TU-{i},{CODE},1,101,{i}.05,2024-02-0{i},top_up" for i in range(1, 5)]
    path = write_csv(tmp_path / "deposits.csv", DEPOSITS_HEADER, rows)

    first = import_file(app, path)
    assert (first.posted, first.already_posted) == (len(rows), 0)
    after_first = balances(app)
    last_event = app.recorder.max_notification_id()
    assert after_first["1-101"] == due_fen(app, "89.50") + 105 + 205 + 305 + 405

    again = import_file(app, path)
    assert (again.posted, again.already_posted) == (0, len(rows))
    assert again.total_fen == 0
    assert balances(app) == after_first
    assert live_balances(app) == after_first
    assert app.recorder.max_notification_id() == last_event


def test_a_reference_reused_with_another_amount_is_a_conflict(
    app: FundLedger, tmp_path: Path
) -> None:
    funded(app, tmp_path)
    write_csv(tmp_path / "a.csv", DEPOSITS_HEADER, [f"TU-9,{CODE},1,101,10.00,2024-02-01,top_up"])
    import_file(app, tmp_path / "a.csv")
    before = balances(app)
    last_event = app.recorder.max_notification_id()

    path = write_csv(tmp_path / "b.csv", DEPOSITS_HEADER, [
        f"TU-10,{CODE},1,102,10.00,2024-02-01,top_up",
        f"TU-9,{CODE},1,101,10.01,2024-02-01,top_up",
    ])
    with pytest.raises(BatchRejected) as rejected:
        import_file(app, path)
    assert rejected.value.line == 3
    assert isinstance(rejected.value.error, Conflict)
    assert (rejected.value.rule, rejected.value.field) == ("reference-unique", "reference")
    assert balances(app) == before
    assert app.recorder.max_notification_id() == last_event
    assert app.recorder.select_references(["TU-10"]) == {}

    single = DepositLine("TU-9", CODE, "1", "101", 999, date(2024, 2, 1), "top_up")
    with pytest.raises(DomainError) as refused:
        app.post_deposit(single, actor=ACTOR)
    assert refused.value.rule == "reference-unique"
    assert balances(app) == before


def test_a_single_deposit_reusing_a_reference_is_a_conflict(
    app: FundLedger, tmp_path: Path
) -> None:
    funded(app, tmp_path)
    app.post_deposit(DepositLine("TU-1", CODE, "1", "101", 1_000, date(2024, 2, 1), "top_up"),
                     actor=ACTOR)
    with pytest.raises(Conflict) as refused:
        app.post_deposit(DepositLine("TU-1", CODE, "1", "101", 1_001, date(2024, 2, 1),
                                     "top_up"), actor=ACTOR)
    assert refused.value.kind == "conflict"
    assert "line 0" not in str(refused.value)


def test_a_repeated_single_deposit_reports_the_original_even_once_its_unit_closed(
    app: FundLedger, tmp_path: Path
) -> None:
    funded(app, tmp_path)
    line = DepositLine("TU-1", CODE, "1", "101", 1_000, date(2024, 2, 1), "top_up")
    first = app.post_deposit(line, actor=ACTOR)
    again = app.post_deposit(line, actor=ACTOR)
    assert (first.already_posted, again.already_posted) == (False, True)
    assert (again.originator_id, again.originator_version) == (
        first.originator_id, first.originator_version)
    app.refund_destroyed_unit(community_code=CODE, building="1", unit="101",
                              destroyed_on=date(2024, 3, 1), reference="RF-1", actor=ACTOR)
    last_event = app.recorder.max_notification_id()
    late = app.post_deposit(line, actor=ACTOR)
    assert late.already_posted
    assert (late.originator_id, late.originator_version) == (
        first.originator_id, first.originator_version)
    assert app.recorder.max_notification_id() == last_event


BAD_LINES = {
    "unknown unit": (f"BAD,{CODE},1,999,10.00,2024-02-01,top_up", "unit", "F1"),
    "unknown community": ("BAD,CY-NONE,1,101,10.00,2024-02-01,top_up", "unit", "F1"),
    "negative amount": (f"BAD,{CODE},1,101,-10.00,2024-02-01,top_up", "amount_yuan",
                        "amount-positive"),
    "zero amount": (f"BAD,{CODE},1,101,0.00,2024-02-01,top_up", "amount_yuan",
                    "amount-positive"),
    "three decimals": (f"BAD,{CODE},1,101,10.005,2024-02-01,top_up", "amount_yuan",
                       "amount-two-decimals"),
    "float notation": (f"BAD,{CODE},1,101,1e3,2024-02-01,top_up", "amount_yuan",
                       "amount-format"),
    "missing field": (f"BAD,{CODE},1,101,,2024-02-01,top_up", "amount_yuan",
                      "field-required"),
    "missing trailing fields": (f"BAD,{CODE},1,101,10.00", "paid_on", "field-required"),
    "date that does not exist": (f"BAD,{CODE},1,101,10.00,2024-02-30,top_up", "paid_on",
                                 "date-format"),
    "date in another format": (f"BAD,{CODE},1,101,10.00,01/02/2024,top_up", "paid_on",
                               "date-format"),
    "unknown kind": (f"BAD,{CODE},1,101,10.00,2024-02-01,refund", "kind", "deposit-kind"),
    "wrong first deposit": (f"BAD,{CODE},1,101,10.00,2024-02-01,first", "kind", "F2"),
    "reference repeated in the file": (f"TU-B,{CODE},1,101,10.00,2024-02-01,top_up",
                                       "reference", "reference-unique"),
}


BAD_ISO_DATES = {
    "ISO week date": f"BAD,{CODE},1,101,10.00,2024-W01-1,top_up",
    "basic date with trailing letters": f"BAD,{CODE},1,101,10.00,20240101ab,top_up",
}
BAD_LINE_CASES = [
    *(pytest.param(case, id=case) for case in BAD_LINES),
    *(pytest.param(case, id=case) for case in BAD_ISO_DATES),
]
BAD_LINES.update({case: (line, "paid_on", "date-format")
                  for case, line in BAD_ISO_DATES.items()})


@pytest.mark.parametrize("case", BAD_LINE_CASES)
def test_a_batch_with_one_bad_line_leaves_no_trace(
    app: FundLedger, tmp_path: Path, case: str
) -> None:
    funded(app, tmp_path)
    bad_line, field, rule = BAD_LINES[case]
    path = write_csv(tmp_path / "batch.csv", DEPOSITS_HEADER, [
        f"TU-A,{CODE},1,102,10.00,2024-02-01,top_up",
        f"TU-B,{CODE},2,101,20.00,2024-02-01,top_up",
        bad_line,  # line 4, the header being line 1
        f"TU-C,{CODE},2,102,30.00,2024-02-01,top_up",
    ])
    before = balances(app)
    last_event = app.recorder.max_notification_id()

    with pytest.raises(BatchRejected) as rejected:
        import_file(app, path)

    assert rejected.value.line == 4
    assert (rejected.value.field, rejected.value.rule) == (field, rule)
    assert "line 4" in str(rejected.value)
    assert app.recorder.max_notification_id() == last_event
    assert app.recorder.select_references(["TU-A", "TU-B", "TU-C", "BAD"]) == {}
    assert balances(app) == before
    assert live_balances(app) == before


# -- concurrency -----------------------------------------------------------------------


def test_two_writers_on_one_sub_account_lose_and_double_nothing(
    open_ledger: Callable[[], FundLedger], tmp_path: Path
) -> None:
    setup = open_ledger()
    funded(setup, tmp_path)
    start_fen = balances(setup)["1-101"]
    writers = [open_ledger(), open_ledger()]
    per_writer = 25

    def top_ups(writer: int) -> list[bool]:
        app = writers[writer]
        return [app.post_deposit(DepositLine(
            f"W{writer}-{i}", CODE, "1", "101", 100 + i, date(2024, 3, 1), "top_up"),
            actor=f"writer-{writer}").already_posted for i in range(per_writer)]

    results = run_threads(lambda: top_ups(0), lambda: top_ups(1))

    for result in results:
        assert not isinstance(result, Exception), failure(result)
        assert result == [False] * per_writer
    added_fen = 2 * sum(100 + i for i in range(per_writer))
    statement = fund_statement(setup, CODE, unit_key="1-101")
    (line,) = statement.units
    assert line.balance_fen == start_fen + added_fen
    assert setup.unit_account(CODE, "1", "101").balance_fen == start_fen + added_fen
    references = [f"W{w}-{i}" for w in range(2) for i in range(per_writer)]
    assert len(setup.recorder.select_references(references)) == 2 * per_writer
    check_books(setup, fund_statement(setup, CODE))


def test_f7_f8_f11_works_withdrawal_racing_a_destruction_refund_never_overdraws(
    open_ledger: Callable[[], FundLedger], tmp_path: Path
) -> None:
    setup = open_ledger()
    funded(setup, tmp_path)
    setup.declare_emergency(community_code=CODE, emergency_id="E-1", category="roof_leak",
                            description="roof of building 1 leaks", declared_on=date(2024, 4, 1),
                            actor=ACTOR)
    withdrawer, refunder = open_ledger(), open_ledger()
    invoice_fen = 200_000
    # one unit of building 1 destroyed per round: the refund starts late, together with, and
    # before the withdrawal, so the rounds see either order and a true overlap
    rounds = [("101", 0.0, 0.03), ("102", 0.0, 0.0), ("201", 0.03, 0.0)]
    for number, (door, withdraw_delay_s, refund_delay_s) in enumerate(rounds):
        request = WithdrawalRequest(
            reference=f"W-{number}", community_code=CODE, project="roof repair",
            cost_kind="roof_waterproofing", invoice_fen=invoice_fen,
            paid_on=date(2024, 4, 2 + number), buildings=["1"], emergency_id="E-1")

        def withdraw(r: WithdrawalRequest = request, pause: float = withdraw_delay_s) -> Any:
            time.sleep(pause)
            return withdrawer.withdraw(r, actor=ACTOR)

        def refund_unit(d: str = door, n: int = number, pause: float = refund_delay_s) -> Any:
            time.sleep(pause)
            return refunder.refund_destroyed_unit(
                community_code=CODE, building="1", unit=d, destroyed_on=date(2024, 4, 2 + n),
                reference=f"D-{n}", actor=ACTOR)

        withdrawal, refund = run_threads(withdraw, refund_unit)

        assert not isinstance(refund, Exception), failure(refund)
        assert not isinstance(withdrawal, Exception), failure(withdrawal)
        account = setup.unit_account(CODE, "1", door)
        assert account.closed and account.balance_fen == 0
        statement = fund_statement(setup, CODE)
        check_books(setup, statement)
        line = next(u for u in statement.units if u.unit_key == f"1-{door}")
        assert line.refunds_fen + line.withdrawals_fen == line.deposits_fen + line.income_fen
        posting = next(p for p in statement.postings if p.reference == f"W-{number}")
        assert sum(share for _, _, share in posting.shares) == invoice_fen
        # the destroyed unit paid a share of this round only if the withdrawal came first
        assert line.withdrawals_fen == sum(share for p in statement.postings
                                           for key, _, share in p.shares if key == line.unit_key)


RACES_LOST = 40  # psycopg prepares a statement on its 5th use; the old failure showed by 20


def test_a_writer_that_lost_races_keeps_posting(db_url: str, tmp_path: Path) -> None:
    """What two racing custodians do, made deterministic: the loser's save fails on the
    version, and that writer's next postings must still go through. (On PostgreSQL psycopg
    once counted a
statement queued after the failed INSERT in the pipeline as prepared, so the
    pooled connection's next save failed with 'prepared statement "_pg3_N" does not exist'.)"""
    loser = FundLedger(Settings(db=db_url, pg_pool_size=1))
    winner = FundLedger(Settings(db=db_url))
    try:
        funded(loser, tmp_path)
        for i in range(RACES_LOST):
            stale = loser.unit_account(CODE, "1", "101")
            winner.post_deposit(DepositLine(f"WIN-{i}", CODE, "1", "101", 100,
                                            date(2024, 3, 1), "top_up"), actor=ACTOR)
            stale.top_up(amount_fen=5, effective_date=date(2024, 3, 1), reference=f"LOSE-{i}",
                         actor=ACTOR, reraise_threshold_percent=30)
            with pytest.raises(IntegrityError):
                loser.save(stale, references=[PostingReference(
                    f"LOSE-{i}", "deposit:top_up", "-", stale.id, stale.version)])
            loser.post_deposit(DepositLine(f"NEXT-{i}", CODE, "1", "101", 100,
                                           date(2024, 3, 1), "top_up"), actor=ACTOR)
        select = loser.recorder.select_references
        assert select([f"LOSE-{i}" for i in range(RACES_LOST)]) == {}
        assert len(select([f"NEXT-{i}" for i in range(RACES_LOST)])) == RACES_LOST
    finally:
        loser.close()
        winner.close()


# -- statements as of a date -----------------------------------------------------------


def test_f10_statement_as_of_a_past_date_shows_the_balances_then(
    app: FundLedger, tmp_path: Path
) -> None:
    funded(app, tmp_path)
    first = balances(app)
    write_csv(tmp_path / "march.csv", DEPOSITS_HEADER,
              [f"M-1,{CODE},1,101,100.00,2024-03-01,top_up"])
    import_file(app, tmp_path / "march.csv")
    end_of_march = balances(app)

    # later business: a top-up in May, an emergency repair in June, interest in July
    write_csv(tmp_path / "may.csv", DEPOSITS_HEADER,
              [f"MAY-1,{CODE},2,101,50.00,2024-05-01,top_up"])
    import_file(app, tmp_path / "may.csv")
    app.declare_emergency(community_code=CODE, emergency_id="E-9", category="lift_danger",
                          description="lift cable", declared_on=date(2024, 6, 1), actor=ACTOR)
    app.withdraw(WithdrawalRequest(
        reference="W-JUNE", community_code=CODE, project="lift cable", cost_kind="lift",
        invoice_fen=123_457, paid_on=date(2024, 6, 1), buildings=["2"], emergency_id="E-9"),
        actor=ACTOR)
    app.allocate_income(community_code=CODE, amount_fen=9_999, source="interest",
                        received_on=date(2024, 7, 1), reference="INT-1", actor=ACTOR)
    now = balances(app)
    assert now != end_of_march

    assert balances(app, as_of=date(2024, 3, 31)) == end_of_march
    assert balances(app, as_of=date(2024, 2, 28)) == first
    assert balances(app, as_of=date(2023, 12, 31)) == {}
    assert fund_statement(app, CODE, as_of=date(2024, 5, 31)).postings == []
    june = fund_statement(app, CODE, as_of=date(2024, 6, 30))
    assert [p.reference for p in june.postings] == ["W-JUNE"]
    assert june.total("withdrawals_fen") == 123_457
    assert june.total("income_fen") == 0
    assert balances(app, as_of=date(2024, 12, 31)) == now == live_balances(app)

    # a deposit dated in February, recorded only now, belongs to every statement after it
    write_csv(tmp_path / "late.csv", DEPOSITS_HEADER,
              [f"LATE-1,{CODE},1,102,12.34,2024-02-15,top_up"])
    import_file(app, tmp_path / "late.csv")
    assert balances(app, as_of=date(2024, 2, 14)) == first
    assert balances(app, as_of=date(2024, 2, 15)) == {**first, "1-102": first["1-102"] + 1234}
    assert balances(app, as_of=date(2024, 3, 31)) == {
        **end_of_march, "1-102": end_of_march["1-102"] + 1234}
    one = fund_statement(app, CODE, unit_key="1-102", as_of=date(2024, 3, 31))
    assert [(u.unit_key, u.balance_fen, u.deposits_fen) for u in one.units] == [
        ("1-102", end_of_march["1-102"] + 1234, end_of_march["1-102"] + 1234)]
    check_books(app, fund_statement(app, CODE))


def test_f10_f11_statement_as_of_a_date_between_a_deposit_and_a_later_registration(
    app: FundLedger, tmp_path: Path
) -> None:
    rows = [f"{CODE},Test Garden,Chaoyang,Jianwai,1,101,89.50,register,owner-1"]
    path = write_csv(tmp_path / "units.csv", UNITS_HEADER, rows)
    # the register is keyed in on 1 June; the bank had the deposit since January
    app.register_units(read_units(path), effective_date=date(2024, 6, 1), actor=ACTOR)
    write_csv(tmp_path / "jan.csv", DEPOSITS_HEADER,
              [f"FD-1,{CODE},1,101,17900.00,2024-01-10,first"])
    import_file(app, tmp_path / "jan.csv")

    in_march = fund_statement(app, CODE, as_of=date(2024, 3, 1))

    assert in_march.conserved
    assert in_march.bank_balance_fen == 1_790_000
    assert {u.unit_key: u.balance_fen for u in in_march.units} == {"1-101": 1_790_000}


# -- withdrawals: authority and cost kind (F8, F9) -------------------------------------


def _request(**overrides: Any) -> WithdrawalRequest:
    fields: dict[str, Any] = {
        "reference": "W-1", "community_code": CODE, "project": "roof", "cost_kind": "lift",
        "invoice_fen": 10_000, "paid_on": date(2024, 5, 1), "buildings": ["1"],
        "emergency_id": "E-1"}
    return WithdrawalRequest(**{**fields, **overrides})


def _no_trace_of_refused_withdrawal(
    app: FundLedger, request: WithdrawalRequest, kind: type[DomainError]
) -> DomainError:
    before = balances(app)
    last_event = app.recorder.max_notification_id()
    with pytest.raises(kind) as refused:
        app.withdraw(request, actor=ACTOR)
    assert balances(app) == before
    assert app.recorder.max_notification_id() == last_event
    assert app.recorder.select_references([request.reference]) == {}
    return refused.value


@pytest.fixture
def emergency_declared(app: FundLedger, tmp_path: Path) -> FundLedger:
    funded(app, tmp_path)
    app.declare_emergency(community_code=CODE, emergency_id="E-1", category="roof_leak",
                          description="", declared_on=date(2024, 4, 1), actor=ACTOR)
    return app


@pytest.mark.parametrize(("overrides", "kind", "rule", "field"), [
    ({"cost_kind": "utility_lines"}, RuleViolated, "F8", "cost_kind"),
    ({"cost_kind": "developer_defect"}, RuleViolated, "F8", "cost_kind"),
    ({"emergency_id": "E-UNDECLARED"}, NotFound, "F9", "emergency_id"),
    ({"emergency_id": None}, InvalidInput, "F8", "basis"),
], ids=["utility-lines", "developer-defect", "undeclared-emergency", "no-basis"])
def test_f8_f9_a_withdrawal_without_authority_or_for_an_excluded_cost_is_refused(
    emergency_declared: FundLedger, overrides: dict[str, Any], kind: type[DomainError],
    rule: str, field: str,
) -> None:
    app = emergency_declared
    refused = _no_trace_of_refused_withdrawal(app, _request(**overrides), kind)
    assert (refused.rule, refused.field) == (rule, field)
    # the same request citing the declared emergency goes through, once
    before_fen = sum(balances(app).values())
    assert not app.withdraw(_request(), actor=ACTOR).already_posted
    after = balances(app)
    assert before_fen - sum(after.values()) == 10_000
    assert app.withdraw(_request(), actor=ACTOR).already_posted
    assert balances(app) == after
    with pytest.raises(Conflict) as reused:
        app.withdraw(_request(invoice_fen=10_001), actor=ACTOR)
    assert reused.value.rule == "reference-unique"
    assert balances(app) == after


def test_f8_a_withdrawal_citing_an_unknown_resolution_is_refused(
    emergency_declared: FundLedger,
) -> None:
    request = _request(emergency_id=None, resolution_id="RES-2024-01")
    refused = _no_trace_of_refused_withdrawal(emergency_declared, request, NotFound)
    assert "RES-2024-01" in refused.message


def test_f8_an_unknown_resolution_is_refused_naming_the_withdrawals_field(
    emergency_declared: FundLedger,
) -> None:
    request = _request(emergency_id=None, resolution_id="RES-2024-01")
    refused = _no_trace_of_refused_withdrawal(emergency_declared, request, NotFound)
    assert (refused.rule, refused.field) == ("F8", "resolution_id")


def test_f7_f8_a_destroyed_unit_does_not_block_works_on_its_building(
    app: FundLedger, tmp_path: Path
) -> None:
    funded(app, tmp_path)
    app.declare_emergency(community_code=CODE, emergency_id="E-1", category="roof_leak",
                          description="", declared_on=date(2024, 4, 1), actor=ACTOR)
    app.refund_destroyed_unit(community_code=CODE, building="1", unit="101",
                              destroyed_on=date(2024, 4, 1), reference="D-1", actor=ACTOR)
    before = balances(app)
    app.withdraw(_request(invoice_fen=30_000), actor=ACTOR)
    after = balances(app)
    assert after["1-101"] == 0
    assert sum(before.values()) - sum(after.values()) == 30_000


# -- a large batch on PostgreSQL -------------------------------------------------------

LARGE_BATCH_LINES = 12_000  # ~4x the ~3,000 events at which psycopg's pipeline sync hangs
LARGE_BATCH_TIMEOUT_S = 120


def _with_timeout(pg_url: str, action: Callable[[], Any]) -> Any:
    """Run ``action`` in a thread; a hang fails the test instead of stalling the run."""
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(_outcome(action)), daemon=True)
    thread.start()
    thread.join(LARGE_BATCH_TIMEOUT_S)
    if thread.is_alive():
        # free the test database's locks so the schema can be dropped
        with psycopg.connect(pg_url.split("?")[0], autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        pytest.fail(f"the save did not finish within {LARGE_BATCH_TIMEOUT_S} s (hung?)")
    (result,) = outcome
    if isinstance(result, BaseException):
        raise result
    return result


def _outcome(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except Exception as error:
        return error


@pytest.mark.postgres
def test_a_batch_of_12000_lines_posts_in_one_call_on_postgres(pg_url: str) -> None:
    app = FundLedger(Settings(db=pg_url))
    try:
        rate = app.settings.deposit_rate_fen_per_m2
        rows = [UnitRow(f"BIG-{c}", f"Big Garden {c}", "Chaoyang", "Jianwai", str(b), str(u),
                        4_000 + (b * 997 + u * 31) % 12_000, "register", [f"o-{c}-{b}-{u}"])
                for c in range(3) for b in range(1, 21) for u in range(1, 201)]
        assert len(rows) == LARGE_BATCH_LINES
        registered = _with_timeout(pg_url, lambda: app.register_units(
            rows, effective_date=date(2024, 1, 1), actor=ACTOR))
        assert registered.units_added == LARGE_BATCH_LINES
        lines = [DepositLine(f"BIG-{i}", r.community_code, r.building, r.unit,
                             first_deposit_due_fen(r.area_m2_hundredths, rate),
                             date(2024, 2, 1), "first", line=i + 2)
                 for i, r in enumerate(rows)]
        expected_fen = sum(line.amount_fen for line in lines)
        before = app.recorder.max_notification_id()

        result = _with_timeout(pg_url, lambda: app.import_deposits(lines, actor=ACTOR))

        assert (result.posted, result.already_posted) == (LARGE_BATCH_LINES, 0)
        assert result.total_fen == expected_fen
        assert app.recorder.max_notification_id() == before + LARGE_BATCH_LINES
        references = app.recorder.select_references([line.reference for line in lines])
        assert len(references) == LARGE_BATCH_LINES
        totals = [fund_statement(app, f"BIG-{c}") for c in range(3)]
        assert sum(s.balance_fen for s in totals) == expected_fen
        assert all(s.conserved for s in totals)

        again = _with_timeout(pg_url, lambda: app.import_deposits(lines, actor=ACTOR))
        assert (again.posted, again.already_posted) == (0, LARGE_BATCH_LINES)
        assert app.recorder.max_notification_id() == before + LARGE_BATCH_LINES
    finally:
        app.close()


def test_single_postings_past_the_snapshot_interval_load_from_the_snapshot(
    db_url: str, tmp_path: Path
) -> None:
    """A single posting reads the sub-account's latest snapshot and the events after it (on
    PostgreSQL in one statement): across several snapshots, each posting builds on the last
    and the account equals its full replay."""
    app = FundLedger(Settings(db=db_url))
    try:
        funded(app, tmp_path)
        before = app.unit_account(CODE, "1", "101")
        postings = 2 * SNAPSHOT_INTERVAL + 7
        for i in range(postings):
            posted = app.post_deposit(DepositLine(f"TOP-{i}", CODE, "1", "101", 100 + i,
                                                  date(2024, 2, 1), "top_up"), actor=ACTOR)
            assert posted.originator_version == before.version + i + 1
        assert app.snapshots is not None
        snapshot_versions = [s.originator_version for s in
                             app.snapshots.get(before.id)]
        assert len(snapshot_versions) >= 2
        loaded = load_many(app, [before.id])[before.id]
        from_events = None
        for event in app.events.get(before.id):
            from_events = event.mutate(from_events)
        assert from_events is not None
        expected_fen = before.balance_fen + sum(100 + i for i in range(postings))
        assert loaded.balance_fen == from_events.balance_fen == expected_fen
        assert loaded.version == from_events.version == before.version + postings
        assert loaded.__dict__ == from_events.__dict__
    finally:
        app.close()
