"""What every ``fundledger`` command shares: the app objects, errors, dates, the actor.

Like the HTTP app it only translates: text in, a command on the application, text out.
Errors become a one-line message on stderr and an exit code (``EXIT_CODES``): a domain
refusal names the rule and field (3, or 4 for a conflict); a database that is missing or
unreachable is 5. ``api.cli_conventions`` gives every command its ``--json``.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
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
from ledger.persistence.preflight import check_database
from ledger.settings import Settings

T = TypeVar("T")

# Tracebacks are for --debug; a user sees one line (see ``api.cli.main``).
# Exit codes, the same for every command (README "Exit codes", ``fundledger --help``).
EXIT_OK = 0
EXIT_CHECK_FAILED = 1  # verify found tampering, a recount differs; or an unforeseen error
EXIT_USAGE = 2  # the command line is malformed (unknown option, missing argument, ...)
# The ledger refused by a rule (a DomainError: a value's form too, e.g. a date or an amount),
# or what was named is not there.
EXIT_REFUSED = 3
EXIT_CONFLICT = 4  # a conflict: already there differently, or a writer kept winning the race
EXIT_UNAVAILABLE = 5  # the database is unreachable, missing, or holds no ledger
EXIT_CODES = {
    EXIT_OK: "ok",
    EXIT_CHECK_FAILED: "a check failed (verify, recount), or an unforeseen error",
    EXIT_USAGE: "usage: the command line is malformed",
    EXIT_REFUSED: "refused by a rule of the ledger, or not found",
    EXIT_CONFLICT: "conflict (already recorded differently, or a concurrent writer)",
    EXIT_UNAVAILABLE: "database unavailable: unreachable, missing, or without a ledger",
}
EXIT_CODES_HELP = "Exit codes: " + "; ".join(f"{code} {what}" for code, what in EXIT_CODES.items())

cli = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False,
                  epilog=EXIT_CODES_HELP,
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


@dataclass
class Invocation:
    """The running command, as ``api.cli_conventions`` set it up: its name, whether it
    answers JSON, whether it may start a new ledger, what it wrote and answered."""

    command: str
    as_json: bool = False
    may_create: bool = False
    params: dict[str, Any] = field(default_factory=dict)  # its arguments, by parameter name
    answer: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    positions: list[int] = field(default_factory=list)
    events: int = 0


invocation: ContextVar[Invocation | None] = ContextVar("invocation", default=None)


def answer(data: dict[str, Any]) -> None:
    """What the running command answers with ``--json`` (its text goes to the console)."""
    current = invocation.get()
    if current is not None:
        current.answer = {**(current.answer or {}), **data}


def json_mode() -> bool:
    current = invocation.get()
    return current is not None and current.as_json


@contextmanager
def ledger() -> Iterator[FundLedger]:
    """The ledger on the configured store, for one command.

    Unless the command may start a new ledger (``demo``, ``import units``, ``tokens create``,
    ``serve``), the database must be there and hold the ledger's tables: a mistyped path
    is refused (exit 5), never created. An unreachable server fails within the connect
    timeout (exit 5). What the command writes to the log is noted for its ``--json``.
    """
    settings = Settings()
    if settings.shards:  # issue 20: this command's shard (api.cli_shards)
        from api.cli_shards import routed_settings

        settings = run(lambda: routed_settings(settings))
    current = invocation.get()
    check_database(settings, may_create=current is None or current.may_create)
    app = FundLedger(settings)
    if current is not None:
        _note_writes(app, current)
    try:
        yield app
    finally:
        app.close()


def _note_writes(app: FundLedger, current: Invocation) -> None:
    """Note each save's last log position and its number of events, for the answer."""
    insert_events = app.recorder.insert_events

    def noting(stored_events: Sequence[Any], **kwargs: Any) -> Any:
        ids = insert_events(stored_events, **kwargs)
        if ids:
            current.positions.append(max(ids))
            current.events += len(ids)
        return ids

    setattr(app.recorder, "insert_events", noting)  # noqa: B010  (an instance's method)


def refusal_exit(error: DomainError) -> int:
    """A domain refusal's exit code: 4 for a conflict, 3 for any other rule."""
    return EXIT_CONFLICT if error.kind == "conflict" else EXIT_REFUSED


def refuse(error: DomainError, line: int | None = None) -> typer.Exit:
    """The exit for a refusal already printed; ``--json`` answers it as the error."""
    current = invocation.get()
    if current is not None:
        current.error = {"kind": error.kind, "rule": error.rule, "field": error.field,
                         "message": error.message, **({"line": line} if line else {})}
    return typer.Exit(refusal_exit(error))


def run(action: Callable[[], T]) -> T:
    """Turn a refused command into a clear message and exit code 3 (4 for a conflict);
    nothing was written."""
    try:
        return action()
    except BatchRejected as error:
        err.print(f"[red]rejected, nothing posted:[/] line {error.line}, field "
                  f"{error.field or '-'}, rule {error.rule}: {escape(error.error.message)}")
        raise refuse(error.error, error.line) from None
    except DomainError as error:
        err.print(f"[red]refused ({error.kind}):[/] field {error.field or '-'}, rule "
                  f"{error.rule}: {escape(error.message)}")
        raise refuse(error) from None


def as_date(text: str | None, field: str) -> date | None:
    return None if text is None else run(lambda: parse_date(text, field))


@contextmanager
def progress_bar() -> Iterator[Progress]:
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        yield bar


def required_date(text: str, field: str) -> date:
    """A date option the command cannot do without, parsed or refused (exit 3)."""
    return run(lambda: parse_date(text, field))
