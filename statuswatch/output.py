"""How results look on a terminal, as JSON, and for Nagios. Pure: strings in, strings out."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING

from statuswatch.model import State, Transition
from statuswatch.monitor import CycleReport, SourceOutcome
from statuswatch.tracker import ServiceTrack

# views.py and describe.py (with the time-zone formatting) are imported where a line is
# written: a quiet `check` that saw no change, the timer's usual run, writes none.
if TYPE_CHECKING:
    from statuswatch import views

NAGIOS_OK, NAGIOS_WARNING, NAGIOS_CRITICAL, NAGIOS_UNKNOWN = 0, 1, 2, 3


def when(moment: datetime | None, zone: tzinfo = UTC) -> str:
    """A recorded time on a terminal, in the configured zone (`timezone`), with its name."""
    return "-" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def service_line(name: str, state: str, detail: str, width: int = 28) -> str:
    return f"{name:<{width}} {state:<12} {detail}".rstrip()


def _watched_rows(outcome: SourceOutcome) -> list[tuple[str, State, ServiceTrack | None]]:
    """(name, state this poll, confirmed track) for every watched service of a source."""
    return [(row.name, row.state, row.track) for row in source_view(outcome).rows]


def source_view(outcome: SourceOutcome) -> views.SourceView:
    """A poll's outcome in the shape shared with the web surface (views.py)."""
    from statuswatch import views

    track = outcome.track
    tracks = track.services if track else {}
    return views.SourceView(
        name=outcome.config.name,
        ok=outcome.ok,
        error=outcome.error,
        warnings=outcome.warnings + outcome.missing,
        rows=views.watched_rows(outcome.config.watched, outcome.ok, outcome.observations, tracks),
        last_poll=outcome.at,
        last_success=track.health.last_success if track else None,
        down=track.health.down if track else False,
    )


def human_check(report: CycleReport, quiet: bool, timezone: str = "UTC") -> list[str]:
    """The state of each watched service, then each change, its times in `timezone`."""
    lines: list[str] = []
    if quiet and not report.transitions:
        return lines  # the timer's usual run: no time zone to load, nothing to write
    from statuswatch.notify.timefmt import zone_or_utc

    zone = zone_or_utc(timezone)
    if not quiet:
        width = max(
            [len(name) for outcome in report.sources for name, _, _ in _watched_rows(outcome)]
            + [20]
        )
        for outcome in report.sources:
            for name, state, track in _watched_rows(outcome):
                lines.append(service_line(name, str(state), _detail(state, track, zone), width))
    if report.transitions:
        from statuswatch.describe import describe_transition

        for transition in report.transitions:
            lines.append(f"→ {describe_transition(transition, zone=zone)}")
    return lines


def _detail(state: State, track: ServiceTrack | None, zone: tzinfo) -> str:
    if track is None or track.state is None:
        return "(not confirmed yet)" if state.is_known else "(no data yet)"
    since = when(track.since, zone)
    if state == State.UNKNOWN:
        return f"(no data this poll; last known {track.state} since {since})"
    if track.state != state:
        return f"(seen {track.streak}×, not confirmed yet; still {track.state} since {since})"
    return f"since {since}"


def json_check(report: CycleReport) -> dict[str, object]:
    from statuswatch import views

    deliveries = report.deliveries
    return views.status_document(
        report.at,
        [source_view(outcome) for outcome in report.sources],
        report.transitions,
        views.Deliveries(
            sent=deliveries.sent if deliveries else 0,
            pending=deliveries.pending if deliveries else 0,
            dead=deliveries.dead if deliveries else 0,
        ),
    )


def nagios_check(report: CycleReport) -> tuple[int, str]:
    """Nagios plugin convention: worst state wins; unreadable feed is UNKNOWN."""
    rows = [(name, state) for o in report.sources for name, state, _ in _watched_rows(o)]
    failures = [o for o in report.sources if not o.ok]
    critical = [name for name, state in rows if state == State.OUTAGE]
    warning = [
        f"{name}: {state}"
        for name, state in rows
        if state in (State.ISSUE, State.PERFORMANCE, State.MAINTENANCE)
    ]
    unknown = [name for name, state in rows if state == State.UNKNOWN]
    given_up = getattr(report, "given_up", None) or {}
    if critical or given_up:
        parts = [f"{n}: outage" for n in critical]
        if given_up:
            who = ", ".join(f"{name} ({count})" for name, count in sorted(given_up.items()))
            parts.append(f"notifications given up for {who}, see statuswatch outbox")
        code, label, summary = NAGIOS_CRITICAL, "CRITICAL", "; ".join(parts)
    elif failures:
        code, label = NAGIOS_UNKNOWN, "UNKNOWN"
        summary = "; ".join(f"{o.config.name}: {o.error}" for o in failures)
    elif warning:
        code, label, summary = NAGIOS_WARNING, "WARNING", ", ".join(warning)
    elif unknown:
        code, label, summary = NAGIOS_UNKNOWN, "UNKNOWN", "no data for " + ", ".join(unknown)
    else:
        code, label = NAGIOS_OK, "OK"
        summary = f"{len(rows)} service(s) available"
    available = sum(1 for _, state in rows if state == State.AVAILABLE)
    perfdata = (
        f"services={len(rows)} available={available} degraded={len(warning)} "
        f"outage={len(critical)} unknown={len(unknown)}"
    )
    return code, f"STATUSWATCH {label} - {summary} | {perfdata}"


def history_lines(
    transitions: Iterable[Transition],
    timezone: str = "UTC",
    silenced: dict[int, list[str]] | None = None,
) -> list[str]:
    """One line per transition: when (in `timezone`), source, kind, what changed, and
    Apple's messageId when an event caused it; `silenced` (transition id -> subscribers)
    marks the notifications a silence kept back (DESIGN §4a)."""
    from statuswatch.describe import describe_transition, stamp
    from statuswatch.notify.timefmt import zone_or_utc

    zone = zone_or_utc(timezone)
    lines = []
    for transition in transitions:
        event = f"  [event {transition.event_id}]" if transition.event_id else ""
        what = describe_transition(transition, zone=zone, with_time=False)
        muted = (silenced or {}).get(transition.id or -1)
        note = f"  (silenced for {', '.join(muted)})" if muted else ""
        lines.append(
            f"{stamp(transition.at, zone)}  {transition.source:<10} {transition.kind:<12} "
            f"{what}{event}{note}"
        )
    return lines


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
