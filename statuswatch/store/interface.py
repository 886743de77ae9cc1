"""The one store interface the monitor, daemon, CLI and web code use (DESIGN §5).

Each job lives in its own module; a backend (sqlite.py, postgres.py) supplies only
connections, transactions, locks and its schema.
"""

from __future__ import annotations

from statuswatch.store.history import HistoryMixin
from statuswatch.store.outbox import OutboxMixin
from statuswatch.store.policy import PolicyMixin
from statuswatch.store.tracking import TrackingMixin
from statuswatch.store.validators import ValidatorsMixin


class Store(TrackingMixin, HistoryMixin, OutboxMixin, PolicyMixin, ValidatorsMixin):
    """Abstract: open one with `statuswatch.store.open_store()` or a backend's `open()`."""
