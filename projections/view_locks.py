"""Who may write a view: its runners together, or one rebuild alone.

Runners that apply events to a view (``projections run``, ``--follow``, the embedded API's
followers) can share it: each page's tracking position is written first and refused if it
was already committed, so each event applies once whatever the number of runners. A rebuild
cannot share it: it drops the view's tables and tracking and applies the log from event one,
and a runner committing into the fresh tables meanwhile would move the tracking position
past events the rebuild has not applied yet, which the rebuild would then skip.

So runners hold a view's lock shared and a rebuild holds it exclusively, and neither waits:
the one that comes second is refused with ``ViewBusy``, naming the view and what holds it.
The locks are the database's or the operating system's, released when their holder's
connection or process ends, so a killed runner never leaves a view locked:

* PostgreSQL: a session-level advisory lock, on a connection of its own, keyed by the
  view's name and the datastore's schema (one database can hold several ledgers).
* SQLite: ``flock`` on a file beside the database (``<db>.<view>.view-lock``). An in-memory
  database belongs to one process, which needs no lock against itself from here.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

VIEW_LOCK_KEY = 0x76696577  # "view": the advisory locks' first key, the view its second


class ViewBusy(Exception):
    """A view is locked the other way: a rebuild while runners hold it, or the reverse."""

    def __init__(self, view_name: str, *, exclusive: bool) -> None:
        self.view_name = view_name
        self.exclusive = exclusive
        if exclusive:
            message = (f"view {view_name!r} is being followed or caught up by another runner "
                       "(fundledger projections run, fundledger serve); stop it before "
                       "rebuilding the view")
        else:
            message = (f"view {view_name!r} is being rebuilt by another process; run it "
                       "again when the rebuild has finished")
        super().__init__(message)


@contextmanager
def postgres_view_lock(
    datastore: PostgresDatastore, view_name: str, *, exclusive: bool
) -> Iterator[None]:
    # Its own connection: a pooled one would carry the session lock back into the pool.
    pool_kwargs = datastore.pool.kwargs
    assert isinstance(pool_kwargs, dict), "the library's pool is built with connection kwargs"
    kwargs = {k: v for k, v in pool_kwargs.items() if k != "row_factory"}
    how = "" if exclusive else "_shared"
    key = f"{datastore.schema}.{view_name}"
    with psycopg.connect(autocommit=True, **kwargs) as conn:
        row = conn.execute(f"SELECT pg_try_advisory_lock{how}(%s, hashtext(%s))",
                           (VIEW_LOCK_KEY, key)).fetchone()
        if row is None or not row[0]:
            raise ViewBusy(view_name, exclusive=exclusive)
        try:
            yield
        finally:
            # Closing the connection would release it too, but only once the server has
            # ended the session: unlocking first lets a rebuild right after this succeed.
            if not conn.closed:
                conn.execute(f"SELECT pg_advisory_unlock{how}(%s, hashtext(%s))",
                             (VIEW_LOCK_KEY, key))


def lock_file_path(db_name: str, view_name: str) -> str:
    path = db_name.removeprefix("file:").split("?", 1)[0]
    return f"{path}.{view_name}.view-lock"


@contextmanager
def sqlite_view_lock(
    datastore: SQLiteDatastore, view_name: str, *, exclusive: bool
) -> Iterator[None]:
    if datastore.pool.is_sqlite_memory_mode:
        yield
        return
    fd = os.open(lock_file_path(datastore.pool.db_name, view_name), os.O_RDWR | os.O_CREAT,
                 0o600)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ViewBusy(view_name, exclusive=exclusive) from None
        yield
    finally:
        os.close(fd)  # which releases the lock
