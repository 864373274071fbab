"""The city reader refuses a shard's stream that dropped events its views still need.

A JetStream stream keeps every message unless an operator gives it a limit (age, count,
size) or purges it. A city reader that started after the head was dropped, or fell behind
it, would build city views without those events and say nothing: it stops instead, naming
the stream and the positions, and writes nothing. A reader that had read what was dropped
carries on.

Needs NATS with JetStream at 127.0.0.1:4222 (skipped without it unless
FUNDLEDGER_REQUIRE_NATS makes it a failure); the shards are SQLite files.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import pytest

from api.cli_shards import relay_target
from ledger.settings import Settings
from ledger.shards import ShardMap, ShardRouter
from projections.city_reader import CityReader, StreamIncomplete, Upstream, open_city_views
from projections.nats_relay import NatsRelay, RelayPositionLost
from tests.integration.conftest import NATS_URL
from tests.integration.test_city_audit import WEST, first_half, second_half


def _shards(tmp_path: Path, tag: str) -> ShardMap:
    return ShardMap(city=str(tmp_path / "city.db"), default="east",
                    shards={"east": str(tmp_path / "east.db"),
                            "west": str(tmp_path / "west.db")},
                    districts={WEST: "west"}, nats_url=NATS_URL,
                    nats_stream=f"FLSHARD_{tag}", subject_prefix=f"flshard{tag}")


def _relay(router: ShardRouter) -> None:
    for name in router.map.shards:
        asyncio.run(NatsRelay(router.shard(name), relay_target(router.map, name)).relay())


def _drop_head(shards: ShardMap, shard: str, keep_from: int) -> None:
    """What a stream's limits do to its oldest messages: sequences before ``keep_from`` go."""
    async def purge() -> None:
        connection = await nats.connect(NATS_URL)
        try:
            await connection.jetstream().purge_stream(shards.relay_stream(shard), seq=keep_from)
        finally:
            await connection.close()

    asyncio.run(purge())


def _reader(router: ShardRouter) -> CityReader:
    upstreams = [Upstream(router.map.upstream_name(name), relay_target(router.map, name))
                 for name in router.map.shards]
    return CityReader(router.city(), upstreams, open_city_views(router.city()))


def _positions(reader: CityReader) -> dict[str, list[int]]:
    return {u.name: [reader.position(v, u) for v in reader.views] for u in reader.upstreams}


def _log_ends(router: ShardRouter) -> dict[str, list[int]]:
    return {router.map.upstream_name(name): [router.shard(name).recorder.max_notification_id()
                                             or 0] * 3 for name in router.map.shards}


def test_a_reader_behind_a_dropped_head_stops_and_reads_nothing_from_it(
        tmp_path: Path, nats_tag: str) -> None:
    shards = _shards(tmp_path, nats_tag)
    router = ShardRouter(shards, Settings())
    try:
        first_half(router)
        _relay(router)
        _drop_head(shards, "east", keep_from=4)
        reader = _reader(router)
        with pytest.raises(StreamIncomplete) as refused:
            asyncio.run(reader.read())
        message = str(refused.value)
        assert shards.relay_stream("east") in message and "shard:east" in message
        assert "up to log position 0" in message and "fundledger shards relay" in message
        assert _positions(reader)["shard:east"] == [0, 0, 0]
    finally:
        router.close()


def test_a_reader_that_read_the_dropped_head_carries_on(tmp_path: Path, nats_tag: str) -> None:
    shards = _shards(tmp_path, nats_tag)
    router = ShardRouter(shards, Settings())
    try:
        first_half(router)
        _relay(router)
        reader = _reader(router)
        asyncio.run(reader.read())
        assert _positions(reader) == _log_ends(router)
        for name in shards.shards:  # all that was read is dropped but the last message
            _drop_head(shards, name, keep_from=_last_seq(shards, name))
        second_half(router)
        _relay(router)
        assert asyncio.run(reader.read()) > 0
        assert _positions(reader) == _log_ends(router)
    finally:
        router.close()


def test_a_relay_whose_stream_dropped_every_message_stops_and_says_so(
        tmp_path: Path, nats_tag: str) -> None:
    shards = _shards(tmp_path, nats_tag)
    router = ShardRouter(shards, Settings())
    try:
        first_half(router)
        _relay(router)
        last = _last_seq(shards, "east")
        _drop_head(shards, "east", keep_from=last + 1)  # what a max_age does to a quiet shard
        second_half(router)
        relay = NatsRelay(router.shard("east"), relay_target(shards, "east"))
        with pytest.raises(RelayPositionLost) as refused:
            asyncio.run(relay.relay())
        assert f"sequence {last}" in str(refused.value)
        assert _last_seq(shards, "east") == last  # nothing published
    finally:
        router.close()


def _last_seq(shards: ShardMap, shard: str) -> int:
    async def last() -> int:
        connection = await nats.connect(NATS_URL)
        try:
            info = await connection.jetstream().stream_info(shards.relay_stream(shard))
            return int(info.state.last_seq)
        finally:
            await connection.close()

    return asyncio.run(last())
