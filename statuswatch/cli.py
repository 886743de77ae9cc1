"""The `statuswatch` command line: the parser, the dispatch to each command's module
(cli_check.py, cli_status.py, cli_history.py, cli_outbox.py, cli_config.py, cli_store.py,
cli_services.py, cli_policy.py) and the mapping of failures to exit codes.

Every expected failure ends as one sentence on stderr and a documented exit code; a
traceback appears only with --debug. Heavy modules are imported inside the command
that needs them, because `check` is started by a timer every few minutes.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from statuswatch import __version__
from statuswatch.cli_common import (
    EXIT_CANTCREAT,
    EXIT_CONFIG,
    EXIT_PIPE,
    EXIT_SOFTWARE,
    EXIT_TEMPFAIL,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    UsageError,
    _hand_back_state_dirs,
)

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


#: Global options that take a value (skipped when looking for the command's name).
_VALUED = ("--config", "--state-dir", "--credentials-dir", "--log-level")


def named_command(argv: Sequence[str]) -> str | None:
    """The subcommand `argv` names, when that is plain to see (global options before it
    are known ones, no --help or --version); None otherwise. A timer's `check` then builds
    the parser of `check` alone, not those of every command."""
    index = 0
    while index < len(argv):
        word = argv[index]
        if word in _VALUED:
            index += 2
            continue
        if word.split("=", 1)[0] in _VALUED or word == "--debug":
            index += 1
            continue
        return word if word in COMMANDS else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `only` (a name from COMMANDS), the parser of that
    command alone, as parse_args() would use it (`--help` of the whole program is then
    not complete: main() passes `only` when the command is plain, see named_command)."""
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
        if only is not None and name != only:
            return argparse.ArgumentParser(add_help=False)  # not registered: never parses
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
    if only in (None, "services"):
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
    if only is None or COMMANDS[only].startswith("statuswatch.cli_policy:"):
        from statuswatch.cli_policy import add_commands

        add_commands(command, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(named_command(words))
    args = parser.parse_args(words)
    for option, default in GLOBAL_DEFAULTS.items():
        if not hasattr(args, option):
            setattr(args, option, default)
    _configure_logging(args)
    handler = command_handler(args.command)
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


# Each command's module is imported only when that command runs: `check` is started by a
# timer every few minutes and should not pay for the others.
COMMANDS: dict[str, str] = {
    "check": "statuswatch.cli_check:cmd_check",
    "run": "statuswatch.cli_check:cmd_run",
    "export": "statuswatch.cli_check:cmd_export",
    "status": "statuswatch.cli_status:cmd_status",
    "services": "statuswatch.cli_services:cmd_services",
    "history": "statuswatch.cli_history:cmd_history",
    "replay": "statuswatch.cli_history:cmd_replay",
    "notify-test": "statuswatch.cli_outbox:cmd_notify_test",
    "outbox": "statuswatch.cli_outbox:cmd_outbox",
    "config": "statuswatch.cli_config:cmd_config",
    "store": "statuswatch.cli_store:cmd_store",
    "silence": "statuswatch.cli_policy:cmd_silence",
    "wait": "statuswatch.cli_policy:cmd_wait",
}


def command_handler(command: str) -> Callable[[argparse.Namespace], int]:
    module, _, function = COMMANDS[command].partition(":")
    handler: Callable[[argparse.Namespace], int] = getattr(
        importlib.import_module(module), function
    )
    return handler
