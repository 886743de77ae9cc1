"""Real local peers for tests that talk to statuswatch over the network: one HTTP server
(a feed to poll and a webhook sink to deliver to) and one SMTP server (aiosmtpd).

``FeedServer`` is a real HTTP server on 127.0.0.1.

It runs in a background thread (``http.server.ThreadingHTTPServer``) on an ephemeral
port, so a ``statuswatch`` subprocess can poll it like it polls Apple. The test changes
what it serves between requests and reads back what it was sent::

    with FeedServer() as server:
        server.set_body(feed_bytes)                  # 200 with this body, ETag computed
        url = server.url("/feed.json")               # http://127.0.0.1:PORT/feed.json
        ...                                          # run statuswatch against `url`
        server.set_status(500)                       # now every answer is a 500
        assert server.request_count == 1
        assert server.last_request.headers["User-Agent"].startswith("statuswatch/")

Also usable as a sink for webhooks and other deliveries: every request (GET, HEAD, POST,
PUT, PATCH, DELETE) is recorded with its method, path, headers and body in
``server.requests``, and answered with the configured status, headers and body.

What it can serve (all thread-safe; a change applies to the next request):

- ``set_body(bytes, content_type=...)``: the body of a normal answer.
- ``set_status(code)``: the status of a normal answer (default 200). A 304 is sent only
  by the conditional-GET logic below, or if you set 304 yourself.
- ``set_headers({...})``: extra response headers (e.g. ``Retry-After``).
- ETag (on by default): each body gets a strong ETag derived from its bytes; a GET or
  HEAD whose ``If-None-Match`` matches it is answered ``304 Not Modified`` with no body.
  ``set_etag("...")`` fixes the value, ``set_etag(None)`` turns ETags off.
- ``set_last_modified("Sat, 21 Jun 2025 08:28:41 GMT")``: sends Last-Modified and answers
  304 to an equal ``If-Modified-Since`` (when no ETag decided already).
- ``set_delay(seconds)``: sleep before answering (a stalled server).
- ``set_truncate(n)``: announce the full Content-Length but send only the first ``n``
  bytes of the body, then close the connection (a download cut by the network).

``responses`` records the status actually sent for each request, in order
(``server.responses[-1] == 304`` after a conditional GET that matched).

As a webhook sink, requests other than GET/HEAD (POST, PUT, ...) are answered on their own
terms, so a test can slow or fail deliveries without touching the feed::

    server.fail_next(2)              # the next 2 POSTs get a 500
    server.set_post_status(500)      # every POST gets a 500 (default: as set_status)
    server.set_post_delay(3.0)       # POSTs wait 3 s before answering (default: as set_delay)
    assert len(server.accepted("/hook")) == 1      # POSTs answered 2xx, to that path
    server.wait_for_posts(1)
    server.feed_requests                           # how many GET/HEAD it answered

``SmtpSink`` is an aiosmtpd server on 127.0.0.1 (no TLS, no login) that records every mail.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import pytest
from aiosmtpd.controller import Controller

AUTO = "auto"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]  # header names as sent; look up case-insensitively via header()
    body: bytes
    status: int = 0  # the status it was answered with
    received_at: float = 0.0  # time.monotonic() when the request was read

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


@dataclass
class _Config:
    body: bytes = b""
    content_type: str = "application/json"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = AUTO
    last_modified: str | None = None
    delay: float = 0.0
    truncate: int | None = None
    post_status: int | None = None  # None: the same as `status`
    post_delay: float | None = None  # None: the same as `delay`
    failures_left: int = 0


class PeerHTTPServer(ThreadingHTTPServer):
    """A client hanging up mid-answer (a cut, a timeout) is part of what the tests do. The
    traceback socketserver prints for it goes to the process's real stderr: statuswatch may
    be running in this process at that moment (tests/inprocess.py) with sys.stderr pointing
    at its own captured output, which must hold only statuswatch's words."""

    def handle_error(self, request: object, client_address: object) -> None:
        import traceback

        print(f"peer: error answering {client_address}", file=sys.__stderr__)
        traceback.print_exc(file=sys.__stderr__)


class FeedServer:
    """A configurable HTTP server on 127.0.0.1; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._lock = threading.Lock()
        self._config = _Config()
        self._requests: list[RecordedRequest] = []
        self._responses: list[int] = []
        self._httpd = PeerHTTPServer((host, 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # stop() must not wait for a stalled answer
        self._thread: threading.Thread | None = None

    # -- life cycle --------------------------------------------------------------------

    def start(self) -> FeedServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"feedserver-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket: the port then refuses connections."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- where ---------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, path: str = "/feed.json") -> str:
        if not path.startswith("/"):
            path = "/" + path
        return f"http://{self.host}:{self.port}{path}"

    # -- what to answer ------------------------------------------------------------------

    def set_body(self, body: bytes, *, content_type: str | None = None) -> None:
        with self._lock:
            self._config.body = body
            if content_type is not None:
                self._config.content_type = content_type

    def set_status(self, status: int) -> None:
        with self._lock:
            self._config.status = status

    def set_headers(self, headers: Mapping[str, str]) -> None:
        """Extra headers sent with every answer (replaces the previous extra headers)."""
        with self._lock:
            self._config.headers = dict(headers)

    def set_etag(self, etag: str | None = AUTO) -> None:
        """`"auto"` (default): derived from the body; a string: that value; None: no ETag."""
        with self._lock:
            self._config.etag = etag

    def set_last_modified(self, value: str | None) -> None:
        with self._lock:
            self._config.last_modified = value

    def set_delay(self, seconds: float) -> None:
        with self._lock:
            self._config.delay = seconds

    def set_truncate(self, length: int | None) -> None:
        with self._lock:
            self._config.truncate = length

    def set_post_status(self, status: int | None) -> None:
        """The status of answers to POST/PUT/PATCH/DELETE (None: the same as set_status)."""
        with self._lock:
            self._config.post_status = status

    def set_post_delay(self, seconds: float | None) -> None:
        """Answer POST/PUT/PATCH/DELETE only after this long (a slow webhook)."""
        with self._lock:
            self._config.post_delay = seconds

    def fail_next(self, count: int) -> None:
        """Answer the next `count` POST/PUT/PATCH/DELETE requests with a 500."""
        with self._lock:
            self._config.failures_left = count

    # Attribute spellings of the setters above (the webhook sink's historical interface).
    @property
    def feed(self) -> bytes:
        with self._lock:
            return self._config.body

    @feed.setter
    def feed(self, body: bytes) -> None:
        self.set_body(body)

    @property
    def post_status(self) -> int | None:
        with self._lock:
            return self._config.post_status

    @post_status.setter
    def post_status(self, status: int | None) -> None:
        self.set_post_status(status)

    @property
    def delay(self) -> float | None:
        """How long deliveries (not feed GETs) wait for their answer."""
        with self._lock:
            return self._config.post_delay

    @delay.setter
    def delay(self, seconds: float | None) -> None:
        self.set_post_delay(seconds)

    def current_etag(self) -> str | None:
        with self._lock:
            return self._etag_locked()

    def _etag_locked(self) -> str | None:
        etag = self._config.etag
        if etag == AUTO:
            return '"' + hashlib.sha256(self._config.body).hexdigest()[:16] + '"'
        return etag

    # -- what was asked ------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def responses(self) -> list[int]:
        with self._lock:
            return list(self._responses)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def last_request(self) -> RecordedRequest:
        with self._lock:
            if not self._requests:
                raise AssertionError("the feed server has not received any request")
            return self._requests[-1]

    @property
    def last_headers(self) -> dict[str, str]:
        return self.last_request.headers

    @property
    def posts(self) -> list[RecordedRequest]:
        """Every request other than GET/HEAD (deliveries), in order."""
        return [request for request in self.requests if request.method not in ("GET", "HEAD")]

    @property
    def feed_requests(self) -> int:
        return sum(1 for request in self.requests if request.method in ("GET", "HEAD"))

    def accepted(self, path: str | None = None) -> list[RecordedRequest]:
        """Deliveries answered with a 2xx, optionally only those to `path` (query ignored)."""
        return [
            post
            for post in self.posts
            if 200 <= post.status < 300 and (path is None or post.path.split("?")[0] == path)
        ]

    def wait_for_posts(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.posts) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"the server received {len(self.posts)} POSTs, not {count}")
            time.sleep(0.02)

    def reset_log(self) -> None:
        with self._lock:
            self._requests.clear()
            self._responses.clear()

    # -- serving (called from the server's threads) ----------------------------------

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body_in = handler.rfile.read(length) if length > 0 else b""
        received = time.monotonic()
        reading = handler.command in ("GET", "HEAD")
        with self._lock:
            config = _Config(**vars(self._config))
            config.headers = dict(self._config.headers)
            etag = self._etag_locked()
            if reading:
                status = config.status
                delay = config.delay
            else:
                delay = config.delay if config.post_delay is None else config.post_delay
                status = config.status if config.post_status is None else config.post_status
                if self._config.failures_left > 0:
                    self._config.failures_left -= 1
                    status = 500
            request = RecordedRequest(
                method=handler.command,
                path=handler.path,
                headers=dict(handler.headers.items()),
                body=body_in,
                status=status,
                received_at=received,
            )
            if reading and status == 200 and _not_modified(request, etag, config.last_modified):
                status = 304
                request = replace(request, status=304)
            self._requests.append(request)
            self._responses.append(status)
        if delay:
            time.sleep(delay)
        if not reading:
            answer = b'{"ok": true}' if status < 300 else b"boom"
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(answer)))
            handler.end_headers()
            handler.wfile.write(answer)
            return

        handler.send_response(status)
        for name, value in config.headers.items():
            handler.send_header(name, value)
        if etag is not None and status in (200, 304):
            handler.send_header("ETag", etag)
        if config.last_modified is not None and status in (200, 304):
            handler.send_header("Last-Modified", config.last_modified)
        if status == 304 or status < 200:
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        body = config.body
        handler.send_header("Content-Type", config.content_type)
        handler.send_header("Content-Length", str(len(body)))
        if config.truncate is not None:
            handler.send_header("Connection", "close")
        handler.end_headers()
        if handler.command == "HEAD":
            return
        if config.truncate is not None:
            handler.wfile.write(body[: config.truncate])
            handler.wfile.flush()
            handler.close_connection = True
            return
        handler.wfile.write(body)


def _not_modified(request: RecordedRequest, etag: str | None, last_modified: str | None) -> bool:
    if_none_match = request.header("If-None-Match")
    if if_none_match is not None and etag is not None:
        candidates = [part.strip() for part in if_none_match.split(",")]
        return etag in candidates or "*" in candidates
    if_modified_since = request.header("If-Modified-Since")
    return (
        if_none_match is None
        and last_modified is not None
        and if_modified_since is not None
        and if_modified_since.strip() == last_modified
    )


def _make_handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            try:
                server._answer(self)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep pytest output clean; the test reads `server.requests` instead

    return Handler


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A started FeedServer, stopped after the test."""
    with FeedServer() as server:
        yield server


# -- SMTP ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes

    @property
    def subject(self) -> str:
        """The decoded Subject (apprise MIME-encodes non-ASCII subjects)."""
        return str(self.message["Subject"])

    @property
    def raw_subject(self) -> str:
        """The Subject header as sent: its first line and any folded continuation lines."""
        head = self.raw.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
        lines = head.split("\r\n")
        for index, line in enumerate(lines):
            if line.lower().startswith("subject:"):
                folded = [line]
                for following in lines[index + 1 :]:
                    if not following[:1].isspace():
                        break
                    folded.append(following)
                return "\r\n".join(folded)
        raise AssertionError("the mail has no Subject header")

    def text(self) -> str:
        """The text/plain part, decoded, with SMTP's CRLF line ends read as newlines."""
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None, "the mail has no text/plain part"
        return str(part.get_content()).replace("\r\n", "\n")

    def html(self) -> str | None:
        part = self.message.get_body(preferencelist=("html",))
        return None if part is None else str(part.get_content())


class _Recorder:
    def __init__(self) -> None:
        self.mails: list[Mail] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        content = envelope.original_content or envelope.content  # type: ignore[attr-defined]
        if isinstance(content, str):
            content = content.encode()
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.mails.append(
            Mail(envelope.mail_from, list(envelope.rcpt_tos), message, content)  # type: ignore[attr-defined]
        )
        return "250 Message accepted for delivery"


# aiosmtpd logs from its own thread in the test process; statuswatch runs in that process
# too (tests/inprocess.py), and the peer's words must not land in statuswatch's stderr.
logging.getLogger("mail.log").propagate = False


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 (no TLS, no login) recording every message."""

    def __init__(self) -> None:
        self._recorder = _Recorder()
        self.port = free_port()
        self._controller = Controller(self._recorder, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    @property
    def mails(self) -> list[Mail]:
        return list(self._recorder.mails)

    def mailto(self, to: str = "me@example.com") -> str:
        """An apprise URL that delivers here without TLS or login."""
        return f"mailto://127.0.0.1:{self.port}?from=statuswatch@example.com&to={to}&mode=insecure"


def free_port() -> int:
    """An ephemeral port that was free a moment ago (aiosmtpd cannot bind port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
