"""What every ``fundledger`` command does the same way: ``--json``, exit codes, the database.

``apply_conventions(cli)`` runs once, after every command is registered (end of
``api.cli``). It wraps each command's function so that

* it takes ``--json`` (unless it has its own): the human text then goes nowhere, and stdout
  is one JSON object: what the command answered (``cli_common.answer``), and for a command
  that wrote to the log, ``written`` (the HTTP API's word for it, ``WRITTEN``), ``position``
  (the highest log position it wrote, null if it wrote nothing: found already there) and
  ``events`` (how many it wrote); a refusal is ``{"error": {kind, rule, field,
  message}}`` with the same exit code;
* only the commands in ``MAY_CREATE`` (and ``MAY_CREATE_WHEN_FOLLOWING`` with ``--follow``)
  may start a new ledger; any other one on a missing
  SQLite file, or a PostgreSQL database/schema without the ledger's tables, exits 5 with one
  line and creates nothing (``ledger.persistence.preflight``);
* a database that cannot be reached, or is lost mid-command, is one line naming it, exit 5;
  a writer that keeps losing the race (a version conflict after every retry) exits 4.
"""

from __future__ import annotations

import functools
import inspect
import io
import json
import sys
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import typer
from eventsourcing.persistence import IntegrityError, OperationalError
from rich.markup import escape

from api.cli_common import (
    EXIT_CHECK_FAILED,
    EXIT_CONFLICT,
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    Invocation,
    err,
    invocation,
    out,
)
from ledger.persistence.migrations import SchemaVersionError
from ledger.persistence.preflight import DatabaseProblem
from ledger.settings import Settings

JSON_OPTION = "--json"
DEBUG_FLAG = "--debug"
JSON_HELP = "Answer one JSON object on stdout (what was read, or what was written and its " \
            "log position)."

# Commands that may start a new ledger: every other one needs an existing database. The
# services of a deployment (the API, the views' runner, the sealer, the relay) may start in
# any order on a fresh database, so those that run until stopped may create it too.
MAY_CREATE = frozenset({"demo", "import units", "tokens create", "tokens issue", "serve",
                        "relay nats", "migrate"})
MAY_CREATE_WHEN_FOLLOWING = frozenset({"projections run", "seal"})  # with --follow

# Commands that run until stopped, whose output is a stream of progress, not one answer:
# a JSON object at the end would never come. (``seal --follow`` and ``projections run
# --follow`` do too, but without ``--follow`` they answer once, so they take --json.)
NO_JSON = frozenset({
    "serve",  # the HTTP API: answers requests, in JSON, at /docs
    "relay nats",  # publishes the log to NATS until Ctrl-C
})

# What each writing command wrote, in the HTTP API's ``written`` vocabulary where the API
# has the same write (api/http/routes_*.py); a command may answer a more precise word
# (``withdraw`` answers its posting's kind).
WRITTEN = {
    "demo": "demo",
    "import units": "registration",
    "import deposits": "deposit-batch",
    "withdraw": "withdrawal",
    "declare-emergency": "emergency",
    "allocate-income": "income",
    "sell": "sale",
    "refund": "refund",
    "deliver": "delivery",
    "seal": "seal",
    "checkpoint": "checkpoint",
    "proof": "seal",  # sealing and signing a checkpoint first, as export does
    "export": "seal",
    "enterprise register": "enterprise",
    "enterprise enter": "service-contract",
    "enterprise self-manage": "self-management",
    "enterprise notice": "notice",
    "enterprise terminate": "termination",
    "enterprise handover": "handover",
    "enterprise check-handovers": "handover-check",
    "enterprise credit-event": "credit-event",
    "vote propose": "vote",
    "vote nominate": "nomination",
    "vote publish": "publication",
    "vote open": "opening",
    "vote ballot": "ballot",
    "vote ballots": "paper-ballots",
    "vote close": "tally",
    "committee form": "owners-committee",
    "committee file": "filing",
    "committee party-coverage": "party-coverage",
    "committee member-left": "member-left",
    "custody decide": "custody-decision",
    "custody complete": "custody-transfer",
    "owners invite": "sign-in-code",
    "owners revoke": "sign-in-revocation",
    "tokens create": "token",
    "tokens issue": "token",
    "tokens rotate": "token-rotation",
    "tokens revoke": "token-revocation",
    "projections rebuild": "view-rebuild",
    "migrate": "migration",  # api/cli_migrate.py: the schema, not the log
}
# Writes beside the log (seals and checkpoints, tokens, sign-in codes, a view's tables, the
# schema): no log position to give.
BESIDE_THE_LOG = frozenset({"seal", "checkpoint", "proof", "export",
                            "tokens create", "tokens issue", "tokens rotate", "tokens revoke",
                            "owners invite", "owners revoke", "projections rebuild", "migrate"})


def command_infos(app: typer.Typer, prefix: tuple[str, ...] = ()
                  ) -> Iterator[tuple[str, typer.models.CommandInfo]]:
    """Every command of ``app`` with its full name (``tokens list``), groups included."""
    for info in app.registered_commands:
        assert info.callback is not None
        name = info.name or info.callback.__name__.lower().replace("_", "-")
        yield " ".join((*prefix, name)), info
    for group in app.registered_groups:
        assert group.typer_instance is not None and group.name is not None
        yield from command_infos(group.typer_instance, (*prefix, group.name))


def has_own_json(callback: Callable[..., Any]) -> bool:
    return "as_json" in inspect.signature(callback).parameters


def apply_conventions(app: typer.Typer) -> None:
    """Wrap every command of ``app`` (once) as the module docstring says."""
    for name, info in command_infos(app):
        assert info.callback is not None
        if getattr(info.callback, "_conventions", False):
            continue
        info.callback = _wrapped(name, info.callback)


def _wrapped(name: str, callback: Callable[..., Any]) -> Callable[..., Any]:
    own_json = has_own_json(callback)
    adds_json = not own_json and name not in NO_JSON

    @functools.wraps(callback)
    def command(**kwargs: Any) -> None:
        as_json = bool(kwargs.pop("as_json", False) if adds_json else
                       kwargs.get("as_json", False))
        may_create = name in MAY_CREATE or (
            name in MAY_CREATE_WHEN_FOLLOWING and bool(kwargs.get("follow")))
        current = Invocation(name, as_json=as_json, may_create=may_create,
                             params=dict(kwargs))
        token = invocation.set(current)
        captured = io.StringIO()
        # Rich's own attribute: None means "sys.stdout when printing", which must stay so
        # (a test runner swaps sys.stdout per invocation).
        console_file = out._file
        if as_json and adds_json:
            out.file = captured  # the human text; the JSON answer replaces it
        code = 0
        try:
            callback(**kwargs)
        except typer.Exit as stop:
            code = stop.exit_code
            raise
        except (DatabaseProblem, SchemaVersionError, OperationalError, IntegrityError) as error:
            if DEBUG_FLAG in sys.argv[1:]:
                code = EXIT_CHECK_FAILED
                raise  # the whole traceback, as ``api.cli.main`` gives for any error
            code = _one_line(current, error)
            raise typer.Exit(code) from None
        finally:
            out._file = console_file
            invocation.reset(token)
            if as_json and adds_json:
                _answer_json(current, captured.getvalue(), code)
            elif as_json and code != 0 and current.error is not None:
                # A command with its own --json answers its data; a refusal is ours to say.
                _write_json({"error": current.error})

    parameters = list(inspect.signature(callback, eval_str=True).parameters.values())
    if adds_json:
        parameters.append(inspect.Parameter(
            "as_json", inspect.Parameter.KEYWORD_ONLY, default=False,
            annotation=Annotated[bool, typer.Option(JSON_OPTION, help=JSON_HELP)]))
        command.__annotations__ = {**command.__annotations__, "as_json": Annotated[
            bool, typer.Option(JSON_OPTION, help=JSON_HELP)]}
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command._conventions = True  # type: ignore[attr-defined]
    return command


EXIT_KINDS = {EXIT_CHECK_FAILED: "check_failed", EXIT_USAGE: "usage", EXIT_REFUSED: "refused",
              EXIT_CONFLICT: "conflict", EXIT_UNAVAILABLE: "unavailable"}


def _one_line(current: Invocation, error: Exception) -> int:
    """Say a database error in one line; its exit code."""
    if isinstance(error, DatabaseProblem):
        _fail(current, "database-unavailable", str(error))
        return EXIT_UNAVAILABLE
    if isinstance(error, SchemaVersionError):  # usable once migrated (or by newer code)
        _fail(current, "schema-version", str(error))
        return EXIT_UNAVAILABLE
    if isinstance(error, IntegrityError):  # a version conflict that outlasted every retry
        _fail(current, "conflict", "a concurrent writer kept changing the same records, "
                                   f"nothing written: {_first_line(error)}")
        return EXIT_CONFLICT
    # An OperationalError: the database was lost or became unavailable mid-command.
    _fail(current, "database-unavailable",
          f"{Settings().describe_db()} became unavailable: {_first_line(error)}")
    return EXIT_UNAVAILABLE


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _fail(current: Invocation, rule: str, message: str) -> None:
    err.print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
    current.error = {"kind": "conflict" if rule == "conflict" else "unavailable",
                     "rule": rule, "field": None, "message": message}


def _answer_json(current: Invocation, text: str, code: int) -> None:
    """The one JSON object a ``--json`` command prints."""
    if current.error is not None and code != 0:
        body: dict[str, Any] = {"error": current.error}
    elif code != 0 and current.answer is None:
        # Refused before anything was read (a usage error the command checked itself).
        body = {"error": {"kind": EXIT_KINDS.get(code, "error"), "exit_code": code,
                          "message": " ".join(text.split()) or None}}
    else:
        body = {}
        word = WRITTEN.get(current.command)
        if word is not None:
            body["written"] = word
            if current.command not in BESIDE_THE_LOG:
                body["position"] = max(current.positions, default=None)
                body["events"] = current.events
        body.update(current.answer or {})
        if current.answer is None:
            # No structured answer: the text a person would have read, line by line.
            body["text"] = [line.rstrip() for line in text.splitlines() if line.strip()]
    _write_json(body)


def _write_json(body: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(body, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()
