"""Feed families. Each module turns one family's bytes into a Snapshot (see apple.py)."""
