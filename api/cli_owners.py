"""``fundledger owners``: sign-in codes for owners' web pages, and ending their sessions.

``invite`` prints the code once (and its link) for the fund office to carry to the owner by
letter or SMS; the ledger keeps only its digest. ``revoke`` ends an owner's unused codes and
every session at once (a lost phone).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from api.cli_common import (
    DEFAULT_ACTOR,
    ActorOption,
    answer,
    cli,
    err,
    json_mode,
    ledger,
    out,
    run,
)
from api.cli_shards import city_web_tables
from api.web.identity import CODE_VALID_DEFAULT, SignIn
from ledger.persistence.access_tables import open_access_tables
from ledger.persistence.web_tables import open_web_tables

owners_cli = typer.Typer(no_args_is_help=True,
                         help="Owners' web pages: sign-in codes and sessions.")
cli.add_typer(owners_cli, name="owners")
BASE_URL_DEFAULT = "http://127.0.0.1:8000"


@owners_cli.command("invite")
def invite(
    community_code: str, owner_id: str,
    valid_hours: Annotated[int, typer.Option(
        min=1, max=720, help="How long the code may be used, once.")] = int(
            CODE_VALID_DEFAULT.total_seconds() // 3600),
    base_url: Annotated[str, typer.Option(
        help="Where `fundledger serve` is reached, for the link.")] = BASE_URL_DEFAULT,
    actor: ActorOption = DEFAULT_ACTOR,
) -> None:
    """Issue a one-time sign-in code for an owner of units in COMMUNITY_CODE."""
    with ledger() as app, city_web_tables(app) as (web, access):
        signin = SignIn(app, web, access)
        issued = run(lambda: signin.invite(community_code, owner_id, issued_by=actor,
                                           valid_for=timedelta(hours=valid_hours)))
    err.print(f"sign-in code for {owner_id} ({', '.join(issued.unit_keys)} in "
              f"{community_code}), valid once until {issued.expires_at:%Y-%m-%d %H:%M} UTC; "
              "it is shown only now:")
    answer({"code": issued.code, "owner_id": owner_id, "community_code": community_code,
            "unit_keys": list(issued.unit_keys), "expires_at": issued.expires_at.isoformat(),
            "link": issued.link(base_url)})
    if not json_mode():
        typer.echo(issued.code)  # plain: a script captures it
    err.print(f"link: {issued.link(base_url)}")


@owners_cli.command("revoke")
def revoke(owner_id: str) -> None:
    """End an owner's unused codes and every session of theirs now."""
    with ledger() as app:  # under a shard map, the city database (api.cli_shards)
        signin = SignIn(app, open_web_tables(app.recorder), open_access_tables(app.recorder))
        codes, sessions = signin.revoke_owner(owner_id)
    answer({"owner_id": owner_id, "codes_ended": codes, "sessions_ended": sessions})
    out.print(f"{owner_id}: {codes} unused code(s) and {sessions} session(s) ended")
