"""``fundledger serve`` (the HTTP API) and ``fundledger tokens`` (who may call it)."""

from __future__ import annotations

import os
import re
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import typer
import uvicorn
from rich.markup import escape
from rich.table import Column, Table
from uvicorn.supervisors import Multiprocess

from api.cli_common import (
    EXIT_USAGE,
    answer,
    cli,
    err,
    json_mode,
    ledger,
    out,
    refuse,
    run,
)
from domain.errors import NotFound
from ledger.access import Principal, Role, Scope, grantable, new_token, token_digest
from ledger.application import FundLedger
from ledger.persistence.access_tables import open_access_tables
from ledger.persistence.preflight import check_database
from ledger.settings import Settings
from ledger.shards import ShardRouter, load_shard_map

tokens_cli = typer.Typer(no_args_is_help=True,
                         help="API tokens: create, list, rotate and revoke.")
cli.add_typer(tokens_cli, name="tokens")


class LogFormatChoice(StrEnum):
    json = "json"
    human = "human"


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    follow_views: Annotated[bool | None, typer.Option(
        "--follow-views/--no-follow-views",
        help="Keep the views current in this process (default: on the embedded store "
             "only; on PostgreSQL run `fundledger projections run --follow`).")] = None,
    access_log: Annotated[bool, typer.Option(
        "--access-log/--no-access-log",
        help="Log a line per request (request id, principal id, route, status, duration; "
             "uvicorn's own access log stays off). Every response carries its X-Request-Id "
             "either way.")] = True,
    log_format: Annotated[LogFormatChoice | None, typer.Option(
        help="json (one object per line) or human; default FUNDLEDGER_LOG_FORMAT, else json "
             "unless stderr is a terminal.")] = None,
    workers: Annotated[int, typer.Option(
        min=1, help="Worker processes sharing the port (PostgreSQL only; each has its own "
                    "connection pool, and the views run in `fundledger projections run "
                    "--follow`).")] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs) on the configured store."""
    from api.http.app import create_app
    from api.http.request_log import announce, log_config, resolve_format
    from api.http.shard_gateway import create_gateway

    settings = Settings()
    # With a shard map, every shard's database and the city's (api.http.shard_gateway).
    databases = _databases(settings)
    for each in databases:
        # Unreachable: one line naming host and port within the connect timeout (exit 5),
        # rather than the pool's wait and uvicorn's startup failure. A fresh database is
        # fine: the API creates the ledger's tables.
        check_database(each, may_create=True)
        # Opening the ledger once checks its schema (migrating it where allowed), so an old
        # database is one line here, not a traceback from inside uvicorn's startup.
        FundLedger(each).close()
    if workers > 1:
        if not all(each.is_postgres for each in databases):
            err.print("[red]--workers above 1 needs PostgreSQL[/]: on the embedded store one "
                      "process writes and keeps the views current")
            raise typer.Exit(2)
        if follow_views:
            err.print("[red]--follow-views runs in one process[/]: with --workers, run "
                      "`fundledger projections run --follow` beside the API")
            raise typer.Exit(2)
    resolved = resolve_format(log_format.value if log_format else settings.log_format)
    logging = log_config(resolved, request_lines=access_log)
    where = (f"{len(databases) - 1} shards and the city database" if settings.shards
             else settings.describe_db())
    announce(resolved, f"fundledger API on {where}: "
             f"http://{host}:{port}/docs" + (f" ({workers} workers)" if workers > 1 else ""))
    if workers > 1:
        with _shared_metrics_dir():
            _serve_workers(workers, host, port, logging, sharded=bool(settings.shards))
        return
    app = (create_gateway(settings, follow_views=follow_views) if settings.shards
           else create_app(settings, follow_views=follow_views))
    uvicorn.run(app, host=host, port=port, log_config=logging, access_log=False)


def _databases(settings: Settings) -> list[Settings]:
    """The settings of each database the API serves: one, or each shard's and the city's."""
    if not settings.shards:
        return [settings]
    shards = run(lambda: load_shard_map(settings.shards or ""))
    router = ShardRouter(shards, settings)
    return [router.settings_for(url) for url in [*shards.shards.values(), shards.city]]


@contextmanager
def _shared_metrics_dir() -> Iterator[None]:
    """One directory where every worker keeps its metrics, so that a scrape answered by any
    of them sums them all (``prometheus_client``'s multiprocess mode). It must be set before
    a worker imports the client; workers start as fresh interpreters with this environment.
    A directory set by the operator is used as it is (and must be emptied between runs)."""
    from api.http.metrics import MULTIPROCESS_DIR_ENV

    if MULTIPROCESS_DIR_ENV in os.environ:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="fundledger-metrics-") as directory:
        os.environ[MULTIPROCESS_DIR_ENV] = directory
        try:
            yield
        finally:
            del os.environ[MULTIPROCESS_DIR_ENV]


def _serve_workers(workers: int, host: str, port: int, logging: dict[str, Any], *,
                   sharded: bool) -> None:
    """What ``uvicorn.run(..., workers=N)`` does, with TCP_NODELAY on the shared socket.

    uvicorn makes the socket its workers share without naming the protocol (proto 0), so
    asyncio does not set TCP_NODELAY on the connections accepted from it; each response's
    body then waits for the client's delayed ACK of its headers, some 40 ms (a single
    request took 52 ms instead of 11). Accepted sockets inherit the option from the
    listening one. Each worker imports the app and reads the same settings from the
    environment.
    """
    factory = ("api.http.shard_gateway:create_gateway_without_followers" if sharded
               else "api.http.app:create_app_without_followers")
    config = uvicorn.Config(factory, factory=True,
                            workers=workers, host=host, port=port, log_config=logging,
                            access_log=False)
    sock = config.bind_socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, sockets=[sock]).run()


ExpiresIn = Annotated[str | None, typer.Option(
    "--expires-in", help="Lifetime: a number of days, hours or weeks (90d, 12h, 2w).")]
ExpiresOn = Annotated[str | None, typer.Option(
    "--expires-on", help="Expiry: a date (YYYY-MM-DD, at 00:00 UTC) or an ISO time with "
                         "its offset.")]
DURATION = re.compile(r"([1-9][0-9]{0,5})([hdw])")
DURATION_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def _expiry(expires_in: str | None, expires_on: str | None) -> datetime | None:
    """When a token asked for expires; a malformed or past value is a usage error (exit 2)."""
    if expires_in is not None and expires_on is not None:
        err.print("[red]usage:[/] give --expires-in or --expires-on, not both")
        raise typer.Exit(EXIT_USAGE)
    now = datetime.now(UTC)
    if expires_in is not None:
        found = DURATION.fullmatch(expires_in.strip())
        if found is None:
            err.print(f"[red]usage:[/] field expires_in: {escape(expires_in)!r} is not a "
                      "lifetime such as 90d, 12h or 2w")
            raise typer.Exit(EXIT_USAGE)
        return now + int(found[1]) * DURATION_UNITS[found[2]]
    if expires_on is None:
        return None
    try:
        moment = datetime.fromisoformat(expires_on.strip())
    except ValueError:
        moment = None
    if moment is None or (moment.tzinfo is None and "T" in expires_on):
        err.print(f"[red]usage:[/] field expires_on: {escape(expires_on)!r} is not a date "
                  "YYYY-MM-DD nor an ISO time with its offset")
        raise typer.Exit(EXIT_USAGE)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment <= now:
        err.print(f"[red]usage:[/] field expires_on: {escape(expires_on)} is not in the future")
        raise typer.Exit(EXIT_USAGE)
    return moment


def _minute(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


@tokens_cli.command("create")
def create_token(
    role: Annotated[Role, typer.Option(help="What the token may do.")],
    scope: Annotated[str, typer.Option(help="city, district:<code>, street:<code>, "
                                            "community:<code> or owner:<id>.")] = "city",
    name: Annotated[str | None, typer.Option(
        help="Who holds it: 1-24 of A-Z a-z 0-9 _ . : -, one holder's for good (a revoked "
             "token's name too); recorded with the token's id as the actor of every event "
             "it writes.")] = None,
    expires_in: ExpiresIn = None,
    expires_on: ExpiresOn = None,
) -> None:
    """Make an API token and print it once; the ledger keeps only its digest.

    Without --expires-in or --expires-on it never expires (revoke it, or rotate it).
    """
    parsed = run(lambda: grantable(Scope.parse(scope)))
    expires_at = _expiry(expires_in, expires_on)
    token, token_id = new_token()
    principal = Principal(name or f"{role.value}:{token_id}", role, parsed, token_id)
    with ledger() as app:
        tables = open_access_tables(app.recorder)
        run(lambda: tables.add_token(token_digest(token), principal, expires_at))
    until = "" if expires_at is None else f", expires {_when(expires_at)}"
    err.print(f"token {token_id} for {principal.name} ({role.value}, {parsed}{until}); it is "
              "shown only now:")
    answer({"token": token, "token_id": token_id, "name": principal.name,
            "principal_id": principal.principal_id, "role": role.value, "scope": str(parsed),
            "expires_at": _when(expires_at)})
    if not json_mode():
        typer.echo(token)  # plain: a rich console would wrap or colour what a script captures


# The name the issue asked for; ``create`` stays the documented one.
tokens_cli.command("issue", hidden=True)(create_token)


@tokens_cli.command("list")
def list_tokens(
    every: Annotated[bool, typer.Option(
        "--all", help="Also revoked and expired tokens (the default: live ones only).")] = False,
) -> None:
    """The tokens: id, holder, role, scope, created, expires, state. Never a secret."""
    with ledger() as app:
        listed = open_access_tables(app.recorder).list_tokens()
    now = datetime.now(UTC)
    shown = [t for t in listed if every or t.state(now) == "live"]
    answer({"tokens": [{
        "token_id": t.token_id, "name": t.name, "principal_id": t.principal_id,
        "role": t.role, "scope": t.scope, "created_at": _when(t.created_at),
        "expires_at": _when(t.expires_at), "revoked_at": _when(t.revoked_at),
        "state": t.state(now)} for t in shown]})
    table = Table("name", "role", "scope", "created (UTC)", "expires (UTC)", "state")
    table.columns.insert(0, Column("token", no_wrap=True, min_width=12))  # rotate needs it whole
    for t in shown:
        table.add_row(t.token_id, escape(t.name), t.role, escape(t.scope), _minute(t.created_at),
                      _minute(t.expires_at) or "never", t.state(now))
    out.print(table)
    hidden = len(listed) - len(shown)
    if hidden:
        out.print(f"{hidden} revoked or expired tokens not shown (--all shows them)")


@tokens_cli.command("rotate")
def rotate_token(
    token_id: Annotated[str, typer.Argument(help="The token to replace (live or expired).")],
    expires_in: ExpiresIn = None,
    expires_on: ExpiresOn = None,
) -> None:
    """Give a token's holder a new token (same name, role and scope) and revoke the old one.

    The holder stays the same principal: its idempotency keys still replay, and its events
    name it as before. An expired token can be rotated; the new one lives as long as the
    old one did (from now), unless --expires-in or --expires-on says otherwise.
    """
    expires_at = _expiry(expires_in, expires_on)
    token, new_id = new_token()
    with ledger() as app:
        tables = open_access_tables(app.recorder)
        old = next((t for t in tables.list_tokens() if t.token_id == token_id), None)
        if old is not None:
            # A scope no token may be made with now (the developer's id city-wide) is not
            # carried to a new token: it would hold nothing.
            run(lambda: grantable(Scope.parse(old.scope)))
        rotated = tables.rotate_token(token_id, token_digest(token), new_id, expires_at)
        listing = next((t for t in tables.list_tokens() if t.token_id == new_id), None)
    if rotated is None:
        raise _no_token(token_id)
    expiry = None if listing is None else listing.expires_at
    until = "" if expiry is None else f", expires {_when(expiry)}"
    err.print(f"token {new_id} for {rotated.name} ({rotated.role.value}, {rotated.scope}"
              f"{until}) replaces {token_id}, revoked; it is shown only now:")
    answer({"token": token, "token_id": new_id, "replaces": token_id, "name": rotated.name,
            "principal_id": rotated.principal_id, "role": rotated.role.value,
            "scope": str(rotated.scope), "expires_at": _when(expiry)})
    if not json_mode():
        typer.echo(token)


def _no_token(token_id: str) -> typer.Exit:
    err.print(f"[red]no live token {escape(token_id)}[/]")
    return refuse(NotFound(f"no live token {token_id}", rule="token", field="token_id"))


@tokens_cli.command("revoke")
def revoke_token(token_id: Annotated[str, typer.Argument(help="The id printed at creation.")]
                 ) -> None:
    """Revoke a token: it answers 401 from now on."""
    with ledger() as app:
        revoked = open_access_tables(app.recorder).revoke_token(token_id)
    if not revoked:
        raise _no_token(token_id)
    answer({"token_id": token_id, "revoked": True})
    out.print(f"revoked {token_id}")
