"""Enterprise commands: registry, entry and exit with handover, credit record (E1–E3)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli_common import (
    DEFAULT_ACTOR,
    ActorOption,
    Identifier,
    answer,
    as_date,
    cli,
    id_option,
    ledger,
    out,
    required_date,
    run,
)
from domain.credit import Graded, Period, Score
from domain.enterprise import Enterprise

enterprise_cli = typer.Typer(no_args_is_help=True,
                             help="Property service enterprises: registry, contracts, credit.")
cli.add_typer(enterprise_cli, name="enterprise")



@enterprise_cli.command("register")
def register(credit_code: str, name: str,
             registered_on: Annotated[str, typer.Option()],
             actor: ActorOption = DEFAULT_ACTOR) -> None:
    """Register an enterprise under its unified social credit code."""
    on = required_date(registered_on, "registered_on")
    with ledger() as app:
        enterprise = run(lambda: app.register_enterprise(
            credit_code=credit_code, name=name, registered_on=on, actor=actor))
    answer({"credit_code": enterprise.credit_code, "name": enterprise.name,
            "registered_on": on.isoformat()})
    out.print(f"enterprise {enterprise.credit_code} {enterprise.name} registered")


@enterprise_cli.command("enter")
def enter(
    community_code: Identifier,
    enterprise_code: Identifier,
    contract_reference: Annotated[str, id_option()],
    starts_on: Annotated[str, typer.Option()],
    filed_on: Annotated[str, typer.Option()],
    ends_on: Annotated[str | None, typer.Option(help="Omit for an open-ended contract.")] = None,
    emergency_standin: Annotated[bool, typer.Option()] = False,
    resolution: Annotated[str | None, id_option(help="Owners' hiring resolution.")] = None,
    actor: ActorOption = DEFAULT_ACTOR,
) -> None:
    """Start a service contract in a community that no other enterprise serves (E1)."""
    start, filed = required_date(starts_on, "starts_on"), required_date(filed_on, "filed_on")
    end = as_date(ends_on, "ends_on")
    with ledger() as app:
        run(lambda: app.start_service_contract(
            community_code=community_code, enterprise_code=enterprise_code,
            contract_reference=contract_reference, starts_on=start, filed_on=filed,
            open_ended=end is None, ends_on=end, actor=actor,
            emergency_standin=emergency_standin, resolution_id=resolution))
    answer({"community_code": community_code, "enterprise_code": enterprise_code,
            "reference": contract_reference, "starts_on": start.isoformat(),
            "ends_on": end.isoformat() if end else None})
    out.print(f"{enterprise_code} serves {community_code} from {start} ({contract_reference})")


@enterprise_cli.command("self-manage")
def self_manage(
    community_code: Identifier,
    resolution: Annotated[str, id_option(help="The owners' passed resolution.")],
    started_on: Annotated[str, typer.Option()],
    actor: ActorOption = DEFAULT_ACTOR,
) -> None:
    """Record that the owners manage the community themselves (R1 counts it as covered);
    refused while an enterprise serves (E1); the next enterprise's entry ends it."""
    on = required_date(started_on, "started_on")
    with ledger() as app:
        run(lambda: app.record_self_management(
            community_code=community_code, resolution_id=resolution, started_on=on,
            actor=actor))
    answer({"community_code": community_code, "resolution_id": resolution,
            "started_on": on.isoformat()})
    out.print(f"{community_code} manages itself from {on} (resolution {resolution})")


@enterprise_cli.command("notice")
def notice(community_code: Identifier, contract_reference: Identifier,
           given_on: Annotated[str, typer.Option()],
           reason: Annotated[str, typer.Option(help="not_renewing | open_ended | dismissed")],
           resolution: Annotated[str | None, id_option()] = None,
           actor: ActorOption = DEFAULT_ACTOR) -> None:
    """Give notice of exit: 90 days when not renewing, 60 for open-ended contracts (E2)."""
    on = required_date(given_on, "given_on")
    with ledger() as app:
        run(lambda: app.give_contract_notice(
            community_code=community_code, contract_reference=contract_reference, given_on=on,
            reason=reason, actor=actor, resolution_id=resolution))
    answer({"community_code": community_code, "reference": contract_reference,
            "given_on": on.isoformat(), "reason": reason})
    out.print(f"notice given on {on} for {community_code}/{contract_reference}")


@enterprise_cli.command("terminate")
def terminate(community_code: Identifier, contract_reference: Identifier,
              terminated_on: Annotated[str, typer.Option()],
              actor: ActorOption = DEFAULT_ACTOR) -> None:
    """Terminate a contract; handover is due within 30 days (E2)."""
    on = required_date(terminated_on, "terminated_on")
    with ledger() as app:
        run(lambda: app.terminate_contract(community_code=community_code,
                                           contract_reference=contract_reference,
                                           terminated_on=on, actor=actor))
    answer({"community_code": community_code, "reference": contract_reference,
            "terminated_on": on.isoformat()})
    out.print(f"{community_code}/{contract_reference} terminated on {on}")


@enterprise_cli.command("handover")
def handover(community_code: Identifier, contract_reference: Identifier,
             item: Annotated[str, typer.Option(help="common_parts | records | prepaid_fees")],
             handed_over_on: Annotated[str, typer.Option()],
             actor: ActorOption = DEFAULT_ACTOR) -> None:
    """Check off one handover item (E2)."""
    on = required_date(handed_over_on, "handed_over_on")
    with ledger() as app:
        run(lambda: app.check_off_handover(
            community_code=community_code, contract_reference=contract_reference, item=item,
            handed_over_on=on, actor=actor))
    answer({"community_code": community_code, "reference": contract_reference, "item": item,
            "handed_over_on": on.isoformat()})
    out.print(f"{item} handed over on {on}")


@enterprise_cli.command("check-handovers")
def check_handovers(as_of: Annotated[str, typer.Option()],
                    actor: ActorOption = DEFAULT_ACTOR) -> None:
    """Record a violation for each handover open past its deadline (once each, E2)."""
    on = required_date(as_of, "as_of")
    with ledger() as app:
        recorded = run(lambda: app.check_overdue_handovers(as_of=on, actor=actor))
    answer({"as_of": on.isoformat(), "recorded": [str(r) for r in recorded]})
    out.print(f"{len(recorded)} overdue handover violation(s) recorded"
              + "".join(f"\n  {r}" for r in recorded))


@enterprise_cli.command("credit-event")
def credit_event(
    enterprise_code: Identifier,
    kind: Annotated[str, typer.Argument(help="commendation | violation | fine | ticket")],
    on: Annotated[str, typer.Option()],
    authority: Annotated[str, typer.Option()] = "",
    detail: Annotated[str, typer.Option(help="Commendation level or violation kind.")] = "",
    note: Annotated[str, typer.Option()] = "",
    reference: Annotated[str, id_option(help="Source reference or ticket id.")] = "",
    amount_yuan: Annotated[str | None, typer.Option()] = None,
    responded: bool = False, resolved: bool = False, satisfied: bool = False,
    community: Annotated[str | None, typer.Option()] = None,
    actor: ActorOption = DEFAULT_ACTOR,
) -> None:
    """Record a dated credit event (E3)."""
    from domain.money import parse_yuan

    day = required_date(on, "on")
    commands: dict[str, Any] = {
        "commendation": lambda e: e.commend(day, detail, authority, note, actor=actor,
                                            community_code=community),
        "violation": lambda e: e.record_violation(day, detail, authority, note, reference,
                                                  actor=actor, community_code=community),
        "fine": lambda e: e.record_fine(day, parse_yuan(amount_yuan or ""), authority, note,
                                        actor=actor, community_code=community),
        "ticket": lambda e: e.record_complaint_ticket(day, reference, responded, resolved,
                                                      satisfied, actor=actor,
                                                      community_code=community),
    }
    if kind not in commands:
        raise typer.BadParameter(f"kind must be one of {', '.join(commands)}")
    with ledger() as app:
        run(lambda: app.record_credit_event(enterprise_code, commands[kind]))
    answer({"enterprise_code": enterprise_code, "kind": kind, "on": day.isoformat()})
    out.print(f"{kind} recorded for {enterprise_code} on {day}")


def score_json(enterprise: Enterprise, score: Score, graded: Graded | None) -> dict[str, Any]:
    return {
        "enterprise_code": enterprise.credit_code, "name": enterprise.name,
        "period": str(score.period), "score": score.display(),
        "score_hundredths": score.points_hundredths,
        "grade": graded.grade if graded else None, "rank": graded.rank if graded else None,
        "lines": [{"event": line.event_ref, "kind": line.kind, "points": str(line.points),
                   "explanation": line.explanation} for line in score.lines],
    }


@cli.command()
def credit(
    enterprise_code: Identifier,
    period: Annotated[str | None, typer.Option(help="Half-year, e.g. 2026H1.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """An enterprise's score and grade for a half-year, with the events behind each point."""
    with ledger() as app:
        half = run(lambda: Period.parse(period) if period else _latest_period(app))
        enterprise = run(lambda: app.enterprise(enterprise_code))
        score = run(lambda: app.credit_score(enterprise.credit_code, half))
        graded = next((g for g in app.credit_ranking(half)
                       if g.enterprise_code == enterprise.credit_code), None)
        scheme = app.credit_scheme.name
    if as_json:
        sys.stdout.write(json.dumps(score_json(enterprise, score, graded), ensure_ascii=False,
                                    indent=2) + "\n")
        return
    grade = f"grade {graded.grade} (rank {graded.rank})" if graded else "not ranked"
    out.print(f"[bold]{enterprise.name}[/] {enterprise.credit_code} {half}: score "
              f"{score.display()}, {grade}; scheme: {scheme}")
    table = Table("event", "kind", "points", "because")
    for line in score.lines:
        table.add_row(line.event_ref, line.kind, str(line.points), line.explanation)
    out.print(table)


def _latest_period(app: Any) -> Period:
    from datetime import date

    return Period.containing(date.today())


@cli.command()
def ranking(period: Annotated[str, typer.Option(help="Half-year, e.g. 2026H2.")]) -> None:
    """Every enterprise that served in the half-year, ranked and graded (E3)."""
    half = run(lambda: Period.parse(period))
    with ledger() as app:
        graded = app.credit_ranking(half)
        names = {e.credit_code: e.name for e in app.enterprises()}
        scheme = app.credit_scheme.name
    answer({"period": str(half), "scheme": scheme, "ranking": [{
        "rank": g.rank, "grade": g.grade, "score": g.score.display(),
        "enterprise_code": g.enterprise_code, "name": names.get(g.enterprise_code, "")}
        for g in graded]})
    print_ranking(half, graded, names, scheme)


def print_ranking(half: Period, graded: list[Graded], names: dict[str, str],
                  scheme: str) -> None:
    table = Table("rank", "grade", "score", "enterprise", "credit code",
                  title=f"Credit ranking {half} ({scheme})")
    for g in graded:
        table.add_row(str(g.rank), g.grade, g.score.display(), names.get(g.enterprise_code, ""),
                      g.enterprise_code)
    out.print(table)
