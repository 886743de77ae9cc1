"""`statuswatch export DIR` and `[export] dir`: the HTTP surface as static files.

The same renderers as the server, written for nginx or any static host: index.html,
style.css, status.json, services.json, history.json, feed.atom and badge/NAME.svg|json.
Each file is written to a temporary file in the same folder and renamed over the old
one (os.replace), so a reader always sees a whole file, old or new.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from statuswatch import views
from statuswatch.store import Store
from statuswatch.web import atom, badge, page
from statuswatch.web.reader import HISTORY_DAYS, read

if TYPE_CHECKING:
    from statuswatch.config import Settings


class ExportError(Exception):
    """The export folder cannot be written. One sentence."""


def write_atomic(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)  # for the web server's user; nothing here is secret
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def badge_file_name(service: str) -> str | None:
    """A service's badge file stem, or None for a name no file system path can hold as is."""
    name = page.clean_line(service)
    if not name or name.startswith(".") or "/" in name or "\\" in name or "\x00" in name:
        return None
    return name


def export_site(store: Store, settings: Settings, now: datetime, folder: Path) -> list[Path]:
    """Write every file; returns their paths. Raises ExportError."""
    reading = read(store, settings, now)
    refresh = settings.http.refresh if settings.http else 60.0
    files: dict[str, bytes] = {
        "index.html": page.render_page(
            page.page_model(reading, refresh, json_href="status.json")
        ).encode(),
        "style.css": page.stylesheet(),
        "status.json": _json(
            views.status_document(
                reading.at, reading.sources, reading.recent(7), reading.deliveries
            )
        ),
        "services.json": _json(views.services_document(reading.at, reading.sources)),
        "history.json": _json(
            views.history_document(
                reading.at, reading.at - timedelta(days=HISTORY_DAYS), reading.transitions
            )
        ),
        "feed.atom": atom.render_feed(
            reading, reading.transitions, self_href="feed.atom", alternate_href="index.html"
        ),
    }
    for source in reading.sources:
        for row in source.rows:
            stem = badge_file_name(row.name)
            if stem is None:
                continue
            files[f"badge/{stem}.svg"] = badge.state_svg(row.name, row.state)
            files[f"badge/{stem}.json"] = badge.endpoint_json(row.name, row.state)
    written = []
    try:
        (folder / "badge").mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            path = folder / name
            write_atomic(path, data)
            written.append(path)
    except OSError as error:
        raise ExportError(
            f"cannot write the export to {folder}: {error.strerror or error}; "
            "fix its permissions or choose another [export] dir"
        ) from None
    return written


def _json(value: object) -> bytes:
    import json

    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode()
