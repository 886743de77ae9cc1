#!/usr/bin/env python3
"""Where the CPU of one daemon poll goes: the poll built up stage by stage, in one process.

    python bench/poll_breakdown.py [--rounds N] [--block N]

bench/run.py reports one figure for a daemon poll (its row "CPU per poll, daemon cycle in
process") against a bare httpx GET. This script explains that figure. Against the same
local feed server (a new body every other request, as in bench/run.py, so that half the
conditional GETs get a 304), it times, block by block and interleaved round by round:

1. a bare GET: `client.get(url)`, as bench/run.py's baseline;
2. the conditional GET statuswatch makes (sources/http.py), validators kept in memory;
3. that fetch plus parsing and evaluating the feed (Monitor.fetch_and_parse), with the
   validators kept in memory, so nothing is written;
4. plus tracking and recording the poll in its one SQLite transaction (Monitor.poll_source);
5. the daemon's whole job (Daemon._poll: the cycle lock, the delivery check, the status line).

For each stage it prints the CPU per poll and, separately, the CPU of the fetch inside it:
the fetch costs more when other work runs between two fetches, and this shows how much.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # the feed peer and the config writer of bench/run.py

from statuswatch.clock import system_clock
from statuswatch.daemon import Daemon
from statuswatch.monitor import Monitor, build_source
from statuswatch.settings_cache import load_aside
from statuswatch.sources import apple
from statuswatch.sources.http import Validators
from statuswatch.store import FeedCache, SqliteStore


class _FetchMeter:
    """Wraps AppleSource.fetch: the CPU spent inside it, and how many answers were 304."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.calls = 0
        self.not_modified = 0
        self._fetch = apple.AppleSource.fetch

    def install(self) -> None:
        meter, fetch = self, self._fetch

        async def measured(source: apple.AppleSource, *args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                result = await fetch(source, *args, **kwargs)
            finally:
                meter.cpu += time.process_time() - started
                meter.calls += 1
            meter.not_modified += result.not_modified
            return result

        apple.AppleSource.fetch = measured  # type: ignore[method-assign]

    def reset(self) -> None:
        self.cpu, self.calls, self.not_modified = 0.0, 0, 0


class _FeedInMemory:
    """The store as Monitor.fetch_and_parse sees it, except that the feed cache (validators
    and body) lives in memory: stage 3 fetches conditionally and writes nothing."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self.feed: FeedCache | None = None

    def load_feed_cache(self, source: str) -> FeedCache:
        return self.feed if self.feed is not None else self._store.load_feed_cache(source)

    def forget_validators(self, source: str) -> None:
        self.feed = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


async def measure(rounds: int, block: int, config: Path) -> dict[str, dict[str, list[float]]]:
    import httpx

    def validate() -> Any:
        from statuswatch.config import load_settings

        return load_settings(config)

    settings = load_aside(config, {}, validate)  # as `statuswatch run` loads them
    assert settings.state_dir is not None
    store = SqliteStore.open(Path(settings.state_dir))
    source = settings.sources[0]
    meter = _FetchMeter()
    meter.install()
    try:
        async with httpx.AsyncClient(follow_redirects=True) as client:
            url = build_source(source).url
            validators = [Validators()]
            in_memory = _FeedInMemory(store)
            parsing = Monitor(settings, store, client, system_clock())
            parsing.store = in_memory  # type: ignore[assignment]
            recording = Monitor(settings, store, client, parsing.clock)
            daemon = Daemon(settings, store, lambda: settings)
            daemon.monitor = Monitor(settings, store, client, daemon.clock)

            async def bare_get() -> None:
                response = await client.get(url)
                await response.aread()

            async def fetch_only() -> None:
                result = await build_source(source).fetch(
                    client,
                    validators[0],
                    timeout=settings.timeout,
                    max_bytes=settings.max_body_bytes,
                    retries=settings.fetch_retries,
                )
                if not result.not_modified:
                    validators[0] = result.validators

            async def fetch_parse_evaluate() -> None:
                await parsing.fetch_and_parse(source, parsing.clock())
                pending = parsing._pending_feed.pop(source.name, None)
                if pending is not None:
                    in_memory.feed = pending

            async def poll_source() -> None:
                await recording.poll_source(source)

            async def daemon_poll() -> None:
                await daemon._poll(source.name)

            stages: dict[str, Callable[[], Awaitable[None]]] = {
                "1. bare GET (the baseline)": bare_get,
                "2. conditional GET (sources/http.py)": fetch_only,
                "3. + parse and evaluate": fetch_parse_evaluate,
                "4. + track and record (one transaction)": poll_source,
                "5. the daemon's job (Daemon._poll)": daemon_poll,
            }
            for step in stages.values():  # warm up: connection, parser memory, caches
                for _ in range(20):
                    await step()
            results: dict[str, dict[str, list[float]]] = {
                name: {"poll": [], "fetch": [], "not_modified": []} for name in stages
            }
            for round_number in range(rounds):
                names = list(stages)
                if round_number % 2:
                    names.reverse()  # neither end of a round is always the same stage
                for name in names:
                    meter.reset()
                    started = time.process_time()
                    for _ in range(block):
                        await stages[name]()
                    cpu = (time.process_time() - started) / block
                    results[name]["poll"].append(cpu)
                    if meter.calls:
                        results[name]["fetch"].append(meter.cpu / meter.calls)
                        results[name]["not_modified"].append(meter.not_modified / meter.calls)
            return results
    finally:
        store.close()


def report(results: dict[str, dict[str, list[float]]], rounds: int, block: int) -> str:
    names = list(results)
    bare = statistics.median(results[names[0]]["poll"])
    lines = [
        f"CPU per poll (time.process_time), median of {rounds} blocks of {block:,}; "
        "ratios to the bare GET of the same run",
        "",
        "| stage | CPU per poll | × bare GET | the fetch inside it | fetch × bare GET "
        "| 304 answers |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in names:
        poll = statistics.median(results[name]["poll"])
        fetches = results[name]["fetch"]
        if fetches:
            fetch = statistics.median(fetches)
            share = statistics.median(results[name]["not_modified"])
            inside = f"{fetch * 1e6:.0f} µs | {fetch / bare:.2f}× | {share:.0%}"
        else:
            inside = "— | — | 0% (always a 200)"
        lines.append(f"| {name} | {poll * 1e6:.0f} µs | {poll / bare:.2f}× | {inside} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="blocks per stage (default 10)")
    parser.add_argument("--block", type=int, default=200, help="polls per block (default 200)")
    args = parser.parse_args(argv)
    if args.block % 2:
        parser.error("--block must be even, so that each block keeps its 50 % of 304s")
    peer = bench.Peer()
    try:
        peer.rotate(bench.history_files())
        with tempfile.TemporaryDirectory(prefix="statuswatch-breakdown-") as tmp:
            folder = Path(tmp)
            config = bench.write_config(
                folder / "daemon.toml", folder / "state", peer.feed_url, services=["*"]
            )
            results = asyncio.run(measure(args.rounds, args.block, config))
    finally:
        peer.close()
    print(report(results, args.rounds, args.block))
    return 0


if __name__ == "__main__":
    sys.exit(main())
