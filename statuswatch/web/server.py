"""Serving the app from the daemon's own event loop with uvicorn (no thread, no process).

uvicorn's `Server.serve()` is not used: it installs its own SIGINT/SIGTERM handlers with
signal.signal() (replacing the daemon's), binds the port itself and calls sys.exit() when
the port is taken. Instead we bind the socket here (so "address in use" is one sentence
and, on reload, the old listener keeps serving), then drive the public pieces of
uvicorn.Server: startup(sockets=...), on_tick() once a second (it refreshes the Date
header), and shutdown().

Limits: the request head may be at most 16 KiB (h11_max_incomplete_event_size), must
arrive within `request_timeout` of the connection opening or of the previous answer, an
idle keep-alive connection closes after 5 s, and at most 64 connections are served at
once (uvicorn answers 503 beyond that).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from statuswatch.errors import ConfigError

if TYPE_CHECKING:
    from statuswatch.config import HttpConfig

log = logging.getLogger("statuswatch.web")

MAX_HEAD_BYTES = 16 * 1024
MAX_CONNECTIONS = 64
KEEP_ALIVE = 5
GRACEFUL_STOP = 3


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus a deadline for receiving each request head, which
    uvicorn lacks: a client that opens connections and trickles bytes cannot hold them."""

    request_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(self.request_timeout, self._too_slow)

    def _disarm(self) -> None:
        if getattr(self, "_head_deadline", None) is not None:
            self._head_deadline.cancel()  # type: ignore[union-attr]
            self._head_deadline = None

    def _too_slow(self) -> None:
        self._head_deadline = None
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm()  # a whole head arrived: the app is answering

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        # The daemon owns SIGTERM/SIGINT/SIGHUP; never let uvicorn replace its handlers.
        yield


def bind(http: HttpConfig) -> socket.socket:
    """A listening socket for `http.listen`, or a ConfigError saying why not."""
    host, port = http.host, http.port
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise ConfigError(
            f"http.listen: {host!r} is not an address of this machine; use e.g. 127.0.0.1"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError as error:
        sock.close()
        raise ConfigError(_bind_sentence(http.listen, error)) from None
    return sock


def _bind_sentence(listen: str, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        why = "another program already listens there; stop it or choose another port"
    elif error.errno == errno.EACCES:
        why = "permission denied (ports below 1024 need privileges); choose a port above 1024"
    elif error.errno == errno.EADDRNOTAVAIL:
        why = "that address is not on this machine; use 127.0.0.1 or one of its addresses"
    else:
        why = error.strerror or str(error)
    return f"http.listen: cannot listen on {listen}: {why}"


class WebServer:
    """One listener serving `app`, started and stopped inside the running event loop."""

    def __init__(self, app: Any, http: HttpConfig) -> None:
        self.app = app
        self.http = http
        self.sock: socket.socket | None = None
        self._server: _Server | None = None
        self._ticker: asyncio.Task[None] | None = None

    @property
    def address(self) -> tuple[str, int]:
        assert self.sock is not None
        name = self.sock.getsockname()
        return str(name[0]), int(name[1])

    async def start(self) -> None:
        """Bind (ConfigError if the address cannot be used) and start serving."""
        self.sock = bind(self.http)
        protocol = type(
            "StatuswatchH11Protocol",
            (BoundedH11Protocol,),
            {"request_timeout": self.http.request_timeout},
        )
        config = uvicorn.Config(
            self.app,
            http=protocol,
            ws="none",
            lifespan="off",
            interface="asgi3",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,
            h11_max_incomplete_event_size=MAX_HEAD_BYTES,
            limit_concurrency=MAX_CONNECTIONS,
            timeout_keep_alive=KEEP_ALIVE,
            timeout_graceful_shutdown=GRACEFUL_STOP,
        )
        self._server = _Server(config)
        config.load()
        # What Server._serve() would set up before startup(); lifespan is off.
        self._server.lifespan = config.lifespan_class(config)
        await self._server.startup(sockets=[self.sock])
        self._ticker = asyncio.ensure_future(self._tick())
        host, port = self.address
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        log.info("serving the status page and API on http://%s/", shown)

    async def _tick(self) -> None:
        assert self._server is not None
        while True:
            await self._server.on_tick(0)  # counter 0: refresh the Date header now
            await asyncio.sleep(1.0)

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._server is not None:
            self._server.should_exit = True
            await self._server.shutdown(sockets=[self.sock] if self.sock else None)
            self._server = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Listener:
    """The daemon's listener, kept in line with `[http]` (DESIGN §8): started before the
    daemon is ready, moved, restarted with new limits or stopped on reload.

    At start, a listener that cannot bind raises ConfigError (exit 78). On reload the new
    address is bound before the old listener closes, so a taken port keeps the page served
    where it was. `build_app` makes the app afresh for each server started.
    """

    def __init__(self, build_app: Callable[[], Any]) -> None:
        self._build_app = build_app
        self.server: WebServer | None = None

    async def sync(self, wanted: HttpConfig | None, *, starting: bool) -> None:
        current = self.server
        if current is not None and wanted is not None and current.http.listen == wanted.listen:
            if current.http.request_timeout == wanted.request_timeout:
                current.http = wanted  # `refresh` is read per request
                return
            # Same address, other limits: restart in place (the port is ours to reuse).
            await self.stop()
            current = None
        if wanted is None:
            if current is not None:
                await self.stop()
                log.info("[http] removed: the status page is no longer served")
            return
        server = WebServer(self._build_app(), wanted)
        try:
            await server.start()
        except ConfigError as error:
            if current is None and starting:
                raise  # at start: one sentence, exit 78
            where = f"; still serving on {current.http.listen}" if current else ""
            log.error("%s%s", error, where)
            return
        if current is not None:
            await current.stop()
        self.server = server

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None
