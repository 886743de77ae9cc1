"""The `statuswatch` command line.

Every expected failure ends as one sentence on stderr and a documented exit code; a
traceback appears only with --debug. Heavy modules are imported inside the command
that needs them, because `check` is started by a timer every few minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from statuswatch import __version__

if TYPE_CHECKING:
    from statuswatch.config import Settings
    from statuswatch.store import Store

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 69  # a feed could not be fetched or parsed
EXIT_SOFTWARE = 70  # a bug in statuswatch
EXIT_CANTCREAT = 73  # the state directory or database cannot be written
EXIT_TEMPFAIL = 75  # try again later: lock busy, deliveries pending
EXIT_CONFIG = 78  # configuration error
EXIT_GIVEN_UP = 79  # a notification was given up (dead) and nobody retried or dropped it

EXIT_CODES_HELP = """\
exit codes:
  0   ran fine
  2   usage error (bad command-line arguments)
  69  a feed could not be fetched or parsed (what could be recorded was recorded),
      or the PostgreSQL server of `database` cannot be reached
  70  internal error in statuswatch (please report it, with --debug output)
  73  the state directory or database cannot be created or written
  75  temporary: another run holds the lock, or notifications are still waiting
      to be delivered (they are retried on the next run)
  78  configuration error (the message names the file, the key and the fix), or
      PostgreSQL refused us: wrong password, no such database, missing privileges
  79  a notification was given up: `check` while any outbox row is dead and nobody
      retried or dropped it (`statuswatch outbox` lists it; `outbox retry ID` sends
      it now, `outbox drop ID` forgets it); `notify-test` or `outbox retry` when a
      delivery failed
  124 `wait`: --timeout ended the wait before the service was available
  130 interrupted (Ctrl-C)
  with --nagios, `check` uses the Nagios convention instead:
  0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
"""

log = logging.getLogger("statuswatch")
GLOBAL_DEFAULTS: dict[str, Any] = {
    "config": None,
    "state_dir": None,
    "log_level": None,
    "debug": False,
}


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"statuswatch: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    # SUPPRESS: a subcommand's copy of an option must not reset what was given before it.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $STATUSWATCH_CONFIG, $CONFIGURATION_DIRECTORY/"
        "statuswatch.toml, ~/.config/statuswatch/statuswatch.toml, "
        "/etc/statuswatch/statuswatch.toml; without one, iCloud Backup is watched)",
    )
    common.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where the database lives (default: $STATUSWATCH_STATE_DIR, $STATE_DIRECTORY, "
        "$XDG_STATE_HOME/statuswatch, ~/.local/state/statuswatch)",
    )
    common.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    common.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")

    parser = _Parser(
        prog="statuswatch",
        description="Watch Apple's system-status feed and say when a service you depend on "
        "(iCloud Backup by default) changes state.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"statuswatch {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    def command(name: str, help_text: str, **kwargs: Any) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[common],
            epilog=EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            **kwargs,
        )

    check = command(
        "check",
        "Poll every source once, record what changed, deliver due notifications, and print "
        "the state of each watched service.",
    )
    output = check.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON object")
    output.add_argument("--nagios", action="store_true", help="Nagios plugin output and exit codes")
    check.add_argument("--quiet", "-q", action="store_true", help="print only changes and errors")

    command(
        "run",
        "Run as a service: poll on a schedule until stopped (SIGTERM), "
        "reload the config on SIGHUP.",
    )

    status = command(
        "status", "Show the stored state of every watched service, without fetching anything."
    )
    status.add_argument("--json", action="store_true")

    services = command(
        "services",
        "List the service names of an Apple feed (fetched now), to choose what to watch.",
    )
    services.add_argument("--feed", choices=["consumer", "developer"], default="consumer")
    services.add_argument("--locale", default=None, help="e.g. en_US (default: en_US)")
    services.add_argument("--url", default=None, help="fetch this URL instead of Apple's")

    history = command("history", "Show recorded transitions.")
    history.add_argument("--service", metavar="NAME")
    history.add_argument(
        "--since",
        metavar="AGE",
        default="7d",
        help="how far back, e.g. 12h, 7d (default 7d), or 'all'",
    )
    history.add_argument("--json", action="store_true", help="one JSON object per line")

    replay = command(
        "replay",
        "Run the rules over saved snapshots (files named by their UTC "
        "time, e.g. 2025-06-14T21-20-50Z.json) and print the transitions as "
        "JSON lines. Touches no state.",
    )
    replay.add_argument("paths", nargs="+", metavar="PATH", help="snapshot files or folders")
    replay.add_argument(
        "--service",
        action="append",
        metavar="NAME",
        help="watch only this service (repeatable; default: all)",
    )
    replay.add_argument(
        "--confirm",
        type=int,
        default=1,
        metavar="N",
        help="polls needed to confirm a new state (default 1)",
    )

    notify_test = command(
        "notify-test",
        "Send a realistic sample notification to the "
        "subscribers now and report, per target, whether it was sent.",
    )
    notify_test.add_argument("--subscriber", metavar="NAME", help="only this subscriber")
    notify_test.add_argument(
        "--kind",
        default="recovered",
        choices=[
            "recovered",
            "maintenance",
            "outage",
            "issue",
            "performance",
            "initial",
            "scheduled",
            "source_down",
            "source_up",
            "starting",
            "reminder",
        ],
    )
    notify_test.add_argument("--service", default="iCloud Backup")

    outbox = command(
        "outbox",
        "List notifications waiting to be delivered or given up ('dead'); retry or drop them.",
    )
    outbox.add_argument("action", nargs="?", choices=["list", "retry", "drop"], default="list")
    outbox.add_argument("id", nargs="?", type=int, help="row id (for retry or drop)")
    outbox.add_argument("--all", action="store_true", help="with retry: every pending/dead row")
    outbox.add_argument("--json", action="store_true")

    export = command(
        "export",
        "Write the status page, JSON, Atom feed and badges as static files "
        "(for any web server), from the stored state; fetches nothing.",
    )
    export.add_argument(
        "dir", nargs="?", metavar="DIR", help="where to write (default: [export] dir)"
    )

    config = command("config", "Check the configuration, or show it resolved (secrets hidden).")
    config.add_argument("action", choices=["check", "show"])

    store = command(
        "store",
        "Copy a whole store (state, history, outbox, validators) into an empty one, e.g. "
        "from this machine's SQLite state directory into PostgreSQL for two machines.",
    )
    store.add_argument("action", choices=["copy"])
    store.add_argument(
        "--from",
        dest="copy_from",
        required=True,
        metavar="PATH_OR_DSN",
        help="a state directory (or its statuswatch.db) or a postgresql:// URL",
    )
    store.add_argument(
        "--to",
        dest="copy_to",
        required=True,
        metavar="DSN",
        help="an empty PostgreSQL database (postgresql://…) or an empty state directory",
    )
    from statuswatch.cli_policy import add_commands

    add_commands(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for option, default in GLOBAL_DEFAULTS.items():
        if not hasattr(args, option):
            setattr(args, option, default)
    _configure_logging(args)
    handler = COMMANDS[args.command]
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("statuswatch: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # every expected failure is mapped to one sentence here
        code, message = classify(error)
        if args.debug or code == EXIT_SOFTWARE:
            log.debug("details", exc_info=True)
        if code == EXIT_SOFTWARE and args.debug:
            raise
        print(f"statuswatch: {message}", file=sys.stderr)
        return code


def classify(error: Exception) -> tuple[int, str]:
    """The exit code and sentence for an exception that reached the top."""
    from statuswatch.clock import ClockError
    from statuswatch.errors import ConfigError

    if isinstance(error, ConfigError | ClockError):
        return EXIT_CONFIG, str(error)
    if isinstance(error, UsageError):
        return EXIT_USAGE, str(error)
    store = sys.modules.get("statuswatch.store")
    if store is not None:
        if isinstance(error, store.StoreUnavailable):
            return EXIT_UNAVAILABLE, str(error)
        if isinstance(error, store.StoreMisconfigured):
            return EXIT_CONFIG, str(error)
        if isinstance(error, store.StoreLocked):
            return EXIT_TEMPFAIL, str(error)
        if isinstance(error, store.StoreUnwritable):
            return EXIT_CANTCREAT, str(error)
        if isinstance(error, store.StoreError):
            return EXIT_CANTCREAT, str(error)
    export = sys.modules.get("statuswatch.web.export")
    if export is not None and isinstance(error, export.ExportError):
        return EXIT_CANTCREAT, str(error)
    replay = sys.modules.get("statuswatch.replay")
    if replay is not None and isinstance(error, replay.ReplayUsageError):
        return EXIT_USAGE, str(error)
    fetch = sys.modules.get("statuswatch.sources.http")
    if fetch is not None and isinstance(error, fetch.FetchError):
        return EXIT_UNAVAILABLE, str(error)
    apple = sys.modules.get("statuswatch.sources.apple")
    if apple is not None and isinstance(error, apple.FeedFormatError):
        return EXIT_UNAVAILABLE, f"the feed is unusable: {error}"
    return (
        EXIT_SOFTWARE,
        f"internal error ({type(error).__name__}: {error}); run again with --debug and report it",
    )


def _configure_logging(args: argparse.Namespace) -> None:
    from statuswatch.logsetup import configure_logging

    # One-shot commands print their findings; their log shows only what went wrong.
    # The daemon has no other voice than its log, so it logs each change at info.
    level = "debug" if args.debug else args.log_level
    if level is None and not os.environ.get("STATUSWATCH_LOG_LEVEL"):
        level = "info" if args.command == "run" else "warning"
    try:
        configure_logging(level)
    except ValueError as error:
        print(f"statuswatch: {error}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


# -- shared steps ----------------------------------------------------------------------


def load(args: argparse.Namespace, cache: list[Any] | None = None) -> Settings:
    """Find and read the config; install the secret redactor on every log handler.

    With `cache` (a list, for `check`), validated settings are reused from the state
    directory when nothing they depend on changed (settings_cache.py); the lookup is
    appended to `cache` so that the caller can save them after a miss.
    """
    from statuswatch.configfile import find_config_file

    overrides: dict[str, Any] = {}
    if args.state_dir:
        overrides["state_dir"] = Path(args.state_dir)
    path = find_config_file(args.config)

    def validate() -> Settings:
        from statuswatch.config import load_settings

        return load_settings(path, **overrides)

    settings: Any = None
    if cache is not None:
        from statuswatch import settings_cache
        from statuswatch.settings_view import with_loader

        found = settings_cache.lookup(path, overrides)
        cache.append(found)
        if found.settings is not None:
            settings = with_loader(found.settings, validate)
    if settings is None:
        settings = validate()
    _install_redactor(settings)
    if args.log_level is None and not args.debug and settings.log_level is not None:
        logging.getLogger().setLevel(settings.log_level.upper())
    return settings


def _install_redactor(settings: Settings) -> None:
    from statuswatch.secrets import RedactingFilter, Redactor

    urls = [url for s in settings.subscribers for url in s.urls]
    heartbeat = getattr(settings, "heartbeat", None)
    if heartbeat is not None:
        urls += [url for url in (heartbeat.url, heartbeat.fail_url) if url]
    redactor = Redactor(urls)
    for handler in logging.getLogger().handlers:
        # Replace, not add: the daemon calls this again on every SIGHUP.
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(RedactingFilter(redactor))


def open_store(settings: Settings) -> Store:
    dsn = settings.database_dsn()
    if dsn is not None:
        # Two machines (DESIGN §5): psycopg is imported only here, when configured.
        from statuswatch.secrets import redact_dsn
        from statuswatch.store.postgres import PostgresStore

        redact_dsn(dsn)
        return PostgresStore.open(dsn)
    from statuswatch.store import SqliteStore, default_state_dir

    state_dir = Path(settings.state_dir).expanduser() if settings.state_dir else default_state_dir()
    return SqliteStore.open(state_dir)


def http_client() -> Any:
    import httpx

    return httpx.AsyncClient(follow_redirects=True, http2=False)


def emit(lines: Sequence[str], stream: Any = None) -> None:
    if lines:
        print("\n".join(lines), file=stream or sys.stdout)


# -- commands --------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    from statuswatch import output
    from statuswatch.clock import system_clock
    from statuswatch.monitor import Monitor, missing_names

    cache: list[Any] = []
    settings = load(args, cache)
    clock = system_clock()
    store = open_store(settings)
    try:
        if cache and cache[0].settings is None:
            from statuswatch.settings_cache import save

            save(cache[0], settings)  # after open_store: the state directory exists now
        with store.cycle_lock():
            monitor = Monitor(settings, store, http_client(), clock)
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
        emit(output.human_check(report, args.quiet))
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
    store = open_store(settings)
    try:
        written = export_site(store, settings, system_clock()(), folder.expanduser())
    finally:
        store.close()
    print(f"wrote {len(written)} file(s) to {folder}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from statuswatch.daemon import run_daemon

    return run_daemon(args, load, open_store)


def cmd_status(args: argparse.Namespace) -> int:
    from statuswatch import output

    settings = load(args)
    store = open_store(settings)
    try:
        states = store.service_states()
        sources = store.source_statuses()
        counts = store.outbox_counts()
        leader = store.leader_info()
    finally:
        store.close()
    if args.json:
        print(
            output.dumps(
                {
                    "sources": [
                        {
                            "name": name,
                            "last_poll": _iso(status.last_poll),
                            "last_success": _iso(status.last_success),
                            "last_error": status.last_error,
                            "down": status.down,
                        }
                        for name, status in sources.items()
                    ],
                    "services": [
                        {
                            "source": source,
                            "name": track.service,
                            "state": None if track.state is None else str(track.state),
                            "since": _iso(track.since),
                        }
                        for source, track in states
                    ],
                    "outbox": counts,
                    **({} if leader is None else {"leader": _leader_json(leader)}),
                }
            )
        )
        return EXIT_OK
    if not states and not sources:
        print("Nothing recorded yet: run `statuswatch check` first.")
        return EXIT_OK
    width = max([len(track.service) for _, track in states] + [20])
    for _, track in states:
        state = "unconfirmed" if track.state is None else str(track.state)
        print(output.service_line(track.service, state, f"since {output.when(track.since)}", width))
    for name, status in sources.items():
        health = f"last error: {status.last_error}" if status.last_error else "ok"
        print(
            f"source {name}: last poll {output.when(status.last_poll)}, last success "
            f"{output.when(status.last_success)} ({health})"
        )
    if counts["pending"] or counts["dead"] or counts["sending"]:
        print(
            f"outbox: {counts['pending'] + counts['sending']} waiting, {counts['dead']} given up "
            "(see `statuswatch outbox`)"
        )
    if leader is not None:
        print(_leader_line(leader))
    return EXIT_OK


def _leader_json(leader: Any) -> dict[str, object]:
    return {
        "node": leader.node,
        "since": _iso(leader.since),
        "epoch": leader.epoch,
        "last_node": leader.last_node,
    }


def _leader_line(leader: Any) -> str:
    """Two machines (DESIGN §5): which node polls, and since when."""
    from statuswatch import output

    if leader.node is None:
        last = f" (the last was {leader.last_node})" if leader.last_node else ""
        return f"leader: none right now{last}; a standing-by node takes over within seconds"
    since = f" since {output.when(leader.since)}" if leader.since else ""
    return f"leader: {leader.node}{since} (lead taken {leader.epoch} time(s) in all)"


def _iso(moment: Any) -> str | None:
    from statuswatch.model import format_utc

    return None if moment is None else format_utc(moment)


def cmd_services(args: argparse.Namespace) -> int:
    from statuswatch.sources.apple import feed_url, parse_feed
    from statuswatch.sources.http import FetchError, Validators, fetch_body

    settings = load(args)
    url = args.url or feed_url(args.feed, args.locale or "en_US")

    async def fetch() -> bytes:
        async with http_client() as client:
            result = await fetch_body(
                client,
                url,
                Validators(),
                timeout=settings.timeout,
                max_bytes=settings.max_body_bytes,
            )
        if result.body is None:
            raise FetchError(f"{url} answered 304 Not Modified to a plain request")
        return result.body

    snapshot = parse_feed(asyncio.run(fetch()))
    for service in snapshot.services:
        print(service.name)
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from statuswatch import output
    from statuswatch.clock import system_clock
    from statuswatch.config import parse_duration

    settings = load(args)
    since = None
    if args.since != "all":
        try:
            since = system_clock()() - timedelta(seconds=parse_duration(args.since))
        except ValueError as error:
            raise UsageError(f"--since: {error}") from None
    store = open_store(settings)
    try:
        transitions = store.transitions(since=since, service=args.service)
        silenced = store.silenced_subscribers()
    finally:
        store.close()
    if args.json:
        from statuswatch.views import transition_item

        emit([output.dumps(transition_item(t)) for t in transitions])
    elif transitions:
        emit(output.history_lines(transitions, settings.timezone, silenced))
    else:
        print("No transitions recorded in that period.")
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from statuswatch.output import dumps
    from statuswatch.replay import collect, replay

    if args.confirm < 1:
        raise UsageError("--confirm must be 1 or more")
    files = collect(Path(path) for path in args.paths)
    if not files:
        raise UsageError("no snapshot files found in " + ", ".join(args.paths))
    out = sys.stdout
    for item, transitions, error in replay(files, args.service, args.confirm):
        if error is not None:
            print(f"statuswatch: {item.path.name}: {error} (counted as no data)", file=sys.stderr)
        for transition in transitions:
            out.write(dumps(transition.to_json()) + "\n")
    return EXIT_OK


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
    store = open_store(settings)
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
    finally:
        store.close()
    if args.json:
        print(output.dumps([_outbox_json(row) for row in rows]))
        return EXIT_OK
    if not rows:
        print("The outbox is empty: every notification was delivered.")
        return EXIT_OK
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
                "-" if row.status in ("dead", "silenced") else output.when(row.next_attempt_at),
                row.last_error or "",
            )
        )
    emit(output.table(table))
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
        "created_at": _iso(row.created_at),
        "next_attempt_at": _iso(row.next_attempt_at),
        "held_until": _iso(row.held_until),
        "silence": row.silence_id,
        "last_error": row.last_error,
        "transition": row.transition.to_json(),
    }


def cmd_config(args: argparse.Namespace) -> int:
    from statuswatch.config import find_config_file

    path = find_config_file(args.config)
    settings = load(args)
    if args.action == "check":
        from statuswatch.notify.deliver import validate_subscribers

        validate_subscribers(settings)
        where = str(path) if path else "built-in defaults (no config file found)"
        services = sum(len(s.services) for s in settings.sources)
        print(
            f"{where}: OK — {len(settings.sources)} source(s), {services} watched name(s), "
            f"{len(settings.subscribers)} subscriber(s)"
        )
        return EXIT_OK
    from statuswatch.config import public_view

    print(f"# resolved from {path or 'built-in defaults'} and STATUSWATCH_* variables")
    print(public_view(settings))
    return EXIT_OK


def cmd_store(args: argparse.Namespace) -> int:
    from statuswatch.store.copy import copy_store

    source = _open_location(args.copy_from, must_exist=True)
    try:
        target = _open_location(args.copy_to, must_exist=False)
        try:
            with source.cycle_lock(), target.cycle_lock(wait=0):
                copied = copy_store(source, target)
        finally:
            target.close()
    finally:
        source.close()
    summary = ", ".join(f"{count} {table}" for table, count in copied.items())
    print(f"copied {summary} from {source.location} to {target.location}")
    return EXIT_OK


def _open_location(text: str, *, must_exist: bool) -> Store:
    """`store copy`'s ends: a postgresql:// URL, or a state directory / its database."""
    from statuswatch.store import DB_NAME, SqliteStore

    if text.startswith(("postgresql://", "postgres://")):
        from statuswatch.secrets import redact_dsn
        from statuswatch.store.postgres import PostgresStore

        redact_dsn(text)
        return PostgresStore.open(text)
    path = Path(text).expanduser()
    if path.name == DB_NAME or path.is_file():
        path = path.parent
    if must_exist and not (path / DB_NAME).is_file():
        raise UsageError(f"there is no statuswatch database ({DB_NAME}) in {path}")
    return SqliteStore.open(path)


def _policy_command(name: str, args: argparse.Namespace) -> int:
    from statuswatch import cli_policy

    return int(getattr(cli_policy, name)(args))


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "check": cmd_check,
    "run": cmd_run,
    "status": cmd_status,
    "services": cmd_services,
    "history": cmd_history,
    "replay": cmd_replay,
    "notify-test": cmd_notify_test,
    "outbox": cmd_outbox,
    "config": cmd_config,
    "export": cmd_export,
    "store": cmd_store,
    "silence": lambda args: _policy_command("cmd_silence", args),
    "wait": lambda args: _policy_command("cmd_wait", args),
}
