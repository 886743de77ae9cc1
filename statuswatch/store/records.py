"""What the store hands out and takes in, and how values are encoded in its columns.

Shared by every backend: times are stored as float seconds since the epoch (UTC), events
as compact JSON, so the same SQL reads and writes them in SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import NamedTuple

from statuswatch.model import Event, Transition
from statuswatch.sources.http import Validators

_NO_EXTRA: dict[str, object] = {}  # never changed: the default of `extra` below


def ts(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


def event_to_text(event: Event | None) -> str | None:
    if event is None:
        return None
    data = event._asdict()
    data["affected_services"] = list(event.affected_services)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def event_from_text(text: str | None) -> Event | None:
    if not text:
        return None
    data = json.loads(text)
    values = {key: value for key, value in data.items() if key in Event._fields}
    values["affected_services"] = tuple(values.get("affected_services") or ())
    return Event(**values)


def payload_to_text(transition: Transition, extra: dict[str, object]) -> str:
    """A policy message's transition (never stored in `transitions`) and extras, as JSON."""
    data = {
        "source": transition.source,
        "service": transition.service,
        "kind": str(transition.kind),
        "from": None if transition.from_state is None else str(transition.from_state),
        "to": str(transition.to_state),
        "at": ts(transition.at),
        "since": ts(transition.since),
        "event": event_to_text(transition.event),
        "redirect_url": transition.redirect_url,
        "extra": extra,
    }
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def payload_from_text(text: str) -> tuple[Transition, dict[str, object]]:
    from statuswatch.model import Kind, State

    data = json.loads(text)
    transition = Transition(
        source=str(data["source"]),
        service=data.get("service"),
        kind=Kind(data["kind"]),
        from_state=None if data.get("from") is None else State(data["from"]),
        to_state=State(data["to"]),
        at=dt(data["at"]),  # type: ignore[arg-type]
        since=dt(data.get("since")),
        event=event_from_text(data.get("event")),
        redirect_url=data.get("redirect_url"),
    )
    return transition, dict(data.get("extra") or {})


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class FeedCache(NamedTuple):
    """What the last successful fetch left for the next one."""

    validators: Validators = Validators()
    body_hash: str | None = None
    body: bytes | None = None


class SourceStatus(NamedTuple):
    source: str
    last_poll: datetime | None
    last_success: datetime | None
    last_error: str | None
    down: bool


class OutboxEntry(NamedTuple):
    """One delivery to queue together with its transition (DESIGN §4)."""

    subscriber: str
    target_key: str
    target_label: str


class PolicyEntry(NamedTuple):
    """One policy message (DESIGN §4a: `starting`, `reminder`; also `delivery_failed`) to
    queue for one (subscriber, target), at most once ever per `key`.

    `transition` says what the message is about (for policy kinds it is not stored as a
    transition: it travels as the row's payload); `transition_id` links a stored one.
    """

    key: str
    subscriber: str
    target_key: str
    target_label: str
    transition: Transition
    extra: dict[str, object] = _NO_EXTRA
    transition_id: int | None = None


class OutboxRow(NamedTuple):
    id: int
    transition: Transition
    subscriber: str
    target_key: str
    target_label: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    #: The message's kind: the transition's, or a policy kind (`starting`, `reminder`, …).
    kind: str = ""
    #: What a policy message adds to its transition (offsets, periods), from the payload.
    extra: dict[str, object] = _NO_EXTRA
    policy_key: str | None = None
    #: Quiet hours held the row until then: it goes out in that target's catch-up.
    held_until: datetime | None = None
    #: The silence that made the row `silenced` (never sent).
    silence_id: int | None = None


class LeaderInfo(NamedTuple):
    """Who holds the poll lock of a shared store (PostgreSQL), for `status` and the web."""

    node: str | None  # "host:pid" of the holder; None when nobody holds it right now
    since: datetime | None  # when that node took the lead, if it is the recorded leader
    epoch: int  # how many times the lead was taken, ever
    last_node: str | None = None  # the last recorded leader (who it was before a gap)
