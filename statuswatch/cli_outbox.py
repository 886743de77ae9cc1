"""`statuswatch outbox` (list, retry now, drop) and `notify-test`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, Any

from statuswatch.cli_common import (
    EXIT_GIVEN_UP,
    EXIT_OK,
    EXIT_TEMPFAIL,
    UsageError,
    emit,
    iso,
    load,
    open_store,
)

if TYPE_CHECKING:
    from statuswatch.config import Settings
    from statuswatch.store import Store


def cmd_notify_test(args: argparse.Namespace) -> int:
    from statuswatch.clock import system_clock
    from statuswatch.errors import ConfigError
    from statuswatch.notify.testsend import send_test

    settings = load(args)
    subscribers = [s for s in settings.subscribers if args.subscriber in (None, s.name)]
    if not subscribers:
        if args.subscriber:
            names = ", ".join(s.name for s in settings.subscribers) or "none"
            raise ConfigError(f"no subscriber is named {args.subscriber!r} (configured: {names})")
        raise ConfigError(
            "no subscribers are configured; add a [[subscribers]] section (see config.example.toml)"
        )
    results = asyncio.run(send_test(settings, subscribers, args.kind, args.service, system_clock()))
    failed = 0
    for result in results:
        if result.ok:
            print(f"sent    {result.subscriber}  {result.target}")
        else:
            failed += 1
            print(f"FAILED  {result.subscriber}  {result.target}: {result.error}")
    return EXIT_OK if failed == 0 else EXIT_GIVEN_UP


def _retry_now(settings: Settings, store: Store, row_id: int | None) -> int:
    """`outbox retry`: deliver now, under the same claims as `check` and `run` (a running
    daemon never sends the row too), and say per row what happened."""
    from statuswatch.clock import system_clock
    from statuswatch.monitor import status_pages
    from statuswatch.notify.claims import release_orphans
    from statuswatch.notify.deliver import Deliverer
    from statuswatch.notify.recipients import Recipients

    clock = system_clock()
    if row_id is not None:
        status = store.outbox_status(row_id)
        if status is None:
            raise UsageError(f"there is no outbox row {row_id}; `statuswatch outbox` lists them")
        if status == "sent":
            raise UsageError(f"outbox row {row_id} was already delivered")
        if status == "silenced":
            raise UsageError(f"outbox row {row_id} is silenced: it is never sent")
    release_orphans(store)
    ids = (
        [row_id]
        if row_id is not None
        else [row.id for row in store.outbox_rows(("pending", "dead"))]
    )
    if not ids:
        print("Nothing to retry: no notification is waiting or given up.")
        return EXIT_OK
    for one in ids:
        store.retry(one, clock())
    recipients = Recipients(settings)
    deliverer = Deliverer(
        settings, store, clock, recipients, status_pages=status_pages(settings), summarised=True
    )
    report = asyncio.run(deliverer.deliver_due(only=set(ids)))
    seen = {outcome.row_id for outcome in report.outcomes}
    words = {
        "sent": "sent",
        "retrying": "FAILED (will be retried)",
        "dead": "FAILED (given up)",
        "skipped": "busy (another statuswatch process is delivering it)",
        "held": "held (quiet hours)",
        "silenced": "silenced",
    }
    for outcome in sorted(report.outcomes, key=lambda o: o.row_id):
        line = f"{outcome.row_id:>5}  {words.get(outcome.status, outcome.status)}  "
        line += f"{outcome.subscriber}  {outcome.target}"
        if outcome.error and outcome.status in ("retrying", "dead"):
            line += f": {outcome.error}"
        print(line)
    for missing in sorted(set(ids) - seen):
        print(f"{missing:>5}  busy (another statuswatch process is delivering it)")
    for problem in dict.fromkeys(report.problems):
        print(f"statuswatch: {problem}", file=sys.stderr)
    statuses = [outcome.status for outcome in report.outcomes]
    if any(status in ("retrying", "dead") for status in statuses):
        return EXIT_GIVEN_UP
    if set(ids) - seen or "skipped" in statuses:
        return EXIT_TEMPFAIL
    return EXIT_OK


def cmd_outbox(args: argparse.Namespace) -> int:
    from statuswatch import output

    settings = load(args)
    store = open_store(settings, readonly=args.action == "list")
    try:
        if args.action == "retry":
            if args.id is None and not args.all:
                raise UsageError(
                    "say which row to retry: `outbox retry ID` or `outbox retry --all`"
                )
            return _retry_now(settings, store, None if args.all else args.id)
        if args.action == "drop":
            if args.id is None:
                raise UsageError("say which row to drop: `outbox drop ID`")
            dropped = store.drop(args.id)
            if not dropped:
                raise UsageError(f"there is no pending or dead outbox row {args.id}")
            print(f"dropped row {args.id}; it will not be delivered.")
            return EXIT_OK
        rows = store.outbox_rows(("pending", "sending", "dead", "silenced"))
        location = store.location
    finally:
        store.close()
    if args.json:
        print(output.dumps([_outbox_json(row) for row in rows]))
        return EXIT_OK
    if not rows:
        print(f"The outbox is empty: every notification was delivered (state: {location}).")
        return EXIT_OK
    from statuswatch.notify.timefmt import zone_or_utc

    zone = zone_or_utc(settings.timezone)
    table = [
        ("ID", "STATUS", "SUBSCRIBER", "TARGET", "KIND", "SERVICE", "TRIES", "NEXT", "LAST ERROR")
    ]
    for row in rows:
        table.append(
            (
                str(row.id),
                row.status,
                row.subscriber,
                row.target_label,
                str(row.transition.kind),
                row.transition.service or "-",
                str(row.attempts),
                "-"
                if row.status in ("dead", "silenced")
                else output.when(row.next_attempt_at, zone),
                row.last_error or "",
            )
        )
    emit(output.table(table))
    print(f"# state: {location}")
    return EXIT_OK


def _outbox_json(row: Any) -> dict[str, object]:
    return {
        "id": row.id,
        "status": row.status,
        "subscriber": row.subscriber,
        "target": row.target_label,
        "kind": str(row.transition.kind),
        "service": row.transition.service,
        "attempts": row.attempts,
        "created_at": iso(row.created_at),
        "next_attempt_at": iso(row.next_attempt_at),
        "held_until": iso(row.held_until),
        "silence": row.silence_id,
        "last_error": row.last_error,
        "transition": row.transition.to_json(),
    }
