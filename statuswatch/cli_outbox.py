"""`statuswatch outbox` (list, retry now, drop) and `notify-test`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

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
    from statuswatch.store import OutboxRow, Store


#: At most this long, `outbox retry` waits for rows another process is delivering.
OTHERS_WAIT_MAX = 30.0
_FAILED = frozenset({"retrying", "dead", "retrying elsewhere", "dead elsewhere"})
_WORDS = {
    "sent": "sent",
    "retrying": "FAILED (will be retried)",
    "dead": "FAILED (given up)",
    "held": "held (quiet hours)",
    "silenced": "silenced",
    "sent elsewhere": "sent (by another statuswatch process)",
    "retrying elsewhere": "FAILED in another statuswatch process (will be retried)",
    "dead elsewhere": "FAILED in another statuswatch process (given up)",
    "busy": "busy (another statuswatch process is still delivering it after {wait:g} s)",
    "gone": "no longer in the outbox (dropped meanwhile)",
}


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
    lines = {
        o.row_id: _Line(o.status, o.subscriber, o.target, o.error)
        for o in report.outcomes
        if o.status != "skipped"
    }
    # The rest another statuswatch process (the running service, usually) claimed first,
    # or had already sent: say how that ended, not merely that it was busy.
    wait = min(settings.timeout * 3 + 1.0, OTHERS_WAIT_MAX)
    others = sorted(set(ids) - set(lines))
    for row_id, row in finished_elsewhere(store, others, wait, notice=_say_waiting).items():
        lines[row_id] = _elsewhere(row)
    for row_id, line in sorted(lines.items()):
        word = _WORDS.get(line.status, line.status).format(wait=wait)
        text = f"{row_id:>5}  {word}  {line.subscriber}  {line.target}".rstrip()
        if line.error and line.status in _FAILED:
            text += f": {line.error}"
        print(text)
    for problem in dict.fromkeys(report.problems):
        print(f"statuswatch: {problem}", file=sys.stderr)
    statuses = {line.status for line in lines.values()}
    if statuses & _FAILED:
        return EXIT_GIVEN_UP
    if "busy" in statuses:
        return EXIT_TEMPFAIL
    return EXIT_OK


class _Line(NamedTuple):
    status: str
    subscriber: str
    target: str
    error: str | None = None


def _elsewhere(row: OutboxRow | None) -> _Line:
    if row is None:
        return _Line("gone", "", "")
    status = {
        "sent": "sent elsewhere",
        "dead": "dead elsewhere",
        "sending": "busy",
        "silenced": "silenced",
    }.get(row.status)
    if status is None:  # pending again: held for quiet hours, or failed and backed off
        status = "held" if row.held_until is not None else "retrying elsewhere"
    return _Line(status, row.subscriber, row.target_label, row.last_error)


def _say_waiting(ids: list[int], wait: float) -> None:
    rows = ", ".join(str(i) for i in ids)
    print(
        f"waiting up to {wait:g} s for another statuswatch process that is delivering "
        f"row{'s' if len(ids) > 1 else ''} {rows}",
        file=sys.stderr,
    )


def finished_elsewhere(
    store: Store,
    ids: Sequence[int],
    wait: float,
    *,
    notice: Callable[[list[int], float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[int, OutboxRow | None]:
    """Each row as it is once no process holds it any more (None: it was dropped), or
    still `sending` when `wait` seconds were not enough. A claim is followed by its send
    within 3 x timeout (notify/deliver.py), so that plus a second is what is worth waiting."""
    deadline = clock() + wait
    rows: dict[int, OutboxRow | None] = {}
    waiting = list(ids)
    while True:
        for row_id in waiting:
            rows[row_id] = store.outbox_row(row_id)
        waiting = [i for i in waiting if (row := rows[i]) is not None and row.status == "sending"]
        if not waiting or clock() >= deadline:
            return rows
        if notice is not None:
            notice(waiting, wait)
            notice = None
        sleep(0.2)


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
