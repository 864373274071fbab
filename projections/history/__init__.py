"""The auditor's history: aggregates replayed at a cut, a community's events, F10 statements.

Read from the stored events themselves (never snapshots, never a view), so every figure can
be checked against the log.
"""
