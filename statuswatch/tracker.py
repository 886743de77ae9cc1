"""DESIGN §3: previous confirmed states + one poll -> new states + transitions. Pure.

The tracker never reads a clock or a disk: the poll carries its own time, and the
caller (monitor.py or `replay`) decides where the returned state is kept.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from statuswatch.model import (
    Event,
    Kind,
    Observation,
    Poll,
    State,
    Transition,
    source_error_event,
)


def service_key(name: str) -> str:
    """Service identity inside a source: config names match feed names case-insensitively."""
    return name.strip().casefold()


def planned_key(service: str, message_id: str) -> str:
    return f"{service_key(service)}\x1f{message_id}"


class ServiceTrack(NamedTuple):
    """What is remembered about one service between polls."""

    service: str
    state: State | None = None  # last confirmed known state; None before the first
    since: datetime | None = None
    cause: Event | None = None
    candidate: State | None = None  # a different known state seen but not yet confirmed
    candidate_since: datetime | None = None
    streak: int = 0


class SourceHealth(NamedTuple):
    last_success: datetime | None = None
    first_failure: datetime | None = None  # first failed poll since the last success
    down: bool = False  # a source_down was announced and no source_up yet


_NO_SERVICES: dict[str, ServiceTrack] = {}


class SourceTrack(NamedTuple):
    services: dict[str, ServiceTrack] = _NO_SERVICES  # advance() copies, never changes it
    health: SourceHealth = SourceHealth()
    announced: frozenset[str] = frozenset()  # planned_key() of every `scheduled` sent


class TrackerSettings(NamedTuple):
    confirm: int = 1
    stale_after: timedelta = timedelta(minutes=30)


def advance(
    track: SourceTrack, poll: Poll, settings: TrackerSettings
) -> tuple[SourceTrack, list[Transition]]:
    """Apply one poll of one source.

    1. Source health: a failed poll may announce `source_down`; a successful one after
       it announces `source_up`.
    2. Per observed service: confirm a new known state after `settings.confirm`
       consecutive polls; `unknown` neither counts nor breaks the streak.
    3. Per planned event never announced before: one `scheduled` transition.
    """
    health, transitions = _advance_health(track.health, poll, settings.stale_after)
    services = dict(track.services)
    announced = set(track.announced)
    for observation in _to_look_at(track, poll):
        key = service_key(observation.service)
        previous = services.get(key) or ServiceTrack(service=observation.service)
        current, transition = _advance_service(previous, observation, poll, settings.confirm)
        if current != previous:
            services[key] = current
        if transition is not None:
            transitions.append(transition)
        transitions.extend(_announce_planned(current, observation, poll, announced))
    new_track = SourceTrack(services=services, health=health, announced=frozenset(announced))
    return new_track, transitions


def _to_look_at(track: SourceTrack, poll: Poll) -> tuple[Observation, ...]:
    """Every observation, or (with Poll.changed) only those that can change something:
    the changed ones and those of services with a new state waiting for confirmation.
    An unchanged observation of a settled service confirms nothing and announces nothing
    new, since it did all of that when it was first seen."""
    if poll.changed is None:
        return poll.observations
    pending = {key for key, service in track.services.items() if service.candidate is not None}
    if not pending:
        return poll.changed
    changed = {id(observation) for observation in poll.changed}
    return tuple(
        observation
        for observation in poll.observations
        if id(observation) in changed or service_key(observation.service) in pending
    )


def _advance_health(
    health: SourceHealth, poll: Poll, stale_after: timedelta
) -> tuple[SourceHealth, list[Transition]]:
    """DESIGN §3 source_down/source_up.

    Down is announced at the first failed poll more than `stale_after` after the last
    successful poll (or after the first failed one, for a source that never answered).
    """
    if poll.ok:
        transitions = []
        if health.down:
            transitions.append(
                Transition(
                    source=poll.source,
                    service=None,
                    kind=Kind.SOURCE_UP,
                    from_state=State.UNKNOWN,
                    to_state=State.AVAILABLE,
                    at=poll.at,
                    since=health.first_failure,
                )
            )
        return SourceHealth(last_success=poll.at), transitions
    first_failure = health.first_failure or poll.at
    reference = health.last_success or first_failure
    failing = health._replace(first_failure=first_failure)
    if health.down or poll.at - reference <= stale_after:
        return failing, []
    down = Transition(
        source=poll.source,
        service=None,
        kind=Kind.SOURCE_DOWN,
        from_state=None,
        to_state=State.UNKNOWN,
        at=poll.at,
        since=reference,
        event=source_error_event(poll.error),
    )
    return failing._replace(down=True), [down]


def _advance_service(
    track: ServiceTrack, observation: Observation, poll: Poll, confirm: int
) -> tuple[ServiceTrack, Transition | None]:
    observed = observation.state
    if not observed.is_known:
        # DESIGN §2: unknown never counts as a recovery nor an outage, nor breaks a streak.
        return track, None
    if observed == track.state:
        return _same_state(track, observation), None
    if track.candidate == observed:
        streak, candidate_since = track.streak + 1, track.candidate_since
    else:
        streak, candidate_since = 1, poll.at
    if streak < confirm:
        pending = track._replace(candidate=observed, candidate_since=candidate_since, streak=streak)
        return pending, None
    confirmed = ServiceTrack(
        service=observation.service,
        state=observed,
        since=candidate_since,
        cause=observation.cause,
    )
    return confirmed, _transition_for(track, observation, poll, candidate_since)


def _same_state(track: ServiceTrack, observation: Observation) -> ServiceTrack:
    """No change: drop any half-confirmed candidate and follow a hand-over of the cause.

    Only the messageId is compared, so edits to an event's text write nothing.
    """
    cause = track.cause
    if _message_id(observation.cause) != _message_id(cause):
        cause = observation.cause
    if track.candidate is None and cause is track.cause:
        return track
    return track._replace(candidate=None, candidate_since=None, streak=0, cause=cause)


def _message_id(event: Event | None) -> str | None:
    return None if event is None else event.message_id


def _transition_for(
    track: ServiceTrack, observation: Observation, poll: Poll, since: datetime | None
) -> Transition | None:
    """DESIGN §3 table: which kind a confirmed change is, if any."""
    to_state = observation.state
    if track.state is None:
        if to_state == State.AVAILABLE:
            return None  # a first observation that is available is a silent baseline
        kind, event = Kind.INITIAL, observation.cause
    elif to_state == State.AVAILABLE:
        kind, event = Kind.RECOVERED, _latest_version(track.cause, observation)
    else:
        kind, event = Kind(to_state.value), observation.cause
    return Transition(
        source=poll.source,
        service=observation.service,
        kind=kind,
        from_state=track.state,
        to_state=to_state,
        at=poll.at,
        since=track.since if track.state is not None else since,
        event=event,
        redirect_url=observation.redirect_url,
    )


def _latest_version(cause: Event | None, observation: Observation) -> Event | None:
    """The event that ended, as the feed lists it now (resolved, with its end and final text)."""
    if cause is None:
        return None
    for event in observation.listed:
        if event.message_id == cause.message_id:
            return event
    return cause


def _announce_planned(
    track: ServiceTrack, observation: Observation, poll: Poll, announced: set[str]
) -> list[Transition]:
    """DESIGN §3 `scheduled`: at first sight, without waiting for `confirm`."""
    transitions = []
    current = track.state if track.state is not None else observation.state
    for event in observation.planned:
        key = planned_key(observation.service, event.message_id)
        if key in announced:
            continue
        announced.add(key)
        transitions.append(
            Transition(
                source=poll.source,
                service=observation.service,
                kind=Kind.SCHEDULED,
                from_state=current,
                to_state=current,
                at=poll.at,
                since=track.since,
                event=event,
                redirect_url=observation.redirect_url,
            )
        )
    return transitions
