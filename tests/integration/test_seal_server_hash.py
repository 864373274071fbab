"""PostgreSQL's content hash of a stored event is the verifier's, byte for byte.

``verify`` has the server hash each event (``proofs.content_hash_sql``) and chains the
32-byte hashes itself; proofs, exports and the sealer hash in Python (``content_hash``). Any
difference in framing (lengths in bytes, not characters; 64-bit big-endian integers; the
stream key as hex text) would make every verify of a clean log fail, so arbitrary rows are
hashed both ways, unicode topics and empty states included.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.seal.proofs import content_hash, content_hash_sql, stream_key

# PostgreSQL's text holds no NUL character (nor, as UTF-8, a lone surrogate): anything else.
TOPICS = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
                 max_size=60)
ROWS = st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), st.uuids(),
                          st.integers(-(2**63), 2**63 - 1), TOPICS, st.binary(max_size=3000)),
                min_size=1, max_size=20)


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    base, schema = pg_url.split("?schema=")
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f'SET search_path TO "{schema}"')
        connection.execute("CREATE TABLE events (notification_id bigint, originator_id uuid, "
                           "originator_version bigint, topic text, state bytea)")
        yield connection


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS)
def test_the_server_hashes_any_stored_event_as_the_verifier_does(
        conn: psycopg.Connection[tuple[Any, ...]],
        rows: list[tuple[int, uuid.UUID, int, str, bytes]]) -> None:
    conn.execute("DELETE FROM events")
    with conn.cursor() as curs:
        curs.executemany("INSERT INTO events VALUES (%s, %s, %s, %s, %s)", rows)
    key = "replace(e.originator_id::text, '-', '')"
    served = conn.execute(
        "SELECT " + content_hash_sql("e.notification_id", key, "e.originator_version",
                                     "e.topic", "e.state")
        + " FROM events AS e ORDER BY e.notification_id, e.originator_id").fetchall()
    expected = [content_hash(position, stream_key(oid), version, topic, state)
                for position, oid, version, topic, state in sorted(rows, key=lambda r: r[:2])]
    assert [bytes(h) for (h,) in served] == expected


def test_a_null_column_hashes_to_null_which_verify_names_malformed(
        conn: psycopg.Connection[tuple[Any, ...]]) -> None:
    conn.execute("INSERT INTO events VALUES (1, %s, 1, NULL, '\\x00'), (2, %s, 1, 't', NULL)",
                 (uuid.uuid4(), uuid.uuid4()))
    key = "replace(e.originator_id::text, '-', '')"
    served = conn.execute(
        "SELECT " + content_hash_sql("e.notification_id", key, "e.originator_version",
                                     "e.topic", "e.state") + " FROM events AS e").fetchall()
    assert served == [(None,), (None,)]
