"""Stopping `statuswatch run` (issue 10, item 11): a fetch that hangs is cancelled at once,
only a delivery in flight gets a bounded grace, a second signal ends the process at once,
and nothing is half-written either way. Real subprocess daemons against a server that
accepts connections and never answers, and a webhook sink that answers slowly."""

from __future__ import annotations

import contextlib
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from statuswatch.store import DB_NAME
from tests.peers import FeedServer
from tests.test_daemon import (
    DaemonProcess,
    assert_plain_log,
    config,
    feed,
    sink,
    spawn,
    wait_until,
)

__all__ = ["feed", "sink", "spawn"]  # fixtures pytest must find here


class HangingServer:
    """Accepts every connection on 127.0.0.1 and never sends a byte."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self.listener.accept()
                self.accepted.append(connection)

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/feed.json"

    def close(self) -> None:
        self.listener.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def hanging() -> Iterator[HangingServer]:
    server = HangingServer()
    try:
        yield server
    finally:
        server.close()


def _quick_check(run: DaemonProcess) -> str:
    with contextlib.closing(sqlite3.connect(run.state / DB_NAME)) as db:
        return str(db.execute("PRAGMA quick_check").fetchone()[0])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_while_a_fetch_hangs_takes_under_two_seconds(
    signum: int, spawn: Callable[..., DaemonProcess], hanging: HangingServer
) -> None:
    run = spawn(config(hanging.url()).replace('timeout = "3s"', 'timeout = "60s"')).start()
    wait_until(lambda: hanging.accepted, "the daemon's fetch to connect", 30, run.log())
    time.sleep(0.3)  # well inside the fetch: the server will never answer it
    assert run.proc is not None
    started = time.monotonic()
    run.send(signum)
    code = run.proc.wait(10)
    took = time.monotonic() - started
    assert code == 0, run.log()
    assert took < 2.0, f"took {took:.2f}s to stop\n{run.log()}"
    assert "stopping" in run.log()
    assert_plain_log(run.log())
    assert _quick_check(run) == "ok"
    status = run.cli("status", "--json")
    assert status.returncode == 0, status.stderr


def test_a_delivery_in_flight_gets_its_grace_and_a_second_ctrl_c_ends_at_once(
    spawn: Callable[..., DaemonProcess], feed: FeedServer, sink: FeedServer
) -> None:
    sink.set_delay(8.0)  # a slow channel: inside STOP_GRACE, far beyond "at once"
    run = spawn(config(feed.url(), {"me": sink.port})).start()
    wait_until(lambda: sink.request_count == 1, "the delivery to start", 30, run.log())
    assert run.proc is not None
    run.send(signal.SIGINT)
    time.sleep(1.0)
    assert run.alive(), "the first Ctrl-C must let the delivery in flight finish"
    started = time.monotonic()
    run.send(signal.SIGINT)
    code = run.proc.wait(5)
    took = time.monotonic() - started
    assert code == 130, run.log()
    assert took < 1.0, f"took {took:.2f}s after the second Ctrl-C"
    assert "stopping now (second signal)" in run.log()
    assert_plain_log(run.log())
    # Nothing half-written: the database is sound and the row interrupted mid-send is
    # `sending`, which the next start gives back (tests/test_daemon.py shows it delivered).
    assert _quick_check(run) == "ok"
    assert run.db_statuses() == {"sending": 1}
