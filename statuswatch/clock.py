"""The one place statuswatch reads the time.

`STATUSWATCH_NOW` (an ISO-8601 time, e.g. 2025-06-14T21:20:50Z) pins the clock. It exists
so that tests and people rehearsing a scenario can drive `statuswatch check` in a
subprocess through hours of feed history without waiting for them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

Clock = Callable[[], datetime]


class ClockError(ValueError):
    pass


def parse_iso(text: str, zone: tzinfo = UTC) -> datetime | None:
    """An ISO-8601 time ('Z' allowed) in UTC; one without an offset is read in `zone`.
    None when `text` is not such a time, so each caller can say what was wrong."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def parse_instant(text: str) -> datetime:
    moment = parse_iso(text)
    if moment is None:
        raise ClockError(
            f"STATUSWATCH_NOW={text!r} is not an ISO-8601 time such as 2025-06-14T21:20:50Z"
        )
    return moment


def system_clock() -> Clock:
    pinned = os.environ.get("STATUSWATCH_NOW")
    if pinned:
        moment = parse_instant(pinned)
        return lambda: moment
    return lambda: datetime.now(UTC)
