"""The auditor's replay on both stores, against a plain-Python recomputation of the history.

A seeded random history of deposits (some back-dated), income allocations, works
withdrawals and sales is posted through the application while a model written here,
independently of the ledger's code, records what each command should have moved. The
replay as of every date of the history (and the day before each) must equal the model's
figures for that date; replays known at the moment after each command must equal the model
of the commands run by then. A second community's postings are interleaved, so nothing of
it may leak into the first's fund or history.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from domain.errors import InvalidInput, NotFound, RuleViolated
from domain.ids import community_id, posting_id, unit_account_id
from ledger.application import FundLedger
from ledger.commands import DepositLine, UnitRow, WithdrawalRequest
from projections.history.community_events import community_history
from projections.history.replay import parse_cut, replay
from projections.history.statements import fund_statement

CODE = "CY-RP"
OTHER = "CY-RQ"
ACTOR = "test"
RATE = 20_000  # fen per m², the default setting
UNITS = [("1", "101", 5_000), ("1", "102", 7_325), ("1", "201", 6_110),
         ("2", "101", 9_999), ("2", "102", 4_321)]
START = date(2025, 1, 1)
DAYS = 365


# -- the model: what each unit's sub-account saw, by business date -------------------------


@dataclass
class Move:
    day: date
    seq: int  # the order the ledger recorded it in
    kind: str  # first, top_up, income, works, sale
    amount_fen: int = 0
    buyers: list[str] = field(default_factory=list)


@dataclass
class ModelUnit:
    key: str
    building: str
    door: str
    area: int
    owners: list[str]
    moves: list[Move] = field(default_factory=list)

    def balance_now(self) -> int:  # in recorded order, as the commands decide
        return sum(self._signed(m) for m in self.moves)

    @staticmethod
    def _signed(m: Move) -> int:
        return -m.amount_fen if m.kind == "works" else m.amount_fen

    def as_of(self, day: date | None, seq_max: int | None = None) -> dict[str, Any]:
        moves = [m for m in self.moves if (day is None or m.day <= day)
                 and (seq_max is None or m.seq <= seq_max)]
        money = [m for m in moves if m.kind != "sale"]
        sales = sorted((m for m in moves if m.kind == "sale"),
                       key=lambda m: (m.day, m.seq) if day is not None else (date.min, m.seq))
        first = [m.amount_fen for m in money if m.kind == "first"]
        return {
            "balance_fen": sum(self._signed(m) for m in money),
            "deposited_fen": sum(m.amount_fen for m in money if m.kind in ("first", "top_up")),
            "income_fen": sum(m.amount_fen for m in money if m.kind == "income"),
            "charged_fen": sum(m.amount_fen for m in money if m.kind == "works"),
            "refunded_fen": 0,
            "first_deposit_fen": first[0] if first else None,
            "owner_ids": sales[-1].buyers if sales else self.owners,
        }


def split(total: int, weights: list[int]) -> list[int]:
    """Largest remainder, ties to the earlier weight: the rule F5/F8 state, written here."""
    whole = sum(weights)
    shares = [total * w // whole for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares


@dataclass
class History:
    app: FundLedger
    units: dict[str, ModelUnit]
    seq: int = 0
    # (seq, moment after the command returned) for the known_at checks
    moments: list[tuple[int, datetime]] = field(default_factory=list)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def mark(self) -> None:
        self.moments.append((self.seq, datetime.now(UTC)))
        time.sleep(0.002)  # the next command's events are stamped strictly later

    def dates(self) -> list[date]:
        days = {m.day for u in self.units.values() for m in u.moves}
        return sorted(days | {d - timedelta(days=1) for d in days} | {START, START.replace(
            year=START.year + 1)})


def register(app: FundLedger, code: str, registered_on: date) -> dict[str, ModelUnit]:
    rows = [UnitRow(code, f"Garden {code}", "Chaoyang", "Jianwai", b, u, area, "register",
                    [f"owner-{code}-{b}-{u}"], line) for line, (b, u, area) in enumerate(UNITS)]
    app.register_units(rows, effective_date=registered_on, actor=ACTOR)
    app.declare_emergency(community_code=code, emergency_id="E-1", category="roof_leak",
                          description="roof", declared_on=registered_on, actor=ACTOR)
    return {f"{b}-{u}": ModelUnit(f"{b}-{u}", b, u, area, [f"owner-{code}-{b}-{u}"])
            for b, u, area in UNITS}


def random_history(app: FundLedger, seed: int, steps: int = 45) -> History:
    rng = random.Random(seed)
    h = History(app, register(app, CODE, START))
    register(app, OTHER, START)
    app.post_deposit(DepositLine("D-OTHER-first", OTHER, "1", "101",
                                 (UNITS[0][2] * RATE + 50) // 100, START, "first"), actor=ACTOR)
    h.mark()
    keys = sorted(h.units)

    def day() -> date:
        return START + timedelta(days=rng.randrange(DAYS))

    def deposit(code: str, unit: ModelUnit, kind: str, amount: int, on: date) -> None:
        app.post_deposit(DepositLine(f"D-{code}-{len(h.moments)}-{unit.key}", code, unit.building,
                                     unit.door, amount, on, kind), actor=ACTOR)

    for unit in (h.units[k] for k in keys):  # first deposits, dated anywhere in the year
        on, amount = day(), (unit.area * RATE + 50) // 100
        deposit(CODE, unit, "first", amount, on)
        unit.moves.append(Move(on, h.next_seq(), "first", amount))
        h.mark()
    for step in range(steps):
        choice = rng.choice(["top_up", "top_up", "income", "works", "works", "sale", "other"])
        on = day()
        if choice == "other":  # the other community moves too, between ours
            deposit(OTHER, h.units[keys[0]], "top_up", rng.randint(1, 10_000), on)
        elif choice == "top_up":
            unit = h.units[rng.choice(keys)]
            amount = rng.randint(1, 500_000)
            deposit(CODE, unit, "top_up", amount, on)
            unit.moves.append(Move(on, h.next_seq(), "top_up", amount))
        elif choice == "income":
            amount = rng.randint(1, 90_000)
            balances = [h.units[k].balance_now() for k in keys]
            if sum(balances) <= 0:
                continue
            app.allocate_income(community_code=CODE, amount_fen=amount, source="interest",
                                received_on=on, reference=f"I-{step}", actor=ACTOR)
            seq = h.next_seq()
            for k, share in zip(keys, split(amount, balances), strict=True):
                if share:
                    h.units[k].moves.append(Move(on, seq, "income", share))
        elif choice == "works":
            building = rng.choice("12")
            chosen = [k for k in keys if k.startswith(building + "-")]
            invoice = rng.randint(1, 3_000_000)
            shares = split(invoice, [h.units[k].area for k in chosen])
            request = WithdrawalRequest(f"W-{step}", CODE, "roof repair", "roof_waterproofing",
                                        invoice, on, buildings=[building],
                                        emergency_id="E-1")
            if any(s > h.units[k].balance_now() for k, s in zip(chosen, shares, strict=True)):
                with pytest.raises(RuleViolated):
                    app.withdraw(request, actor=ACTOR)
                continue
            app.withdraw(request, actor=ACTOR)
            seq = h.next_seq()
            for k, share in zip(chosen, shares, strict=True):
                if share:
                    h.units[k].moves.append(Move(on, seq, "works", share))
        else:
            unit = h.units[rng.choice(keys)]
            buyers = [f"buyer-{step}"] + ([f"buyer-{step}b"] if rng.random() < 0.5 else [])
            app.sell_unit(community_code=CODE, building=unit.building, unit=unit.door,
                          buyer_owner_ids=buyers, sold_on=on, reference=f"S-{step}",
                          actor=ACTOR)
            unit.moves.append(Move(on, h.next_seq(), "sale", buyers=buyers))
        h.mark()
    return h


# -- the checks -----------------------------------------------------------------------------

UNIT_FIELDS = ("balance_fen", "deposited_fen", "income_fen", "charged_fen", "refunded_fen",
               "first_deposit_fen", "owner_ids")


def logged(app: FundLedger, position: int) -> Any:
    """The log's own entry at a position (read apart from the replay's own query)."""
    (notification,) = app.recorder.select_notifications(start=position, limit=1)
    assert notification.id == position
    return notification


def check_unit(app: FundLedger, h: History, unit: ModelUnit, day: date | None,
               known_at: datetime | None = None, seq_max: int | None = None) -> None:
    expected = unit.as_of(day, seq_max)
    moves = [m for m in unit.moves if (day is None or m.day <= day)
             and (seq_max is None or m.seq <= seq_max)]
    key = f"{CODE}/{unit.building}/{unit.door}"
    if day is not None and day < START and not moves:
        with pytest.raises(NotFound) as refused:
            replay(app, "unit", key, as_of=day, known_at=known_at)
        assert refused.value.field == "as_of"
        return
    result = replay(app, "unit", key, as_of=day, known_at=known_at)
    got = {name: result.state[name] for name in UNIT_FIELDS}
    assert got == expected, (key, day, seq_max)
    last = result.last_event
    assert last.originator_id == unit_account_id(CODE, unit.building, unit.door)
    entry = logged(app, last.position)
    assert (entry.originator_id, entry.originator_version) == (last.originator_id,
                                                               last.originator_version)
    assert entry.topic == last.topic
    if moves:
        latest = max(moves, key=lambda m: (m.day, m.seq) if day is not None
                     else (date.min, m.seq))
        # the move itself, or the F4 flag event it raised on the same date
        assert last.business_date == latest.day
        assert last.event.split(".")[-1] in {
            "first": {"FirstDepositPaid"}, "top_up": {"ToppedUp"},
            "income": {"IncomeCredited"}, "works": {"WorksShareCharged"},
            "sale": {"Sold"}}[latest.kind] | {"ReraiseDemanded", "ReraiseSatisfied"}
    else:
        assert last.event == "UnitAccount.Registered"


def check_fund(app: FundLedger, h: History, day: date | None,
               known_at: datetime | None = None, seq_max: int | None = None) -> None:
    result = replay(app, "fund", CODE, as_of=day, known_at=known_at)
    lines = {line["unit"]: line for line in result.state["sub_accounts"]}
    expected_total = 0
    for unit in h.units.values():
        expected = unit.as_of(day, seq_max)
        expected_total += expected["balance_fen"]
        if day is not None and day < START:
            assert unit.key not in lines
            continue
        assert lines[unit.key]["balance_fen"] == expected["balance_fen"]
        assert lines[unit.key]["owner_ids"] == expected["owner_ids"]
    assert result.state["balance_fen"] == expected_total
    assert result.state["bank_balance_fen"] == expected_total
    assert result.state["conserved"] is True
    assert result.state["code"] == CODE


@pytest.fixture(params=[20260301, 11])
def history(app: FundLedger, request: pytest.FixtureRequest) -> History:
    return random_history(app, seed=request.param)


def test_replay_as_of_every_date_equals_the_recomputation(history: History) -> None:
    app = history.app
    for day in [*history.dates(), None]:
        for unit in history.units.values():
            check_unit(app, history, unit, day)
        check_fund(app, history, day)


def test_the_f10_statement_at_every_date_equals_the_recomputation(history: History) -> None:
    """F10: the statement (and so the yearly disclosure, two statements) folds as the replay
    does, and both agree with the model written here, at every business date."""
    for day in [*history.dates(), None]:
        statement = fund_statement(history.app, CODE, as_of=day)
        lines = {u.unit_key: u for u in statement.units}
        expected_total = 0
        for unit in history.units.values():
            expected = unit.as_of(day)
            expected_total += expected["balance_fen"]
            if day is not None and day < START:
                assert unit.key not in lines
                continue
            line = lines[unit.key]
            assert (line.balance_fen, line.deposits_fen, line.income_fen, line.withdrawals_fen,
                    line.refunds_fen, line.first_deposit_fen, line.owner_ids) == (
                expected["balance_fen"], expected["deposited_fen"], expected["income_fen"],
                expected["charged_fen"], expected["refunded_fen"],
                expected["first_deposit_fen"], expected["owner_ids"])
        assert statement.balance_fen == statement.bank_balance_fen == expected_total


def test_replay_known_at_cuts_by_recorded_time(history: History) -> None:
    app = history.app
    for seq, moment in history.moments[:: max(1, len(history.moments) // 12)]:
        for unit in history.units.values():
            check_unit(app, history, unit, None, known_at=moment, seq_max=seq)
        check_fund(app, history, None, known_at=moment, seq_max=seq)
        # both axes at once: what the ledger said then about a date
        mid = START + timedelta(days=DAYS // 2)
        for unit in history.units.values():
            check_unit(app, history, unit, mid, known_at=moment, seq_max=seq)
    before = history.moments[0][1] - timedelta(days=1)
    with pytest.raises(NotFound) as refused:
        replay(history.app, "unit", f"{CODE}/1/101", known_at=before)
    assert refused.value.field == "known_at"


def test_a_back_dated_sale_folds_in_business_date_order(app: FundLedger) -> None:
    """Two sales entered out of date order: the owner on a date is the later-dated buyer."""
    register(app, CODE, START)
    app.post_deposit(DepositLine("D-1", CODE, "1", "101", (5_000 * RATE + 50) // 100,
                                 date(2025, 1, 10), "first"), actor=ACTOR)
    app.sell_unit(community_code=CODE, building="1", unit="101", buyer_owner_ids=["b"],
                  sold_on=date(2025, 3, 1), reference="S-B", actor=ACTOR)
    app.sell_unit(community_code=CODE, building="1", unit="101", buyer_owner_ids=["c"],
                  sold_on=date(2025, 2, 1), reference="S-C", actor=ACTOR)  # entered late
    app.post_deposit(DepositLine("D-2", CODE, "1", "101", 777, date(2025, 1, 20), "top_up"),
                     actor=ACTOR)  # back-dated too
    key = f"{CODE}/1-101"  # the door number form resolves through the register
    now = replay(app, "unit", key)
    assert now.state["owner_ids"] == ["c"]  # in log order the last sale recorded wins
    assert now.order == "log" and now.last_event.originator_version == 5
    march = replay(app, "unit", key, as_of=date(2025, 3, 15))
    assert march.state["owner_ids"] == ["b"]
    assert march.state["balance_fen"] == 1_000_000 + 777
    assert (march.last_event.originator_version, march.last_event.event) == (3, "UnitAccount.Sold")
    assert march.last_event.business_date == date(2025, 3, 1)
    assert logged(app, march.last_event.position).originator_version == 3
    february = replay(app, "unit", key, as_of=date(2025, 2, 15))
    assert february.state["owner_ids"] == ["c"]
    assert (february.events_included, february.events_dated_later) == (4, 1)
    assert february.last_event.originator_version == 4
    january = replay(app, "unit", key, as_of=date(2025, 1, 15))
    assert january.state["balance_fen"] == 1_000_000  # the top-up is dated the 20th
    assert january.last_event.event == "UnitAccount.FirstDepositPaid"


def test_every_kind_replays_and_unknown_keys_name_their_field(app: FundLedger) -> None:
    register(app, CODE, START)
    found = replay(app, "fund", CODE)
    assert found.aggregate_id == community_id(CODE)
    assert found.to_json()["last_event"]["position"] == logged(
        app, found.last_event.position).id
    cases: list[tuple[str, str, type[Exception], str]] = [
        ("fund", "CY-NONE", NotFound, "community_code"),
        ("unit", f"{CODE}/9/999", NotFound, "unit"),
        ("unit", f"{CODE}/9-999", NotFound, "unit"),
        ("unit", "CY-NONE/1/101", NotFound, "unit"),
        ("vote", f"{CODE}/V-NONE", NotFound, "vote_reference"),
        ("vote", "CY-NONE/V-1", NotFound, "community_code"),
        ("committee", f"{CODE}/OC-NONE", NotFound, "committee_reference"),
        ("contract", f"{CODE}/C-NONE", NotFound, "contract_reference"),
        ("enterprise", "91110105MA01ABCD00", NotFound, "enterprise_code"),
        ("vote", "no-slash", InvalidInput, "key"),
        ("ballot", CODE, InvalidInput, "kind"),
    ]
    for kind, key, error, field_name in cases:
        with pytest.raises(error) as refused:
            replay(app, kind, key)
        assert getattr(refused.value, "field", None) == field_name, (kind, key)


def test_community_history_pages_its_events_in_log_order(history: History) -> None:
    app = history.app
    ours = {community_id(CODE)} | {unit_account_id(CODE, u.building, u.door)
                                   for u in history.units.values()}
    ours |= {posting_id(ref) for _, ref in app.community(CODE).postings}
    everything = app.recorder.select_notifications(start=1, limit=100_000)
    expected = [n.id for n in everything if n.originator_id in ours]
    positions: list[int] = []
    after = 0
    pages = 0
    while True:
        page = community_history(app, CODE, after_position=after, limit=7)
        positions += [e.ref.position for e in page.events]
        assert len(page.events) <= 7
        after = page.next_after
        pages += 1
        if page.at_end:
            break
        assert pages < 100
    assert positions == expected
    page = community_history(app, CODE, after_position=0, limit=1000)
    deposit = next(e for e in page.events if e.ref.event == "UnitAccount.FirstDepositPaid")
    assert {"amount_fen", "bank_delta_fen", "effective_date", "reference", "actor",
            "rate_fen_per_m2"} <= set(deposit.fields)
    assert deposit.aggregate == "UnitAccount"
    assert page.to_json()["events"][0]["fields"]["community_code"] == CODE
    with pytest.raises(NotFound) as refused:
        community_history(app, "CY-NONE")
    assert refused.value.field == "community_code"



def test_the_cut_parses_as_text_comes_in() -> None:
    assert parse_cut(None, None) == (None, None)
    assert parse_cut("2026-03-01", "2026-03-01") == (
        date(2026, 3, 1), datetime(2026, 3, 1, 23, 59, 59, 999_999, tzinfo=UTC))
    assert parse_cut(None, "2026-03-01T08:00:00")[1] == datetime(2026, 3, 1, 8, tzinfo=UTC)
    assert parse_cut(None, "2026-03-01T08:00:00+08:00")[1] == datetime(2026, 3, 1, tzinfo=UTC)
    for as_of, known_at, field_name in (("2026-3-1", None, "as_of"), (None, "yesterday",
                                        "known_at"), (None, "2026-02-30", "known_at")):
        with pytest.raises(InvalidInput) as refused:
            parse_cut(as_of, known_at)
        assert refused.value.field == field_name


def test_votes_replay_and_follow_into_a_later_history_page(app: FundLedger) -> None:
    """A vote proposed before a page starts still has its later events on that page."""
    register(app, CODE, START)
    register(app, OTHER, START)
    for code in (CODE, OTHER):
        app.propose_vote(community_code=code, vote_reference="V-1", matter_kind="rebuild",
                         title="Rebuild", proposed_on=date(2025, 2, 1), actor=ACTOR)
    proposed = app.recorder.max_notification_id() or 0
    for code in (OTHER, CODE):
        app.publish_vote(community_code=code, vote_reference="V-1",
                         published_on=date(2025, 2, 3), actor=ACTOR)
    page = community_history(app, CODE, after_position=proposed)
    assert [e.ref.event for e in page.events] == ["Vote.Published"]
    assert page.events[0].fields["effective_date"] == "2025-02-03" and page.at_end
    key = f"{CODE}/V-1"
    assert replay(app, "vote", key, as_of=date(2025, 2, 2)).state["status"] == "proposed"
    published = replay(app, "vote", key)
    assert published.state["status"] == "published"
    assert published.last_event.position == page.events[0].ref.position
    with pytest.raises(NotFound) as refused:
        replay(app, "vote", key, as_of=date(2025, 1, 31))
    assert refused.value.field == "as_of"
