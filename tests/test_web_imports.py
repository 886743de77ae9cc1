"""`check` is started by a timer every few minutes: it must not pay for the web stack,
nor for httpx's own command-line client.

Each probe runs `statuswatch check` in a fresh interpreter (against a local feed server)
and then lists which of the watched modules that process had imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.peers import FeedServer
from tests.webtools import free_port, maintenance_feed

ROOT = Path(__file__).resolve().parent.parent
# (h11 is not listed: httpx itself uses it.)
WEB_STACK = ("starlette", "uvicorn", "jinja2", "prometheus_client", "statuswatch.web")
# What `import httpx` loads for `httpx.main` alone (sources/client.py leaves it out); click
# is installed with apprise and uvicorn, pygments with pytest.
HTTPX_CLI = ("click", "pygments", "rich")
PROBE = """
import json, sys
from statuswatch.cli import main
code = main(sys.argv[1:])
watched = {watched!r}
loaded = sorted(m for m in sys.modules if any(m == w or m.startswith(w + ".") for w in watched))
with open({out!r}, "w") as handle:
    json.dump({{"code": code, "loaded": loaded}}, handle)
"""


def probe(
    tmp_path: Path, config: str, *args: str, watched: tuple[str, ...] = WEB_STACK
) -> dict[str, object]:
    path = tmp_path / "c.toml"
    path.write_text(config, encoding="utf-8")
    out = tmp_path / "probe.json"
    code = PROBE.format(watched=watched, out=str(out))
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSWATCH_")}
    env.update(PYTHONPATH=str(ROOT), HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "xdg"))
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            *args,
            "--config",
            str(path),
            "--state-dir",
            str(tmp_path / "state"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert out.exists(), done.stderr
    result: dict[str, object] = json.loads(out.read_text())
    return result


def config(url: str, extra: str = "") -> str:
    return f'[[sources]]\nname = "apple"\nurl = "{url}"\nservices = ["iCloud Backup"]\n{extra}'


def test_check_imports_nothing_of_the_web_stack_even_with_http_configured(
    tmp_path: Path,
) -> None:
    with FeedServer() as feed:
        feed.set_body(maintenance_feed())
        for extra in ("", f'[http]\nlisten = "127.0.0.1:{free_port()}"\n'):
            result = probe(tmp_path, config(feed.url(), extra), "check")
            assert result == {"code": 0, "loaded": []}, extra


def test_check_leaves_out_the_httpx_command_line_client(tmp_path: Path) -> None:
    import click  # noqa: F401 - the probe below means something only if click is there

    with FeedServer() as feed:
        feed.set_body(maintenance_feed())
        result = probe(tmp_path, config(feed.url()), "check", watched=HTTPX_CLI)
    assert result == {"code": 0, "loaded": []}


def test_check_with_export_loads_only_the_template_engine(tmp_path: Path) -> None:
    with FeedServer() as feed:
        feed.set_body(maintenance_feed())
        extra = f'[export]\ndir = "{tmp_path / "site"}"\n'
        result = probe(tmp_path, config(feed.url(), extra), "check", "--json")
    assert result["code"] == 0
    loaded = {str(name).split(".")[0] for name in result["loaded"]}  # type: ignore[attr-defined]
    assert "jinja2" in loaded and "statuswatch" in loaded
    assert not loaded & {"starlette", "uvicorn", "prometheus_client"}
    assert (tmp_path / "site" / "index.html").is_file()


def test_the_daemon_module_alone_imports_no_web_stack(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, statuswatch.daemon, statuswatch.cli, statuswatch.output; "
            f"print([m for m in sys.modules if m.split('.')[0] in {WEB_STACK[:4]!r} "
            "or m.startswith('statuswatch.web')])",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
