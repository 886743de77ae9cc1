"""`statuswatch wait SERVICE` (DESIGN §4b): poll until one service is confirmed available.

Its state lives in memory only: no state directory is opened, created or written, so
`statuswatch wait "iCloud Backup" && retry-my-backup` works anywhere, as any user. The
rules are the daemon's (evaluate.py; `confirm` consecutive successful polls; a poll
without data neither counts nor breaks the streak).
"""

from __future__ import annotations

import asyncio
import difflib
import ipaddress
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO
from urllib.parse import urlsplit

from statuswatch.evaluate import observe
from statuswatch.model import State, from_epoch_ms, to_epoch_ms
from statuswatch.notify.timefmt import format_duration, format_moment, zone_or_utc
from statuswatch.sources.apple import FeedFormatError, parse_feed
from statuswatch.sources.http import FetchError, Validators, display_url, fetch_body

APPLE_MIN_INTERVAL = 30.0


class WaitUsageError(ValueError):
    """A wrong argument of `wait`: exit 2 with this sentence."""


def is_local(url: str) -> bool:
    """A loopback URL (a test server, a local mirror): any interval is fine there."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_interval(interval: float, url: str) -> None:
    if interval <= 0:
        raise WaitUsageError("--interval must be more than 0s")
    if interval < APPLE_MIN_INTERVAL and not is_local(url):
        raise WaitUsageError(
            f"--interval {interval:g}s is too short for {display_url(url)}; use 30s or more "
            "(shorter intervals are allowed only for a URL on this machine)"
        )


@dataclass(slots=True)
class Waiting:
    """What `wait` knows between polls."""

    service: str
    state: State = State.UNKNOWN
    since: datetime | None = None
    streak: int = 0
    error: str | None = None
    seen_unavailable: bool = False  # available at first sight needs no confirming


@dataclass(frozen=True, slots=True)
class Outcome:
    available: bool
    line: str


class Waiter:
    def __init__(
        self,
        service: str,
        url: str,
        *,
        interval: float,
        timeout: float | None,
        confirm: int,
        fetch_timeout: float,
        max_bytes: int,
        zone_name: str,
        clock: Callable[[], datetime],
        out: TextIO | None = None,
    ) -> None:
        self.url = url
        self.interval = interval
        self.timeout = timeout
        self.confirm = confirm
        self.fetch_timeout = fetch_timeout
        self.max_bytes = max_bytes
        self.zone = zone_or_utc(zone_name)
        self.clock = clock
        self.out = out or sys.stderr
        self.tty = self.out.isatty()
        self.now = Waiting(service)
        self._last_plain: tuple[State, str | None] | None = None

    async def run(self, client: Any) -> Outcome:
        """Poll until available (Outcome.available) or the timeout (not available)."""
        started = time.monotonic()
        while True:
            await self._poll(client)
            if self.now.state == State.AVAILABLE and (
                self.now.streak >= self.confirm or not self.now.seen_unavailable
            ):
                self._finish()
                return Outcome(True, f"{self.now.service} is available")
            remaining = None
            if self.timeout is not None:
                remaining = self.timeout - (time.monotonic() - started)
                if remaining <= 0:
                    self._finish()
                    return Outcome(False, self._timeout_line())
            pause = self.interval if remaining is None else min(self.interval, remaining)
            self._show(datetime.now(UTC) + timedelta(seconds=pause))
            await asyncio.sleep(pause)

    async def _poll(self, client: Any) -> None:
        try:
            result = await fetch_body(
                client,
                self.url,
                Validators(),
                timeout=self.fetch_timeout,
                max_bytes=self.max_bytes,
            )
            if result.body is None:
                raise FetchError(f"{display_url(self.url)} answered 304 to a plain request")
            snapshot = parse_feed(result.body)
        except (FetchError, FeedFormatError) as error:
            self.now.error = str(error)  # no data: neither counts nor breaks the streak
            return
        now = self.clock()
        names = {s.name.casefold(): s.name for s in snapshot.services}
        if self.now.service.casefold() not in names:
            close = difflib.get_close_matches(self.now.service.casefold(), list(names), n=1)
            hint = f"; did you mean {names[close[0]]!r}?" if close else ""
            raise WaitUsageError(
                f"{self.now.service!r} is not a service in the feed at "
                f"{display_url(self.url)}{hint} (`statuswatch services` lists them)"
            )
        (observation,) = observe(snapshot, [self.now.service], to_epoch_ms(now))
        self.now.service, self.now.error = observation.service, None
        if observation.state not in (State.AVAILABLE, State.UNKNOWN):
            self.now.seen_unavailable = True
        if observation.state != self.now.state:
            self.now.state, self.now.streak = observation.state, 0
            cause = observation.cause
            start = from_epoch_ms(cause.epoch_start_ms) if cause and cause.epoch_start_ms else None
            self.now.since = start if start is not None and start <= now else now
        self.now.streak += 1

    # -- what the person sees --------------------------------------------------------

    def _describe(self) -> str:
        state = self.now.state
        words = {
            State.UNKNOWN: "no data yet",
            State.AVAILABLE: "available, confirming",
            State.MAINTENANCE: "under maintenance",
            State.OUTAGE: "outage",
            State.ISSUE: "issue",
            State.PERFORMANCE: "degraded performance",
        }[state]
        text = f"{self.now.service}: {words}"
        if self.now.since is not None and state != State.UNKNOWN:
            lasted = format_duration(max(self.clock() - self.now.since, timedelta(0)))
            text += f" since {format_moment(self.now.since, self.zone)} ({lasted})"
        if self.now.error:
            text += f" · last poll failed: {self.now.error}"
        return text

    def _show(self, next_poll: datetime) -> None:
        if self.tty:
            line = f"Waiting for {self._describe()} · next poll {next_poll:%H:%M:%S} UTC"
            self.out.write("\r\x1b[2K" + line[:200])
            self.out.flush()
            return
        key = (self.now.state, self.now.error)
        if key != self._last_plain:
            self._last_plain = key
            print(f"{self.clock():%Y-%m-%dT%H:%M:%SZ} {self._describe()}", file=self.out)

    def _finish(self) -> None:
        if self.tty:
            self.out.write("\r\x1b[2K")
            self.out.flush()

    def _timeout_line(self) -> str:
        assert self.timeout is not None
        shown = format_duration(timedelta(seconds=self.timeout))
        return f"gave up waiting after {shown}: {self._describe()}"


async def wait_for(waiter: Waiter) -> Outcome:
    from statuswatch.sources.client import new_client

    async with new_client() as client:
        return await waiter.run(client)
