"""``fundledger`` as operations run it: configuration, exit codes, ``--json`` everywhere.

The commands are enumerated from the Typer app itself, so a new command fails here until it
takes ``--json`` (or is allowed not to, in ``api.cli_conventions.NO_JSON``) and, if it only
reads, until ``READ_ARGS`` says how to call it on the demo.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import typer.main
from typer.testing import CliRunner

import api.cli  # noqa: F401  (importing it registers every command and the conventions)
from api.cli_common import (
    EXIT_CHECK_FAILED,
    EXIT_CONFLICT,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    cli,
)
from api.cli_conventions import MAY_CREATE, NO_JSON, WRITTEN, command_infos
from api.demo_governance import COMMUNITY, FUND_VOTE
from ledger.application import FundLedger
from ledger.settings import Settings
from tests.e2e.test_cli import DEPOSITS_CSV, UNITS_CSV

# How to call each command that only reads, on the demo. (``vote receipt`` is given a
# receipt no ballot has: the check fails, exit 1, and still answers JSON.)
READ_ARGS: dict[str, tuple[list[str], int]] = {
    "credit": (["{enterprise}", "--period", "2026H2"], EXIT_OK),
    "ranking": (["--period", "2026H2"], EXIT_OK),
    "statement": (["CY-0003", "--unit", "3-601"], EXIT_OK),
    "replay": (["unit", "CY-0001/2-1203", "--as-of", "2026-09-01"], EXIT_OK),
    "history": (["CY-0003", "--limit", "5"], EXIT_OK),
    "disclosure": (["CY-0003", "--year", "2026"], EXIT_OK),
    "public-key": ([], EXIT_OK),
    "verify": ([], EXIT_OK),
    "vote receipt": ([f"{COMMUNITY}/{FUND_VOTE}", "0" * 64], EXIT_CHECK_FAILED),
    "vote tally": ([f"{COMMUNITY}/{FUND_VOTE}"], EXIT_OK),
    "projections run": ([], EXIT_OK),
    "projections status": ([], EXIT_OK),
    "projections checksum": (["balance"], EXIT_OK),
    "tokens list": (["--all"], EXIT_OK),
    "backup": (["{folder}/copy.db"], EXIT_OK),  # reads the log, writes a file beside it
}
# Reads that never open the database (the signing key is a file of its own).
NO_DATABASE = frozenset({"public-key"})
FAST_FAIL_S = 5.0
runner = CliRunner()


def invoke(db: str, folder: Path, *args: str) -> Any:
    """One command in-process on ``db``, as a user's shell would run it."""
    return runner.invoke(cli, list(args), env={
        "FUNDLEDGER_DB": db, "FUNDLEDGER_ACTOR": "e2e",
        "FUNDLEDGER_SIGNING_KEY_FILE": str(folder / "signing.key"), "COLUMNS": "200"})


def answered(result: Any, code: int = EXIT_OK) -> dict[str, Any]:
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def read_commands() -> set[str]:
    # ``shards ...`` need a shard map, which the demo has not: test_shards.py runs them.
    return {name for name, _ in command_infos(cli)
            if not name.startswith("shards ")} - set(WRITTEN) - NO_JSON


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The demo city, built once for the module's reads."""
    folder = tmp_path_factory.mktemp("demo")
    db = str(folder / "demo.db")
    built = answered(invoke(db, folder, "demo", "--folder", str(folder / "csv"), "--json"))
    assert built["written"] == "demo" and built["position"] == built["log_length"]
    yield db, folder


@pytest.fixture
def small(db_url: str, tmp_path: Path) -> tuple[str, Path]:
    """A few units and one bank batch, through the CLI, on each store."""
    (tmp_path / "units.csv").write_text(UNITS_CSV, encoding="utf-8")
    (tmp_path / "deposits.csv").write_text(DEPOSITS_CSV, encoding="utf-8")
    db = db_url
    invoke(db, tmp_path, "import", "units", str(tmp_path / "units.csv"),
           "--registered-on", "2024-01-01")
    posted = answered(invoke(db, tmp_path, "import", "deposits", str(tmp_path / "deposits.csv"),
                             "--json"))
    assert posted["written"] == "deposit-batch" and posted["posted"] == 4
    return db, tmp_path


def log_length(db: str) -> int:
    app = FundLedger(Settings(db=db))
    try:
        return app.recorder.max_notification_id() or 0
    finally:
        app.close()


def delete_last_event(db: str) -> None:
    if db.startswith("postgresql"):
        base, schema = db.split("?schema=")
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DELETE FROM "{schema}".fundledger_events WHERE notification_id = '
                         f'(SELECT max(notification_id) FROM "{schema}".fundledger_events)')
    else:
        with sqlite3.connect(db) as conn:
            conn.execute("DELETE FROM stored_events WHERE rowid = (SELECT max(rowid) FROM "
                         "stored_events)")


# -- --json on every command ------------------------------------------------------------

def test_every_command_but_the_long_running_ones_takes_json() -> None:
    root = typer.main.get_command(cli)

    def walk(group: Any, prefix: str) -> Iterator[tuple[str, Any]]:
        for name, command in group.commands.items():
            path = f"{prefix}{name}"
            if hasattr(command, "commands"):
                yield from walk(command, path + " ")
            else:
                yield path, command

    commands = dict(walk(root, ""))
    assert len(commands) > 50
    without = {path for path, command in commands.items()
               if "--json" not in {o for p in command.params for o in p.opts}}
    assert without == set(NO_JSON)
    assert read_commands() == set(READ_ARGS), "a read command needs its READ_ARGS entry"


def test_every_read_commands_json_parses(demo: tuple[str, Path]) -> None:
    db, folder = demo
    ranking = answered(invoke(db, folder, "ranking", "--period", "2026H2", "--json"))
    enterprise = ranking["ranking"][0]["enterprise_code"]
    before = log_length(db)
    for name, (args, code) in READ_ARGS.items():
        argv = [*name.split(),
                *(a.format(enterprise=enterprise, folder=folder) for a in args), "--json"]
        parsed = answered(invoke(db, folder, *argv), code)
        assert isinstance(parsed, dict) and parsed, name
        assert "text" not in parsed, f"{name} answers structured JSON, not its text"
        assert "error" not in parsed, (name, parsed)
    assert log_length(db) == before  # reads wrote nothing to the log


def test_a_write_answers_what_it_wrote_and_its_log_position(small: tuple[str, Path]) -> None:
    db, folder = small
    before = log_length(db)
    args = ["allocate-income", "CY-E2E", "--reference", "INT-1", "--amount-yuan", "12.34",
            "--received-on", "2024-06-30", "--json"]
    first = answered(invoke(db, folder, *args))
    assert first["written"] == "income" and first["already_posted"] is False
    assert first["position"] == log_length(db) > before and first["events"] > 0
    again = answered(invoke(db, folder, *args))  # the same reference: found, nothing written
    assert again["already_posted"] is True and again["position"] is None
    assert again["events"] == 0 and log_length(db) == first["position"]


def test_tokens_list_json_never_holds_a_secret(small: tuple[str, Path]) -> None:
    db, folder = small
    made = answered(invoke(db, folder, "tokens", "create", "--role", "auditor", "--name",
                           "audit", "--expires-in", "90d", "--json"))
    other = answered(invoke(db, folder, "tokens", "create", "--role", "custodian", "--json"))
    answered(invoke(db, folder, "tokens", "revoke", other["token_id"], "--json"))
    listing = invoke(db, folder, "tokens", "list", "--all", "--json")
    tokens = answered(listing)["tokens"]
    assert {t["token_id"]: t["state"] for t in tokens} == {
        made["token_id"]: "live", other["token_id"]: "revoked"}
    assert tokens[0]["expires_at"] == made["expires_at"] is not None
    for secret in (made["token"], other["token"]):
        assert secret.startswith("flt_")
        # flt_<token id>_<secret>: the secret itself may hold "_" (URL-safe base64).
        assert secret not in listing.stdout and secret.split("_", 2)[2] not in listing.stdout
    live = answered(invoke(db, folder, "tokens", "list", "--json"))["tokens"]
    assert [t["token_id"] for t in live] == [made["token_id"]]


# -- exit codes ---------------------------------------------------------------------------

def test_each_exit_code_is_the_case_it_names(small: tuple[str, Path]) -> None:
    db, folder = small
    assert invoke(db, folder, "statement", "CY-E2E").exit_code == EXIT_OK
    assert invoke(db, folder, "statement", "CY-E2E", "--bogus").exit_code == EXIT_USAGE
    assert invoke(db, folder, "statement").exit_code == EXIT_USAGE  # missing argument

    before = log_length(db)
    rule = invoke(db, folder, "allocate-income", "CY-E2E", "--reference", "INT-2",
                  "--amount-yuan", "1e3", "--received-on", "2024-06-30", "--json")
    error = answered(rule, EXIT_REFUSED)["error"]
    assert error["rule"] == "amount-format" and error["field"] == "amount_yuan"
    assert log_length(db) == before
    assert invoke(db, folder, "statement", "CY-NONE").exit_code == EXIT_REFUSED  # not found

    invoke(db, folder, "tokens", "create", "--role", "auditor", "--name", "twice")
    conflict = invoke(db, folder, "tokens", "create", "--role", "auditor", "--name", "twice",
                      "--json")
    assert answered(conflict, EXIT_CONFLICT)["error"]["rule"] == "token-name"

    missing = invoke(str(folder / "typo.db"), folder, "statement", "CY-E2E")  # SQLite here
    assert missing.exit_code == EXIT_UNAVAILABLE and "typo.db" in missing.stderr

    assert invoke(db, folder, "seal").exit_code == EXIT_OK
    assert invoke(db, folder, "verify").exit_code == EXIT_OK
    delete_last_event(db)  # someone with access to the database
    tampered = invoke(db, folder, "verify", "--json")
    assert answered(tampered, EXIT_CHECK_FAILED)["verified"] is False
    assert "TAMPERED" in tampered.stderr


def test_help_and_version_say_the_exit_codes_and_the_version() -> None:
    helped = runner.invoke(cli, ["--help"], env={"COLUMNS": "200"})
    assert helped.exit_code == 0
    said = " ".join(helped.stdout.split())
    for code, word in ((1, "check failed"), (2, "usage"), (3, "rule"), (4, "conflict"),
                       (5, "unavailable")):
        assert f"{code} " in said and word in said
    assert "--install-completion" in said and "--show-completion" in said
    version = runner.invoke(cli, ["--version"])
    assert version.exit_code == 0 and version.stdout.startswith("fundledger ")
    assert version.stdout.split()[1][0].isdigit()


def test_shell_completion_completes_commands_and_subcommands(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "fundledger"  # the installed entry point
    if not script.exists():
        pytest.skip("fundledger is not installed in this environment")
    shown = subprocess.run([str(script), "--show-completion", "bash"], capture_output=True,
                           text=True, timeout=60, check=False)
    assert shown.returncode == 0 and "_FUNDLEDGER_COMPLETE" in shown.stdout
    for words, cword, expected in (("fundledger tok", "1", "tokens"),
                                   ("fundledger tokens l", "2", "list")):
        completed = subprocess.run([str(script)], capture_output=True, text=True, timeout=60,
                                   check=False, cwd=tmp_path, env={
                                       **os.environ, "_FUNDLEDGER_COMPLETE": "complete_bash",
                                       "COMP_WORDS": words, "COMP_CWORD": cword})
        assert completed.stdout.split() == [expected], completed.stdout


# -- the database: never created by a read, found or refused in seconds ---------------------

def test_no_read_command_creates_a_missing_sqlite_file(tmp_path: Path) -> None:
    typo = tmp_path / "fundleger.db"
    for name, (args, _) in READ_ARGS.items():
        argv = [*name.split(), *(a.format(enterprise="91110105MA01ABCD00", folder=tmp_path)
                         for a in args)]
        done = invoke(str(typo), tmp_path, *argv)
        assert not typo.exists(), f"{name} created {typo}"
        if name not in NO_DATABASE:
            assert done.exit_code == EXIT_UNAVAILABLE, (name, done.output)
            assert "no ledger at SQLite file" in done.stderr and str(typo) in done.stderr


def test_a_read_on_a_postgresql_schema_without_the_ledger_creates_nothing(pg_url: str,
                                                                          tmp_path: Path) -> None:
    done = invoke(pg_url, tmp_path, "statement", "CY-1", "--json")
    error = answered(done, EXIT_UNAVAILABLE)["error"]
    assert "no ledger" in error["message"] and "fundledger_events" in error["message"]
    schema = pg_url.rsplit("schema=", 1)[1]
    with psycopg.connect(pg_url.split("?")[0]) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s",
                              (schema,)).fetchone()
    assert tables == (0,)
    assert "schema" not in MAY_CREATE  # (and a command that may create one does)
    made = invoke(pg_url, tmp_path, "tokens", "create", "--role", "auditor", "--json")
    assert made.exit_code == EXIT_OK, made.output


def test_every_libpq_parameter_of_the_url_reaches_the_connection(pg_url: str) -> None:
    url = (f"{pg_url}&application_name=fundledger-e2e-check&sslmode=disable"
           "&options=-c%20statement_timeout%3D4321")
    app = FundLedger(Settings(db=url))
    try:
        with app.recorder.datastore.get_connection() as conn:
            name = conn.execute("SHOW application_name").fetchone()
            timeout = conn.execute("SHOW statement_timeout").fetchone()
            seen = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE "
                                "application_name = 'fundledger-e2e-check'").fetchone()
    finally:
        app.close()
    assert name is not None and next(iter(dict(name).values())) == "fundledger-e2e-check"
    assert timeout is not None and next(iter(dict(timeout).values())) == "4321ms"
    assert seen is not None and next(iter(dict(seen).values())) >= 1


def _subprocess(cwd: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess[str],
                                                            float]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FUNDLEDGER_")}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "ledger", *args], cwd=cwd,
                          env={**clean, "COLUMNS": "300", **env}, capture_output=True,
                          text=True, timeout=60, check=False)
    return done, time.monotonic() - started


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never answers: a hung or firewalled server."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def test_an_unreachable_database_fails_in_seconds_with_one_line(silent_port: int,
                                                                tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{silent_port}/fundledger"
    done, took = _subprocess(tmp_path, "statement", "CY-1", FUNDLEDGER_DB=url)
    assert done.returncode == EXIT_UNAVAILABLE, done.stderr
    assert took < FAST_FAIL_S, f"{took:.1f} s"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"127.0.0.1:{silent_port}" in lines[0] and "connect timeout 3 s" in lines[0]

    # The URL's own connect_timeout wins; a closed port is refused at once.
    done, _ = _subprocess(tmp_path, "verify", FUNDLEDGER_DB=f"{url}?connect_timeout=2")
    assert done.returncode == EXIT_UNAVAILABLE and "connect timeout 2 s" in done.stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    for args in (("tokens", "list"), ("serve", "--port", "1")):  # a service says it too
        done, took = _subprocess(tmp_path, *args,
                                 FUNDLEDGER_DB=f"postgresql://postgres@127.0.0.1:{closed}/x")
        assert done.returncode == EXIT_UNAVAILABLE and f"127.0.0.1:{closed}" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and took < FAST_FAIL_S, done.stderr


def test_a_dotenv_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("# the custodian's settings\nFUNDLEDGER_DB=from-dotenv.db\n",
                                   encoding="utf-8")
    args = ("tokens", "create", "--role", "auditor", "--json")
    done, _ = _subprocess(tmp_path, *args)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "from-dotenv.db").is_file()
    done, _ = _subprocess(tmp_path, *args, FUNDLEDGER_DB=str(tmp_path / "from-env.db"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "from-env.db").is_file()
    listed, _ = _subprocess(tmp_path, "tokens", "list", "--json")  # .env again: one token
    assert len(json.loads(listed.stdout)["tokens"]) == 1
