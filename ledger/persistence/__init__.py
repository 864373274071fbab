"""Persistence for the fund ledger: eventsourcing recorders extended for bulk work.

Both stores (``postgres`` and ``sqlite``) provide recorders that

* insert *posting references* (idempotency keys, e.g. a bank line's reference) in the same
  transaction as the events they belong to, so a duplicate reference rejects the whole save;
* look many references up with one query (``select_references``);
* read many aggregates' event streams, and many latest snapshots, in bulk
  (``select_streams``, ``select_latest_many``);
* on PostgreSQL, commit a very large save as one ordinary (non-pipelined) transaction.

Select a store with ``PERSISTENCE_MODULE`` (see ``ledger.settings.Settings.eventsourcing_env``):
``ledger.persistence.postgres:FundPostgresFactory`` or
``ledger.persistence.sqlite:FundSQLiteFactory``. The store modules are not imported here, so
importing this package does not import a database driver.
"""

from ledger.persistence.references import (
    PostingReference,
    ReferenceRecorder,
    SnapshotRecorder,
    StreamRecorder,
)

__all__ = ["PostingReference", "ReferenceRecorder", "SnapshotRecorder", "StreamRecorder"]
