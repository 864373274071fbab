"""What the routes share in one API process: the ledger, its views and the access tables."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from api.http.problems import Problem
from api.web.identity import SignIn
from ledger.access import Place
from ledger.application import FundLedger
from ledger.persistence.access_tables import AccessTables
from ledger.persistence.web_tables import WebTables, open_web_tables
from projections.audit import AuditProjection
from projections.balance import BalanceProjection
from projections.runner import BatchingProjection, Followers, Runner, wait_until_applied
from projections.seal.sealer import Sealer, open_sealer
from projections.three_rates import ThreeRatesProjection

READ_WAIT_S_DEFAULT = 5.0
SSE_CONNECTIONS_PER_TOKEN_MAX = 4


@dataclass(frozen=True)
class CityShard:
    """One district's log as the city app sees it (below the shard gateway)."""

    name: str  # the shard's name in the shard map
    upstream: str  # the name the city views track its position under
    services: Services  # the shard's own app's


@dataclass
class Services:
    ledger: FundLedger
    runner: Runner
    views: dict[str, BatchingProjection[Any]]
    access: AccessTables
    followers: Followers | None = None
    web: WebTables | None = None  # sign-in codes and sessions; None: on the ledger's store
    # The city app's, below the shard gateway: every district's app, once they have started.
    # Its views are the city views (built from every shard's log by the city reader).
    city_shards: Callable[[], list[CityShard]] | None = None
    # A district's app below the shard gateway: every district's (its own among them). Its
    # views hold its own district's log only; a page naming communities names them all.
    sibling_shards: Callable[[], list[CityShard]] | None = None
    # When the city views' positions in the districts' logs were last read, and what they were.
    city_positions_read: tuple[float, list[tuple[str, int]]] = (float("-inf"), [])
    read_wait_s: float = READ_WAIT_S_DEFAULT
    streams_per_token_max: int = SSE_CONNECTIONS_PER_TOKEN_MAX
    _sealer: Sealer | None = None
    _signin: SignIn | None = None
    _streams: dict[str, int] = field(default_factory=dict)
    _streams_lock: threading.Lock = field(default_factory=threading.Lock)
    _places: dict[str, Place] = field(default_factory=dict)

    @property
    def balance(self) -> BalanceProjection:
        return self.views["balance"]  # type: ignore[return-value]

    @property
    def audit(self) -> AuditProjection:
        return self.views["audit"]  # type: ignore[return-value]

    @property
    def three_rates(self) -> ThreeRatesProjection:
        return self.views["three_rates"]  # type: ignore[return-value]

    def caught_up(self, view: BatchingProjection[Any], min_position: int | None) -> None:
        """Read-your-writes: wait (bounded) until the view has applied ``min_position``."""
        if not min_position:
            return
        last = self.ledger.recorder.max_notification_id() or 0
        if min_position > last:
            # No wait can reach a position the log has not written: the client is wrong.
            raise Problem(422, f"min_position {min_position} is beyond the log's last "
                          f"position {last}", rule="read-your-writes", field="min_position")
        wait_until_applied(self.runner, view, min_position, timeout_s=self.read_wait_s)

    def community_place(self, code: str) -> Place:
        """Where a registered community sits, for scope checks. Cached: a community's place
        is fixed at registration (F1 refuses one that would move it), and loading a
        5,000-unit community on every request cost more than the deposit it guarded."""
        place = self._places.get(code)
        if place is None:
            community = self.ledger.community(code)  # absent: NotFound, and nothing cached
            place = self._places[code] = Place(community.district, community.street, code)
        return place

    def sealer(self) -> Sealer:
        """The seal tables (opened once, on first use: only auditors' routes need them)."""
        if self._sealer is None:
            self._sealer = open_sealer(self.ledger)
        return self._sealer

    def signin(self) -> SignIn:
        """Sign-in codes and the web pages' sessions (their tables opened on first use)."""
        if self._signin is None:
            if self.web is None:
                self.web = open_web_tables(self.ledger.recorder)
            self._signin = SignIn(self.ledger, self.web, self.access)
        return self._signin

    def open_stream(self, token_id: str) -> bool:
        with self._streams_lock:
            if self._streams.get(token_id, 0) >= self.streams_per_token_max:
                return False
            self._streams[token_id] = self._streams.get(token_id, 0) + 1
            return True

    def streams_open(self, token_id: str) -> int:
        with self._streams_lock:
            return self._streams.get(token_id, 0)

    def close_stream(self, token_id: str) -> None:
        with self._streams_lock:
            self._streams[token_id] -= 1


async def services(request: Request) -> Services:
    """The process's services. ``async``: FastAPI runs a plain ``def`` dependency on its
    thread pool, one hop there and back per request for an attribute read."""
    return request.app.state.services  # type: ignore[no-any-return]
