"""Counters the daemon keeps for `/metrics` (DESIGN §8). Plain Python, no prometheus_client:
the daemon counts whether or not [http] is set, and only web/metrics.py imports the
library, at scrape time. Counts start at zero with the process, as Prometheus counters do.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field

# Poll duration histogram bounds, in seconds: a good poll takes ~0.1-1 s, a failing one up
# to three times the timeout (10 s by default).
POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class Histogram:
    bounds: tuple[float, ...] = POLL_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(POLL_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # the last count is +Inf's
        self.total += value

    def cumulative(self) -> list[tuple[str, int]]:
        """[(le, count)] as Prometheus wants them, ending with +Inf."""
        result, running = [], 0
        for bound, count in zip(self.bounds, self.counts, strict=False):
            running += count
            result.append((repr(bound), running))
        result.append(("+Inf", running + self.counts[-1]))
        return result


@dataclass
class DaemonStats:
    polls: Counter[str] = field(default_factory=Counter)  # source -> polls
    poll_failures: Counter[str] = field(default_factory=Counter)  # source -> failed polls
    durations: dict[str, Histogram] = field(default_factory=dict)  # source -> seconds
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)  # (source, kind)
    deliveries: Counter[str] = field(
        default_factory=lambda: Counter({"sent": 0, "dead": 0})
    )  # result -> rows

    def poll(self, source: str, ok: bool, seconds: float, kinds: list[str]) -> None:
        self.polls[source] += 1
        if not ok:
            self.poll_failures[source] += 1
        histogram = self.durations.get(source)
        if histogram is None:
            histogram = self.durations[source] = Histogram()
        histogram.observe(seconds)
        for kind in kinds:
            self.transitions[(source, kind)] += 1

    def delivered(self, sent: int, dead: int) -> None:
        """Rows the channels accepted, and rows given up, by this process."""
        self.deliveries["sent"] += sent
        self.deliveries["dead"] += dead
