"""A whole city at growing sizes: what each unit and each event costs, and whether it grows.

    python benchmarks/city.py [--sizes 100000,300000] [--pg-url URL] [--reads 200]
                              [--no-governance]

For each size (units) it builds, in a throwaway PostgreSQL database it creates and drops, a
city of that many units in communities of --units-per-community (1,000,000 units: 2,000
communities) across 16 districts and their streets, with areas spread like a city's
(log-normal around 85 m², 30 to 300 m²), registered through FundLedger.register_units, then a
year of bank batches (a first deposit, then eleven monthly top-ups, each month one
import_deposits batch per 50,000 lines). It then measures, at that size:
  * import: events written per second (registration and the year's batches);
  * each view's rebuild from event one (projections.runner.rebuild), and its catch-up over
    one more month's batch (the steady state: what a runner does after each import);
  * sealing the whole log, and verify_ledger over it (one process per core);
  * the database's size per event and per unit;
  * p50/p99 of the main reads at that size: a unit's history (audit, by community and
    unit), a community's fund, a community's unit accounts, the three rates for the city
    and for a street, a page of a community's audit trail.
and prints, per size, the cost per unit and per event, then one table of all sizes, so that
growth reads at a glance: per-event costs and read latencies should stay flat.
It also runs one owners' vote per community (delivery, proposed, published, opened, ballots
from 70-85 % of the owners cast as batches of --ballot-batch paper ballots, closed and
tallied), registers a property service enterprise for every six communities, files each
community's contract citing its passed vote, and has one community in ten change enterprise
with the handover checked off; it prints ballots/s, close and tally time per vote, and the
enterprise work per community (--no-governance leaves all of that out: the funds alone, for
a run that must be shorter). The reads also time a unit's statement (fund_statement, as
`fundledger statement --unit`) and GET /v1/rates for the city and a street over HTTP, the
app served in-process through fastapi's TestClient (no socket).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Run as `python benchmarks/city.py`, this folder comes first on sys.path, and its
# projections.py would shadow the package: take the folder off the path first.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

if TYPE_CHECKING:
    from ledger.application import FundLedger
    from ledger.commands import UnitRow

DISTRICTS = 16  # Beijing's
STREETS_PER_DISTRICT = 20
IMPORT_LINES_MAX = 50_000
MONTHS = 12
YEAR = 2026


@dataclass
class Figures:
    units: int
    communities: int
    events: int = 0
    import_events: int = 0
    import_s: float = 0.0
    rebuild: dict[str, float] = field(default_factory=dict)  # view -> events/s
    catch_up: dict[str, float] = field(default_factory=dict)  # view -> events/s
    seal_rate: float = 0.0
    verify_rate: float = 0.0
    db_bytes: int = 0
    reads: dict[str, tuple[float, float]] = field(default_factory=dict)  # ms p50, p99
    votes: int = 0
    ballots: int = 0
    ballots_s: float = 0.0  # casting every ballot, in batches
    votes_passed: int = 0
    close_s: list[float] = field(default_factory=list)  # close and tally, each vote
    enterprises: int = 0
    contracts: int = 0
    exits: int = 0
    enterprises_s: float = 0.0  # registering, entering, exits with handover


def community_code(n: int) -> str:
    return f"C{n:05d}"


def place(n: int) -> tuple[str, str]:
    """A community's district and street."""
    district = 110101 + n % DISTRICTS
    return str(district), f"{district}-{n // DISTRICTS % STREETS_PER_DISTRICT:02d}"


def city_units(units: int, per_community: int, seed: int = 20) -> list[UnitRow]:
    from ledger.commands import UnitRow

    rng = random.Random(seed)
    rows = []
    for n in range(units):
        c = n // per_community
        district, street = place(c)
        within = n % per_community
        area_m2 = min(300.0, max(30.0, rng.lognormvariate(math.log(85), 0.35)))
        rows.append(UnitRow(community_code(c), f"Community {c}", district, street,
                            str(within // 100 + 1), str(within % 100 + 101),
                            round(area_m2 * 100), "register", [f"o{n}"]))
    return rows


def deposit_month(app: FundLedger, rows: list[UnitRow], month: int) -> int:
    """One month's bank batches: the first deposit in month 0, a top-up after; events."""
    from domain.unit_account import first_deposit_due_fen
    from ledger.commands import DepositLine

    rate = app.settings.deposit_rate_fen_per_m2
    paid_on = date(YEAR + month // 12, month % 12 + 1, 5)
    lines = [DepositLine(f"B-{n}-{month}", r.community_code, r.building, r.unit,
                         first_deposit_due_fen(r.area_m2_hundredths, rate) if month == 0
                         else 1_000 + r.area_m2_hundredths // 4, paid_on,
                         "first" if month == 0 else "top_up")
             for n, r in enumerate(rows)]
    for start in range(0, len(lines), IMPORT_LINES_MAX):
        app.import_deposits(lines[start:start + IMPORT_LINES_MAX], actor="city")
    return len(lines)


def run_votes(app: FundLedger, rows: list[UnitRow], per_community: int, batch: int,
               figures: Figures) -> list[str]:
    """One owners' vote per community, to hire a property service enterprise: delivered
    units (F2), proposed, published, opened, ballots from 70-85 % of owners (most agree)
    cast as batches of paper ballots, closed and tallied. Returns the passed votes' ids."""
    rng = random.Random(16)
    passed = []
    ballots_s = 0.0
    for c in range(figures.communities):
        code, reference = community_code(c), f"V-{YEAR}-{c}"
        owners = [r.owner_ids[0] for r in rows[c * per_community:(c + 1) * per_community]]
        app.deliver_units(community_code=code, delivered_on=date(YEAR, 1, 20), actor="city")
        app.propose_vote(community_code=code, vote_reference=reference,
                         matter_kind="hire_enterprise",
                         title="Hire a property service enterprise",
                         proposed_on=date(YEAR, 2, 1), actor="city")
        app.publish_vote(community_code=code, vote_reference=reference,
                         published_on=date(YEAR, 2, 2), actor="city")
        app.open_vote(community_code=code, vote_reference=reference,
                      opened_on=date(YEAR, 2, 20), actor="city")
        voters = rng.sample(owners, round(len(owners) * rng.uniform(0.70, 0.85)))
        choices = rng.choices(["agree", "disagree", "abstain"], [85, 10, 5], k=len(voters))
        ballots = [(owner, choice, ()) for owner, choice in zip(voters, choices, strict=True)]
        started = time.perf_counter()
        for start in range(0, len(ballots), batch):
            app.cast_ballots(community_code=code, vote_reference=reference,
                             ballots=ballots[start:start + batch], cast_on=date(YEAR, 2, 21))
        ballots_s += time.perf_counter() - started
        started = time.perf_counter()
        result = app.close_vote(community_code=code, vote_reference=reference,
                                closed_on=date(YEAR, 3, 10), actor="city")
        figures.close_s.append(time.perf_counter() - started)
        assert result.participating_heads == len(voters), (code, result)
        figures.ballots += len(voters)
        if result.passed:
            passed.append(reference)
    figures.votes = figures.communities
    figures.votes_passed = len(passed)
    figures.ballots_s = ballots_s
    return passed


def run_enterprises(app: FundLedger, communities: int, passed: set[str],
                    figures: Figures) -> None:
    """A few hundred property service enterprises (one for every six communities, at least
    3) registered; each community's contract (citing its passed vote, E1); one community in
    ten sees its enterprise give notice, leave with the three handover items checked off
    (E2) and another enter."""
    from domain.credit_code import with_check_character
    from domain.service_contract import HANDOVER_ITEMS

    count = max(3, communities // 6)
    codes = [with_check_character(f"91{110101 + n % DISTRICTS}MA{n:07d}"[:17])
             for n in range(count)]
    started = time.perf_counter()
    for n, code in enumerate(codes):
        app.register_enterprise(credit_code=code, name=f"Property Service {n}",
                                registered_on=date(YEAR, 1, 1), actor="city")
    for c in range(communities):
        code, resolution = community_code(c), f"V-{YEAR}-{c}"
        app.start_service_contract(
            community_code=code, enterprise_code=codes[c % count],
            contract_reference=f"K-{c}", starts_on=date(YEAR, 4, 1),
            filed_on=date(YEAR, 4, 10), open_ended=False, ends_on=date(YEAR + 2, 3, 31),
            actor="city", resolution_id=resolution if resolution in passed else None)
        figures.contracts += 1
        if c % 10 != 9:
            continue
        app.give_contract_notice(community_code=code, contract_reference=f"K-{c}",
                                 given_on=date(YEAR, 6, 1), reason="not_renewing",
                                 actor="city")
        app.terminate_contract(community_code=code, contract_reference=f"K-{c}",
                               terminated_on=date(YEAR, 8, 31), actor="city")
        for item in HANDOVER_ITEMS:
            app.check_off_handover(community_code=code, contract_reference=f"K-{c}",
                                   item=item, handed_over_on=date(YEAR, 9, 15), actor="city")
        app.start_service_contract(
            community_code=code, enterprise_code=codes[(c + 1) % count],
            contract_reference=f"K-{c}-2", starts_on=date(YEAR, 9, 1),
            filed_on=date(YEAR, 9, 5), open_ended=True, ends_on=None, actor="city")
        figures.contracts += 1
        figures.exits += 1
    figures.enterprises = count
    figures.enterprises_s = time.perf_counter() - started


def settle(url: str) -> None:
    """VACUUM ANALYZE and a CHECKPOINT: the bulk load's aftermath done before the figures."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")


def percentiles(action: Callable[[int], Any], samples: int) -> tuple[float, float]:
    times = []
    for i in range(samples):
        started = time.perf_counter()
        action(i)
        times.append((time.perf_counter() - started) * 1_000)
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return cuts[49], cuts[98]


def measure_size(pg_url: str, units: int, per_community: int, reads: int,
                 ballot_batch: int, governance: bool = True) -> Figures:
    from ledger.application import FundLedger
    from ledger.persistence.scratch import scratch_database
    from ledger.settings import Settings
    from projections.audit import AuditFilter, AuditProjection
    from projections.balance import BalanceProjection
    from projections.history.statements import fund_statement
    from projections.runner import Runner, open_projection, rebuild
    from projections.seal.evidence import verify_ledger
    from projections.seal.sealer import make_checkpoint, open_sealer, seal
    from projections.three_rates import ThreeRatesProjection
    from projections.views import VIEWS

    communities = -(-units // per_community)
    figures = Figures(units, communities)
    with scratch_database(pg_url, "fundledger_city") as url:
        app = FundLedger(Settings(db=url))
        try:
            rows = city_units(units, per_community)
            started = time.perf_counter()
            for start in range(0, len(rows), IMPORT_LINES_MAX):
                app.register_units(rows[start:start + IMPORT_LINES_MAX],
                                   effective_date=date(YEAR, 1, 1), actor="city")
            for month in range(MONTHS):
                deposit_month(app, rows, month)
            figures.import_s = time.perf_counter() - started
            figures.import_events = app.recorder.max_notification_id() or 0
            print(f"  {units:,} units in {communities:,} communities: "
                  f"{figures.import_events:,} events imported in {figures.import_s:.1f} s "
                  f"({figures.import_events / figures.import_s:,.0f}/s)", flush=True)
            if governance:
                passed = run_votes(app, rows, per_community, ballot_batch, figures)
                print(f"  {figures.votes:,} votes ({figures.votes_passed:,} passed), "
                      f"{figures.ballots:,} ballots in {figures.ballots_s:.1f} s", flush=True)
                run_enterprises(app, communities, set(passed), figures)
                print(f"  {figures.enterprises:,} enterprises, {figures.contracts:,} "
                      f"contracts, {figures.exits:,} exits with handover in "
                      f"{figures.enterprises_s:.1f} s", flush=True)
            settle(url)
            runner = Runner(app)
            projections = {name: open_projection(app, cls) for name, cls in VIEWS.items()}
            for name, projection in projections.items():
                started = time.perf_counter()
                count = rebuild(runner, projection)
                figures.rebuild[name] = count / (time.perf_counter() - started)
                # Each figure as it comes: a run of hours that fails late keeps the rest.
                print(f"  view {name} rebuilt: {count:,} events at "
                      f"{figures.rebuild[name]:,.0f}/s", flush=True)
            more = deposit_month(app, rows, MONTHS)  # next January's batch
            for name, projection in projections.items():
                started = time.perf_counter()
                count = runner.catch_up(projection)
                assert count >= more, (name, count, more)
                figures.catch_up[name] = count / (time.perf_counter() - started)
            total = app.recorder.max_notification_id() or 0
            sealer = open_sealer(app)
            started = time.perf_counter()
            sealed = seal(app, sealer)
            figures.seal_rate = sealed / (time.perf_counter() - started)
            print(f"  sealed {sealed:,} events at {figures.seal_rate:,.0f}/s", flush=True)
            make_checkpoint(app, sealer)
            started = time.perf_counter()
            report = verify_ledger(app)
            assert report.ok and report.events == total, report.problem
            figures.verify_rate = report.events / (time.perf_counter() - started)
            print(f"  checkpoint made; verified {report.events:,} events at "
                  f"{figures.verify_rate:,.0f}/s", flush=True)
            figures.events = total
            with app.recorder.datastore.transaction(commit=False) as curs:  # type: ignore[attr-defined]
                curs.execute("SELECT pg_database_size(current_database()) AS size")
                figures.db_bytes = curs.fetchone()["size"]
            balance = projections["balance"]
            audit = projections["audit"]
            rates = projections["three_rates"]
            assert isinstance(balance, BalanceProjection)
            assert isinstance(audit, AuditProjection)
            assert isinstance(rates, ThreeRatesProjection)
            rng = random.Random(7)
            picks = [rng.randrange(units) for _ in range(reads)]

            def unit_of(i: int) -> tuple[str, str]:
                row = rows[picks[i]]
                return row.community_code, f"{row.building}-{row.unit}"

            figures.reads = {
                "unit history": percentiles(lambda i: audit.entries(AuditFilter(
                    community=unit_of(i)[0], unit=unit_of(i)[1])), reads),
                "community fund": percentiles(
                    lambda i: balance.funds(community=unit_of(i)[0]), reads),
                "community's units": percentiles(
                    lambda i: balance.units(community=unit_of(i)[0]), reads),
                "rates, city": percentiles(lambda i: rates.rates("city", year=YEAR), reads),
                "rates, a street": percentiles(lambda i: rates.rates(
                    "street", place(picks[i] // per_community)[1], year=YEAR), reads),
                "audit page": percentiles(lambda i: audit.entries(
                    AuditFilter(community=unit_of(i)[0]), limit=100), reads),
                "unit statement": percentiles(lambda i: fund_statement(
                    app, unit_of(i)[0], unit_key=unit_of(i)[1]), reads),
            }
            figures.reads.update(http_rates(url, reads, [
                place(picks[i] // per_community)[1] for i in range(reads)]))
        finally:
            app.close()
    return figures


def http_rates(url: str, reads: int, streets: list[str]) -> dict[str, tuple[float, float]]:
    """p50/p99 of GET /v1/rates for the city and for a street, over HTTP to the app served
    in-process (fastapi's TestClient: no socket, but the whole middleware, token check and
    JSON path), with a city-wide official's token made as the tests make theirs."""
    from fastapi.testclient import TestClient

    from api.http.app import create_app
    from ledger.access import Principal, Role, Scope, new_token, token_digest
    from ledger.settings import Settings

    app = create_app(Settings(db=url), follow_views=False)
    with TestClient(app) as client:
        token, token_id = new_token()
        app.state.services.access.add_token(
            token_digest(token), Principal("city-bench", Role.official, Scope.parse("city"),
                                           token_id))
        headers = {"Authorization": f"Bearer {token}"}

        def get(params: dict[str, Any]) -> None:
            answer = client.get("/v1/rates", params=params, headers=headers)
            assert answer.status_code == 200, answer.text

        answer = client.get("/v1/rates", params={"year": YEAR}, headers=headers).json()
        print("  GET /v1/rates, city: " + ", ".join(
            f"{rate} {(figures['basis_points'] or 0) / 100:.1f} %"
            for rate, figures in answer["rates"].items()), flush=True)
        return {
            "HTTP rates, city": percentiles(lambda i: get({"year": YEAR}), reads),
            "HTTP rates, a street": percentiles(lambda i: get(
                {"year": YEAR, "level": "street", "code": streets[i]}), reads),
        }


def report(f: Figures) -> None:
    print(f"  per unit: {f.events / f.units:.1f} events, {f.db_bytes / f.units:,.0f} bytes; "
          f"per event: {f.db_bytes / f.events:,.0f} bytes, import "
          f"{f.import_s * 1e6 / f.import_events:.1f} µs")
    for name in f.rebuild:
        print(f"  view {name:<12} rebuild {f.rebuild[name]:>9,.0f}/s "
              f"({1e6 / f.rebuild[name]:.1f} µs/event), catch-up of a month "
              f"{f.catch_up[name]:>9,.0f}/s")
    print(f"  seal {f.seal_rate:,.0f}/s ({1e6 / f.seal_rate:.1f} µs/event), verify "
          f"{f.verify_rate:,.0f}/s ({1e6 / f.verify_rate:.1f} µs/event)")
    if f.votes:
        print(f"  votes: {f.votes:,} ({f.votes_passed:,} passed), {f.ballots:,} ballots at "
              f"{f.ballots / f.ballots_s:,.0f}/s (batches of paper ballots); close and tally "
              f"per vote median {statistics.median(f.close_s):.2f} s, max "
              f"{max(f.close_s):.2f} s")
        print(f"  enterprises: {f.enterprises:,} registered, {f.contracts:,} contracts, "
              f"{f.exits:,} exits with handover, {f.enterprises_s:.1f} s "
              f"({f.enterprises_s * 1e3 / f.communities:.1f} ms per community)")
    else:
        print("  votes and enterprises: not run (--no-governance)")
    for name, (p50, p99) in f.reads.items():
        print(f"  read {name:<20} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms")
    print("  (HTTP reads: the app in-process through fastapi's TestClient, no socket)")


def table(all_figures: list[Figures]) -> None:
    views = list(all_figures[0].rebuild)
    reads = list(all_figures[0].reads)
    head = (["units", "events", "B/event", "import µs/ev"]
            + [f"{v} µs/ev" for v in views] + ["seal µs/ev", "verify µs/ev"]
            + [f"{r} p50/p99 ms" for r in reads]
            + ["ballots/s", "close+tally s/vote", "enterprise work ms/community"])
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for f in all_figures:
        cells = [f"{f.units:,}", f"{f.events:,}", f"{f.db_bytes / f.events:,.0f}",
                 f"{f.import_s * 1e6 / f.import_events:.1f}",
                 *(f"{1e6 / f.rebuild[v]:.1f}" for v in views),
                 f"{1e6 / f.seal_rate:.1f}", f"{1e6 / f.verify_rate:.1f}",
                 *(f"{f.reads[r][0]:.1f}/{f.reads[r][1]:.1f}" for r in reads),
                 *([f"{f.ballots / f.ballots_s:,.0f}", f"{statistics.median(f.close_s):.2f}",
                    f"{f.enterprises_s * 1e3 / f.communities:.1f}"] if f.votes
                   else ["not run"] * 3)]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,300000",
                        help="units at each size, comma-separated (1000000 takes long)")
    parser.add_argument("--units-per-community", type=int, default=500)
    parser.add_argument("--reads", type=int, default=200, help="samples per read")
    parser.add_argument("--ballot-batch", type=int, default=100,
                        help="paper ballots saved per transaction (FundLedger.cast_ballots)")
    parser.add_argument("--no-governance", action="store_true",
                        help="no votes, enterprises or contracts: the funds' log alone")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as folder:
        # A throwaway signing key: the benchmark must not make one in the working directory.
        os.environ.setdefault("FUNDLEDGER_SIGNING_KEY_FILE", str(Path(folder) / "city.key"))
        for units in sizes:
            print(f"city of {units:,} units (PostgreSQL, {os.cpu_count()} cores)", flush=True)
            figures = measure_size(args.pg_url, units, args.units_per_community,
                                   args.reads, args.ballot_batch, not args.no_governance)
            report(figures)
            results.append(figures)
    table(results)


if __name__ == "__main__":
    main()
