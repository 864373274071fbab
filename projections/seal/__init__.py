"""Tamper evidence: events chained per stream, the log signed at checkpoints, proofs checked.

``proofs`` is pure (no database, no import of the store side), so an auditor checks a proof
or a bundle with it alone; keep this package's ``__init__`` free of imports for that reason.
"""
