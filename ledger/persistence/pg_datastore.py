"""eventsourcing's PostgreSQL datastore, saying when a connection was lost or none was had.

Every statement fundledger runs on PostgreSQL (the recorders, the views, the access tables)
takes its connection from ``get_connection``, which translates psycopg's errors to
eventsourcing's. Here two of its ``OperationalError``s get a more precise type
(``ledger.persistence.connection_loss``):

* ``DatabaseUnavailable`` when the pool gave no connection (the server is down or refuses
  this database, or every connection stayed busy) within ``POSTGRES_CONNECT_TIMEOUT``;
* ``ConnectionLost`` when the connection broke while in use. Its backend was ended, so the
  pool's idle connections were most likely ended too (a restart, ``pg_terminate_backend``
  of every backend): before raising, the pool checks each idle connection once and replaces
  the dead ones, so a retry gets a working connection, not the next dead one.

Why not ``POSTGRES_PRE_PING`` (psycopg_pool's ``check_connection`` on every checkout): it
is a round trip per checkout, and a deposit over HTTP checks out four connections (token
and stored-response lookup, load, save, response stored). Measured here on the loopback, an
empty round trip is ~30 µs, so ~0.12 ms of a 6-7 ms deposit (lost in this machine's noise:
medians 6.4-7.3 ms with and without); but with the database on another host, 0.5 ms away,
it is 2 ms a deposit. And it would not spare the retry: a backend can die between the ping
and the statement. Checking the idle connections only after a loss costs nothing while the
database is well.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import OperationalError
from eventsourcing.postgres import PostgresDatastore
from psycopg import Connection
from psycopg.rows import DictRow

from ledger.persistence.connection_loss import ConnectionLost, DatabaseUnavailable


class FundPostgresDatastore(PostgresDatastore):
    """``PostgresDatastore`` whose ``get_connection`` tells lost and unavailable apart.

    ``FundPostgresFactory`` makes the library's datastore one of these after building it
    (the library's factory constructs ``PostgresDatastore`` itself); this class adds no
    state, only the method.
    """

    @contextmanager
    def get_connection(self) -> Iterator[Connection[DictRow]]:
        used: Connection[Any] | None = None
        try:
            with super().get_connection() as conn:
                used = conn
                yield conn
        except OperationalError as error:
            if used is None:
                raise DatabaseUnavailable(
                    f"no database connection within the connect timeout: {error}") from error
            if used.broken or used.closed:
                self.pool.check()  # replace the idle connections that died with this one
                raise ConnectionLost(f"the database connection was lost: {error}") from error
            raise
