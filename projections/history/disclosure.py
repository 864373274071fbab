"""The yearly disclosure (F10): totals, projects charged with their split, each unit's year.

Two F10 statements of the fund by business date (``statements.statement_at``, one reading
of the sub-accounts' streams): as of the last day of the year before (opening balances) and
as of the last day of the year (closing balances); the year's deposits, income, use and
refunds are their differences, so a back-dated posting recorded later lands in the year it is
dated in. The projects are the works withdrawals dated in the year, read from their posting
documents (project, cost kind, authority, invoice, split by floor area).

Every figure is integer fen. Rendering it (CSV, a printable page) is the edge's job:
``api.render.disclosure``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from domain.errors import InvalidInput
from domain.posting import WorksWithdrawal
from ledger.application import FundLedger
from projections.history.fund import unit_account_ids
from projections.history.statements import UnitStatement, authority, postings, statement_at
from projections.history.streams import read_streams

YEAR_MIN = 1998  # the housing reform that created the funds; nothing is older
YEAR_MAX = 2200
# A unit's year, and the fund's totals, in the order a reader adds them up.
MOVEMENTS = ("opening_balance_fen", "deposits_fen", "income_fen", "use_fen", "refunds_fen",
             "balance_fen")


@dataclass(frozen=True)
class UnitYear:
    """One sub-account's year: opening + deposits + income - use - refunds = balance."""

    unit: str
    building: str
    door: str
    area_m2_hundredths: int
    opening_balance_fen: int
    deposits_fen: int
    income_fen: int
    use_fen: int
    refunds_fen: int
    balance_fen: int
    closed: bool


@dataclass(frozen=True)
class ProjectShare:
    unit: str
    area_m2_hundredths: int
    share_fen: int


@dataclass(frozen=True)
class ProjectCharged:
    """A works withdrawal of the year and its cost split over the charging range (F8)."""

    reference: str
    paid_on: date
    project: str
    cost_kind: str
    basis: str  # "resolution R" or "emergency E (category)"
    invoice_fen: int
    shares: list[ProjectShare]

    @property
    def shares_fen(self) -> int:
        return sum(s.share_fen for s in self.shares)


@dataclass(frozen=True)
class IncomeReceived:
    reference: str
    received_on: date
    source: str
    policy: str
    amount_fen: int


@dataclass
class Disclosure:
    community_code: str
    community_name: str
    district: str
    street: str
    year: int
    units: list[UnitYear] = field(default_factory=list)
    projects: list[ProjectCharged] = field(default_factory=list)
    income: list[IncomeReceived] = field(default_factory=list)
    # F11 at the period's end: the sum of the bank legs, independent of the balances
    bank_balance_fen: int = 0
    quarter: int | None = None  # 1-4 for Beijing's quarterly disclosure (art. 84); None: year

    @property
    def period_start(self) -> date:
        return period_bounds(self.year, self.quarter)[0]

    @property
    def period_end(self) -> date:
        return period_bounds(self.year, self.quarter)[1]

    def total(self, name: str) -> int:
        return sum(int(getattr(u, name)) for u in self.units)

    @property
    def balance_fen(self) -> int:
        return self.total("balance_fen")

    @property
    def conserved(self) -> bool:
        return self.balance_fen == self.bank_balance_fen

    def problems(self) -> list[str]:
        """What does not add up (empty when the disclosure is consistent)."""
        found = []
        for u in self.units:
            if (u.opening_balance_fen + u.deposits_fen + u.income_fen - u.use_fen
                    - u.refunds_fen != u.balance_fen):
                found.append(f"unit {u.unit}: opening + movements != balance")
        for p in self.projects:
            if p.shares_fen != p.invoice_fen:
                found.append(f"project {p.reference}: shares {p.shares_fen} != invoice "
                             f"{p.invoice_fen}")
        if sum(p.invoice_fen for p in self.projects) != self.total("use_fen"):
            found.append("the projects' invoices differ from the units' use")
        if not self.conserved:
            found.append("F11: the sub-accounts do not sum to the bank balance")
        return found


def period_bounds(year: int, quarter: int | None) -> tuple[date, date]:
    """The first and last day of a calendar year, or of one of its quarters."""
    if quarter is None:
        return date(year, 1, 1), date(year, 12, 31)
    first = date(year, 3 * quarter - 2, 1)
    after = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return first, after - timedelta(days=1)


def disclosure(app: FundLedger, community_code: str, year: int,
               quarter: int | None = None) -> Disclosure:
    """The F10 disclosure of one community's fund for one calendar year, or for one quarter
    of it (Beijing's rules, art. 84: quarterly where the owners manage the fund)."""
    if not YEAR_MIN <= year <= YEAR_MAX:
        raise InvalidInput(f"year must be {YEAR_MIN} to {YEAR_MAX}", rule="F10", field="year")
    if quarter is not None and quarter not in (1, 2, 3, 4):
        raise InvalidInput("a quarter is 1 to 4", rule="F10", field="quarter")
    community = app.community(community_code)  # NotFound on community_code
    unit_ids = unit_account_ids(community, sorted(community.units))
    streams = read_streams(app, list(unit_ids.values()))
    start, end = period_bounds(year, quarter)
    closing = statement_at(community, unit_ids, streams, end)
    opening = statement_at(community, unit_ids, streams, start - timedelta(days=1))
    result = Disclosure(community.code, community.name, community.district, community.street,
                        year, bank_balance_fen=closing.bank_balance_fen, quarter=quarter)
    before = {u.unit_key: u for u in opening.units}
    result.units = [_unit_year(u, before.get(u.unit_key)) for u in closing.units]
    for posting in postings(app, community, result.period_start, result.period_end):
        if isinstance(posting, WorksWithdrawal):
            result.projects.append(ProjectCharged(
                reference=posting.reference, paid_on=posting.effective_date,
                project=posting.project, cost_kind=posting.cost_kind,
                basis=authority(posting), invoice_fen=posting.invoice_fen,
                shares=[ProjectShare(str(k), int(w), int(s)) for k, w, s in posting.shares]))
        else:
            result.income.append(IncomeReceived(
                posting.reference, posting.effective_date, posting.source, posting.policy,
                posting.amount_fen))
    return result


def _unit_year(after: UnitStatement, before: UnitStatement | None) -> UnitYear:
    def moved(name: str) -> int:
        return int(getattr(after, name)) - (int(getattr(before, name)) if before else 0)

    return UnitYear(
        unit=after.unit_key, building=after.building, door=after.unit,
        area_m2_hundredths=after.area_m2_hundredths,
        opening_balance_fen=before.balance_fen if before else 0,
        deposits_fen=moved("deposits_fen"), income_fen=moved("income_fen"),
        use_fen=moved("withdrawals_fen"), refunds_fen=moved("refunds_fen"),
        balance_fen=after.balance_fen, closed=after.closed)


__all__ = [
    "MOVEMENTS",
    "Disclosure",
    "IncomeReceived",
    "ProjectCharged",
    "ProjectShare",
    "UnitYear",
    "disclosure",
]
