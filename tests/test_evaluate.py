"""DESIGN §2: from events to a state, a pure function of snapshot + time."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statuswatch.evaluate import is_active, is_planned, observe, observe_service, state_of
from statuswatch.model import Event, State
from statuswatch.sources.apple import parse_feed
from tests.builders import MINUTE_MS, T0_MS, event, service, snapshot
from tests.conftest import SAMPLES

START = T0_MS
END = T0_MS + 60 * MINUTE_MS


# --- status words ------------------------------------------------------------------


@pytest.mark.parametrize("word", ["ongoing", "ONGOING", " Ongoing ", "\tongoing\n", "onGoing"])
def test_ongoing_is_active_whatever_the_case_and_spacing(word: str) -> None:
    # Rule 1 has no time window: even a start in the future or a missing epoch is active.
    assert is_active(event(event_status=word, start=None), T0_MS)
    assert is_active(event(event_status=word, start=END, end=END + 1), T0_MS)
    assert not is_planned(event(event_status=word, start=END), T0_MS)


@pytest.mark.parametrize(
    "word",
    ["resolved", "Resolved", " RESOLVED ", "completed", "Completed\n", "cancelled", "CANCELED"],
)
def test_finished_events_are_never_active_nor_planned(word: str) -> None:
    inside = event(event_status=word, start=START, end=END)
    open_ended = event(event_status=word, start=START, end=None)
    future = event(event_status=word, start=END, end=END + MINUTE_MS)
    for t in (START - 1, START, START + MINUTE_MS, END - 1, END, END + 10 * MINUTE_MS):
        assert not is_active(inside, t)
        assert not is_active(open_ended, t)
        assert not is_planned(future, t)


@pytest.mark.parametrize("word", ["upcoming", "scheduled", " Upcoming", "SCHEDULED "])
def test_upcoming_and_scheduled_are_active_only_in_start_inclusive_end_exclusive(
    word: str,
) -> None:
    planned = event(status_type="Maintenance", event_status=word, start=START, end=END)
    assert not is_active(planned, START - 1)
    assert is_planned(planned, START - 1)
    assert is_active(planned, START)
    assert not is_planned(planned, START)
    assert is_active(planned, END - 1)
    assert not is_active(planned, END)
    assert not is_planned(planned, END)  # past its window: neither active nor planned


def test_scheduled_without_end_stays_active_from_its_start() -> None:
    open_ended = event(event_status="scheduled", start=START, end=None)
    assert not is_active(open_ended, START - 1)
    assert is_active(open_ended, START)
    assert is_active(open_ended, START + 10**10)


@pytest.mark.parametrize("word", ["postponed", "In Progress", "monitoring", "", "  "])
def test_unknown_status_words_use_the_same_window(word: str) -> None:
    unknown = event(event_status=word, start=START, end=END)
    assert not is_active(unknown, START - 1)
    assert is_active(unknown, START)
    assert is_active(unknown, END - 1)
    assert not is_active(unknown, END)
    # Only upcoming/scheduled events are "planned" (DESIGN §2).
    assert not is_planned(unknown, START - 1)


@pytest.mark.parametrize("word", ["upcoming", "scheduled", "postponed", ""])
@pytest.mark.parametrize("end", [None, END])
def test_missing_start_epoch_is_never_active_by_window_nor_planned(
    word: str, end: int | None
) -> None:
    no_epoch = event(status_type="Maintenance", event_status=word, start=None, end=end)
    for t in (0, START - 1, START, END - 1, END, END * 2):
        assert not is_active(no_epoch, t)
        assert not is_planned(no_epoch, t)
    assert observe_service(service("iCloud Backup", no_epoch), START).state == State.AVAILABLE


# --- statusType and severity -----------------------------------------------------


def test_severity_order() -> None:
    ranked = [State.OUTAGE, State.ISSUE, State.PERFORMANCE, State.MAINTENANCE, State.AVAILABLE]
    assert [s.severity for s in ranked] == [4, 3, 2, 1, 0]
    assert not State.UNKNOWN.is_known
    assert all(s.is_known for s in ranked)


@pytest.mark.parametrize(
    ("status_type", "state"),
    [
        ("Outage", State.OUTAGE),
        ("OUTAGE ", State.OUTAGE),
        ("Issue", State.ISSUE),
        ("Performance", State.PERFORMANCE),
        (" performance", State.PERFORMANCE),
        ("Maintenance", State.MAINTENANCE),
        ("maintenance", State.MAINTENANCE),
        ("Degraded", State.ISSUE),
        ("Informational", State.ISSUE),
        ("", State.ISSUE),
    ],
)
def test_status_type_maps_to_state_unknown_words_are_issues(status_type: str, state: State) -> None:
    assert state_of(event(status_type=status_type)) == state
    assert observe_service(service("S", event(status_type=status_type)), T0_MS).state == state


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        (["Maintenance", "Outage", "Performance"], State.OUTAGE),
        (["Maintenance", "Performance"], State.PERFORMANCE),
        (["Performance", "Issue"], State.ISSUE),
        (["Performance", "Brand New Word"], State.ISSUE),  # unknown word ranks as issue
        (["Maintenance"], State.MAINTENANCE),
        (["Issue", "Outage", "Issue"], State.OUTAGE),
    ],
)
def test_state_is_the_most_severe_active_event(types: list[str], expected: State) -> None:
    events = [event(message_id=str(i), status_type=kind) for i, kind in enumerate(types)]
    observation = observe_service(service("S", *events), T0_MS)
    assert observation.state == expected
    assert observation.cause is not None
    assert state_of(observation.cause) == expected


def test_inactive_events_do_not_count_toward_the_state() -> None:
    svc = service(
        "S",
        event("1", "Outage", "resolved", start=START, end=END),
        event("2", "Outage", "upcoming", start=END, end=END + MINUTE_MS),
        event("3", "Performance", "ongoing"),
    )
    observation = observe_service(svc, START + MINUTE_MS)
    assert observation.state == State.PERFORMANCE
    assert [e.message_id for e in observation.active] == ["3"]
    assert [e.message_id for e in observation.planned] == ["2"]
    assert [e.message_id for e in observation.listed] == ["1", "2", "3"]


def test_no_active_event_means_available() -> None:
    observation = observe_service(service("S"), T0_MS)
    assert observation.state == State.AVAILABLE
    assert observation.cause is None


def test_ties_keep_the_event_listed_first_as_cause() -> None:
    svc = service("S", event("first", "Issue"), event("second", "Issue"))
    assert observe_service(svc, T0_MS).cause.message_id == "first"


def test_state_comes_only_from_the_services_own_events() -> None:
    shared = event("2000004686", "Outage", affected_services=("Schoolwork", "iCloud Backup"))
    snap = snapshot(service("Schoolwork", shared), service("iCloud Backup"))
    states = {o.service: o.state for o in observe(snap, None, T0_MS)}
    assert states == {"Schoolwork": State.OUTAGE, "iCloud Backup": State.AVAILABLE}


# --- watched services --------------------------------------------------------------


def test_missing_watched_service_is_unknown() -> None:
    snap = snapshot(service("iCloud Mail", event()))
    (observation,) = observe(snap, ["iCloud Backup"], T0_MS)
    assert observation.service == "iCloud Backup"
    assert observation.state == State.UNKNOWN
    assert observation.cause is None


def test_watched_names_match_case_insensitively_and_keep_the_feeds_spelling() -> None:
    snap = snapshot(service("iCloud Backup", event(status_type="Maintenance")), service("Maps"))
    observations = observe(snap, ["ICLOUD BACKUP", " maps ", "Nope"], T0_MS)
    assert [(o.service, o.state) for o in observations] == [
        ("iCloud Backup", State.MAINTENANCE),
        ("Maps", State.AVAILABLE),
        ("Nope", State.UNKNOWN),
    ]


def test_watching_nothing_named_means_every_service_in_feed_order() -> None:
    snap = snapshot(service("B"), service("A", event()), service("C"))
    assert [(o.service, o.state) for o in observe(snap, None, T0_MS)] == [
        ("B", State.AVAILABLE),
        ("A", State.ISSUE),
        ("C", State.AVAILABLE),
    ]


# --- real captures ---------------------------------------------------------------


def test_real_developer_feed_maintenance_ongoing_in_one_service_completed_in_others() -> None:
    # 2000000024 is `completed` in three services but `ongoing` in Videos (2020-11-02).
    snap = parse_feed((SAMPLES / "statusbuddy/developer-one-ongoing-issue.json").read_bytes())
    t = 1604340720000  # 11/02/2020 10:12 PST, the feed's datePosted
    states = {o.service: o.state for o in observe(snap, None, t)}
    assert states["Videos"] == State.MAINTENANCE
    assert states["Contact Us"] == State.AVAILABLE
    assert states["Software Downloads"] == State.AVAILABLE
    assert states["Developer ID Notary Service"] == State.AVAILABLE
    assert [s for s, state in states.items() if state != State.AVAILABLE] == ["Videos"]


def test_real_upcoming_maintenance_is_planned_then_active_in_its_window() -> None:
    snap = parse_feed((SAMPLES / "statusbuddy/developer-one-scheduled-issue.json").read_bytes())
    watched = ["App Store Connect - TestFlight"]
    posted = 1715439600000  # 05/11/2024 08:00 PDT
    start, end = 1715709600000, 1715713200000  # 05/14/2024 11:00-12:00 PDT

    (before,) = observe(snap, watched, posted)
    assert before.state == State.AVAILABLE
    assert [e.message_id for e in before.planned] == ["2000003619"]

    (during,) = observe(snap, watched, start + 30 * MINUTE_MS)
    assert during.state == State.MAINTENANCE
    assert during.cause.message_id == "2000003619"
    assert during.planned == ()

    (after,) = observe(snap, watched, end)
    assert after.state == State.AVAILABLE
    assert after.planned == ()

    # 2000003600 is `completed`: not active even inside its own 06:00-08:00 window.
    inside_completed = 1715432400000 + 30 * MINUTE_MS
    states = {o.service: o.state for o in observe(snap, None, inside_completed)}
    assert set(states.values()) == {State.AVAILABLE}


def test_real_consumer_feed_outage_ongoing() -> None:
    snap = parse_feed((SAMPLES / "statusbuddy/customer-one-ongoing-issue.json").read_bytes())
    t = 1619443800000  # 04/26/2021 06:30 PDT
    watched = ["iCloud Mail", "iCloud Keychain", "iCloud Backup", "icloud account & sign in"]
    assert [(o.service, o.state) for o in observe(snap, watched, t)] == [
        ("iCloud Mail", State.OUTAGE),
        ("iCloud Keychain", State.AVAILABLE),
        ("iCloud Backup", State.AVAILABLE),
        ("iCloud Account & Sign In", State.AVAILABLE),
    ]


# --- properties ------------------------------------------------------------------

STATUS_WORDS = st.one_of(
    st.sampled_from(
        [
            "ongoing",
            "resolved",
            "upcoming",
            "scheduled",
            "completed",
            "cancelled",
            "canceled",
            "Ongoing ",
            " RESOLVED",
            "Upcoming",
            "postponed",
            "",
        ]
    ),
    st.text(max_size=8),
)
STATUS_TYPES = st.one_of(
    st.sampled_from(["Outage", "Issue", "Performance", "Maintenance", "OUTAGE", " issue "]),
    st.text(max_size=8),
)
EPOCHS = st.one_of(st.none(), st.integers(T0_MS - 100, T0_MS + 100))
FINISHED = st.sampled_from(
    ["resolved", "completed", "cancelled", "canceled", " Resolved", "COMPLETED ", "Canceled"]
)


@st.composite
def events(draw: st.DrawFn, statuses: st.SearchStrategy[str] = STATUS_WORDS) -> Event:
    return Event(
        message_id=str(draw(st.integers(0, 50))),
        status_type=draw(STATUS_TYPES),
        event_status=draw(statuses),
        epoch_start_ms=draw(EPOCHS),
        epoch_end_ms=draw(EPOCHS),
    )


SEVERITY_ORACLE = {"outage": 4, "issue": 3, "performance": 2, "maintenance": 1}
STATE_BY_SEVERITY = {
    4: State.OUTAGE,
    3: State.ISSUE,
    2: State.PERFORMANCE,
    1: State.MAINTENANCE,
    0: State.AVAILABLE,
}


def oracle_active(e: Event, t: int) -> bool:
    """DESIGN §2 rules 1-3, written out independently of evaluate.py."""
    status = e.event_status.strip().lower()
    if status == "ongoing":
        return True
    if status in ("resolved", "completed", "cancelled", "canceled"):
        return False
    start, end = e.epoch_start_ms, e.epoch_end_ms
    return start is not None and start <= t and (end is None or t < end)


def oracle_state(evs: list[Event], t: int) -> State:
    severities = [
        SEVERITY_ORACLE.get(e.status_type.strip().lower(), 3) for e in evs if oracle_active(e, t)
    ]
    return STATE_BY_SEVERITY[max(severities, default=0)]


T = st.integers(T0_MS - 120, T0_MS + 120)


@given(st.lists(events(), max_size=6), st.lists(events(FINISHED), min_size=1, max_size=4), T)
def test_finished_events_never_make_a_service_non_available(
    evs: list[Event], finished: list[Event], t: int
) -> None:
    assert observe_service(service("S", *finished), t).state == State.AVAILABLE
    base = observe_service(service("S", *evs), t).state
    mixed = evs + finished
    random.Random(len(mixed)).shuffle(mixed)
    assert observe_service(service("S", *mixed), t).state == base


@given(st.lists(events(), max_size=8), T)
def test_state_is_the_max_severity_of_active_events(evs: list[Event], t: int) -> None:
    observation = observe_service(service("S", *evs), t)
    assert observation.state == oracle_state(evs, t)
    assert list(observation.active) == [e for e in evs if oracle_active(e, t)]
    if observation.cause is None:
        assert observation.state == State.AVAILABLE
    else:
        assert observation.cause in observation.active


@settings(max_examples=50)
@given(
    st.lists(st.lists(events(), max_size=4), min_size=1, max_size=5),
    T,
    st.randoms(use_true_random=False),
)
def test_observe_is_deterministic_and_ignores_order(
    per_service: list[list[Event]], t: int, rnd: random.Random
) -> None:
    snap = snapshot(*(service(f"Service {i}", *evs) for i, evs in enumerate(per_service)))
    watched = [s.name for s in snap.services] + ["Not In The Feed"]
    first = observe(snap, watched, t)
    assert observe(snap, watched, t) == first
    assert observe(snap, None, t) == first[:-1]
    assert first[-1].state == State.UNKNOWN

    shuffled_services = []
    for svc in snap.services:
        evs = list(svc.events)
        rnd.shuffle(evs)
        shuffled_services.append(service(svc.name, *evs))
    rnd.shuffle(shuffled_services)
    again = {o.service: o.state for o in observe(snapshot(*shuffled_services), watched, t)}
    assert again == {o.service: o.state for o in first}
