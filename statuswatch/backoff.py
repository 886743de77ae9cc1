"""How long a failing source waits before its next poll (the daemon's back-off). Pure."""

from __future__ import annotations

MAX_BACKOFF = 1800.0


def backoff_interval(base: float, failures: int, retry_after: float | None) -> float:
    """The interval after `failures` consecutive failures: doubled each time, capped at
    30 min (never below the base), and never sooner than the server's Retry-After."""
    if failures <= 0:
        return base
    interval = max(base, min(base * 2**failures, MAX_BACKOFF))
    if retry_after is not None:
        interval = max(interval, min(retry_after, MAX_BACKOFF * 2))
    return interval
