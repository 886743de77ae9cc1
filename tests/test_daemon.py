"""`statuswatch run` (statuswatch/daemon.py), end to end and in pieces.

The end-to-end tests start `python -m statuswatch run` in a subprocess, with HOME, XDG dirs
and the state directory inside tmp_path, against real peers on 127.0.0.1: a feed server
(tests/peers.py) serving real captures, and webhook sinks (apprise `json://`) that
record every POST and can be switched to answer 500. Sources use `interval = "1s"`, which
config.py allows for a `url` source.

Every wait is bounded and every daemon is killed in a finally, so a hung daemon fails its
test instead of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from statuswatch.backoff import backoff_interval
from statuswatch.config import Settings, SourceConfig
from statuswatch.daemon import Daemon
from statuswatch.model import Observation, State
from statuswatch.monitor import SourceOutcome
from statuswatch.status_line import status_line
from statuswatch.store import DB_NAME, SqliteStore
from tests.conftest import HISTORY
from tests.inprocess import run_statuswatch
from tests.peers import FeedServer

ROOT = Path(__file__).resolve().parent.parent
# Schoolwork: an ongoing Outage at 17:45, resolved at 18:32 (same messageId).
OUTAGE = (HISTORY / "consumer/2025-06-19T17-45-29Z.json").read_bytes()
RESOLVED = (HISTORY / "consumer/2025-06-19T18-32-52Z.json").read_bytes()
WATCHED = "Schoolwork"

# The plain (non-journal) log format of logsetup.py: one record per line.
PLAIN_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


# -- waiting ---------------------------------------------------------------------------


def wait_until(
    predicate: Callable[[], Any], what: str, timeout: float = 10.0, on_fail: str = ""
) -> Any:
    """Poll `predicate` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}\n{on_fail}")
        time.sleep(0.05)


# -- the daemon in a subprocess --------------------------------------------------------

_INHERITED_NOISE = (
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "JOURNAL_STREAM",
    "INVOCATION_ID",
    "STATE_DIRECTORY",
    "CONFIGURATION_DIRECTORY",
    "CREDENTIALS_DIRECTORY",
    "LISTEN_FDS",
    "LISTEN_PID",
)


class DaemonProcess:
    """One `statuswatch run` with its config, state dir and log file in `home`."""

    def __init__(self, home: Path, config: str, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.config = home / "statuswatch.toml"
        self.state = home / "state"
        self.log_path = home / "daemon.log"
        self.write_config(config)
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in _INHERITED_NOISE and not key.startswith("STATUSWATCH_")
        }
        self.env.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / "xdg-config"),
            XDG_STATE_HOME=str(home / "xdg-state"),
            XDG_CACHE_HOME=str(home / "xdg-cache"),
            PYTHONPATH=str(ROOT),  # the checkout under test, whatever the venv points at
        )
        self.env.update(env or {})
        self.proc: subprocess.Popen[bytes] | None = None

    def write_config(self, text: str) -> None:
        self.config.write_text(text, encoding="utf-8")

    def args(self, *command: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "statuswatch",
            "--config",
            str(self.config),
            "--state-dir",
            str(self.state),
            *command,
        ]

    def start(self, env: dict[str, str] | None = None) -> DaemonProcess:
        with open(self.log_path, "ab") as stderr:
            self.proc = subprocess.Popen(
                self.args("run"),
                env={**self.env, **(env or {})},
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def mark(self) -> int:
        """A position in the log; `wait_log(..., since=mark)` looks only after it."""
        return len(self.log())

    def wait_log(self, pattern: str, timeout: float = 10.0, since: int = 0) -> re.Match[str]:
        regex = re.compile(pattern, re.MULTILINE)

        def found() -> re.Match[str] | None:
            if not self.alive():
                pytest.fail(f"the daemon exited ({self.proc.returncode}):\n{self.log()}")  # type: ignore[union-attr]
            return regex.search(self.log()[since:])

        return wait_until(found, f"log line /{pattern}/", timeout, on_fail=self.log())

    def send(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 5.0) -> tuple[int, float]:
        """SIGTERM; (exit code, seconds it took). Fails if it takes longer than `timeout`."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the daemon did not exit within {timeout:g}s of SIGTERM:\n{self.log()}")
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def cli(self, *command: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
        """Another statuswatch command on the same config and state dir, run in this process
        (tests/inprocess.py) while the daemon runs in its own."""
        return run_statuswatch(
            self.args(*command)[3:], env=self.env, cwd=self.home, timeout=timeout
        )

    def outbox(self) -> list[dict[str, Any]]:
        done = self.cli("outbox", "--json")
        assert done.returncode == 0, done.stderr
        rows: list[dict[str, Any]] = json.loads(done.stdout)
        return rows

    def db_statuses(self) -> dict[str, int]:
        """Outbox rows per status, read with sqlite3 directly."""
        with contextlib.closing(sqlite3.connect(self.state / DB_NAME)) as db:
            return dict(db.execute("SELECT status, count(*) FROM outbox GROUP BY status"))


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    """Make DaemonProcess objects (not started); every one is killed after the test."""
    made: list[DaemonProcess] = []

    def make(config: str, env: dict[str, str] | None = None) -> DaemonProcess:
        home = tmp_path / f"d{len(made)}"
        home.mkdir()
        process = DaemonProcess(home, config, env)
        made.append(process)
        return process

    try:
        yield make
    finally:
        for process in made:
            process.kill()


# -- peers -------------------------------------------------------------------------------


@pytest.fixture
def feed() -> Iterator[FeedServer]:
    with FeedServer() as server:
        server.set_body(OUTAGE)
        yield server


@pytest.fixture
def sink() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


@pytest.fixture
def sink2() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def posts(server: FeedServer) -> list[int]:
    """Statuses answered to the POSTs received so far (in-flight ones not yet included)."""
    requests, responses = server.requests, server.responses
    return [
        status
        for request, status in zip(requests, responses, strict=False)
        if request.method == "POST"
    ]


def accepted(server: FeedServer) -> list[dict[str, Any]]:
    """The JSON bodies apprise posted that the sink answered 200."""
    requests, responses = server.requests, server.responses
    return [
        json.loads(request.body)
        for request, status in zip(requests, responses, strict=False)
        if request.method == "POST" and status == 200
    ]


def wait_accepted(server: FeedServer, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    return wait_until(
        lambda: (got := accepted(server)) and len(got) >= count and got,
        f"{count} accepted POST(s) at the sink (have {len(accepted(server))})",
        timeout,
    )


def stays(check: Callable[[], bool], seconds: float, what: str) -> None:
    """`check` holds for the whole of `seconds` (used to prove nothing more arrives)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert check(), what
        time.sleep(0.1)


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def config(
    feed_url: str,
    subscribers: dict[str, int] | None = None,
    *,
    extra: str = "",
    name: str = "local",
) -> str:
    """A config watching Schoolwork at `feed_url` every second; one json:// sink each."""
    text = f"""\
interval = "1s"
timeout = "3s"

[[sources]]
name = "{name}"
url = "{feed_url}"
services = ["{WATCHED}"]
interval = "1s"
{extra}
"""
    for subscriber, port in (subscribers or {}).items():
        text += f"""
[[subscribers]]
name = "{subscriber}"
urls = ["json://127.0.0.1:{port}/hook"]
"""
    return text


def assert_plain_log(text: str) -> None:
    """One line per record, no traceback anywhere."""
    assert "Traceback" not in text, text
    for line in text.splitlines():
        assert PLAIN_LINE.match(line), f"not a single-line log record: {line!r}\n{text}"


# -- end to end ------------------------------------------------------------------------


def test_feed_change_gives_one_delivery_per_transition_and_cli_works_meanwhile(
    spawn: Callable[..., DaemonProcess], feed: FeedServer, sink: FeedServer
) -> None:
    run = spawn(config(feed.url(), {"me": sink.port})).start()

    first = wait_accepted(sink, 1)
    assert "outage" in first[0]["title"]
    assert WATCHED in first[0]["title"]

    # The lock is held only during a cycle: read-only commands work while the daemon
    # polls every second, and a `check` started meanwhile waits for its turn, runs, and
    # does not send the same notification again.
    status = run.cli("status", "--json")
    assert status.returncode == 0, status.stderr
    services = {s["name"]: s["state"] for s in json.loads(status.stdout)["services"]}
    assert services == {WATCHED: "outage"}
    history = run.cli("history", "--json")
    assert history.returncode == 0, history.stderr
    assert [json.loads(line)["kind"] for line in history.stdout.splitlines()] == ["initial"]
    check = run.cli("check", "--json")
    assert check.returncode == 0, check.stderr

    feed.set_body(RESOLVED)
    got = wait_accepted(sink, 2)
    assert "available again" in got[1]["title"]
    stays(lambda: len(posts(sink)) == 2, 2.5, "no further delivery once each transition is sent")

    history = run.cli("history", "--json")
    kinds = [json.loads(line)["kind"] for line in history.stdout.splitlines()]
    assert kinds == ["initial", "recovered"]
    assert run.alive()
    code, _ = run.stop()
    assert code == 0
    assert run.db_statuses() == {"sent": 2}
    assert_plain_log(run.log())


def test_sink_down_then_back_loses_nothing_and_sends_once(
    spawn: Callable[..., DaemonProcess], feed: FeedServer, sink: FeedServer
) -> None:
    run = spawn(config(feed.url(), {"me": sink.port})).start()
    wait_accepted(sink, 1)  # the initial outage, while the sink is up

    sink.set_status(500)
    mark = run.mark()
    feed.set_body(RESOLVED)  # the recovery happens while the channel is down
    run.wait_log(r"\* ERR .* recovered/Schoolwork", since=mark)
    rows = run.outbox()
    assert [(r["kind"], r["status"], r["attempts"]) for r in rows] == [("recovered", "pending", 1)]
    # Backed off (first retry after ~30 s), not retried at every 1 s poll.
    stays(lambda: len(posts(sink)) == 2, 2.0, "a failed row is not retried before it is due")

    sink.set_status(200)
    # The row is due in ~30 s; make it due now from another process, as an operator would.
    # Either that process sends it, or the daemon's next 1 s poll claims it first (the
    # retry made it due) and the command waits for it and says so: once, either way.
    retry = run.cli("outbox", "retry", "--all")
    assert retry.returncode == 0, retry.stdout + retry.stderr
    sent = r"\d+  sent(?: \(by another statuswatch process\))?  "
    assert re.search(sent, retry.stdout), retry.stdout
    got = wait_accepted(sink, 2, timeout=5)
    assert "available again" in got[1]["title"]
    stays(lambda: len(accepted(sink)) == 2, 2.0, "the recovery is delivered exactly once")
    assert run.outbox() == []

    code, _ = run.stop()
    assert code == 0
    assert run.db_statuses() == {"sent": 2}
    assert_plain_log(run.log())


def test_sighup_adds_a_subscriber_and_a_bad_config_keeps_the_old_one(
    spawn: Callable[..., DaemonProcess], feed: FeedServer, sink: FeedServer, sink2: FeedServer
) -> None:
    run = spawn(config(feed.url(), {"first": sink.port})).start()
    wait_accepted(sink, 1)

    mark = run.mark()
    run.write_config(config(feed.url(), {"first": sink.port, "second": sink2.port}))
    run.send(signal.SIGHUP)
    run.wait_log(r"configuration reloaded: 1 source\(s\), 2 subscriber\(s\)", since=mark)

    feed.set_body(RESOLVED)
    assert "available again" in wait_accepted(sink, 2)[1]["title"]
    assert "available again" in wait_accepted(sink2, 1)[0]["title"]

    # An invalid config: one error line naming the problem, and the old config stays.
    mark = run.mark()
    good = run.config.read_text()
    run.write_config(good.replace('timeout = "3s"', 'timeout = "3s"\nintervall = "5s"'))
    run.send(signal.SIGHUP)
    line = run.wait_log(
        r"^.*ERROR .*reload failed, keeping the running configuration: .*$", since=mark
    )
    assert "intervall" in line.group(0)
    time.sleep(0.5)
    assert run.alive()

    feed.set_body(OUTAGE)  # both subscribers of the old config are still told
    assert "outage" in wait_accepted(sink, 3)[2]["title"]
    assert "outage" in wait_accepted(sink2, 2)[1]["title"]
    stays(
        lambda: (len(posts(sink)), len(posts(sink2))) == (3, 2),
        1.5,
        "exactly one delivery per transition per subscriber",
    )
    code, _ = run.stop()
    assert code == 0
    assert_plain_log(run.log())


def test_sigterm_during_a_delivery_exits_0_quickly_and_leaves_nothing_sending(
    spawn: Callable[..., DaemonProcess], feed: FeedServer, sink: FeedServer
) -> None:
    sink.set_delay(1.5)  # the channel is slow: SIGTERM arrives mid-delivery
    run = spawn(config(feed.url(), {"me": sink.port})).start()
    wait_until(lambda: sink.request_count == 1, "the delivery to start")

    code, took = run.stop(timeout=5)
    assert code == 0
    assert took < 5
    statuses = run.db_statuses()
    assert "sending" not in statuses
    assert statuses == {"sent": 1}  # the cycle in progress was allowed to finish
    assert "stopping" in run.log()
    assert_plain_log(run.log())


def test_a_run_killed_mid_delivery_is_delivered_by_the_next_run(
    spawn: Callable[..., DaemonProcess], feed: FeedServer, sink: FeedServer
) -> None:
    sink.set_delay(1.0)
    run = spawn(config(feed.url(), {"me": sink.port})).start()
    wait_until(lambda: sink.request_count == 1, "the delivery to start")
    run.kill()  # SIGKILL: no chance to release its claim
    assert run.db_statuses() == {"sending": 1}

    sink.set_delay(0)
    run.start()
    run.wait_log(r"1 interrupted delivery\(ies\) will be retried")
    wait_until(lambda: run.db_statuses() == {"sent": 1}, "the interrupted row to be sent")
    # At-least-once: the killed run's message may have arrived too (it did, late), but the
    # row is sent by the second run without waiting for anything else to become due.
    wait_until(lambda: len(posts(sink)) == 2, "the killed run's late answer and the resend", 5)
    code, _ = run.stop()
    assert code == 0


def test_feed_failures_back_off_one_line_each_and_recover(
    spawn: Callable[..., DaemonProcess], feed: FeedServer
) -> None:
    feed.set_status(500)
    run = spawn(config(feed.url())).start()
    run.wait_log(r"local: .*HTTP 500.*; next try in 2s$", timeout=15)
    feed.set_status(429)  # a 4xx is not retried within the poll: the next failure is quick
    run.wait_log(r"local: .*HTTP 429.*; next try in 4s$")
    mark = run.mark()
    polls = feed.request_count
    feed.set_status(200)
    run.wait_log(r"local: feed readable again; polling every 1s$", since=mark, timeout=8)
    # Back to the normal interval: more polls follow within a few seconds.
    wait_until(lambda: feed.request_count >= polls + 3, "polls at the normal 1 s interval", 5)

    assert run.alive()
    text = run.log()
    assert len(re.findall(r"HTTP 500", text)) == 1  # one line per failed poll, retries inside
    assert len(re.findall(r"HTTP 429", text)) == 1
    code, _ = run.stop()
    assert code == 0
    assert_plain_log(run.log())


class NotifyListener:
    """The systemd side of sd_notify: a unix datagram socket bound in tmp_path."""

    def __init__(self, tmp_path: Path) -> None:
        path = str(tmp_path / "notify.sock")
        if len(path) > 100:  # sun_path holds 108 bytes
            path = os.path.join(tempfile.mkdtemp(prefix="sw-"), "notify.sock")
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setblocking(False)
        self.messages: list[str] = []

    def close(self) -> None:
        self.sock.close()

    def matching(self, prefix: str) -> list[str]:
        with contextlib.suppress(BlockingIOError):
            while True:
                self.messages.append(self.sock.recv(65536).decode())
        return [m for m in self.messages if m.startswith(prefix)]

    def wait(self, prefix: str, count: int = 1, timeout: float = 10.0) -> list[str]:
        return wait_until(
            lambda: len(got := self.matching(prefix)) >= count and got,
            f"{count} x {prefix} (got {self.messages})",
            timeout,
        )


def test_sd_notify_ready_status_watchdog_reloading_stopping(
    spawn: Callable[..., DaemonProcess], feed: FeedServer, tmp_path: Path
) -> None:
    feed.set_body(RESOLVED)  # Schoolwork available: a silent baseline, nothing to deliver
    listener = NotifyListener(tmp_path)
    try:
        run = spawn(config(feed.url())).start(
            env={"NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "2000000"}
        )
        listener.wait("READY=1")
        status = listener.wait("STATUS=")[0]
        assert re.fullmatch(
            r"STATUS=Schoolwork: available · last poll \d\d:\d\d:\d\d UTC · 0 pending", status
        ), status
        assert listener.messages.index("READY=1") < listener.messages.index(status)
        # WATCHDOG_USEC=2 s: a ping every second while polls complete.
        listener.wait("WATCHDOG=1", count=3, timeout=5)

        run.send(signal.SIGHUP)
        reloading = listener.wait("RELOADING=1")[0]
        assert re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=\d+", reloading), reloading
        listener.wait("READY=1", count=2)  # the reload is complete
        assert listener.messages.index(reloading) < len(listener.messages) - 1

        code, _ = run.stop()
        assert code == 0
        listener.wait("STOPPING=1", timeout=2)
        assert_plain_log(run.log())
    finally:
        listener.close()


def flock_held(path: Path) -> bool:
    """Whether some process holds a flock() on `path` (read from /proc/locks, so that
    looking does not take the lock and make the daemon skip a poll)."""
    try:
        inode = os.stat(path).st_ino
        table = Path("/proc/locks").read_text()
    except OSError:
        return False
    for line in table.splitlines():
        fields = line.split()  # "1: FLOCK ADVISORY WRITE <pid> <maj>:<min>:<inode> 0 EOF"
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5].endswith(f":{inode}"):
            return True
    return False


def test_journal_mode_and_readers_while_a_cycle_holds_the_lock(
    spawn: Callable[..., DaemonProcess], feed: FeedServer, tmp_path: Path
) -> None:
    feed.set_body(RESOLVED)
    nowhere = f"http://127.0.0.1:{closed_port()}/feed.json"
    extra = f"""
[[sources]]
name = "nowhere"
url = "{nowhere}"
services = ["{WATCHED}"]
interval = "30s"
"""
    run = spawn(config(feed.url(), extra=extra))
    run.log_path.touch()
    st = os.stat(run.log_path)
    run.start(env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})

    run.wait_log(
        r"^<6>statuswatch\.daemon: statuswatch running: local every 1s, nowhere every 30s$"
    )
    # The `nowhere` poll retries for a few seconds, holding the state lock meanwhile;
    # readers do not need it.
    if Path("/proc/locks").exists():
        wait_until(lambda: flock_held(run.state / "statuswatch.lock"), "a cycle holding the lock")
    for command in (("status", "--json"), ("history", "--json"), ("outbox", "--json")):
        done = run.cli(*command)
        assert done.returncode == 0, (command, done.stderr)
    # Both sources were due at start; the second waited for the first instead of skipping.
    run.wait_log(
        r"^<4>statuswatch\.daemon: nowhere: 127\.0\.0\.1 refused the connection"
        r".*; next try in 1m$",
        timeout=15,
    )
    status = json.loads(run.cli("status", "--json").stdout)
    assert {s["name"]: s["state"] for s in status["services"]} == {WATCHED: "available"}

    code, _ = run.stop()
    assert code == 0
    text = run.log()
    assert "holds the lock" not in text
    assert "Traceback" not in text
    lines = text.splitlines()
    # Every line, from any logger, carries its syslog priority and no timestamp.
    assert lines and all(re.match(r"<[0-7]>[a-z_.]+: ", line) for line in lines), text
    assert "<6>statuswatch.daemon: stopping" in lines
    assert not any(re.search(r"\d\d:\d\d:\d\d (INFO|WARNING)", line) for line in lines)


# -- pieces ------------------------------------------------------------------------------


class TestBackoffInterval:
    def test_no_failure_is_the_base(self) -> None:
        assert backoff_interval(60, 0, None) == 60
        assert backoff_interval(60, 0, 500) == 60  # Retry-After matters only after a failure

    def test_doubles_per_consecutive_failure(self) -> None:
        assert [backoff_interval(1, n, None) for n in range(1, 6)] == [2, 4, 8, 16, 32]
        assert [backoff_interval(300, n, None) for n in (1, 2, 3)] == [600, 1200, 1800]

    def test_capped_at_30_minutes(self) -> None:
        assert backoff_interval(300, 4, None) == 1800
        assert backoff_interval(1, 50, None) == 1800
        assert backoff_interval(300, 10_000, None) == 1800  # no overflow after days down

    def test_never_below_the_base(self) -> None:
        assert backoff_interval(3600, 1, None) == 3600
        assert backoff_interval(3600, 5, 10) == 3600

    def test_honours_retry_after(self) -> None:
        assert backoff_interval(60, 1, 900) == 900
        assert backoff_interval(60, 1, 30) == 120  # shorter than the back-off: back-off wins
        assert backoff_interval(300, 6, 2700) == 2700  # even beyond the 30 min cap
        assert backoff_interval(60, 1, 0) == 120

    def test_an_absurd_retry_after_is_bounded(self) -> None:
        assert backoff_interval(60, 1, 10**9) <= 3600


def _outcome(name: str, at: datetime, ok: bool, *states: tuple[str, State]) -> SourceOutcome:
    return SourceOutcome(
        config=SourceConfig(name=name, url="http://127.0.0.1:9/feed.json"),
        at=at,
        ok=ok,
        error=None if ok else "boom",
        observations=tuple(Observation(service=s, state=st) for s, st in states),
    )


class TestStatusLine:
    def test_the_documented_shape(self) -> None:
        outcome = _outcome(
            "apple",
            datetime(2026, 11, 25, 12, 5, tzinfo=UTC),
            True,
            ("iCloud Backup", State.AVAILABLE),
        )
        assert (
            status_line({"apple": outcome}, 0)
            == "iCloud Backup: available · last poll 12:05:00 UTC · 0 pending"
        )

    def test_several_sources_latest_poll_and_no_data(self) -> None:
        one = _outcome(
            "consumer",
            datetime(2026, 11, 25, 12, 5, tzinfo=UTC),
            True,
            ("iCloud Backup", State.MAINTENANCE),
            ("iCloud Mail", State.OUTAGE),
        )
        two = _outcome("developer", datetime(2026, 11, 25, 12, 6, 30, tzinfo=UTC), False)
        assert status_line({"consumer": one, "developer": two}, 3) == (
            "iCloud Backup: maintenance · iCloud Mail: outage · developer: no data"
            " · last poll 12:06:30 UTC · 3 pending"
        )

    def test_before_any_poll(self) -> None:
        assert status_line({}, 2) == "2 pending"


class FakeNotifier:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def watchdog(self) -> bool:
        self.sent.append("WATCHDOG=1")
        return True

    def ready(self, status: str | None = None) -> bool:
        self.sent.append("READY=1")
        return True

    def reloading(self) -> bool:
        self.sent.append("RELOADING=1")
        return True


@pytest.fixture
def quiet_daemon(tmp_path: Path) -> Iterator[tuple[Daemon, FakeNotifier]]:
    settings = Settings(
        state_dir=tmp_path,
        sources=[SourceConfig(name="local", url="http://127.0.0.1:9/feed.json", interval=1)],
    )
    store = SqliteStore.open(tmp_path)
    notifier = FakeNotifier()
    try:
        yield Daemon(settings, store, lambda: settings, notifier=notifier), notifier  # type: ignore[arg-type]
    finally:
        store.close()


async def test_watchdog_is_petted_only_while_polls_complete(
    quiet_daemon: tuple[Daemon, FakeNotifier], caplog: pytest.LogCaptureFixture
) -> None:
    running, notifier = quiet_daemon
    running.last_progress = time.monotonic()
    await running._watchdog_job()
    assert notifier.sent == ["WATCHDOG=1"]

    running.last_progress = time.monotonic() - 3600  # polls stopped completing an hour ago
    await running._watchdog_job()
    assert notifier.sent == ["WATCHDOG=1"]
    assert "not petting the watchdog" in caplog.text


async def test_a_reload_that_breaks_unexpectedly_keeps_the_config_and_answers_ready(
    quiet_daemon: tuple[Daemon, FakeNotifier], caplog: pytest.LogCaptureFixture
) -> None:
    running, notifier = quiet_daemon
    before = running.settings

    def broken() -> Settings:
        raise RuntimeError("unexpected")

    running.load_settings = broken
    await running.reload()  # does not raise: the daemon keeps running
    assert notifier.sent == ["RELOADING=1", "READY=1"]  # systemd is not left "reloading"
    assert running.settings is before
    assert "reload failed unexpectedly; keeping the running configuration" in caplog.text


async def test_stop_cancels_a_cycle_that_outlasts_the_grace_period(
    quiet_daemon: tuple[Daemon, FakeNotifier], monkeypatch: pytest.MonkeyPatch
) -> None:
    running, _ = quiet_daemon
    monkeypatch.setattr("statuswatch.daemon.STOP_GRACE", 0.3)
    running.notifier.stopping = lambda: True  # type: ignore[method-assign]

    async def stuck() -> None:
        await asyncio.sleep(3600)

    running._spawn(stuck())
    (task,) = running.running
    started = time.monotonic()
    await running._shutdown()
    assert time.monotonic() - started < 3
    assert task.cancelled()
