#!/usr/bin/env python3
"""statuswatch benchmark suite: is it light enough to run every minute on a Raspberry Pi?

    python bench/run.py [--quick] [--json out.json]

Self-contained (the standard library plus statuswatch's own dependencies). It starts a
"peer" process holding a local feed server (real captures from tests/data/feeds, with
ETag -> 304) and a local webhook sink, both on 127.0.0.1; every statuswatch under test
talks to it over real sockets and uses a temporary state directory. Baselines are
measured in the same run, on the same machine, interleaved with the measurements.

Prints one Markdown table. The pass/fail column is informational: the exit status is
non-zero only when something is broken (a lost or duplicated message, a crash, a child
exiting with an unexpected status). See docs/performance.md for what the numbers mean.

The file is also its own helper: `--peer` runs the servers, `--worker NAME` runs an
in-process measurement in a fresh interpreter (so its CPU time and RSS are its own).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import http.client
import json
import math
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # Some sections import statuswatch here, in the parent: from a checkout too.
    sys.path.append(str(ROOT))
HISTORY = ROOT / "tests" / "data" / "feeds" / "history" / "consumer"
WATCHED = "iCloud Backup"
MB = 1024 * 1024
# What `check` imports from other projects (no statuswatch code): the floor of its start-up.
# The client trusts the system's hashed certificate directory, as statuswatch's does
# (sources/client.py): a floor must not pay for parsing a CA bundle that statuswatch skips.
FLOOR_CHECK = (
    "import asyncio, sqlite3, ssl, tomllib, httpx, httpcore, anyio._backends._asyncio; "
    "httpx.AsyncClient(verify=ssl.create_default_context("
    "capath=ssl.get_default_verify_paths().capath))"
)
# The stack floor of a 304 `check`: the same poll by a hand-written script (tomllib,
# sqlite3, asyncio + httpx, one conditional GET, one write), no statuswatch code.
FLOOR_SCRIPT = Path(__file__).resolve().parent / "floor_check.py"
FLOOR_SCRIPT_NAME = (
    "stack floor: bench/floor_check.py, the same 304 poll by hand (tomllib, sqlite3, "
    "asyncio + httpx, one conditional GET and one write)"
)
# ... and what a delivery adds: apprise, which imports all of its ~130 plugins on first
# use, and the one message it posts ({url}: the peer's sink).
FLOOR_DELIVERY = "import apprise; a = apprise.Apprise(); a.add({url!r}); a.notify('b', title='t')"
FLOOR_DELIVERY_NAME = (
    "httpx + asyncio/anyio + sqlite3 + apprise with its plugins loaded, posting the one message"
)


# =====================================================================================
# The peer: a feed server and a webhook sink in their own process
# =====================================================================================


class _PeerState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.body = b"{}"
        self.etag = _etag(self.body)
        self.rotation: list[bytes] = []
        self.position = -1
        self.alternate = False
        self.gets = 0
        self.full = 0
        self.not_modified = 0
        self.sink: list[tuple[float, str]] = []

    def set_body(self, body: bytes) -> float:
        with self.lock:
            self.body, self.etag = body, _etag(body)
            return time.monotonic()

    def next_answer(self) -> tuple[bytes, str]:
        with self.lock:
            self.gets += 1
            # Alternate mode: odd requests get the next body of the rotation (a 200), even
            # ones the same body again (a 304 for a client that sends its ETag).
            if self.alternate and self.rotation and self.gets % 2 == 1:
                self.position = (self.position + 1) % len(self.rotation)
                self.body = self.rotation[self.position]
                self.etag = _etag(self.body)
            return self.body, self.etag


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha1(body).hexdigest()[:20] + '"'


class _Handler(BaseHTTPRequestHandler):
    server: Any
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, value: object, status: int = 200) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _read(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


class _FeedHandler(_Handler):
    protocol_version = "HTTP/1.1"  # keep-alive, like Apple's CDN

    def do_GET(self) -> None:
        state: _PeerState = self.server.state
        if self.path == "/_ctl/stats":
            with state.lock:
                self._json(
                    {"gets": state.gets, "full": state.full, "not_modified": state.not_modified}
                )
            return
        if not self.path.startswith("/feed.json"):
            self._json({"error": "not found"}, 404)
            return
        body, etag = state.next_answer()
        if self.headers.get("If-None-Match") == etag:
            with state.lock:
                state.not_modified += 1
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        with state.lock:
            state.full += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        state: _PeerState = self.server.state
        data = self._read()
        if self.path == "/_ctl/body":
            with state.lock:
                state.alternate = False
            self._json({"t": state.set_body(data)})
        elif self.path == "/_ctl/rotation":
            bodies = [Path(p).read_bytes() for p in json.loads(data)]
            with state.lock:
                state.rotation, state.position, state.alternate = bodies, -1, True
            self._json({"ok": True})
        elif self.path == "/_ctl/reset":
            with state.lock:
                state.gets = state.full = state.not_modified = 0
            self._json({"ok": True})
        else:
            self._json({"error": "not found"}, 404)


class _SinkHandler(_Handler):
    def do_POST(self) -> None:
        state: _PeerState = self.server.state
        if self.path == "/_ctl/reset":
            with state.lock:
                state.sink.clear()
            self._json({"ok": True})
            return
        self._read()
        with state.lock:
            state.sink.append((time.monotonic(), self.path))
        self._json({})

    def do_GET(self) -> None:
        state: _PeerState = self.server.state
        start = int(self.path.partition("from=")[2] or 0) if "from=" in self.path else 0
        with state.lock:
            entries = state.sink[start:]
            count = len(state.sink)
        self._json({"count": count, "entries": entries})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a burst of webhooks must not hit a full backlog


def serve_peer() -> None:
    state = _PeerState()
    servers = []
    for handler in (_FeedHandler, _SinkHandler):
        server = _Server(("127.0.0.1", 0), handler)
        server.state = state  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    print(json.dumps({"feed": servers[0].server_port, "sink": servers[1].server_port}))
    sys.stdout.flush()
    sys.stdin.read()  # until the parent closes our stdin (or dies)


class Peer:
    """The bench's handle on the peer process."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--peer"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        ports = json.loads(self.proc.stdout.readline())
        self.feed_port: int = ports["feed"]
        self.sink_port: int = ports["sink"]
        self.feed_url = f"http://127.0.0.1:{self.feed_port}/feed.json"

    def sink_url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.sink_port}/{path.lstrip('/')}"

    def _call(self, port: int, method: str, path: str, body: bytes | None = None) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request(method, path, body=body)
            response = connection.getresponse()
            return json.loads(response.read())
        finally:
            connection.close()

    def set_body(self, body: bytes) -> float:
        """Serve `body` from now on; returns the monotonic time of the switch."""
        return float(self._call(self.feed_port, "POST", "/_ctl/body", body)["t"])

    def rotate(self, paths: list[Path]) -> None:
        """Alternate mode: a new body every other request (200, then 304, ...)."""
        self._call(self.feed_port, "POST", "/_ctl/rotation", json.dumps([str(p) for p in paths]))

    def feed_stats(self) -> dict[str, int]:
        return dict(self._call(self.feed_port, "GET", "/_ctl/stats"))

    def reset_feed_stats(self) -> None:
        self._call(self.feed_port, "POST", "/_ctl/reset")

    def sink(self, start: int = 0) -> tuple[int, list[tuple[float, str]]]:
        answer = self._call(self.sink_port, "GET", f"/_ctl/sink?from={start}")
        return int(answer["count"]), [(float(t), str(p)) for t, p in answer["entries"]]

    def reset_sink(self) -> None:
        self._call(self.sink_port, "POST", "/_ctl/reset")

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# =====================================================================================
# Feed bodies
# =====================================================================================


def history_files() -> list[Path]:
    files = sorted(HISTORY.glob("*.json"))
    if len(files) < 2:
        raise SystemExit(f"bench: no feed history under {HISTORY}")
    return files


def feed_variant(maintenance: bool, serial: int) -> bytes:
    """The last real capture (79 services) with iCloud Backup available, or under an
    ongoing maintenance whose messageId is `bench-<serial>`."""
    document = json.loads(history_files()[-1].read_bytes())
    for service in document["services"]:
        if service["serviceName"] == WATCHED:
            service["events"] = []
            if maintenance:
                start = datetime.now(UTC) - timedelta(minutes=5)
                service["events"].append(
                    {
                        "messageId": f"bench-{serial}",
                        "statusType": "Maintenance",
                        "eventStatus": "ongoing",
                        "message": "Scheduled maintenance (statuswatch benchmark).",
                        "usersAffected": "Some users are affected",
                        "affectedServices": None,
                        "datePosted": start.strftime("%m/%d/%Y %H:%M PDT"),
                        "startDate": start.strftime("%m/%d/%Y %H:%M PDT"),
                        "endDate": None,
                        "epochStartDate": int(start.timestamp() * 1000),
                        "epochEndDate": None,
                    }
                )
    return json.dumps(document).encode()


# =====================================================================================
# Children: wall time, peak RSS and exit status of one process
# =====================================================================================


@dataclass
class Child:
    wall: float  # seconds
    maxrss_kb: int
    rc: int
    stderr: str
    cpu: float = 0.0  # user + system seconds


def statuswatch_argv() -> list[str]:
    script = Path(sys.executable).with_name("statuswatch")
    return [str(script)] if script.exists() else [sys.executable, "-m", "statuswatch"]


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSWATCH_")}
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "STATE_DIRECTORY"):
        env.pop(name, None)
    # What the systemd timer's `check` sees: a unit does not inherit a login shell's
    # SSL_CERT_FILE, which would make every client parse that whole bundle at start-up.
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        env.pop(name, None)
    # An installed statuswatch runs from bytecode compiled at install time; without this,
    # a checkout with PYTHONDONTWRITEBYTECODE=1 would recompile every module on every run.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not _statuswatch_installed():
        # Run from a checkout (statuswatch not installed in this venv): children must still
        # find the package, whatever their working directory.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _statuswatch_installed() -> bool:
    import importlib.metadata

    try:
        importlib.metadata.distribution("statuswatch")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def run_child(argv: list[str], *, timeout: float = 300.0, stdout: Any = None) -> Child:
    """Run to completion; peak RSS from wait4() is this child's own, not a running max."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=stdout if stdout is not None else subprocess.DEVNULL,
            stderr=err,
            env=child_env(),
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    cpu = usage.ru_utime + usage.ru_stime
    return Child(wall, int(usage.ru_maxrss), proc.returncode, text, cpu)


def worker(name: str, *args: str, timeout: float = 300.0) -> dict[str, Any]:
    """Run `bench/run.py --worker name ...` in a fresh interpreter; its JSON answer."""
    with tempfile.TemporaryFile() as out:
        child = run_child(
            [sys.executable, __file__, "--worker", name, *args], timeout=timeout, stdout=out
        )
        out.seek(0)
        text = out.read().decode()
    if child.rc != 0:
        raise Broken(f"worker {name} exited {child.rc}: {child.stderr.strip()[-800:]}")
    result: dict[str, Any] = json.loads(text)
    result["_maxrss_kb"] = child.maxrss_kb
    result["_wall"] = child.wall
    return result


class Broken(Exception):
    """Something is wrong, not merely slow: lost/duplicated message, crash, bad exit."""


def write_config(
    path: Path,
    state_dir: Path,
    feed_url: str,
    *,
    services: list[str] | None = None,
    interval: str | None = None,
    subscribers: list[str] | None = None,
) -> Path:
    lines = [f'state_dir = "{state_dir}"', 'timeout = "5s"', "", "[[sources]]", 'name = "apple"']
    lines.append(f'url = "{feed_url}"')
    lines.append("services = " + json.dumps(services or [WATCHED]))
    if interval:
        lines.append(f'interval = "{interval}"')
    for index, url in enumerate(subscribers or []):
        lines += ["", "[[subscribers]]", f'name = "s{index}"', f"urls = [{json.dumps(url)}]"]
    path.write_text("\n".join(lines) + "\n")
    return path


# =====================================================================================
# Results
# =====================================================================================


@dataclass
class Row:
    metric: str
    value: float | None = None
    low: float | None = None
    high: float | None = None
    unit: str = ""
    baseline: float | None = None
    baseline_label: str = ""
    target: str = ""
    ok: bool | None = None  # None: no target (reported only)
    ratio_target: bool = False  # the target is on value/baseline
    note: str = ""
    samples: list[float] = field(default_factory=list)
    baseline_samples: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ms":
        return f"{value * 1000:.0f} ms" if value >= 0.01 else f"{value * 1000:.2f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "MB":
        return f"{value / MB:.1f} MB"
    if unit == "KB":
        return f"{value / 1024:.0f} KB"
    if unit == "/s":
        return f"{value:,.0f}/s"
    return f"{value:g}{unit}"


def render_table(rows: list[Row]) -> str:
    header = ["metric", "value: median (min–max)", "baseline (same run)", "ratio", "target", ""]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if row.error is not None:
            cells = [row.metric, "ERROR", "—", "—", row.target, f"**BROKEN**: {row.error}"]
        else:
            value = fmt(row.value, row.unit)
            if row.low is not None and row.high is not None:
                value += f" ({fmt(row.low, row.unit)}–{fmt(row.high, row.unit)})"
            baseline = fmt(row.baseline, row.unit) if row.baseline is not None else "—"
            if row.baseline_label:
                baseline += f" {row.baseline_label}"
            ratio = f"{row.ratio:.2f}×" if row.ratio is not None else "—"
            verdict = {True: "pass", False: "**MISS**", None: "(reported)"}[row.ok]
            cells = [row.metric, value, baseline, ratio, row.target, verdict]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    notes = [f"- {row.metric}: {row.note}" for row in rows if row.note]
    return "\n".join(lines + (["", *notes] if notes else []))


def summary(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


# =====================================================================================
# The benchmarks
# =====================================================================================


@dataclass
class Plan:
    quick: bool
    check_runs: int
    worker_polls: int
    worker_block: int
    daemon_polls: int
    latency_changes: int
    fanouts: tuple[int, ...]
    replay_snapshots: int
    replay_runs: int
    store_polls: int
    history_transitions: int

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if quick:
            return cls(True, 5, 1_000, 250, 300, 10, (1_000,), 10_000, 1, 20_000, 5_000)
        return cls(False, 15, 10_000, 1_000, 2_000, 50, (1_000, 10_000), 10_000, 3, 100_000, 20_000)


class Bench:
    def __init__(self, plan: Plan, peer: Peer, tmp: Path) -> None:
        self.plan = plan
        self.peer = peer
        self.tmp = tmp
        self.rows: list[Row] = []
        self.broken: list[str] = []
        self.extra: dict[str, Any] = {}

    def section(self, names: list[str], target: Callable[[], list[Row]]) -> None:
        started = time.perf_counter()
        print(f"bench: {', '.join(names)} …", file=sys.stderr, flush=True)
        try:
            rows = target()
        except Exception as error:  # one broken benchmark must not hide the others
            detail = f"{type(error).__name__}: {error}"
            if not isinstance(error, Broken):
                traceback.print_exc()
            self.broken.append(detail)
            rows = [Row(name, error=detail) for name in names]
        self.rows.extend(rows)
        print(f"bench:   done in {time.perf_counter() - started:.1f} s", file=sys.stderr)

    # -- check: cold start and peak RSS ------------------------------------------------

    def check_cold_start(self) -> list[Row]:
        plan, peer = self.plan, self.peer
        baseline_argv = [sys.executable, "-c", "import httpx"]
        floor_code = FLOOR_CHECK + "; " + FLOOR_DELIVERY.format(url=peer.sink_url("floor"))
        floor_delivery = [sys.executable, "-c", floor_code]
        same_dir = self.tmp / "check-304"
        changed_dir = self.tmp / "check-changed"
        same_cfg = write_config(self.tmp / "check-304.toml", same_dir, peer.feed_url)
        changed_cfg = write_config(
            self.tmp / "check-changed.toml",
            changed_dir,
            peer.feed_url,
            subscribers=[peer.sink_url("check")],
        )
        sw = statuswatch_argv()
        stable = feed_variant(False, 0)

        def check(config: Path, body: bytes, expect_messages: int) -> Child:
            peer.set_body(body)
            before, _ = peer.sink()
            stats = peer.feed_stats()
            child = run_child([*sw, "--config", str(config), "check", "--quiet"])
            if child.rc != 0:
                raise Broken(f"statuswatch check exited {child.rc}: {child.stderr.strip()[-500:]}")
            after, _ = peer.sink()
            if after - before != expect_messages:
                raise Broken(
                    f"check delivered {after - before} webhook(s), expected {expect_messages}"
                )
            answer = {k: peer.feed_stats()[k] - v for k, v in stats.items()}
            self.extra.setdefault("check_feed_answers", []).append(
                {"config": config.name, **answer}
            )
            return child

        def run_floor_check() -> Child:
            peer.set_body(stable)  # the floor's ETag is the 304 check's: a 304 for it too
            return run_child(floor_check)

        floor_check = [sys.executable, str(FLOOR_SCRIPT), str(same_cfg)]
        # Warm the page cache and the bytecode cache; record baselines (no message).
        check(same_cfg, stable, 0)  # first poll: a 200 that stores the ETag
        check(same_cfg, stable, 0)  # a 304, which also leaves the settings cache
        check(changed_cfg, stable, 0)  # baseline for the watched service, silently
        for argv in (baseline_argv, floor_check, floor_delivery):
            if run_child(argv).rc != 0:
                raise Broken(f"{argv[-1]!r} failed")
        base: list[Child] = []
        same: list[Child] = []
        changed: list[Child] = []
        floors: dict[str, list[Child]] = {"check": [], "delivery": []}
        # Each round runs the five commands in its own shuffled order: whatever runs right
        # after apprise's 50 MB of plugins pays for the caches it evicted, and no command
        # may always be the one that does.
        shuffler = random.Random(14)
        for serial in range(1, plan.check_runs + 1):
            steps: list[Callable[[], None]] = [
                lambda: base.append(run_child(baseline_argv)),
                lambda: floors["check"].append(run_floor_check()),
                lambda: floors["delivery"].append(run_child(floor_delivery)),
                lambda: same.append(check(same_cfg, stable, 0)),
                # Toggle iCloud Backup: maintenance, recovered, maintenance, ... = one
                # transition and one webhook per run.
                lambda n=serial: changed.append(check(changed_cfg, feed_variant(n % 2 == 1, n), 1)),
            ]
            shuffler.shuffle(steps)
            for step in steps:
                step()
        answers = [a for a in self.extra["check_feed_answers"][3:] if a["config"] == same_cfg.name]
        if any(a["not_modified"] != 1 for a in answers):
            raise Broken(f"the unchanged checks did not all get a 304: {answers}")
        base_wall = [c.wall for c in base]
        b_med = statistics.median(base_wall)
        rows = []
        for name, runs, factor, floor, floor_name in (
            ("`check` cold start, nothing changed (304)", same, 2.0, "check", FLOOR_SCRIPT_NAME),
            (
                "`check` cold start, changed feed + 1 webhook",
                changed,
                4.0,
                "delivery",
                FLOOR_DELIVERY_NAME,
            ),
        ):
            walls = [c.wall for c in runs]
            med, lo, hi = summary(walls)
            rows.append(
                Row(
                    f"{name} [{plan.check_runs} runs]",
                    med,
                    lo,
                    hi,
                    "ms",
                    b_med,
                    "`python -c 'import httpx'`",
                    f"≤ {factor}× baseline",
                    med / b_med <= factor,
                    ratio_target=True,
                    note=(
                        f"CPU time (user+sys) {statistics.median(c.cpu for c in runs) * 1000:.0f}"
                        f" ms vs {statistics.median(c.cpu for c in base) * 1000:.0f} ms for the "
                        "baseline; wall times are interleaved with the baseline's."
                    ),
                    samples=walls,
                    baseline_samples=base_wall,
                )
            )
            floor_walls = [c.wall for c in floors[floor]]
            f_med, f_lo, f_hi = summary(floor_walls)
            f_rss = statistics.median(c.maxrss_kb * 1024.0 for c in floors[floor])
            rows.append(
                Row(
                    f"↳ floor: {floor_name}",
                    f_med,
                    f_lo,
                    f_hi,
                    "ms",
                    b_med,
                    "`python -c 'import httpx'`",
                    "— (what no statuswatch code can go below)",
                    None,
                    note=(
                        f"`python bench/floor_check.py CONFIG` on the same state directory: "
                        f"{f_rss / MB:.1f} MB peak RSS, {f_med / b_med:.2f}× the baseline; "
                        f"`check` is {med / f_med:.2f}× this floor."
                        if floor == "check"
                        else f"`python -c {floor_code!r}`: "
                        f"peak RSS {f_rss / MB:.1f} MB; `check` is {med / f_med:.2f}× this."
                    ),
                    samples=floor_walls,
                )
            )
        base_rss = statistics.median([c.maxrss_kb * 1024.0 for c in base])
        floor_rss = statistics.median([c.maxrss_kb * 1024.0 for c in floors["check"]])
        for name, runs, limit in (("304", same, 38), ("changed + webhook", changed, 45)):
            rss = [c.maxrss_kb * 1024.0 for c in runs]
            med, lo, hi = summary(rss)
            rows.append(
                Row(
                    f"`check` peak RSS ({name})",
                    med,
                    lo,
                    hi,
                    "MB",
                    base_rss,
                    "`import httpx`",
                    f"≤ {limit} MB",
                    med <= limit * MB,
                    samples=rss,
                    note=(
                        f"the stack floor script peaks at {floor_rss / MB:.1f} MB."
                        if name == "304"
                        else ""
                    ),
                )
            )
        return rows

    # -- check on a store with a long history -----------------------------------------

    def check_long_history(self) -> list[Row]:
        """The same 304 `check`, on a state directory holding years of transitions: what
        a timer run pays for the history it never reads."""
        plan, peer = self.plan, self.peer
        count = plan.history_transitions
        fresh_dir, long_dir = self.tmp / "history-fresh", self.tmp / "history-long"
        built = worker("history", str(long_dir), str(count), timeout=600)
        fresh_cfg = write_config(self.tmp / "history-fresh.toml", fresh_dir, peer.feed_url)
        long_cfg = write_config(self.tmp / "history-long.toml", long_dir, peer.feed_url)
        baseline_argv = [sys.executable, "-c", "import httpx"]
        sw = statuswatch_argv()
        peer.set_body(feed_variant(False, 0))
        runs: dict[str, list[Child]] = {"base": [], "fresh": [], "long": []}
        for config in (fresh_cfg, long_cfg, fresh_cfg, long_cfg):  # 200, then the 304s
            run_child([*sw, "--config", str(config), "check", "--quiet"])
        for _ in range(plan.check_runs):
            runs["base"].append(run_child(baseline_argv))
            for name, config in (("fresh", fresh_cfg), ("long", long_cfg)):
                child = run_child([*sw, "--config", str(config), "check", "--quiet"])
                if child.rc != 0:
                    raise Broken(f"statuswatch check exited {child.rc}: {child.stderr[-300:]}")
                runs[name].append(child)
        base = statistics.median(c.wall for c in runs["base"])
        fresh = statistics.median(c.wall for c in runs["fresh"])
        walls = [c.wall for c in runs["long"]]
        med, lo, hi = summary(walls)
        size = (long_dir / "statuswatch.db").stat().st_size
        return [
            Row(
                f"`check` cold start, 304, {count:,} transitions stored [{plan.check_runs} runs]",
                med,
                lo,
                hi,
                "ms",
                base,
                "`python -c 'import httpx'`",
                "— (reported)",
                None,
                note=(
                    f"the same check on a {size / MB:.1f} MB database ({count:,} transitions, "
                    f"{built['outbox_rows']:,} sent outbox rows) against a fresh one, run in "
                    f"turn with the baseline: {med / fresh:.2f}× the fresh state's "
                    f"{fresh * 1000:.0f} ms; peak RSS "
                    f"{statistics.median(c.maxrss_kb for c in runs['long']) / 1024:.1f} MB."
                ),
                samples=walls,
            )
        ]

    # -- the daemon's poll cycle, in process ---------------------------------------------

    def daemon_in_process(self) -> list[Row]:
        plan, peer = self.plan, self.peer
        state = self.tmp / "daemon-inproc"
        config = write_config(
            self.tmp / "daemon-inproc.toml", state, peer.feed_url, services=["*"], interval="1s"
        )
        peer.rotate(history_files())
        peer.reset_feed_stats()
        result = worker(
            "daemon-loop",
            str(config),
            str(plan.worker_polls),
            str(plan.worker_block),
            timeout=600,
        )
        stats = peer.feed_stats()
        self.extra["daemon_in_process"] = {**result, "feed": stats}
        expected = plan.worker_polls + result["warmup"] + min(plan.worker_polls // 4, 500)
        if stats["gets"] != expected + result["baseline_gets"]:
            raise Broken(f"expected {plan.worker_polls} polls, the feed saw {stats}")
        per_poll = result["cpu_per_poll_blocks"]
        med, lo, hi = summary(per_poll)
        baseline = result["baseline_cpu_per_get"]
        gets = result["baseline_cpu_per_get_blocks"]
        pairs = [p / g for p, g in zip(per_poll[: len(gets)], gets, strict=True)]
        by_hand = result["floor_cpu_per_poll_blocks"]
        polled_304 = stats["not_modified"] - result["floor_not_modified"]
        floor, floor_lo, floor_hi = summary(by_hand)
        half = plan.worker_polls // 2
        rss_end = result["rss"][str(plan.worker_polls)]
        rss_half = result["rss"][str(half)]
        growth = rss_end - rss_half
        # What the daemon holds depends on where its settings were validated: in a child
        # (the rule) or, when that child cannot run, in the daemon itself, pydantic and all
        # (about 10 MB more). The worker loads them as `statuswatch run` does; say which.
        held = (
            "settings validated in a short-lived child and read from the cache, as "
            "`statuswatch run` does: pydantic not loaded"
            if not result["pydantic"]
            else "pydantic LOADED: the settings could not be validated in a child here "
            f"({result.get('aside', 'no cache entry')}), so this process validated them, "
            "as the daemon would in the same place"
        )
        return [
            Row(
                f"CPU per poll, daemon cycle in process [{plan.worker_polls:,} polls, "
                f"{polled_304 / (stats['gets'] - result['baseline_gets']):.0%} 304]",
                med,
                lo,
                hi,
                "ms",
                baseline,
                "bare httpx GET",
                "≤ 1.5× baseline",
                med <= 1.5 * baseline,
                ratio_target=True,
                note=(
                    "Daemon._poll() (lock, fetch, parse, evaluate 79 services, track, store, "
                    "delivery check, status line) driven in a loop in a fresh interpreter, "
                    f"CPU by time.process_time(); min/max over blocks of {plan.worker_block:,} "
                    "polls; baseline: an httpx GET of the same server in the same process, "
                    f"{plan.worker_block:,} of them after each block of the first half of the "
                    "polls (median of the blocks; the ratio of each pair of blocks ranged "
                    f"{min(pairs):.2f}–{max(pairs):.2f}×)."
                ),
                samples=per_poll,
            ),
            Row(
                "↳ floor: the same polls by hand (conditional GET, json.loads of a changed "
                "body, one SQLite transaction)",
                floor,
                floor_lo,
                floor_hi,
                "ms",
                baseline,
                "bare httpx GET",
                "— (what no statuswatch code can go below)",
                None,
                note=(
                    "interleaved with the polls and the bare GETs, block by block, in the same "
                    "process and client, over the first half of the polls (the RSS growth below "
                    f"is the second half's); the daemon's poll is {med / floor:.2f}× this."
                ),
                samples=by_hand,
            ),
            Row(
                f"daemon RSS after {plan.worker_polls:,} polls (in process)",
                rss_end,
                unit="MB",
                baseline=result["rss_start"],
                baseline_label="after startup",
                target="≤ 45 MB",
                ok=rss_end <= 45 * MB,
                note=(
                    f"{held}; apprise not loaded (no subscriber); the harness's own modules "
                    f"add about 1 MB. Peak RSS of the worker {result['_maxrss_kb'] / 1024:.1f} MB."
                ),
            ),
            Row(
                f"daemon RSS growth over the last {plan.worker_polls - half:,} polls",
                growth,
                unit="MB",
                target="≤ 0.5 MB",
                ok=growth <= 0.5 * MB,
                note=(
                    "SQLite's own memory (its page cache is capped at 512 KB) grew by "
                    f"{(result['sqlite_end'] - result['sqlite_half']) / 1024:+.0f} KB meanwhile, "
                    "following the database, which grew with the transitions the rotation "
                    f"causes ({(result['db_end'] - result['db_half']) / 1024:+.0f} KB); over "
                    f"{result['traced_polls']:,} more polls, tracemalloc saw live Python "
                    f"memory change by {result['traced_growth'] / 1024:+.0f} KB."
                ),
            ),
        ]

    # -- the real daemon ------------------------------------------------------------------

    def daemon_real(self) -> list[Row]:
        plan, peer = self.plan, self.peer
        state = self.tmp / "daemon-real"
        config = write_config(
            self.tmp / "daemon-real.toml", state, peer.feed_url, services=["*"], interval="10ms"
        )
        peer.rotate(history_files())
        peer.reset_feed_stats()
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                [*statuswatch_argv(), "--config", str(config), "run"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=child_env(),
            )
            try:
                warmup = 100
                wait_for(lambda: peer.feed_stats()["gets"] >= warmup, 60, "daemon warm-up", proc)
                cpu0, gets0 = proc_cpu(proc.pid), peer.feed_stats()["gets"]
                rss0, t0 = proc_rss(proc.pid), time.perf_counter()
                samples = []
                last_cpu, last_gets = cpu0, gets0
                block = max(plan.daemon_polls // 5, 50)
                while last_gets - gets0 < plan.daemon_polls:
                    target = last_gets + block
                    wait_for(lambda t=target: peer.feed_stats()["gets"] >= t, 120, "polls", proc)
                    cpu, gets = proc_cpu(proc.pid), peer.feed_stats()["gets"]
                    samples.append((cpu - last_cpu) / (gets - last_gets))
                    last_cpu, last_gets = cpu, gets
                rss1, elapsed = proc_rss(proc.pid), time.perf_counter() - t0
                proc.send_signal(signal.SIGTERM)
                rc = proc.wait(timeout=20)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            err.seek(0)
            log = err.read().decode("utf-8", "replace")
        if rc != 0:
            raise Broken(f"statuswatch run exited {rc} on SIGTERM: {log.strip()[-500:]}")
        polls = last_gets - gets0
        cpu_per_poll = (last_cpu - cpu0) / polls
        self.extra["daemon_real"] = {
            "polls": polls,
            "seconds": elapsed,
            "cpu_per_poll": cpu_per_poll,
            "blocks": samples,
            "rss_start": rss0,
            "rss_end": rss1,
            "errors_logged": log.count(" ERROR ") + log.count("Traceback"),
        }
        if "Traceback" in log:
            raise Broken("the daemon logged a traceback: " + log.strip()[-800:])
        _, lo, hi = summary(samples)
        return [
            Row(
                f"CPU per poll, real `statuswatch run` [{polls:,} polls, interval 10 ms]",
                cpu_per_poll,
                lo,
                hi,
                "ms",
                target="≤ 5 ms",
                ok=cpu_per_poll <= 0.005,
                note=(
                    "utime+stime from /proc/PID/stat (10 ms ticks) over the polls counted by "
                    "the feed server, after 100 warm-up polls; includes APScheduler. "
                    f"The value is the whole run; min/max over {len(samples)} blocks."
                ),
                samples=samples,
            ),
            Row(
                f"real daemon RSS after {polls + 100:,} polls",
                rss1,
                unit="MB",
                baseline=rss0,
                baseline_label="after 100 polls",
                target="≤ 60 MB",
                ok=rss1 <= 60 * MB,
            ),
        ]

    # -- detection latency ----------------------------------------------------------------

    def detection_latency(self) -> list[Row]:
        plan, peer = self.plan, self.peer
        state = self.tmp / "latency"
        config = write_config(
            self.tmp / "latency.toml",
            state,
            peer.feed_url,
            interval="1s",
            subscribers=[peer.sink_url("latency")],
        )
        peer.set_body(feed_variant(False, 0))
        peer.reset_feed_stats()
        peer.reset_sink()
        rng = random.Random(6)
        latencies: list[float] = []
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                [*statuswatch_argv(), "--config", str(config), "run"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=child_env(),
            )
            try:
                wait_for(lambda: peer.feed_stats()["gets"] >= 2, 30, "first polls", proc)
                for serial in range(1, plan.latency_changes + 1):
                    time.sleep(rng.uniform(0.0, 1.0))  # a random phase against the polls
                    changed = peer.set_body(feed_variant(serial % 2 == 1, serial))
                    wait_for(
                        lambda s=serial: peer.sink()[0] >= s,
                        15,
                        f"the message for change {serial} (lost?)",
                        proc,
                    )
                    _, entries = peer.sink(serial - 1)
                    latencies.append(entries[0][0] - changed)
                time.sleep(2.5)  # anything extra would be a duplicate
                count, _ = peer.sink()
                proc.send_signal(signal.SIGTERM)
                rc = proc.wait(timeout=20)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            err.seek(0)
            log = err.read().decode("utf-8", "replace")
        if count != plan.latency_changes:
            raise Broken(f"{plan.latency_changes} changes produced {count} messages")
        if rc != 0:
            raise Broken(f"statuswatch run exited {rc} on SIGTERM: {log.strip()[-500:]}")
        p99 = percentile(latencies, 99)
        return [
            Row(
                f"detection latency p99 [{plan.latency_changes} changes, interval 1 s]",
                p99,
                min(latencies),
                max(latencies),
                "s",
                1.0,
                "(the poll interval)",
                "≤ 2 s (interval + 1 s)",
                p99 <= 2.0,
                note=(
                    "feed body switched on the local server → webhook received by the sink, "
                    "real `statuswatch run` subprocess; each change at a random phase; "
                    f"median {statistics.median(latencies):.2f} s."
                ),
                samples=latencies,
            )
        ]

    # -- fan-out ----------------------------------------------------------------------------

    def fanout(self, subscribers: int) -> list[Row]:
        peer = self.peer
        state = self.tmp / f"fanout-{subscribers}"
        urls = [peer.sink_url(f"fan/{index}") for index in range(subscribers)]
        config = write_config(
            self.tmp / f"fanout-{subscribers}.toml", state, peer.feed_url, subscribers=urls
        )
        sw = statuswatch_argv()
        peer.set_body(feed_variant(False, 0))
        first = run_child([*sw, "--config", str(config), "check", "--quiet"], timeout=600)
        if first.rc != 0:
            raise Broken(f"first check exited {first.rc}: {first.stderr.strip()[-500:]}")
        # The floor runs just before and just after statuswatch, and the baseline is the
        # mean of the two: one run each way on a shared machine moved the ratio by ±30 %.
        floor_before = self._fanout_floor(urls)
        peer.reset_sink()
        peer.set_body(feed_variant(True, 1))
        started = time.monotonic()
        child = run_child([*sw, "--config", str(config), "check", "--quiet"], timeout=600)
        count, entries = peer.sink()
        paths: dict[str, int] = {}
        for _, path in entries:
            paths[path] = paths.get(path, 0) + 1
        lost = subscribers - len(paths)
        duplicated = sum(n - 1 for n in paths.values() if n > 1)
        if child.rc != 0 or lost or duplicated:
            raise Broken(
                f"{subscribers} subscribers: exit {child.rc}, {lost} lost, {duplicated} "
                f"duplicated; {child.stderr.strip()[-300:]}"
            )
        last = max(t for t, _ in entries) - started
        first_msg = min(t for t, _ in entries) - started
        floor_after = self._fanout_floor(urls)
        floor = {
            **floor_after,
            "last": (floor_before["last"] + floor_after["last"]) / 2,
            "runs": [floor_before["last"], floor_after["last"]],
        }
        self.extra[f"fanout_{subscribers}"] = {
            "wall": child.wall,
            "first_message": first_msg,
            "last_message": last,
            "maxrss_kb": child.maxrss_kb,
            "config_check_wall": first.wall,
            "floor": floor,
        }
        small = subscribers <= 1_000
        return [
            Row(
                f"fan-out: 1 transition → {subscribers:,} webhooks",
                last,
                unit="s",
                baseline=floor["last"],
                baseline_label=f"apprise alone, {floor['concurrency']} at a time",
                target=(
                    "all delivered ≤ 5 s, none lost or duplicated"
                    if small
                    else "≤ 1.5× baseline, none lost or duplicated"
                ),
                ok=last <= 5.0 if small else last <= 1.5 * floor["last"],
                ratio_target=not small,
                note=(
                    f"`statuswatch check` start → last message at the sink; first message "
                    f"after {first_msg:.2f} s, peak RSS {child.maxrss_kb / 1024:.0f} MB; "
                    f"{count:,} received, 0 lost, 0 duplicated; the same check with nothing "
                    f"to send takes {first.wall:.2f} s. Baseline: a fresh `python` that "
                    f"imports apprise and posts the same {subscribers:,} messages, "
                    f"{floor['concurrency']} at a time (start → last message; peak RSS "
                    f"{floor['maxrss_kb'] / 1024:.0f} MB), run just before and just after "
                    f"statuswatch: {floor['runs'][0]:.2f} s and {floor['runs'][1]:.2f} s, "
                    "the baseline is their mean."
                ),
            )
        ]

    def _fanout_floor(self, urls: list[str]) -> dict[str, Any]:
        """apprise alone: the same posts at statuswatch's concurrency, start → last."""
        from statuswatch.notify import deliver

        concurrency = int(getattr(deliver, "CONCURRENCY", 64))
        path = self.tmp / f"floor-{len(urls)}.txt"
        path.write_text("\n".join(urls) + "\n")
        self.peer.reset_sink()
        started = time.monotonic()
        result = worker("apprise-floor", str(path), str(concurrency), timeout=900)
        count, entries = self.peer.sink()
        if result["sent"] != len(urls) or count != len(urls):
            raise Broken(f"the apprise floor sent {result} and the sink got {count}")
        return {
            "last": max(t for t, _ in entries) - started,
            "concurrency": concurrency,
            "maxrss_kb": result["_maxrss_kb"],
        }

    # -- replay ------------------------------------------------------------------------------

    def replay(self) -> list[Row]:
        plan = self.plan
        files = history_files()
        start = datetime(2025, 6, 13, 20, 0, tzinfo=UTC)
        repeated = self.tmp / "replay"
        repeated.mkdir()
        fresh = self.tmp / "replay-new"
        fresh.mkdir()
        documents = [json.loads(path.read_bytes()) for path in files]
        for index in range(plan.replay_snapshots):
            moment = start + timedelta(minutes=index)
            name = moment.strftime("%Y-%m-%dT%H-%M-%SZ") + ".json"
            try:
                os.link(files[index % len(files)], repeated / name)
            except OSError:  # another file system: copy instead
                shutil.copyfile(files[index % len(files)], repeated / name)
            # The same captures, each body made unique (a drMessage of its own), so that
            # no body is ever one seen before.
            document = documents[index % len(documents)]
            document["drMessage"] = f"snapshot {index}"
            (fresh / name).write_bytes(json.dumps(document).encode())
        rows = []
        for folder, what, target in (
            (repeated, "the captures repeated (hard links)", True),
            (fresh, "every body new (the captures, each with a drMessage of its own)", False),
        ):
            rows.append(self._replay_row(folder, len(files), what, target))
        return rows

    def _replay_row(self, folder: Path, captures: int, what: str, target: bool) -> Row:
        plan = self.plan
        sw = statuswatch_argv()
        rates, base_rates, lines = [], [], 0
        for _ in range(plan.replay_runs):
            base = worker("json-floor", str(folder))
            base_rates.append(plan.replay_snapshots / base["_wall"])
            with tempfile.TemporaryFile() as out:
                child = run_child([*sw, "replay", str(folder)], stdout=out, timeout=600)
                out.seek(0)
                lines = sum(1 for _ in out)
            if child.rc != 0:
                raise Broken(f"replay exited {child.rc}: {child.stderr.strip()[-500:]}")
            rates.append(plan.replay_snapshots / child.wall)
        med, lo, hi = summary(rates)
        base_med = statistics.median(base_rates)
        return Row(
            f"replay throughput [{plan.replay_snapshots:,} snapshots × {plan.replay_runs}"
            + ("" if target else ", every body new")
            + "]",
            med,
            lo,
            hi,
            "/s",
            base_med,
            "read + json.loads only",
            "≥ 0.5× baseline" if target else "— (reported)",
            med >= 0.5 * base_med if target else None,
            note=(
                f"`statuswatch replay` process wall time, startup included, over the "
                f"{captures} real consumer captures, one a minute, {what}; "
                f"{lines:,} transitions printed."
            ),
            samples=rates,
            baseline_samples=base_rates,
        )

    # -- store growth ------------------------------------------------------------------------

    def store_growth(self) -> list[Row]:
        plan = self.plan
        result = worker("store", str(self.tmp / "store"), str(plan.store_polls), timeout=600)
        self.extra["store"] = result
        size = result["open"]["total"]
        return [
            Row(
                f"store after {plan.store_polls:,} unchanged polls",
                size,
                unit="KB",
                baseline=result["before"]["total"],
                baseline_label="after the first poll",
                target="≤ 1 MB",
                ok=size <= 1 * MB,
                note=(
                    "statuswatch.db + its -wal file as a running daemon leaves them, through "
                    "Store.record_poll() with before == after (79 services tracked): "
                    f"{result['seconds'] / plan.store_polls * 1e6:.0f} µs per poll; "
                    f"{result['after']['db'] / 1024:.0f} KB once closed."
                ),
            )
        ]


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen[Any]
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise Broken(f"the daemon exited ({proc.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise Broken(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.005)


def proc_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields_ = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields_[11]) + int(fields_[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1]) * 1024
    return 0.0


# =====================================================================================
# Workers (run in a fresh interpreter by `worker()`)
# =====================================================================================


def worker_daemon_loop(config: str, polls: str, block: str) -> dict[str, Any]:
    """The daemon's per-source job, Daemon._poll(), in a loop; CPU and RSS as it goes."""
    import gc
    import sqlite3
    import tracemalloc

    import apscheduler.schedulers.asyncio  # noqa: F401 - the real daemon has it loaded
    import httpx

    from statuswatch.daemon import Daemon
    from statuswatch.monitor import Monitor
    from statuswatch.settings_cache import load_aside
    from statuswatch.store import SqliteStore

    def validate() -> Any:
        from statuswatch.config import load_settings

        return load_settings(Path(config))

    total, size = int(polls), int(block)
    # As `statuswatch run` loads them: validated in a child process, read from its cache.
    settings = load_aside(Path(config), {}, validate)
    result: dict[str, Any] = {"pydantic": "pydantic" in sys.modules}
    if result["pydantic"]:
        from statuswatch.settings_cache import lookup

        found = lookup(Path(config), {})
        result["aside"] = f"cache folder {found.folder}, entry {found.settings is not None}"
    assert settings.state_dir is not None
    store = SqliteStore.open(Path(settings.state_dir))
    source = settings.sources[0]
    result.update({"rss": {}, "warmup": 10})

    async def main() -> None:
        async with httpx.AsyncClient(follow_redirects=True) as client:
            daemon = Daemon(settings, store, lambda: settings)
            daemon.monitor = Monitor(settings, store, client, daemon.clock)
            for _ in range(result["warmup"]):
                await daemon._poll(source.name)
            result["rss_start"] = proc_rss()
            url = source.url
            assert url is not None and size % 2 == 0  # even: the polls keep their 50 % 304

            async def bare_gets() -> float:
                # The floor, interleaved with the polls so that both see the same machine:
                # the same server, the same client, a plain GET and nothing else.
                started = time.process_time()
                for _ in range(size):
                    response = await client.get(url)
                    await response.aread()
                return (time.process_time() - started) / size

            scratch = sqlite3.connect(Path(config).with_suffix(".floor.db"), isolation_level=None)
            scratch.execute("PRAGMA journal_mode = WAL")
            scratch.execute("PRAGMA synchronous = NORMAL")
            scratch.execute("PRAGMA wal_autocheckpoint = 100")  # as statuswatch's store
            scratch.execute("PRAGMA cache_size = -512")
            scratch.execute("CREATE TABLE IF NOT EXISTS polls (source PRIMARY KEY, at, etag)")
            etag: list[str | None] = [None]
            floor_not_modified = [0]

            async def polls_by_hand() -> float:
                # What no poll can do without: the same conditional GET, json.loads of a
                # body that changed, and the one transaction recording the poll (DESIGN §5).
                started = time.process_time()
                for _ in range(size):
                    headers = {"If-None-Match": etag[0]} if etag[0] else {}
                    response = await client.get(url, headers=headers)
                    body = await response.aread()
                    if response.status_code == 200:
                        json.loads(body)
                        etag[0] = response.headers.get("etag")
                    else:
                        floor_not_modified[0] += 1
                    scratch.execute("BEGIN IMMEDIATE")
                    scratch.execute(
                        "INSERT INTO polls VALUES ('apple', ?, ?) ON CONFLICT (source)"
                        " DO UPDATE SET at = excluded.at, etag = excluded.etag",
                        (time.time(), etag[0]),
                    )
                    scratch.execute("COMMIT")
                return (time.process_time() - started) / size

            blocks, gets, by_hand = [], [], []
            half = total // 2
            for done in range(total):
                if done % size == 0:
                    started = time.process_time()
                await daemon._poll(source.name)
                if (done + 1) % size == 0:
                    blocks.append((time.process_time() - started) / size)
                    if done < half:  # the last half's RSS growth is the daemon's own
                        gets.append(await bare_gets())
                        by_hand.append(await polls_by_hand())
                if done + 1 == half:
                    result["rss"][str(half)] = proc_rss()
                    result["sqlite_half"] = sqlite_memory()
                    result["db_half"] = store.size_bytes()
            result["rss"][str(total)] = proc_rss()
            result["sqlite_end"] = sqlite_memory()
            result["db_end"] = store.size_bytes()
            result["cpu_per_poll_blocks"] = blocks
            # Then, for diagnosis only (tracemalloc triples the CPU cost): does live Python
            # memory grow, and where?
            traced = min(total // 4, 500)
            tracemalloc.start()
            for _ in range(traced // 2):  # until what lives across polls was allocated traced
                await daemon._poll(source.name)
            gc.collect()
            first = tracemalloc.take_snapshot()
            for _ in range(traced - traced // 2):
                await daemon._poll(source.name)
            gc.collect()
            last = tracemalloc.take_snapshot()
            tracemalloc.stop()
            traced -= traced // 2
            diff = last.compare_to(first, "lineno")
            result["traced_polls"] = traced
            result["traced_growth"] = sum(stat.size_diff for stat in diff)
            result["traced_top"] = [str(stat) for stat in diff[:5]]
            result["baseline_gets"] = size * (len(gets) + len(by_hand))
            result["baseline_cpu_per_get_blocks"] = gets
            result["baseline_cpu_per_get"] = statistics.median(gets)
            result["floor_cpu_per_poll_blocks"] = by_hand
            result["floor_not_modified"] = floor_not_modified[0]
            scratch.close()

    asyncio.run(main())
    store.close()
    return result


def sqlite_memory() -> int:
    """Bytes SQLite itself holds (page cache, schema, statements), or -1 if unknown."""
    try:
        import _sqlite3
        import ctypes

        used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
        used.restype = ctypes.c_int64
        return int(used())
    except (ImportError, OSError, AttributeError):
        return -1


def worker_store(state_dir: str, polls: str) -> dict[str, Any]:
    """`polls` unchanged polls recorded through Store.record_poll (before == after)."""
    from statuswatch.evaluate import observe
    from statuswatch.model import Poll, to_epoch_ms
    from statuswatch.sources.apple import parse_feed
    from statuswatch.sources.http import Validators
    from statuswatch.store import FeedCache, SqliteStore, body_hash
    from statuswatch.tracker import SourceTrack, TrackerSettings, advance

    folder = Path(state_dir)
    store = SqliteStore.open(folder)
    body = history_files()[-1].read_bytes()
    at = datetime(2025, 6, 23, 9, 0, tzinfo=UTC)
    observations = observe(parse_feed(body), None, to_epoch_ms(at))
    poll = Poll(source="apple", at=at, ok=True, observations=observations)
    track, transitions = advance(SourceTrack(), poll, TrackerSettings())
    feed = FeedCache(Validators(etag='"bench"'), body_hash(body), body)
    deliveries: list[list[Any]] = [[] for _ in transitions]
    store.record_poll("apple", at, SourceTrack(), track, transitions, deliveries, feed=feed)

    def sizes() -> dict[str, int]:
        names = {"db": "statuswatch.db", "wal": "statuswatch.db-wal", "shm": "statuswatch.db-shm"}
        out = {k: (folder / n).stat().st_size if (folder / n).exists() else 0
               for k, n in names.items()}  # fmt: skip
        out["total"] = out["db"] + out["wal"]
        return out

    before = sizes()
    started = time.perf_counter()
    for _ in range(int(polls)):
        at += timedelta(minutes=1)
        after = track._replace(health=track.health._replace(last_success=at))
        store.record_poll("apple", at, track, after, [], [])
        track = after
    seconds = time.perf_counter() - started
    while_open = sizes()
    store.close()
    return {"before": before, "open": while_open, "after": sizes(), "seconds": seconds}


def worker_history(state_dir: str, count: str) -> dict[str, Any]:
    """A store holding `count` transitions of iCloud Backup, each sent to three targets."""
    import sqlite3

    from statuswatch.model import Kind, State, Transition
    from statuswatch.store import OutboxEntry, SqliteStore
    from statuswatch.tracker import ServiceTrack, SourceTrack

    store = SqliteStore.open(Path(state_dir))
    at = datetime(2021, 1, 4, 9, 0, tzinfo=UTC)
    entries = [OutboxEntry("old-subscriber", f"target-{n}", f"json://… {n}") for n in range(3)]
    before = SourceTrack()
    for step in range(int(count)):
        at += timedelta(hours=2)
        state, previous = (
            (State.MAINTENANCE, State.AVAILABLE) if step % 2 else (State.AVAILABLE, None)
        )
        service = ServiceTrack(service=WATCHED, state=state, since=at)
        after = SourceTrack(services={"icloud backup": service})
        kind = Kind.MAINTENANCE if step % 2 else (Kind.RECOVERED if step else Kind.INITIAL)
        change = Transition("apple", WATCHED, kind, previous, state, at)
        store.record_poll("apple", at, before, after, [change], [entries])
        before = after
    store.close()
    db = sqlite3.connect(Path(state_dir) / "statuswatch.db")
    with db:  # delivered long ago: nothing for this check to send
        db.execute("UPDATE outbox SET status = 'sent', sent_at = next_attempt_at")
    rows = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
    db.close()
    return {"outbox_rows": rows}


def worker_json_floor(folder: str) -> dict[str, Any]:
    """What replay cannot beat: read every snapshot and json.loads it."""
    count = 0
    for path in sorted(Path(folder).iterdir()):
        json.loads(path.read_bytes())
        count += 1
    return {"files": count}


def worker_apprise_floor(urls_file: str, concurrency: str) -> dict[str, Any]:
    """The fan-out floor: apprise alone posting one message to each URL, at most
    `concurrency` at a time (as statuswatch's Deliverer), nothing else."""
    import apprise

    urls = Path(urls_file).read_text().split()
    limit = asyncio.Semaphore(int(concurrency))
    title = "iCloud Backup is under maintenance"
    body = (
        "iCloud Backup is under maintenance since 12:00 UTC (Apple's status page). "
        "Scheduled maintenance (statuswatch benchmark). You will be told when it is back."
    )

    async def one(url: str) -> bool:
        instance = apprise.Apprise()
        instance.add(url)
        async with limit:
            return bool(await instance.async_notify(body=body, title=title))

    async def main() -> list[bool]:
        return await asyncio.gather(*(one(url) for url in urls))

    results = asyncio.run(main())
    return {"sent": sum(results), "failed": len(results) - sum(results)}


WORKERS: dict[str, Callable[..., dict[str, Any]]] = {
    "daemon-loop": worker_daemon_loop,
    "store": worker_store,
    "history": worker_history,
    "json-floor": worker_json_floor,
    "apprise-floor": worker_apprise_floor,
}


# =====================================================================================
# Main
# =====================================================================================


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


@contextlib.contextmanager
def temporary_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="statuswatch-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def postgres_rows(bench: Bench, tmp: Path) -> list[Row]:
    """Failover and fan-out of two `run` nodes on a throwaway PostgreSQL (bench/pg_bench.py);
    with --quick, reduced counts, and skipped where PostgreSQL is not installed."""
    import pg_bench

    why = pg_bench.available()
    if why is not None:
        return [Row("two nodes on PostgreSQL", note=f"skipped: {why}")]
    kills, terminates, count = (2, 1, 200) if bench.plan.quick else (12, 3, 10_000)
    results = pg_bench.measure(tmp / "pg", kills=kills, terminates=terminates, fanout_n=count)
    bench.extra["postgres"] = results
    if problems := pg_bench.broken(results):
        raise Broken("; ".join(problems)[:500])
    return [Row(**row) for row in pg_bench.rows(results)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (CI smoke test)")
    parser.add_argument("--json", metavar="PATH", help="also write every number to this file")
    parser.add_argument("--only", metavar="NAMES", help=argparse.SUPPRESS)
    parser.add_argument("--fanout", metavar="N,N", help=argparse.SUPPRESS)
    parser.add_argument("--peer", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer:
        serve_peer()
        return 0
    if args.worker:
        name, *rest = args.worker
        print(json.dumps(WORKERS[name](*rest)))
        return 0

    plan = Plan.make(args.quick)
    if args.fanout:
        plan.fanouts = tuple(int(n) for n in args.fanout.split(","))
    info = machine()
    started = time.perf_counter()
    wanted = set(args.only.split(",")) if args.only else None
    with temporary_dir() as tmp:
        peer = Peer()
        try:
            bench = Bench(plan, peer, tmp)
            sections: list[tuple[str, list[str], Callable[[], list[Row]]]] = [
                ("check", ["`check` cold start / peak RSS"], bench.check_cold_start),
                ("history", ["`check` on a long history"], bench.check_long_history),
                ("inproc", ["CPU per poll / RSS (in process)"], bench.daemon_in_process),
                ("daemon", ["CPU per poll / RSS (real daemon)"], bench.daemon_real),
                ("latency", ["detection latency"], bench.detection_latency),
            ]
            for count in plan.fanouts:
                sections.append(("fanout", [f"fan-out {count:,}"], lambda n=count: bench.fanout(n)))
            sections += [
                ("replay", ["replay throughput", "replay, every body new"], bench.replay),
                ("store", ["store growth"], bench.store_growth),
                ("postgres", ["two nodes on PostgreSQL"], lambda: postgres_rows(bench, tmp)),
            ]
            for key, names, run in sections:
                if wanted is None or key in wanted:
                    bench.section(names, run)
        finally:
            peer.close()
    elapsed = time.perf_counter() - started
    mode = "--quick (reduced counts)" if plan.quick else "full"
    print(
        f"\nstatuswatch benchmark, {mode}: {info['date']}, {info['cpu']} ({info['cores']} "
        f"cores), Python {info['python']}, {elapsed:.0f} s\n"
    )
    print(render_table(bench.rows))
    if bench.broken:
        print("\nBROKEN:\n" + "\n".join(f"- {b}" for b in bench.broken))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "machine": info,
                    "mode": mode,
                    "seconds": elapsed,
                    "rows": [asdict(row) | {"ratio": row.ratio} for row in bench.rows],
                    "details": bench.extra,
                    "broken": bench.broken,
                },
                indent=2,
            )
        )
    return 1 if bench.broken else 0


if __name__ == "__main__":
    sys.exit(main())
