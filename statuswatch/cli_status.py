"""`statuswatch status`: what is recorded now, per service and per source, and who leads."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from statuswatch.cli_common import (
    EXIT_OK,
    iso,
    load,
    open_store,
)

if TYPE_CHECKING:
    from statuswatch.config import Settings


def cmd_status(args: argparse.Namespace) -> int:
    from statuswatch import output

    settings = load(args)
    store = open_store(settings, readonly=True)
    try:
        states = store.service_states()
        sources = store.source_statuses()
        counts = store.outbox_counts()
        leader = store.leader_info()
        location = store.location
        from statuswatch.clock import system_clock

        silences = store.active_silences(system_clock()())
    finally:
        store.close()
    if args.json:
        print(
            output.dumps(
                {
                    "state": location,
                    "sources": [
                        {
                            "name": name,
                            "last_poll": iso(status.last_poll),
                            "last_success": iso(status.last_success),
                            "last_error": status.last_error,
                            "down": status.down,
                        }
                        for name, status in sources.items()
                    ],
                    "services": [
                        {
                            "source": source,
                            "name": track.service,
                            "state": None if track.state is None else str(track.state),
                            "since": iso(track.since),
                        }
                        for source, track in states
                    ],
                    "outbox": counts,
                    "active_silences": [silence.id for silence in silences],
                    **({} if leader is None else {"leader": _leader_json(leader)}),
                }
            )
        )
        return EXIT_OK
    for line in status_lines(settings, states, sources):
        print(line)
    if counts["pending"] or counts["dead"] or counts["sending"]:
        print(
            f"outbox: {counts['pending'] + counts['sending']} waiting, {counts['dead']} given up "
            "(see `statuswatch outbox`)"
        )
    if silences:
        muted = ", ".join(
            f"{silence.id} ({silence.service or silence.subscriber or silence.kind})"
            for silence in silences
        )
        print(f"silences active: {muted} (see `statuswatch silence list`)")
    if leader is not None:
        print(_leader_line(leader, settings.timezone))
    print(f"state: {location}")
    return EXIT_OK


def status_lines(settings: Settings, states: Sequence[Any], sources: dict[str, Any]) -> list[str]:
    """`status` on a terminal: every watched service (also those with nothing recorded),
    then each source's health; times in the configured zone."""
    from statuswatch import output
    from statuswatch.notify.timefmt import zone_or_utc

    zone = zone_or_utc(settings.timezone)

    rows: list[tuple[str, str, str]] = []
    seen = set()
    for source, track in states:
        seen.add((source, track.service))
        if track.state is not None:
            since = output.when(track.since, zone)
            rows.append((track.service, str(track.state), f"since {since}"))
        elif track.candidate is not None:  # confirm > 1: seen, not yet confirmed
            rows.append(
                (
                    track.service,
                    "unconfirmed",
                    f"{track.candidate} seen in {track.streak} poll(s) since "
                    f"{output.when(track.candidate_since, zone)}, "
                    f"confirmed after {settings.confirm}",
                )
            )
        else:
            rows.append((track.service, "no data", "not confirmed yet"))
    for config in settings.sources:
        for name in config.watched or ():
            if (config.name, name) not in seen:
                rows.append((name, "no data", "nothing recorded yet: run `statuswatch check`"))
    width = max([len(name) for name, _, _ in rows] + [20])
    lines = [output.service_line(name, state, detail, width) for name, state, detail in rows]
    for name, status in sources.items():
        health = f"last error: {status.last_error}" if status.last_error else "ok"
        lines.append(
            f"source {name}: last poll {output.when(status.last_poll, zone)}, last success "
            f"{output.when(status.last_success, zone)} ({health})"
        )
    if not states and not sources:
        lines.append("Nothing recorded yet: run `statuswatch check` first.")
    return lines


def _leader_json(leader: Any) -> dict[str, object]:
    return {
        "node": leader.node,
        "since": iso(leader.since),
        "epoch": leader.epoch,
        "last_node": leader.last_node,
    }


def _leader_line(leader: Any, timezone: str) -> str:
    """Two machines (DESIGN §5): which node polls, and since when."""
    from statuswatch import output
    from statuswatch.notify.timefmt import zone_or_utc

    if leader.node is None:
        last = f" (the last was {leader.last_node})" if leader.last_node else ""
        return f"leader: none right now{last}; a standing-by node takes over within seconds"
    since = f" since {output.when(leader.since, zone_or_utc(timezone))}" if leader.since else ""
    return f"leader: {leader.node}{since} (lead taken {leader.epoch} time(s) in all)"
