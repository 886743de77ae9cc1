"""Run `statuswatch ARGS` inside the test process.

`python -m statuswatch` is `raise SystemExit(cli.main())`; this calls the same `main` with the
same arguments, environment, working directory and real files for stdout and stderr, minus
the interpreter's start-up and the imports of pydantic, httpx and apprise, which were most of
the suite's CPU time (several hundred runs). Tests about the process itself (a signal, what
it imports, a closed pipe, another user, two runs at once, a kill) still start a real
subprocess; everything else goes through here.

What a run changes in the process is put back afterwards: os.environ (the CLI sets
CREDENTIALS_DIRECTORY from --credentials-dir), the working directory, sys.argv, stdout and
stderr, and the logging handlers the CLI installs.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType


class RunTimedOut(BaseException):
    """A BaseException, so that the CLI's own `except Exception` cannot turn it into an exit
    code: an in-process run that hangs must fail the test the way subprocess.run's timeout
    does."""


def run_statuswatch(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """What `subprocess.run([python, "-m", "statuswatch", *args], env=env, cwd=cwd,
    capture_output=True, text=True, timeout=timeout)` returns, run in this process."""
    from statuswatch import cli

    saved_environ = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_argv = sys.argv
    saved_streams = sys.stdout, sys.stderr
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    warnings_captured = getattr(logging, "_warnings_showwarning", None) is not None
    timer = _Timer(timeout, args)

    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        out = io.TextIOWrapper(out_file, encoding="utf-8", write_through=True)
        err = io.TextIOWrapper(err_file, encoding="utf-8", errors="backslashreplace")
        os.environ.clear()
        os.environ.update(env)
        try:
            if cwd is not None:
                os.chdir(cwd)
            sys.argv = ["statuswatch", *args]
            sys.stdout, sys.stderr = out, err
            with timer:
                code = _exit_code(cli.main, list(args))
        finally:
            sys.stdout, sys.stderr = saved_streams
            sys.argv = saved_argv
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_environ)
            for handler in [h for h in root.handlers if h not in saved_handlers]:
                root.removeHandler(handler)
                handler.close()
            root.setLevel(saved_level)
            if not warnings_captured:
                logging.captureWarnings(False)
        stdout, stderr = _read(out), _read(err)
    return subprocess.CompletedProcess(list(args), code, stdout, stderr)


def _exit_code(main: object, argv: list[str]) -> int:
    try:
        result = main(argv)  # type: ignore[operator]
    except SystemExit as stop:  # argparse (usage errors, --help) and SystemExit(code)
        if stop.code is None:
            return 0
        if isinstance(stop.code, int):
            return stop.code
        print(stop.code, file=sys.stderr)
        return 1
    return int(result)


def _read(stream: io.TextIOWrapper) -> str:
    stream.flush()
    raw = stream.detach()  # leave the file to its `with`: detach() keeps it open
    raw.seek(0)
    # Universal newlines, as subprocess.run(text=True) reads them.
    return raw.read().decode("utf-8", errors="replace").replace("\r\n", "\n")


class _Timer:
    """SIGALRM after `timeout` seconds raises RunTimedOut in the main thread (where pytest runs
    tests); elsewhere no timer is set."""

    def __init__(self, timeout: float, args: Sequence[str]) -> None:
        self.timeout = timeout
        self.args = args
        self.active = threading.current_thread() is threading.main_thread()
        self.previous: object = None

    def _expired(self, signum: int, frame: FrameType | None) -> None:
        raise RunTimedOut(f"statuswatch {' '.join(self.args)} ran past {self.timeout} s")

    def __enter__(self) -> None:
        if self.active:
            self.previous = signal.signal(signal.SIGALRM, self._expired)
            signal.setitimer(signal.ITIMER_REAL, self.timeout)

    def __exit__(self, *exc: object) -> None:
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)  # type: ignore[arg-type]
