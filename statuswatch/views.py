"""The JSON shapes shared by `check --json`, `history --json` and the HTTP API (docs/api.md).

Pure: dataclasses in, plain dicts out. `check` builds its `SourceView`s from the poll it
just made, the web surface from the store; both render through `status_document()`, so
the two can never drift apart. Bump API_VERSION when a field changes meaning or goes
away (adding a field is not a new version).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from statuswatch.model import Observation, State, Transition, format_utc
from statuswatch.tracker import ServiceTrack, service_key

API_VERSION = 1


@dataclass(frozen=True, slots=True)
class ServiceRow:
    """One watched service: what the latest poll saw and what is confirmed."""

    name: str
    state: State  # this poll's state; unknown when the poll had no data
    track: ServiceTrack | None = None
    observation: Observation | None = None

    @property
    def confirmed(self) -> State | None:
        return None if self.track is None else self.track.state

    @property
    def since(self) -> datetime | None:
        return None if self.track is None else self.track.since


@dataclass(frozen=True, slots=True)
class SourceView:
    name: str
    ok: bool
    error: str | None = None
    warnings: Sequence[str] = ()
    rows: Sequence[ServiceRow] = ()
    last_poll: datetime | None = None
    last_success: datetime | None = None
    down: bool = False


@dataclass(frozen=True, slots=True)
class Deliveries:
    sent: int = 0
    pending: int = 0
    dead: int = 0
    extra: Mapping[str, int] = field(default_factory=dict)


def watched_rows(
    watched: Sequence[str] | None,
    ok: bool,
    observations: Sequence[Observation],
    tracks: Mapping[str, ServiceTrack],
) -> list[ServiceRow]:
    """A row per watched service. Without data, every service is `unknown` (DESIGN §2)
    and keeps its last confirmed state beside it."""
    if ok:
        return [
            ServiceRow(o.service, o.state, tracks.get(service_key(o.service)), o)
            for o in observations
        ]
    if watched is None:
        return [ServiceRow(t.service, State.UNKNOWN, t) for t in tracks.values()]
    return [ServiceRow(name, State.UNKNOWN, tracks.get(service_key(name))) for name in watched]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else format_utc(moment)


def service_item(row: ServiceRow) -> dict[str, object]:
    observation = row.observation
    return {
        "name": row.name,
        "state": str(row.state),
        "confirmed": None if row.confirmed is None else str(row.confirmed),
        "since": _iso(row.since),
        "events": [e.to_json() for e in observation.active] if observation else [],
        "planned": [e.to_json() for e in observation.planned] if observation else [],
    }


def source_item(source: SourceView) -> dict[str, object]:
    return {
        "name": source.name,
        "ok": source.ok,
        "error": source.error,
        "warnings": list(source.warnings),
        "last_poll": _iso(source.last_poll),
        "last_success": _iso(source.last_success),
        "down": source.down,
        "services": [service_item(row) for row in source.rows],
    }


def transition_item(transition: Transition) -> dict[str, object]:
    """One transition: a line of `history --json`, an item of the API's lists."""
    return transition.to_json()


def status_document(
    at: datetime,
    sources: Iterable[SourceView],
    transitions: Iterable[Transition],
    deliveries: Deliveries,
) -> dict[str, object]:
    """`check --json` and `GET /api/v1/status`."""
    return {
        "version": API_VERSION,
        "at": format_utc(at),
        "sources": [source_item(source) for source in sources],
        "transitions": [transition_item(t) for t in transitions],
        "deliveries": {
            "sent": deliveries.sent,
            "pending": deliveries.pending,
            "dead": deliveries.dead,
            **deliveries.extra,
        },
    }


def history_document(
    at: datetime, since: datetime | None, transitions: Iterable[Transition]
) -> dict[str, object]:
    """`GET /api/v1/history`: the lines of `history --json`, as one list."""
    return {
        "version": API_VERSION,
        "at": format_utc(at),
        "since": _iso(since),
        "transitions": [transition_item(t) for t in transitions],
    }


def services_document(at: datetime, sources: Iterable[SourceView]) -> dict[str, object]:
    """`GET /api/v1/services`: every watched service, flat."""
    return {
        "version": API_VERSION,
        "at": format_utc(at),
        "services": [
            {
                "source": source.name,
                "name": row.name,
                "state": str(row.state),
                "confirmed": None if row.confirmed is None else str(row.confirmed),
                "since": _iso(row.since),
            }
            for source in sources
            for row in source.rows
        ],
    }
