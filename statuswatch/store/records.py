"""What the store hands out and takes in, and how values are encoded in its columns.

Shared by every backend: times are stored as float seconds since the epoch (UTC), events
as compact JSON, so the same SQL reads and writes them in SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

from statuswatch.model import Event, Transition
from statuswatch.sources.http import Validators


def ts(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


def event_to_text(event: Event | None) -> str | None:
    if event is None:
        return None
    data = {f.name: getattr(event, f.name) for f in fields(Event)}
    data["affected_services"] = list(event.affected_services)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def event_from_text(text: str | None) -> Event | None:
    if not text:
        return None
    data = json.loads(text)
    known = {f.name for f in fields(Event)}
    values = {key: value for key, value in data.items() if key in known}
    values["affected_services"] = tuple(values.get("affected_services") or ())
    return Event(**values)


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True, slots=True)
class FeedCache:
    """What the last successful fetch left for the next one."""

    validators: Validators = field(default_factory=Validators)
    body_hash: str | None = None
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class SourceStatus:
    source: str
    last_poll: datetime | None
    last_success: datetime | None
    last_error: str | None
    down: bool


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One delivery to queue together with its transition (DESIGN §4)."""

    subscriber: str
    target_key: str
    target_label: str


@dataclass(frozen=True, slots=True)
class OutboxRow:
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


@dataclass(frozen=True, slots=True)
class LeaderInfo:
    """Who holds the poll lock of a shared store (PostgreSQL), for `status` and the web."""

    node: str | None  # "host:pid" of the holder; None when nobody holds it right now
    since: datetime | None  # when that node took the lead, if it is the recorded leader
    epoch: int  # how many times the lead was taken, ever
    last_node: str | None = None  # the last recorded leader (who it was before a gap)
