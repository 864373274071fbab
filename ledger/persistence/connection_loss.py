"""A lost or unreachable database, told apart from the other operational errors.

A pooled connection can die while it sits idle: the server restarts, an operator runs
``pg_terminate_backend``, a firewall drops the socket. Nothing notices until the next
statement on it fails, so without more the first request after such an event failed (500),
and so did the next one on each of the pool's other dead connections.

``ledger.persistence.pg_datastore`` raises ``ConnectionLost`` when a connection broke while
in use (and before raising it, drops the pool's other dead connections), and
``DatabaseUnavailable`` when no connection could be had at all within the connect timeout.
Both are eventsourcing ``OperationalError``s, so whatever handled those still does.

A read that lost its connection is simply run again (``retry_if_lost``): the pool then
gives a connection that works, or none (``DatabaseUnavailable``, not retried). Up to
``LOST_CONNECTION_ATTEMPTS_MAX`` attempts, not two: ``pg_terminate_backend`` returns before
the backend exits, and a restart ends backends over some milliseconds, so a connection the
pool found alive can die a moment later; the bank test (``tests/e2e/bank_sigkill.py``) saw
it on this machine. A write is not retried blindly: what it sent may have been committed
before the connection died; the PostgreSQL recorder retries the same rows and, if they are
found already written, answers as the lost commit would have (see its ``insert_events``).

The HTTP API answers either error, and any other operational error, with 503 and
``Retry-After`` (``api.http.problems``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from eventsourcing.persistence import OperationalError

# The first attempt and two more: see the module docstring.
LOST_CONNECTION_ATTEMPTS_MAX = 3
P = ParamSpec("P")
R = TypeVar("R")


class ConnectionLost(OperationalError):
    """The database connection broke while in use; what it sent may or may not have been
    committed."""


class DatabaseUnavailable(OperationalError):
    """No database connection could be had within the connect timeout."""


def retry_if_lost(func: Callable[P, R]) -> Callable[P, R]:
    """Run a read again if its connection was lost (on a connection the pool checked)."""

    @functools.wraps(func)
    def again_if_lost(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, LOST_CONNECTION_ATTEMPTS_MAX + 1):
            try:
                return func(*args, **kwargs)
            except ConnectionLost:
                if attempt == LOST_CONNECTION_ATTEMPTS_MAX:
                    raise
        raise AssertionError("unreachable")

    return again_if_lost
