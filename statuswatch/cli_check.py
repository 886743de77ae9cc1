"""`statuswatch check` (one poll of every source, then delivery), `run` (the daemon) and
`export` (the static pages)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from statuswatch.cli_common import (
    EXIT_CANTCREAT,
    EXIT_CONFIG,
    EXIT_GIVEN_UP,
    EXIT_OK,
    EXIT_TEMPFAIL,
    EXIT_UNAVAILABLE,
    UsageError,
    emit,
    load,
    open_store,
)

if TYPE_CHECKING:
    from statuswatch.config import Settings
    from statuswatch.store import Store


def cmd_check(args: argparse.Namespace) -> int:
    from statuswatch import output
    from statuswatch.clock import system_clock
    from statuswatch.monitor import Monitor, missing_names
    from statuswatch.sources.client import new_client

    cache: list[Any] = []
    settings = load(args, cache)
    clock = system_clock()
    store = open_store(settings)
    try:
        if cache and cache[0].settings is None:
            from statuswatch.settings_cache import save

            save(cache[0], settings)  # after open_store: the state directory exists now
        with store.cycle_lock(wait=settings.lock_wait):
            monitor = Monitor(settings, store, new_client(), clock)
            monitor.summarised = True
            monitor.recipients.validate()

            async def cycle() -> Any:
                async with monitor.client:
                    return await monitor.run_cycle()

            report = asyncio.run(cycle())
            report.given_up = store.dead_by_subscriber()  # after delivery: what is left
        export_failed = _export_after_check(store, settings, clock())
    finally:
        store.close()

    problems = missing_names(report.sources)
    failures = [o for o in report.sources if not o.ok]
    if args.nagios:
        code, line = output.nagios_check(report)
        print(line)
        return code
    if args.json:
        print(output.dumps(output.json_check(report)))
    else:
        emit(output.human_check(report, args.quiet, settings.timezone))
    for outcome in failures:
        print(f"statuswatch: {outcome.config.name}: {outcome.error}", file=sys.stderr)
    for problem in problems:
        print(f"statuswatch: config: {problem}", file=sys.stderr)
    deliveries = report.deliveries
    if deliveries is not None:
        for line in deliveries.summary_lines():
            print(f"statuswatch: {line}", file=sys.stderr)
    if problems or (deliveries is not None and deliveries.problems):
        return EXIT_CONFIG
    if export_failed:
        return EXIT_CANTCREAT
    if report.given_up:
        failed = deliveries.failures if deliveries is not None else []
        line = given_up_line(report.given_up, failed[-1] if failed else None)
        print(f"statuswatch: {line}", file=sys.stderr)
    if failures:
        return EXIT_UNAVAILABLE
    if report.given_up:
        return EXIT_GIVEN_UP
    if deliveries is not None and deliveries.pending:
        return EXIT_TEMPFAIL
    return EXIT_OK


def given_up_line(given_up: dict[str, int], reason: str | None = None) -> str:
    """DESIGN §4: a given-up notification stays visible until someone acts."""
    who = ", ".join(f"{name} ({count})" for name, count in sorted(given_up.items()))
    why = f" (last error: {reason})" if reason else ""
    return (
        f"{sum(given_up.values())} notification(s) were given up and nobody has retried or "
        f"dropped them: {who}{why}; `statuswatch outbox` shows why, "
        "`statuswatch outbox retry ID` "
        "sends one now, `statuswatch outbox drop ID` forgets it"
    )


def _export_after_check(store: Store, settings: Settings, now: Any) -> bool:
    """`[export] dir`: refresh the static pages after the cycle. True if that failed."""
    if settings.export is None:
        return False
    from statuswatch.web.export import ExportError, export_site

    try:
        export_site(store, settings, now, Path(settings.export.dir).expanduser())
    except ExportError as error:
        print(f"statuswatch: {error}", file=sys.stderr)
        return True
    return False


def cmd_export(args: argparse.Namespace) -> int:
    from statuswatch.clock import system_clock
    from statuswatch.web.export import export_site

    settings = load(args)
    if args.dir is None and settings.export is None:
        raise UsageError("say where to write: `statuswatch export DIR`, or set [export] dir")
    folder = Path(args.dir) if args.dir else Path(settings.export.dir)  # type: ignore[union-attr]
    store = open_store(settings, readonly=True)
    try:
        written = export_site(store, settings, system_clock()(), folder.expanduser())
    finally:
        store.close()
    print(f"wrote {len(written)} file(s) to {folder}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from statuswatch.daemon import run_daemon

    return run_daemon(args, lambda a: load(a, aside=True), open_store)
