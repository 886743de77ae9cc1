"""The HTTP surface (DESIGN §8) of a real `statuswatch run` on 127.0.0.1, end to end.

A local feed server drives iCloud Backup from maintenance to recovered; every path is
fetched over a real socket and checked by real consumers: promtool for /metrics,
feedparser for the Atom feed, headless chromium for the page.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.peers import FeedServer
from tests.test_daemon import DaemonProcess, spawn, wait_until
from tests.webtools import (
    chromium,
    free_port,
    maintenance_feed,
    png_size,
    tool,
    wait_http,
    web_config,
)

__all__ = ["spawn"]

PATHS = [
    "/",
    "/style.css",
    "/api/v1/status",
    "/api/v1/services",
    "/api/v1/history?since=all",
    "/feed.atom",
    "/feed.atom?service=icloud%20backup",
    "/badge/iCloud%20Backup.svg",
    "/badge/iCloud%20Backup.json",
    "/metrics",
    "/healthz",
]


@pytest.fixture
def feed() -> Iterator[FeedServer]:
    with FeedServer() as server:
        server.set_body(maintenance_feed())
        yield server


@pytest.fixture
def sink() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


class Web:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.client = httpx.Client(base_url=self.base, timeout=5)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def json(self, path: str) -> Any:
        response = self.get(path)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        return response.json()


def start(spawn: Callable[..., DaemonProcess], text: str, port: int) -> tuple[DaemonProcess, Web]:
    run = spawn(text).start()
    wait_http(f"http://127.0.0.1:{port}/healthz")
    return run, Web(port)


def states(web: Web) -> dict[str, str]:
    document = web.json("/api/v1/status")
    return {s["name"]: s["state"] for src in document["sources"] for s in src["services"]}


def promtool_check(text: str, tmp_path: Path) -> None:
    promtool = tool("promtool")
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr


def metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"no sample {name}{labels} in:\n{text}")


def test_every_path_through_maintenance_then_recovery(
    spawn: Callable[..., DaemonProcess], feed: FeedServer, tmp_path: Path
) -> None:
    port = free_port()
    run, web = start(spawn, web_config(feed.url(), port), port)
    wait_until(lambda: states(web).get("iCloud Backup") == "maintenance", "maintenance")

    # -- during maintenance ---------------------------------------------------------------
    page = web.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "iCloud Backup" in page.text and "Maintenance" in page.text
    assert "undergoing scheduled maintenance" in page.text  # Apple's current message
    assert "Upcoming" in page.text and "CET" in page.text  # Schoolwork's, in Europe/Paris
    assert '<meta http-equiv="refresh" content="60">' in page.text
    assert "<script" not in page.text
    assert page.text.count('class="bar ') == 3 * 90  # a 90-day strip per service
    badge = ET.fromstring(web.get("/badge/icloud%20BACKUP.svg").content)
    assert "maintenance" in "".join(badge.itertext())

    # -- recovery -----------------------------------------------------------------------
    feed.set_body(maintenance_feed(resolved=True))
    wait_until(lambda: states(web).get("iCloud Backup") == "available", "recovery")

    for path in PATHS:
        response = web.get(path)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert "script-src" not in response.headers["content-security-policy"], path
        assert "default-src 'none'" in response.headers["content-security-policy"], path
        assert response.headers["referrer-policy"] == "no-referrer", path
        head = web.client.head(path)
        assert head.status_code == 200 and head.content == b"", path

    status = web.json("/api/v1/status")
    assert status["version"] == 1
    (source,) = status["sources"]
    assert (source["name"], source["ok"], source["error"]) == ("apple", True, None)
    services = {s["name"]: s for s in source["services"]}
    assert services["iCloud Backup"]["state"] == "available"
    assert services["iCloud Backup"]["confirmed"] == "available"
    assert [e["messageId"] for e in services["Schoolwork"]["planned"]] == ["2000010002"]
    kinds = [(t["service"], t["kind"]) for t in status["transitions"]]
    assert ("iCloud Backup", "initial") in kinds and ("iCloud Backup", "recovered") in kinds
    assert status["deliveries"] == {"sent": 0, "pending": 0, "dead": 0}

    listed = web.json("/api/v1/services")
    assert [(s["name"], s["state"]) for s in listed["services"]] == [
        ("iCloud Backup", "available"),
        ("Schoolwork", "available"),
        ("App Store", "available"),
    ]

    history = web.json("/api/v1/history?service=ICLOUD%20backup&since=all")
    assert [t["kind"] for t in history["transitions"]] == ["initial", "recovered"]
    # The API's transitions are exactly `history --json`'s lines (one code path).
    cli = run.cli("history", "--json", "--since", "all", "--service", "iCloud Backup")
    assert [json.loads(line) for line in cli.stdout.splitlines()] == history["transitions"]
    bad = web.get("/api/v1/history?since=yesterday-ish")
    assert bad.status_code == 400 and "since=" in bad.json()["error"]

    page = web.get("/").text
    assert "maintenance → available" in page
    assert "Available" in page

    atom = web.get("/feed.atom")
    assert atom.headers["content-type"] == "application/atom+xml; charset=utf-8"
    parsed = feedparser.parse(atom.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    titles = [entry.title for entry in parsed.entries]
    assert titles[0] == "iCloud Backup is available again"  # newest first
    assert "iCloud Backup: maintenance" in titles
    again = feedparser.parse(web.get("/feed.atom").content)
    assert [e.id for e in again.entries] == [e.id for e in parsed.entries]  # stable ids
    assert len({e.id for e in parsed.entries}) == len(parsed.entries)
    only = feedparser.parse(web.get("/feed.atom?service=schoolwork").content)
    assert not only.bozo
    assert {e.title.split(":")[0] for e in only.entries} == {"Schoolwork"}
    assert web.get("/feed.atom?service=nothing").status_code == 404

    shield = web.json("/badge/iCloud%20Backup.json")
    assert shield == {
        "schemaVersion": 1,
        "label": "iCloud Backup",
        "message": "available",
        "color": "brightgreen",
        "isError": False,
    }
    missing = web.get("/badge/No%20Such%20Service.svg")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "image/svg+xml; charset=utf-8"
    assert "unknown service" in "".join(ET.fromstring(missing.content).itertext())

    scraped = web.get("/metrics")
    assert scraped.headers["content-type"].startswith("text/plain; version=")
    promtool_check(scraped.text, tmp_path)
    text = scraped.text
    labels = {"source": "apple", "service": "iCloud Backup"}
    assert metric(text, "statuswatch_service_state", state="available", **labels) == 1
    assert metric(text, "statuswatch_service_state", state="maintenance", **labels) == 0
    assert metric(text, "statuswatch_service_severity", **labels) == 0
    assert metric(text, "statuswatch_transitions_total", kind="recovered", source="apple") == 1
    assert metric(text, "statuswatch_polls_total", source="apple") >= 2
    assert metric(text, "statuswatch_poll_failures_total", source="apple") == 0
    assert metric(text, "statuswatch_poll_duration_seconds_count", source="apple") >= 2
    assert metric(text, "statuswatch_last_successful_poll_timestamp_seconds") > time.time() - 60
    assert metric(text, "statuswatch_outbox_rows", status="dead") == 0
    assert metric(text, "statuswatch_deliveries_total", result="sent") == 0
    assert metric(text, "statuswatch_leader") == 1
    for family in text_string_to_metric_families(text):
        assert family.documentation, f"{family.name} has no HELP"

    health = web.get("/healthz")
    assert health.status_code == 200 and health.text.startswith("ok")

    code, _ = run.stop()
    assert code == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{web.base}/healthz", timeout=2)  # SIGTERM stopped the server too
    assert "Traceback" not in run.log()


def test_only_get_and_head_and_bounded_requests(
    spawn: Callable[..., DaemonProcess], feed: FeedServer
) -> None:
    port = free_port()
    run, web = start(spawn, web_config(feed.url(), port, extra='request_timeout = "1s"'), port)
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"):
        for path in ("/", "/api/v1/status", "/nowhere"):
            response = web.client.request(method, path)
            assert response.status_code == 405, (method, path)
            assert response.headers["allow"] == "GET, HEAD"
            assert response.headers["x-content-type-options"] == "nosniff"
    with_body = web.client.request("GET", "/api/v1/status", content=b"x" * 100)
    assert with_body.status_code == 413
    assert web.get("/nowhere").status_code == 404
    assert web.get("/nowhere").headers["x-content-type-options"] == "nosniff"

    huge = web.get("/", headers={"X-Filler": "a" * 20_000})
    assert huge.status_code == 431  # the request head is bounded (16 KiB)

    # A client that opens a connection and trickles a request head is cut off.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as slow:
        slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        assert slow.recv(100) == b""  # closed by the server, with nothing sent
        assert time.monotonic() - started < 4
    assert web.get("/healthz").status_code == 200  # and the server still serves others
    run.stop()


def test_healthz_turns_503_with_the_reason_when_polls_stop_succeeding(
    spawn: Callable[..., DaemonProcess], feed: FeedServer
) -> None:
    port = free_port()
    text = web_config(feed.url(), port).replace(
        'timeout = "3s"', 'timeout = "3s"\nstale_after = "2s"'
    )
    run, web = start(spawn, text, port)
    wait_until(lambda: web.get("/healthz").status_code == 200, "healthy")
    feed.set_status(500)
    response = wait_until(
        lambda: (r := web.get("/healthz")).status_code == 503 and r, "503", timeout=15
    )
    assert "the apple feed was last read" in response.text
    assert "stale_after" in response.text
    wait_until(lambda: set(states(web).values()) == {"unknown"}, "no data for every service")
    page = web.get("/").text
    assert "No data" in page
    assert "last poll failed" in page or "unreadable for a while" in page
    run.stop()


def test_a_port_in_use_is_one_sentence_and_exit_78(
    spawn: Callable[..., DaemonProcess], feed: FeedServer
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        run = spawn(web_config(feed.url(), port)).start()
        assert run.proc is not None
        code = run.proc.wait(20)
    assert code == 78, run.log()
    lines = [line for line in run.log().splitlines() if line.strip()]
    assert lines[-1] == (
        f"statuswatch: http.listen: cannot listen on 127.0.0.1:{port}: another program "
        "already listens there; stop it or choose another port"
    ), run.log()
    assert "Traceback" not in run.log()


def test_sighup_moves_the_listener_and_keeps_the_old_one_when_the_new_port_is_taken(
    spawn: Callable[..., DaemonProcess], feed: FeedServer
) -> None:
    first, second = free_port(), free_port()
    run, _ = start(spawn, web_config(feed.url(), first), first)

    mark = run.mark()
    run.write_config(web_config(feed.url(), second))
    run.send(signal.SIGHUP)
    run.wait_log(rf"serving the status page and API on http://127\.0\.0\.1:{second}/", since=mark)
    assert httpx.get(f"http://127.0.0.1:{second}/healthz").status_code in (200, 503)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{first}/healthz", timeout=2)

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = taken.getsockname()[1]
        mark = run.mark()
        run.write_config(web_config(feed.url(), busy))
        run.send(signal.SIGHUP)
        line = run.wait_log(rf"ERROR .*cannot listen on 127\.0\.0\.1:{busy}.*$", since=mark)
        assert f"still serving on 127.0.0.1:{second}" in line.group(0)
        assert httpx.get(f"http://127.0.0.1:{second}/").status_code == 200

    mark = run.mark()
    run.write_config(web_config(feed.url(), second).split("[http]")[0])
    run.send(signal.SIGHUP)
    run.wait_log(r"\[http\] removed", since=mark)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{second}/healthz", timeout=2)
    assert run.alive()
    code, _ = run.stop()
    assert code == 0


def test_chromium_shows_each_state_word_and_takes_a_screenshot(
    spawn: Callable[..., DaemonProcess], feed: FeedServer, tmp_path: Path
) -> None:
    tool("chromium")
    port = free_port()
    run, web = start(spawn, web_config(feed.url(), port), port)
    wait_until(lambda: states(web).get("iCloud Backup") == "maintenance", "maintenance")
    dom = chromium("--dump-dom", f"{web.base}/")
    assert dom.returncode == 0, dom.stderr
    assert "Apple services status" in dom.stdout
    for name, word in (
        ("iCloud Backup", "Maintenance"),
        ("Schoolwork", "Available"),
        ("App Store", "Available"),
    ):
        shown = re.search(rf'{re.escape(name)}\s*<span class="word">([^<]*)</span>', dom.stdout)
        assert shown is not None and shown.group(1) == word, (name, dom.stdout)
    shot = tmp_path / "page.png"
    done = chromium("--window-size=480,1400", f"--screenshot={shot}", f"{web.base}/")
    assert done.returncode == 0, done.stderr
    assert png_size(shot) == (480, 1400)
    run.stop()


def test_a_daemon_serving_http_keeps_pydantic_out(
    spawn: Callable[..., DaemonProcess], feed: FeedServer
) -> None:
    """The settings are validated in a child process (settings_cache.load_aside); the web
    surface reads them without importing the configuration models, so a daemon with
    [http] does not hold pydantic either (its shared library would show in the maps)."""
    port = free_port()
    run, web = start(spawn, web_config(feed.url(), port), port)
    wait_until(lambda: states(web).get("iCloud Backup") == "maintenance", "maintenance")
    assert web.get("/").status_code == 200 and web.get("/metrics").status_code == 200
    maps = Path(f"/proc/{run.pid}/maps").read_text()
    assert "pydantic_core" not in maps
    code, _ = run.stop()
    assert code == 0
