"""The store's errors: each carries one sentence for the user (DESIGN §5, §9: exit 73/75)."""

from __future__ import annotations


class StoreError(Exception):
    """The state directory or database cannot be used. One sentence."""


class StoreLocked(StoreError):
    """Another statuswatch process holds the poll-cycle lock (or the database)."""


class StoreUnwritable(StoreError):
    """The state directory or database cannot be created or written."""
