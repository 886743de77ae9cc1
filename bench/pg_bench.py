#!/usr/bin/env python3
"""Two machines on PostgreSQL (issue 13): failover time and fan-out from one and two nodes.

    python bench/pg_bench.py [--quick] [--kills N] [--fanout N]

Starts its own throwaway PostgreSQL cluster (tests/pgcluster.py: initdb + pg_ctl on
127.0.0.1, a free port, a temporary directory), a local feed server and a webhook sink,
and real `statuswatch run` nodes in subprocesses:

- failover: two nodes polling every 1 s, the leader SIGKILLed N times at random moments
  (and its session cut with pg_terminate_backend a few times), each time restarted as the
  new standby. Measured per kill: until the other node holds the poll lock, and until the
  feed sees its next poll. The harness (tests/failover.py, also run by the test suite)
  also checks that every transition is recorded once and every webhook arrives.
- fan-out: one transition to N webhook subscribers, delivered by one node, then by two
  nodes sharing the outbox. Time from the feed flip to the last webhook at the sink;
  none may be lost or duplicated.

bench/run.py runs this as its `postgres` section; on its own it prints the same rows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests/ holds the cluster, feed server and harness

from tests.failover import OUTAGE, RESOLVED, Node, run_failover  # noqa: E402
from tests.peers import FeedServer  # noqa: E402
from tests.pgcluster import PgCluster, PgUnavailable, find_bindir  # noqa: E402

POLL_LOCK = 0x5357_0001


def available() -> str | None:
    """None if a throwaway PostgreSQL can be started here, else why not."""
    try:
        find_bindir()
    except PgUnavailable as error:
        return str(error)
    return None


class Sink:
    """Counts webhooks per path, in a backlog deep enough for a burst from two nodes."""

    def __init__(self) -> None:
        self.paths: Counter[str] = Counter()
        self.times: list[float] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink._lock:
                    sink.paths[self.path] += 1
                    sink.times.append(time.monotonic())
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def received(self) -> int:
        with self._lock:
            return len(self.times)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _wait(predicate: Any, timeout: float, what: str, poll: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise RuntimeError(f"timed out after {timeout:g}s waiting for {what}")


def _scalar(cluster: PgCluster, dbname: str, sql: str) -> int:
    try:
        rows = cluster.admin(sql, dbname=dbname)
    except Exception:  # the schema is not there yet
        return 0
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0  # type: ignore[call-overload]


def failover(cluster: PgCluster, workdir: Path, kills: int, terminates: int) -> dict[str, Any]:
    dbname = "failover_" + uuid.uuid4().hex[:8]
    cluster.create_database(dbname)
    report = run_failover(
        cluster, dbname, workdir / dbname, kills=kills, terminates=terminates, interval="1s"
    )
    return {
        "lines": report.lines(),
        "problems": report.problems,
        "lock": report.failover_times,
        "poll": report.poll_times,
        "rounds": report.rounds,
        "expected": report.expected,
        "delivered": report.delivered,
        "lost": len(report.lost),
        "duplicates": sum(n - 1 for n in report.duplicates.values()),
        "explained": len(report.explained),
        "longest_leaderless": report.longest_leaderless,
    }


def fanout(cluster: PgCluster, workdir: Path, subscribers: int, nodes: int) -> dict[str, Any]:
    """One transition to `subscribers` webhooks, delivered by `nodes` running daemons."""
    dbname = f"fanout_{nodes}_" + uuid.uuid4().hex[:8]
    cluster.create_database(dbname)
    sink, feed = Sink(), FeedServer().start()
    feed.set_body(RESOLVED)  # Schoolwork available: a silent baseline
    lines = [
        f'database = "{cluster.dsn(dbname)}"',
        'interval = "1s"',
        'timeout = "5s"',
        "digest = false",
        "",
        "[[sources]]",
        'name = "local"',
        f'url = "{feed.url()}"',
        'services = ["Schoolwork"]',
        'interval = "1s"',
    ]
    for index in range(subscribers):
        url = f"json://127.0.0.1:{sink.port}/fan/{index}"
        lines += ["", "[[subscribers]]", f'name = "s{index}"', f"urls = [{json.dumps(url)}]"]
    config = "\n".join(lines) + "\n"
    running = [Node(workdir / dbname / f"n{i}", config) for i in range(nodes)]
    try:
        for node in running:
            node.start()
        _wait(
            lambda: _scalar(
                cluster, dbname, "SELECT count(*) FROM source_state WHERE last_poll IS NOT NULL"
            ),
            120,
            "the baseline poll",
        )
        # Every node up (its election ticks) before the flip, so all can share the work.
        _wait(
            lambda: all("statuswatch running" in n.log.read_text() for n in running),
            120,
            "every node running",
        )
        started = time.monotonic()
        feed.set_body(OUTAGE)
        _wait(lambda: sink.received() >= subscribers, 600, f"{subscribers} webhooks", 0.2)
        recorded = time.monotonic()
        time.sleep(1.0)  # a late duplicate would arrive now
        pending = _scalar(cluster, dbname, "SELECT count(*) FROM outbox WHERE status <> 'sent'")
        by_node = cluster.admin(
            "SELECT claimed_by, count(*) FROM outbox GROUP BY claimed_by", dbname=dbname
        )
    finally:
        for node in running:
            node.stop()
        feed.stop()
        sink.close()
    lost = sum(1 for i in range(subscribers) if sink.paths[f"/fan/{i}"] == 0)
    duplicated = sum(n - 1 for n in sink.paths.values() if n > 1)
    tracebacks = [n.home.name for n in running if "Traceback" in n.log.read_text()]
    return {
        "nodes": nodes,
        "subscribers": subscribers,
        "seconds": max(sink.times) - started,
        "first": min(sink.times) - started,
        "waited": recorded - started,
        "lost": lost,
        "duplicated": duplicated,
        "not_sent": pending,
        "by_node": sorted(int(count) for _, count in by_node),  # type: ignore[call-overload]
        "tracebacks": tracebacks,
    }


@contextlib.contextmanager
def cluster_in(workdir: Path) -> Iterator[PgCluster]:
    cluster = PgCluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def measure(workdir: Path, *, kills: int, terminates: int, fanout_n: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    started = time.monotonic()

    def progress(what: str) -> None:
        print(f"pg_bench: {what} ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)

    with cluster_in(workdir) as cluster:
        progress(f"cluster up; failover, {kills} kills + {terminates} cuts")
        results["failover"] = failover(cluster, workdir, kills, terminates)
        results["fanout"] = []
        for nodes in (1, 2):
            progress(f"fan-out of {fanout_n:,} webhooks from {nodes} node(s)")
            results["fanout"].append(fanout(cluster, workdir, fanout_n, nodes))
    progress("done")
    return results


def rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """bench/run.py's Row fields, one dict per row (run.py builds its Row from each)."""
    out: list[dict[str, Any]] = []
    fail = results["failover"]
    polls, locks = fail["poll"], fail["lock"]
    good = not fail["problems"] and fail["lost"] == 0 and fail["duplicates"] == fail["explained"]
    out.append(
        {
            "metric": f"failover: leader SIGKILLed → next poll ({len(polls)} kills, interval 1 s)",
            "value": statistics.median(polls),
            "low": min(polls),
            "high": max(polls),
            "unit": "s",
            "baseline": statistics.median(locks),
            "baseline_label": "(→ lock taken)",
            "target": "max ≤ interval + 2 s retry + 5 s; 0 lost",
            "ok": good and max(polls) <= 8.0,
            "note": (
                f"{fail['rounds']} rounds ({len(polls)} SIGKILL, {fail['rounds'] - len(polls)} "
                f"pg_terminate_backend): {fail['expected']} webhooks expected, "
                f"{fail['delivered']} delivered, {fail['lost']} lost, {fail['duplicates']} "
                f"duplicates ({fail['explained']} explained by a death between send and "
                f"'sent'); longest time without a leader {fail['longest_leaderless']:.2f} s"
                + (f"; PROBLEMS: {'; '.join(fail['problems'])[:300]}" if fail["problems"] else "")
            ),
            "samples": polls,
            "baseline_samples": locks,
        }
    )
    one = results["fanout"][0]
    for each in results["fanout"]:
        clean = each["lost"] == 0 and each["duplicated"] == 0 and not each["tracebacks"]
        out.append(
            {
                "metric": (
                    f"fan-out on PostgreSQL: 1 transition → {each['subscribers']:,} webhooks, "
                    f"{each['nodes']} node(s)"
                ),
                "value": each["seconds"],
                "unit": "s",
                "baseline": None if each is one else one["seconds"],
                "baseline_label": "" if each is one else "(1 node)",
                "target": "none lost or duplicated (time reported)",
                "ok": clean,
                "note": (
                    f"feed flip → last webhook at the sink; first after {each['first']:.2f} s; "
                    f"{each['lost']} lost, {each['duplicated']} duplicated; rows sent per "
                    f"node {each['by_node']}"
                ),
            }
        )
    return out


def broken(results: dict[str, Any]) -> list[str]:
    """What is wrong, not merely slow (bench/run.py exits non-zero on these)."""
    problems = list(results["failover"]["problems"])
    if results["failover"]["lost"]:
        problems.append(f"failover: {results['failover']['lost']} webhooks lost")
    for each in results["fanout"]:
        if each["lost"] or each["duplicated"] or each["tracebacks"]:
            problems.append(
                f"fan-out {each['nodes']} node(s): {each['lost']} lost, {each['duplicated']} "
                f"duplicated, tracebacks in {each['tracebacks']}"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 kills, 200 webhooks")
    parser.add_argument("--kills", type=int, help="SIGKILLs of the leader (default 12)")
    parser.add_argument("--fanout", type=int, help="webhook subscribers (default 10000)")
    parser.add_argument("--json", metavar="PATH", help="also write every number to this file")
    args = parser.parse_args(argv)
    why = available()
    if why is not None:
        print(f"pg_bench: skipped: {why}", file=sys.stderr)
        return 0
    kills = args.kills or (2 if args.quick else 12)
    count = args.fanout or (200 if args.quick else 10_000)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="statuswatch-pgbench-") as tmp:
        results = measure(Path(tmp), kills=kills, terminates=1 if args.quick else 3, fanout_n=count)
    print("\n".join(results["failover"]["lines"]))
    for row in rows(results):
        print(f"{row['metric']}: {row['value']:.2f} s — {row['note']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    problems = broken(results)
    for problem in problems:
        print(f"BROKEN: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    os.environ.pop("NOTIFY_SOCKET", None)
    sys.exit(main())
