"""DESIGN §4a heartbeat: a dead-man's switch for statuswatch itself (healthchecks.io style).

After every cycle, `[heartbeat] url` is requested when every source answered and
`fail_url` (if set) when one did not, so the service at the other end alerts when
statuswatch stops running or stops reading the feed. A heartbeat that fails is a
warning in the log, never a failed cycle, and costs the cycle at most its `timeout`.
The URLs carry the check's secret: they are masked in every message and log line.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from statuswatch.secrets import Redactor, mask_url, redact_logs

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("statuswatch.heartbeat")


def heartbeat_url(config: Any, ok: bool) -> str | None:
    """Which URL a cycle pings: `url` after a good cycle, `fail_url` after a bad one."""
    if config is None:
        return None
    return config.url if ok else config.fail_url


async def ping(client: httpx.AsyncClient, config: Any, ok: bool) -> str | None:
    """Request the heartbeat URL for this cycle; returns the warning logged, if any."""
    url = heartbeat_url(config, ok)
    if url is None:
        return None
    redact_logs([url])  # httpx logs the URL of each request it makes
    redactor = Redactor([url])
    shown = mask_url(url)
    timeout = float(config.timeout)
    try:
        # wait_for as well as httpx's own timeouts: a server that trickles its answer
        # byte by byte must not hold the cycle past `timeout` either.
        response = await asyncio.wait_for(
            client.get(url, timeout=timeout, follow_redirects=True), timeout
        )
    except TimeoutError:
        problem = f"no answer within {timeout:g}s"
    except Exception as error:  # any transport failure: a warning, never the cycle's end
        problem = redactor(type(error).__name__ + (f": {error}" if str(error) else ""))
    else:
        if response.status_code < 400:
            log.debug("heartbeat %s: %d", shown, response.status_code)
            return None
        problem = f"HTTP {response.status_code}"
    warning = f"heartbeat {shown} failed ({problem}); the cycle itself went fine"
    log.warning("%s", redactor(warning))
    return redactor(warning)
