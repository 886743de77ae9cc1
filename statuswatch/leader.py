"""Leader election for `statuswatch run` on a shared store (DESIGN §5 "Two machines").

Exactly one node polls: the one whose dedicated database session holds the poll lock
(a session-level advisory lock, see store/postgres.py). Every node ticks this every
LEADER_RETRY seconds: a standby tries to take the lock, the leader checks that its
session lives. A database that cannot be reached is retried with back-off; the node
stays up, stands by, and says so in its status line.

No I/O of its own: all of it goes through the store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from statuswatch.store import Store, StoreError

log = logging.getLogger("statuswatch.leader")

LEADER_RETRY = 2.0  # seconds between attempts of a standby (and checks of the leader)
MAX_RETRY = 60.0  # back-off cap while the database cannot be reached


class Role(StrEnum):
    LEADER = "leader"
    STANDBY = "standby"


class Change(StrEnum):
    GAINED = "gained"
    LOST = "lost"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Election:
    """This node's side of the election. `role` and `since` are what the status line,
    `statuswatch status` and the web surface's `statuswatch_leader` gauge report."""

    store: Store
    role: Role = Role.STANDBY
    since: datetime = field(default_factory=_now)
    problem: str | None = None  # why the database could not be asked, while that lasts
    failures: int = 0
    leader_node: str | None = None  # who leads, as far as a standby knows

    @property
    def is_leader(self) -> bool:
        return self.role is Role.LEADER

    def tick(self) -> Change | None:
        """One attempt (standby) or check (leader). Never raises for database faults."""
        was_leader = self.is_leader
        try:
            leading = self.store.still_leading() if was_leader else self.store.try_lead()
            if not leading:
                info = self.store.leader_info()
                self.leader_node = info.node if info is not None else None
        except StoreError as error:
            leading = False
            if self.problem != str(error):
                log.error("database: %s; standing by and retrying", error)
            self.problem = str(error)
            self.failures += 1
        else:
            if self.problem is not None:
                log.info("database reachable again")
            self.problem, self.failures = None, 0
        if leading == was_leader:
            return None
        self.since = (self.store.leader_since or _now()) if leading else _now()
        if leading:
            self.role = Role.LEADER
            epoch = getattr(self.store, "epoch", None)
            log.info("this node leads now%s: polling", f" (epoch {epoch})" if epoch else "")
            return Change.GAINED
        self.role = Role.STANDBY
        log.warning(
            "this node lost the lead (its database session ended); it stands by and "
            "writes nothing more for its cycle"
        )
        return Change.LOST

    def lost(self) -> Change | None:
        """A cycle found its session gone (LeadershipLost): stand by now, not next tick."""
        if not self.is_leader:
            return None
        self.role, self.since = Role.STANDBY, _now()
        log.warning("this node lost the lead during a cycle; it wrote nothing of it")
        return Change.LOST

    def next_delay(self) -> float:
        if self.failures <= 0:
            return LEADER_RETRY
        return min(LEADER_RETRY * 2 ** min(self.failures, 10), MAX_RETRY)

    def describe(self) -> str:
        """The status line's first part: `leader since 12:00:01 UTC`."""
        since = self.since.strftime("%H:%M:%S")
        if self.problem is not None:
            return f"standby: database unreachable, retrying ({self.problem})"
        if self.is_leader:
            return f"leader since {since} UTC"
        who = f", leader {self.leader_node}" if self.leader_node else ", no leader yet"
        return f"standby since {since} UTC{who}"
