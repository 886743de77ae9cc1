"""`statuswatch config check`'s look at the live feed (issue 10, item 8): the watched
names are checked against each source's current feed when it can be reached, with the
same did-you-mean as `check`; when it cannot, that is said plainly and the rest of the
check still counts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from statuswatch.config import Settings

#: A config check is interactive: it does not wait as long as a poll would.
LIVE_TIMEOUT = 5.0


@dataclass
class LiveCheck:
    problems: list[str] = field(default_factory=list)  # names not in a feed that answered
    notes: list[str] = field(default_factory=list)  # feeds that could not be asked


def check_names_live(settings: Settings) -> LiveCheck:
    import httpx

    from statuswatch.monitor import _missing_services, build_source
    from statuswatch.sources.apple import FeedFormatError, parse_feed
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
        async with httpx.AsyncClient(follow_redirects=True) as client:
            await asyncio.gather(*(one(client, config) for config in settings.sources))

    asyncio.run(run())
    return result
