"""``fundledger``: the command line for fund custodians, officials and auditors.

Like the HTTP app it only translates: text in, a command on the application, text out.
Domain errors become a one-line message on stderr naming the rule and field, exit code 2.
Each area's commands live in their own module and register on the one Typer app.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from api import cli_enterprises, cli_funds  # noqa: F401  (registers their commands)
from api.cli_common import cli, err, ledger, out, run
from ledger.demo import build_demo
from ledger.settings import Settings


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
        last = app.recorder.max_notification_id()
    seconds = time.perf_counter() - started
    out.print(f"[bold]fundledger demo[/] on {settings.db} in {seconds:.1f} s: "
              f"{summary.communities} communities, {summary.units} units, "
              f"{summary.deposits_posted} deposits posted "
              f"({summary.deposits_already} already there), "
              f"{summary.income_allocations} interest allocations, {summary.sales} sale, "
              f"{summary.withdrawals} emergency withdrawal; the log holds {last} events.")
    out.print("Look further:")
    for command in (
        "fundledger statement CY-0003 --as-of 2026-12-31",
        "fundledger statement CY-0003 --unit 3-601 --json",
        "fundledger statement CY-0001 --unit 2-1203 --as-of 2026-09-01",
        f"fundledger import deposits {summary.files[1]}   # a second time posts nothing",
    ):
        out.print(f"  {command}")


def main() -> None:
    cli()
