"""Data sets that ship with installed packages (no downloads)."""
