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
from statuswatch.cli_common import (  # noqa: F401 (re-exported for tests and tools)
    EXIT_CANTCREAT,
    EXIT_CONFIG,
    EXIT_GIVEN_UP,
    EXIT_OK,
    EXIT_PIPE,
    EXIT_SOFTWARE,
    EXIT_TEMPFAIL,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    OPENED_STATE_DIRS,
    UsageError,
    _hand_back_state_dirs,
    _install_redactor,
    emit,
    http_client,
    load,
    open_store,
)

if TYPE_CHECKING:
    from statuswatch.config import Settings
    from statuswatch.store import Store

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
  141 the output's reader went away (e.g. `statuswatch history | head -1`): ended
      quietly, as a tool killed by SIGPIPE
  with --nagios, `check` uses the Nagios convention instead:
  0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
"""

log = logging.getLogger("statuswatch")
GLOBAL_DEFAULTS: dict[str, Any] = {
    "config": None,
    "state_dir": None,
    "credentials_dir": None,
    "log_level": None,
    "debug": False,
}


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
    common.add_argument(
        "--credentials-dir",
        metavar="DIR",
        help="stand-in for systemd's $CREDENTIALS_DIRECTORY, to use the service's secrets from "
        "a shell, e.g. /etc/statuswatch (default: $STATUSWATCH_CREDENTIALS_DIRECTORY)",
    )
    common.add_argument(
        "--log-level", type=str.lower, choices=["debug", "info", "warning", "error"]
    )
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
            # The whole table lives in `statuswatch --help` (and the README), once.
            epilog="exit codes: see `statuswatch --help`",
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
        "List the services of the configured feeds (fetched now) with their state, to choose "
        "what to watch; --feed/--locale/--url ask another feed.",
    )
    from statuswatch.cli_services import add_arguments as add_services_arguments

    add_services_arguments(services)

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
        "Send a realistic sample notification to the subscribers now, one per apprise URL, "
        "and report, per target, whether it was sent. Its title and first line say it is a "
        "test sent with `statuswatch notify-test`. Exits 79 if a delivery failed.",
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
            "delivery_failed",
        ],
    )
    notify_test.add_argument("--service", default="iCloud Backup")

    outbox = command(
        "outbox",
        "List notifications waiting to be delivered or given up ('dead'); retry or drop them. "
        "`outbox retry ID|--all` delivers now, under the same claims as check and run (a row "
        "another process is sending is reported busy, exit 75), and says per row sent or "
        "FAILED (exit 79); `outbox drop ID` forgets a row. While a dead row is neither retried "
        "nor dropped, `check` exits 79.",
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

    add_commands(command, common)
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
        _use_credentials_dir(args)
        try:
            code = handler(args)
        finally:
            _hand_back_state_dirs()
        sys.stdout.flush()  # a reader that went away (`| head`) shows here for short output
        return code
    except KeyboardInterrupt:
        print("statuswatch: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # every expected failure is mapped to one sentence here
        if isinstance(error, BrokenPipeError) and _stdout_gone():
            return _end_quietly_after_closed_pipe()
        code, message = classify(error)
        if args.debug or code == EXIT_SOFTWARE:
            log.debug("details", exc_info=True)
        if code == EXIT_SOFTWARE and args.debug:
            raise
        print(f"statuswatch: {message}", file=sys.stderr)
        return code


def _use_credentials_dir(args: argparse.Namespace) -> None:
    """--credentials-dir / $STATUSWATCH_CREDENTIALS_DIRECTORY stand in for systemd's
    $CREDENTIALS_DIRECTORY, so that `${CREDENTIALS_DIRECTORY}/apprise-urls` in the service's
    config resolves in an operator's shell too. Set in the environment because every place
    that expands it (urls_file, apprise_config, database_file, the settings cache) reads it
    there."""
    from statuswatch.errors import ConfigError

    chosen = args.credentials_dir or os.environ.get("STATUSWATCH_CREDENTIALS_DIRECTORY")
    if not chosen:
        return
    origin = "--credentials-dir" if args.credentials_dir else "STATUSWATCH_CREDENTIALS_DIRECTORY"
    folder = Path(chosen).expanduser()
    if not folder.is_dir():
        raise ConfigError(
            f"{origin} {chosen}: no such directory; name the folder that holds the files "
            "LoadCredential= reads (e.g. /etc/statuswatch)"
        )
    os.environ["CREDENTIALS_DIRECTORY"] = str(folder)


def _stdout_gone() -> bool:
    """True when nobody reads our stdout any more (the reader of a pipe has exited).

    A BrokenPipeError from a socket (a webhook that hung up) is a different failure and
    must still be reported; poll() tells the two apart: a pipe without a reader is POLLERR.
    """
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def _end_quietly_after_closed_pipe() -> int:
    """`statuswatch history | head -1`: stop as `cat` would, without a word.

    What was left in the buffer cannot be written; pointing stdout at /dev/null keeps the
    interpreter's final flush from raising (and printing) the same error again.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)
    return EXIT_PIPE


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
        with store.cycle_lock(wait=settings.lock_wait):
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


def cmd_status(args: argparse.Namespace) -> int:
    from statuswatch import output

    settings = load(args)
    store = open_store(settings, readonly=True)
    try:
        states = store.service_states()
        sources = store.source_statuses()
        counts = store.outbox_counts()
        leader = store.leader_info()
        location = store.location
        from statuswatch.clock import system_clock

        silences = store.active_silences(system_clock()())
    finally:
        store.close()
    if args.json:
        print(
            output.dumps(
                {
                    "state": location,
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
                    "active_silences": [silence.id for silence in silences],
                    **({} if leader is None else {"leader": _leader_json(leader)}),
                }
            )
        )
        return EXIT_OK
    for line in status_lines(settings, states, sources):
        print(line)
    if counts["pending"] or counts["dead"] or counts["sending"]:
        print(
            f"outbox: {counts['pending'] + counts['sending']} waiting, {counts['dead']} given up "
            "(see `statuswatch outbox`)"
        )
    if silences:
        muted = ", ".join(
            f"{silence.id} ({silence.service or silence.subscriber or silence.kind})"
            for silence in silences
        )
        print(f"silences active: {muted} (see `statuswatch silence list`)")
    if leader is not None:
        print(_leader_line(leader))
    print(f"state: {location}")
    return EXIT_OK


def status_lines(settings: Settings, states: Sequence[Any], sources: dict[str, Any]) -> list[str]:
    """`status` on a terminal: every watched service (also those with nothing recorded),
    then each source's health."""
    from statuswatch import output

    rows: list[tuple[str, str, str]] = []
    seen = set()
    for source, track in states:
        seen.add((source, track.service))
        if track.state is not None:
            rows.append((track.service, str(track.state), f"since {output.when(track.since)}"))
        elif track.candidate is not None:  # confirm > 1: seen, not yet confirmed
            rows.append(
                (
                    track.service,
                    "unconfirmed",
                    f"{track.candidate} seen in {track.streak} poll(s) since "
                    f"{output.when(track.candidate_since)}, confirmed after {settings.confirm}",
                )
            )
        else:
            rows.append((track.service, "no data", "not confirmed yet"))
    for config in settings.sources:
        for name in config.watched or ():
            if (config.name, name) not in seen:
                rows.append((name, "no data", "nothing recorded yet: run `statuswatch check`"))
    width = max([len(name) for name, _, _ in rows] + [20])
    lines = [output.service_line(name, state, detail, width) for name, state, detail in rows]
    for name, status in sources.items():
        health = f"last error: {status.last_error}" if status.last_error else "ok"
        lines.append(
            f"source {name}: last poll {output.when(status.last_poll)}, last success "
            f"{output.when(status.last_success)} ({health})"
        )
    if not states and not sources:
        lines.append("Nothing recorded yet: run `statuswatch check` first.")
    return lines


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
    from statuswatch.cli_services import cmd_services as list_services
    from statuswatch.clock import system_clock

    settings = load(args)
    return list_services(args, settings, int(system_clock()().timestamp() * 1000))


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
    store = open_store(settings, readonly=True)
    try:
        transitions = store.transitions(since=since, service=args.service)
        silenced = store.silenced_subscribers()
        location = store.location
    finally:
        store.close()
    if args.json:
        from statuswatch.views import transition_item

        emit([output.dumps(transition_item(t)) for t in transitions])
    elif transitions:
        emit(output.history_lines(transitions, settings.timezone, silenced))
        print(f"# state: {location}")
    else:
        print(f"No transitions recorded in that period (state: {location}).")
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
        from statuswatch.cli_config import check_names_live

        live = check_names_live(settings)
        for note in live.notes:
            print(f"statuswatch: note: {note}", file=sys.stderr)
        if live.problems:
            from statuswatch.config import ConfigError

            raise ConfigError(f"{path or 'built-in defaults'}: {live.problems[0]}")
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
    if settings.database is None and settings.database_file is None and not settings.state_dir:
        from statuswatch.store import default_state_dir

        # Not set anywhere: say which directory commands will use here and now.
        print(f"# state directory in effect: {default_state_dir()}")
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
