"""The stack floor of `statuswatch check` on an unchanged feed, with no statuswatch code.

    python bench/floor_check.py CONFIG.toml

What a hand-written script does with the same libraries for the same 304 poll: read the
TOML config, open the SQLite database of its state directory, read the stored ETag,
make one conditional GET with an httpx.AsyncClient under asyncio (trusting the system's
hashed certificate directory, as statuswatch does), record the poll time
in one transaction and print one line. bench/run.py times it beside `check`: the gap
between the two is what statuswatch's own code costs.
"""

from __future__ import annotations

import asyncio
import sqlite3
import ssl
import sys
import time
import tomllib
from pathlib import Path

import httpx


async def poll(url: str, etag: str | None) -> int:
    headers = {"If-None-Match": etag} if etag else {}
    # The system's hashed certificate directory, read lazily, as statuswatch trusts it.
    trust = ssl.create_default_context(capath=ssl.get_default_verify_paths().capath)
    async with httpx.AsyncClient(follow_redirects=True, verify=trust) as client:
        response = await client.get(url, headers=headers, timeout=5.0)
        return response.status_code


def main() -> int:
    config = tomllib.loads(Path(sys.argv[1]).read_text())
    source = config["sources"][0]
    db = sqlite3.connect(Path(config["state_dir"]) / "statuswatch.db")
    row = db.execute("SELECT etag FROM source_state WHERE source = ?", (source["name"],)).fetchone()
    status = asyncio.run(poll(source["url"], row[0] if row else None))
    with db:
        db.execute(
            "UPDATE source_state SET last_poll = ? WHERE source = ?", (time.time(), source["name"])
        )
    db.close()
    print(f"{source['services'][0]}: HTTP {status}")
    return 0 if status in (200, 304) else 1


if __name__ == "__main__":
    sys.exit(main())
