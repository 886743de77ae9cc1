"""The sd_notify protocol in a few lines, without libsystemd or a new dependency.

systemd passes a datagram socket in ``$NOTIFY_SOCKET`` to ``Type=notify`` services; the service
sends newline-separated ``KEY=VALUE`` assignments to it (``READY=1``, ``STATUS=...``,
``WATCHDOG=1``, ...). See sd_notify(3). Outside systemd the variable is unset and every call
here is a cheap no-op that returns False, so the daemon can notify unconditionally.

Nothing here raises: a lost notification must never take the daemon down. At worst systemd
kills a service that stopped pinging the watchdog, which is exactly the point of the watchdog.
"""

from __future__ import annotations

import os
import socket
import time
import unicodedata
from collections.abc import Mapping

__all__ = ["STATUS_MAX_CHARS", "Notifier", "notify", "watchdog_interval"]

#: systemctl shows STATUS= on one line of `systemctl status`; anything longer is noise there.
STATUS_MAX_CHARS = 200

# A blocking send to PID 1 can only stall if its receive queue is full; never let that freeze
# the event loop for long. A dropped datagram is harmless (the next one carries the same news).
_SEND_TIMEOUT_S = 1.0


def _socket_address(value: str | None) -> str | bytes | None:
    """Turn ``$NOTIFY_SOCKET`` into an address for ``sendto``, or None if unusable.

    Like libsystemd, accept only absolute paths and ``@name`` abstract sockets; the ``@`` stands
    for the leading NUL byte of a Linux abstract socket name. (``vsock:`` addresses of systemd
    254+ are for VMs and are not supported here.)
    """
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None


def _send(address: str | bytes | None, lines: tuple[str, ...]) -> bool:
    if address is None or not lines:
        return False
    payload = "\n".join(lines).encode("utf-8", "replace")
    try:
        # A fresh socket per message: no state to go stale across fork or reload, and the cost
        # (a few µs) is nothing next to one notification per poll.
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(_SEND_TIMEOUT_S)
            sock.sendto(payload, address)
    except OSError:
        # No listener, permission denied, queue full, ...: notifications are best effort.
        return False
    return True


def notify(*lines: str) -> bool:
    """Send ``KEY=VALUE`` lines as one datagram to ``$NOTIFY_SOCKET``.

    Returns True when the datagram was handed to the kernel, False when ``$NOTIFY_SOCKET`` is
    unset or unusable or the send failed. Never raises.
    """
    return _send(_socket_address(os.environ.get("NOTIFY_SOCKET")), lines)


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings, or None when systemd wants none.

    sd_watchdog_enabled(3): ``$WATCHDOG_USEC`` is the timeout; pinging at half of it leaves
    room for a late wake-up. ``$WATCHDOG_PID``, when set, names the process the watchdog is
    meant for: a child that merely inherited the environment must not ping.
    """
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    return usec / 2 / 1_000_000


def clean_status(text: str, limit: int = STATUS_MAX_CHARS) -> str:
    """One printable line of at most ``limit`` characters for ``STATUS=``.

    A newline would end the STATUS= assignment and start a bogus one, and feed text (service
    names, messages) can carry anything, so line breaks and tabs become spaces and every other
    control or format character is dropped.
    """
    if text.isprintable():
        # Fast path (the daemon sends a status line after every poll): printable text has
        # no control, format, surrogate or line/paragraph-separator character, so the loop
        # below would keep every character as it is.
        line = " ".join(text.split())
        if len(line) > limit:
            line = line[: max(limit - 1, 0)].rstrip() + "…"
        return line
    chars: list[str] = []
    for ch in text:
        if ch in "\r\n\t\v\f\x85\u2028\u2029":
            chars.append(" ")
        elif unicodedata.category(ch) not in ("Cc", "Cf", "Cs"):
            chars.append(ch)
    line = " ".join("".join(chars).split())
    if len(line) > limit:
        line = line[: max(limit - 1, 0)].rstrip() + "…"
    return line


class Notifier:
    """What the daemon holds to talk to systemd; every method is a no-op outside systemd.

    The socket address and watchdog interval are read once, at construction, from the
    environment systemd gave the process. Each method returns whether a datagram was sent.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = _socket_address(env.get("NOTIFY_SOCKET"))
        #: Seconds between watchdog pings, or None when no watchdog is configured.
        self.watchdog_interval: float | None = watchdog_interval(env)

    @property
    def enabled(self) -> bool:
        """True when running under a service manager that listens for notifications."""
        return self._address is not None

    def send(self, *lines: str) -> bool:
        """Send arbitrary ``KEY=VALUE`` lines (see sd_notify(3))."""
        return _send(self._address, lines)

    def ready(self, status: str | None = None) -> bool:
        """Startup (or a reload) is complete: the store is open and jobs are scheduled."""
        lines = ["READY=1"]
        if status is not None:
            lines.append("STATUS=" + clean_status(status))
        return self.send(*lines)

    def status(self, text: str) -> bool:
        """One-line summary shown by ``systemctl status``."""
        return self.send("STATUS=" + clean_status(text))

    def watchdog(self) -> bool:
        """Ping the watchdog. Call only while the daemon is demonstrably making progress."""
        return self.send("WATCHDOG=1")

    def reloading(self) -> bool:
        """A reload has begun; call ``ready()`` when the new configuration is in effect.

        systemd 253+ requires ``MONOTONIC_USEC`` (CLOCK_MONOTONIC in µs) next to
        ``RELOADING=1`` for ``Type=notify-reload`` so it can tell this reload from an older
        one; older systemd versions ignore both fields.
        """
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> bool:
        """Shutdown has begun (systemd then stops expecting watchdog pings)."""
        return self.send("STOPPING=1")
