"""Throwaway PostgreSQL databases for the tests and the benchmarks: made, used, dropped."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.sql import SQL, Identifier


@contextmanager
def scratch_database(admin_url: str, prefix: str = "fundledger_scratch") -> Iterator[str]:
    """A new database on ``admin_url``'s server; yields its URL and drops it afterwards,
    even with connections still open to it (a crashed run leaves nothing behind)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(SQL("CREATE DATABASE {}").format(Identifier(name)))
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(Identifier(name)))
