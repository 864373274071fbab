"""The read side: views computed from the event log, never written to by commands."""
