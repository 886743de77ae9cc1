"""`/healthz`: healthy while every source was read within `stale_after`. Pure."""

from __future__ import annotations

from datetime import timedelta

from statuswatch.notify.render import format_duration
from statuswatch.web.reader import Reading


def health(reading: Reading) -> tuple[bool, str]:
    """(healthy, one sentence saying why)."""
    stale_after = timedelta(seconds=reading.settings.stale_after)
    problems = []
    for source in reading.sources:
        if source.last_success is None:
            problems.append(f"the {source.name} feed has not been read successfully yet")
        elif reading.at - source.last_success > stale_after:
            age = format_duration(max(timedelta(0), reading.at - source.last_success))
            problems.append(
                f"the {source.name} feed was last read {age} ago "
                f"(more than stale_after, {format_duration(stale_after)})"
            )
    if problems:
        return False, "; ".join(problems)
    return True, "ok: every feed was read within stale_after"
