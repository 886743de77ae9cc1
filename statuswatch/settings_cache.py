"""A cache of validated settings, so that `statuswatch check` does not import pydantic.

A timer starts `check` every few minutes, and most runs only learn that the feed answered
304. Building the pydantic-settings models costs such a run more than all of its own
work, so the settings validated by config.py are kept in the state directory
(`settings-cache.json`) and read back as settings_view objects when nothing they were
made from has changed:

- the config file's path and bytes, and the working directory (relative paths);
- the command-line overrides (`--state-dir`);
- the environment that can change them: every STATUSWATCH_* variable (in any case, as
  pydantic-settings reads them), XDG_*, HOME, CREDENTIALS_DIRECTORY, STATE_DIRECTORY,
  CONFIGURATION_DIRECTORY;
- the files the settings name (urls_file, apprise_config, database_file): their paths
  as expanded now and their bytes;
- statuswatch's version and the code that validates (config.py and these modules), and
  the installed pydantic and pydantic-settings.

Any difference is a miss: the settings are validated again and the entry replaced. A
value of a type this module does not know how to read back exactly is never cached.
The entry is written to a temporary file and renamed over the old one, so a concurrent
reader sees either entry whole; a torn or foreign file is a miss. The entry holds no
secret: every URL (apprise URLs and DSNs carry tokens and passwords) is kept as its place
in the config file and read from there, and settings that take a secret from the
environment (a DSN or URLs in a STATUSWATCH_* variable) are not cached at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from statuswatch import __version__
from statuswatch.settings_view import VIEWS, Section, SettingsView, database_file_path

CACHE_NAME = "settings-cache.json"
FORMAT = 1
_ENV_NAMES = frozenset(
    {"HOME", "CREDENTIALS_DIRECTORY", "STATE_DIRECTORY", "CONFIGURATION_DIRECTORY"}
)
_ENV_PREFIXES = ("STATUSWATCH_", "XDG_")
# Variables whose value may be a secret (a DSN, apprise URLs): not copied into a file.
_SECRET_WORDS = ("DATABASE", "SUBSCRIBER", "URL", "HEARTBEAT", "PASSWORD", "TOKEN", "SECRET")
_CODE = ("config.py", "settings_view.py", "settings_cache.py", "configfile.py", "errors.py")


class _Unencodable(Exception):
    """A settings value this cache could not read back exactly: do not cache."""


@dataclass
class Lookup:
    """The outcome of `lookup()`: a hit (`settings`) or what `save()` needs after a miss."""

    path: Path | None
    overrides: dict[str, Any]
    folder: Path | None = None  # where the entry lives; None: this run cannot cache
    key: str = ""
    settings: SettingsView | None = None
    raw: dict[str, Any] = field(default_factory=dict)  # the config file, as TOML data


def _relevant_env() -> list[tuple[str, str]]:
    return sorted(
        (name, value)
        for name, value in os.environ.items()
        if name in _ENV_NAMES or name.upper().startswith(_ENV_PREFIXES)
    )


def _secret_in_env(env: list[tuple[str, str]]) -> bool:
    return any(
        name.upper().startswith("STATUSWATCH_") and any(w in name.upper() for w in _SECRET_WORDS)
        for name, _ in env
    )


def _code_stamp() -> list[Any]:
    here = Path(__file__).parent
    stamp: list[Any] = [__version__, sys.version]
    for name in _CODE:
        with contextlib.suppress(OSError):
            info = (here / name).stat()
            stamp.append([name, info.st_mtime_ns, info.st_size])
    from importlib.util import find_spec

    for package in ("pydantic", "pydantic_settings", "pydantic_core"):
        with contextlib.suppress(ImportError, ValueError, OSError, AttributeError):
            spec = find_spec(package)
            origin = spec.origin if spec is not None else None
            if origin:
                info = os.stat(origin)
                stamp.append([package, origin, info.st_mtime_ns, info.st_size])
    return stamp


def _state_dir(overrides: dict[str, Any], env: list[tuple[str, str]], raw: dict[str, Any]) -> Path:
    """The state directory the settings will name, in pydantic-settings' precedence."""
    if overrides.get("state_dir") is not None:
        return Path(overrides["state_dir"]).expanduser()
    for name, value in env:
        if name.upper() == "STATUSWATCH_STATE_DIR":
            return Path(value).expanduser()
    if isinstance(raw.get("state_dir"), str):
        return Path(raw["state_dir"]).expanduser()
    from statuswatch.store.sqlite import default_state_dir

    return default_state_dir()


def lookup(path: Path | None, overrides: dict[str, Any]) -> Lookup:
    """Find the cached settings for these inputs. Never raises for a cache problem."""
    found = Lookup(path=path, overrides=overrides)
    env = _relevant_env()
    if _secret_in_env(env):
        return found
    try:
        data = path.read_bytes() if path is not None else None
        raw = tomllib.loads(data.decode("utf-8")) if data is not None else {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return found  # config.py says what is wrong with the file
    digest = hashlib.sha256()
    for part in (
        FORMAT,
        _code_stamp(),
        os.getcwd(),
        None if path is None else str(path.absolute()),
        {name: str(value) for name, value in sorted(overrides.items())},
        env,
    ):
        digest.update(json.dumps(part, sort_keys=True).encode() + b"\0")
    digest.update(data if data is not None else b"\0no file\0")
    found.key = digest.hexdigest()
    found.raw = raw
    found.folder = _state_dir(overrides, env, raw)
    try:
        entry = json.loads((found.folder / CACHE_NAME).read_bytes())
        if entry.get("format") != FORMAT or entry.get("key") != found.key:
            return found
        if any(_include(kind, raw_value) != [kind, raw_value, *rest]
               for kind, raw_value, *rest in entry["includes"]):  # fmt: skip
            return found
        view = _decode(entry["settings"], raw)
    except Exception:  # any unreadable, torn or foreign entry is a miss
        return found
    if not isinstance(view, SettingsView):
        return found
    found.settings = view
    return found


def save(found: Lookup, settings: Any) -> None:
    """After a miss: keep `settings` (the real, validated ones) for the next run."""
    if found.folder is None or found.settings is not None:
        return
    resolved = (
        Path(settings.state_dir).expanduser() if settings.state_dir else _state_dir({}, [], {})
    )
    if resolved != found.folder or not found.folder.is_dir():
        return  # the entry would never be found there; or the store creates it first
    try:
        entry = {
            "format": FORMAT,
            "key": found.key,
            "includes": [_include(kind, value) for kind, value in _included(settings)],
            "settings": _encode(settings, (), found.raw),
        }
        text = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
    except _Unencodable:
        return
    _write_atomically(found.folder / CACHE_NAME, text.encode())


def _write_atomically(target: Path, data: bytes) -> None:
    import tempfile

    try:
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".settings-", suffix=".tmp")
    except OSError:
        return  # an unwritable state directory: the store will say so
    try:
        with os.fdopen(handle, "wb") as out:
            os.fchmod(out.fileno(), 0o600)
            out.write(data)
        os.replace(temporary, target)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


# -- the files the settings name -------------------------------------------------------


def _included(settings: Any) -> list[tuple[str, str]]:
    files = []
    for subscriber in settings.subscribers:
        for kind in ("urls_file", "apprise_config"):
            value = getattr(subscriber, kind, None)
            if value:
                files.append((kind, value))
    if settings.database_file:
        files.append(("database_file", settings.database_file))
    return files


def _include(kind: str, value: str) -> list[Any]:
    """[kind, value as written, path as expanded now, sha256 of its bytes or None]."""
    try:
        if kind == "database_file":
            path = database_file_path(value)
        else:
            from statuswatch.notify.targets import expand_path

            path = expand_path(value)
    except Exception:  # e.g. $CREDENTIALS_DIRECTORY unset: record that
        return [kind, value, None, None]
    try:
        digest: str | None = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        digest = None
    return [kind, value, str(path), digest]


# -- values, tagged so that they read back as the same types ---------------------------
#
# A string holding "://" (an apprise URL, a DSN, a heartbeat URL: secrets) is never
# written: the entry says where it is in the config file, and it is read from there.


def _encode(value: Any, where: tuple[str | int, ...], raw: dict[str, Any]) -> Any:
    kind = type(value)
    if kind is str and "://" in value:
        if _at(raw, where) != value:
            raise _Unencodable("a URL that is not written as such in the config file")
        return {"$r": list(where)}
    if value is None or kind in (str, int, float, bool):
        return value
    if kind is list:
        return [_encode(item, (*where, i), raw) for i, item in enumerate(value)]
    if kind is tuple:
        return {"$t": [_encode(item, (*where, i), raw) for i, item in enumerate(value)]}
    if kind is dict and all(type(k) is str for k in value):
        return {"$d": {k: _encode(v, (*where, k), raw) for k, v in value.items()}}
    if isinstance(value, Path):
        return {"$p": str(value)}
    fields = getattr(kind, "model_fields", None)
    if isinstance(fields, dict) and kind.__module__.startswith("statuswatch."):
        encoded = {name: _encode(getattr(value, name), (*where, name), raw) for name in fields}
        return {"$m": kind.__name__, "f": encoded}
    raise _Unencodable(kind.__name__)


def _at(raw: Any, where: tuple[str | int, ...] | list[Any]) -> Any:
    for step in where:
        in_list = isinstance(step, int) and isinstance(raw, list) and 0 <= step < len(raw)
        if not (in_list or (isinstance(step, str) and isinstance(raw, dict) and step in raw)):
            return None
        raw = raw[step]
    return raw


def _decode(value: Any, raw: dict[str, Any]) -> Any:
    if isinstance(value, list):
        return [_decode(item, raw) for item in value]
    if not isinstance(value, dict):
        return value
    if "$r" in value:
        text = _at(raw, value["$r"])
        if not isinstance(text, str):
            raise ValueError("the config file no longer has that value")
        return text
    if "$t" in value:
        return tuple(_decode(item, raw) for item in value["$t"])
    if "$d" in value:
        return {k: _decode(v, raw) for k, v in value["$d"].items()}
    if "$p" in value:
        return Path(value["$p"])
    view = VIEWS.get(value["$m"], Section)
    return view({name: _decode(item, raw) for name, item in value["f"].items()})


# -- validating in another process (the daemon) ------------------------------------------


def load_aside(path: Path | None, overrides: dict[str, Any], validate: Callable[[], Any]) -> Any:
    """Settings for a long-running process (`statuswatch run`) that should not hold
    pydantic in memory for its whole life (about 10 MB): a cache hit as it is; after a
    miss, a short-lived child process validates and writes the entry, and it is read from
    there. A ConfigError in the child is raised here with its sentence. Whenever that
    cannot work (secrets from the environment, an unwritable state directory), the
    settings are validated in this process instead (`validate`)."""
    from statuswatch.settings_view import with_loader

    found = lookup(path, overrides)
    if found.settings is None and found.folder is not None:
        _validate_in_child(path, overrides)
        found = lookup(path, overrides)
    if found.settings is None:
        return validate()
    return with_loader(found.settings, validate)


def _validate_in_child(path: Path | None, overrides: dict[str, Any]) -> None:
    import subprocess

    from statuswatch.errors import ConfigError

    request = json.dumps(
        {"path": None if path is None else str(path), "overrides": _plain(overrides)}
    )
    # Not `-m statuswatch.settings_cache`: that finds statuswatch in the working directory
    # first, and a daemon (or the bench) started beside another checkout had that one
    # validate, under another code stamp, so its entry never matched and this process
    # validated after all, pydantic and its 10 MB included.
    # The child loads this very package from its folder; sys.path keeps its order.
    package = Path(__file__).resolve().parent
    try:
        child = subprocess.run(
            [sys.executable, "-c", _CHILD, str(package / "__init__.py"), str(package), request],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return  # validated in this process instead
    if child.returncode == _CONFIG_ERROR and child.stdout.strip():
        raise ConfigError(child.stdout.strip())


_CHILD = """import importlib.util, sys
spec = importlib.util.spec_from_file_location(
    "statuswatch", sys.argv[1], submodule_search_locations=[sys.argv[2]]
)
package = importlib.util.module_from_spec(spec)
sys.modules["statuswatch"] = package
spec.loader.exec_module(package)
from statuswatch.settings_cache import _child_main
sys.exit(_child_main(sys.argv[3]))
"""


def _plain(overrides: dict[str, Any]) -> dict[str, str]:
    return {name: str(value) for name, value in overrides.items()}


_CONFIG_ERROR = 78


def _child_main(request: str) -> int:
    from statuswatch.config import load_settings
    from statuswatch.errors import ConfigError

    data = json.loads(request)
    path = None if data["path"] is None else Path(data["path"])
    overrides: dict[str, Any] = {k: Path(v) for k, v in data["overrides"].items()}
    try:
        settings = load_settings(path, **overrides)
    except ConfigError as error:
        print(error)
        return _CONFIG_ERROR
    found = lookup(path, overrides)
    if found.folder is not None:
        with contextlib.suppress(OSError):
            found.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        save(found, settings)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1]))
