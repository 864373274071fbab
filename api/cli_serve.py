"""``fundledger serve`` (the HTTP API) and ``fundledger tokens`` (who may call it)."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import typer
import uvicorn
from uvicorn.supervisors import Multiprocess

from api.cli_common import cli, err, ledger, out, run
from ledger.access import Principal, Role, Scope, new_token, token_digest
from ledger.persistence.access_tables import open_access_tables
from ledger.settings import Settings

tokens_cli = typer.Typer(no_args_is_help=True, help="API tokens: create, rotate and revoke.")
cli.add_typer(tokens_cli, name="tokens")


def _without_password(db: str) -> str:
    """The database as a log may show it: a URL's password replaced by ``***``."""
    url = urlsplit(db)
    if not url.password:
        return db
    return urlunsplit(url._replace(netloc=url.netloc.replace(f":{url.password}@", ":***@", 1)))


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

    settings = Settings()
    if workers > 1:
        if not settings.is_postgres:
            err.print("[red]--workers above 1 needs PostgreSQL[/]: on the embedded store one "
                      "process writes and keeps the views current")
            raise typer.Exit(2)
        if follow_views:
            err.print("[red]--follow-views runs in one process[/]: with --workers, run "
                      "`fundledger projections run --follow` beside the API")
            raise typer.Exit(2)
    resolved = resolve_format(log_format.value if log_format else settings.log_format)
    logging = log_config(resolved, request_lines=access_log)
    announce(resolved, f"fundledger API on {_without_password(settings.db)}: "
             f"http://{host}:{port}/docs" + (f" ({workers} workers)" if workers > 1 else ""))
    if workers > 1:
        with _shared_metrics_dir():
            _serve_workers(workers, host, port, logging)
        return
    uvicorn.run(create_app(settings, follow_views=follow_views), host=host, port=port,
                log_config=logging, access_log=False)


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


def _serve_workers(workers: int, host: str, port: int, logging: dict[str, Any]) -> None:
    """What ``uvicorn.run(..., workers=N)`` does, with TCP_NODELAY on the shared socket.

    uvicorn makes the socket its workers share without naming the protocol (proto 0), so
    asyncio does not set TCP_NODELAY on the connections accepted from it; each response's
    body then waits for the client's delayed ACK of its headers, some 40 ms (a single
    request took 52 ms instead of 11). Accepted sockets inherit the option from the
    listening one. Each worker imports the app and reads the same settings from the
    environment.
    """
    config = uvicorn.Config("api.http.app:create_app_without_followers", factory=True,
                            workers=workers, host=host, port=port, log_config=logging,
                            access_log=False)
    sock = config.bind_socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, sockets=[sock]).run()


@tokens_cli.command("create")
def create_token(
    role: Annotated[Role, typer.Option(help="What the token may do.")],
    scope: Annotated[str, typer.Option(help="city, district:<code>, street:<code>, "
                                            "community:<code> or owner:<id>.")] = "city",
    name: Annotated[str | None, typer.Option(
        help="Who holds it: 1-24 of A-Z a-z 0-9 _ . : -, one holder's for good (a revoked "
             "token's name too); recorded with the token's id as the actor of every event "
             "it writes.")] = None,
) -> None:
    """Make an API token and print it once; the ledger keeps only its digest."""
    parsed = run(lambda: Scope.parse(scope))
    token, token_id = new_token()
    principal = Principal(name or f"{role.value}:{token_id}", role, parsed, token_id)
    with ledger() as app:
        tables = open_access_tables(app.recorder)
        run(lambda: tables.add_token(token_digest(token), principal))
    err.print(f"token {token_id} for {principal.name} ({role.value}, {parsed}); it is shown "
              "only now:")
    typer.echo(token)  # plain: a rich console would wrap or colour what a script captures


@tokens_cli.command("rotate")
def rotate_token(token_id: Annotated[str, typer.Argument(help="The live token to replace.")]
                 ) -> None:
    """Give a token's holder a new token (same name, role and scope) and revoke the old one.

    The holder stays the same principal: its idempotency keys still replay, and its events
    name it as before.
    """
    token, new_id = new_token()
    with ledger() as app:
        rotated = open_access_tables(app.recorder).rotate_token(
            token_id, token_digest(token), new_id)
    if rotated is None:
        err.print(f"[red]no live token {token_id}[/]")
        raise typer.Exit(2)
    err.print(f"token {new_id} for {rotated.name} ({rotated.role.value}, {rotated.scope}) "
              f"replaces {token_id}, revoked; it is shown only now:")
    typer.echo(token)


@tokens_cli.command("revoke")
def revoke_token(token_id: Annotated[str, typer.Argument(help="The id printed at creation.")]
                 ) -> None:
    """Revoke a token: it answers 401 from now on."""
    with ledger() as app:
        revoked = open_access_tables(app.recorder).revoke_token(token_id)
    if not revoked:
        err.print(f"[red]no live token {token_id}[/]")
        raise typer.Exit(2)
    out.print(f"revoked {token_id}")
