"""A realistic sample city on the configured store, built through the same paths users take.

Deterministic (a seeded generator): running it twice writes nothing the second time,
because every posting carries its bank reference.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from api.demo_governance import run_enterprises, run_governance, run_open_vote
from domain.credit import Graded
from domain.unit_account import DEVELOPER_OWNER_ID, first_deposit_due_fen
from domain.vote import TallyResult
from ledger.application import FundLedger
from ledger.commands import WithdrawalRequest
from ledger.csv_files import DEPOSIT_COLUMNS, UNIT_COLUMNS, read_deposits, read_units
from projections.history.statements import fund_statement

DISTRICT = "110105"  # Chaoyang
STREETS = ("110105001", "110105002", "110105003")
# (code, name, street, buildings, floors, doors per floor)
COMMUNITIES = (
    ("CY-0001", "望京花园", "110105001", 4, 18, 4),       # 288 units
    ("CY-0002", "朝阳新城", "110105002", 10, 24, 4),      # 960 units
    ("CY-0003", "团结湖北里", "110105002", 6, 6, 6),       # 216 units, an old walk-up
    ("CY-0004", "东坝家园", "110105003", 16, 30, 6),      # 2,880 units
)
YEAR = 2026
ACTOR = "demo:fund-office"
# When the fund office took each community on: the old walk-up first, the new estate this
# year, so the three-rates trend has years behind it.
REGISTERED_ON = {"CY-0003": date(2019, 9, 1), "CY-0001": date(2021, 5, 1),
                 "CY-0002": date(2023, 3, 1), "CY-0004": date(YEAR, 1, 1)}


@dataclass
class DemoSummary:
    communities: int = 0
    units: int = 0
    deposits_posted: int = 0
    deposits_already: int = 0
    income_allocations: int = 0
    sales: int = 0
    withdrawals: int = 0
    files: list[Path] = field(default_factory=list)
    election: TallyResult | None = None
    fund_vote: TallyResult | None = None
    ranking: list[Graded] = field(default_factory=list)
    demo_owner: str | None = None
    notes: list[str] = field(default_factory=list)


def _unit_rows(rng: random.Random) -> list[list[str]]:
    rows: list[list[str]] = []
    for code, name, street, buildings, floors, doors in COMMUNITIES:
        for building in range(1, buildings + 1):
            for floor in range(1, floors + 1):
                for door in range(1, doors + 1):
                    area = rng.randint(4500, 16000)  # 45 to 160 m²
                    source = rng.choices(("register", "surveyed", "contract"), (8, 1, 1))[0]
                    owner = (DEVELOPER_OWNER_ID if rng.random() < 0.03
                             else f"owner-{rng.getrandbits(48):012x}")
                    if owner != DEVELOPER_OWNER_ID and rng.random() < 0.15:
                        owner += f";owner-{rng.getrandbits(48):012x}"  # co-owners
                    rows.append([code, name, DISTRICT, street, str(building),
                                 f"{floor}{door:02d}", f"{area // 100}.{area % 100:02d}",
                                 source, owner])
    return rows


def _deposit_rows(unit_rows: list[list[str]], rate_fen_per_m2: int,
                  rng: random.Random) -> list[list[str]]:
    """A year of bank lines: first deposits spread over the year, then some top-ups."""
    rows: list[list[str]] = []
    for index, (code, _, _, _, building, unit, area, _, _) in enumerate(unit_rows):
        area_h = int(area.replace(".", ""))
        paid_on = date(YEAR, 1, 5) + timedelta(days=rng.randint(0, 300))
        due = first_deposit_due_fen(area_h, rate_fen_per_m2)
        rows.append([f"BOC{YEAR}{index:07d}F", code, building, unit,
                     f"{due // 100}.{due % 100:02d}", paid_on.isoformat(), "first"])
        if rng.random() < 0.1:
            top_up = rng.randint(100, 2000) * 100
            rows.append([f"BOC{YEAR}{index:07d}T", code, building, unit,
                         f"{top_up // 100}.00", (paid_on + timedelta(days=30)).isoformat(),
                         "top_up"])
    return rows


def _write_csv(path: Path, header: tuple[str, ...], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def build_demo(app: FundLedger, folder: Path,
               progress: Callable[[str], None] = lambda _: None) -> DemoSummary:
    rng = random.Random(20201)
    summary = DemoSummary()
    unit_rows = _unit_rows(rng)
    units_file = _write_csv(folder / "units.csv", UNIT_COLUMNS, unit_rows)
    deposits_file = _write_csv(
        folder / f"deposits-{YEAR}.csv", DEPOSIT_COLUMNS,
        _deposit_rows(unit_rows, app.settings.deposit_rate_fen_per_m2, rng))
    summary.files = [units_file, deposits_file]

    progress("registering units")
    rows = read_units(units_file)
    for code, *_ in COMMUNITIES:
        registered = app.register_units([r for r in rows if r.community_code == code],
                                        effective_date=REGISTERED_ON[code], actor=ACTOR)
        summary.units += registered.units_added + registered.units_unchanged
    summary.communities = len(COMMUNITIES)

    progress("posting a year of bank deposits")
    batch = app.import_deposits(read_deposits(deposits_file), actor=ACTOR)
    summary.deposits_posted, summary.deposits_already = batch.posted, batch.already_posted

    progress("electing an owners' committee and voting on fund use")
    summary.election, summary.fund_vote = run_governance(app, rng)

    progress("allocating June interest")
    _allocate_interest(app, date(YEAR, 6, 30), summary)

    progress("recording an emergency roof repair and a sale")
    app.declare_emergency(community_code="CY-0003", emergency_id="EM-2026-07-roof-3",
                          category="roof_leak",
                          description="Rainstorm: roof of building 3 leaking into top floor",
                          declared_on=date(YEAR, 7, 21), actor=ACTOR)
    app.withdraw(WithdrawalRequest(
        reference=f"WD-CY-0003-{YEAR}-0001", community_code="CY-0003",
        project="Emergency roof waterproofing, building 3", cost_kind="roof_waterproofing",
        invoice_fen=18_654_321, paid_on=date(YEAR, 8, 2), buildings=["3"],
        emergency_id="EM-2026-07-roof-3"), actor=ACTOR)
    summary.withdrawals = 1
    app.sell_unit(community_code="CY-0001", building="2", unit="1203",
                  buyer_owner_ids=["owner-buyer-000001"], sold_on=date(YEAR, 9, 18),
                  reference=f"SALE-CY-0001-2-1203-{YEAR}", actor=ACTOR)
    summary.sales = 1

    progress("allocating December interest")
    _allocate_interest(app, date(YEAR, 12, 21), summary)
    progress("recording property service enterprises and their credit")
    summary.ranking = run_enterprises(app)
    progress("opening a vote for the owners' pages")
    summary.demo_owner = run_open_vote(app)
    return summary


def _allocate_interest(app: FundLedger, received_on: date, summary: DemoSummary) -> None:
    """Half a year's interest at about 0.35 % a year on the balance the day before.

    Postings run in business-date order, so a second run computes the same amounts and
    finds every reference already posted.
    """
    for code, *_ in COMMUNITIES:
        balance_fen = fund_statement(app, code, as_of=received_on - timedelta(days=1)).balance_fen
        app.allocate_income(community_code=code, amount_fen=max(balance_fen * 35 // 20_000, 1),
                            source="interest", received_on=received_on,
                            reference=f"INT-{code}-{received_on.isoformat()}", actor=ACTOR)
        summary.income_allocations += 1
