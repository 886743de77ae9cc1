"""The status page (`/`, and index.html of the static export).

`page_model()` is pure: a Reading in, plain values out (every piece of feed text already
neutralised: controls, bidi overrides and zero-width characters dropped). The jinja2
template escapes everything it prints (autoescape), so feed text is text, never markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from statuswatch.model import Event, State, Transition, from_epoch_ms
from statuswatch.notify.timefmt import format_duration, format_moment, format_window
from statuswatch.sources.apple import STATUS_PAGES
from statuswatch.tracker import service_key
from statuswatch.views import ServiceRow, SourceView
from statuswatch.web import timeline
from statuswatch.web.reader import Reading

STATE_WORDS = {
    State.AVAILABLE: "Available",
    State.PERFORMANCE: "Slow",
    State.ISSUE: "Issue",
    State.OUTAGE: "Outage",
    State.MAINTENANCE: "Maintenance",
    State.UNKNOWN: "No data",
}
# What the colour means, for the legend: the word is always printed beside the colour.
STATE_COLOURS = {
    State.AVAILABLE: "green",
    State.PERFORMANCE: "yellow",
    State.ISSUE: "yellow",
    State.OUTAGE: "red",
    State.MAINTENANCE: "grey",
    State.UNKNOWN: "no data",
}
STRIP_DAYS = 90
MESSAGE_MAX = 1000
NAME_MAX = 120


# Characters feed text never needs on a page, in a feed or a badge: C0/C1 controls (XML
# cannot carry most of them), bidi embeddings, overrides and isolates (they make a reader
# see text in another order than it is), zero-width characters and the BOM (they hide
# text), and what neither XML nor UTF-8 can carry (a JSON "\\ud800" escape decodes to one).
_HIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u2069\ufeff\ufffe\uffff\ud800-\udfff]"
)
_BREAKS = re.compile("\r\n|[\r\u2028\u2029\x85]")


def clean(text: str | None, max_len: int = MESSAGE_MAX) -> str:
    """Feed text for HTML, Atom and SVG (each escapes it too): line breaks kept, hidden
    and reordering characters dropped, length capped."""
    value = _HIDDEN.sub("", _BREAKS.sub("\n", text or "")).replace("\t", " ").strip()
    return value if len(value) <= max_len else value[: max_len - 1].rstrip() + "…"


def clean_line(text: str | None, max_len: int = NAME_MAX) -> str:
    """Like clean(), on one line."""
    return " ".join(clean(text, max_len * 2).split())[:max_len]


def zone_of(name: str) -> tzinfo:
    try:
        return UTC if name == "UTC" else ZoneInfo(name)
    except (ValueError, OSError):
        return UTC


@dataclass(frozen=True, slots=True)
class Bar:
    x: int
    css: str
    title: str


def page_model(
    reading: Reading,
    refresh: float = 60.0,
    json_href: str = "api/v1/status",
) -> dict[str, Any]:
    zone = zone_of(reading.settings.timezone)
    services = []
    for source in reading.sources:
        for row in source.rows:
            services.append(_service(reading, source, row, zone))
    deliveries = reading.deliveries
    return {
        "generated": format_moment(reading.at, zone),
        "refresh": int(refresh),
        "services": services,
        "sources": [_source(source, reading.at, zone) for source in reading.sources],
        "pending": deliveries.pending,
        "dead": deliveries.dead,
        "leader": reading.leader,
        "legend": [
            {"css": state.value, "word": STATE_WORDS[state], "colour": STATE_COLOURS[state]}
            for state in State
        ],
        "strip_days": STRIP_DAYS,
        "json_href": json_href,
    }


def _service(reading: Reading, source: SourceView, row: ServiceRow, zone: tzinfo) -> dict:
    now = reading.at
    observation = row.observation
    messages = []
    if observation is not None:
        for event in observation.active:
            messages.append(
                {
                    "kind": clean_line(event.status_type, 40),
                    "text": clean(event.message),
                    "window": _event_window(event, zone),
                }
            )
    upcoming = []
    if observation is not None:
        for event in observation.planned:
            upcoming.append(
                {
                    "kind": clean_line(event.status_type, 40) or "Event",
                    "window": _event_window(event, zone) or "time not announced",
                    "text": clean(event.message),
                }
            )
    track = row.track
    parts = timeline.segments(row.name, source.name, track, reading.transitions, now)
    days = timeline.days(parts, now, zone)
    bars = [Bar(i * 4, day.worst.value, day.title()) for i, day in enumerate(days)]
    since = row.since
    confirmed = row.confirmed
    return {
        "name": clean_line(row.name),
        "source": source.name,
        "state": row.state.value,
        "word": STATE_WORDS[row.state],
        "colour": STATE_COLOURS[row.state],
        "confirmed_word": None
        if confirmed is None or confirmed == row.state
        else STATE_WORDS[confirmed],
        "since": None if since is None else format_moment(since, zone),
        "for": None if since is None or since > now else format_duration(now - since),
        "messages": messages,
        "upcoming": upcoming,
        "recent": [
            _transition_line(t, zone)
            for t in reversed(reading.recent(7))
            if t.source == source.name
            and (t.service is None or service_key(t.service) == service_key(row.name))
        ],
        "bars": bars,
        "link": STATUS_PAGES.get(reading.feed_kinds.get(source.name, ""), STATUS_PAGES["consumer"]),
    }


def _event_window(event: Event, zone: tzinfo) -> str | None:
    if event.epoch_start_ms is None:
        return None
    try:
        start = from_epoch_ms(event.epoch_start_ms)
        end = None if event.epoch_end_ms is None else from_epoch_ms(event.epoch_end_ms)
    except (ValueError, OverflowError, OSError):
        return None
    return format_window(start, end, zone)


def _transition_line(transition: Transition, zone: tzinfo) -> dict[str, str]:
    kind = str(transition.kind)
    if kind == "scheduled":
        event = transition.event
        what = f"announced: {clean_line(event.status_type, 40).lower() if event else 'event'}"
        if event is not None:
            window = _event_window(event, zone)
            if window:
                what += f" {window}"
    elif kind == "source_down":
        what = "feed unreadable"
    elif kind == "source_up":
        what = "feed readable again"
    elif transition.from_state is None or kind == "initial":
        what = f"first seen: {STATE_WORDS[transition.to_state].lower()}"
    else:
        what = (
            f"{STATE_WORDS[transition.from_state].lower()} → "
            f"{STATE_WORDS[transition.to_state].lower()}"
        )
    return {"at": format_moment(transition.at, zone), "what": what, "kind": kind}


def _source(source: SourceView, now: datetime, zone: tzinfo) -> dict[str, Any]:
    stale = source.last_success is None or now - source.last_success > timedelta(hours=1)
    return {
        "name": clean_line(source.name),
        "ok": source.ok,
        "down": source.down,
        "last_poll": None if source.last_poll is None else format_moment(source.last_poll, zone),
        "last_success": None
        if source.last_success is None
        else format_moment(source.last_success, zone),
        "error": None if source.error is None else clean(source.error, 300),
        "stale": stale,
    }


@cache
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("statuswatch.web", "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_page(model: dict[str, Any]) -> str:
    return str(_environment().get_template("index.html").render(**model))


@cache
def stylesheet() -> bytes:
    return resources.files("statuswatch.web").joinpath("static/style.css").read_bytes()
