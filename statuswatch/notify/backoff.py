"""When a failed delivery is tried again, and what a delivery step reports (DESIGN §4).

Pure but for `DeliveryReport.count_waiting`, which reads the store. No apprise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from statuswatch.store import Store

FIRST_RETRY = 30.0
MAX_RETRY = 3600.0


def retry_delay(attempts: int, jitter: float) -> float:
    """30 s doubling per failed attempt so far, ±10 % (`jitter` in [-1, 1]), never over 1 h."""
    base = min(FIRST_RETRY * 2 ** max(attempts, 0), MAX_RETRY)
    return min(base * (1 + 0.1 * jitter), MAX_RETRY)


def next_attempt(
    created_at: datetime, attempts: int, now: datetime, give_up_after: float, jitter: float
) -> datetime | None:
    """When to try again after a failure, or None when the row must be given up."""
    deadline = created_at + timedelta(seconds=give_up_after)
    if now >= deadline:
        return None
    return min(now + timedelta(seconds=retry_delay(attempts, jitter)), deadline)


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """What happened to one row in this delivery step (for `outbox retry`)."""

    row_id: int
    subscriber: str
    target: str  # masked
    status: str  # sent, retrying, dead, skipped (another process holds it), held, silenced
    error: str | None = None


@dataclass(slots=True)
class DeliveryReport:
    sent: int = 0
    pending: int = 0
    dead: int = 0
    waiting: dict[str, int] = field(default_factory=dict)  # subscriber -> rows still pending
    problems: list[str] = field(default_factory=list)  # configuration problems met
    failures: list[str] = field(default_factory=list)  # one line per failed send
    outcomes: list[RowOutcome] = field(default_factory=list)

    @classmethod
    def waiting_in(cls, store: Store) -> DeliveryReport:
        """A report of rows still waiting, with nothing sent in this run."""
        report = cls()
        report.count_waiting(store)
        return report

    def count_waiting(self, store: Store) -> None:
        self.pending, self.waiting = 0, {}
        for row in store.outbox_rows(("pending", "sending")):
            if row.held_until is not None and row.next_attempt_at <= row.held_until:
                continue  # held by quiet hours (DESIGN §4a), not waiting for a retry
            self.pending += 1
            self.waiting[row.subscriber] = self.waiting.get(row.subscriber, 0) + 1

    def summary_lines(self) -> list[str]:
        lines = list(dict.fromkeys(self.problems))
        if self.pending:
            who = ", ".join(f"{name} ({count})" for name, count in sorted(self.waiting.items()))
            reason = f" (last error: {self.failures[-1]})" if self.failures else ""
            lines.append(
                f"{self.pending} notification(s) could not be delivered yet and will be "
                f"retried: {who}{reason}; see `statuswatch outbox`"
            )
        return lines
