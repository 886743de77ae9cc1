"""`statuswatch config check`'s look at the live feed (issue 10, item 8): the watched
names are checked against each source's current feed when it can be reached, with the
same did-you-mean as `check`; when it cannot, that is said plainly and the rest of the
check still counts."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from statuswatch.cli_common import EXIT_OK, load

if TYPE_CHECKING:
    import httpx

    from statuswatch.config import Settings

#: A config check is interactive: it does not wait as long as a poll would.
LIVE_TIMEOUT = 5.0


@dataclass
class LiveCheck:
    problems: list[str] = field(default_factory=list)  # names not in a feed that answered
    notes: list[str] = field(default_factory=list)  # feeds that could not be asked


def check_names_live(settings: Settings) -> LiveCheck:
    from statuswatch.monitor import _missing_services, build_source
    from statuswatch.sources.apple import FeedFormatError, parse_feed
    from statuswatch.sources.client import new_client
    from statuswatch.sources.http import FetchError, Validators, display_url, fetch_body

    result = LiveCheck()

    async def one(client: httpx.AsyncClient, config: object) -> None:
        source = build_source(config)  # type: ignore[arg-type]
        shown = display_url(source.url)
        try:
            fetched = await fetch_body(
                client,
                source.url,
                Validators(),
                timeout=min(settings.timeout, LIVE_TIMEOUT),
                max_bytes=settings.max_body_bytes,
                retries=0,
            )
            if fetched.body is None:
                raise FetchError("it answered 304 Not Modified to a plain request")
            snapshot = parse_feed(fetched.body)
        except (FetchError, FeedFormatError) as error:
            result.notes.append(
                f"could not check the watched names of source {config.name!r} against "  # type: ignore[attr-defined]
                f"its feed ({shown}: {error}); `statuswatch check` checks them when it can"
            )
            return
        result.problems.extend(_missing_services(config, snapshot))  # type: ignore[arg-type]

    async def run() -> None:
        async with new_client() as client:
            await asyncio.gather(*(one(client, config) for config in settings.sources))

    asyncio.run(run())
    return result


def cmd_config(args: argparse.Namespace) -> int:
    from statuswatch.config import find_config_file

    path = find_config_file(args.config)
    settings = load(args)
    if args.action == "check":
        from statuswatch.notify.deliver import validate_subscribers

        validate_subscribers(settings)
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
    from statuswatch.config_show import public_view

    print(f"# resolved from {path or 'built-in defaults'} and STATUSWATCH_* variables")
    print(public_view(settings))
    if settings.database is None and settings.database_file is None and not settings.state_dir:
        from statuswatch.store import default_state_dir

        # Not set anywhere: say which directory commands will use here and now.
        print(f"# state directory in effect: {default_state_dir()}")
    return EXIT_OK
