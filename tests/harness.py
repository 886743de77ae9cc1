"""One statuswatch installation for the delivery and policy tests: a config file written from
Python values, a state directory, and a feed server that is also the webhook sink.

`Statuswatch.run` runs a command in this process (tests/inprocess.py) unless the test is
about the process itself (`process=True`, interpreter options); `start` starts a real
subprocess (a daemon, or two runs at once). The clock is pinned through STATUSWATCH_NOW and
HOME points into the test's directory, so nothing of the real user's is read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from statuswatch.store import OutboxRow, SqliteStore
from tests.inprocess import run_statuswatch
from tests.peers import FeedServer

REPO = Path(__file__).resolve().parent.parent
BACKUP = "iCloud Backup"


def toml_value(value: Any) -> str:
    # JSON strings, numbers, booleans and arrays of them are valid TOML.
    return json.dumps(value, ensure_ascii=False)


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Statuswatch:
    """A config file and a state directory for `statuswatch` runs."""

    home: Path
    sink: FeedServer
    services: list[str] = field(default_factory=lambda: [BACKUP])
    settings: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscribers: list[dict[str, Any]] = field(default_factory=list)
    runs: list[Result] = field(default_factory=list)

    @property
    def config(self) -> Path:
        return self.home / "statuswatch.toml"

    @property
    def state_dir(self) -> Path:
        return self.home / "state"

    @property
    def database(self) -> Path:
        return self.state_dir / "statuswatch.db"

    def hook(self, path: str, *, credentials: str = "") -> str:
        """A json:// apprise URL that posts to the sink at `path`."""
        return f"json://{credentials}127.0.0.1:{self.sink.port}{path}"

    def subscribe(self, name: str, urls: Sequence[str], **options: Any) -> None:
        self.subscribers.append({"name": name, "urls": list(urls), **options})

    def write_config(self) -> None:
        settings = {"timeout": "2s", **self.settings}
        lines = [f"state_dir = {toml_value(str(self.state_dir))}"]
        lines += [f"{key} = {toml_value(value)}" for key, value in settings.items()]
        for name, values in self.sections.items():
            lines.append(f"[{name}]")
            lines += [f"{key} = {toml_value(value)}" for key, value in values.items()]
        lines += [
            "[[sources]]",
            'name = "apple"',
            f"url = {toml_value(self.sink.url())}",
            f"services = {toml_value(self.services)}",
        ]
        for subscriber in self.subscribers:
            lines.append("[[subscribers]]")
            lines += [f"{key} = {toml_value(value)}" for key, value in subscriber.items()]
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def env(self, now: datetime) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("STATUSWATCH_", "JOURNAL_", "NOTIFY_", "CREDENTIALS_"))
            and key not in ("INVOCATION_ID", "STATE_DIRECTORY", "CONFIGURATION_DIRECTORY")
        }
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / "xdg"),
            STATUSWATCH_NOW=now.isoformat(),
            PYTHONDONTWRITEBYTECODE="1",
            # The code under test is this checkout's, whether or not it is installed.
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        )
        return env

    def argv(self, *args: str, python: Sequence[str] = ()) -> list[str]:
        return [sys.executable, *python, "-m", "statuswatch", *self.args(*args)]

    def args(self, *args: str) -> list[str]:
        return ["--config", str(self.config), *args]

    def run(
        self, *args: str, now: datetime, python: Sequence[str] = (), process: bool = False
    ) -> Result:
        """`statuswatch ARGS` in this process; as a real subprocess with `process=True` or
        when interpreter options (`python`, e.g. -X importtime) are given."""
        self.write_config()
        if process or python:
            done = subprocess.run(
                self.argv(*args, python=python),
                env=self.env(now),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        else:
            done = run_statuswatch(self.args(*args), env=self.env(now), cwd=self.home)
        result = Result(done.returncode, done.stdout, done.stderr)
        assert "Traceback" not in result.output, result.stderr
        self.runs.append(result)
        return result

    def start(self, *args: str, now: datetime) -> subprocess.Popen[str]:
        self.write_config()
        return subprocess.Popen(
            self.argv(*args),
            env=self.env(now),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def check(
        self, now: datetime, body: bytes | None = None, *, expect: int | tuple[int, ...] = 0
    ) -> Result:
        """`statuswatch check` at `now`, the feed first set to `body` when given."""
        if body is not None:
            self.sink.set_body(body)
        result = self.run("check", now=now)
        assert result.code in (expect if isinstance(expect, tuple) else (expect,)), result.output
        return result

    def outbox(self, now: datetime) -> list[dict[str, Any]]:
        result = self.run("outbox", "--json", now=now)
        assert result.code == 0, result.output
        return json.loads(result.stdout)

    def rows(self) -> list[OutboxRow]:
        """The outbox's pending, sending and dead rows, read through the store."""
        store = SqliteStore.open(self.state_dir)
        try:
            return store.outbox_rows()
        finally:
            store.close()

    def database_bytes(self) -> bytes:
        return b"".join(
            path.read_bytes()
            for path in self.state_dir.iterdir()
            if path.name.startswith("statuswatch.db")
        )

    def messages(self, path: str) -> list[dict[str, Any]]:
        """The JSON bodies apprise's json:// plugin posted to `path` and the sink accepted."""
        return [json.loads(post.body) for post in self.sink.accepted(path)]

    def titles(self, path: str) -> list[str]:
        return [message["title"] for message in self.messages(path)]

    def bodies(self, path: str) -> list[str]:
        return [message["message"] for message in self.messages(path)]
