"""The `silence` and `wait` commands (DESIGN §4a, §4b), registered by cli.py.

Kept apart from cli.py, which holds the commands every run needs; like there, heavy
modules are imported inside the command that uses them.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import getpass
import os
import socket
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

EXIT_WAIT_TIMEOUT = 124  # `wait` timed out (as timeout(1) does)

WAIT_HELP = (
    "Poll Apple's feed until SERVICE is available, then exit 0 (at once if it already "
    "is), e.g. `statuswatch wait 'iCloud Backup' && retry-backup`. Shows what it waits "
    "for on a terminal, one line per change otherwise. Touches no state directory. "
    f"Exit {EXIT_WAIT_TIMEOUT} when --timeout ends the wait, 130 on Ctrl-C."
)


def add_commands(
    command: Callable[..., argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Register `silence` and `wait`; `common` holds --config, --state-dir and the rest."""
    silence = command(
        "silence",
        "Mute notifications for a while (a planned change, a known problem): matching "
        "notifications are recorded as 'silenced' and never sent.",
    )
    actions = silence.add_subparsers(dest="silence_action", metavar="ACTION")
    actions.required = True
    add = actions.add_parser(
        "add",
        parents=[common],
        help="add a silence; prints its id",
        description="Add a silence; prints its id. Give at least one of --service, "
        "--subscriber, --kind; a notification is silenced when it matches all of them.",
    )
    add.add_argument("--service", metavar="NAME", help="e.g. 'iCloud Backup'")
    add.add_argument("--subscriber", metavar="NAME", help="a [[subscribers]] name")
    add.add_argument("--kind", metavar="KIND", help="e.g. maintenance, outage, reminder")
    until = add.add_mutually_exclusive_group(required=True)
    until.add_argument("--for", dest="duration", metavar="DURATION", help="e.g. 2h, 30m, 1d")
    until.add_argument(
        "--until",
        metavar="TIME",
        help="e.g. 2026-12-03T08:00, 2026-12-03T08:00+01:00, or 08:00 (the next one, in "
        "the configured timezone)",
    )
    add.add_argument("--comment", metavar="TEXT", help="why (shown by `silence list`)")
    listing = actions.add_parser(
        "list", parents=[common], help="active silences and those ended in 7 days"
    )
    listing.add_argument("--json", action="store_true")
    expire = actions.add_parser("expire", parents=[common], help="end a silence now")
    expire.add_argument("id", type=int, metavar="ID")

    wait = command("wait", WAIT_HELP)
    wait.add_argument("service", metavar="SERVICE")
    wait.add_argument("--feed", choices=["consumer", "developer"], default=None)
    wait.add_argument("--url", default=None, help="poll this URL instead of Apple's feed")
    wait.add_argument("--timeout", metavar="DURATION", default=None, help="e.g. 2h (default: none)")
    wait.add_argument(
        "--interval",
        metavar="DURATION",
        default="1m",
        help="time between polls (default 1m; at least 30s for Apple's servers)",
    )


# -- silence -----------------------------------------------------------------------------


def cmd_silence(args: argparse.Namespace) -> int:
    from statuswatch.cli_common import emit, load, open_store
    from statuswatch.clock import system_clock

    settings = load(args)
    now = system_clock()()
    store = open_store(settings, readonly=args.silence_action == "list")
    try:
        if args.silence_action == "add":
            return _add(args, settings, store, now)
        if args.silence_action == "expire":
            from statuswatch.cli_common import UsageError

            if not store.expire_silence(args.id, now):
                raise UsageError(
                    f"there is no active silence {args.id}; `statuswatch silence list` shows them"
                )
            print(f"silence {args.id} expired: matching notifications are sent again")
            return 0
        silences = store.silences(now)
        muted = store.silenced_counts()
    finally:
        store.close()
    if args.json:
        from statuswatch.output import dumps

        print(dumps([_silence_json(s, now, muted.get(s.id, 0)) for s in silences]))
        return 0
    if not silences:
        print("No silences are active, and none ended in the last 7 days.")
        return 0
    from statuswatch.output import table

    rows = [("ID", "STATE", "SERVICE", "SUBSCRIBER", "KIND", "UNTIL", "SILENCED", "COMMENT")]
    for s in silences:
        rows.append(
            (
                str(s.id),
                _state(s, now),
                s.service or "*",
                s.subscriber or "*",
                s.kind or "*",
                _moment(s.ended_at, settings.timezone),
                str(muted.get(s.id, 0)),
                s.comment or "",
            )
        )
    emit(table(rows))
    return 0


def _state(silence: Any, now: datetime) -> str:
    if silence.active(now):
        return "active"
    if silence.expired_at is not None:
        return "expired"
    return "pending" if silence.starts_at > now else "ended"


def _moment(moment: datetime, timezone: str) -> str:
    from statuswatch.notify.timefmt import format_moment, zone_or_utc

    return format_moment(moment, zone_or_utc(timezone))


def _silence_json(silence: Any, now: datetime, muted: int) -> dict[str, object]:
    from statuswatch.model import format_utc

    return {
        "id": silence.id,
        "state": _state(silence, now),
        "service": silence.service,
        "subscriber": silence.subscriber,
        "kind": silence.kind,
        "starts_at": format_utc(silence.starts_at),
        "ends_at": format_utc(silence.ended_at),
        "comment": silence.comment,
        "created_by": silence.created_by,
        "silenced": muted,
    }


def _add(args: argparse.Namespace, settings: Any, store: Any, now: datetime) -> int:
    from statuswatch.cli_common import UsageError

    if not (args.service or args.subscriber or args.kind):
        raise UsageError(
            "say what to silence: --service NAME, --subscriber NAME and/or --kind KIND"
        )
    service = _known_service(args.service, settings, store) if args.service else None
    subscriber = _known_subscriber(args.subscriber, settings) if args.subscriber else None
    kind = _known_kind(args.kind) if args.kind else None
    ends = _end(args, settings, now)
    silence_id = store.add_silence(
        service=service,
        subscriber=subscriber,
        kind=kind,
        starts_at=now,
        ends_at=ends,
        comment=args.comment,
        created_at=now,
        created_by=_who(),
    )
    what = ", ".join(
        part
        for part in (
            service or "every service",
            f"subscriber {subscriber}" if subscriber else "every subscriber",
            f"kind {kind}" if kind else "every kind",
        )
    )
    print(silence_id)
    print(
        f"silence {silence_id} added: {what}, until {_moment(ends, settings.timezone)}",
        file=sys.stderr,
    )
    return 0


def _who() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except Exception:  # no user name (a container without passwd entry): still add it
        return f"uid {os.getuid()}"


def _suggest(wanted: str, names: list[str]) -> str:
    by_fold = {name.casefold(): name for name in names}
    close = difflib.get_close_matches(wanted.casefold(), list(by_fold), n=1, cutoff=0.6)
    return f"; did you mean {by_fold[close[0]]!r}?" if close else ""


def _known_service(wanted: str, settings: Any, store: Any) -> str:
    """A watched service, spelled as configured or as the feed spells it."""
    from statuswatch.cli_common import UsageError

    names: list[str] = []
    for source in settings.sources:
        if source.watched is not None:
            names.extend(source.watched)
    names.extend(track.service for _, track in store.service_states())
    for name in names:
        if name.casefold() == wanted.strip().casefold():
            return name
    watched = ", ".join(dict.fromkeys(names)) or "none seen yet"
    raise UsageError(
        f"no watched service is named {wanted!r}{_suggest(wanted, names)} "
        f"(watched: {watched}); a silence for it would never match anything"
    )


def _known_subscriber(wanted: str, settings: Any) -> str:
    from statuswatch.cli_common import UsageError

    names = [s.name for s in settings.subscribers]
    if wanted in names:
        return wanted
    configured = ", ".join(names) or "none"
    raise UsageError(
        f"no subscriber is named {wanted!r}{_suggest(wanted, names)} (configured: {configured})"
    )


def _known_kind(wanted: str) -> str:
    from statuswatch.cli_common import UsageError
    from statuswatch.model import Kind

    names = [kind.value for kind in Kind]
    if wanted.strip().casefold() in names:
        return wanted.strip().casefold()
    raise UsageError(
        f"--kind {wanted!r} is not a kind{_suggest(wanted, names)} (kinds: {', '.join(names)})"
    )


def _end(args: argparse.Namespace, settings: Any, now: datetime) -> datetime:
    from statuswatch.cli_common import UsageError

    if args.duration is not None:
        from statuswatch.settings_view import parse_duration

        try:
            seconds = parse_duration(args.duration)
        except ValueError as error:
            raise UsageError(f"--for: {error}") from None
        if seconds <= 0:
            raise UsageError("--for must be longer than 0s")
        return now + timedelta(seconds=seconds)
    return parse_until(args.until, settings.timezone, now)


def parse_until(text: str, timezone: str, now: datetime) -> datetime:
    """`--until`: an ISO-8601 time (without a zone: the configured timezone), or HH:MM
    (the next time the clock shows it there)."""
    import re

    from statuswatch.cli_common import UsageError
    from statuswatch.notify.timefmt import zone_or_utc

    zone = zone_or_utc(timezone)
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if match and int(match.group(1)) < 24 and int(match.group(2)) < 60:
        local = now.astimezone(zone)
        moment = local.replace(
            hour=int(match.group(1)), minute=int(match.group(2)), second=0, microsecond=0
        )
        if moment <= local:
            moment = datetime.combine(local.date() + timedelta(days=1), moment.time(), zone)
        return moment.astimezone(UTC)
    from statuswatch.clock import parse_iso

    moment = parse_iso(text, zone)
    if moment is None:
        raise UsageError(f"--until {text!r} is not a time; write it like 2026-12-03T08:00 or 08:00")
    if moment <= now:
        raise UsageError(f"--until {text!r} is in the past")
    return moment


# -- wait --------------------------------------------------------------------------------


def cmd_wait(args: argparse.Namespace) -> int:
    from statuswatch.cli_common import UsageError, load
    from statuswatch.clock import system_clock
    from statuswatch.settings_view import parse_duration
    from statuswatch.sources.apple import feed_url
    from statuswatch.wait import Waiter, WaitUsageError, check_interval, wait_for

    settings = load(args)  # reads the config only: no state directory is touched
    first = settings.sources[0]
    if args.url:
        url = args.url
    elif args.feed:
        url = feed_url(args.feed, first.locale)
    else:
        url = first.url or feed_url(first.feed, first.locale)
    try:
        interval = parse_duration(args.interval)
        timeout = None if args.timeout is None else parse_duration(args.timeout)
    except ValueError as error:
        raise UsageError(f"--interval/--timeout: {error}") from None
    try:
        check_interval(interval, url)
    except WaitUsageError as error:
        raise UsageError(str(error)) from None
    waiter = Waiter(
        args.service,
        url,
        interval=interval,
        timeout=timeout,
        confirm=settings.confirm,
        fetch_timeout=settings.timeout,
        max_bytes=settings.max_body_bytes,
        zone_name=settings.timezone,
        clock=system_clock(),
    )
    try:
        outcome = asyncio.run(wait_for(waiter))
    except WaitUsageError as error:
        raise UsageError(str(error)) from None
    if outcome.available:
        print(outcome.line)
        return 0
    print(f"statuswatch: {outcome.line}", file=sys.stderr)
    return EXIT_WAIT_TIMEOUT
