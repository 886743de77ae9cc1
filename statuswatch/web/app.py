"""The ASGI application of DESIGN §8 (starlette): read-only, GET and HEAD only.

Every handler is `async def` on purpose: starlette runs plain `def` handlers in a thread
pool, and the store's SQLite connection belongs to the daemon's event-loop thread. Reads
are short and synchronous, so they never interleave with a poll's transaction.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from statuswatch import views
from statuswatch.clock import ClockError, parse_instant
from statuswatch.settings_view import parse_duration
from statuswatch.stats import DaemonStats
from statuswatch.store import Store, StoreError
from statuswatch.tracker import service_key
from statuswatch.views import ServiceRow
from statuswatch.web import atom, badge, health, metrics, page
from statuswatch.web.reader import Reading, SnapshotCache, read

if TYPE_CHECKING:
    from statuswatch.config import Settings

log = logging.getLogger("statuswatch.web")

ALLOWED_METHODS = ("GET", "HEAD")
MAX_HEAD_BYTES = 16 * 1024
# No scripts at all; styles only from our own /style.css; nothing may frame the page.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"


@dataclass
class WebContext:
    """What the app reads from; the daemon owns all of it."""

    store: Store
    settings: Callable[[], Settings]
    clock: Callable[[], datetime]
    stats: DaemonStats | None = None
    leader: Callable[[], bool] | None = None
    cache: SnapshotCache = field(default_factory=SnapshotCache)

    def reading(self) -> Reading:
        return read(self.store, self.settings(), self.clock(), self.cache, self.leader)


class Guard:
    """GET and HEAD only (405 with Allow otherwise), no request body, security headers
    on every answer, including starlette's own 404s and 500s."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan is off; websockets are not served
        method = scope["method"]
        if method not in ALLOWED_METHODS:
            await _plain(send, 405, b"Only GET and HEAD are allowed.\n", [(b"allow", b"GET, HEAD")])
            return
        head = sum(len(k) + len(v) + 4 for k, v in scope["headers"]) + len(scope["raw_path"])
        if head > MAX_HEAD_BYTES:
            # uvicorn's h11 limit bounds a head that arrives in pieces; this one, a head that
            # arrived in one read.
            await _plain(send, 431, b"The request head is too large.\n", [])
            return
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if length.strip() not in (b"", b"0") or b"transfer-encoding" in dict(scope["headers"]):
            await _plain(send, 413, b"Requests to statuswatch carry no body.\n", [])
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in {name for name, _ in SECURITY_HEADERS}
                ]
                message["headers"] = headers + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, secured)


async def _plain(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [
        (b"content-type", TEXT_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        *extra,
        *SECURITY_HEADERS,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _json(value: Any, status: int = 200) -> Response:
    body = json.dumps(value, ensure_ascii=False, indent=None).encode()
    return Response(body, status_code=status, media_type=JSON_TYPE)


def _text(text: str, status: int) -> Response:
    return Response((text + "\n").encode(), status_code=status, media_type=TEXT_TYPE)


def find_row(reading: Reading, name: str) -> tuple[str, ServiceRow] | None:
    """A watched service by name, matched like the config matches names (case, blanks)."""
    wanted = service_key(name)
    for source in reading.sources:
        for row in source.rows:
            if service_key(row.name) == wanted:
                return source.name, row
    return None


def parse_since(text: str | None, now: datetime) -> datetime | None:
    """`7d`, `12h` (an age), an ISO-8601 time, or `all`. Raises ValueError."""
    if text is None or not text.strip():
        return now - timedelta(days=7)
    if text.strip() == "all":
        return None
    try:
        return now - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        return parse_instant(text)
    except ClockError:
        raise ValueError(
            f"since={text!r} is neither an age such as 7d or 12h, an ISO-8601 time, nor 'all'"
        ) from None


def build_app(context: WebContext) -> ASGIApp:
    def refresh() -> float:
        http = context.settings().http
        return http.refresh if http is not None else 60.0

    async def index(request: Request) -> Response:
        model = page.page_model(context.reading(), refresh())
        return Response(page.render_page(model), media_type=HTML_TYPE)

    async def style(request: Request) -> Response:
        return Response(
            page.stylesheet(),
            media_type="text/css; charset=utf-8",
            headers={"cache-control": "max-age=300"},
        )

    async def status(request: Request) -> Response:
        reading = context.reading()
        return _json(
            views.status_document(
                reading.at, reading.sources, reading.recent(7), reading.deliveries
            )
        )

    async def services(request: Request) -> Response:
        reading = context.reading()
        return _json(views.services_document(reading.at, reading.sources))

    async def history(request: Request) -> Response:
        now = context.clock()
        try:
            since = parse_since(request.query_params.get("since"), now)
        except ValueError as error:
            return _json({"version": views.API_VERSION, "error": str(error)}, 400)
        service = request.query_params.get("service") or None
        transitions = context.store.transitions(since=since, service=service)
        return _json(views.history_document(now, since, transitions))

    async def feed(request: Request) -> Response:
        reading = context.reading()
        service = request.query_params.get("service") or None
        transitions = reading.transitions
        if service is not None:
            found = find_row(reading, service)
            if found is None:
                return _text(f"statuswatch does not watch a service named {service!r}.", 404)
            source, row = found
            transitions = [
                t
                for t in transitions
                if t.source == source
                and (t.service is None or service_key(t.service) == service_key(row.name))
            ]
            service = row.name
        body = atom.render_feed(
            reading,
            transitions,
            self_href=str(request.url),
            alternate_href=str(request.url_for("index")),
            service=service,
        )
        return Response(body, media_type=atom.CONTENT_TYPE)

    async def badge_route(request: Request) -> Response:
        name: str = request.path_params["name"]
        if name.endswith(".svg"):
            kind, name = "svg", name.removesuffix(".svg")
        elif name.endswith(".json"):
            kind, name = "json", name.removesuffix(".json")
        else:
            return _text("Badges are /badge/NAME.svg or /badge/NAME.json.", 404)
        found = find_row(context.reading(), name)
        headers = {"cache-control": "max-age=60"}
        if found is None:
            if kind == "json":
                return _json({"error": f"no watched service is named {name!r}"}, 404)
            return Response(badge.unknown_service_svg(), 404, media_type=badge.SVG_TYPE)
        _, row = found
        if kind == "json":
            body = badge.endpoint_json(row.name, row.state)
            return Response(body, media_type=JSON_TYPE, headers=headers)
        return Response(
            badge.state_svg(row.name, row.state), media_type=badge.SVG_TYPE, headers=headers
        )

    async def metrics_route(request: Request) -> Response:
        body, content_type = metrics.render_metrics(context.reading(), context.stats)
        return Response(body, media_type=content_type)

    async def healthz(request: Request) -> Response:
        healthy, reason = health.health(context.reading())
        return _text(reason, 200 if healthy else 503)

    def guarded(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def run(request: Request) -> Response:
            try:
                response: Response = await handler(request)
            except StoreError as error:
                log.warning("web: %s", error)
                return _text(f"statuswatch cannot read its database right now: {error}", 503)
            return response

        return run

    routes = [
        Route("/", guarded(index), name="index"),
        Route("/style.css", guarded(style)),
        Route("/api/v1/status", guarded(status)),
        Route("/api/v1/services", guarded(services)),
        Route("/api/v1/history", guarded(history)),
        Route("/feed.atom", guarded(feed)),
        Route("/badge/{name:path}", guarded(badge_route)),
        Route("/metrics", guarded(metrics_route)),
        Route("/healthz", guarded(healthz)),
    ]
    return Guard(Starlette(routes=routes))
