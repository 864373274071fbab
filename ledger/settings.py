"""One settings object, read from the environment (``FUNDLEDGER_*``) and a ``.env`` file.

A ``.env`` file in the working directory (``FUNDLEDGER_DB=...`` lines) is read too; a variable
set in the environment wins over the same line in the file, and an argument wins over both.

Local policy (the rates and thresholds docs/rules.md cites) lives here with the cited defaults,
and every event that used a policy records the value it used, so a recount years later applies
the rule then in force.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlparse

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

POSTGRES_SCHEMES = ("postgresql", "postgres")
# Our own query parameter: the schema holding the ledger's tables. Every other parameter of
# a postgresql:// URL is a libpq one (sslmode, application_name, connect_timeout, options,
# sslrootcert, target_session_attrs, ...) and is passed to psycopg as given.
SCHEMA_PARAMETER = "schema"
# The environment entry that carries those libpq parameters to the store's factory
# (``ledger.persistence.postgres.FundPostgresFactory``), URL-encoded.
LIBPQ_PARAMETERS_ENV = "FUNDLEDGER_LIBPQ_PARAMETERS"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FUNDLEDGER_", env_file=".env",
                                      env_file_encoding="utf-8", extra="ignore")

    db: str = Field(
        default="./fundledger.db",
        description="A SQLite file path, or a postgresql:// URL (add ?schema=NAME for a "
                    "schema; every other query parameter is libpq's, e.g. sslmode).",
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
    # libpq's connect_timeout for each new connection (unless the URL gives one): an
    # unreachable server fails a command within this many seconds, not after TCP's minutes.
    db_connect_timeout_s: int = Field(default=3, ge=2)  # libpq takes 2 s at the least
    # A concurrent writer on the same sub-account makes a save fail; retry this often.
    save_attempts_max: int = Field(default=20, ge=1)
    # An older schema is migrated on opening (else refused: run `fundledger migrate`);
    # unset: yes on SQLite, no on PostgreSQL (docs/upgrades.md).
    auto_migrate: bool | None = None
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
    # Issue 20: districts on their own databases (ledger/shards.py): the shard map as JSON,
    # or a .json/.toml file's path. Unset: one database, FUNDLEDGER_DB, as ever.
    shards: str | None = None

    @property
    def is_postgres(self) -> bool:
        return urlparse(self.db).scheme in POSTGRES_SCHEMES

    def eventsourcing_env(self) -> dict[str, str]:
        """The environment eventsourcing's factories read."""
        env = {
            "IS_SNAPSHOTTING_ENABLED": "y",
            "TRANSCODER_TOPIC": "ledger.persistence.transcoder:OrjsonTranscoder",
        }
        if self.auto_migrate is not None:
            env["FUNDLEDGER_AUTO_MIGRATE"] = "y" if self.auto_migrate else "n"
        if not self.is_postgres:
            env["PERSISTENCE_MODULE"] = "ledger.persistence.sqlite:FundSQLiteFactory"
            env["SQLITE_DBNAME"] = self.db
            env["SQLITE_LOCK_TIMEOUT"] = str(self.pg_lock_timeout_s)
            return env
        url = urlparse(self.db)
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
        schema = self.postgres_schema
        if schema is not None:
            env["POSTGRES_SCHEMA"] = schema
        env[LIBPQ_PARAMETERS_ENV] = urlencode(self.libpq_parameters())
        return env

    def _query(self) -> list[tuple[str, str]]:
        return parse_qsl(urlparse(self.db).query, keep_blank_values=True)

    @property
    def postgres_schema(self) -> str | None:
        """The ``?schema=`` of a PostgreSQL URL, if given."""
        found = [value for key, value in self._query() if key == SCHEMA_PARAMETER]
        return found[0] if found else None

    def libpq_parameters(self) -> dict[str, str]:
        """Every query parameter of the URL but ``schema``, for psycopg as given, plus
        ``connect_timeout`` (``db_connect_timeout_s``) when the URL does not set it."""
        parameters = {key: value for key, value in self._query() if key != SCHEMA_PARAMETER}
        parameters.setdefault("connect_timeout", str(self.db_connect_timeout_s))
        return parameters

    def connection_parameters(self) -> dict[str, str]:
        """What psycopg connects with: the URL's host, port, database, user and password, and
        ``libpq_parameters`` (a ``host`` or ``port`` among them wins, as in libpq)."""
        url = urlparse(self.db)
        return {
            "host": url.hostname or "127.0.0.1", "port": str(url.port or 5432),
            "dbname": url.path.lstrip("/") or "postgres",
            "user": unquote(url.username or "postgres"),
            "password": unquote(url.password or ""),
            **self.libpq_parameters(),
        }

    def describe_db(self) -> str:
        """Where the ledger is, for a message: never the password."""
        if not self.is_postgres:
            return f"SQLite file {self.db}"
        parameters = self.connection_parameters()
        schema = self.postgres_schema
        return (f"PostgreSQL at {parameters['host']}:{parameters['port']}, database "
                f"{parameters['dbname']}" + (f", schema {schema}" if schema else ""))
