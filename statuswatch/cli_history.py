"""`statuswatch history` (the recorded transitions) and `replay` (the rules run over saved
snapshots, nothing recorded)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from statuswatch.cli_common import (
    EXIT_OK,
    UsageError,
    emit,
    load,
    open_store,
)

if TYPE_CHECKING:
    pass


def cmd_history(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from statuswatch import output
    from statuswatch.clock import system_clock
    from statuswatch.settings_view import parse_duration

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
