"""Fuzz the feed parser and everything downstream of it with mutated real captures.

    python bench/fuzz.py --inputs 1000000

Each input is one of the real captures in tests/data/feeds, mutated (byte flips, truncation,
splices, deep nesting, huge numbers, huge entities, JSONP/BOM wrappers, type swaps, epoch
extremes, field deletion, duplicated services, 5 MB bodies), then run through
parse -> evaluate -> track -> render/render_digest/history, with every time formatted in
five zones (UTC, Europe/Paris, Asia/Tokyo, Pacific/Kiritimati, America/St_Johns) and the
full messages rendered in two of them, taking turns (see tests/fuzzing.py), and for one input in
`--store-every` also through a real SQLite store in a temporary directory (record_poll,
then reading the transitions back and rendering those). The only exception allowed is the
parser's FeedFormatError with a one-line reason (DESIGN §1); anything else is a crash, and
the first few are saved (body + traceback) under --crashes. Inputs are a pure function of
(--seed, index), so `--only INDEX` replays one. Exit status 1 when anything crashed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fuzzing import PipelineError, body_for, run_pipeline  # noqa: E402

CHUNK = 2_000
KEEP_CRASHES = 5


@dataclass
class Tally:
    tried: int = 0
    parse_failures: int = 0
    accepted: int = 0
    stored: int = 0
    transitions: int = 0
    crashes: int = 0
    samples: list[tuple[int, bytes, str]] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.tried += other.tried
        self.parse_failures += other.parse_failures
        self.accepted += other.accepted
        self.stored += other.stored
        self.transitions += other.transitions
        self.crashes += other.crashes
        room = KEEP_CRASHES - len(self.samples)
        self.samples.extend(other.samples[: max(room, 0)])


def run_chunk(job: tuple[int, int, int, int, str]) -> Tally:
    seed, start, stop, store_every, scratch = job
    tally = Tally()
    for index in range(start, stop):
        body = body_for(seed, index)
        store_in = Path(scratch) if store_every and index % store_every == 0 else None
        tally.tried += 1
        try:
            outcome = run_pipeline(body, store_in, turn=index)
        except PipelineError:
            tally.crashes += 1
            if len(tally.samples) < KEEP_CRASHES:
                tally.samples.append((index, body, traceback.format_exc()))
            continue
        if outcome.accepted:
            tally.accepted += 1
            tally.transitions += outcome.transitions
            tally.stored += store_in is not None
        else:
            tally.parse_failures += 1
    return tally


def save(samples: list[tuple[int, bytes, str]], directory: Path, seed: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for index, body, trace in samples:
        (directory / f"seed{seed}-input{index}.body").write_bytes(body)
        (directory / f"seed{seed}-input{index}.txt").write_text(
            f"python bench/fuzz.py --seed {seed} --only {index}\n\n{trace}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="how many (default 100000)")
    parser.add_argument("--seed", type=int, default=1, help="which run of inputs (default 1)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--store-every", type=int, default=200, help="also store 1 input in N (0: never)"
    )
    parser.add_argument("--crashes", type=Path, default=ROOT / "bench" / "fuzz-crashes")
    parser.add_argument("--only", type=int, help="replay one input by its index, verbosely")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="statuswatch-fuzz-") as scratch:
        if args.only is not None:
            body = body_for(args.seed, args.only)
            print(f"input {args.only} of seed {args.seed}: {len(body)} bytes: {body[:300]!r}")
            try:
                outcome = run_pipeline(body, Path(scratch), turn=args.only)
            except PipelineError:
                traceback.print_exc()
                return 1
            print("accepted" if outcome.accepted else "parse failure (FeedFormatError)")
            return 0
        jobs = [
            (args.seed, start, min(start + CHUNK, args.inputs), args.store_every, scratch)
            for start in range(0, args.inputs, CHUNK)
        ]
        total = Tally()
        began = time.monotonic()
        last_report = began
        with multiprocessing.Pool(args.workers) as pool:
            for tally in pool.imap_unordered(run_chunk, jobs):
                total.add(tally)
                now = time.monotonic()
                if now - last_report >= 30:
                    last_report = now
                    rate = total.tried / (now - began)
                    print(
                        f"  {total.tried:,} inputs, {total.crashes} crashes, {rate:,.0f}/s",
                        flush=True,
                    )
    elapsed = time.monotonic() - began
    if total.samples:
        save(total.samples, args.crashes, args.seed)
    print(f"seed {args.seed}, {args.workers} workers, {elapsed:,.0f} s")
    print(f"inputs tried:    {total.tried:,}")
    print(f"parse failures:  {total.parse_failures:,} (FeedFormatError, one-line reason)")
    print(
        f"accepted:        {total.accepted:,} ({total.transitions:,} transitions rendered;"
        f" {total.stored:,} inputs also through SQLite)"
    )
    print(f"crashes:         {total.crashes:,}")
    if total.samples:
        print(f"first {len(total.samples)} crash(es) saved in {args.crashes}")
    return 1 if total.crashes else 0


if __name__ == "__main__":
    sys.exit(main())
