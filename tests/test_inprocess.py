"""tests/inprocess.py stands in for `python -m statuswatch` in most tests: it must give what the
real process gives, and leave the test process as it found it."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.inprocess import RunTimedOut, run_statuswatch

REPO = Path(__file__).resolve().parent.parent
DEVELOPER = REPO / "tests" / "data" / "feeds" / "history" / "developer"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STATUSWATCH_", "XDG_"))}
    env.update(HOME=str(tmp_path), PYTHONPATH=str(REPO), STATUSWATCH_NOW="2025-06-14T21:20:50Z")
    return env


@pytest.mark.parametrize(
    "args",
    [
        ("replay", str(DEVELOPER)),  # stdout, exit 0
        ("--config", "missing.toml", "status"),  # one sentence, exit 78
        ("--config", "bad.toml", "config", "check"),  # a bad value named, exit 78
        ("status", "--no-such-flag"),  # argparse's usage error, exit 2
        ("--version",),  # argparse's SystemExit(0)
    ],
)
def test_in_process_gives_what_the_real_process_gives(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    (tmp_path / "bad.toml").write_text("confirm = 0\n")
    env = _env(tmp_path)
    real = subprocess.run(
        [sys.executable, "-m", "statuswatch", *args],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    here = run_statuswatch(args, env=env, cwd=tmp_path)
    assert (here.returncode, here.stdout, here.stderr) == (
        real.returncode,
        real.stdout,
        real.stderr,
    )


def test_a_run_leaves_the_environment_directory_streams_and_logging_as_they_were(
    tmp_path: Path,
) -> None:
    before = (dict(os.environ), os.getcwd(), sys.stdout, sys.stderr, sys.argv)
    handlers = list(logging.getLogger().handlers)
    credentials = tmp_path / "creds"
    credentials.mkdir()
    env = _env(tmp_path)
    # --credentials-dir sets CREDENTIALS_DIRECTORY in os.environ; the CLI installs a handler.
    done = run_statuswatch(
        ["--credentials-dir", str(credentials), "--config", "missing.toml", "status"],
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 78 and "missing.toml" in done.stderr
    assert (dict(os.environ), os.getcwd(), sys.stdout, sys.stderr, sys.argv) == before
    assert logging.getLogger().handlers == handlers


def test_a_run_that_hangs_fails_the_test_instead_of_hanging_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from statuswatch import cli

    monkeypatch.setattr(cli, "main", lambda argv: time.sleep(30))
    with pytest.raises(RunTimedOut, match=r"ran past 0\.5 s"):
        run_statuswatch(["status"], env=_env(tmp_path), cwd=tmp_path, timeout=0.5)
