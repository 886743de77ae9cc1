"""Files a root shell creates in a service's state directory go back to the service's user.

An operator runs `statuswatch check` (or `outbox retry`, `silence add`) as root against the
state directory of the systemd units (`/var/lib/statuswatch`, owned by the units' dynamic
user). SQLite gives its -wal/-shm files the database's owner by itself; everything else
root creates there (the lock file, the settings cache, a new database, archived bodies)
would be root's, and the service could no longer write it. So, after such a command, every
root-owned entry under the directory is handed to the directory's owner.
"""

from __future__ import annotations

import os
from pathlib import Path


def hand_back(state_dir: Path) -> int:
    """chown root-owned entries under `state_dir` to its owner; the number changed.

    Does nothing unless we run as root and the directory belongs to someone else.
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return 0
    try:
        owner = state_dir.stat()
    except OSError:
        return 0
    if owner.st_uid == 0:
        return 0
    changed = 0
    for folder, dirs, files in os.walk(state_dir):
        for name in dirs + files:
            path = os.path.join(folder, name)
            try:
                if os.lstat(path).st_uid == 0:
                    os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)
                    changed += 1
            except OSError:
                continue  # gone meanwhile, or not ours to change: the service will say so
    return changed
