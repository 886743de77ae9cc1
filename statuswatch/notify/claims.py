"""Who holds an outbox claim, and whether that process is still alive (DESIGN §4).

A claim records `host:pid:starttime` (the start time from /proc/<pid>/stat, in clock
ticks since boot), so a PID reused by another process does not look like the claimer.
A claim of a process that is gone from this host is released at once by the next
`check` or `run`; claims of live or remote processes wait for their claim to go stale.
No apprise, no network: `check` calls this on every run.
"""

from __future__ import annotations

import logging
import os
from functools import cache

from statuswatch.store import Store

log = logging.getLogger("statuswatch.deliver")


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat, or None if there is no such process (or no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


@cache
def claimer_id() -> str:
    pid = os.getpid()
    return f"{os.uname().nodename}:{pid}:{_start_time(pid) or '?'}"


def _proc_available() -> bool:
    return os.path.isdir("/proc/self")


def is_orphaned(claimer: str | None, host: str | None = None) -> bool:
    """True when `claimer` names a process of this host that no longer exists."""
    if not claimer or not _proc_available():
        return False
    parts = claimer.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit():
        claim_host, pid, started = parts[0], int(parts[1]), parts[2]
    else:  # `host:pid`, written before claims carried the start time
        claim_host, _, pid_text = claimer.rpartition(":")
        if not pid_text.isdigit():
            return False
        pid, started = int(pid_text), "?"
    if claim_host != (host or os.uname().nodename):
        return False  # another machine's process: only its claim's timeout tells
    now_started = _start_time(pid)
    if now_started is None:
        return True
    return started != "?" and now_started != started  # the PID was reused


def release_orphans(store: Store) -> int:
    """Give back at once the rows claimed by processes of this host that died."""
    released = 0
    for row_id, claimer in store.sending_claims().items():
        if (
            claimer != claimer_id()
            and is_orphaned(claimer)
            and store.release_claim(row_id, claimer)
        ):
            released += 1
    if released:
        log.info("took back %d notification(s) left by a process that ended", released)
    return released
