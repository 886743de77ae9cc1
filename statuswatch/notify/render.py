"""Turn transitions into messages people can act on (DESIGN §4).

Pure: no I/O, and no apprise import (it costs ~90 ms and rendering does not need it), so
`statuswatch check` pays for apprise only when something is actually sent. The only clock
read is `sample_transition()`'s default.

Every string that comes from Apple's feed (service names, messages, users affected, status
words, links) is untrusted: it is neutralised here before it reaches a title, a body or a
template. Bodies are plain text and are handed to apprise as NotifyFormat.TEXT, which
escapes them for HTML and Markdown channels, so HTML in the feed is shown literally.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from statuswatch.model import Event, Kind, State, Transition, format_utc, to_epoch_ms

APPLE_STATUS_PAGE = "https://www.apple.com/support/systemstatus/"

TITLE_MAX = 200
MESSAGE_MAX = 1000
SERVICE_MAX = 100
USERS_AFFECTED_MAX = 200
WORD_MAX = 40
LINK_MAX = 500
# A template's format spec is operator-written, but "{message:>999999999}" would still
# allocate a gigabyte before any cap applies.
TEMPLATE_WIDTH_MAX = 1000


@dataclass(frozen=True, slots=True)
class Message:
    """What one delivery sends: `body` is plain text, to be handed to apprise as TEXT."""

    title: str
    body: str
    kinds: tuple[str, ...]


class TemplateError(ValueError):
    """A title or body template that cannot be rendered (unknown field, bad syntax)."""


TEMPLATE_FIELDS: dict[str, str] = {
    "service": "the service's name as Apple spells it, e.g. iCloud Backup (empty for feed-health"
    " messages)",
    "kind": "what happened: recovered, outage, issue, performance, maintenance, initial,"
    " scheduled, source_down or source_up",
    "emoji": "the symbol the default title starts with, e.g. ✅ (may be empty)",
    "from_state": "the state before the change: available, maintenance, performance, issue,"
    " outage or unknown (empty when there was none)",
    "to_state": "the state after the change",
    "at": "when statuswatch saw the change, in your time zone, e.g. Tue 14 May 18:00 CEST",
    "at_iso": "the same moment in UTC, ISO-8601, e.g. 2024-05-14T16:00:00Z",
    "since": "when the previous state began, in your time zone (for initial: when the current"
    " state was first seen; for source_down: when the feed was last read; for source_up: when"
    " it first failed; empty when unknown)",
    "duration": "how long the previous state lasted, e.g. 2 h 14 min (empty when unknown)",
    "message": "Apple's own message for the event (empty when there is none)",
    "users_affected": "Apple's note on who is affected, e.g. Some users were affected",
    "status_type": "Apple's statusType for the event: Maintenance, Outage, Issue, Performance",
    "event_status": "Apple's eventStatus for the event: ongoing, resolved, scheduled, ...",
    "window": "the event's time window as Apple gives it, in your time zone, e.g."
    " Tue 14 May 18:00–19:00 UTC (empty when Apple gives no start)",
    "link": "the service's page if Apple links one on apple.com, else the status page",
    "status_page": "the status page: the configured one, else Apple's System Status page",
    "source": "the name of the feed the change was seen in, e.g. consumer or developer",
    "timezone": "the time zone used for times, e.g. Europe/Paris",
    "default_title": "the title statuswatch would have used",
    "default_body": "the body statuswatch would have used",
}


# --- neutralising untrusted text ----------------------------------------------------------

_LINE_BREAKS = re.compile("\r\n|[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# C0/C1 controls and DEL, plus bidi embeddings, overrides, isolates and marks (they can make
# a reader see text in another order than it is, "Trojan Source" style) and the BOM.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
_BLANK_RUNS = re.compile(r"\n{3,}")
# Slack (and Discord) read <!channel>, <!here>, <@U123>, <#C123>, <!subteam^ID> as pings;
# apprise's Slack code even tolerates blanks after the "<". The closing ">" goes too: in
# Markdown passthrough, apprise's Slack plugin rebuilds "<@U123>" from a bare "@U123>".
_ANGLE_PING_PAIR = re.compile(r"<([ \t]*[!@#][^<>\n]*)>")
_ANGLE_PING = re.compile(r"<(?=[ \t]*[!@#])")
# Bare @channel/@here/@everyone ping with Slack's link_names and on Discord, @room on
# Matrix; apprise's Slack Markdown passthrough turns "!here>" into "<!here>".
_WORD_PING = re.compile(r"[@!](?=(?:channel|here|everyone|room|subteam)\b)", re.IGNORECASE)
_ZWSP = "\u200b"


def neutralise(text: str, *, max_len: int) -> str:
    """Make feed text safe for a plain-text body: line breaks kept, controls dropped,
    pings defanged, length capped at `max_len` characters (with "…")."""
    return _cap(_defang(_clean(text, one_line=False)), max_len)


def neutralise_title(text: str, *, max_len: int = TITLE_MAX) -> str:
    """Like `neutralise`, but on one line: every line break or run of blanks becomes one
    space, so the text cannot start a new email header or Slack line."""
    return _cap(_defang(_clean(text, one_line=True)), max_len)


def _clean(text: str, *, one_line: bool) -> str:
    text = _LINE_BREAKS.sub(" " if one_line else "\n", text).replace("\t", " ")
    text = _INVISIBLE.sub("", text)
    if one_line:
        return " ".join(text.split())
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def _defang(text: str) -> str:
    text = _ANGLE_PING_PAIR.sub(r"‹\1›", text)
    text = _ANGLE_PING.sub("‹", text)
    return _WORD_PING.sub(lambda match: match.group(0) + _ZWSP, text)


def _cap(text: str, max_len: int) -> str:
    if max_len < 1:
        raise ValueError(f"max_len must be at least 1, not {max_len}")
    if len(text) <= max_len:
        return text
    return text[: max_len - 1].rstrip() + "…"


def _safe_link(url: str | None) -> str | None:
    """A feed-supplied link, only if it plainly points at apple.com.

    The feed is untrusted and people click these links, so anything else (another host,
    javascript:, credentials in the URL, blanks) is dropped in favour of the status page.
    """
    if not url:
        return None
    url = url.strip()
    if len(url) > LINK_MAX or not re.fullmatch(r"https?://[^\s<>\"'`\\^{}|\x00-\x1f\x7f]+", url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return None
    if "@" in parts.netloc or not (host == "apple.com" or host.endswith(".apple.com")):
        return None
    return url


def _status_page(status_page: str | None) -> str:
    # Configured by the operator, so trusted, but still kept to one clean line.
    cleaned = _clean(status_page or "", one_line=True)
    return cleaned[:LINK_MAX] if cleaned else APPLE_STATUS_PAGE


# --- times and durations ------------------------------------------------------------------

# Our own names rather than strftime's: those follow the process locale.
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def validate_timezone(name: str) -> None:
    """Raise ValueError unless `name` is an IANA time zone known on this machine.

    For config loading: `render` itself falls back to UTC (and says so in every time it
    prints) rather than failing to deliver.
    """
    if _load_zone(name) is None:
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Paris or UTC"
        )


def _load_zone(name: str) -> tzinfo | None:
    if name == "UTC":
        # Needs no tz database, which slim containers lack.
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):
        return None


def _zone(name: str) -> tzinfo:
    return _load_zone(name) or UTC


def _local(moment: datetime, zone: tzinfo) -> datetime:
    if moment.tzinfo is None:
        # The model's datetimes are UTC; a naive one would otherwise be read as local time.
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone)


def _abbreviation(moment: datetime) -> str:
    name = moment.tzname() or "UTC"
    # Zones without a letter abbreviation (Asia/Dubai) report "+04"; "UTC+04" reads better.
    match = re.fullmatch(r"([+-]\d{2})(\d{2})?", name)
    if match:
        return "UTC" + match.group(1) + (f":{match.group(2)}" if match.group(2) else "")
    return name


def _day(moment: datetime) -> str:
    return f"{_DAYS[moment.weekday()]} {moment.day} {_MONTHS[moment.month - 1]}"


def _clock(moment: datetime) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


def format_moment(moment: datetime, zone: tzinfo) -> str:
    """E.g. "Tue 14 May 18:00 CEST": always with the zone, since readers live in several."""
    local = _local(moment, zone)
    return f"{_day(local)} {_clock(local)} {_abbreviation(local)}"


def format_window(start: datetime, end: datetime | None, zone: tzinfo) -> str:
    """E.g. "Tue 14 May 18:00–19:00 UTC"; dates and zones are repeated only when they differ."""
    first = _local(start, zone)
    if end is None or end <= start:
        return format_moment(start, zone)
    last = _local(end, zone)
    first_zone, last_zone = _abbreviation(first), _abbreviation(last)
    same_day = first.date() == last.date()
    end_text = _clock(last) if same_day else f"{_day(last)} {_clock(last)}"
    if first_zone != last_zone:
        # A daylight-saving change inside the window: each end keeps its own zone.
        return f"{_day(first)} {_clock(first)} {first_zone} – {end_text} {last_zone}"
    if same_day:
        return f"{_day(first)} {_clock(first)}–{end_text} {first_zone}"
    return f"{_day(first)} {_clock(first)} – {end_text} {first_zone}"


def format_duration(delta: timedelta) -> str:
    """Format as "45 min", "2 h 14 min" or "3 d 4 h": truncated, never rounded up, so a
    duration is never reported longer than it was."""
    if delta < timedelta(0):
        raise ValueError(f"a duration cannot be negative: {delta}")
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "less than 1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    days, hours = divmod(hours, 24)
    return f"{days} d" + (f" {hours} h" if hours else "")


def _epoch(value: int | None) -> datetime | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError, TypeError):
        # The feed is untrusted: an absurd epoch means "no time given", not a crash.
        return None


# --- what a transition says ---------------------------------------------------------------

_TITLE_EMOJI: dict[Kind, str] = {
    Kind.RECOVERED: "✅",
    Kind.MAINTENANCE: "🔧",
    Kind.OUTAGE: "🔴",
    Kind.ISSUE: "🟠",
    Kind.PERFORMANCE: "🟡",
    Kind.SCHEDULED: "📅",
    Kind.SOURCE_DOWN: "⚠️",
    Kind.SOURCE_UP: "",
}
_STATE_EMOJI: dict[State, str] = {
    State.AVAILABLE: "✅",
    State.MAINTENANCE: "🔧",
    State.OUTAGE: "🔴",
    State.ISSUE: "🟠",
    State.PERFORMANCE: "🟡",
    State.UNKNOWN: "",
}
# "It is ___ right now"
_STATE_NOW: dict[State, str] = {
    State.AVAILABLE: "available",
    State.MAINTENANCE: "under maintenance",
    State.OUTAGE: "having an outage",
    State.ISSUE: "having an issue",
    State.PERFORMANCE: "running with degraded performance",
    State.UNKNOWN: "in an unknown state",
}
# "after 2 h of ___"
_STATE_SPELL: dict[State, str] = {
    State.AVAILABLE: "normal service",
    State.MAINTENANCE: "maintenance",
    State.OUTAGE: "outage",
    State.ISSUE: "issues",
    State.PERFORMANCE: "degraded performance",
    State.UNKNOWN: "no data",
}
# "after ___" when the duration is unknown
_STATE_AFTER: dict[State, str] = {
    State.AVAILABLE: "normal service",
    State.MAINTENANCE: "maintenance",
    State.OUTAGE: "an outage",
    State.ISSUE: "an issue",
    State.PERFORMANCE: "a period of degraded performance",
    State.UNKNOWN: "a period without data",
}
# "Before that: ___ for 3 d 4 h."
_STATE_BEFORE: dict[State, str] = {
    State.AVAILABLE: "available",
    State.MAINTENANCE: "under maintenance",
    State.OUTAGE: "outage",
    State.ISSUE: "issue",
    State.PERFORMANCE: "degraded performance",
    State.UNKNOWN: "no data",
}
_STATUS_NOUN: dict[str, str] = {
    "maintenance": "maintenance",
    "outage": "an outage",
    "issue": "an issue",
    "performance": "degraded performance",
}

_ICLOUD_BACKUP_CHECKS = (
    "You can retry your iCloud backup now. Quick checks before you do:\n"
    "- Wi-Fi connected and the device plugged into power\n"
    "- Enough free iCloud storage for the backup (Settings → [your name] → iCloud shows"
    " what is left)\n"
    "- Low Power Mode (Settings → Battery) and Low Data Mode (Settings → Wi-Fi → ⓘ next to"
    " your network) off\n"
    "- VPN off\n"
    "- iOS/iPadOS up to date (Settings → General → Software Update)\n"
    "Then: Settings → [your name] → iCloud → iCloud Backup → Back Up Now.\n"
    "If it still fails, sign out of iCloud and back in, or make a local backup on a"
    " computer (Finder on a Mac, the Apple Devices app or iTunes on Windows)."
)


@dataclass(frozen=True, slots=True)
class _Facts:
    """One transition's facts, neutralised and formatted once for titles, bodies and fields."""

    transition: Transition
    kind: Kind
    service: str
    source: str
    message: str
    users_affected: str
    status_type: str
    event_status: str
    at: str
    since: str
    duration: str
    window: str
    window_length: str
    planned: bool  # maintenance: its window was planned, unlike an incident's timeline
    link: str
    status_page: str
    service_page: str | None


def _facts(transition: Transition, zone: tzinfo, status_page: str | None) -> _Facts:
    kind = Kind(transition.kind)
    event: Event | None = transition.event
    since, duration = "", ""
    if transition.since is not None:
        since = format_moment(transition.since, zone)
        delta = _local(transition.at, UTC) - _local(transition.since, UTC)
        if delta >= timedelta(0):
            duration = format_duration(delta)
    window = window_length = ""
    status_type = event_status = message = users_affected = ""
    if event is not None:
        message = neutralise(event.message or "", max_len=MESSAGE_MAX)
        users_affected = neutralise_title(event.users_affected or "", max_len=USERS_AFFECTED_MAX)
        status_type = neutralise_title(event.status_type or "", max_len=WORD_MAX)
        event_status = neutralise_title(event.event_status or "", max_len=WORD_MAX)
        start, end = _epoch(event.epoch_start_ms), _epoch(event.epoch_end_ms)
        if start is not None:
            window = format_window(start, end, zone)
            if end is not None and end > start:
                window_length = format_duration(end - start)
    planned = status_type.casefold() == "maintenance"
    page = _status_page(status_page)
    service_page = None if kind.is_source_kind else _safe_link(transition.redirect_url)
    service = neutralise_title(transition.service or "", max_len=SERVICE_MAX)
    if not service and not kind.is_source_kind:
        service = "(unnamed service)"
    return _Facts(
        transition=transition,
        kind=kind,
        service=service,
        source=neutralise_title(transition.source or "", max_len=SERVICE_MAX) or "unnamed",
        message=message,
        users_affected=users_affected,
        status_type=status_type,
        event_status=event_status,
        at=format_moment(transition.at, zone),
        since=since,
        duration=duration,
        window=window,
        window_length=window_length,
        planned=planned,
        link=service_page or page,
        status_page=page,
        service_page=service_page,
    )


def _state(value: State | None) -> State | None:
    return None if value is None else State(value)


def _planned_noun(facts: _Facts) -> str:
    word = facts.status_type.casefold()
    return _STATUS_NOUN.get(word, word or "an event")


def _default_title(facts: _Facts) -> str:
    kind, service = facts.kind, facts.service
    if kind == Kind.RECOVERED:
        return f"✅ {service} is available again"
    if kind == Kind.MAINTENANCE:
        return f"🔧 {service}: scheduled maintenance now in progress"
    if kind == Kind.OUTAGE:
        return f"🔴 {service}: outage"
    if kind == Kind.ISSUE:
        return f"🟠 {service}: issue"
    if kind == Kind.PERFORMANCE:
        return f"🟡 {service}: degraded performance"
    if kind == Kind.INITIAL:
        return _initial_title(service, State(facts.transition.to_state))
    if kind == Kind.SCHEDULED:
        noun = _planned_noun(facts).removeprefix("an ")
        when = f" for {facts.window}" if facts.window else ""
        return f"📅 {service}: {noun} scheduled{when}"
    if kind == Kind.SOURCE_DOWN:
        return f"⚠️ statuswatch cannot read Apple's status feed ({facts.source})"
    return f"statuswatch can read Apple's status feed again ({facts.source})"


def _initial_title(service: str, state: State) -> str:
    if state == State.MAINTENANCE:
        return f"🔧 {service} is under maintenance"
    if state == State.OUTAGE:
        return f"🔴 {service} has an outage right now"
    if state == State.ISSUE:
        return f"🟠 {service} has an issue right now"
    if state == State.PERFORMANCE:
        return f"🟡 {service} has degraded performance right now"
    if state == State.AVAILABLE:
        return f"✅ {service} is available"
    return f"{service}: state unknown"


def _default_body(facts: _Facts) -> str:
    kind = facts.kind
    if kind == Kind.SOURCE_DOWN:
        paragraphs = _source_down(facts)
    elif kind == Kind.SOURCE_UP:
        paragraphs = _source_up(facts)
    elif kind == Kind.RECOVERED:
        paragraphs = _recovered(facts)
    elif kind == Kind.INITIAL:
        paragraphs = _initial(facts)
    elif kind == Kind.SCHEDULED:
        paragraphs = _scheduled(facts)
    else:
        paragraphs = _state_change(facts)
    paragraphs.append(_links(facts))
    return "\n\n".join(paragraph for paragraph in paragraphs if paragraph)


def _apple_says(facts: _Facts, *, with_window: bool = True) -> str:
    lines = []
    if facts.message:
        lines.append(f'Apple says: "{facts.message}"')
    if facts.users_affected:
        lines.append(f"Users affected: {facts.users_affected}")
    if with_window and facts.window:
        lines.append(_window_line(facts))
    return "\n".join(lines)


def _window_line(facts: _Facts) -> str:
    if facts.planned:
        if facts.window_length:
            return f"Maintenance window: {facts.window} ({facts.window_length})"
        return f"Maintenance window: from {facts.window} (Apple gives no end time)"
    if facts.window_length:
        return f"Apple's timeline: {facts.window} ({facts.window_length})"
    return f"Started (per Apple): {facts.window}"


def _links(facts: _Facts) -> str:
    lines = [f"Status page: {facts.status_page}"]
    if facts.service_page:
        lines.append(f"About {facts.service}: {facts.service_page}")
    return "\n".join(lines)


def _recovered(facts: _Facts) -> list[str]:
    previous = _state(facts.transition.from_state)
    lead = f"{facts.service} is available again as of {facts.at}"
    if previous is not None and facts.duration:
        lead += f", after {facts.duration} of {_STATE_SPELL[previous]}."
    elif previous is not None:
        lead += f", after {_STATE_AFTER[previous]}."
    else:
        lead += "."
    if _is_icloud_backup(facts.transition.service):
        advice = _ICLOUD_BACKUP_CHECKS
    else:
        advice = "If something failed while it was unavailable, you can try again now."
    return [lead, _apple_says(facts), advice]


def _is_icloud_backup(service: str | None) -> bool:
    return " ".join((service or "").split()).casefold() == "icloud backup"


def _state_change(facts: _Facts) -> list[str]:
    service, at = facts.service, facts.at
    leads = {
        Kind.OUTAGE: f"Apple reports an outage of {service} as of {at}.",
        Kind.ISSUE: f"Apple reports an issue with {service} as of {at}.",
        Kind.PERFORMANCE: f"Apple reports degraded performance for {service} as of {at}.",
        Kind.MAINTENANCE: f"{service} is under maintenance as of {at}.",
    }
    lead = leads[facts.kind]
    previous = _state(facts.transition.from_state)
    if previous is not None:
        lead += f"\nBefore that: {_STATE_BEFORE[previous]}"
        lead += f" for {facts.duration}." if facts.duration else "."
    return [lead, _apple_says(facts), "You will get a message when it is available again."]


def _initial(facts: _Facts) -> list[str]:
    state = State(facts.transition.to_state)
    lead = f"statuswatch has started watching {facts.service}. It is {_STATE_NOW[state]} right now"
    lead += "." if state == State.AVAILABLE else "; you will be told when it is back."
    lead += f"\nChecked: {facts.at}"
    return [lead, _apple_says(facts)]


def _scheduled(facts: _Facts) -> list[str]:
    lines = [f"Apple has scheduled {_planned_noun(facts)} for {facts.service}."]
    if facts.window:
        length = f" ({facts.window_length})" if facts.window_length else ""
        missing_end = "" if facts.window_length else " (Apple gives no end time)"
        lines.append(f"When: {facts.window}{length}{missing_end}")
    current = _state(facts.transition.from_state)
    if current is not None and current not in (State.AVAILABLE, State.UNKNOWN):
        lines.append(f"Right now it is {_STATE_NOW[current]}.")
    return [
        "\n".join(lines),
        _apple_says(facts, with_window=False),
        "You will get a message when it is over.",
    ]


def _source_down(facts: _Facts) -> list[str]:
    lead = f"statuswatch cannot read Apple's status feed ({facts.source})."
    if facts.since:
        length = f" ({facts.duration})" if facts.duration else ""
        lead += f" It has had no data since {facts.since}{length}."
    else:
        lead += f" It has had no data as of {facts.at}."
    return [
        lead,
        "The feed could not be read; statuswatch keeps trying and will tell you when it can"
        " read it again. Until then it cannot report changes to the services you watch, so"
        " check Apple's page yourself if you are waiting for one.",
    ]


def _source_up(facts: _Facts) -> list[str]:
    lead = f"statuswatch can read Apple's status feed ({facts.source}) again as of {facts.at}."
    if facts.since:
        length = f" ({facts.duration})" if facts.duration else ""
        lead += f" It had been unreadable since {facts.since}{length}."
    return [
        lead,
        "Changes that happened meanwhile are reported in their own messages; one that began"
        " and ended while the feed was unreadable could not be seen.",
    ]


def _digest_label(facts: _Facts) -> str:
    kind, service = facts.kind, facts.service
    if kind == Kind.RECOVERED:
        return f"{service} available again"
    if kind == Kind.INITIAL:
        state = State(facts.transition.to_state)
        return f"{service}: {_STATE_BEFORE[state]} (first check)"
    if kind == Kind.SCHEDULED:
        return f"{service}: {_planned_noun(facts).removeprefix('an ')} scheduled"
    if kind == Kind.SOURCE_DOWN:
        return f"feed ({facts.source}) unreadable"
    if kind == Kind.SOURCE_UP:
        return f"feed ({facts.source}) readable again"
    return f"{service}: {_STATE_BEFORE[State(kind.value)]}"


# --- templates ----------------------------------------------------------------------------

_FORMATTER = string.Formatter()
_VALID_FIELDS = ", ".join(sorted(TEMPLATE_FIELDS))


def _field_names(template: str) -> Iterator[tuple[str, str]]:
    """(field name, format spec) of every replacement field, nested ones included."""
    for _literal, name, spec, _conversion in _FORMATTER.parse(template):
        if name is None:
            continue
        yield name, spec or ""
        if spec:
            yield from _field_names(spec)


def validate_template(template: str) -> None:
    """Raise TemplateError unless `template` renders with TEMPLATE_FIELDS alone.

    Called at config load so a bad template is reported when statuswatch starts, not when
    the first alert is due. Only plain names are allowed: "{service.__class__}" or
    "{service[0]}" would let a template reach into Python objects.
    """
    if not isinstance(template, str):
        raise TemplateError(f"a template must be a string, not {type(template).__name__}")
    try:
        fields = list(_field_names(template))
    except ValueError as exc:
        raise TemplateError(f"template {template!r} is not a valid format string: {exc}") from None
    unknown: list[str] = []
    for name, spec in fields:
        if name == "" or name.isdigit():
            raise TemplateError(
                f"template {template!r} has a positional field {{{name}}}; use a named one"
                f" such as {{service}}. Valid fields: {_VALID_FIELDS}"
            )
        if name not in TEMPLATE_FIELDS and name not in unknown:
            unknown.append(name)
        if any(int(number) > TEMPLATE_WIDTH_MAX for number in re.findall(r"\d+", spec)):
            raise TemplateError(
                f"template {template!r}: format spec {spec!r} of {{{name}}} is wider than"
                f" {TEMPLATE_WIDTH_MAX} characters"
            )
    if unknown:
        names = ", ".join(f"{{{name}}}" for name in unknown)
        plural = "fields" if len(unknown) > 1 else "field"
        raise TemplateError(
            f"template {template!r} uses unknown {plural} {names}; valid fields: {_VALID_FIELDS}"
        )
    try:
        # Every field is a string, so a trial run catches bad format specs ("{service:d}").
        template.format_map(dict.fromkeys(TEMPLATE_FIELDS, "x"))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise TemplateError(f"template {template!r} cannot be rendered: {exc}") from None


def _template_fields(facts: _Facts, title: str, body: str, timezone: str) -> dict[str, str]:
    transition = facts.transition
    previous = _state(transition.from_state)
    return {
        "service": facts.service if not facts.kind.is_source_kind else "",
        "kind": facts.kind.value,
        "emoji": _emoji(facts),
        "from_state": "" if previous is None else previous.value,
        "to_state": State(transition.to_state).value,
        "at": facts.at,
        "at_iso": format_utc(_local(transition.at, UTC)),
        "since": facts.since,
        "duration": facts.duration,
        "message": facts.message,
        "users_affected": facts.users_affected,
        "status_type": facts.status_type,
        "event_status": facts.event_status,
        "window": facts.window,
        "link": facts.link,
        "status_page": facts.status_page,
        "source": facts.source,
        "timezone": timezone if _load_zone(timezone) is not None else "UTC",
        "default_title": title,
        "default_body": body,
    }


def _emoji(facts: _Facts) -> str:
    if facts.kind == Kind.INITIAL:
        return _STATE_EMOJI[State(facts.transition.to_state)]
    return _TITLE_EMOJI[facts.kind]


def _apply(template: str, fields: dict[str, str]) -> str:
    validate_template(template)
    return template.format_map(fields)


# --- public entry points --------------------------------------------------------------------


def render(
    transition: Transition,
    *,
    timezone: str = "UTC",
    status_page: str | None = None,
    title_template: str | None = None,
    body_template: str | None = None,
) -> Message:
    """The message for one transition, times shown in `timezone` (an IANA name).

    An unknown `timezone` falls back to UTC (config loading rejects it with
    `validate_timezone`). A template that renders blank falls back to the default, since
    apprise refuses an empty body and an empty subject helps nobody. Raises TemplateError
    for an invalid template.
    """
    facts = _facts(transition, _zone(timezone), status_page)
    title = _cap(_clean(_default_title(facts), one_line=True), TITLE_MAX)
    body = _default_body(facts)
    if title_template is not None or body_template is not None:
        fields = _template_fields(facts, title, body, timezone)
        if title_template is not None:
            # The template's own text is the operator's; only its shape is enforced here.
            title = _cap(_clean(_apply(title_template, fields), one_line=True), TITLE_MAX) or title
        if body_template is not None:
            body = _clean(_apply(body_template, fields), one_line=False) or body
    return Message(title=title, body=body, kinds=(facts.kind.value,))


def render_digest(
    transitions: Sequence[Transition],
    *,
    timezone: str = "UTC",
    status_page: str | None = None,
    title_template: str | None = None,
    body_template: str | None = None,
) -> Message:
    """One message for several transitions due together for one subscriber.

    The body lists every transition first as one line each (so a channel that truncates
    long bodies still shows them all), then each one's full message, oldest first. The
    templates shape each section; the digest's own title is always the summary.
    """
    items = list(transitions)
    if not items:
        raise ValueError("render_digest needs at least one transition")

    def one(transition: Transition) -> Message:
        return render(
            transition,
            timezone=timezone,
            status_page=status_page,
            title_template=title_template,
            body_template=body_template,
        )

    if len(items) == 1:
        return one(items[0])
    # sorted() is stable: transitions of the same instant keep the order they were given in.
    ordered = sorted(items, key=lambda transition: _local(transition.at, UTC))
    zone = _zone(timezone)
    messages = [one(transition) for transition in ordered]
    facts = [_facts(transition, zone, status_page) for transition in ordered]
    count = len(ordered)
    summary = [f"statuswatch has {count} changes for you, oldest first:"]
    summary += [
        f"{number}. {message.title} — {fact.at}"
        for number, (message, fact) in enumerate(zip(messages, facts, strict=True), start=1)
    ]
    sections = [
        f"{number}/{count} · {message.title}\n\n{message.body}"
        for number, message in enumerate(messages, start=1)
    ]
    body = f"\n\n{'─' * 24}\n\n".join(["\n".join(summary), *sections])
    kinds = tuple(dict.fromkeys(kind for message in messages for kind in message.kinds))
    title = _digest_title([_digest_label(fact) for fact in facts])
    return Message(title=title, body=body, kinds=kinds)


def _digest_title(labels: list[str]) -> str:
    head = f"statuswatch: {len(labels)} changes ("
    # Room for ", +99 more)" so the count of what is left out always fits.
    budget = TITLE_MAX - len(head) - len(f", +{len(labels)} more)")
    shown: list[str] = []
    for label in labels:
        if len(", ".join([*shown, label])) > budget:
            break
        shown.append(label)
    if not shown:
        shown = [_cap(labels[0], budget)]
    rest = len(labels) - len(shown)
    tail = f", +{rest} more)" if rest else ")"
    return _cap(head + ", ".join(shown) + tail, TITLE_MAX)


def sample_transition(
    kind: str = "recovered", service: str = "iCloud Backup", now: datetime | None = None
) -> Transition:
    """A realistic transition for `statuswatch notify-test` and the docs.

    E.g. the default: iCloud Backup recovered after 2 h 14 min of scheduled maintenance.
    """
    try:
        chosen = Kind(kind)
    except ValueError:
        valid = ", ".join(member.value for member in Kind)
        raise ValueError(f"unknown kind {kind!r}; valid kinds: {valid}") from None
    if now is None:
        now = datetime.now(UTC).replace(second=0, microsecond=0)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    source = "consumer"
    if chosen == Kind.SOURCE_DOWN:
        since = now - timedelta(minutes=35)
        return Transition(source, None, chosen, None, State.UNKNOWN, now, since)
    if chosen == Kind.SOURCE_UP:
        since = now - timedelta(hours=1, minutes=5)
        return Transition(source, None, chosen, State.UNKNOWN, State.AVAILABLE, now, since)
    if chosen == Kind.RECOVERED:
        since = now - timedelta(hours=2, minutes=14)
        event = _sample_event(
            "Maintenance",
            "resolved",
            f"{service} was unavailable due to scheduled maintenance.",
            "Some users were affected",
            since,
            now - timedelta(minutes=3),
        )
        return Transition(
            source, service, chosen, State.MAINTENANCE, State.AVAILABLE, now, since, event
        )
    if chosen == Kind.SCHEDULED:
        start = (now + timedelta(days=1)).replace(hour=18, minute=0, second=0, microsecond=0)
        event = _sample_event(
            "Maintenance",
            "scheduled",
            f"{service} will be unavailable due to scheduled maintenance.",
            "Some users may be affected",
            start,
            start + timedelta(hours=1),
        )
        return Transition(
            source, service, chosen, State.AVAILABLE, State.AVAILABLE, now, None, event
        )
    if chosen in (Kind.MAINTENANCE, Kind.INITIAL):
        start = now - timedelta(minutes=4)
        event = _sample_event(
            "Maintenance",
            "ongoing",
            f"{service} is unavailable due to scheduled maintenance.",
            "Some users are affected",
            start,
            start + timedelta(hours=2),
        )
        if chosen == Kind.INITIAL:
            return Transition(source, service, chosen, None, State.MAINTENANCE, now, now, event)
        since = now - timedelta(days=9, hours=3, minutes=20)
        return Transition(
            source, service, chosen, State.AVAILABLE, State.MAINTENANCE, now, since, event
        )
    messages = {
        Kind.OUTAGE: "Users are experiencing a problem with this service. We are investigating"
        " and will update the status light when all issues are resolved.",
        Kind.ISSUE: "Some users may be experiencing issues with this service.",
        Kind.PERFORMANCE: "Users may experience slower than normal performance with this service.",
    }
    start = now - timedelta(minutes=12)
    event = _sample_event(
        chosen.value.capitalize(), "ongoing", messages[chosen], "Some users are affected", start
    )
    since = now - timedelta(days=3, hours=4, minutes=10)
    return Transition(
        source, service, chosen, State.AVAILABLE, State(chosen.value), now, since, event
    )


def _sample_event(
    status_type: str,
    event_status: str,
    message: str,
    users_affected: str,
    start: datetime,
    end: datetime | None = None,
) -> Event:
    return Event(
        message_id="sample-1",
        status_type=status_type,
        event_status=event_status,
        message=message,
        users_affected=users_affected,
        epoch_start_ms=to_epoch_ms(start),
        epoch_end_ms=None if end is None else to_epoch_ms(end),
    )
