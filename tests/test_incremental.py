"""Incremental parse/evaluate/track (FeedParser, Evaluator, Poll.changed) give exactly what
the plain functions give, snapshot after snapshot: only the work is skipped."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from statuswatch.evaluate import Evaluator, observe
from statuswatch.model import Poll, State, to_epoch_ms
from statuswatch.sources.apple import FeedFormatError, FeedParser, parse_feed
from statuswatch.tracker import SourceTrack, TrackerSettings, advance

HISTORY = sorted((Path(__file__).parent / "data" / "feeds" / "history" / "consumer").glob("*.json"))
START = datetime(2025, 6, 13, 20, 0, tzinfo=UTC)


def run_both(
    bodies: list[bytes], times: list[datetime], watched: list[str] | None, confirm: int
) -> tuple[list[object], list[object]]:
    settings = TrackerSettings(confirm=confirm, stale_after=timedelta(minutes=30))
    plain_track, fast_track = SourceTrack(), SourceTrack()
    parser, evaluator = FeedParser(), Evaluator(watched)
    plain_out: list[object] = []
    fast_out: list[object] = []
    for body, at in zip(bodies, times, strict=True):
        t_ms = to_epoch_ms(at)
        try:
            snapshot = parse_feed(body)
        except FeedFormatError as error:
            plain_poll = Poll("s", at, ok=False, error=str(error))
        else:
            plain_poll = Poll("s", at, ok=True, observations=observe(snapshot, watched, t_ms))
            plain_out.append(snapshot.warnings)
        try:
            fast_snapshot = parser.parse(body)
        except FeedFormatError as error:
            fast_poll = Poll("s", at, ok=False, error=str(error))
        else:
            observations, changed = evaluator.observe(fast_snapshot, t_ms)
            assert observations == plain_poll.observations
            fast_poll = Poll("s", at, ok=True, observations=observations, changed=changed)
            fast_out.append(fast_snapshot.warnings)
        plain_track, plain_transitions = advance(plain_track, plain_poll, settings)
        fast_track, fast_transitions = advance(fast_track, fast_poll, settings)
        plain_out.append(plain_transitions)
        fast_out.append(fast_transitions)
        assert fast_track == plain_track
    return plain_out, fast_out


def maintenance_body(start_ms: int, end_ms: int, status: str = "scheduled") -> bytes:
    document = json.loads(HISTORY[-1].read_bytes())
    for service in document["services"]:
        if service["serviceName"] == "iCloud Backup":
            service["events"] = [
                {
                    "messageId": "m1",
                    "statusType": "Maintenance",
                    "eventStatus": status,
                    "message": "Maintenance",
                    "epochStartDate": start_ms,
                    "epochEndDate": end_ms,
                }
            ]
    return json.dumps(document).encode()


@pytest.mark.parametrize("confirm", [1, 2, 3])
@pytest.mark.parametrize("watched", [None, ["iCloud Backup", "icloud mail", "Not A Service"]])
def test_real_history_with_repeats_and_gaps(confirm: int, watched: list[str] | None) -> None:
    rng = random.Random(confirm)
    bodies, times = [], []
    at = START
    for _ in range(400):
        bodies.append(rng.choice(HISTORY).read_bytes() if rng.random() < 0.3 else
                      (bodies[-1] if bodies else HISTORY[0].read_bytes()))  # fmt: skip
        if rng.random() < 0.05:
            bodies[-1] = b"<html>maintenance page</html>"
        at += timedelta(minutes=rng.choice([1, 1, 1, 45, 600]))
        times.append(at)
    plain, fast = run_both(bodies, times, watched, confirm)
    assert fast == plain
    assert any(plain[1::2])  # the history does cause transitions


@pytest.mark.parametrize("status", ["scheduled", "upcoming", "someNewWord"])
def test_a_window_opening_and_closing_in_an_unchanged_body_is_seen(status: str) -> None:
    start = START + timedelta(hours=1)
    body = maintenance_body(to_epoch_ms(start), to_epoch_ms(start + timedelta(hours=2)), status)
    times = [START + timedelta(minutes=30 * i) for i in range(10)]
    plain, fast = run_both([body] * len(times), times, ["iCloud Backup"], 1)
    assert fast == plain
    kinds = [str(t.kind) for batch in plain[1::2] for t in batch]  # type: ignore[attr-defined]
    assert kinds.count("maintenance") == 1 and kinds.count("recovered") == 1


def test_time_going_backwards_evaluates_again() -> None:
    start = START + timedelta(hours=1)
    body = maintenance_body(to_epoch_ms(start), to_epoch_ms(start + timedelta(hours=2)))
    evaluator = Evaluator(["iCloud Backup"])
    parser = FeedParser()
    inside = to_epoch_ms(start + timedelta(minutes=10))
    before = to_epoch_ms(START)
    assert evaluator.observe(parser.parse(body), inside)[0][0].state == State.MAINTENANCE
    observations, changed = evaluator.observe(parser.parse(body), before)
    assert observations[0].state == State.AVAILABLE and changed == observations


@pytest.mark.parametrize("value", ["true", "1.0", '"1"', "null"])
def test_a_value_equal_in_python_but_of_another_json_type_is_parsed_again(value: str) -> None:
    template = (
        '{"services": [{"serviceName": "iCloud Backup", "events": [{"messageId": %s,'
        ' "statusType": "Outage", "eventStatus": "ongoing", "epochStartDate": %s}]}]}'
    )
    parser = FeedParser()
    for first, second in [("1", value), (value, "1")]:
        for body in (template % ("1", first), template % ("1", second)):
            assert parser.parse(body.encode()) == parse_feed(body.encode())
        for body in (template % (first, "1"), template % (second, "1")):
            assert parser.parse(body.encode()) == parse_feed(body.encode())


def test_unchanged_services_are_reused_not_parsed_again() -> None:
    parser = FeedParser()
    first = parser.parse(HISTORY[0].read_bytes())
    second = parser.parse(HISTORY[0].read_bytes())
    assert all(a is b for a, b in zip(first.services, second.services, strict=True))
    evaluator = Evaluator(None)
    evaluator.observe(first, to_epoch_ms(START))
    observations, changed = evaluator.observe(second, to_epoch_ms(START + timedelta(minutes=1)))
    assert len(observations) == len(first.services) and changed == ()


def test_replay_over_repeated_bodies_matches_the_plain_rules(tmp_path: Path) -> None:
    from statuswatch.replay import collect, replay

    rng = random.Random(3)
    at, expected, track = START, [], SourceTrack()
    settings = TrackerSettings(confirm=2)
    for _ in range(300):
        at += timedelta(minutes=rng.choice([1, 30, 300]))
        source = rng.choice(HISTORY[:6])
        path = tmp_path / (at.strftime("%Y-%m-%dT%H-%M-%SZ") + ".json")
        path.write_bytes(source.read_bytes())
        poll = Poll(
            "replay", at, True, observe(parse_feed(path.read_bytes()), None, to_epoch_ms(at))
        )
        track, transitions = advance(track, poll, settings)
        expected.append(sorted(transitions, key=lambda t: (t.service or "").casefold()))
    got = [transitions for _, transitions, _ in replay(collect([tmp_path]), None, 2)]
    assert got == expected
    assert any(expected)
