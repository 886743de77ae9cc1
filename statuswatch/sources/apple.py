"""Apple's system-status feed (DESIGN §1): URL, parsing of untrusted bytes, fetching.

Parsing is pure and raises FeedFormatError with one line a person can act on. Fetching
goes through an httpx.AsyncClient handed in by the caller, so tests choose the transport.
"""

from __future__ import annotations

import html
import json
import operator
import re
from typing import Any, NamedTuple

from statuswatch.model import Event, Service, Snapshot
from statuswatch.sources.http import FetchError, FetchResult, Validators, fetch_body

__all__ = [
    "AppleSource",
    "FeedFormatError",
    "FetchError",
    "FetchResult",
    "Validators",
    "feed_url",
    "parse_feed",
]

FEED_URLS = {
    "consumer": "https://www.apple.com/support/systemstatus/data/system_status_{locale}.js",
    "developer": (
        "https://www.apple.com/support/systemstatus/data/developer/system_status_{locale}.js"
    ),
}
STATUS_PAGES = {
    "consumer": "https://www.apple.com/support/systemstatus/",
    "developer": "https://developer.apple.com/system-status/",
}

# `cb(`, `window.cb (`, and the `/**/cb(` form servers use against content sniffing.
_JSONP_PREFIX = re.compile(r"(?:/\*\*/\s*)?[A-Za-z_$][\w$.]*\s*\(")
# Apple's numbers are epochs in milliseconds (13 digits); anything far longer is garbage,
# and Python refuses to convert integers past 4,300 digits anyway.
NUMBER_DIGITS_MAX = 30
# The datetime range (years 1-9999, UTC): an epoch outside it cannot be a time at all.
EPOCH_MS_MIN = -62_135_596_800_000
EPOCH_MS_MAX = 253_402_300_799_999
# A numeric character reference past Unicode's range is U+FFFD in HTML; html.unescape
# would first turn its digits into an int, which fails past 4,300 digits.
_HUGE_CHARREF = re.compile(r"&#(?:[xX]0*[0-9a-fA-F]{7,}|0*[0-9]{8,});?")
_SURROGATES = re.compile("[\ud800-\udfff]")


class FeedFormatError(ValueError):
    """The body is not Apple's current feed format. The message is one plain line."""


def feed_url(feed: str, locale: str) -> str:
    return FEED_URLS[feed].format(locale=locale)


def parse_feed(body: bytes) -> Snapshot:
    """Turn a feed body into a Snapshot, or raise FeedFormatError saying why not.

    Accepts plain JSON or `jsonCallback(...);`, a UTF-8 BOM, surrounding whitespace and
    `\\/` escapes. Names are trimmed and HTML entities decoded. A malformed event is
    skipped and listed in `Snapshot.warnings`; a malformed feed is rejected whole.
    """
    return FeedParser().parse(body)


# The event fields whose JSON type (not only value) decides what the parser makes of
# them: `1`, `1.0` and `true` are equal in Python, but only `1` is a valid epoch.
_TYPED_KEYS = ("epochStartDate", "epochEndDate", "messageId")


def _same_raw(raw: Any, previous: Any) -> bool:
    """True when `raw` would parse exactly as `previous` did (equal, with equal types
    where the type matters)."""
    if raw != previous:
        return False
    events = raw.get("events") if isinstance(raw, dict) else None
    if not isinstance(events, list):
        return True
    for event, before in zip(events, previous["events"], strict=True):
        if isinstance(event, dict):
            for key in _TYPED_KEYS:
                if type(event.get(key)) is not type(before.get(key)):
                    return False
    return True


class FeedParser:
    """`parse_feed`, body after body of one source: a service whose JSON is the same as
    in the previous body is not parsed again (its Service object is reused, which also
    lets evaluate.Evaluator skip it). Most services do not change between two polls, so
    finding the few that did is done in C (list comparison), not service by service."""

    def __init__(self) -> None:
        self._raws: list[Any] = []  # the previous body's `services` list
        self._entries: list[tuple[Service | None, tuple[str, ...]]] = []  # parsed, by index
        self._typed: list[int] = []  # indices whose raw has events (see _same_raw)
        self._positions: list[int | None] = []  # index -> position in _services
        self._services: list[Service] = []
        self._warnings: tuple[str, ...] = ()
        self._events: dict[str, tuple[Any, Event]] = {}

    def parse(self, body: bytes) -> Snapshot:
        document = _decode_document(body)
        if not isinstance(document, dict):
            raise FeedFormatError(
                f"the feed is {_json_kind(document)}, not a JSON object with a 'services' list"
            )
        services_raw = document.get("services")
        if services_raw is None:
            raise FeedFormatError(_missing_services_reason(document))
        if not isinstance(services_raw, list):
            raise FeedFormatError(
                f"the feed's 'services' is a {type(services_raw).__name__}, not a list"
            )
        memo: _EventMemo = (self._events, {})
        if not self._update(services_raw, memo):
            self._rebuild(services_raw, memo)
        self._raws = services_raw
        # Unchanged services were not parsed: their events stay known as they were.
        if len(self._events) > 4096:  # bounded: Apple lists a few dozen events at most
            self._events = memo[1]
        else:
            self._events.update(memo[1])
        return Snapshot(
            services=tuple(self._services),
            drpost=bool(document.get("drpost")),
            dr_message=_clean_text(document.get("drMessage")) or None,
            warnings=self._warnings,
        )

    def _update(self, services_raw: list[Any], memo: _EventMemo) -> bool:
        """Replace the services that changed in place; False if a full pass is needed
        (the list changed length, or a changed service changed name or warnings)."""
        previous = self._raws
        if len(services_raw) != len(previous) or not previous:
            return False
        same = list(map(operator.eq, services_raw, previous))
        for index in self._typed:
            if same[index] and not _same_raw(services_raw[index], previous[index]):
                same[index] = False
        changed = [index for index, equal in enumerate(same) if not equal]
        for index in changed:
            old, old_warnings = self._entries[index]
            position = self._positions[index]
            found: list[str] = []
            service = _parse_service(services_raw[index], index, found, memo)
            if (
                service is None
                or old is None
                or position is None
                or found
                or old_warnings
                or service.name.casefold() != old.name.casefold()
            ):
                return False  # names, skips or warnings move: let _rebuild sort it out
            self._entries[index] = (service, ())
            self._services[position] = service
        if changed:
            typed = set(self._typed).difference(changed)
            typed.update(i for i in changed if _has_events(services_raw[i]))
            self._typed = sorted(typed)
        return True

    def _rebuild(self, services_raw: list[Any], memo: _EventMemo) -> None:
        previous, entries = self._raws, self._entries
        services: list[Service] = []
        warnings: list[str] = []
        positions: list[int | None] = []
        seen: set[str] = set()
        new_entries = []
        for index, raw in enumerate(services_raw):
            if index < len(previous) and _same_raw(raw, previous[index]):
                entry = entries[index]
            else:
                found: list[str] = []
                entry = (_parse_service(raw, index, found, memo), tuple(found))
            new_entries.append(entry)
            service, service_warnings = entry
            warnings.extend(service_warnings)
            positions.append(None)
            if service is None:
                continue
            if service.name.casefold() in seen:
                warnings.append(f"service {service.name!r} is listed twice; kept the first")
                continue
            seen.add(service.name.casefold())
            positions[-1] = len(services)
            services.append(service)
        self._entries, self._positions = new_entries, positions
        self._services, self._warnings = services, tuple(warnings)
        self._typed = _typed_indices(services_raw)


def _has_events(raw: Any) -> bool:
    return isinstance(raw, dict) and isinstance(raw.get("events"), list) and bool(raw["events"])


def _typed_indices(services_raw: list[Any]) -> list[int]:
    return [index for index, raw in enumerate(services_raw) if _has_events(raw)]


def _decode_document(body: bytes) -> Any:
    if not body.strip():
        raise FeedFormatError("the feed body is empty")
    try:
        text = body.decode("utf-8-sig").strip()
    except UnicodeDecodeError as error:
        raise FeedFormatError(
            f"the feed body is not UTF-8 text (bad byte at offset {error.start})"
        ) from None
    if text.startswith("<"):
        raise FeedFormatError(
            "the server sent an HTML page instead of the JSON feed "
            "(an error or maintenance page, or the wrong URL)"
        )
    text = _unwrap_jsonp(text)
    if not text:
        raise FeedFormatError("the feed body is empty")
    try:
        return json.loads(text, parse_int=_parse_int, parse_constant=_reject_constant)
    except RecursionError:
        raise FeedFormatError(
            "the feed body is nested too deeply to be Apple's feed (arrays or objects"
            " inside each other hundreds of levels deep)"
        ) from None
    except json.JSONDecodeError as error:
        if error.pos >= len(text) - 1 or "Unterminated" in error.msg:
            raise FeedFormatError(
                f"the feed body ends early at character {error.pos} of {len(text)} "
                "(a truncated download?)"
            ) from None
        raise FeedFormatError(
            f"the feed body is not valid JSON ({error.msg} at line {error.lineno}, "
            f"column {error.colno})"
        ) from None


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > NUMBER_DIGITS_MAX:
        raise FeedFormatError(
            f"the feed holds a number {len(digits.lstrip('-'))} digits long; Apple's feed"
            f" never has numbers longer than {NUMBER_DIGITS_MAX} digits"
        )
    return int(digits)


def _reject_constant(name: str) -> float:
    raise FeedFormatError(f"the feed body is not valid JSON ({name} is not a JSON value)")


def _unwrap_jsonp(text: str) -> str:
    """`callback(...);` -> `...`. The prefix is removed even when the closing `);` is
    missing, so a truncated JSONP body is reported as truncated, not as bad JSON."""
    if text.startswith(("{", "[")):
        return text
    prefix = _JSONP_PREFIX.match(text)
    if prefix is None:
        return text
    body = text[prefix.end() :].rstrip()
    body = body.removesuffix(";").rstrip()
    return body.removesuffix(")").strip()


def _json_kind(value: Any) -> str:
    if value is None:
        return "JSON null"
    if isinstance(value, bool):
        return f"the JSON value {str(value).lower()}"
    if isinstance(value, int | float):
        return "a bare JSON number"
    if isinstance(value, str):
        return "a bare JSON string"
    return "a JSON array"


def _missing_services_reason(document: dict[str, Any]) -> str:
    if "dashboard" in document or "detailedTimeline" in document:
        return (
            "the feed is in Apple's retired 2012 format ('dashboard'/'detailedTimeline'), "
            "not the current one with a 'services' list"
        )
    if "serviceName" in document:
        return "the body is a single service object, not a feed with a 'services' list"
    keys = ", ".join(_scrub(key)[:40] for key in sorted(document)[:5]) or "none"
    return f"the feed has no 'services' list (top-level keys: {keys})"


def _scrub(text: str) -> str:
    """One line, and encodable: a lone surrogate (JSON allows "\\ud800") cannot be written
    to SQLite, a log or a channel, so it becomes U+FFFD like any other undecodable text."""
    if not text.isascii():
        text = _SURROGATES.sub("\ufffd", text)
    return " ".join(text.split()) if "\n" in text or "\r" in text else text


def _clean_text(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    if "&" not in value and value.isascii():
        return value.strip()  # nothing to decode and no surrogate: most of Apple's text
    text = _HUGE_CHARREF.sub("\ufffd", _SURROGATES.sub("\ufffd", value))
    return _SURROGATES.sub("\ufffd", html.unescape(text)).strip()


def _clean_url(value: Any) -> str | None:
    text = _clean_text(value)
    return text or None


# Events already parsed, by messageId: (raw, Event) from the previous body, and the
# current body's, filled as it is parsed (FeedParser). An event listed again unchanged
# (the same incident in the next capture) is not parsed again.
_EventMemo = tuple[dict[str, tuple[Any, Event]], dict[str, tuple[Any, Event]]]


def _memo_event(event_raw: Any, memo: _EventMemo | None) -> Event:
    if memo is None or not isinstance(event_raw, dict):
        return _parse_event(event_raw)
    key = event_raw.get("messageId")
    if not isinstance(key, str):
        return _parse_event(event_raw)
    known = memo[0].get(key)
    if known is not None and known[0] == event_raw:
        before = known[0]
        if all(type(event_raw.get(k)) is type(before.get(k)) for k in _TYPED_KEYS):
            memo[1][key] = known
            return known[1]
    event = _parse_event(event_raw)
    memo[1][key] = (event_raw, event)
    return event


def _parse_service(
    raw: Any, index: int, warnings: list[str], memo: _EventMemo | None = None
) -> Service | None:
    if not isinstance(raw, dict):
        warnings.append(f"services[{index}] is not an object; skipped")
        return None
    name = _clean_text(raw.get("serviceName"))
    if not name:
        warnings.append(f"services[{index}] has no serviceName; skipped")
        return None
    events_raw = raw.get("events")
    if events_raw is None:
        events_raw = []
    if not isinstance(events_raw, list):
        warnings.append(f"{name}: 'events' is not a list; treated as no events")
        events_raw = []
    events = []
    for position, event_raw in enumerate(events_raw):
        try:
            events.append(_memo_event(event_raw, memo))
        except _BadEvent as problem:
            warnings.append(f"{name}: event #{position + 1} skipped: {problem}")
    return Service(name=name, redirect_url=_clean_url(raw.get("redirectUrl")), events=tuple(events))


class _BadEvent(ValueError):
    pass


def _epoch(raw: dict[str, Any], key: str) -> int | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _BadEvent(f"{key} is not a number ({value!r})")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,30}", value.strip()):
        # ASCII digits only: str.isdigit() also says yes to "²" and "١٢", which int() refuses.
        number = int(value.strip())
    else:
        shown = repr(value)[:40] if isinstance(value, str) else type(value).__name__
        raise _BadEvent(f"{key} is not a number ({shown})")
    if not EPOCH_MS_MIN <= number <= EPOCH_MS_MAX:
        raise _BadEvent(f"{key} is not a time between the years 1 and 9999 ({number})")
    return number


def _optional_text(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return _scrub(value).strip() or None if isinstance(value, str) else None


def _word(value: Any) -> str:
    return _scrub(value).strip() if isinstance(value, str) else ""


def _parse_event(raw: Any) -> Event:
    if not isinstance(raw, dict):
        raise _BadEvent("not an object")
    epoch_start = _epoch(raw, "epochStartDate")
    epoch_end = _epoch(raw, "epochEndDate")
    message_id = raw.get("messageId")
    if isinstance(message_id, int) and not isinstance(message_id, bool):
        message_id = str(message_id)
    if not isinstance(message_id, str) or not message_id.strip():
        # Hand-made feeds omit messageId; the identity must still be stable across polls.
        message_id = f"unidentified-{epoch_start}-{_clean_text(raw.get('statusType'))}"
    affected = raw.get("affectedServices")
    affected_names = (
        tuple(_clean_text(name) for name in affected if isinstance(name, str))
        if isinstance(affected, list)
        else ()
    )
    status_type = raw.get("statusType")
    event_status = raw.get("eventStatus")
    return Event(
        message_id=_word(message_id),
        status_type=_word(status_type),
        event_status=_word(event_status),
        message=_clean_text(raw.get("message")),
        users_affected=_clean_text(raw.get("usersAffected")),
        affected_services=affected_names,
        date_posted=_optional_text(raw, "datePosted"),
        start_date=_optional_text(raw, "startDate"),
        end_date=_optional_text(raw, "endDate"),
        epoch_start_ms=epoch_start,
        epoch_end_ms=epoch_end,
    )


class AppleSource(NamedTuple):
    """One configured Apple feed: where it lives and how to read it."""

    name: str
    url: str
    status_page: str

    def parse(self, body: bytes) -> Snapshot:
        return parse_feed(body)

    async def fetch(self, client: Any, validators: Validators, **options: Any) -> FetchResult:
        return await fetch_body(client, self.url, validators, **options)
