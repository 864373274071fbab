"""Fund commands: registration, bank batches, statements, income, works, sales (F1–F11)."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from api.cli_common import (
    DEFAULT_ACTOR,
    ActorOption,
    Identifier,
    answer,
    as_date,
    cli,
    id_argument,
    id_option,
    import_cli,
    ledger,
    out,
    progress_bar,
    run,
)
from domain.errors import NotFound
from domain.money import format_area, format_fen, parse_yuan
from ledger.application import FundLedger
from ledger.commands import WithdrawalRequest
from ledger.csv_files import parse_date, read_deposits, read_units
from projections.history.statements import FundStatement, fund_statement


@import_cli.command("units")
def import_units(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    registered_on: Annotated[
        str | None, typer.Option(help="Business date of the registration (default today).")
    ] = None,
    actor: ActorOption = DEFAULT_ACTOR,
) -> None:
    """Register communities and their units from FILE.csv (F1)."""
    on = as_date(registered_on, "registered_on") or date.today()
    rows = run(lambda: read_units(file))
    with ledger() as app:
        result = run(lambda: app.register_units(rows, effective_date=on, actor=actor))
    answer({"communities_added": result.communities_added, "units_added": result.units_added,
            "units_unchanged": result.units_unchanged})
    out.print(f"{result.communities_added} communities and {result.units_added} units "
              f"registered; {result.units_unchanged} units were already registered as given.")


@import_cli.command("deposits")
def import_deposits(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    actor: ActorOption = DEFAULT_ACTOR,
) -> None:
    """Post a bank batch of deposits from FILE.csv, all or nothing (F2, F4)."""
    lines = run(lambda: read_deposits(file))
    with ledger() as app, progress_bar() as bar:
        task = bar.add_task("posting", total=len(lines))
        result = run(lambda: app.import_deposits(
            lines, actor=actor, progress=lambda n: bar.advance(task, n)))
    answer({"posted": result.posted, "already_posted": result.already_posted,
            "total_fen": result.total_fen})
    if result.posted == 0 and result.already_posted:
        out.print(f"nothing posted: all {result.already_posted} lines were already posted "
                  "under their bank references.")
        return
    out.print(f"posted {result.posted} deposits, {format_fen(result.total_fen)} yuan; "
              f"{result.already_posted} lines were already posted.")


@cli.command()
def statement(
    community_code: Identifier,
    unit: Annotated[str | None, id_option(help="One unit, as BUILDING-UNIT.")] = None,
    as_of: Annotated[str | None, typer.Option(help="Business date YYYY-MM-DD.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Amounts as integer fen.")] = False,
) -> None:
    """The fund's balance and each unit's deposits, withdrawals, income and balance (F10)."""
    day = as_date(as_of, "as_of")
    with ledger() as app:
        result = run(lambda: fund_statement(app, community_code, unit_key=unit, as_of=day))
    if as_json:
        sys.stdout.write(json.dumps(statement_json(result), ensure_ascii=False, indent=2) + "\n")
    else:
        print_statement(result)


def statement_json(s: FundStatement) -> dict[str, Any]:
    return {
        "community_code": s.community_code, "community_name": s.community_name,
        "district": s.district, "street": s.street,
        "as_of": s.as_of.isoformat() if s.as_of else None,
        "balance_fen": s.balance_fen, "bank_balance_fen": s.bank_balance_fen,
        "conserved": s.conserved,
        "deposits_fen": s.total("deposits_fen"), "withdrawals_fen": s.total("withdrawals_fen"),
        "income_fen": s.total("income_fen"), "refunds_fen": s.total("refunds_fen"),
        "units": [{
            "unit": u.unit_key, "building": u.building, "door": u.unit,
            "area_m2_hundredths": u.area_m2_hundredths, "owner_ids": u.owner_ids,
            "deposits_fen": u.deposits_fen, "withdrawals_fen": u.withdrawals_fen,
            "income_fen": u.income_fen, "refunds_fen": u.refunds_fen,
            "balance_fen": u.balance_fen, "first_deposit_fen": u.first_deposit_fen,
            "reraise_demanded": u.reraise_demanded, "closed": u.closed,
        } for u in s.units],
        "postings": [{
            "reference": p.reference, "kind": p.kind,
            "effective_date": p.effective_date.isoformat(),
            "amount_fen": p.amount_fen, "description": p.description, "basis": p.basis,
            "shares": [{"unit": k, "weight": w, "share_fen": f} for k, w, f in p.shares],
        } for p in s.postings],
    }


UNITS_SHOWN_MAX = 40  # the table is for eyes; --json gives every unit


def print_statement(s: FundStatement) -> None:
    when = f" as of {s.as_of}" if s.as_of else ""
    out.print(f"[bold]{s.community_name}[/] ({s.community_code}), {s.district} / {s.street}{when}")
    out.print(f"fund balance {format_fen(s.balance_fen)} yuan = bank balance "
              f"{format_fen(s.bank_balance_fen)} yuan "
              f"({'conserved' if s.conserved else '[red]NOT CONSERVED[/]'}, F11)")
    out.print(f"deposits {format_fen(s.total('deposits_fen'))}, income "
              f"{format_fen(s.total('income_fen'))}, withdrawals "
              f"{format_fen(s.total('withdrawals_fen'))}, refunds "
              f"{format_fen(s.total('refunds_fen'))} yuan; {len(s.units)} units")
    table = Table("unit", "area m²", "deposits", "withdrawals", "income", "balance", "flag")
    for u in s.units[:UNITS_SHOWN_MAX]:
        flag = "closed" if u.closed else ("re-raise (F4)" if u.reraise_demanded else "")
        table.add_row(u.unit_key, format_area(u.area_m2_hundredths), format_fen(u.deposits_fen),
                      format_fen(u.withdrawals_fen), format_fen(u.income_fen),
                      format_fen(u.balance_fen), flag)
    out.print(table)
    if len(s.units) > UNITS_SHOWN_MAX:
        out.print(f"... {len(s.units) - UNITS_SHOWN_MAX} more units (use --unit or --json)")
    for p in s.postings:
        basis = f", {p.basis}" if p.basis else ""
        out.print(escape(f"{p.effective_date} {p.kind} {p.reference}: "
                         f"{format_fen(p.amount_fen)} yuan, {p.description}{basis}, "
                         f"over {len(p.shares)} units"))


@cli.command()
def withdraw(
    community_code: Identifier,
    reference: Annotated[str, id_option(help="The bank reference of the payment.")],
    project: Annotated[str, typer.Option()],
    cost_kind: Annotated[str, typer.Option()],
    invoice_yuan: Annotated[str, typer.Option()],
    paid_on: Annotated[str, typer.Option()],
    building: Annotated[list[str] | None, id_option(help="Charging range: a building.")] = None,
    unit: Annotated[list[str] | None, id_option(help="Charging range: BUILDING-UNIT.")] = None,
    emergency: Annotated[str | None, id_option(help="Declared emergency id (F9).")] = None,
    resolution: Annotated[str | None, id_option(help="Owners' resolution id (F8).")] = None,
    actor: ActorOption = DEFAULT_ACTOR,
) -> None:
    """Pay a works invoice from the units of its charging range, split by floor area (F8)."""
    request = run(lambda: WithdrawalRequest(
        reference=reference, community_code=community_code, project=project,
        cost_kind=cost_kind, invoice_fen=parse_yuan(invoice_yuan, field="invoice_yuan"),
        paid_on=parse_date(paid_on, "paid_on"), buildings=building or [], unit_keys=unit or [],
        emergency_id=emergency, resolution_id=resolution))
    with ledger() as app:
        posted = run(lambda: app.withdraw(request, actor=actor))
    _posted(posted, reference)
    out.print(("already posted: " if posted.already_posted else "posted: ")
              + f"{reference} ({posted.kind})")


@cli.command("declare-emergency")
def declare_emergency(
    community_code: Identifier,
    emergency_id: Identifier,
    category: Annotated[str, typer.Option(help="One of the F9 categories.")],
    declared_on: Annotated[str, typer.Option()],
    description: Annotated[str, typer.Option()] = "",
    actor: ActorOption = DEFAULT_ACTOR,
) -> None:
    """Declare an emergency (F9) that a withdrawal may then cite without a vote."""
    on = as_date(declared_on, "declared_on")
    assert on is not None
    with ledger() as app:
        run(lambda: app.declare_emergency(community_code=community_code,
                                          emergency_id=emergency_id, category=category,
                                          description=description, declared_on=on, actor=actor))
    answer({"community_code": community_code, "emergency_id": emergency_id,
            "category": category, "declared_on": on.isoformat()})
    out.print(f"emergency {emergency_id} ({category}) declared for {community_code}")


@cli.command("allocate-income")
def allocate_income(
    community_code: Identifier,
    reference: Annotated[str, id_option()],
    amount_yuan: Annotated[str, typer.Option()],
    received_on: Annotated[str, typer.Option()],
    source: Annotated[str, typer.Option()] = "interest",
    actor: ActorOption = DEFAULT_ACTOR,
) -> None:
    """Allocate value-added income to the sub-accounts in proportion to balance (F5)."""
    amount = run(lambda: parse_yuan(amount_yuan))
    on = as_date(received_on, "received_on")
    assert on is not None
    with ledger() as app:
        posted = run(lambda: app.allocate_income(
            community_code=community_code, amount_fen=amount, source=source, received_on=on,
            reference=reference, actor=actor))
    _posted(posted, reference)
    out.print(("already posted: " if posted.already_posted else "posted: ") + reference)


@cli.command("sell")
def sell(
    community_code: Identifier,
    unit: Annotated[str, id_argument(help="BUILDING-UNIT")],
    buyer: Annotated[list[str], id_option(help="Buyer owner id (repeat for co-owners).")],
    sold_on: Annotated[str, typer.Option()],
    reference: Annotated[str, id_option()],
    actor: ActorOption = DEFAULT_ACTOR,
) -> None:
    """Record a sale: the sub-account balance passes to the buyer (F7)."""
    on = as_date(sold_on, "sold_on")
    assert on is not None
    with ledger() as app:
        building, door = run(lambda: split_unit(app, community_code, unit))
        posted = run(lambda: app.sell_unit(
            community_code=community_code, building=building, unit=door, buyer_owner_ids=buyer,
            sold_on=on, reference=reference, actor=actor))
    _posted(posted, reference)
    out.print(("already posted: " if posted.already_posted else "posted: ") + reference)


@cli.command("refund")
def refund(
    community_code: Identifier,
    unit: Annotated[str, id_argument(help="BUILDING-UNIT")],
    destroyed_on: Annotated[str, typer.Option()],
    reference: Annotated[str, id_option()],
    actor: ActorOption = DEFAULT_ACTOR,
) -> None:
    """Refund a destroyed unit's balance to its owner and close its sub-account (F7)."""
    on = as_date(destroyed_on, "destroyed_on")
    assert on is not None
    with ledger() as app:
        building, door = run(lambda: split_unit(app, community_code, unit))
        posted = run(lambda: app.refund_destroyed_unit(
            community_code=community_code, building=building, unit=door, destroyed_on=on,
            reference=reference, actor=actor))
    _posted(posted, reference)
    out.print(("already posted: " if posted.already_posted else "posted: ") + reference)


@cli.command("deliver")
def deliver(
    community_code: Identifier,
    unit: Annotated[str, id_argument(help="BUILDING-UNIT")],
    delivered_on: Annotated[str, typer.Option()],
    actor: ActorOption = DEFAULT_ACTOR,
) -> None:
    """Mark a unit delivered; refused before its first deposit is paid (F2)."""
    on = as_date(delivered_on, "delivered_on")
    assert on is not None
    with ledger() as app:
        building, door = run(lambda: split_unit(app, community_code, unit))
        run(lambda: app.mark_delivered(community_code=community_code, building=building,
                                       unit=door, delivered_on=on, actor=actor))
    answer({"community_code": community_code, "unit": unit, "delivered_on": on.isoformat()})
    out.print(f"unit {unit} of {community_code} delivered on {on}")


def _posted(posted: Any, reference: str) -> None:
    """A posting's answer: its kind (the HTTP API's ``written``), reference, and whether it
    was found already posted under that reference (then nothing was written)."""
    answer({"written": posted.kind, "reference": reference,
            "already_posted": posted.already_posted})


def split_unit(app: FundLedger, community_code: str, key: str) -> tuple[str, str]:
    community = app.community(community_code)
    if key not in community.units:
        raise NotFound(f"community {community_code} has no unit {key}", rule="F1", field="unit")
    building, door = community.units[key]
    return building, door


