"""Fetching a feed over HTTP: conditional GET, a size cap, bounded retries.

Every httpx failure is mapped here, in one place, to a FetchError whose message is one
sentence a person can act on.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

from statuswatch import __version__

if TYPE_CHECKING:
    import httpx

USER_AGENT = (
    f"statuswatch/{__version__} (watches Apple system status; "
    "https://pypi.org/project/statuswatch/)"
)
DEFAULT_MAX_BYTES = 2 * 1024 * 1024
RETRIES = 2


class Validators(NamedTuple):
    """HTTP cache validators from the last 200 response, for a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


class FetchResult(NamedTuple):
    """A 200 with its body, or a 304 (`body` is None: reuse the last snapshot)."""

    body: bytes | None
    validators: Validators
    status_code: int

    @property
    def not_modified(self) -> bool:
        return self.body is None


class FetchError(Exception):
    """The feed could not be fetched. `str()` is one sentence; `retry_after` in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Retryable(Exception):
    def __init__(self, error: FetchError) -> None:
        self.error = error


def display_url(url: str) -> str:
    """The URL without any user:password part, safe to show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return parts._replace(netloc=host).geturl()


async def fetch_body(
    client: httpx.AsyncClient,
    url: str,
    validators: Validators,
    *,
    timeout: float = 10.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    retries: int = RETRIES,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    jitter: Callable[[], float] = random.random,
) -> FetchResult:
    """GET `url` with the stored validators; retry connection errors and 5xx, never 4xx.

    The whole attempt, slow trickles included, is bounded by three times `timeout`.
    """
    attempt = 0
    while True:
        try:
            async with asyncio.timeout(timeout * 3):
                return await _fetch_once(client, url, validators, timeout, max_bytes)
        except TimeoutError:
            error = _Retryable(
                FetchError(f"{_host(url)} did not finish sending the feed within {timeout * 3:g} s")
            )
        except _Retryable as retryable:
            error = retryable
        # A server that names its own Retry-After is not hammered again within seconds:
        # the caller (the daemon's back-off, the next timer run) waits as it asks.
        if attempt >= retries or error.error.retry_after is not None:
            raise error.error
        attempt += 1
        await sleep(attempt * (0.5 + jitter()))


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


async def _fetch_once(
    client: httpx.AsyncClient,
    url: str,
    validators: Validators,
    timeout: float,
    max_bytes: int,
) -> FetchResult:
    import httpx

    headers = {"User-Agent": USER_AGENT, "Accept": "application/json, text/javascript, */*"}
    if validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    try:
        async with client.stream(
            "GET", url, headers=headers, timeout=httpx.Timeout(timeout)
        ) as response:
            if response.status_code == 304:
                # Read the (empty) rest of the answer: a response left unread closes its
                # connection, and the next poll would pay for a new one.
                await response.aread()
                return FetchResult(body=None, validators=validators, status_code=304)
            if response.status_code >= 400:
                raise _status_error(url, response)
            if response.status_code != 200:
                raise FetchError(
                    f"{_host(url)} answered HTTP {response.status_code} "
                    f"{response.reason_phrase} instead of the feed"
                )
            body = await _read_capped(url, response, max_bytes)
            return FetchResult(
                body=body,
                validators=Validators(
                    etag=response.headers.get("etag"),
                    last_modified=response.headers.get("last-modified"),
                ),
                status_code=200,
            )
    except httpx.TimeoutException:
        raise _Retryable(
            FetchError(f"{_host(url)} did not answer within {timeout:g} s (timed out)")
        ) from None
    except httpx.ConnectError as error:
        raise _Retryable(FetchError(_connect_reason(url, error))) from None
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
        raise _Retryable(
            FetchError(f"the connection to {_host(url)} was cut before the feed was complete")
        ) from None
    except httpx.UnsupportedProtocol:
        raise FetchError(
            f"the feed URL {display_url(url)!r} is not an http:// or https:// URL"
        ) from None
    except httpx.HTTPError as error:
        raise FetchError(
            f"fetching the feed from {_host(url)} failed: {type(error).__name__}"
        ) from None


def _connect_reason(url: str, error: Exception) -> str:
    # httpx wraps the OS error twice (anyio's "All connection attempts failed" hides the
    # ConnectionRefusedError, whose own text is "Connect call failed"): read the chain.
    causes = _causes(error)
    text = " ".join(str(cause) for cause in causes).lower()
    if any(isinstance(cause, ConnectionRefusedError) for cause in causes):
        text += " refused"
    host = _host(url)
    if any(
        marker in text
        for marker in ("name or service not known", "nodename", "name resolution", "getaddrinfo")
    ):
        return f"could not look up {host} (DNS failed; is the network up?)"
    if "refused" in text:
        return f"{host} refused the connection (nothing is listening there)"
    detail = " ".join(str(error).split())[:120]  # one line, whatever the library said
    if "certificate" in text or "ssl" in text:
        return f"the TLS connection to {host} failed ({detail})"
    return f"could not connect to {host} ({detail or type(error).__name__})"


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < 8:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _status_error(url: str, response: httpx.Response) -> Exception:
    message = (
        f"{_host(url)} answered HTTP {response.status_code} {response.reason_phrase} "
        f"for {display_url(url)}"
    )
    retry_after = _retry_after(response.headers.get("retry-after"))
    error = FetchError(message, retry_after=retry_after)
    return _Retryable(error) if response.status_code >= 500 else error


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        from datetime import UTC, datetime

        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


async def _read_capped(url: str, response: httpx.Response, max_bytes: int) -> bytes:
    too_big = FetchError(
        f"the feed from {_host(url)} is larger than {max_bytes:,} bytes; refused "
        "(raise max_body_bytes if this is expected)"
    )
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)
