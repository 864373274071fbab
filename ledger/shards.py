"""Districts on their own databases: the shard map, the community directory, the router.

Configuration, not code: ``FUNDLEDGER_SHARDS`` holds the map as JSON, or the path of a JSON
or TOML file holding it::

    {"city": "postgresql://.../city",            # the global database (directory, city views)
     "default": "east",                           # the shard of a district not listed
     "shards": {"east": "postgresql://.../east", "west": "postgresql://.../west"},
     "districts": {"110101": "east", "110105": "west"},
     "nats_url": "nats://127.0.0.1:4222", "nats_stream": "FUNDLEDGER",
     "subject_prefix": "fundledger"}

Unset, the ledger is one database (``FUNDLEDGER_DB``) exactly as before.

A registration names its district; every later command names only a community code. The
router finds a code's shard in the **community directory**, one small table in the city
database (code -> district -> shard), written before the registration reaches its shard and
read once per code per process (a community never changes district: F1 refuses a move). A
code-prefix rule would cost no lookup but would put the district into every code the
district offices already use; the directory keeps their codes as they are.
"""

from __future__ import annotations

import json
import re
import threading
import tomllib
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, ValidationError, model_validator

from domain.errors import Conflict, InvalidInput, NotFound
from ledger.application import FundLedger
from ledger.commands import UnitRow
from ledger.settings import Settings

DIRECTORY_TABLE = "community_directory"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


class ShardMap(BaseModel):
    """Which database holds each district's log, and where the city's global tables are."""

    city: str = Field(description="The global database: community directory, city views.")
    default: str = Field(description="The shard of every district the map does not list.")
    shards: dict[str, str] = Field(min_length=1, description="Shard name -> database URL.")
    districts: dict[str, str] = Field(default_factory=dict,
                                      description="District code -> shard name.")
    nats_url: str = "nats://127.0.0.1:4222"
    nats_stream: str = "FUNDLEDGER"
    subject_prefix: str = "fundledger"

    @model_validator(mode="after")
    def _names_known(self) -> ShardMap:
        for name in self.shards:
            if not _NAME.match(name):
                raise ValueError(f"shard name {name!r}: lower-case letters, digits and _ "
                                 "(it names a NATS stream and subjects)")
        unknown = {self.default, *self.districts.values()} - set(self.shards)
        if unknown:
            raise ValueError(f"shards {sorted(unknown)} are named but have no database")
        return self

    def shard_of_district(self, district: str) -> str:
        return self.districts.get(district, self.default)

    def upstream_name(self, shard: str) -> str:
        """The name the city views track a shard's position under (one row per shard)."""
        return f"shard:{shard}"

    def relay_stream(self, shard: str) -> str:
        return f"{self.nats_stream}_{shard.upper()}"

    def relay_subject_prefix(self, shard: str) -> str:
        return f"{self.subject_prefix}.{shard}"


def load_shard_map(value: str) -> ShardMap:
    """The map from ``FUNDLEDGER_SHARDS``: JSON text, or a .json/.toml file's path."""
    text = value.strip()
    try:
        if text.startswith("{"):
            data: Any = json.loads(text)
        else:
            path = Path(text)
            raw = path.read_text(encoding="utf-8")
            data = tomllib.loads(raw) if path.suffix == ".toml" else json.loads(raw)
        return ShardMap.model_validate(data)
    except (OSError, ValueError, ValidationError) as error:
        raise InvalidInput(f"FUNDLEDGER_SHARDS is not a usable shard map: {error}",
                           rule="shards", field="FUNDLEDGER_SHARDS") from None


def shard_map(settings: Settings) -> ShardMap | None:
    return None if not settings.shards else load_shard_map(settings.shards)


class ShardRouter:
    """Opens each shard's ledger once, and sends a command to its community's shard."""

    def __init__(self, shards: ShardMap, settings: Settings | None = None) -> None:
        self.map = shards
        self.settings = settings or Settings()
        self._apps: dict[str, FundLedger] = {}
        self._city: FundLedger | None = None
        self._districts: dict[str, str] = {}
        self._streams: dict[UUID, str] = {}
        self._lock = threading.Lock()

    # -- databases ---------------------------------------------------------------------------

    def settings_for(self, url: str) -> Settings:
        return self.settings.model_copy(update={"db": url, "shards": None})

    def city(self) -> FundLedger:
        """The city database, opened as a ledger whose log stays empty: its datastore holds
        the directory and the city views."""
        with self._lock:
            if self._city is None:
                self._city = FundLedger(self.settings_for(self.map.city))
                _create_directory(self._city)
            return self._city

    def shard(self, name: str) -> FundLedger:
        if name not in self.map.shards:
            raise NotFound(f"no shard named {name!r}", rule="shards", field="shard")
        with self._lock:
            app = self._apps.get(name)
            if app is None:
                app = self._apps[name] = FundLedger(self.settings_for(self.map.shards[name]))
            return app

    def close(self) -> None:
        for app in [*self._apps.values(), *([self._city] if self._city else [])]:
            app.close()
        self._apps.clear()
        self._city = None

    # -- routing -----------------------------------------------------------------------------

    def district_of(self, community_code: str) -> str:
        district = self._districts.get(community_code)
        if district is None:
            found = _select_district(self.city(), community_code)
            if found is None:
                raise NotFound(f"community {community_code!r} is in no district's directory: "
                               "register it first", rule="F1", field="community_code")
            district = self._districts[community_code] = found
        return district

    def shard_of_community(self, community_code: str) -> str:
        return self.map.shard_of_district(self.district_of(community_code))

    def for_community(self, community_code: str) -> FundLedger:
        return self.shard(self.shard_of_community(community_code))

    def for_district(self, district: str) -> FundLedger:
        return self.shard(self.map.shard_of_district(district))

    def shard_of_stream(self, originator_id: UUID) -> str | None:
        """The shard holding a stream (a vote, an event's stream), or None if none does.

        Ids are uuid5 of what they name, so an id alone does not say its community: each
        shard is asked (one indexed read each), and the answer is kept, for a stream never
        moves between logs.
        """
        found = self._streams.get(originator_id)
        if found is None:
            found = next((name for name in self.map.shards if self.shard(name).recorder
                          .select_events(originator_id, limit=1)), None)
            if found is not None:
                self._streams[originator_id] = found
        return found

    def home(self) -> FundLedger:
        """The default shard: enterprises' credit records live here (one log per record)."""
        return self.shard(self.map.default)

    def record_directory(self, entries: Iterable[tuple[str, str]]) -> None:
        """Enter (community code, district) pairs; a code already in another district is a
        conflict (F1: a community never moves), and nothing is entered."""
        wanted = dict(entries)
        known = {code: d for code in wanted
                 if (d := self._districts.get(code) or _select_district(self.city(), code))}
        for code, district in wanted.items():
            if code in known and known[code] != district:
                raise Conflict(f"community {code} is registered in district {known[code]}, "
                               f"not {district}", rule="F1", field="district")
        _insert_directory(self.city(), [(code, d, self.map.shard_of_district(d))
                                        for code, d in wanted.items() if code not in known])
        for code, district in wanted.items():  # a concurrent registration may have won
            entered = _select_district(self.city(), code)
            if entered != district:
                raise Conflict(f"community {code} is registered in district {entered}, "
                               f"not {district}", rule="F1", field="district")
        self._districts.update(wanted)

    # -- commands that span shards -----------------------------------------------------------

    def register_units(self, rows: Sequence[UnitRow], *, effective_date: date,
                       actor: str) -> dict[str, Any]:
        """Each district's rows on its shard; the directory first, so a command after the
        registration always finds its shard (a registration that then fails leaves a
        directory entry pointing at a shard without the community: NotFound, as before)."""
        self.record_directory((row.community_code, row.district) for row in rows)
        by_shard: dict[str, list[UnitRow]] = {}
        for row in rows:
            by_shard.setdefault(self.map.shard_of_district(row.district), []).append(row)
        return {name: self.shard(name).register_units(part, effective_date=effective_date,
                                                      actor=actor)
                for name, part in by_shard.items()}

    def register_enterprise(self, *, credit_code: str, name: str, registered_on: date,
                            actor: str) -> None:
        """An enterprise may serve in any district: registered on every shard (the same
        deterministic id, idempotent), so a contract is saved with its community on one."""
        for shard in self.map.shards:
            self.shard(shard).register_enterprise(
                credit_code=credit_code, name=name, registered_on=registered_on, actor=actor)


# -- the directory table, on either store ------------------------------------------------------

def _is_postgres(app: FundLedger) -> bool:
    return app.settings.is_postgres


def _table(app: FundLedger) -> str:
    schema = app.settings.postgres_schema if _is_postgres(app) else None
    return f'"{schema}".{DIRECTORY_TABLE}' if schema else DIRECTORY_TABLE


def _create_directory(app: FundLedger) -> None:
    datastore: Any = getattr(app.recorder, "datastore")  # noqa: B009
    with datastore.transaction(commit=True) as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {_table(app)} (community_code TEXT "
                       "PRIMARY KEY, district TEXT NOT NULL, shard TEXT NOT NULL)")


def _select_district(app: FundLedger, code: str) -> str | None:
    datastore: Any = getattr(app.recorder, "datastore")  # noqa: B009
    mark = "%s" if _is_postgres(app) else "?"
    with datastore.transaction(commit=False) as cursor:
        cursor.execute(f"SELECT district FROM {_table(app)} WHERE community_code = {mark}",
                       (code,))
        row = cursor.fetchone()
    if row is None:
        return None
    return str(row["district"] if isinstance(row, dict) else row[0])


def _insert_directory(app: FundLedger, rows: list[tuple[str, str, str]]) -> None:
    if not rows:
        return
    datastore: Any = getattr(app.recorder, "datastore")  # noqa: B009
    mark = "%s" if _is_postgres(app) else "?"
    with datastore.transaction(commit=True) as cursor:
        cursor.executemany(f"INSERT INTO {_table(app)} (community_code, district, shard) "
                           f"VALUES ({mark}, {mark}, {mark}) ON CONFLICT DO NOTHING", rows)
