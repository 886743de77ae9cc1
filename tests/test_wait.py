"""`statuswatch wait SERVICE` (DESIGN §4b) in a subprocess against a local feed
(tests/peers.FeedServer on 127.0.0.1), with a tiny --interval, which only a local URL may
use. It must exit 0 once the service is available, 124 at --timeout, 130 on SIGINT, and
leave no state directory behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.peers import FeedServer
from tests.test_policies import AVAILABLE, REPO, event, feed

NOW = datetime(2025, 6, 14, 21, 0, tzinfo=UTC)
IN_MAINTENANCE = feed(iCloud_Backup=[event(start=NOW - timedelta(minutes=42))])


@pytest.fixture
def sink() -> Iterator[FeedServer]:
    with FeedServer() as server:
        server.feed = IN_MAINTENANCE
        yield server


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STATUSWATCH_", "XDG_"))}
    env.update(
        HOME=str(home / "home"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CONFIG_HOME=str(home / "config"),
        STATUSWATCH_NOW=NOW.isoformat(),
        PYTHONPATH=str(REPO),
        NO_PROXY="127.0.0.1",
    )
    return env


def _wait(tmp_path: Path, sink: FeedServer, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "statuswatch",
            "wait",
            "iCloud Backup",
            "--url",
            sink.url(),
            "--interval",
            "0.1s",
            *extra,
        ],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _no_state(tmp_path: Path) -> None:
    assert not (tmp_path / "state").exists()
    assert not (tmp_path / "home").exists()


def test_wait_exits_0_when_the_service_becomes_available_after_a_few_polls(
    tmp_path: Path, sink: FeedServer
) -> None:
    def recover() -> None:
        while sink.feed_requests < 4:
            time.sleep(0.02)
        sink.feed = AVAILABLE

    threading.Thread(target=recover, daemon=True).start()
    process = _wait(tmp_path, sink, "--timeout", "60s")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert out.strip() == "iCloud Backup is available"
    assert sink.feed_requests >= 5
    # Not a terminal: one plain line per change, saying since when.
    (line,) = [line for line in err.splitlines() if "under maintenance" in line]
    assert "since" in line and "42 min" in line
    _no_state(tmp_path)


def test_wait_exits_at_once_when_the_service_is_already_available(
    tmp_path: Path, sink: FeedServer
) -> None:
    sink.feed = AVAILABLE
    process = _wait(tmp_path, sink)
    _out, err = process.communicate(timeout=60)
    assert (process.returncode, sink.feed_requests) == (0, 1), err


def test_wait_exits_124_when_the_timeout_ends_it(tmp_path: Path, sink: FeedServer) -> None:
    process = _wait(tmp_path, sink, "--timeout", "1s")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 124, err
    assert "gave up waiting" in err and "under maintenance" in err
    assert "Traceback" not in err and out == ""
    _no_state(tmp_path)


def test_wait_exits_130_on_sigint(tmp_path: Path, sink: FeedServer) -> None:
    process = _wait(tmp_path, sink)
    deadline = time.monotonic() + 30
    while sink.feed_requests < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    _no_state(tmp_path)


def test_wait_refuses_a_short_interval_for_apple_and_a_name_not_in_the_feed(
    tmp_path: Path, sink: FeedServer
) -> None:
    base = [sys.executable, "-m", "statuswatch", "wait"]
    apple = subprocess.run(
        [*base, "iCloud Backup", "--interval", "5s"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert apple.returncode == 2 and "30s or more" in apple.stderr
    typo = subprocess.run(
        [*base, "iCloud Backp", "--url", sink.url(), "--interval", "0.1s"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert typo.returncode == 2 and "did you mean 'iCloud Backup'?" in typo.stderr
    _no_state(tmp_path)


def test_wait_rides_out_a_failing_feed_without_counting_it_as_a_recovery(
    tmp_path: Path, sink: FeedServer
) -> None:
    def script() -> None:
        while sink.feed_requests < 2:
            time.sleep(0.02)
        sink.set_status(500)  # no data: neither available nor a reason to stop
        while sink.feed_requests < 5:  # one poll: its request and two retries
            time.sleep(0.02)
        sink.feed = AVAILABLE
        sink.set_status(200)

    threading.Thread(target=script, daemon=True).start()
    process = _wait(tmp_path, sink, "--timeout", "60s")
    out, err = process.communicate(timeout=90)
    assert process.returncode == 0, err
    assert out.strip() == "iCloud Backup is available"
    assert "last poll failed" in err and "500" in err
    assert sink.feed_requests >= 6
