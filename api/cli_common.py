"""What every ``fundledger`` command shares: the app objects, errors, dates, the actor.

Like the HTTP app it only translates: text in, a command on the application, text out.
Domain errors become a one-line message on stderr naming the rule and field, exit code 2.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from domain.errors import BatchRejected, DomainError
from domain.identifiers import normalise
from ledger.application import FundLedger
from ledger.csv_files import parse_date
from ledger.settings import Settings

T = TypeVar("T")

# Tracebacks are for --debug; a user sees one line (see ``api.cli.main``).
cli = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="fundledger: residential maintenance funds, as an event-sourced ledger.")
import_cli = typer.Typer(no_args_is_help=True, help="Import register and bank files (CSV).")
cli.add_typer(import_cli, name="import")
out = Console()
err = Console(stderr=True)

ActorOption = Annotated[str, typer.Option(envvar="FUNDLEDGER_ACTOR",
                                          help="Who is acting, recorded in every event.")]


def id_option(**settings: Any) -> Any:
    """An option naming an identifier, normalised as on every entry point (NFKC, trimmed:
    ``domain.identifiers``), so ``--reference HG-１`` is ``HG-1``; the domain refuses what
    is still outside the identifier's character set."""
    return typer.Option(parser=normalise, **settings)


def id_argument(**settings: Any) -> Any:
    """An argument naming an identifier, normalised as ``id_option`` says."""
    return typer.Argument(parser=normalise, **settings)


Identifier = Annotated[str, id_argument()]


DEFAULT_ACTOR = f"cli:{getpass.getuser()}"


@contextmanager
def ledger() -> Iterator[FundLedger]:
    app = FundLedger(Settings())
    try:
        yield app
    finally:
        app.close()


def run(action: Callable[[], T]) -> T:
    """Turn a refused command into a clear message and exit code 2; nothing was written."""
    try:
        return action()
    except BatchRejected as error:
        err.print(f"[red]rejected, nothing posted:[/] line {error.line}, field "
                  f"{error.field or '-'}, rule {error.rule}: {escape(error.error.message)}")
    except DomainError as error:
        err.print(f"[red]refused ({error.kind}):[/] field {error.field or '-'}, rule "
                  f"{error.rule}: {escape(error.message)}")
    raise typer.Exit(2)


def as_date(text: str | None, field: str) -> date | None:
    return None if text is None else run(lambda: parse_date(text, field))


@contextmanager
def progress_bar() -> Iterator[Progress]:
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        yield bar


def required_date(text: str, field: str) -> date:
    """A date option the command cannot do without, parsed or refused (exit 2)."""
    return run(lambda: parse_date(text, field))
