"""The write side's service layer: the application, its persistence and its settings."""
