"""``fundledger``: the command line for fund custodians, officials and auditors.

Like the HTTP app it only translates: text in, a command on the application, text out.
Errors become a one-line message on stderr and a documented exit code
(``api.cli_common.EXIT_CODES``). Each area's commands live in their own module and register
on the one Typer app; ``api.cli_conventions`` then gives each its ``--json``.
"""

from __future__ import annotations

import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from api import (  # noqa: F401  (each registers its commands)
    cli_enterprises,
    cli_funds,
    cli_governance,
    cli_migrate,
    cli_owners,
    cli_projections,
    cli_relay,
    cli_replay,
    cli_serve,
    cli_shards,
    cli_verify,
)
from api.cli_common import (
    EXIT_CHECK_FAILED,
    EXIT_CODES_HELP,
    answer,
    cli,
    err,
    ledger,
    out,
    run,
)
from api.cli_conventions import apply_conventions
from api.cli_enterprises import print_ranking
from api.demo import build_demo
from api.demo_governance import COMMUNITY, ELECTION, FUND_VOTE
from api.web.identity import SignIn
from domain.credit import Period
from ledger.persistence.access_tables import open_access_tables
from ledger.persistence.web_tables import open_web_tables
from ledger.settings import Settings
from projections.seal.sealer import seal_and_checkpoint


@cli.command()
def demo(
    folder: Annotated[Path, typer.Option(help="Where the demo's CSV files are written.")] = Path(
        "fundledger-demo"),
) -> None:
    """Build a realistic sample city on the configured store (default ./fundledger.db)."""
    started = time.perf_counter()
    settings = Settings()
    with ledger() as app, err.status("building the demo") as status:
        summary = run(lambda: build_demo(app, folder, progress=status.update))
        status.update("sealing the log (hash chains and a signed checkpoint)")
        sealed, checkpoint = seal_and_checkpoint(app)
        last = app.recorder.max_notification_id()
        names = {e.credit_code: e.name for e in app.enterprises()}
        scheme = app.credit_scheme.name
        invited = None
        if summary.demo_owner is not None:
            signin = SignIn(app, open_web_tables(app.recorder),
                            open_access_tables(app.recorder))
            invited = signin.invite(COMMUNITY, summary.demo_owner, issued_by="demo")
    seconds = time.perf_counter() - started
    answer({"communities": summary.communities, "units": summary.units,
            "deposits_posted": summary.deposits_posted,
            "deposits_already": summary.deposits_already, "log_length": last,
            "sealed": sealed, "checkpoint_position": checkpoint.position if checkpoint else None,
            "sign_in_link": invited.link(BASE_URL) if invited is not None else None})
    out.print(f"[bold]fundledger demo[/] on {settings.db} in {seconds:.1f} s: "
              f"{summary.communities} communities, {summary.units} units, "
              f"{summary.deposits_posted} deposits posted "
              f"({summary.deposits_already} already there), "
              f"{summary.income_allocations} interest allocations, {summary.sales} sale, "
              f"an emergency roof repair; the log holds {last} events, {sealed} newly sealed"
              + (f", under a checkpoint signed at position {checkpoint.position}."
                 if checkpoint else "."))
    for title, result in (("owners' committee election", summary.election),
                          ("fund-use vote (pumps, building 2)", summary.fund_vote)):
        if result is not None:
            elected = f", elected {', '.join(result.elected)}" if result.elected else ""
            out.print(f"{title} in {COMMUNITY}: {result.participating_heads}/"
                      f"{result.electorate_heads} voters took part, "
                      f"{result.agreeing_heads} agreed: "
                      f"{'passed' if result.passed else 'failed'}{elected}")
    print_ranking(Period.parse("2026H2"), summary.ranking, names, scheme)
    out.print("Look further:")
    for command in (
        "fundledger statement CY-0003 --as-of 2026-12-31",
        "fundledger statement CY-0003 --unit 3-601 --json",
        "fundledger statement CY-0001 --unit 2-1203 --as-of 2026-09-01",
        f"fundledger vote tally {COMMUNITY}/{FUND_VOTE}",
        f"fundledger vote tally {COMMUNITY}/{ELECTION} --json",
        f"fundledger credit {summary.ranking[-1].enterprise_code} --period 2026H2"
        if summary.ranking else "fundledger ranking --period 2026H2",
        f"fundledger import deposits {summary.files[1]}  # again: nothing",
        "fundledger verify   # recompute every hash chain and the signed checkpoint",
        "fundledger replay unit CY-0001/2-1203 --as-of 2026-09-01",
        "fundledger serve    # the API (docs at /docs) and the owners' pages (/web/)",
    ):
        out.print(f"  {command}")
    if invited is not None:
        # What a letter to the owner would carry: the pages need `fundledger serve`.
        out.print(f"Owners' pages: run `fundledger serve`, then open this one-time sign-in "
                  f"link for owner {invited.owner_id} (unit {', '.join(invited.unit_keys)} "
                  f"of {COMMUNITY}, one open vote):")
        out.print(f"  {invited.link(BASE_URL)}", soft_wrap=True)


BASE_URL = "http://127.0.0.1:8000"
DEBUG_FLAG = "--debug"


def _version() -> str:
    try:
        return version("fundledger")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"fundledger {_version()}")
        raise typer.Exit()


@cli.callback(epilog=EXIT_CODES_HELP)
def _options(
    debug: Annotated[bool, typer.Option(
        DEBUG_FLAG, help="On an unexpected error, print its whole traceback.")] = False,
    show_version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the version and exit.")] = False,
) -> None:
    """fundledger: residential maintenance funds, as an event-sourced ledger.

    Settings come from FUNDLEDGER_* variables and a .env file in the working directory
    (FUNDLEDGER_DB: a SQLite path or a postgresql:// URL). Every command that reads or
    writes takes --json. Shell completion: --install-completion.
    """


def main() -> None:
    """Run a command; an error nobody foresaw is one line on stderr, exit 1.

    A traceback tells a custodian nothing and may print connection details or file contents,
    so it is shown only with ``--debug`` (before the command's name).
    """
    debug = DEBUG_FLAG in sys.argv[1:]
    try:
        cli()
    except Exception as error:
        if debug:
            raise
        message = str(error).strip().splitlines()
        err.print(f"[red]error:[/] {type(error).__name__}"
                  + (f": {escape(message[0])}" if message else "")
                  + f" (run again with {DEBUG_FLAG} for the details)", soft_wrap=True)
        sys.exit(EXIT_CHECK_FAILED)


# Last, once every command (here and in the modules imported above) is registered.
apply_conventions(cli)
