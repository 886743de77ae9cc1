"""DESIGN §1: mutated real captures either fail to parse with one line, or go through
evaluate, track, store and render in every time zone without raising (issue 10 item 4).

A few seconds of the mutator in tests/fuzzing.py; bench/fuzz.py runs the same for a million
inputs. A failure names the input's index: `python bench/fuzz.py --seed S --only INDEX`
replays it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzzing import PipelineError, body_for, captures, run_pipeline

SEED = 20261202
INPUTS = 300


@pytest.mark.parametrize("block", range(4))
def test_mutated_captures_are_refused_or_handled_everywhere(block: int, tmp_path: Path) -> None:
    accepted = refused = 0
    for index in range(block * INPUTS, (block + 1) * INPUTS):
        body = body_for(SEED, index, allow_huge=False)
        try:
            # Every 10th input also goes through a real SQLite store.
            outcome = run_pipeline(body, tmp_path if index % 10 == 0 else None, turn=index)
        except PipelineError as error:
            pytest.fail(f"input {index} of seed {SEED}: {error} (cause: {error.__cause__!r})")
        accepted += outcome.accepted
        refused += not outcome.accepted
    # Both sides are exercised, or the mutator has stopped doing its job.
    assert accepted > INPUTS // 10 and refused > INPUTS // 10


def test_every_capture_itself_goes_through_the_whole_pipeline(tmp_path: Path) -> None:
    outcomes = [run_pipeline(body, tmp_path) for body in captures()]
    assert sum(outcome.accepted for outcome in outcomes) >= 50
    assert sum(outcome.transitions for outcome in outcomes) > 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400) | st.text(max_size=200).map(str.encode))
def test_arbitrary_bytes_are_refused_or_handled(body: bytes) -> None:
    run_pipeline(body)


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(["ongoing", "scheduled", "upcoming", "Outage", "Maintenance", "&#9999999;"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
EVENT = st.fixed_dictionaries(
    {},
    optional={
        "messageId": JSONISH,
        "statusType": st.sampled_from(["Outage", "Issue", "Maintenance", "x"]) | JSONISH,
        "eventStatus": st.sampled_from(["ongoing", "scheduled", "upcoming", "resolved"]) | JSONISH,
        "message": JSONISH,
        "usersAffected": JSONISH,
        "affectedServices": JSONISH,
        "epochStartDate": st.integers(-(10**15), 10**15) | JSONISH,
        "epochEndDate": st.integers(-(10**15), 10**15) | JSONISH,
    },
)
FEED = st.fixed_dictionaries(
    {
        "services": st.lists(
            st.fixed_dictionaries(
                {
                    "serviceName": st.text(max_size=20) | JSONISH,
                    "events": st.lists(EVENT, max_size=4) | JSONISH,
                },
                optional={"redirectUrl": JSONISH},
            ),
            max_size=4,
        )
    },
    optional={"drpost": JSONISH, "drMessage": JSONISH},
)


# Each document goes through the whole pipeline (~75 ms): 60 keep this test to a few seconds;
# bench/fuzz.py runs the million.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FEED)
def test_feed_shaped_documents_of_any_types_are_refused_or_handled(document: object) -> None:
    import json

    run_pipeline(json.dumps(document).encode())
