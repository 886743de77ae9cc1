"""DESIGN §5: where state lives. `Store` is the interface; `SqliteStore` the default
backend (PostgreSQL for two nodes is in postgres.py, imported only when configured)."""

from statuswatch.store.errors import (
    LeadershipLost,
    StoreError,
    StoreLocked,
    StoreMisconfigured,
    StoreUnavailable,
    StoreUnwritable,
)
from statuswatch.store.interface import Store
from statuswatch.store.policy import Silence
from statuswatch.store.records import (
    FeedCache,
    OutboxEntry,
    OutboxRow,
    PolicyEntry,
    SourceStatus,
    body_hash,
)
from statuswatch.store.sqlite import (
    DB_NAME,
    LOCK_NAME,
    SCHEMA_VERSION,
    SqliteStore,
    default_state_dir,
)

__all__ = [
    "DB_NAME",
    "LOCK_NAME",
    "SCHEMA_VERSION",
    "FeedCache",
    "LeadershipLost",
    "OutboxEntry",
    "OutboxRow",
    "PolicyEntry",
    "Silence",
    "SourceStatus",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoreLocked",
    "StoreMisconfigured",
    "StoreUnavailable",
    "StoreUnwritable",
    "body_hash",
    "default_state_dir",
]
