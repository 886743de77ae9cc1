"""`statuswatch services`: the service names of the configured feeds, with their state now.

It is what someone choosing names for `services = [...]` wants to see, so it reads the
sources of the config (their `url`, `feed` and `locale`: a mirror is asked, not Apple);
`--feed`, `--locale` or `--url` ask that one feed instead. It fetches without stored
validators and writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from statuswatch.cli_common import load

if TYPE_CHECKING:
    import httpx

    from statuswatch.config import Settings, SourceConfig
    from statuswatch.model import Snapshot


@dataclass(frozen=True, slots=True)
class Listing:
    """One feed's answer: its services and their state, or why there is none."""

    source: SourceConfig
    url: str
    rows: list[tuple[str, str]]  # (service name, state now)
    error: str | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--feed",
        choices=["consumer", "developer"],
        default=None,
        help="ask Apple's consumer or developer feed instead of the configured sources",
    )
    parser.add_argument(
        "--locale", default=None, help="with --feed (or alone): e.g. ja_JP (default: en_US)"
    )
    parser.add_argument("--url", default=None, help="fetch this feed URL instead")
    parser.add_argument("--json", action="store_true", help="one JSON object per service")


def sources_to_list(settings: Settings, args: argparse.Namespace) -> list[SourceConfig]:
    """The configured sources, or the one feed that the command line names."""
    from statuswatch.config import SourceConfig

    if args.url is None and args.feed is None and args.locale is None:
        return list(settings.sources)
    first = settings.sources[0] if settings.sources else SourceConfig()
    return [
        SourceConfig(
            name="command line" if args.url or args.feed else first.name,
            feed=args.feed or first.feed,
            locale=args.locale or first.locale,
            # --feed/--locale name Apple's feed; they replace a configured mirror too.
            url=args.url,
            services=["*"],
        )
    ]


async def _fetch_all(settings: Settings, sources: list[SourceConfig], now_ms: int) -> list[Listing]:
    from statuswatch.monitor import build_source
    from statuswatch.sources.apple import FeedFormatError
    from statuswatch.sources.client import new_client
    from statuswatch.sources.http import FetchError, Validators, display_url

    async def one(client: httpx.AsyncClient, config: SourceConfig) -> Listing:
        source = build_source(config)
        shown = display_url(source.url)
        try:
            result = await source.fetch(
                client, Validators(), timeout=settings.timeout, max_bytes=settings.max_body_bytes
            )
            if result.body is None:
                raise FetchError(f"{shown} answered 304 Not Modified to a plain request")
            snapshot = source.parse(result.body)
        except FetchError as error:
            return Listing(config, shown, [], str(error))
        except FeedFormatError as error:
            return Listing(config, shown, [], f"the feed is unusable: {error}")
        return Listing(config, shown, _rows(snapshot, now_ms))

    async with new_client() as client:
        return list(await asyncio.gather(*(one(client, config) for config in sources)))


def _rows(snapshot: Snapshot, now_ms: int) -> list[tuple[str, str]]:
    from statuswatch.evaluate import observe_service

    return [
        (service.name, str(observe_service(service, now_ms).state)) for service in snapshot.services
    ]


def render(listings: list[Listing]) -> list[str]:
    """Human lines: a heading per feed, then one line per service (watched ones marked)."""
    from statuswatch.output import service_line

    lines: list[str] = []
    for listing in listings:
        if listing.error is not None:
            continue
        watched = set(listing.source.services)
        lines.append(f"# {listing.source.name}: {listing.url} ({len(listing.rows)} services)")
        width = max([len(name) for name, _ in listing.rows] + [20])
        for name, state in listing.rows:
            mark = "watched" if name in watched else ""
            lines.append(service_line(name, state, mark, width))
    return lines


def list_services(args: argparse.Namespace, settings: Settings, now_ms: int) -> int:
    from statuswatch.output import dumps

    listings = asyncio.run(_fetch_all(settings, sources_to_list(settings, args), now_ms))
    out: Any = sys.stdout
    if args.json:
        for listing in listings:
            for name, state in listing.rows:
                out.write(
                    dumps(
                        {
                            "source": listing.source.name,
                            "name": name,
                            "state": state,
                            "watched": name in listing.source.services,
                        }
                    )
                    + "\n"
                )
    else:
        lines = render(listings)
        if lines:
            out.write("\n".join(lines) + "\n")
    failed = [listing for listing in listings if listing.error is not None]
    for listing in failed:
        print(f"statuswatch: {listing.source.name}: {listing.error}", file=sys.stderr)
    return 69 if failed else 0


def cmd_services(args: argparse.Namespace) -> int:
    from statuswatch.clock import system_clock

    settings = load(args)
    return list_services(args, settings, int(system_clock()().timestamp() * 1000))
