"""Enterprise commands: registry, entry and exit with handover, credit record (E1–E3)."""

from __future__ import annotations
