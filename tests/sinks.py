"""Real peers on 127.0.0.1 for delivery tests: an HTTP server that serves a feed and
records webhook POSTs, and an SMTP server (aiosmtpd) that records the mail it is sent.

Both run in background threads of the test process, so a `statuswatch` subprocess talks
to them over real sockets.

    with HttpSink() as sink:
        sink.feed = feed_bytes                 # GET /feed.json answers this
        sink.fail_next(2)                      # the next 2 POSTs get a 500
        sink.delay = 3.0                       # POSTs wait 3 s before answering
        ... statuswatch posts to sink.url("/hook") ...
        assert len(sink.accepted("/hook")) == 1
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

FEED_PATH = "/feed.json"


@dataclass(frozen=True)
class Post:
    """One POST (or PUT) as the sink received it, with the status it answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    received_at: float  # time.monotonic() when the request was read


class HttpSink:
    """GET FEED_PATH serves `feed`; every POST/PUT is recorded and answered with
    `post_status` (200 by default), or 500 while `fail_next(n)` still has failures left,
    after sleeping `delay` seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.feed = b""
        self.delay = 0.0
        self.post_status = 200
        self._failures_left = 0
        self._posts: list[Post] = []
        self.feed_requests = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    def __enter__(self) -> HttpSink:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, path: str = FEED_PATH) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._failures_left = count

    @property
    def posts(self) -> list[Post]:
        with self._lock:
            return list(self._posts)

    def accepted(self, path: str | None = None) -> list[Post]:
        """POSTs answered with a 2xx, optionally only those to `path` (query ignored)."""
        return [
            post
            for post in self.posts
            if 200 <= post.status < 300 and (path is None or post.path.split("?")[0] == path)
        ]

    def wait_for_posts(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.posts) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"the sink received {len(self.posts)} POSTs, not {count}")
            time.sleep(0.02)

    # -- serving, in the server's threads ------------------------------------------

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.feed_requests += 1
            body = self.feed
        if handler.path.split("?")[0] != FEED_PATH:
            _reply(handler, 404, b"not found", "text/plain")
            return
        _reply(handler, 200, body, "application/json")

    def _post(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        received = time.monotonic()
        with self._lock:
            if self._failures_left > 0:
                self._failures_left -= 1
                status = 500
            else:
                status = self.post_status
            delay = self.delay
            self._posts.append(
                Post(handler.path, dict(handler.headers.items()), body, status, received)
            )
        if delay:
            time.sleep(delay)
        _reply(handler, status, b'{"ok": true}' if status < 300 else b"boom", "application/json")


def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        handler.close_connection = True


def _handler(sink: HttpSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            sink._get(self)

        def do_POST(self) -> None:
            sink._post(self)

        do_PUT = do_POST

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


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
