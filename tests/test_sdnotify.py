"""sd_notify against real unix datagram sockets, the way systemd listens for them."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from statuswatch import sdnotify
from statuswatch.sdnotify import Notifier, clean_status, notify, watchdog_interval


def _receive(sock: socket.socket) -> list[str]:
    data = sock.recv(65536)
    return data.decode().split("\n")


@pytest.fixture
def path_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A bound datagram socket in tmp_path, announced in $NOTIFY_SOCKET."""
    # AF_UNIX paths are limited to ~108 bytes; pytest's tmp_path can be long, so fall back to a
    # short directory when it is.
    path = tmp_path / "notify.sock"
    if len(os.fsencode(path)) > 100:
        path = Path("/tmp") / f"sw-{uuid.uuid4().hex[:12]}.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    try:
        yield sock
    finally:
        sock.close()
        path.unlink(missing_ok=True)


@pytest.fixture
def abstract_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A socket in the abstract namespace, announced as @name as systemd does."""
    name = f"statuswatch-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    try:
        yield sock
    finally:
        sock.close()


def test_notify_path_socket_one_datagram(path_socket: socket.socket) -> None:
    assert notify("READY=1", "STATUS=all good") is True
    assert _receive(path_socket) == ["READY=1", "STATUS=all good"]


def test_notify_abstract_socket(abstract_socket: socket.socket) -> None:
    assert notify("READY=1") is True
    assert _receive(abstract_socket) == ["READY=1"]


@pytest.mark.parametrize("fixture", ["path_socket", "abstract_socket"])
def test_notifier_lifecycle(fixture: str, request: pytest.FixtureRequest) -> None:
    sock: socket.socket = request.getfixturevalue(fixture)
    n = Notifier()
    assert n.enabled

    assert n.ready() is True
    assert _receive(sock) == ["READY=1"]

    assert n.status("iCloud Backup: available · last poll 12:05:00 UTC · 0 pending") is True
    assert _receive(sock) == [
        "STATUS=iCloud Backup: available · last poll 12:05:00 UTC · 0 pending"
    ]

    assert n.watchdog() is True
    assert _receive(sock) == ["WATCHDOG=1"]

    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert n.reloading() is True
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    reload_msg = _receive(sock)
    assert reload_msg[0] == "RELOADING=1"
    key, _, value = reload_msg[1].partition("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= after

    assert n.ready("reloaded") is True
    assert _receive(sock) == ["READY=1", "STATUS=reloaded"]

    assert n.stopping() is True
    assert _receive(sock) == ["STOPPING=1"]


def test_status_is_one_clean_line(path_socket: socket.socket) -> None:
    # A newline would start a second, bogus assignment (here a fake READY=1).
    Notifier().status("line one\nREADY=1\r\n\tbell\x07 zero\u200bwidth " + "x" * 500)
    (line,) = _receive(path_socket)
    assert line.startswith("STATUS=line one READY=1 bell zerowidth x")
    text = line.removeprefix("STATUS=")
    assert len(text) == sdnotify.STATUS_MAX_CHARS
    assert text.endswith("…")


def test_clean_status_short_text_unchanged() -> None:
    assert clean_status("iCloud Backup: maintenance") == "iCloud Backup: maintenance"


def test_no_socket_is_false_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False
    n = Notifier()
    assert not n.enabled
    assert n.ready() is False
    assert n.status("x") is False
    assert n.watchdog() is False
    assert n.reloading() is False
    assert n.stopping() is False


@pytest.mark.parametrize(
    "value",
    [
        "",  # set but empty
        "relative/path.sock",  # libsystemd refuses non-absolute paths too
        "/nonexistent/dir/notify.sock",  # nobody listening: ENOENT from sendto
    ],
)
def test_unusable_socket_is_false(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", value)
    assert notify("READY=1") is False


def test_socket_without_listener_is_false(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A path that exists but is a plain file: connect-less sendto fails with ECONNREFUSED.
    stale = tmp_path / "stale.sock"
    stale.write_text("")
    monkeypatch.setenv("NOTIFY_SOCKET", str(stale))
    assert notify("WATCHDOG=1") is False


def test_no_lines_sends_nothing(path_socket: socket.socket) -> None:
    assert notify() is False


def test_watchdog_interval_is_half_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "120000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval() == 60.0
    assert Notifier().watchdog_interval == 60.0


def test_watchdog_interval_for_this_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "3000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval() == 1.5


def test_watchdog_interval_other_pid_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    # The variables were meant for another process (we inherited them): do not ping.
    monkeypatch.setenv("WATCHDOG_USEC", "3000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert watchdog_interval() is None


@pytest.mark.parametrize("value", [None, "", "0", "-5", "soon"])
def test_watchdog_interval_absent_or_bad(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    if value is None:
        monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    else:
        monkeypatch.setenv("WATCHDOG_USEC", value)
    assert watchdog_interval() is None


def test_watchdog_interval_from_explicit_environ() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "10000000"}) == 5.0
    assert watchdog_interval({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "garbage"}) is None
