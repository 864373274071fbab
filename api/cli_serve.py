"""``fundledger serve`` (the HTTP API) and ``fundledger tokens`` (who may call it)."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from api.cli_common import cli, err, ledger, out, run
from ledger.access import Principal, Role, Scope, new_token, token_digest
from ledger.persistence.access_tables import open_access_tables
from ledger.settings import Settings

tokens_cli = typer.Typer(no_args_is_help=True, help="API tokens: create and revoke.")
cli.add_typer(tokens_cli, name="tokens")


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
        help="Log a line per request (uvicorn's access log). Every response carries its "
             "X-Request-Id either way.")] = True,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs) on the configured store."""
    from api.http.app import create_app

    settings = Settings()
    err.print(f"fundledger API on {settings.db}: http://{host}:{port}/docs")
    uvicorn.run(create_app(settings, follow_views=follow_views), host=host, port=port,
                log_level="info", access_log=access_log)


@tokens_cli.command("create")
def create_token(
    role: Annotated[Role, typer.Option(help="What the token may do.")],
    scope: Annotated[str, typer.Option(help="city, district:<code>, street:<code>, "
                                            "community:<code> or owner:<id>.")] = "city",
    name: Annotated[str | None, typer.Option(
        help="Who holds it (recorded as the actor of every event it writes).")] = None,
) -> None:
    """Make an API token and print it once; the ledger keeps only its digest."""
    parsed = run(lambda: Scope.parse(scope))
    token, token_id = new_token()
    principal = Principal(name or f"{role.value}:{token_id}", role, parsed, token_id)
    with ledger() as app:
        open_access_tables(app.recorder).add_token(token_digest(token), principal)
    err.print(f"token {token_id} for {principal.name} ({role.value}, {parsed}); it is shown "
              "only now:")
    typer.echo(token)  # plain: a rich console would wrap or colour what a script captures


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
