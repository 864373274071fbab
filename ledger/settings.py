"""One settings object, read from the environment (``FUNDLEDGER_*``).

Local policy (the rates and thresholds docs/rules.md cites) lives here with the cited defaults,
and every event that used a policy records the value it used, so a recount years later applies
the rule then in force.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlparse

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

POSTGRES_SCHEMES = ("postgresql", "postgres")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FUNDLEDGER_", extra="ignore")

    db: str = Field(
        default="./fundledger.db",
        description="A SQLite file path, or a postgresql:// URL (add ?schema=NAME for a schema).",
    )
    # F2: the city sets the first-deposit rate; 200 yuan per m² is an example default.
    deposit_rate_fen_per_m2: int = Field(default=20_000, gt=0)
    # F4: a sub-account below 30 % of its first deposit is flagged for re-raising.
    reraise_threshold_percent: int = Field(default=30, ge=1, le=100)
    # C1: owners' committee size: odd, 5 to 11 (G2009), 3 allowed up to 100 households.
    committee_seats_min: int = Field(default=5, ge=1)
    committee_seats_max: int = Field(default=11, ge=1)
    small_community_households_max: int = Field(default=100, ge=0)
    small_community_seats_min: int = Field(default=3, ge=1)
    # E3: the credit scheme (JSON, see ledger/credit_scheme.py); unset means the example.
    credit_scheme_file: Path | None = None
    # Issue 7: the Ed25519 key that signs checkpoints (PKCS#8 PEM, made 0600 on first use).
    # Keep it off the database server; an auditor keeps the public key and checkpoints.
    signing_key_file: Path = Path("fundledger-signing.key")
    # A writer stuck behind the event-table lock fails after this many seconds.
    pg_lock_timeout_s: int = Field(default=10, ge=1)
    pg_pool_size: int = Field(default=5, ge=1)
    # A request waits this long for a database connection before it answers 503: long
    # enough for a reconnect, short enough that a client retries before its own timeout.
    pg_connect_timeout_s: int = Field(default=5, ge=1)
    # A concurrent writer on the same sub-account makes a save fail; retry this often.
    save_attempts_max: int = Field(default=20, ge=1)
    # Issue 19, /readyz (docs/operations.md): a view this many events or seconds behind the
    # log serves stale reads, so the process answers 503 until it catches up; events left
    # unsigned longer than ready_unsigned_s_max mean the sealer has stopped (it signs a
    # checkpoint every 60 s). The database must answer the probe within ready_timeout_s, and
    # a probe's answer is reused for ready_cache_s so that a busy balancer costs nothing.
    ready_view_lag_events_max: int = Field(default=10_000, ge=0)
    ready_view_lag_s_max: float = Field(default=30.0, ge=0)
    ready_unsigned_s_max: float = Field(default=300.0, ge=0)
    ready_timeout_s: float = Field(default=2.0, gt=0, le=30)
    ready_cache_s: float = Field(default=1.0, ge=0, le=60)
    # One line per request: JSON lines, or a line for people; unset, JSON unless stderr is
    # a terminal (`fundledger serve --log-format` overrides it).
    log_format: Literal["json", "human"] | None = None
    # The JetStream server and stream `fundledger relay nats` publishes to (its --url reads
    # FUNDLEDGER_NATS_URL too); set, /metrics reports how far the relay is behind the log.
    nats_url: str | None = None
    nats_stream: str = "FUNDLEDGER"

    @property
    def is_postgres(self) -> bool:
        return urlparse(self.db).scheme in POSTGRES_SCHEMES

    def eventsourcing_env(self) -> dict[str, str]:
        """The environment eventsourcing's factories read."""
        env = {
            "IS_SNAPSHOTTING_ENABLED": "y",
            "TRANSCODER_TOPIC": "ledger.persistence.transcoder:OrjsonTranscoder",
        }
        if not self.is_postgres:
            env["PERSISTENCE_MODULE"] = "ledger.persistence.sqlite:FundSQLiteFactory"
            env["SQLITE_DBNAME"] = self.db
            env["SQLITE_LOCK_TIMEOUT"] = str(self.pg_lock_timeout_s)
            return env
        url = urlparse(self.db)
        query = parse_qs(url.query)
        env.update(
            {
                "PERSISTENCE_MODULE": "ledger.persistence.postgres:FundPostgresFactory",
                "POSTGRES_DBNAME": url.path.lstrip("/") or "postgres",
                "POSTGRES_HOST": url.hostname or "127.0.0.1",
                "POSTGRES_PORT": str(url.port or 5432),
                "POSTGRES_USER": unquote(url.username or "postgres"),
                "POSTGRES_PASSWORD": unquote(url.password or ""),
                "POSTGRES_LOCK_TIMEOUT": str(self.pg_lock_timeout_s),
                "POSTGRES_POOL_SIZE": str(self.pg_pool_size),
                "POSTGRES_CONNECT_TIMEOUT": str(self.pg_connect_timeout_s),
                "POSTGRES_MAX_OVERFLOW": str(self.pg_pool_size),
            }
        )
        if "schema" in query:
            env["POSTGRES_SCHEMA"] = query["schema"][0]
        return env
