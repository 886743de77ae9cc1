"""What every store backend provides to the job modules: connections and locks."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from pathlib import Path

from statuswatch.store.sql import Sql


class Backend(ABC):
    """A database with short transactions and one poll-cycle lock (DESIGN §5)."""

    #: Where the state lives, for messages ("another check is running on …").
    location: str
    state_dir: Path | None = None

    @abstractmethod
    def _reader(self) -> Sql:
        """A connection for reads outside any transaction."""

    @abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[Sql]:
        """One short write transaction; errors come out as StoreError sentences."""

    @abstractmethod
    def cycle_lock(
        self, wait: float = 5.0, poll: float = 0.05
    ) -> contextlib.AbstractContextManager[None]:
        """Held for a whole poll cycle so that two runs never poll at once."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def size_bytes(self) -> int: ...
