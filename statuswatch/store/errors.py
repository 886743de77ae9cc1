"""The store's errors: each carries one sentence for the user (DESIGN §5, §9: exit 73/75)."""

from __future__ import annotations


class StoreError(Exception):
    """The state directory or database cannot be used. One sentence."""


class StoreLocked(StoreError):
    """Another statuswatch process holds the poll-cycle lock (or the database)."""


class StoreUnwritable(StoreError):
    """The state directory or database cannot be created or written."""


class StoreUnavailable(StoreError):
    """The database server cannot be reached right now (exit 69); retrying may help."""


class StoreMisconfigured(StoreError):
    """The database refuses us: wrong password, no such database, missing privileges
    (exit 78: the configuration or the database's grants must change)."""


class LeadershipLost(StoreLocked):
    """This node's session holding the poll lock ended: it must not write its cycle."""
