"""What every store backend provides to the job modules: connections and locks."""

from __future__ import annotations

import contextlib
import logging
from abc import ABC, abstractmethod
from datetime import datetime
from pathlib import Path

from statuswatch.store.records import LeaderInfo
from statuswatch.store.sql import Sql

log = logging.getLogger("statuswatch.store")

#: What decoding a stored row can raise when the row holds a value this version does not
#: know (a kind written by hand, a broken JSON event): the row is skipped and reported.
UNDECODABLE = (ValueError, TypeError, KeyError, OverflowError, AttributeError)


class Backend(ABC):
    """A database with short transactions and one poll-cycle lock (DESIGN §5)."""

    #: Where the state lives, for messages ("another check is running on …").
    location: str
    state_dir: Path | None = None
    #: Several processes on several machines share this store (PostgreSQL): delivery
    #: runs on every node without the cycle lock, and only the leader polls.
    shared: bool = False
    #: Whether this process holds the poll lock for good (a daemon's leadership, read by
    #: the status line and the web surface's `statuswatch_leader` gauge). A store nobody
    #: shares has no election: its one process is the leader.
    leader: bool = True
    leader_since: datetime | None = None

    def _undecodable(self, what: str, error: Exception) -> None:
        """DESIGN §5: a row that does not decode is reported (once per process and row)
        and left out, so it never makes every other command fail."""
        seen: set[str] = self.__dict__.setdefault("_reported_rows", set())
        if what in seen:
            return
        seen.add(what)
        log.warning(
            "%s in %s cannot be read by this statuswatch (%s); it is left out. Remove or "
            "fix that row (or restore a backup) to make this warning go away",
            what,
            self.location,
            _reason(error),
        )

    def change_counter(self) -> int | None:
        """A number that changes whenever another connection commits to this database,
        and stays the same across this connection's own commits (SQLite's data_version).
        None: no such number (PostgreSQL), so nothing read is ever kept in memory."""
        return None

    @property
    def _memo(self) -> dict[tuple[str, str], tuple[int, object]]:
        """What this connection last wrote (or counted) and can read back without asking the
        database while change_counter() stays the same: ("track"|"feed", source) or
        ("outbox", "counts") -> (counter, value). Any other write through this store empties
        it (see transaction())."""
        memo = self.__dict__.get("_memo_dict")
        if memo is None:
            memo = self.__dict__["_memo_dict"] = {}
        return memo

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

    # Leader election (DESIGN §5): a store nobody shares always leads; PostgresStore
    # overrides these with its session-level advisory lock.
    def try_lead(self) -> bool:
        """Take the poll lock for good if nobody holds it; True while this process leads."""
        return True

    def still_leading(self) -> bool:
        """False once the session that held the poll lock has ended."""
        return True

    def resign(self) -> None:
        """Give the poll lock up (at shutdown), so a standby takes over at once."""
        return None

    def leader_info(self) -> LeaderInfo | None:
        """Which node leads and since when, for `status` (None: no election)."""
        return None

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def size_bytes(self) -> int: ...


def _reason(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:200]
