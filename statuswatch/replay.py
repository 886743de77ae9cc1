"""`statuswatch replay`: run the evaluator and tracker over saved snapshots, in memory.

Touches no state directory. A snapshot's time comes from its file name.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from statuswatch.evaluate import Evaluator
from statuswatch.model import Poll, Snapshot, Transition, to_epoch_ms
from statuswatch.sources.apple import FeedFormatError, FeedParser
from statuswatch.tracker import SourceTrack, TrackerSettings, advance

SNAPSHOT_SUFFIXES = frozenset({".json", ".js", ".txt", ""})
_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2})[-:](\d{2})[-:](\d{2})Z")


class ReplayUsageError(ValueError):
    """A path that cannot be replayed; the message names it."""


@dataclass(frozen=True, slots=True)
class SnapshotFile:
    path: Path
    at: datetime


def snapshot_time(path: Path) -> datetime:
    """`YYYY-MM-DDTHH-MM-SSZ` or `YYYY-MM-DDTHH:MM:SSZ` before the extension."""
    match = _STAMP.fullmatch(path.name.split(".", 1)[0])
    if match is None:
        raise ReplayUsageError(
            f"{path}: the file name does not start with a UTC time such as "
            "2025-06-14T21-20-50Z, so replay cannot tell when it was taken"
        )
    day, hour, minute, second = match.groups()
    return datetime.fromisoformat(f"{day}T{hour}:{minute}:{second}+00:00").astimezone(UTC)


def collect(paths: Iterable[Path]) -> list[SnapshotFile]:
    """Files as given, folders expanded in name order (non-snapshot files such as index.tsv
    skipped); the result ordered by snapshot time."""
    files: list[SnapshotFile] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(path.iterdir()):
                if (
                    child.is_file()
                    and child.suffix in SNAPSHOT_SUFFIXES
                    and _STAMP.match(child.name)
                ):
                    files.append(SnapshotFile(child, snapshot_time(child)))
        elif path.is_file():
            files.append(SnapshotFile(path, snapshot_time(path)))
        else:
            raise ReplayUsageError(f"{path}: no such file or folder")
    return sorted(files, key=lambda item: item.at)


def replay(
    files: Iterable[SnapshotFile],
    services: list[str] | None = None,
    confirm: int = 1,
    source: str = "replay",
) -> Iterator[tuple[SnapshotFile, list[Transition], str | None]]:
    """Yield, per file, the transitions it causes and the parse error if it was rejected.

    A rejected file is a failed poll: every service is unknown for it (DESIGN §2).
    Work per snapshot follows what changed since the previous one: unchanged services
    are neither parsed, evaluated nor tracked again (FeedParser, Evaluator, Poll.changed).
    """
    settings = TrackerSettings(confirm=confirm)
    track = SourceTrack()
    parser = FeedParser()
    evaluator = Evaluator(services)
    seen: OrderedDict[bytes, Snapshot] = OrderedDict()
    for item in files:
        error = None
        try:
            snapshot = _parse(parser, seen, item.path.read_bytes())
        except FeedFormatError as problem:
            error = str(problem)
            poll = Poll(source=source, at=item.at, ok=False, error=error)
        else:
            observations, changed = evaluator.observe(snapshot, to_epoch_ms(item.at))
            poll = Poll(
                source=source,
                at=item.at,
                ok=True,
                observations=observations,
                changed=changed,
            )
        track, transitions = advance(track, poll, settings)
        transitions.sort(key=lambda t: (t.service or "").casefold())
        yield item, transitions, error


SEEN_BODIES = 64  # distinct bodies kept parsed: Apple's feed flips back and forth


def _parse(parser: FeedParser, seen: OrderedDict[bytes, Snapshot], body: bytes) -> Snapshot:
    """A body seen lately (an archive holds the same capture again when a change is
    undone) is the same snapshot as then: its Service objects are reused, so the Evaluator
    looks only at what differs from the previous snapshot."""
    snapshot = seen.get(body)
    if snapshot is not None:
        seen.move_to_end(body)
        return snapshot
    snapshot = parser.parse(body)
    seen[body] = snapshot
    if len(seen) > SEEN_BODIES:
        seen.popitem(last=False)
    return snapshot
