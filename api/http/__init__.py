"""The HTTP API (FastAPI): every capability of the ledger under ``/v1``."""
