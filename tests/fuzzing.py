"""A mutator over the real feed captures, and the pipeline every mutated body goes through.

Shared by tests/test_fuzz.py (a few seconds in the suite) and bench/fuzz.py (a million
inputs). DESIGN §1: whatever `parse_feed` refuses must be a FeedFormatError with a one-line
reason; whatever it accepts, evaluate, track, store and render (in every time zone) must
handle without raising.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from statuswatch.evaluate import observe
from statuswatch.model import Poll, Transition, to_epoch_ms
from statuswatch.notify.digest import render_digest
from statuswatch.notify.render import render
from statuswatch.notify.timefmt import format_moment, format_window, from_epoch_ms, zone_or_utc
from statuswatch.output import history_lines
from statuswatch.sources.apple import FeedFormatError, parse_feed
from statuswatch.store import OutboxEntry, SqliteStore, Store
from statuswatch.tracker import SourceTrack, TrackerSettings, advance

FEEDS = Path(__file__).resolve().parent / "data" / "feeds"
ZONES = ("UTC", "Europe/Paris", "Asia/Tokyo", "Pacific/Kiritimati", "America/St_Johns")
# A fixed "now" inside the captures' span, plus the datetime range's edges.
NOW = datetime(2025, 6, 19, 23, 45, tzinfo=UTC)
SETTINGS = TrackerSettings(confirm=1, stale_after=timedelta(minutes=30))

EPOCH_EXTREMES: tuple[Any, ...] = (
    0,
    -1,
    1,
    to_epoch_ms(NOW),
    to_epoch_ms(NOW) + 60_000,
    to_epoch_ms(NOW) - 60_000,
    253402300799999,  # 9999-12-31T23:59:59.999Z
    253402300800000,  # one past the datetime range
    -62135596800000,  # 0001-01-01
    -62135596800001,
    2**53,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63),
    1e308,
    -1e308,
    1.5,
    1749787620000.0,
    "1749787620000",
    " 1749787620000 ",
    "١٢٣",
    "²",
    "",
    "9" * 40,
    True,
    None,
    [],
    {},
)
TEXT_EXTREMES: tuple[Any, ...] = (
    "&#" + "9" * 5000 + ";",
    "&#x" + "f" * 5000 + ";",
    "&#1114112;",
    "&#x110000;",
    "&#0;",
    "&#55296;",
    "&amp;&lt;b&gt;",
    "<!channel> <@U123> @here",
    "\u202eevil\u202c",
    "\ud800 lone surrogate",
    "line\nbreak\r\nand\x00nul\x1b[31m",
    "",
    " ",
    "x" * 100_000,
    "{service} {0} %s",
    "https://evil.example/",
    "javascript:alert(1)",
    "https://user:pw@www.apple.com/",
    "Maintenance",
    "ongoing",
    "scheduled",
    "upcoming",
    "resolved",
    "completed",
    "Outage",
    "Something New",
    12,
    1.5,
    None,
    True,
    [],
    {},
    ["a", 1, None],
)
STATUS_WORDS = (
    "ongoing",
    "resolved",
    "upcoming",
    "scheduled",
    "completed",
    "cancelled",
    "ONGOING ",
    "new-word",
)
TYPE_WORDS = ("Outage", "Issue", "Performance", "Maintenance", "Weird", "")
EVENT_KEYS = (
    "messageId",
    "statusType",
    "eventStatus",
    "message",
    "usersAffected",
    "affectedServices",
    "datePosted",
    "startDate",
    "endDate",
    "epochStartDate",
    "epochEndDate",
)


def captures() -> list[bytes]:
    """Every real capture of Apple's feed in tests/data/feeds (history and samples)."""
    paths = sorted(
        path
        for folder in ("history", "samples")
        for path in (FEEDS / folder).rglob("*")
        if path.suffix in (".json", ".js")
    )
    return [path.read_bytes() for path in paths]


# --- mutations ------------------------------------------------------------------------------


def _events(document: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for service in _services(document):
        if isinstance(service.get("events"), list):
            found.extend(e for e in service["events"] if isinstance(e, dict))
    return found


def _services(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, dict) and isinstance(document.get("services"), list):
        return [s for s in document["services"] if isinstance(s, dict)]
    return []


def _some_event(rng: random.Random, document: Any) -> dict[str, Any] | None:
    """An existing event, or a fresh one added to a random service (most captures have
    few events, and the interesting paths start at an active one)."""
    events = _events(document)
    if events and rng.random() < 0.6:
        return rng.choice(events)
    services = _services(document)
    if not services:
        return None
    service = rng.choice(services)
    start = to_epoch_ms(NOW) + rng.choice((-7200_000, -60_000, 0, 60_000, 86_400_000))
    event = {
        "messageId": str(rng.randrange(10**9)),
        "statusType": rng.choice(TYPE_WORDS),
        "eventStatus": rng.choice(STATUS_WORDS),
        "message": "iCloud Backup is unavailable. Some users are affected.",
        "usersAffected": "Some users are affected",
        "epochStartDate": start,
        "epochEndDate": rng.choice((None, start + 660_000, start + 3600_000)),
        "startDate": "12/02/2026 20:50 PST",
        "endDate": None,
        "affectedServices": None,
    }
    if not isinstance(service.get("events"), list):
        service["events"] = []
    service["events"].append(event)
    return event


def _m_epoch(rng: random.Random, document: Any) -> None:
    event = _some_event(rng, document)
    if event is not None:
        event[rng.choice(("epochStartDate", "epochEndDate"))] = rng.choice(EPOCH_EXTREMES)


def _m_text(rng: random.Random, document: Any) -> None:
    event = _some_event(rng, document)
    if event is not None:
        event[rng.choice(EVENT_KEYS)] = rng.choice(TEXT_EXTREMES)
    services = _services(document)
    if services and rng.random() < 0.3:
        rng.choice(services)[rng.choice(("serviceName", "redirectUrl", "events"))] = rng.choice(
            TEXT_EXTREMES
        )


def _m_words(rng: random.Random, document: Any) -> None:
    event = _some_event(rng, document)
    if event is not None:
        event["eventStatus"] = rng.choice(STATUS_WORDS)
        event["statusType"] = rng.choice(TYPE_WORDS)


def _m_delete(rng: random.Random, document: Any) -> None:
    event = _some_event(rng, document)
    if event is not None and event:
        del event[rng.choice(list(event))]
    if isinstance(document, dict) and document and rng.random() < 0.1:
        del document[rng.choice(list(document))]


def _m_type_swap(rng: random.Random, document: Any) -> None:
    choices: tuple[Any, ...] = (None, True, 0, -1.5, "", "x", [], {}, [None], [[]], {"a": 1})
    target: Any = rng.choice([document, *_services(document), *_events(document)])
    if isinstance(target, dict) and target:
        target[rng.choice(list(target))] = rng.choice(choices)


def _m_duplicate(rng: random.Random, document: Any) -> None:
    services = _services(document)
    if services:
        copy = json.loads(json.dumps(rng.choice(services)))
        if rng.random() < 0.5 and isinstance(copy.get("serviceName"), str):
            copy["serviceName"] = copy["serviceName"].upper() + rng.choice(("", " ", "\u00a0"))
        document["services"].insert(rng.randrange(len(document["services"]) + 1), copy)
    event = _some_event(rng, document)
    if event is not None:
        for service in _services(document):
            if isinstance(service.get("events"), list) and rng.random() < 0.2:
                service["events"].append(dict(event))


STRUCTURAL: tuple[Callable[[random.Random, Any], None], ...] = (
    _m_epoch,
    _m_epoch,
    _m_text,
    _m_text,
    _m_words,
    _m_delete,
    _m_type_swap,
    _m_duplicate,
)

_NUMBER = re.compile(rb"(?<![\w.])-?\d+(?![\w.])")
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def _b_flip(rng: random.Random, body: bytes) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randint(1, 8)):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def _b_truncate(rng: random.Random, body: bytes) -> bytes:
    return body[: rng.randrange(len(body) + 1)]


def _b_splice(rng: random.Random, body: bytes) -> bytes:
    piece = rng.choice(
        (
            b"\xef\xbb\xbf",
            b"\x00",
            b"\xff\xfe",
            b'"',
            b"\\",
            b"\\u",
            b"\\ud800",
            b"{",
            b"}",
            b"[",
            b"]",
            b",",
            b":",
            b"NaN",
            b"Infinity",
            b"-Infinity",
            b"1e999",
            b"\xc3",
            b"\xed\xa0\x80",
            b"\n",
        )
    )
    at = rng.randrange(len(body) + 1)
    return body[:at] + piece + body[at:]


def _b_delete_range(rng: random.Random, body: bytes) -> bytes:
    start = rng.randrange(len(body) + 1)
    return body[:start] + body[start + rng.randint(1, 200) :]


def _b_huge_number(rng: random.Random, body: bytes) -> bytes:
    numbers = list(_NUMBER.finditer(body))
    digits = b"9" * rng.choice((20, 31, 400, 4301, 5000, 20000))
    if rng.random() < 0.3:
        digits = b"1." + digits + b"e" + rng.choice((b"5", b"999", b"-999"))
    if not numbers:
        return body + digits
    match = rng.choice(numbers)
    return body[: match.start()] + rng.choice((b"", b"-")) + digits + body[match.end() :]


def _b_deep(rng: random.Random, body: bytes) -> bytes:
    depth = rng.choice((10, 100, 500, 990, 1000, 5000, 100_000))
    opener, closer = rng.choice(((b"[", b"]"), (b'{"a":', b"}")))
    nested = opener * depth + b"1" + closer * depth
    strings = list(_STRING.finditer(body))
    if rng.random() < 0.3 or not strings:
        return nested
    match = rng.choice(strings)
    return body[: match.start()] + nested + body[match.end() :]


def _b_entity(rng: random.Random, body: bytes) -> bytes:
    strings = list(_STRING.finditer(body))
    entity = rng.choice(
        (
            b"&#" + b"9" * rng.choice((8, 4301, 5000)) + b";",
            b"&#x" + b"F" * rng.choice((7, 5000)) + b";",
            b"&#" + b"0" * 5000 + b"65;",
            b"&#65",
            b"&#x;",
            b"&nbsp",
            b"&#xD800;",
        )
    )
    if not strings:
        return body + entity
    match = rng.choice(strings)
    return body[: match.end() - 1] + entity + body[match.end() - 1 :]


def _b_wrap(rng: random.Random, body: bytes) -> bytes:
    wrapped = rng.choice(
        (
            b"jsonCallback(%s);",
            b"jsonCallback(%s)",
            b"jsonCallback(%s",
            b"/**/jsonCallback(%s);",
            b"window.cb (%s);\n",
            b"  \xef\xbb\xbf%s  ",
            b"\xef\xbb\xbf\xef\xbb\xbf%s",
            b"%s;",
            b"(%s)",
            b"cb(%s));",
            b"<html>%s</html>",
            b"[%s]",
            b"%s%s",
        )
    )
    return wrapped.replace(b"%s", body)


def _b_huge_body(rng: random.Random, body: bytes) -> bytes:
    # ~5 MB: one very long message, or many copies of the services list.
    if rng.random() < 0.5:
        return body.replace(b'"message":"', b'"message":"' + b"A" * 5_000_000, 1)
    return body.replace(b'"services":[', b'"services":[' + b'{"serviceName":"x"},' * 250_000, 1)


BYTES: tuple[Callable[[random.Random, bytes], bytes], ...] = (
    _b_flip,
    _b_flip,
    _b_truncate,
    _b_splice,
    _b_splice,
    _b_delete_range,
    _b_huge_number,
    _b_deep,
    _b_entity,
    _b_wrap,
)


def mutate(rng: random.Random, body: bytes, *, allow_huge: bool = True) -> bytes:
    """One mutated body: structural edits (through JSON) and/or byte-level edits."""
    if rng.random() < 0.6:
        try:
            document = json.loads(
                body.decode("utf-8-sig")
                .strip()
                .removeprefix("jsonCallback(")
                .rstrip(";")
                .removesuffix(")")
            )
        except ValueError:
            document = None
        if document is not None:
            for _ in range(rng.randint(1, 4)):
                # An earlier edit may have left a shape this one cannot work on.
                with contextlib.suppress(TypeError, KeyError, AttributeError, IndexError):
                    rng.choice(STRUCTURAL)(rng, document)
            with contextlib.suppress(ValueError):
                body = json.dumps(document, ensure_ascii=rng.random() < 0.5).encode(
                    "utf-8", "surrogatepass"
                )
    if rng.random() < 0.5 or not body:
        for _ in range(rng.randint(1, 3)):
            body = rng.choice(BYTES)(rng, body)
    if allow_huge and rng.random() < 0.001:
        body = _b_huge_body(rng, body)
    return body


_CAPTURES: list[bytes] = []


def body_for(seed: int, index: int, *, allow_huge: bool = True) -> bytes:
    """Mutated body number `index` of run `seed`: the same bytes on every machine."""
    if not _CAPTURES:
        _CAPTURES.extend(captures())
    rng = random.Random(seed * 1_000_003 + index)
    return mutate(rng, rng.choice(_CAPTURES), allow_huge=allow_huge)


def inputs(seed: int, count: int, *, allow_huge: bool = True) -> Iterator[tuple[int, bytes]]:
    """(index, body) for `count` mutated bodies, reproducible from `seed`."""
    for index in range(count):
        yield index, body_for(seed, index, allow_huge=allow_huge)


# --- the pipeline ---------------------------------------------------------------------------


class PipelineError(Exception):
    """Something other than FeedFormatError was raised, or a reason broke its promise."""


@dataclass
class Outcome:
    accepted: bool
    transitions: int = 0


def run_pipeline(body: bytes, store_in: Path | None = None, turn: int = 0) -> Outcome:
    """parse -> evaluate -> track -> (store) -> render/render_digest/history in every zone.

    `turn` picks the time zones that full messages are rendered in (see `_render_all`).
    With `store_in`, the polls are also recorded in a fresh SQLite store in a new directory
    under it (removed afterwards) and what the store gives back is rendered too. Raises
    PipelineError (chained to the real exception) for any failure other than the parser's
    own FeedFormatError.
    """
    try:
        snapshot = parse_feed(body)
    except FeedFormatError as error:
        reason = str(error)
        if not reason or "\n" in reason or "\r" in reason or len(reason) > 400:
            raise PipelineError(
                f"parse failure reason is not one short line: {reason[:200]!r}"
            ) from error
        return Outcome(accepted=False)
    except Exception as error:
        raise PipelineError(f"parse_feed raised {type(error).__name__}") from error
    try:
        if store_in is None:
            transitions = _track_and_render(snapshot, None, turn)
        else:
            directory = Path(tempfile.mkdtemp(dir=store_in))
            store = SqliteStore.open(directory)
            try:
                transitions = _track_and_render(snapshot, store, turn)
            finally:
                store.close()
                shutil.rmtree(directory, ignore_errors=True)
    except Exception as error:
        raise PipelineError(f"downstream raised {type(error).__name__}: {error!s:.200}") from error
    return Outcome(accepted=True, transitions=transitions)


def _track_and_render(snapshot: Any, store: Store | None, turn: int) -> int:
    """Walk the snapshot through polls that produce every kind of transition: first sight
    (initial, scheduled), everything recovered, the snapshot again (state changes), a
    failed feed (source_down), and back (source_up)."""
    from statuswatch.model import Snapshot

    empty = Snapshot(services=tuple(type(s)(name=s.name) for s in snapshot.services))
    # Services without events are available in every poll and never make a transition:
    # watch the others (by name, which exercises the case-insensitive lookup), the first
    # service, and one the feed lacks (unknown). Watching all 79 would only cost time.
    watched = [s.name for s in snapshot.services if s.events] + ["Not In This Feed"]
    watched += [s.name.upper() for s in snapshot.services[:1]]
    polls: list[Poll] = []
    moments = [NOW + timedelta(minutes=5 * i) for i in range(6)]
    for moment, shot in zip(moments[:3], (snapshot, empty, snapshot), strict=True):
        polls.append(
            Poll(
                source="consumer",
                at=moment,
                ok=True,
                observations=observe(shot, watched, to_epoch_ms(moment)),
            )
        )
    polls.append(
        Poll(
            source="consumer",
            at=moments[3] + timedelta(hours=1),
            ok=False,
            error="the feed body ends early at character 10 of 20",
        )
    )
    polls.append(
        Poll(
            source="consumer",
            at=moments[4] + timedelta(hours=1),
            ok=True,
            observations=observe(snapshot, watched, to_epoch_ms(moments[4])),
        )
    )
    track = SourceTrack()
    every: list[Transition] = []
    for poll in polls:
        before = track
        track, transitions = advance(track, poll, SETTINGS)
        if store is not None:
            entries = [[OutboxEntry("fuzz", "json://fuzz", "json://fuzz")] for _ in transitions]
            stored = store.record_poll(
                poll.source, poll.at, before, track, transitions, entries, error=poll.error
            )
            transitions = stored
        every.extend(transitions)
    if store is not None:
        # What the store gives back is what delivery renders: read it, render that too.
        every.extend(store.transitions(since=NOW - timedelta(seconds=1)))
        store.load_track("consumer")
        store.service_states()
    _render_all(every, turn)
    return len(every)


def _render_all(transitions: list[Transition], turn: int) -> None:
    """Every message, and every time in it, in every zone.

    Only the times depend on the zone, so those are formatted in all five zones while the
    full messages (each one alone, and all as a digest) are rendered in two of them, taking
    turns from input to input: rendering all five would cost 2.5 times as much and reach no
    other code.
    """
    first, second = ZONES[turn % len(ZONES)], ZONES[(turn + 2) % len(ZONES)]
    history_lines(transitions, first)
    for transition in transitions:
        render(transition, timezone=first)
    if transitions:
        render_digest(transitions, timezone=second)
    for name in ZONES:
        zone = zone_or_utc(name)
        for transition in transitions:
            reference = transition.at
            format_moment(transition.at, zone)
            if transition.since is not None:
                format_moment(transition.since, zone, reference=reference)
            event = transition.event
            if event is not None:
                start, end = from_epoch_ms(event.epoch_start_ms), from_epoch_ms(event.epoch_end_ms)
                for moment in (start, end):
                    if moment is not None:
                        format_moment(moment, zone, reference=reference)
                if start is not None:
                    format_window(start, end, zone, reference=reference)
