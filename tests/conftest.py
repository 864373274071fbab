"""Shared fixtures: every backend test runs on embedded SQLite and on real PostgreSQL.

PostgreSQL tests use a throwaway database made for the session, and a fresh schema per test,
both dropped afterwards. Without a reachable server they skip with the reason, unless
``FUNDLEDGER_REQUIRE_PG=1`` (CI sets it), in which case they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, settings

from ledger.persistence.scratch import scratch_database

settings.register_profile("default", max_examples=25, deadline=None)
settings.register_profile(
    "ci",
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

PG_ADMIN_URL = os.environ.get(
    "FUNDLEDGER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_PG = os.environ.get("FUNDLEDGER_REQUIRE_PG", "") not in ("", "0", "no")


def _pg_unreachable_reason() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.OperationalError as error:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {error}"


@pytest.fixture(autouse=True)
def signing_key_outside_the_repository(tmp_path_factory: pytest.TempPathFactory,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The ledger signs with ``./fundledger-signing.key`` unless told otherwise, and an app
    that follows its log seals and signs a checkpoint as it shuts down: every test's key is
    kept in the session's temporary folder instead (a test may name a key of its own).
    Before, the suite wrote one into the working directory, which went unseen where the
    demo had made one first (as the README's first command does in CI)."""
    if "FUNDLEDGER_SIGNING_KEY_FILE" not in os.environ:
        monkeypatch.setenv("FUNDLEDGER_SIGNING_KEY_FILE",
                           str(tmp_path_factory.getbasetemp() / "signing.key"))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A database for this test session; yields its URL."""
    reason = _pg_unreachable_reason()
    if reason is not None:
        if REQUIRE_PG:
            pytest.fail(f"{reason} (FUNDLEDGER_REQUIRE_PG is set)")
        pytest.skip(reason)
    with scratch_database(PG_ADMIN_URL, "fundledger_test") as url:
        yield url


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    """A fresh schema in the session database; the URL selects it with ``?schema=``."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{pg_database}?schema={schema}"
    finally:
        with psycopg.connect(pg_database, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return str(tmp_path / "fundledger.db")


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """The ``FUNDLEDGER_DB`` value for a test that must pass on both stores."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


# -- tests leave nothing behind -------------------------------------------------------------

REPOSITORY = Path(__file__).resolve().parent.parent
# What running the tools makes and .gitignore expects: caches, not a test's leftovers.
RUN_LEFTOVERS = frozenset({".hypothesis", ".pytest_cache", ".mypy_cache", ".ruff_cache"})


def _root_entries() -> set[str]:
    return {entry.name for entry in REPOSITORY.iterdir()} - RUN_LEFTOVERS


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_ROOT_BEFORE] = _root_entries()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A test that writes into the working directory (a database, a signing key) instead
    of its own temporary folder fails the run, naming what it left."""
    before = session.config.stash.get(_ROOT_BEFORE, None)
    if before is None or hasattr(session.config, "workerinput"):
        return
    left = sorted(_root_entries() - before)
    if left:
        session.config.get_terminal_writer().line(
            f"tests left files in {REPOSITORY}: {', '.join(left)}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_ROOT_BEFORE = pytest.StashKey[set[str]]()
