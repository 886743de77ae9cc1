"""Concurrent apprise sends (a fan-out): each failure's reason is its own, and apprise's
logger is left as it was found."""

from __future__ import annotations

import asyncio
import logging
import socket

from statuswatch.notify.channel import build_apprise, send
from statuswatch.notify.render import Message
from statuswatch.notify.targets import Target
from statuswatch.secrets import Redactor


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_concurrent_failures_each_carry_their_own_reason_and_restore_the_logger() -> None:
    import apprise  # noqa: F401  (its import adds a NullHandler of its own)

    ports = sorted({_closed_port() for _ in range(6)})
    logger = logging.getLogger("apprise")
    level, handlers = logger.level, list(logger.handlers)
    message = Message("title", "body", ("recovered",))

    async def main() -> list[object]:
        instances = [
            build_apprise(Target(str(port), "hook", f"json://127.0.0.1:{port}/hook"), "s")
            for port in ports
        ]
        return await asyncio.gather(
            *(send(i, message, "recovered", 5.0, Redactor([])) for i in instances)
        )

    results = asyncio.run(main())
    for port, result in zip(ports, results, strict=True):
        assert not result.ok  # type: ignore[attr-defined]
        error = result.error or ""  # type: ignore[attr-defined]
        assert f"port={port}" in error
        others = [other for other in ports if other != port]
        assert not any(f"port={other}" in error for other in others), error
    assert logger.level == level
    assert logger.handlers == handlers


def test_apprise_objects_are_independent_copies() -> None:
    first = build_apprise(Target("a", "a", "json://127.0.0.1:9/a"), "s")
    second = build_apprise(Target("b", "b", "json://127.0.0.1:9/b"), "s")
    assert len(first) == len(second) == 1
    assert [s.url() for s in first] != [s.url() for s in second]
