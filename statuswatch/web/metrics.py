"""`/metrics`: Prometheus exposition through prometheus-client (DESIGN §8).

A collector on its own CollectorRegistry (never the library's global one, which would
add process metrics of its own choosing): the states, outbox and poll times are read
from the store at scrape time, the counters from the daemon's DaemonStats. Label values
are escaped by the library. No subscriber name or target is ever a label.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from statuswatch import __version__
from statuswatch.model import Kind, State
from statuswatch.stats import DaemonStats
from statuswatch.web.reader import Reading

OUTBOX_STATUSES = ("pending", "sending", "sent", "dead", "silenced")


class _Collector:
    def __init__(self, reading: Reading, stats: DaemonStats | None) -> None:
        self.reading = reading
        self.stats = stats or DaemonStats()

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        reading, stats = self.reading, self.stats
        info = GaugeMetricFamily(
            "statuswatch_build_info", "statuswatch version; always 1", labels=["version"]
        )
        info.add_metric([__version__], 1)
        yield info

        state = GaugeMetricFamily(
            "statuswatch_service_state",
            "1 for the state each watched service is in at the last poll (unknown: no data), "
            "0 for the others",
            labels=["source", "service", "state"],
        )
        severity = GaugeMetricFamily(
            "statuswatch_service_severity",
            "Severity of each watched service's state at the last poll: 0 available, "
            "1 maintenance, 2 performance, 3 issue, 4 outage, -1 no data",
            labels=["source", "service"],
        )
        since = GaugeMetricFamily(
            "statuswatch_service_state_since_timestamp_seconds",
            "Unix time at which each service's confirmed state began",
            labels=["source", "service"],
        )
        for source in reading.sources:
            for row in source.rows:
                for each in State:
                    state.add_metric(
                        [source.name, row.name, each.value], 1.0 if each is row.state else 0.0
                    )
                severity.add_metric([source.name, row.name], float(row.state.severity))
                if row.since is not None:
                    since.add_metric([source.name, row.name], row.since.timestamp())
        yield state
        yield severity
        yield since

        success = GaugeMetricFamily(
            "statuswatch_last_successful_poll_timestamp_seconds",
            "Unix time of each source's last poll that read the feed",
            labels=["source"],
        )
        up = GaugeMetricFamily(
            "statuswatch_source_up", "1 if the source's last poll read the feed", labels=["source"]
        )
        for source in reading.sources:
            if source.last_success is not None:
                success.add_metric([source.name], source.last_success.timestamp())
            up.add_metric([source.name], 1.0 if source.ok else 0.0)
        yield success
        yield up

        polls = CounterMetricFamily(
            "statuswatch_polls", "Polls made by this process, per source", labels=["source"]
        )
        failures = CounterMetricFamily(
            "statuswatch_poll_failures",
            "Polls that could not read the feed, per source",
            labels=["source"],
        )
        duration = HistogramMetricFamily(
            "statuswatch_poll_duration_seconds",
            "Time one poll took (fetch, evaluate, record), per source",
            labels=["source"],
        )
        for source in reading.sources:
            polls.add_metric([source.name], stats.polls.get(source.name, 0))
            failures.add_metric([source.name], stats.poll_failures.get(source.name, 0))
            histogram = stats.durations.get(source.name)
            if histogram is not None:
                duration.add_metric(
                    [source.name], histogram.cumulative(), sum_value=histogram.total
                )
        yield polls
        yield failures
        yield duration

        transitions = CounterMetricFamily(
            "statuswatch_transitions",
            "Transitions recorded by this process, by source and kind",
            labels=["source", "kind"],
        )
        # Every kind of every source from 0, so that rate() and increase() see the first one.
        counted = dict(stats.transitions)
        for source in reading.sources:
            for kind in Kind:
                if not kind.is_policy_kind:  # reminders are messages, not transitions
                    counted.setdefault((source.name, kind.value), 0)
        for (source_name, kind), count in sorted(counted.items()):
            transitions.add_metric([source_name, kind], count)
        yield transitions

        outbox = GaugeMetricFamily(
            "statuswatch_outbox_rows",
            "Notification rows in the outbox, by status",
            labels=["status"],
        )
        for status in OUTBOX_STATUSES:
            outbox.add_metric([status], reading.outbox.get(status, 0))
        yield outbox

        # DESIGN §4: alert on this (> 0) to hear about a channel that stayed broken.
        given_up = GaugeMetricFamily(
            "statuswatch_notifications_given_up",
            "Given-up (dead) notification rows that nobody retried or dropped yet",
        )
        given_up.add_metric([], reading.outbox.get("dead", 0))
        yield given_up

        deliveries = CounterMetricFamily(
            "statuswatch_deliveries",
            "Notification rows this process delivered (sent) or gave up on (dead)",
            labels=["result"],
        )
        for result, count in sorted(stats.deliveries.items()):
            deliveries.add_metric([result], count)
        yield deliveries

        leader = GaugeMetricFamily(
            "statuswatch_leader", "1 if this node is the one that polls, else 0"
        )
        leader.add_metric([], 1.0 if reading.leader else 0.0)
        yield leader

        info = reading.leader_info
        if info is not None and info.node is not None and info.since is not None:
            # Two machines: which node holds the poll lock (the same on every node's
            # scrape), and since when. Absent while no daemon leads (a one-shot `check`
            # holding the lock for its cycle is no leader).
            since = GaugeMetricFamily(
                "statuswatch_leader_since_timestamp_seconds",
                "Unix time at which the node that polls now took the lead (shared store)",
                labels=["node"],
            )
            since.add_metric([info.node], info.since.timestamp())
            yield since


def render_metrics(reading: Reading, stats: DaemonStats | None) -> tuple[bytes, str]:
    """(body, content type) of one scrape."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(reading, stats))  # type: ignore[arg-type]
    return generate_latest(registry), CONTENT_TYPE_LATEST
