"""``fundledger relay nats``: publish the event log to NATS JetStream (CloudEvents 1.0)."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer

from api.cli_common import cli, err, ledger, out, progress_bar
from projections.nats_relay import NatsRelay, RelayTarget

relay_cli = typer.Typer(no_args_is_help=True, help="Share the event log with downstream systems.")
cli.add_typer(relay_cli, name="relay")
FOLLOW_POLL_S = 0.5


@relay_cli.command("nats")
def relay_nats(
    url: Annotated[str, typer.Option(envvar="FUNDLEDGER_NATS_URL")] = "nats://127.0.0.1:4222",
    stream: Annotated[str, typer.Option()] = "FUNDLEDGER",
    subject_prefix: Annotated[str, typer.Option()] = "fundledger",
    follow: Annotated[bool, typer.Option(help="Keep publishing new events until Ctrl-C.")] = False,
) -> None:
    """Publish every event the stream lacks, in log order, resuming where it stopped."""
    target = RelayTarget(url=url, stream=stream, subject_prefix=subject_prefix)
    with ledger() as app:
        relay = NatsRelay(app, target)
        with progress_bar() as bar:
            task = bar.add_task("relaying", total=None)
            total = asyncio.run(relay.relay(progress=lambda n: bar.advance(task, n)))
        out.print(f"published {total} events to {stream} at {url}")
        while follow:
            try:
                time.sleep(FOLLOW_POLL_S)
                published = asyncio.run(relay.relay())
            except KeyboardInterrupt:
                break
            if published:
                err.print(f"published {published} events")
