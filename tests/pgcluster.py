"""A throwaway PostgreSQL cluster for tests and benchmarks (DESIGN §5, issue 13).

`initdb` + `pg_ctl` from Debian's `postgresql` package, in a temporary directory,
listening on 127.0.0.1 on a free port, with a password for the superuser (so wrong
passwords can be tested) and durability switched off (it is thrown away). PostgreSQL
refuses to run as root: as root the binaries run as the `postgres` user through
`runuser`; otherwise directly.

    with PgCluster.start() as cluster:
        dsn = cluster.create_database("t1")     # postgresql://postgres:…@127.0.0.1:PORT/t1
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

SUPERUSER = "postgres"
PASSWORD = "sw-test-secret-pw"


class PgUnavailable(Exception):
    """No PostgreSQL server binaries on this machine."""


def find_bindir() -> Path:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    for candidate in reversed(candidates):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise PgUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) are not installed; "
        "`apt-get install postgresql` (.ci/run does it)"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgCluster:
    def __init__(self, bindir: Path, root: Path, port: int) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.port = port
        self._as_root = os.geteuid() == 0

    # -- lifecycle ---------------------------------------------------------------------

    @classmethod
    def start(cls) -> PgCluster:
        bindir = find_bindir()
        root = Path(tempfile.mkdtemp(prefix="statuswatch-pg-"))
        last_error = ""
        for _ in range(5):  # a free port can be taken between choosing and binding it
            cluster = cls(bindir, root, _free_port())
            try:
                cluster._init_and_start()
                return cluster
            except subprocess.CalledProcessError as error:
                last_error = (error.stderr or b"").decode(errors="replace")
                cluster._stop_quietly()
                shutil.rmtree(cluster.data, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"could not start a throwaway PostgreSQL: {last_error}")

    def _run(self, *command: str) -> subprocess.CompletedProcess[bytes]:
        args = [str(self.bindir / command[0]), *command[1:]]
        if self._as_root:
            args = ["runuser", "-u", "postgres", "--", *args]
        return subprocess.run(args, check=True, capture_output=True, timeout=120)

    def _init_and_start(self) -> None:
        if self._as_root:
            shutil.chown(self.root, "postgres", "postgres")
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self._as_root:
            shutil.chown(pwfile, "postgres", "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.root}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
                "-c shared_buffers=16MB",
            ]
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        self._stop_quietly()
        shutil.rmtree(self.root, ignore_errors=True)

    def _stop_quietly(self) -> None:
        with contextlib.suppress(
            subprocess.CalledProcessError, subprocess.TimeoutExpired, FileNotFoundError
        ):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def __enter__(self) -> PgCluster:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- databases ---------------------------------------------------------------------

    def dsn(self, dbname: str = "postgres", user: str = SUPERUSER, password: str = PASSWORD) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{dbname}"

    def admin(self, sql: str, dbname: str = "postgres") -> list[tuple[object, ...]]:
        """Run one statement as the superuser (autocommit, so CREATE DATABASE works)."""
        import psycopg

        with psycopg.connect(self.dsn(dbname), autocommit=True, connect_timeout=10) as conn:
            cursor = conn.execute(sql)  # type: ignore[arg-type]
            return list(cursor.fetchall()) if cursor.description else []

    def create_database(self, name: str, owner: str = SUPERUSER) -> str:
        deadline = time.monotonic() + 30
        while True:
            try:
                self.admin(
                    f'CREATE DATABASE "{name}" OWNER "{owner}" TEMPLATE template0 '
                    "STRATEGY FILE_COPY"
                )
                break
            except Exception as error:  # "source database is being accessed" under load
                if "being accessed" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        return self.dsn(name)
