"""DESIGN §3: confirmed transitions, notification kinds, planned events, source health."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statuswatch.model import Event, Kind, Observation, Poll, State, Transition
from statuswatch.tracker import SourceTrack, TrackerSettings, advance
from tests.builders import at, event, failed, obs, poll

A, ISS, OUT, P, M, U = (
    State.AVAILABLE,
    State.ISSUE,
    State.OUTAGE,
    State.PERFORMANCE,
    State.MAINTENANCE,
    State.UNKNOWN,
)
KNOWN = [State.OUTAGE, State.ISSUE, State.PERFORMANCE, State.MAINTENANCE, State.AVAILABLE]
SVC = "iCloud Backup"


def run(
    polls: Iterable[Poll], confirm: int = 1, stale_after: timedelta = timedelta(minutes=30)
) -> tuple[SourceTrack, list[list[Transition]]]:
    """Feed polls to the tracker from an empty state; transitions per poll."""
    track = SourceTrack()
    config = TrackerSettings(confirm=confirm, stale_after=stale_after)
    out = []
    for item in polls:
        track, transitions = advance(track, item, config)
        out.append(transitions)
    return track, out


def states_polls(states: Iterable[State | None], service: str = SVC) -> list[Poll]:
    """One poll per minute; None is a failed poll (no data at all)."""
    return [
        failed(at(i)) if state is None else poll(at(i), obs(service, state))
        for i, state in enumerate(states)
    ]


def summary(per_poll: list[list[Transition]]) -> list[tuple[int, Kind, State | None, State]]:
    return [(i, t.kind, t.from_state, t.to_state) for i, ts in enumerate(per_poll) for t in ts]


# --- first observation -------------------------------------------------------------


def test_first_observation_available_is_a_silent_baseline() -> None:
    track, out = run(states_polls([A]))
    assert out == [[]]
    assert track.services["icloud backup"].state == A


@pytest.mark.parametrize("state", [OUT, ISS, P, M])
def test_first_observation_not_available_is_initial(state: State) -> None:
    cause = event("42", status_type=state.value.title())
    _, out = run([poll(at(0), obs(SVC, state, cause=cause))])
    (transition,) = out[0]
    assert transition.kind == Kind.INITIAL
    assert (transition.from_state, transition.to_state) == (None, state)
    assert transition.service == SVC
    assert transition.at == at(0)
    assert transition.event == cause


def test_first_observation_needs_confirm_polls_too() -> None:
    _, out = run(states_polls([M, M, M]), confirm=3)
    assert summary(out) == [(2, Kind.INITIAL, None, M)]
    assert out[2][0].since == at(0)  # for `initial`: when the new state was first seen


def test_first_available_observation_needs_confirm_polls_before_an_outage_counts() -> None:
    # The baseline is not confirmed after one poll, so a later issue is still `initial`.
    _, out = run(states_polls([A, ISS, ISS]), confirm=2)
    assert summary(out) == [(2, Kind.INITIAL, None, ISS)]


def test_unknown_first_observations_do_not_make_a_baseline() -> None:
    _, out = run(states_polls([U, None, U, ISS]))
    assert summary(out) == [(3, Kind.INITIAL, None, ISS)]


# --- confirm -----------------------------------------------------------------------


@pytest.mark.parametrize("confirm", [1, 2, 3, 5])
def test_a_change_is_confirmed_after_exactly_confirm_consecutive_polls(confirm: int) -> None:
    states = [A] * confirm + [OUT] * confirm
    _, out = run(states_polls(states), confirm=confirm)
    assert summary(out) == [(2 * confirm - 1, Kind.OUTAGE, A, OUT)]
    (transition,) = out[2 * confirm - 1]
    assert transition.at == at(2 * confirm - 1)
    assert transition.since == at(0)  # when the state being left (available) began


def test_one_poll_short_of_confirm_gives_nothing() -> None:
    _, out = run(states_polls([A, A, ISS, ISS, A, A]), confirm=3)
    assert summary(out) == []


def test_unknown_neither_counts_nor_breaks_the_streak() -> None:
    # Breaks nothing: issue, unknown, no data, issue is two consecutive issue polls.
    _, out = run(states_polls([A, A, ISS, U, None, ISS]), confirm=2)
    assert summary(out) == [(5, Kind.ISSUE, A, ISS)]
    # Counts for nothing: one issue then unknowns never reaches confirm=2.
    _, out = run(states_polls([A, A, ISS, U, U, None, U]), confirm=2)
    assert summary(out) == []


def test_another_known_state_breaks_the_streak() -> None:
    _, out = run(states_polls([A, A, ISS, OUT, ISS, ISS]), confirm=2)
    assert summary(out) == [(5, Kind.ISSUE, A, ISS)]


def test_returning_to_the_confirmed_state_resets_the_streak() -> None:
    _, out = run(states_polls([A, A, ISS, A, ISS, A]), confirm=2)
    assert summary(out) == []


# --- kinds -------------------------------------------------------------------------


@pytest.mark.parametrize("before", KNOWN)
@pytest.mark.parametrize("after", KNOWN)
def test_kind_of_every_known_change(before: State, after: State) -> None:
    _, out = run(states_polls([before, after]))
    changes = summary(out[1:])
    if before == after:
        assert changes == []
    elif after == A:
        assert changes == [(0, Kind.RECOVERED, before, A)]
    else:
        assert changes == [(0, Kind(after.value), before, after)]


def test_maintenance_unknown_available_is_one_recovered() -> None:
    _, out = run(states_polls([A, M, U, None, U, A]))
    assert summary(out) == [(1, Kind.MAINTENANCE, A, M), (5, Kind.RECOVERED, M, A)]
    recovered = out[5][0]
    assert recovered.since == at(1)  # the maintenance began at poll 1, not at an unknown


def test_unknown_between_two_equal_states_is_silent() -> None:
    _, out = run(states_polls([A, M, U, M, None, M]))
    assert summary(out) == [(1, Kind.MAINTENANCE, A, M)]


def test_recovered_carries_the_latest_version_of_the_event_that_ended() -> None:
    ongoing = event("2000004688", "Performance", "ongoing", message="Users are affected")
    resolved = event("2000004688", "Performance", "resolved", message="Users were affected")
    first = poll(at(0), obs(SVC, A))
    second = poll(at(1), obs(SVC, P, cause=ongoing))
    third = poll(at(2), Observation(service=SVC, state=A, listed=(resolved,)))
    _, out = run([first, second, third])
    assert out[1][0].event == ongoing
    assert out[2][0].kind == Kind.RECOVERED
    assert out[2][0].event == resolved


def test_services_are_tracked_independently_and_case_insensitively() -> None:
    polls = [
        poll(at(0), obs("iCloud Backup", A), obs("iCloud Mail", OUT)),
        poll(at(1), obs("ICLOUD BACKUP", M), obs("iCloud Mail", OUT)),
    ]
    _, out = run(polls)
    assert [(t.service, t.kind) for t in out[0]] == [("iCloud Mail", Kind.INITIAL)]
    assert [(t.service, t.kind, t.from_state) for t in out[1]] == [
        ("ICLOUD BACKUP", Kind.MAINTENANCE, A)
    ]


# --- scheduled ---------------------------------------------------------------------


def planned(message_id: str = "2000003619", start_minutes: int = 600) -> Event:
    start = int(at(start_minutes).timestamp() * 1000)
    return event(message_id, "Maintenance", "upcoming", start=start, end=start + 3_600_000)


def test_scheduled_at_first_sight_once_per_message_id() -> None:
    polls = [
        poll(at(0), obs(SVC, A)),
        poll(at(1), obs(SVC, A, planned=[planned()])),
        poll(at(2), obs(SVC, A, planned=[planned()])),
        poll(at(3), obs(SVC, A, planned=[planned(start_minutes=700)])),  # start edited
        poll(at(4), obs(SVC, A, planned=[planned(), planned("2000003620")])),
    ]
    _, out = run(polls)
    assert summary(out) == [(1, Kind.SCHEDULED, A, A), (4, Kind.SCHEDULED, A, A)]
    assert out[1][0].event.message_id == "2000003619"
    assert out[4][0].event.message_id == "2000003620"


def test_scheduled_does_not_wait_for_confirm_and_uses_the_confirmed_state() -> None:
    polls = [
        poll(at(0), obs(SVC, ISS)),
        poll(at(1), obs(SVC, ISS)),  # issue confirmed (initial) here with confirm=2
        poll(at(2), obs(SVC, A, planned=[planned()])),  # available is only a candidate
    ]
    _, out = run(polls, confirm=2)
    assert summary(out) == [(1, Kind.INITIAL, None, ISS), (2, Kind.SCHEDULED, ISS, ISS)]


def test_scheduled_on_the_very_first_poll_even_with_confirm() -> None:
    _, out = run([poll(at(0), obs(SVC, A, planned=[planned()]))], confirm=3)
    assert [t.kind for t in out[0]] == [Kind.SCHEDULED]


def test_same_message_id_on_two_services_is_announced_for_each() -> None:
    polls = [
        poll(at(0), obs("iCloud Backup", A, planned=[planned()]), obs("TestFlight", A)),
        poll(
            at(1),
            obs("iCloud Backup", A, planned=[planned()]),
            obs("TestFlight", A, planned=[planned()]),
        ),
    ]
    _, out = run(polls)
    assert [(i, t.service, t.kind) for i, ts in enumerate(out) for t in ts] == [
        (0, "iCloud Backup", Kind.SCHEDULED),
        (1, "TestFlight", Kind.SCHEDULED),
    ]


def test_planned_key_survives_an_unknown_poll() -> None:
    polls = [
        poll(at(0), obs(SVC, A, planned=[planned()])),
        failed(at(1)),
        poll(at(2), obs(SVC, U)),
        poll(at(3), obs(SVC, A, planned=[planned()])),
    ]
    _, out = run(polls)
    assert summary(out) == [(0, Kind.SCHEDULED, A, A)]


# --- source health -----------------------------------------------------------------


def health(polls: list[Poll], stale_minutes: float = 30) -> list[tuple[int, Kind]]:
    _, out = run(polls, stale_after=timedelta(minutes=stale_minutes))
    return [(i, t.kind) for i, ts in enumerate(out) for t in ts if t.kind.is_source_kind]


def test_source_down_at_first_failed_poll_more_than_stale_after_the_last_success() -> None:
    polls = [
        poll(at(0), obs(SVC, A)),
        failed(at(10)),
        failed(at(30)),  # exactly stale_after: not yet "longer than"
        failed(at(30.5)),
        failed(at(50)),
        failed(at(90)),
    ]
    assert health(polls) == [(3, Kind.SOURCE_DOWN)]
    _, out = run(polls)
    down = out[3][0]
    assert (down.at, down.since, down.service, down.to_state) == (at(30.5), at(0), None, U)


def test_source_down_counted_from_the_first_failure_when_never_successful() -> None:
    polls = [failed(at(5)), failed(at(20)), failed(at(35)), failed(at(36)), failed(at(40))]
    assert health(polls) == [(3, Kind.SOURCE_DOWN)]


def test_source_up_at_next_success_after_down_only() -> None:
    polls = [
        poll(at(0), obs(SVC, A)),
        failed(at(40)),
        failed(at(50)),
        poll(at(60), obs(SVC, A)),
        poll(at(70), obs(SVC, A)),
        failed(at(80)),
        poll(at(85), obs(SVC, A)),  # a short failure after recovery: nothing to say
        failed(at(120)),  # 35 min after the last success: down again
        poll(at(130), obs(SVC, A)),
    ]
    assert health(polls) == [
        (1, Kind.SOURCE_DOWN),
        (3, Kind.SOURCE_UP),
        (7, Kind.SOURCE_DOWN),
        (8, Kind.SOURCE_UP),
    ]


def test_short_failures_never_announce_anything() -> None:
    polls = [poll(at(0), obs(SVC, A)), failed(at(20)), poll(at(25), obs(SVC, A)), failed(at(50))]
    assert health(polls) == []


def test_stale_after_is_configurable() -> None:
    polls = [poll(at(0), obs(SVC, A)), failed(at(4)), failed(at(6))]
    assert health(polls, stale_minutes=5) == [(2, Kind.SOURCE_DOWN)]


def test_recovery_and_source_up_in_the_same_poll() -> None:
    polls = [
        poll(at(0), obs(SVC, M)),
        failed(at(40)),
        poll(at(50), obs(SVC, A)),
    ]
    _, out = run(polls)
    assert summary(out) == [
        (0, Kind.INITIAL, None, M),
        (1, Kind.SOURCE_DOWN, None, U),
        (2, Kind.SOURCE_UP, U, A),
        (2, Kind.RECOVERED, M, A),
    ]


# --- properties --------------------------------------------------------------------

KNOWN_STATES = st.sampled_from(KNOWN)
ANY_STATE = st.sampled_from([*KNOWN, U])
NAMES = ["iCloud Backup", "iCloud Mail"]


@st.composite
def observation_rounds(draw: st.DrawFn, min_size: int = 0) -> list[list]:
    """Per poll, per service: (state, planned message ids)."""
    size = draw(st.integers(min_size, 12))
    return [
        [
            (draw(KNOWN_STATES), draw(st.lists(st.sampled_from(["p1", "p2", "p3"]), max_size=2)))
            for _ in NAMES
        ]
        for _ in range(size)
    ]


def build(rounds: list, unknown_at: set[int] | None = None, fail: bool = False) -> list[Poll]:
    """Polls one minute apart; before each index in `unknown_at`, insert an unknown poll."""
    polls: list[Poll] = []
    for index, row in enumerate(rounds):
        if unknown_at and index in unknown_at:
            when = at(len(polls))
            polls.append(failed(when) if fail else poll(when, *(obs(name, U) for name in NAMES)))
        observations = [
            obs(name, state, planned=[planned(p) for p in ids])
            for name, (state, ids) in zip(NAMES, row, strict=True)
        ]
        polls.append(poll(at(len(polls)), *observations))
    return polls


def service_changes(polls: list[Poll], confirm: int) -> list[tuple]:
    _, out = run(polls, confirm=confirm, stale_after=timedelta(days=1))
    return [
        (t.service, t.kind, t.from_state, t.to_state)
        for ts in out
        for t in ts
        if not t.kind.is_source_kind
    ]


@given(
    observation_rounds(),
    st.sampled_from([1, 2, 3]),
    KNOWN_STATES,
    st.lists(st.sampled_from([U, None]), min_size=1, max_size=4),
)
def test_unknown_between_two_equal_known_states_yields_no_transition(
    prefix: list, confirm: int, state: State, gap: list[State | None]
) -> None:
    track = SourceTrack()
    config = TrackerSettings(confirm=confirm, stale_after=timedelta(days=1))
    for item in build(prefix):
        track, _ = advance(track, item, config)
    clock = len(prefix)
    for _ in range(confirm):  # make `state` the confirmed one
        track, _ = advance(track, poll(at(clock), obs(SVC, state)), config)
        clock += 1
    tail = [*gap, state]
    for step in tail:
        item = failed(at(clock)) if step is None else poll(at(clock), obs(SVC, step))
        track, transitions = advance(track, item, config)
        assert transitions == []
        clock += 1
    assert track.services["icloud backup"].state == state


@settings(max_examples=60)
@given(observation_rounds(), st.sampled_from([1, 2, 3]), st.booleans())
def test_tracker_is_deterministic(rounds: list, confirm: int, with_failures: bool) -> None:
    polls = build(rounds, unknown_at=set(range(0, len(rounds), 3)), fail=with_failures)
    first = run(polls, confirm=confirm, stale_after=timedelta(minutes=1))
    second = run(polls, confirm=confirm, stale_after=timedelta(minutes=1))
    assert first == second


@settings(max_examples=80)
@given(
    observation_rounds(min_size=1),
    st.sets(st.integers(0, 12)),
    st.booleans(),
    st.sampled_from([1, 2, 3]),
)
def test_inserting_unknown_polls_never_changes_the_transitions(
    rounds: list, unknown_at: set[int], fail: bool, confirm: int
) -> None:
    plain = service_changes(build(rounds), confirm)
    with_unknowns = service_changes(build(rounds, unknown_at, fail), confirm)
    assert with_unknowns == plain
