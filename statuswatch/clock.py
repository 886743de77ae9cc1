"""The one place statuswatch reads the time.

`STATUSWATCH_NOW` (an ISO-8601 time, e.g. 2025-06-14T21:20:50Z) pins the clock. It exists
so that tests and people rehearsing a scenario can drive `statuswatch check` in a
subprocess through hours of feed history without waiting for them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


class ClockError(ValueError):
    pass


def parse_instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ClockError(
            f"STATUSWATCH_NOW={text!r} is not an ISO-8601 time such as 2025-06-14T21:20:50Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def system_clock() -> Clock:
    pinned = os.environ.get("STATUSWATCH_NOW")
    if pinned:
        moment = parse_instant(pinned)
        return lambda: moment
    return lambda: datetime.now(UTC)
