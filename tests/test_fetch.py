"""fetch_body against a real HTTP server on 127.0.0.1, and respx for faults it cannot make."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx

from statuswatch.sources.apple import parse_feed
from statuswatch.sources.http import (
    DEFAULT_MAX_BYTES,
    USER_AGENT,
    FetchError,
    FetchResult,
    Validators,
    fetch_body,
)
from tests.conftest import HISTORY

FEED = (HISTORY / "developer/2025-06-21T08-28-41Z.js").read_bytes()
ETAG = '"5f2b-63a1"'
LAST_MODIFIED = "Sat, 21 Jun 2025 08:28:41 GMT"
SECRET = "s3cr3t-pa55"


# --- a real local HTTP server ------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


Handler = Callable[[Request, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class FeedServer:
    """HTTP/1.1 on 127.0.0.1, one request per connection; `handler` writes the answer."""

    handler: Handler | None = None
    requests: list[Request] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    @property
    def port(self) -> int:
        return self._server.sockets[0].getsockname()[1]

    def url(self, path: str = "/feed.js", userinfo: str = "") -> str:
        return f"http://{userinfo}127.0.0.1:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            request_line, *lines = head.strip().split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            headers = {}
            for line in lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            request = Request(method, path, headers)
            self.requests.append(request)
            await self.handler(request, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._server.close()
        await self._server.wait_closed()

    async def send(
        self,
        writer: asyncio.StreamWriter,
        status: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        length: bool = True,
    ) -> None:
        lines = [f"HTTP/1.1 {status}", "Connection: close"]
        if length:
            lines.append(f"Content-Length: {len(body)}")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        writer.write(body)
        await writer.drain()

    async def stream(
        self,
        writer: asyncio.StreamWriter,
        total: int,
        *,
        declare: bool,
        then_stall: bool = False,
    ) -> None:
        """Send `total` bytes of body in 64 KiB pieces, chunked unless the size is declared."""
        head = ["HTTP/1.1 200 OK", "Connection: close", "Content-Type: application/json"]
        head.append(f"Content-Length: {total}" if declare else "Transfer-Encoding: chunked")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        piece = b"x" * 65536
        remaining = total
        while remaining > 0:
            data = piece[: min(remaining, len(piece))]
            writer.write(data if declare else b"%x\r\n%s\r\n" % (len(data), data))
            await writer.drain()
            remaining -= len(data)
        if then_stall:
            await asyncio.Event().wait()
        if not declare:
            writer.write(b"0\r\n\r\n")
            await writer.drain()


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    feed_server = FeedServer()
    await feed_server.start()
    try:
        yield feed_server
    finally:
        await feed_server.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http_client:
        yield http_client


@dataclass
class FakeSleep:
    delays: list[float] = field(default_factory=list)

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@dataclass
class FakeJitter:
    value: float = 0.25
    calls: int = 0

    def __call__(self) -> float:
        self.calls += 1
        return self.value


def one_line(error: FetchError) -> str:
    message = str(error)
    assert message and "\n" not in message and "\r" not in message
    assert SECRET not in message and "user:" not in message
    return message


async def fetch(client: httpx.AsyncClient, url: str, **options) -> tuple[FetchResult, FakeSleep]:
    sleep = options.pop("sleep", FakeSleep())
    validators = options.pop("validators", Validators())
    result = await fetch_body(client, url, validators, sleep=sleep, **options)
    return result, sleep


async def fetch_error(
    client: httpx.AsyncClient, url: str, **options
) -> tuple[FetchError, FakeSleep]:
    sleep = options.pop("sleep", FakeSleep())
    with pytest.raises(FetchError) as caught:
        await fetch_body(
            client, url, options.pop("validators", Validators()), sleep=sleep, **options
        )
    one_line(caught.value)
    return caught.value, sleep


# --- real server: success paths --------------------------------------------------


async def test_200_returns_the_jsonp_body_and_its_validators(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        headers = {"ETag": ETAG, "Last-Modified": LAST_MODIFIED, "Content-Type": "text/javascript"}
        await server.send(writer, "200 OK", FEED, headers)

    server.handler = handler
    result, sleep = await fetch(client, server.url())
    assert result.status_code == 200
    assert not result.not_modified
    assert result.body == FEED
    assert result.validators == Validators(etag=ETAG, last_modified=LAST_MODIFIED)
    assert len(parse_feed(result.body).services) == 48
    assert sleep.delays == []
    (request,) = server.requests
    assert request.method == "GET" and request.path == "/feed.js"
    assert request.headers["user-agent"] == USER_AGENT
    assert request.headers["user-agent"].startswith("statuswatch/")
    assert "if-none-match" not in request.headers
    assert "if-modified-since" not in request.headers


async def test_conditional_get_gets_304_and_keeps_the_validators(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        if (
            request.headers.get("if-none-match") == ETAG
            or request.headers.get("if-modified-since") == LAST_MODIFIED
        ):
            await server.send(writer, "304 Not Modified", length=False)
        else:
            headers = {"ETag": ETAG, "Last-Modified": LAST_MODIFIED}
            await server.send(writer, "200 OK", FEED, headers)

    server.handler = handler
    first, _ = await fetch(client, server.url())
    second, _ = await fetch(client, server.url(), validators=first.validators)
    assert second.status_code == 304
    assert second.not_modified and second.body is None
    assert second.validators == first.validators
    assert server.requests[1].headers["if-none-match"] == ETAG
    assert server.requests[1].headers["if-modified-since"] == LAST_MODIFIED

    only_date, _ = await fetch(
        client, server.url(), validators=Validators(last_modified=LAST_MODIFIED)
    )
    assert only_date.not_modified
    assert "if-none-match" not in server.requests[2].headers


async def test_500_then_200_is_retried(server: FeedServer, client: httpx.AsyncClient) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        if len(server.requests) == 1:
            await server.send(writer, "500 Internal Server Error", b"oops")
        else:
            await server.send(writer, "200 OK", FEED)

    server.handler = handler
    jitter = FakeJitter(0.1)
    result, sleep = await fetch(client, server.url(), jitter=jitter)
    assert result.body == FEED
    assert len(server.requests) == 2
    assert sleep.delays == [pytest.approx(0.6)]
    assert jitter.calls == 1


# --- real server: failures ---------------------------------------------------------


async def test_404_is_not_retried(server: FeedServer, client: httpx.AsyncClient) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await server.send(writer, "404 Not Found", b"<html>Not Found</html>")

    server.handler = handler
    url = server.url("/wrong.js", userinfo=f"user:{SECRET}@")
    error, sleep = await fetch_error(client, url)
    message = str(error)
    assert "404" in message and "127.0.0.1" in message and "/wrong.js" in message
    assert len(server.requests) == 1
    assert sleep.delays == []


async def test_500_every_time_gives_up_after_two_retries(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await server.send(writer, "500 Internal Server Error", b"oops")

    server.handler = handler
    jitter = FakeJitter(0.25)
    error, sleep = await fetch_error(client, server.url(userinfo=f"user:{SECRET}@"), jitter=jitter)
    assert "500" in str(error)
    assert len(server.requests) == 3
    assert sleep.delays == [pytest.approx(0.75), pytest.approx(1.5)]
    assert jitter.calls == 2


@pytest.mark.parametrize("declare", [True, False], ids=["content-length", "chunked"])
async def test_oversize_body_is_refused(
    server: FeedServer, client: httpx.AsyncClient, declare: bool
) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await server.stream(writer, 5 * 1024 * 1024, declare=declare)

    server.handler = handler
    error, sleep = await fetch_error(client, server.url(userinfo=f"user:{SECRET}@"))
    assert f"larger than {DEFAULT_MAX_BYTES:,} bytes" in str(error)
    assert len(server.requests) == 1  # not retried
    assert sleep.delays == []


async def test_cap_is_enforced_while_streaming_not_after(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    # 3 MB then the server stalls without ending the body: only a client that counts the
    # bytes as they arrive can fail on size; one that reads it whole would time out.
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await server.stream(writer, 3 * 1024 * 1024, declare=False, then_stall=True)

    server.handler = handler
    error, _ = await fetch_error(client, server.url(), timeout=2.0, max_bytes=1024 * 1024)
    assert "larger than 1,048,576 bytes" in str(error)


async def test_declared_oversize_is_refused_before_the_body_arrives(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    # Content-Length says 5 MB and then nothing comes: refusing on the header alone is
    # the only way to fail on size here rather than time out.
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5242880\r\n\r\n")
        await writer.drain()
        await asyncio.Event().wait()

    server.handler = handler
    error, _ = await fetch_error(client, server.url(), timeout=2.0)
    assert f"larger than {DEFAULT_MAX_BYTES:,} bytes" in str(error)


async def test_a_body_right_at_the_cap_is_accepted(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await server.stream(writer, 100_000, declare=False)

    server.handler = handler
    result, _ = await fetch(client, server.url(), max_bytes=100_000)
    assert len(result.body) == 100_000


async def test_stalled_server_times_out(server: FeedServer, client: httpx.AsyncClient) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await asyncio.Event().wait()  # read the request, never answer

    server.handler = handler
    loop = asyncio.get_running_loop()
    started = loop.time()
    error, sleep = await fetch_error(
        client, server.url(userinfo=f"user:{SECRET}@"), timeout=0.2, retries=1
    )
    assert "did not answer within 0.2 s" in str(error)
    assert "timed out" in str(error)
    assert len(server.requests) == 2
    assert len(sleep.delays) == 1
    assert loop.time() - started < 2.0


async def test_trickling_server_is_bounded_by_the_whole_attempt(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(1000):  # one byte every 50 ms: never idle long enough to time out
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.05)

    server.handler = handler
    error, _ = await fetch_error(client, server.url(), timeout=0.2, retries=0)
    assert "did not finish sending the feed within 0.6 s" in str(error)


async def test_connection_refused(client: httpx.AsyncClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    jitter = FakeJitter(0.0)
    url = f"http://user:{SECRET}@127.0.0.1:{port}/feed.js"
    error, sleep = await fetch_error(client, url, jitter=jitter)
    assert str(error) == "127.0.0.1 refused the connection (nothing is listening there)"
    assert sleep.delays == [pytest.approx(0.5), pytest.approx(1.0)]


# --- respx: faults a real server cannot easily produce -----------------------------

APPLE = "https://www.apple.com/support/systemstatus/data/system_status_en_US.js"
APPLE_WITH_SECRET = APPLE.replace("https://", f"https://user:{SECRET}@")


async def respx_error(
    side_effect: object, url: str = APPLE, **options
) -> tuple[FetchError, respx.Route, FakeSleep, FakeJitter]:
    jitter = options.pop("jitter", FakeJitter())
    with respx.mock(assert_all_mocked=True) as router:
        route = router.route().mock(side_effect=side_effect)
        async with httpx.AsyncClient() as http_client:
            error, sleep = await fetch_error(http_client, url, jitter=jitter, **options)
    return error, route, sleep, jitter


@pytest.mark.parametrize(
    "text",
    ["[Errno -2] Name or service not known", "[Errno -3] Temporary failure in name resolution"],
)
async def test_dns_failure(text: str) -> None:
    error, route, sleep, jitter = await respx_error(httpx.ConnectError(text), APPLE_WITH_SECRET)
    assert str(error) == "could not look up www.apple.com (DNS failed; is the network up?)"
    assert route.call_count == 3  # one try and at most two retries
    assert sleep.delays == [pytest.approx(0.75), pytest.approx(1.5)]
    assert jitter.calls == 2


@pytest.mark.parametrize(
    "fault",
    [
        httpx.ReadError("[Errno 104] Connection reset by peer"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
    ],
    ids=["read-error", "remote-protocol-error"],
)
async def test_connection_reset(fault: Exception) -> None:
    error, route, sleep, _ = await respx_error(fault, APPLE_WITH_SECRET)
    assert "connection to www.apple.com was cut" in str(error)
    assert route.call_count == 3
    assert len(sleep.delays) == 2


async def test_read_timeout() -> None:
    error, route, _, _ = await respx_error(httpx.ReadTimeout("timed out"), timeout=5)
    assert str(error) == "www.apple.com did not answer within 5 s (timed out)"
    assert route.call_count == 3


async def test_503_with_retry_after_is_not_retried_within_the_fetch() -> None:
    # The server asked for 120 s: the caller's back-off honours it, the fetch does not
    # come back after 1 s.
    response = httpx.Response(503, headers={"Retry-After": "120"}, text="busy")
    error, route, sleep, _ = await respx_error(response, APPLE_WITH_SECRET)
    assert error.retry_after == 120.0
    assert "503" in str(error) and "Service Unavailable" in str(error)
    assert "www.apple.com/support/systemstatus" in str(error)
    assert route.call_count == 1
    assert sleep.delays == []


async def test_503_with_retry_after_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    response = httpx.Response(503, headers={"Retry-After": when})
    error, *_ = await respx_error(response, retries=0)
    assert 3500 <= error.retry_after <= 3600


@pytest.mark.parametrize("value", ["soon", ""])
async def test_503_with_unreadable_retry_after(value: str) -> None:
    error, *_ = await respx_error(httpx.Response(503, headers={"Retry-After": value}), retries=0)
    assert error.retry_after is None


async def test_retries_zero_means_one_request_and_no_sleep() -> None:
    error, route, sleep, jitter = await respx_error(httpx.ConnectError("boom"), retries=0)
    assert route.call_count == 1
    assert sleep.delays == [] and jitter.calls == 0
    assert str(error) == "could not connect to www.apple.com (boom)"


@pytest.mark.parametrize("status", [400, 403, 410, 429])
async def test_client_errors_are_not_retried(status: int) -> None:
    error, route, sleep, _ = await respx_error(httpx.Response(status), APPLE_WITH_SECRET)
    assert str(status) in str(error)
    assert route.call_count == 1
    assert sleep.delays == []


async def test_redirect_is_not_taken_as_the_feed() -> None:
    response = httpx.Response(301, headers={"Location": "https://evil.example/"})
    error, route, _, _ = await respx_error(response)
    assert "HTTP 301" in str(error)
    assert route.call_count == 1


async def test_tls_failure_message_is_one_line() -> None:
    fault = httpx.ConnectError(
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed:\nunable to get issuer"
    )
    error, *_ = await respx_error(fault, retries=0)
    assert str(error).startswith("the TLS connection to www.apple.com failed")


async def test_multi_line_library_text_becomes_one_line() -> None:
    error, *_ = await respx_error(httpx.ConnectError("line one\nline two\r\n"), retries=0)
    assert str(error) == "could not connect to www.apple.com (line one line two)"


async def test_success_after_two_faults() -> None:
    with respx.mock() as router:
        route = router.route().mock(
            side_effect=[
                httpx.ConnectError("boom"),
                httpx.Response(502),
                httpx.Response(200, content=FEED),
            ]
        )
        async with httpx.AsyncClient() as http_client:
            result, sleep = await fetch(http_client, APPLE, jitter=FakeJitter())
    assert result.body == FEED
    assert route.call_count == 3
    assert len(sleep.delays) == 2
    assert route.calls[0].request.headers["User-Agent"] == USER_AGENT


async def test_unsupported_scheme() -> None:
    async with httpx.AsyncClient() as http_client:
        error, sleep = await fetch_error(http_client, f"ftp://user:{SECRET}@example.com/feed")
    assert "not an http:// or https:// URL" in str(error)
    assert sleep.delays == []
