"""Auditor commands: replay an aggregate at a cut, page a community's history, disclose (F10)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from api.cli_common import answer, cli, err, ledger, out, run
from api.render.disclosure_csv import to_csv
from api.render.disclosure_html import to_html
from domain.money import format_fen
from projections.history.community_events import HISTORY_LIMIT_MAX, community_history
from projections.history.disclosure import disclosure
from projections.history.replay import KEY_HELP, KINDS, Replayed, parse_cut, replay

LIST_SHOWN_MAX = 12  # longer lists and maps are counted; --json gives them whole


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


@cli.command("replay")
def replay_command(
    kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(KINDS)}.")],
    key: Annotated[str, typer.Argument(help="; ".join(f"{k}: {h}"
                                                      for k, h in KEY_HELP.items()))],
    as_of: Annotated[str | None, typer.Option(
        help="Business date YYYY-MM-DD: what was true then.")] = None,
    known_at: Annotated[str | None, typer.Option(
        help="Recorded time (ISO 8601, UTC unless a zone is given; a date alone is that "
             "day's end): what the ledger said then.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The whole answer as JSON.")] = False,
) -> None:
    """An aggregate as it stood at a business date and/or a recorded time, from its events."""
    day, moment = run(lambda: parse_cut(as_of, known_at))
    with ledger() as app:
        result = run(lambda: replay(app, kind, key, as_of=day, known_at=moment))
    if as_json:
        sys.stdout.write(_dump(result.to_json()) + "\n")
    else:
        print_replayed(result)


def print_replayed(r: Replayed) -> None:
    cuts = [f"as of {r.as_of}" if r.as_of else "", f"known at {r.known_at.isoformat()}"
            if r.known_at else ""]
    cut = " and ".join(c for c in cuts if c) or "now"
    out.print(escape(f"{r.kind} {r.key} ({r.aggregate_id}), {cut}: {r.events_included} events "
                     f"folded in {r.order.replace('_', '-')} order"
                     + (f", {r.events_dated_later} recorded but dated later left out"
                        if r.events_dated_later else "")))
    e = r.last_event
    out.print(escape(f"last event: {e.event} v{e.originator_version} of {e.originator_id} at "
                     f"log position {e.position}, dated {e.business_date}, recorded "
                     f"{e.recorded_at.isoformat()}"))
    for name, value in r.state.items():
        if isinstance(value, list | dict) and len(value) > LIST_SHOWN_MAX:
            shown = f"{len(value)} entries (--json shows them)"
        elif name.endswith("_fen") and isinstance(value, int):
            shown = f"{value} fen ({format_fen(value)} yuan)"
        else:
            shown = json.dumps(value, ensure_ascii=False)
        out.print(escape(f"  {name}: {shown}"))


@cli.command("history")
def history_command(
    community_code: str,
    after: Annotated[int, typer.Option(help="Log position to continue after.")] = 0,
    limit: Annotated[int, typer.Option(help=f"Events per page, 1 to {HISTORY_LIMIT_MAX}.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="The page as JSON.")] = False,
) -> None:
    """A community's events in log order, a page at a time, with every field."""
    with ledger() as app:
        page = run(lambda: community_history(app, community_code, after, limit))
    if as_json:
        sys.stdout.write(_dump(page.to_json()) + "\n")
        return
    for event in page.events:
        ref = event.ref
        fields = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}"
                           for k, v in event.fields.items() if k != "originator_topic")
        out.print(escape(f"{ref.position} {ref.business_date or '-'} {ref.event} "
                         f"v{ref.originator_version} of {ref.originator_id} recorded "
                         f"{ref.recorded_at.isoformat()}: {fields}"), soft_wrap=True)
    if page.at_end:
        out.print(f"{len(page.events)} events; the end of the log (position {page.next_after})")
    else:
        out.print(f"{len(page.events)} events; more with --after {page.next_after}")


@cli.command("disclosure")
def disclosure_command(
    community_code: str,
    year: Annotated[int, typer.Option(help="The calendar year disclosed.")],
    csv_file: Annotated[Path | None, typer.Option("--csv", dir_okay=False,
                                                  help="Write the CSV here.")] = None,
    html_file: Annotated[Path | None, typer.Option("--html", dir_okay=False,
                                                   help="Write the printable page here.")] = None,
) -> None:
    """The yearly disclosure (F10): totals, projects charged with their split, each unit."""
    with ledger() as app:
        result = run(lambda: disclosure(app, community_code, year))
    if csv_file is not None:
        csv_file.write_text(to_csv(result), encoding="utf-8")
    if html_file is not None:
        html_file.write_text(to_html(result), encoding="utf-8")
    out.print(escape(
        f"{result.community_name} ({result.community_code}) {year}: opening "
        f"{format_fen(result.total('opening_balance_fen'))}, deposits "
        f"{format_fen(result.total('deposits_fen'))}, income "
        f"{format_fen(result.total('income_fen'))}, use {format_fen(result.total('use_fen'))}, "
        f"refunds {format_fen(result.total('refunds_fen'))}, closing "
        f"{format_fen(result.balance_fen)} yuan (bank {format_fen(result.bank_balance_fen)}); "
        f"{len(result.projects)} projects, {len(result.units)} units"))
    for path in (csv_file, html_file):
        if path is not None:
            out.print(escape(f"written: {path}"))
    problems = result.problems()
    answer({"community_code": result.community_code, "year": year,
            "opening_balance_fen": result.total("opening_balance_fen"),
            "deposits_fen": result.total("deposits_fen"), "income_fen": result.total("income_fen"),
            "use_fen": result.total("use_fen"), "refunds_fen": result.total("refunds_fen"),
            "balance_fen": result.balance_fen, "bank_balance_fen": result.bank_balance_fen,
            "projects": len(result.projects), "units": len(result.units),
            "files": [str(p) for p in (csv_file, html_file) if p is not None],
            "problems": list(problems)})
    for problem in problems:
        err.print(f"[red]does not add up:[/] {escape(problem)}")
    if problems:
        raise typer.Exit(1)
