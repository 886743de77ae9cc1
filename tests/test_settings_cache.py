"""settings_cache.py: `check` reuses validated settings only while every input is the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from statuswatch import settings_cache
from statuswatch.config import load_settings
from statuswatch.settings_view import SettingsView, full_settings, with_loader

ROOT = Path(__file__).resolve().parent.parent
SECRET = "tok_CacheSecret42"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("STATUSWATCH_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, extra: str = "", timeout: str = "5s") -> Path:
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    (tmp_path / "urls.txt").write_text(f"json://127.0.0.1:9/{SECRET}\n")
    path = tmp_path / "statuswatch.toml"
    path.write_text(
        f'state_dir = "{state}"\ntimeout = "{timeout}"\nfetch_retries = 0\n'
        '[[sources]]\nname = "apple"\nurl = "http://127.0.0.1:9/feed.json"\n'
        'services = ["iCloud Backup", "Mail"]\n'
        '[[subscribers]]\nname = "me"\n'
        f'urls = ["json://user:pw@127.0.0.1:9/{SECRET}"]\n'
        'kinds = ["recovered", "maintenance"]\nservices = ["iCloud Backup"]\n'
        '[[subscribers]]\nname = "file"\n'
        f'urls_file = "{tmp_path / "urls.txt"}"\n' + extra
    )
    return path


def prime(path: Path, overrides: dict[str, Any] | None = None) -> settings_cache.Lookup:
    """A miss, then the real settings saved: what `check` does on its first run."""
    found = settings_cache.lookup(path, overrides or {})
    assert found.settings is None
    settings_cache.save(found, load_settings(path, **(overrides or {})))
    return found


def hit(path: Path, overrides: dict[str, Any] | None = None) -> SettingsView | None:
    return settings_cache.lookup(path, overrides or {}).settings


def test_a_hit_has_the_same_values_and_methods_as_the_real_settings(tmp_path: Path) -> None:
    path = write(tmp_path)
    prime(path)
    view = hit(path)
    real = load_settings(path)
    assert isinstance(view, SettingsView)
    assert view.timeout == real.timeout == 5.0
    assert view.state_dir == real.state_dir and isinstance(view.state_dir, Path)
    assert [s.name for s in view.subscribers] == ["me", "file"]
    assert view.subscribers[0].urls == real.subscribers[0].urls
    for kind, service in [("recovered", "icloud backup"), ("outage", "iCloud Backup"),
                          ("maintenance", "Mail"), ("maintenance", None)]:  # fmt: skip
        assert view.subscribers[0].wants(kind, service) == real.subscribers[0].wants(kind, service)
    source = view.sources[0]
    assert source.watched == real.sources[0].watched == ["iCloud Backup", "Mail"]
    assert view.source_interval(source) == real.source_interval(real.sources[0])
    assert view.database_dsn() is None
    assert full_settings(with_loader(view, lambda: real)) is real


def test_the_entry_holds_no_secret_and_is_private(tmp_path: Path) -> None:
    path = write(tmp_path)
    prime(path)
    entry = tmp_path / "state" / settings_cache.CACHE_NAME
    assert SECRET not in entry.read_text() and "://" not in entry.read_text()
    assert entry.stat().st_mode & 0o077 == 0


def test_the_config_file_bytes_invalidate(tmp_path: Path) -> None:
    path = write(tmp_path)
    prime(path)
    assert hit(path) is not None
    write(tmp_path, timeout="7s")
    assert hit(path) is None
    prime(path)
    view = hit(path)
    assert view is not None and view.timeout == 7.0


@pytest.mark.parametrize("which", ["urls_file", "apprise_config", "database_file"])
def test_an_included_file_invalidates(tmp_path: Path, which: str) -> None:
    included = tmp_path / f"{which}.txt"
    included.write_text("one\n")
    extra = {
        "urls_file": f'[[subscribers]]\nname = "x"\nurls_file = "{included}"\n',
        "apprise_config": f'[[subscribers]]\nname = "x"\napprise_config = "{included}"\n',
        "database_file": "",
    }[which]
    path = write(tmp_path, extra)
    if which == "database_file":
        text = path.read_text()
        path.write_text(f'database_file = "{included}"\n' + text)
    prime(path)
    assert hit(path) is not None
    included.write_text("two\n")
    assert hit(path) is None
    prime(path)
    assert hit(path) is not None
    included.unlink()
    assert hit(path) is None


def test_a_file_named_through_credentials_directory_follows_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "urls").write_text(f"json://127.0.0.1:9/{name}\n")
    extra = '[[subscribers]]\nname = "x"\nurls_file = "${CREDENTIALS_DIRECTORY}/urls"\n'
    path = write(tmp_path, extra)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "a"))
    prime(path)
    assert hit(path) is not None
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "b"))
    assert hit(path) is None


@pytest.mark.parametrize(
    "name, value",
    [
        ("STATUSWATCH_TIMEOUT", "9s"),
        ("statuswatch_confirm", "2"),  # pydantic-settings reads them in any case
        ("XDG_STATE_HOME", "/elsewhere"),
        ("HOME", "/home/someone-else"),
        ("CREDENTIALS_DIRECTORY", "/run/credentials/x"),
        ("STATE_DIRECTORY", "/var/lib/x"),
    ],
)
def test_the_environment_invalidates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    path = write(tmp_path)
    prime(path)
    assert hit(path) is not None
    monkeypatch.setenv(name, value)
    assert hit(path) is None


def test_an_unrelated_variable_does_not_invalidate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path)
    prime(path)
    monkeypatch.setenv("SOMETHING_ELSE", "1")
    assert hit(path) is not None


def test_overrides_cwd_version_and_code_invalidate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path)
    prime(path)
    assert hit(path, {"state_dir": tmp_path / "state"}) is None
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    assert hit(path) is None
    monkeypatch.chdir(tmp_path)
    assert hit(path) is not None
    monkeypatch.setattr(settings_cache, "__version__", "99.0")
    assert hit(path) is None
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    assert hit(path) is not None
    monkeypatch.setattr(settings_cache, "_code_stamp", lambda: ["config.py changed"])
    assert hit(path) is None


def test_secrets_from_the_environment_are_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path)
    monkeypatch.setenv("STATUSWATCH_DATABASE", "postgresql://u:S3cret@127.0.0.1/db")
    found = settings_cache.lookup(path, {})
    settings_cache.save(found, load_settings(path))
    assert not (tmp_path / "state" / settings_cache.CACHE_NAME).exists()


@pytest.mark.parametrize("garbage", [b"", b"{", b'{"format": 1}', b"\xff\xfe", b"[]"])
def test_a_torn_or_foreign_entry_is_a_miss(tmp_path: Path, garbage: bytes) -> None:
    path = write(tmp_path)
    found = prime(path)
    entry = tmp_path / "state" / settings_cache.CACHE_NAME
    good = json.loads(entry.read_bytes())
    entry.write_bytes(garbage)
    assert hit(path) is None
    entry.write_text(json.dumps({**good, "settings": {"$m": "Settings", "f": {"x": {"$r": [9]}}}}))
    assert hit(path) is None
    assert found.key == good["key"]


def test_concurrent_writers_and_readers_see_whole_entries(tmp_path: Path) -> None:
    path = write(tmp_path)
    real = load_settings(path)
    prime(path)
    problems: list[str] = []

    def writer() -> None:
        for _ in range(150):
            found = settings_cache.lookup(path, {})
            found.settings = None  # write even on a hit
            settings_cache.save(found, real)

    def reader() -> None:
        for _ in range(300):
            view = hit(path)
            if view is None or view.timeout != 5.0:
                problems.append(repr(view))

    threads = [threading.Thread(target=writer) for _ in range(3)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
    leftovers = [p.name for p in (tmp_path / "state").iterdir() if p.suffix == ".tmp"]
    assert leftovers == []


def test_check_on_a_hit_does_not_import_pydantic(tmp_path: Path) -> None:
    """Two real `check` runs against a dead feed URL (exit 69): the second reuses the cache."""
    path = write(tmp_path)
    code = (
        "import sys; from statuswatch.cli import main; rc = main(sys.argv[1:]); "
        "print('PYDANTIC' if 'pydantic' in sys.modules else 'LIGHT'); sys.exit(rc)"
    )
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("STATUSWATCH_")}
    env["PYTHONPATH"] = str(ROOT)
    runs = [
        subprocess.run(
            [sys.executable, "-c", code, "--config", str(path), "check", "--quiet"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        for _ in range(2)
    ]
    assert [r.returncode for r in runs] == [69, 69], [r.stderr for r in runs]
    assert [r.stdout.split()[-1] for r in runs] == ["PYDANTIC", "LIGHT"]
    assert runs[0].stderr == runs[1].stderr


def test_the_daemon_validates_in_a_child_and_keeps_pydantic_out(tmp_path: Path) -> None:
    """`statuswatch run` loads settings through load_aside(): a miss is validated by a
    child process; the daemon reads the entry it wrote, and a mistake is the same sentence."""
    good = write(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text() + 'confirm = "often"\n'.replace("confirm", "tiemout"))
    code = (
        "import sys, json; from pathlib import Path\n"
        "from statuswatch.settings_cache import load_aside\n"
        "from statuswatch.errors import ConfigError\n"
        "def validate():\n"
        "    raise SystemExit('validated in the daemon itself')\n"
        "try:\n"
        "    s = load_aside(Path(sys.argv[1]), {}, validate)\n"
        "    print(json.dumps([s.timeout, 'pydantic' in sys.modules]))\n"
        "except ConfigError as e:\n"
        "    print(json.dumps(['error', str(e)]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("STATUSWATCH_")}
    env["PYTHONPATH"] = str(ROOT)

    def run(path: Path) -> Any:
        done = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert run(good) == [5.0, False]
    assert run(good) == [5.0, False]  # now a plain hit
    kind, message = run(bad)
    assert kind == "error" and "tiemout" in message and str(bad) in message
