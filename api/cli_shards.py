"""Districts on their own databases (``FUNDLEDGER_SHARDS``, see ``ledger.shards``).

Every command that opens the ledger is routed here when a shard map is set: a command naming
a community (``community_code``, ``--community``, a vote id ``CODE/REF``) goes to that
community's shard, found in the city's community directory; ``import units`` to the shard of
its file's district (one district per file: the directory is written first); ``import
deposits`` to the one shard of its lines' communities; ``enterprise register`` is refused
(``shards register-enterprise`` registers on every shard); an enterprise's credit record
(``enterprise credit-event``, ``credit``, ``ranking``) and anything else to the default
shard; ``tokens ...`` and ``owners revoke`` to the city database, whose tokens, sign-in
codes and sessions the HTTP gateway (``api.http.shard_gateway``) shares with every shard
(``owners invite`` finds the owner's units on the community's shard and stores the code in
the city database: ``city_web_tables``). ``fundledger shards ...`` adds what a
sharded city needs besides: where a community is, an enterprise registered on every shard,
each shard's relay, and the city reader.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from api.cli_common import (
    DEFAULT_ACTOR,
    ActorOption,
    Identifier,
    answer,
    cli,
    invocation,
    out,
    required_date,
    run,
)
from domain.errors import InvalidInput
from ledger.application import FundLedger
from ledger.csv_files import read_deposits, read_units
from ledger.persistence.access_tables import AccessTables, open_access_tables
from ledger.persistence.web_tables import WebTables, open_web_tables
from ledger.settings import Settings
from ledger.shards import ShardMap, ShardRouter, load_shard_map
from projections.city_reader import CityReader, Upstream, open_city_views
from projections.nats_relay import NatsRelay, RelayTarget

shards_cli = typer.Typer(no_args_is_help=True,
                         help="Districts on their own databases (FUNDLEDGER_SHARDS).")
cli.add_typer(shards_cli, name="shards")
HOME_COMMANDS = {"enterprise credit-event", "credit", "ranking"}
CITY_COMMANDS = {"owners revoke"}
FOLLOW_POLL_S = 0.5


def routed_settings(settings: Settings) -> Settings:
    """The settings of the shard the running command belongs to."""
    shards = load_shard_map(settings.shards or "")
    router = ShardRouter(shards, settings)
    current = invocation.get()
    command = current.command if current else ""
    try:
        if command.startswith("tokens ") or command in CITY_COMMANDS:
            return router.settings_for(shards.city)  # the gateway's, for the whole city
        name = _route(router, command, current.params if current else {})
        return router.settings_for(shards.shards[name])
    finally:
        router.close()


@contextmanager
def city_web_tables(app: FundLedger) -> Iterator[tuple[WebTables, AccessTables]]:
    """The sign-in tables beside ``app``'s log, or under a shard map the city database's,
    which the gateway's pages read whatever shard a community is on."""
    settings = Settings()
    if not settings.shards:
        yield open_web_tables(app.recorder), open_access_tables(app.recorder)
        return
    router = ShardRouter(load_shard_map(settings.shards), settings)
    try:
        city = router.city()
        yield open_web_tables(city.recorder), open_access_tables(city.recorder)
    finally:
        router.close()


def _route(router: ShardRouter, command: str, params: dict[str, Any]) -> str:
    if command in HOME_COMMANDS:
        return router.map.default
    if command == "enterprise register":  # on one shard only, it could enter no other
        raise InvalidInput("with shards, an enterprise is registered on every shard: use "
                           "fundledger shards register-enterprise", rule="shards",
                           field="credit_code")
    code = params.get("community_code") or params.get("community")
    if not code and isinstance(params.get("vote_id"), str):
        code = params["vote_id"].partition("/")[0]
    if code:
        return router.shard_of_community(str(code))
    if command == "import units":
        rows = read_units(params["file"])
        districts = {row.district for row in rows}
        if len(districts) > 1:
            raise InvalidInput(f"the file holds districts {sorted(districts)}: with shards, "
                               "import one district's file at a time", rule="shards",
                               field="district")
        router.record_directory((row.community_code, row.district) for row in rows)
        return router.map.shard_of_district(districts.pop()) if districts else \
            router.map.default
    if command == "import deposits":
        lines = read_deposits(params["file"])
        found = {router.shard_of_community(line.community_code) for line in lines}
        if len(found) > 1:
            raise InvalidInput(f"the batch holds communities of shards {sorted(found)}: "
                               "split it by district", rule="shards", field="community_code")
        return found.pop() if found else router.map.default
    return router.map.default


def _router() -> ShardRouter:
    settings = Settings()
    if not settings.shards:
        run(lambda: _no_shard_map())
    return ShardRouter(run(lambda: load_shard_map(settings.shards or "")), settings)


def _no_shard_map() -> None:
    raise InvalidInput("FUNDLEDGER_SHARDS is not set: the ledger is one database",
                       rule="shards", field="FUNDLEDGER_SHARDS")


def relay_target(shards: ShardMap, name: str) -> RelayTarget:
    return RelayTarget(url=shards.nats_url, stream=shards.relay_stream(name),
                       subject_prefix=shards.relay_subject_prefix(name), carry_stored=True)


@shards_cli.command("where")
def where(community_code: Identifier) -> None:
    """The district and shard of a registered community."""
    router = _router()
    try:
        district = run(lambda: router.district_of(community_code))
    finally:
        router.close()
    shard = router.map.shard_of_district(district)
    answer({"community_code": community_code, "district": district, "shard": shard})
    out.print(f"{community_code}: district {district}, shard {shard}")


@shards_cli.command("register-enterprise")
def register_enterprise(credit_code: str, name: str,
                        registered_on: Annotated[str, typer.Option()],
                        actor: ActorOption = DEFAULT_ACTOR) -> None:
    """Register an enterprise on every shard (it may serve in any district)."""
    on = required_date(registered_on, "registered_on")
    router = _router()
    try:
        run(lambda: router.register_enterprise(credit_code=credit_code, name=name,
                                               registered_on=on, actor=actor))
    finally:
        router.close()
    answer({"credit_code": credit_code, "shards": sorted(router.map.shards)})
    out.print(f"enterprise {credit_code} registered on {len(router.map.shards)} shards")


@shards_cli.command("relay")
def relay(shard: str, follow: Annotated[bool, typer.Option()] = False) -> None:
    """Publish one shard's log to its own JetStream stream, for the city reader."""
    router = _router()
    try:
        app = run(lambda: router.shard(shard))
        publisher = NatsRelay(app, relay_target(router.map, shard))
        total = asyncio.run(publisher.relay())
        out.print(f"published {total} events of shard {shard}")
        while follow:
            try:
                asyncio.run(asyncio.sleep(FOLLOW_POLL_S))
                asyncio.run(publisher.relay())
            except KeyboardInterrupt:
                break
    finally:
        router.close()


@shards_cli.command("city-read")
def city_read(follow: Annotated[bool, typer.Option()] = False,
              page_size: Annotated[int, typer.Option(min=1, max=10_000)] = 500) -> None:
    """Build the city views (three rates, credit) from every shard's relay stream."""
    router = _router()
    try:
        upstreams = [Upstream(router.map.upstream_name(name), relay_target(router.map, name))
                     for name in router.map.shards]
        reader = CityReader(router.city(), upstreams, open_city_views(router.city()),
                            page_size=page_size)
        if not follow:
            total = asyncio.run(reader.read())
            answer({"read": total})
            out.print(f"read {total} events from {len(upstreams)} shards")
            return

        async def following() -> int:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            return await reader.follow(stop)

        total = asyncio.run(following())
        out.print(f"read {total} events from {len(upstreams)} shards")
    finally:
        router.close()
