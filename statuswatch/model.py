"""The nouns of statuswatch: states, events, snapshots, observations and transitions.

The values a poll builds are NamedTuples: immutable, compared and hashed by value, and
cheap to define and to build. A snapshot of Apple's consumer feed holds 79 services and is
built on every poll and ~2,000 times a second by `replay`. A frozen, slotted dataclass
costs ~0.4 ms to define on Python 3.11 (its methods are compiled from source at import):
with ~20 of them, that was more than half of a `check`'s own import time. Transition stays
a dataclass because its `id` takes no part in equality. Configuration, which is read once,
uses pydantic (see config.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import NamedTuple


class State(StrEnum):
    """A service's state. DESIGN §2: ranked by severity; `unknown` is never ranked."""

    OUTAGE = "outage"
    ISSUE = "issue"
    PERFORMANCE = "performance"
    MAINTENANCE = "maintenance"
    AVAILABLE = "available"
    UNKNOWN = "unknown"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @property
    def is_known(self) -> bool:
        return self is not State.UNKNOWN


_SEVERITY: dict[State, int] = {
    State.OUTAGE: 4,
    State.ISSUE: 3,
    State.PERFORMANCE: 2,
    State.MAINTENANCE: 1,
    State.AVAILABLE: 0,
    State.UNKNOWN: -1,
}


class Kind(StrEnum):
    """What a transition means to a subscriber (DESIGN §3)."""

    RECOVERED = "recovered"
    OUTAGE = "outage"
    ISSUE = "issue"
    PERFORMANCE = "performance"
    MAINTENANCE = "maintenance"
    INITIAL = "initial"
    SCHEDULED = "scheduled"
    SOURCE_DOWN = "source_down"
    SOURCE_UP = "source_up"
    # DESIGN §4a policy messages: never stored as transitions, queued through the outbox.
    STARTING = "starting"
    REMINDER = "reminder"
    # DESIGN §4: told once per given-up (dead) outbox row, to subscribers who list it in
    # `kinds` (never part of the default "every kind"), never to the dead target itself.
    DELIVERY_FAILED = "delivery_failed"

    @property
    def is_source_kind(self) -> bool:
        return self in (Kind.SOURCE_DOWN, Kind.SOURCE_UP)

    @property
    def is_policy_kind(self) -> bool:
        """A message that is not a change of state (DESIGN §4a reminders, §4
        `delivery_failed`): never stored as a transition."""
        return self in (Kind.STARTING, Kind.REMINDER, Kind.DELIVERY_FAILED)


class Event(NamedTuple):
    """One entry of a service's `events` list, as Apple published it."""

    message_id: str
    status_type: str
    event_status: str
    message: str = ""
    users_affected: str = ""
    affected_services: tuple[str, ...] = ()
    date_posted: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    epoch_start_ms: int | None = None
    epoch_end_ms: int | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "messageId": self.message_id,
            "statusType": self.status_type,
            "eventStatus": self.event_status,
            "message": self.message,
            "usersAffected": self.users_affected,
            "affectedServices": list(self.affected_services),
            "startDate": self.start_date,
            "endDate": self.end_date,
            "epochStartDate": self.epoch_start_ms,
            "epochEndDate": self.epoch_end_ms,
        }


class Service(NamedTuple):
    name: str
    redirect_url: str | None = None
    events: tuple[Event, ...] = ()


class Snapshot(NamedTuple):
    """A parsed feed body. `warnings` lists events that were skipped as malformed."""

    services: tuple[Service, ...]
    drpost: bool = False
    dr_message: str | None = None
    warnings: tuple[str, ...] = ()

    def by_name(self) -> dict[str, Service]:
        return {service.name: service for service in self.services}


class Observation(NamedTuple):
    """What one poll says about one watched service at one instant (DESIGN §2)."""

    service: str
    state: State
    cause: Event | None = None
    active: tuple[Event, ...] = ()
    planned: tuple[Event, ...] = ()
    listed: tuple[Event, ...] = ()  # every event of the service, whatever its status
    redirect_url: str | None = None


class Poll(NamedTuple):
    """One poll of one source: either observations for each watched service, or a failure."""

    source: str
    at: datetime
    ok: bool
    observations: tuple[Observation, ...] = ()
    error: str | None = None
    # Those of `observations` that differ from the previous poll advanced onto the same
    # track (evaluate.Evaluator); the others change nothing. None: look at all of them.
    changed: tuple[Observation, ...] | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """A confirmed change, stored once and delivered to every subscriber who wants it.

    `since` is when the state being left began (for "after 2 h of maintenance"); for
    `initial` it is when the new state was first seen; for source kinds, when the feed
    was last heard from.
    """

    source: str
    service: str | None
    kind: Kind
    from_state: State | None
    to_state: State
    at: datetime
    since: datetime | None = None
    event: Event | None = None
    redirect_url: str | None = None
    id: int | None = field(default=None, compare=False)

    @property
    def reason(self) -> str | None:
        """For `source_down`: the last error reading the feed (see `source_error_event`)."""
        if self.kind != Kind.SOURCE_DOWN or self.event is None:
            return None
        return self.event.message or None

    @property
    def event_id(self) -> str | None:
        """Apple's messageId of the event behind a service transition, if any."""
        if self.event is None or Kind(self.kind).is_source_kind:
            return None
        return self.event.message_id

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "at": format_utc(self.at),
            "source": self.source,
            "service": self.service,
            "kind": str(self.kind),
            "from": None if self.from_state is None else str(self.from_state),
            "to": str(self.to_state),
            "event": self.event_id,
        }
        if self.kind == Kind.SOURCE_DOWN:
            data["reason"] = self.reason
        return data


SOURCE_ERROR_ID = "source-error"


def source_error_event(error: str | None) -> Event | None:
    """The reason of a `source_down`, carried as its event so that it is stored (in the
    transition's event JSON) and delivered with it without a column of its own."""
    if not error:
        return None
    return Event(message_id=SOURCE_ERROR_ID, status_type="", event_status="", message=error)


def format_utc(moment: datetime) -> str:
    """ISO-8601 with a `Z`, second precision: the form used in JSON output."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_epoch_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)
