"""Two `statuswatch run` nodes on one PostgreSQL, as an operator sees them (DESIGN §5):
the STATUS line says leader or standby, /metrics and `statuswatch status` say which node
leads and since when, and a database that goes away is logged, retried and reported
while both daemons stay up. The database is reached through a TCP proxy the test can
cut (connection refused, as when the server is down), then restore."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.peers import FeedServer
from tests.pgcluster import PASSWORD, PgCluster
from tests.test_daemon import RESOLVED, DaemonProcess, NotifyListener, assert_plain_log, spawn
from tests.test_web_daemon import metric
from tests.webtools import free_port, wait_http

__all__ = ["spawn"]


class TcpProxy:
    """127.0.0.1:port -> upstream; `cut()` closes every connection and the listener."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._open = False

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(32)
        self._listener, self._open = listener, True
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                if not self._open:  # accepted while being cut
                    client.close()
                    server.close()
                    return
                self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self._lock:
            self._open = False
            sockets, self._sockets = self._sockets, []
        if self._listener is not None:
            # shutdown() first: close() alone does not wake a thread blocked in accept(),
            # which would then accept one more connection.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.fixture
def proxy(pg_cluster: PgCluster) -> Iterator[TcpProxy]:
    proxy = TcpProxy(pg_cluster.port).start()
    yield proxy
    proxy.cut()


def _wait(predicate: Callable[[], object], what: str, timeout: float = 30.0) -> object:
    from tests.test_daemon import wait_until

    return wait_until(predicate, what, timeout)


def _scrape(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text


def test_two_nodes_report_who_leads_and_ride_out_a_database_outage(
    spawn: Callable[..., DaemonProcess],
    pg_cluster: PgCluster,
    pg_database: str,
    proxy: TcpProxy,
    tmp_path: Path,
) -> None:
    dsn = pg_database.replace(f":{pg_cluster.port}/", f":{proxy.port}/")
    with FeedServer() as feed:
        feed.set_body(RESOLVED)
        ports = [free_port(), free_port()]
        for i in range(2):
            (tmp_path / f"n{i}").mkdir()
        listeners = [NotifyListener(tmp_path / f"n{i}") for i in range(2)]
        nodes = []
        for port, listener in zip(ports, listeners, strict=True):
            text = f"""\
database = "{dsn}"
interval = "1s"
timeout = "2s"

[[sources]]
name = "local"
url = "{feed.url()}"
services = ["Schoolwork"]
interval = "1s"

[http]
listen = "127.0.0.1:{port}"
"""
            nodes.append(spawn(text).start(env={"NOTIFY_SOCKET": listener.path}))
            wait_http(f"http://127.0.0.1:{port}/healthz")
        try:
            lead_line = listeners[0].wait("STATUS=leader since", timeout=30)[0]
            assert re.match(r"STATUS=leader since \d\d:\d\d:\d\d UTC · ", lead_line), lead_line
            leader_node = f"{socket.gethostname()}:{nodes[0].pid}"
            standby = listeners[1].wait("STATUS=standby since", timeout=30)
            _wait(
                lambda: any(f"leader {leader_node}" in s for s in listeners[1].matching("STATUS=")),
                "the standby naming the leader",
            )
            assert any(" · 0 pending" in line for line in standby), standby

            # /metrics on both nodes: this node leads or not, and who leads since when.
            texts = [_scrape(port) for port in ports]
            assert metric(texts[0], "statuswatch_leader") == 1
            assert metric(texts[1], "statuswatch_leader") == 0
            since = [
                metric(text, "statuswatch_leader_since_timestamp_seconds", node=leader_node)
                for text in texts
            ]
            assert since[0] == since[1] > 0

            status = nodes[1].cli("status")
            assert status.returncode == 0, status.stderr
            assert f"leader: {leader_node} since " in status.stdout
            assert PASSWORD not in status.stdout + status.stderr

            # The database goes away: both stay up, log it once, say it in STATUS, retry.
            marks = [node.mark() for node in nodes]
            proxy.cut()
            for node, listener, mark in zip(nodes, listeners, marks, strict=True):
                listener.wait("STATUS=standby: database unreachable, retrying", timeout=40)
                node.wait_log(r"cannot reach PostgreSQL at 127\.0\.0\.1:\d+", 20, since=mark)
                assert node.alive()
            # The web surface says so at once instead of stalling the daemon's loop.
            down = httpx.get(f"http://127.0.0.1:{ports[0]}/metrics", timeout=5)
            assert down.status_code == 503 and "cannot read its database" in down.text
            assert down.elapsed.total_seconds() < 3

            proxy.start()
            _wait(
                lambda: any(
                    s.startswith("STATUS=leader since")
                    for listener in listeners
                    for s in listener.matching("STATUS=")[-3:]
                ),
                "a leader again once the database is back",
                timeout=90,
            )
            for node in nodes:
                node.wait_log("database reachable again", 30)
                log = node.log()
                assert_plain_log(log)
                assert PASSWORD not in log
                assert log.count("cannot reach PostgreSQL") <= 3, log  # once per change
                code, _ = node.stop(timeout=15)
                assert code == 0
        finally:
            for listener in listeners:
                listener.close()
