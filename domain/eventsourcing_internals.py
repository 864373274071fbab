"""Everything fundledger does to eventsourcing beyond its public API, and why, in one place.

The library is pinned (``eventsourcing==9.5.6`` in pyproject.toml) and
``tests/unit/test_eventsourcing_internals.py`` checks each thing this module relies on against
the installed version: the version itself, the private attribute names and what they hold,
and that each shortcut here gives what the library's own path gives. When an upgrade changes
any of it, that test says which, before a ledger test fails somewhere far away.

Why this module is in ``domain/``: the domain needs one of these shortcuts itself
(``trigger_event_quickly``, on a bank batch's hot path), the domain may import only the
standard library and ``eventsourcing.domain``, and every other layer may import the domain.
So this module imports nothing else: what it does to the library's application and
persistence objects it does by duck typing, naming the library's classes only in the test.

Why the domain keeps its quicker ``trigger_event`` rather than the library's: measured on a
UnitAccount money event (Python 3.11, eventsourcing 9.5.6), the library's takes 3.4-3.6 µs
and this one 2.7-3.1 µs. A bank batch triggers one such event per line, so the library's
would make the batch slower, which this redesign must not.

What is not here, and why: our recorder subclasses override or call their base class's
protected hooks (``_create_table``, ``_insert_events``, ``_lock_table``,
``_notify_channel``, ``_max_notification_id``), and ``LedgerBase``
overrides ``Application._take_snapshots``. A subclass can only do that in its own body, so
those stay where they are; the test lists each of them and checks it still exists with the
parameters we use and is still called where we rely on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import BaseAggregate, CanMutateAggregate

PINNED_VERSION = "9.5.6"

T = TypeVar("T")

# The library's own bookkeeping on every aggregate (``vars(aggregate)``), not domain state.
LIBRARY_AGGREGATE_ATTRIBUTES = ("_id", "_version", "_created_on", "_modified_on",
                                "_pending_events")


def trigger_event_quickly(
    aggregate: BaseAggregate[UUID], event_class: type[CanMutateAggregate[UUID]], **kwargs: Any
) -> None:
    """The library's ``BaseAggregate.trigger_event``, with less work per event.

    Assign it as ``trigger_event`` on an aggregate class that declares no ``TOPIC``. The same
    steps: the next version, a timestamp unless given, construct, mutate (which checks id and
    version and applies), append to the pending events. It skips the explicit-TOPIC check
    (for classes without one it does nothing) and a copy of the keyword arguments (already
    this call's own dict, and the id and version overwrite any given), and reads the id,
    version and pending events from the library's attributes instead of its properties.
    """
    if kwargs.get("timestamp") is None:
        kwargs["timestamp"] = event_class.create_timestamp()
    kwargs["originator_id"] = aggregate._id
    kwargs["originator_version"] = aggregate._version + 1
    try:
        new_event = event_class(**kwargs)
    except TypeError as e:
        msg = f"Can't construct event {event_class}: {e}"
        raise TypeError(msg) from None
    new_event.mutate(aggregate)
    aggregate._pending_events.append(new_event)


def build_frozen(cls: type[T], state: dict[str, Any]) -> T:
    """An instance of the frozen dataclass ``cls`` holding ``state``, without its ``__init__``.

    What the library's ``Mapper.to_domain_event`` does to make a domain event, used here for
    the library's ``Notification`` and ``Tracking`` too, where reading the log builds one per
    event: the frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``
    and is several times slower. ``state`` must hold exactly the dataclass's fields (the
    instance takes the dict itself, so it must not be shared), and ``cls`` must have no
    ``__post_init__`` that matters (the test checks the library classes we pass).
    """
    instance: T = _new(cls)
    _set_attribute(instance, "__dict__", state)
    return instance


# Looked up once: build_frozen runs once per event read, and this saves a third of its cost.
_new, _set_attribute = object.__new__, object.__setattr__


# -- the steps of ``Application.save`` that ``LedgerBase._save`` takes itself ------------------


def cache_saved(app: Any, aggregates: dict[Any, Any]) -> None:
    """What ``Application._record`` does after recording: put the saved aggregates in the
    repository's cache, unless the application has none or fast-forwards cached aggregates."""
    repository = app.repository
    if repository.cache and not repository.fastforward:
        for aggregate_id, aggregate in aggregates.items():
            repository.cache.put(aggregate_id, aggregate)


def notify_saved(app: Any, recordings: Callable[[], Sequence[Any]]) -> None:
    """What ``Application.save`` does last: hand the save's recordings to ``_notify``.

    The library's own ``_notify`` does nothing, so ``recordings`` (a ``Recording`` per saved
    event, costly for a batch) is only called when the application overrides it.
    """
    library_notify = _library_application(type(app))._notify
    if type(app)._notify is not library_notify:
        app._notify(list(recordings()))


def _library_application(cls: type[Any]) -> type[Any]:
    """The library's ``Application`` among ``cls``'s bases (not importable from the domain)."""
    for base in cls.__mro__:
        if base.__module__ == "eventsourcing.application" and base.__name__ == "Application":
            return base
    msg = f"{cls.__qualname__} is not an eventsourcing Application"
    raise TypeError(msg)
