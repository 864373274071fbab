"""The write model: aggregates and their events. Pure Python, no I/O, no clock."""
