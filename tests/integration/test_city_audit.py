"""The auditors' search over the whole city: the union of every district's own audit.

Two districts' logs on two PostgreSQL databases, each with deposits, an emergency works
withdrawal (both under the reference W-1: a reference is unique within one log only) and, in
the west, a fund vote and a withdrawal under it. Both logs number their events from 1, so
positions collide. Each shard's relay publishes its log; the city reader runs as a real
process, one event per page, and is killed with SIGKILL part way; more is written and
relayed in both districts, and a second reader finishes. Then the city's audit search must
give exactly the rows each shard's own audit view gives, each naming its shard, none twice,
in (shard, position) order however it is paged. The same on a SQLite city, its pages handed
to the reader directly.

Needs PostgreSQL at 127.0.0.1:5432 and NATS with JetStream at 127.0.0.1:4222 (skipped
without them unless FUNDLEDGER_REQUIRE_PG / FUNDLEDGER_REQUIRE_NATS make it a failure).
"""

from __future__ import annotations

import signal
import time
from dataclasses import fields
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from api.http.schemas_views import CityAuditEntryPublic
from domain.errors import InvalidInput
from domain.unit_account import first_deposit_due_fen
from ledger.application import FundLedger
from ledger.commands import DepositLine, UnitRow, WithdrawalRequest
from ledger.settings import Settings
from ledger.shards import ShardMap, ShardRouter
from projections.audit import PAGE_SIZE_MAX, AuditEntry, AuditFilter, AuditProjection
from projections.city_audit import (
    CityAuditEntry,
    CityAuditProjection,
    city_audit_page,
    open_city_audit,
    shard_of_upstream,
)
from projections.city_reader import CityReader, Upstream, open_city_views
from projections.nats_relay import RelayTarget
from projections.runner import Runner, open_projection
from tests.integration.test_shards import _cli, _relay_all, _run_cli

ACTOR = "test:city-audit"
EAST, WEST = "110101", "110105"
# (community, district, street, building, unit, area in 0.01 m²)
UNITS = [("CE-1", EAST, "110101001", "1", "101", 9_000),
         ("CE-1", EAST, "110101001", "1", "102", 6_000),
         ("CE-2", EAST, "110101002", "2", "201", 7_500),
         ("CW-1", WEST, "110105001", "1", "101", 8_000),
         ("CW-1", WEST, "110105001", "1", "102", 8_000),
         ("CW-2", WEST, "110105002", "3", "301", 10_000)]
KILL_WAIT_S = 60.0
Row = tuple[Any, ...]


def deposits(router: ShardRouter, tag: str, *, first: bool) -> None:
    for district in (EAST, WEST):
        app = router.for_district(district)
        rate = app.settings.deposit_rate_fen_per_m2
        app.import_deposits([
            DepositLine(f"{tag}-{n}", code, building, door,
                        first_deposit_due_fen(area, rate) if first else 10_000 + n,
                        date(2026, 1, 5), "first" if first else "top_up")
            for n, (code, d, _, building, door, area) in enumerate(UNITS) if d == district],
            actor=ACTOR)


def emergency_works(app: FundLedger, code: str, emergency_id: str, category: str) -> None:
    app.declare_emergency(community_code=code, emergency_id=emergency_id, category=category,
                          description="water through the roof", declared_on=date(2026, 3, 2),
                          actor=ACTOR)
    app.withdraw(WithdrawalRequest(
        reference="W-1", community_code=code, project="Roof", cost_kind="roof_waterproofing",
        invoice_fen=300_000, paid_on=date(2026, 3, 5), buildings=["1"],
        emergency_id=emergency_id), actor=ACTOR)


def fund_vote_and_withdrawal(app: FundLedger, code: str) -> None:
    app.deliver_units(community_code=code, delivered_on=date(2026, 1, 10), actor=ACTOR)
    app.propose_vote(community_code=code, vote_reference="PUMP", matter_kind="fund_use",
                     title="Replace the pump", proposed_on=date(2026, 2, 1), actor=ACTOR,
                     buildings=["1"], approved_amount_fen=500_000, purpose="Water pump")
    app.publish_vote(community_code=code, vote_reference="PUMP",
                     published_on=date(2026, 2, 1), actor=ACTOR)
    app.open_vote(community_code=code, vote_reference="PUMP", opened_on=date(2026, 2, 16),
                  actor=ACTOR)
    app.cast_ballots(community_code=code, vote_reference="PUMP", cast_on=date(2026, 2, 20),
                     ballots=[(f"owner-{code}-1-101", "agree", ()),
                              (f"owner-{code}-1-102", "agree", ())])
    app.close_vote(community_code=code, vote_reference="PUMP", closed_on=date(2026, 2, 28),
                   actor=ACTOR)
    app.withdraw(WithdrawalRequest(
        reference="W-2", community_code=code, project="Pump", cost_kind="water_pump",
        invoice_fen=400_000, paid_on=date(2026, 3, 10), buildings=["1"], resolution_id="PUMP"),
        actor=ACTOR)


def first_half(router: ShardRouter) -> None:
    router.register_units([
        UnitRow(code, f"Community {code}", district, street, building, door, area,
                "register", [f"owner-{code}-{building}-{door}"], line)
        for line, (code, district, street, building, door, area) in enumerate(UNITS, 2)],
        effective_date=date(2026, 1, 1), actor=ACTOR)
    deposits(router, "FD", first=True)
    emergency_works(router.for_community("CE-1"), "CE-1", "E-EAST", "roof_leak")
    emergency_works(router.for_community("CW-1"), "CW-1", "E-WEST", "drain_collapse_or_burst")


def second_half(router: ShardRouter) -> None:
    deposits(router, "TU", first=False)
    fund_vote_and_withdrawal(router.for_community("CW-1"), "CW-1")


# -- what is compared ---------------------------------------------------------------------------

AUDIT_FIELDS = [f.name for f in fields(AuditEntry)]


def row(shard: str, entry: AuditEntry) -> Row:
    return (shard, *(getattr(entry, name) for name in AUDIT_FIELDS))


def city_row(entry: CityAuditEntry) -> Row:
    return row(entry.shard, entry)


def shard_audit(app: FundLedger, audit_filter: AuditFilter | None = None) -> list[AuditEntry]:
    """The shard's own audit search, every page (its view built by its own runner)."""
    view = open_projection(app, AuditProjection)
    Runner(app).catch_up(view)
    found: list[AuditEntry] = []
    while page := view.entries(audit_filter, after=found[-1].notification_id if found else 0,
                               limit=PAGE_SIZE_MAX):
        found += page
    return found


def city_audit(view: CityAuditProjection, audit_filter: AuditFilter | None = None, *,
               limit: int, shard: str | None = None) -> list[CityAuditEntry]:
    """Every page of the city's search, each asked for with the cursor the last gave."""
    found: list[CityAuditEntry] = []
    after: str | None = None
    while True:
        page, after = city_audit_page(view, audit_filter or AuditFilter(), after=after,
                                      shard=shard, limit=limit)
        found += page
        if after is None:
            return found


def audit_positions(router: ShardRouter, view: CityAuditProjection) -> dict[str, int]:
    return {name: view.view.max_tracking_id(router.map.upstream_name(name)) or 0
            for name in router.map.shards}


def log_ends(router: ShardRouter) -> dict[str, int]:
    return {name: router.shard(name).recorder.max_notification_id() or 0
            for name in router.map.shards}


# -- the test -----------------------------------------------------------------------------------


def test_city_audit_search_is_each_shards_audit_once_after_a_killed_reader(
    pg_shard_map: ShardMap, tmp_path: Path
) -> None:
    shard_map = pg_shard_map
    router = ShardRouter(shard_map, Settings())
    try:
        first_half(router)
        _relay_all(shard_map)
        view = open_city_audit(router.city())
        reader = _cli(shard_map, "shards", "city-read", "--follow", "--page-size", "1",
                      log=tmp_path / "reader.log")
        deadline = time.monotonic() + KILL_WAIT_S
        while sum(audit_positions(router, view).values()) < 5:
            assert reader.poll() is None, (tmp_path / "reader.log").read_text()
            assert time.monotonic() < deadline, "the city reader made no progress"
            time.sleep(0.01)
        reader.send_signal(signal.SIGKILL)
        reader.wait(10)
        assert audit_positions(router, view) != log_ends(router), "killed too late"

        second_half(router)
        _relay_all(shard_map)
        _run_cli(shard_map, "shards", "city-read", "--page-size", "7")
        assert audit_positions(router, view) == log_ends(router)

        expected = {name: shard_audit(router.shard(name)) for name in ("east", "west")}
        # The problem solved: the two logs' positions collide, so a position names no row.
        collide = ({e.notification_id for e in expected["east"]}
                   & {e.notification_id for e in expected["west"]})
        assert collide
        union = sorted(row(name, e) for name, entries in expected.items() for e in entries)
        assert {r[0] for r in union} == {"east", "west"}
        # Both W-1 withdrawals, each share citing its own district's emergency.
        cites = {(r[0], r[AUDIT_FIELDS.index("cites") + 1]) for r in union
                 if r[AUDIT_FIELDS.index("kind") + 1] == "WorksShareCharged"}
        assert {("east", "emergency E-EAST (roof_leak)"),
                ("west", "emergency E-WEST (drain_collapse_or_burst)")} <= cites

        for limit in (1, 7, PAGE_SIZE_MAX):  # however it is paged: the same rows, once each
            city = [city_row(e) for e in city_audit(view, limit=limit)]
            assert len(city) == len(set(city))
            assert city == union  # in (shard, position) order
        assert {e.position for e in city_audit(view, limit=50)} == {
            (r[0], r[1]) for r in union}

        # A community lives in one district: its city search is its district's, page by page.
        for code, name in (("CE-1", "east"), ("CW-1", "west")):
            one = AuditFilter(community=code)
            assert [city_row(e) for e in city_audit(view, one, limit=3)] == [
                row(name, e) for e in shard_audit(router.shard(name), one)]
        # One shard's rows alone; the other filters as on a single log.
        assert [city_row(e) for e in city_audit(view, limit=4, shard="west")] == [
            row("west", e) for e in expected["west"]]
        tallies = city_audit(view, AuditFilter(kind="Tallied"), limit=10)
        assert [(e.shard, e.community_code, e.reference) for e in tallies] == [
            ("west", "CW-1", "PUMP")]
        assert city_audit(view, limit=10, shard="north") == []

        # As the HTTP route answers an entry: its shard with it.
        (first,) = city_audit(view, limit=1, shard="west")[:1]
        assert CityAuditEntryPublic.model_validate(first).model_dump()["shard"] == "west"

        # The votes the audit lists, over the city.
        assert [(v.community_code, v.vote_reference) for v in view.votes()] == [
            ("CW-1", "PUMP")]
    finally:
        router.close()


def test_a_city_audit_cursor_that_is_not_one_is_refused_naming_after(
    pg_shard_map: ShardMap
) -> None:
    router = ShardRouter(pg_shard_map, Settings())
    try:
        view = open_city_audit(router.city())
        for bad in ("123", "east:", "East:1", "east:-1", "east:1:2"):
            with pytest.raises(InvalidInput) as refused:
                city_audit_page(view, AuditFilter(), after=bad)
            assert (refused.value.field, refused.value.rule) == ("after", "city-position")
        with pytest.raises(InvalidInput) as refused:
            city_audit_page(view, AuditFilter(), limit=PAGE_SIZE_MAX + 1)
        assert refused.value.field == "limit"
        with pytest.raises(TypeError):  # a bare position names no row in the city
            view.entries()
    finally:
        router.close()
    assert shard_of_upstream(pg_shard_map.upstream_name("west")) == "west"


def test_city_audit_on_sqlite_files_is_each_shards_audit_once(tmp_path: Path) -> None:
    """The city database may be a SQLite file (a small city): the same search, the shards'
    pages handed to the reader as its streams would (no relay needed), a page given twice
    applied once."""
    shards = ShardMap(city=str(tmp_path / "city.db"), default="east",
                      shards={"east": str(tmp_path / "east.db"),
                              "west": str(tmp_path / "west.db")}, districts={WEST: "west"})
    router = ShardRouter(shards, Settings())
    try:
        first_half(router)
        second_half(router)
        views = open_city_views(router.city())
        view = views[-1]
        assert isinstance(view, CityAuditProjection)
        upstreams = [Upstream(shards.upstream_name(name), RelayTarget())
                     for name in shards.shards]
        reader = CityReader(router.city(), upstreams, views)
        for upstream in upstreams:
            log = router.shard(shard_of_upstream(upstream.name)).recorder
            notifications = log.select_notifications(start=1, limit=10_000)
            for start in range(0, len(notifications), 5):
                reader.apply(upstream, notifications[start:start + 5])
            reader.apply(upstream, notifications[:7])  # again: nothing new for any view
        expected = sorted(row(name, e) for name in shards.shards
                          for e in shard_audit(router.shard(name)))
        assert {r[0] for r in expected} == {"east", "west"} and len(expected) > 20
        assert [city_row(e) for e in city_audit(view, limit=4)] == expected
        assert [city_row(e) for e in city_audit(view, AuditFilter(community="CW-1"),
                                                limit=2)] == [
            row("west", e) for e in shard_audit(router.shard("west"),
                                                AuditFilter(community="CW-1"))]
    finally:
        router.close()
