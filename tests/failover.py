"""Two `statuswatch run` nodes on one PostgreSQL, a feed that flips, a webhook sink, and a
leader that keeps dying (issue 13). Shared by tests/test_failover.py (a few rounds) and
bench/pg_bench.py (the full run, with failover times).

Each round flips the feed (Schoolwork: outage <-> available), waits a random moment, then
either SIGKILLs the leader (and restarts it as the new standby) or cuts its lock session
with pg_terminate_backend, and waits until the flip is recorded before the next round. So
every flip must give exactly one transition, whoever leads: none recorded twice, none
skipped. Every transition is one webhook (body `kind|to_state|at_iso`), so deliveries can
be matched to transitions; a duplicate is explained only by a death between the sink's
200 and the row being marked sent (DESIGN §4: at-least-once).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.peers import FeedServer
from tests.pgcluster import PgCluster

ROOT = Path(__file__).resolve().parent.parent
HISTORY = ROOT / "tests" / "data" / "feeds" / "history" / "consumer"
OUTAGE = (HISTORY / "2025-06-19T17-45-29Z.json").read_bytes()
RESOLVED = (HISTORY / "2025-06-19T18-32-52Z.json").read_bytes()
POLL_LOCK = 0x5357_0001


class Sink:
    """A webhook receiver that stamps every POST with its arrival time."""

    def __init__(self) -> None:
        self.posts: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink._lock:
                    sink.posts.append((time.time(), json.loads(body).get("message", "")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def received(self) -> list[tuple[float, str]]:
        with self._lock:
            return list(self.posts)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Node:
    """One `statuswatch run` with its own home, sharing the database of the config."""

    def __init__(self, home: Path, config: str) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.config = home / "statuswatch.toml"
        self.config.write_text(config, encoding="utf-8")
        self.log = home / "node.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("STATUSWATCH_", "NOTIFY_", "WATCHDOG_", "PG"))
        }
        self.env.update(HOME=str(home), PYTHONPATH=str(ROOT), XDG_STATE_HOME=str(home / "st"))

    def start(self) -> Node:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "statuswatch", "--config", str(self.config), "run"],
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None


@dataclass
class Event:
    at: float  # just before the kill or the cut was asked for
    what: str  # "kill" or "terminate"
    pid: int
    # Once it was done (the process reaped, pg_terminate_backend answered): until then the
    # node may still send a message it will not live, or keep its session, to mark sent.
    done: float | None = None
    gap: float | None = None  # seconds until another session held the poll lock
    polled: float | None = None  # after a kill: seconds until the next poll of the feed


@dataclass
class Report:
    rounds: int
    transitions: list[tuple[str, str, float]]  # (kind, to_state, at)
    expected: int
    delivered: int
    lost: list[str]
    duplicates: dict[str, int]
    explained: dict[str, str]
    events: list[Event] = field(default_factory=list)
    longest_leaderless: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def failover_times(self) -> list[float]:
        return [e.gap for e in self.events if e.what == "kill" and e.gap is not None]

    @property
    def poll_times(self) -> list[float]:
        """SIGKILL of the leader -> the feed's next request (by the node that took over)."""
        return [e.polled for e in self.events if e.what == "kill" and e.polled is not None]

    def lines(self) -> list[str]:
        kills = sum(e.what == "kill" for e in self.events)
        cuts = sum(e.what == "terminate" for e in self.events)
        out = [
            f"rounds: {self.rounds} ({kills} SIGKILL of the leader, {cuts} pg_terminate_backend)",
            f"transitions recorded: {len(self.transitions)} (expected {self.rounds + 1}: "
            "the initial one plus one per flip)",
            f"deliveries: expected {self.expected}, delivered {self.delivered}, "
            f"lost {len(self.lost)}, duplicates {sum(n - 1 for n in self.duplicates.values())}",
        ]
        for key, why in self.explained.items():
            out.append(f"  duplicate {key}: {why}")
        times = sorted(self.failover_times)
        if times:
            out.append(
                f"failover after SIGKILL: median {statistics.median(times):.2f}s, "
                f"max {times[-1]:.2f}s over {len(times)} kills (the lock taken by the other node)"
            )
        polls = sorted(self.poll_times)
        if polls:
            out.append(
                f"SIGKILL -> next poll of the feed: median {statistics.median(polls):.2f}s, "
                f"max {polls[-1]:.2f}s over {len(polls)} kills"
            )
        out.append(f"longest time without a leader: {self.longest_leaderless:.2f}s")
        out.extend(f"PROBLEM: {p}" for p in self.problems)
        return out


def _lock_holder(cluster: PgCluster, dbname: str) -> tuple[int, int] | None:
    """(node pid, backend pid) of the session holding the poll lock, if any."""
    rows = cluster.admin(
        "SELECT a.application_name, l.pid FROM pg_locks l JOIN pg_stat_activity a"
        " ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted"
        f" AND l.classid = {POLL_LOCK >> 32} AND l.objid = {POLL_LOCK & 0xFFFFFFFF}",
        dbname=dbname,
    )
    for app, backend in rows:
        found = re.search(r":(\d+)$", str(app))
        if found:
            return int(found.group(1)), int(backend)  # type: ignore[call-overload]
    return None


class LeaderWatch(threading.Thread):
    """Samples the lock every 50 ms; remembers the longest stretch without a holder."""

    def __init__(self, cluster: PgCluster, dbname: str) -> None:
        super().__init__(daemon=True)
        self.cluster, self.dbname = cluster, dbname
        self.longest = 0.0
        self.started_gap: float | None = None
        self.armed = False  # gaps count once a first leader was seen
        self.halt = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.cluster.dsn(self.dbname), autocommit=True) as conn:
            while not self.halt.is_set():
                held = conn.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid = %s AND objid = %s",
                    (POLL_LOCK >> 32, POLL_LOCK & 0xFFFFFFFF),
                ).fetchone()
                now = time.monotonic()
                if held and held[0]:
                    self.armed = True
                    if self.started_gap is not None:
                        self.longest = max(self.longest, now - self.started_gap)
                    self.started_gap = None
                elif self.armed and self.started_gap is None:
                    self.started_gap = now
                time.sleep(0.05)


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def run_failover(
    cluster: PgCluster,
    dbname: str,
    workdir: Path,
    *,
    kills: int,
    terminates: int,
    seed: int = 13,
    interval: str = "1s",
) -> Report:
    rng = random.Random(seed)
    plan = ["kill"] * kills + ["terminate"] * terminates
    rng.shuffle(plan)
    sink = Sink()
    feed = FeedServer().start()
    feed.set_body(OUTAGE)
    config = f"""\
database = "{cluster.dsn(dbname)}"
interval = "{interval}"
timeout = "3s"
digest = false

[[sources]]
name = "local"
url = "{feed.url()}"
services = ["Schoolwork"]
interval = "{interval}"

[[subscribers]]
name = "team"
urls = ["json://127.0.0.1:{sink.port}/hook"]
body_template = "{{kind}}|{{to_state}}|{{at_iso}}"
"""
    nodes = {name: Node(workdir / name, config) for name in ("a", "b")}
    watch = LeaderWatch(cluster, dbname)
    events: list[Event] = []
    import psycopg

    db = psycopg.connect(cluster.dsn(dbname), autocommit=True)

    def recorded() -> int:
        try:
            row = db.execute("SELECT count(*) FROM transitions").fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
        return int(row[0]) if row else 0

    try:
        nodes["a"].start()
        _wait(lambda: _lock_holder(cluster, dbname), 60, "a first leader")
        nodes["b"].start()
        watch.start()
        _wait(lambda: recorded() >= 1, 30, "the initial transition")
        body = OUTAGE
        for round_number, action in enumerate(plan, start=1):
            body = RESOLVED if body is OUTAGE else OUTAGE
            feed.set_body(body)
            time.sleep(rng.uniform(0.0, 1.5))  # the leader may be fetching, writing, sending
            holder = _wait(lambda: _lock_holder(cluster, dbname), 30, "a leader")
            node = next(n for n in nodes.values() if n.proc and n.proc.pid == holder[0])
            started = time.monotonic()
            event = Event(time.time(), action, holder[0])
            if action == "kill":
                node.kill()
                polls_before = feed.request_count
            else:
                cluster.admin(f"SELECT pg_terminate_backend({holder[1]})", dbname=dbname)
            event.done = time.time()
            new = _wait(
                lambda old=holder: (h := _lock_holder(cluster, dbname)) and h != old and h,
                60,
                f"a new leader after round {round_number}",
            )
            event.gap = time.monotonic() - started
            events.append(event)
            if action == "kill":
                _wait(lambda n=polls_before: feed.request_count > n, 30, "the next poll")
                event.polled = time.monotonic() - started
                node.start()  # comes back as the new standby
            assert new is not None
            _wait(lambda n=round_number: recorded() >= n + 1, 30, f"flip {round_number} recorded")
        # Everything queued must go out; a claim of a killed sender is reclaimed once stale.
        _wait(
            lambda: (
                db.execute("SELECT count(*) FROM outbox WHERE status <> 'sent'").fetchone()[0]  # type: ignore[index]
                == 0
            ),
            120,
            "every outbox row sent",
        )
        time.sleep(1.0)  # a late duplicate would arrive now
    finally:
        watch.halt.set()
        for node in nodes.values():
            node.stop()
        feed.stop()
        sink.close()
    rows = db.execute("SELECT kind, to_state, at FROM transitions ORDER BY id").fetchall()
    db.close()
    transitions = [(str(k), str(s), float(at)) for k, s, at in rows]
    report = _judge(transitions, sink.received(), events, len(plan))
    report.longest_leaderless = watch.longest
    for name, node in nodes.items():
        text = node.log.read_text(encoding="utf-8", errors="replace")
        if "Traceback" in text:
            report.problems.append(f"node {name} logged a traceback:\n{text[-3000:]}")
        if "sw-test-secret-pw" in text:
            report.problems.append(f"node {name} logged the database password")
    return report


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _judge(
    transitions: list[tuple[str, str, float]],
    posts: list[tuple[float, str]],
    events: list[Event],
    rounds: int,
) -> Report:
    problems = []
    if len(transitions) != rounds + 1:
        problems.append(f"{len(transitions)} transitions recorded for {rounds} flips + 1")
    for before, after in itertools.pairwise(transitions):
        if before[1] == after[1]:
            problems.append(f"recorded twice: {after[1]} at {_iso(after[2])}")
    expected = [f"{kind}|{state}|{_iso(at)}" for kind, state, at in transitions]
    counts = Counter(message for _, message in posts)
    lost = [key for key in expected if counts[key] == 0]
    unknown = [key for key in counts if key not in expected]
    problems.extend(f"a delivery matches no transition: {key}" for key in unknown)
    duplicates = {key: n for key, n in counts.items() if n > 1}
    explained = {}
    for key in duplicates:
        times = sorted(at for at, message in posts if message == key)
        # The first copy went out before the death was over, and the copy sent again came
        # after it began: the sender could not mark its row sent in between.
        death = next(
            (e for e in events if times[0] <= (e.done or e.at) and e.at <= times[-1]), None
        )
        if death is None:
            copies = ", ".join(f"{at:.3f}" for at in times)
            deaths = ", ".join(f"{e.what} {e.at:.3f}-{e.done or e.at:.3f}" for e in events)
            problems.append(
                f"duplicate {key} with no death between its deliveries "
                f"(copies at {copies}; deaths: {deaths or 'none'})"
            )
        else:
            explained[key] = (
                f"first sent {times[0] - death.at:+.2f}s from the {death.what} of pid "
                f"{death.pid}, which died before marking it sent; re-sent "
                f"{times[-1] - death.at:.1f}s later once its claim was stale"
            )
    return Report(
        rounds=rounds,
        transitions=transitions,
        expected=len(expected),
        delivered=len([key for key in expected if counts[key] > 0]),
        lost=lost,
        duplicates=duplicates,
        explained=explained,
        events=events,
        problems=problems,
    )
