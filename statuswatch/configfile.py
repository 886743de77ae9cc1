"""Where the config file is (DESIGN §5 search order), found without importing pydantic."""

from __future__ import annotations

import os
from pathlib import Path

from statuswatch.errors import ConfigError


def find_config_file(explicit: str | None = None) -> Path | None:
    """`--config` > $STATUSWATCH_CONFIG > $CONFIGURATION_DIRECTORY > XDG > /etc.

    A file named explicitly must exist; the others are optional.
    """
    named = explicit or os.environ.get("STATUSWATCH_CONFIG")
    if named:
        path = Path(named).expanduser()
        origin = "--config" if explicit else "STATUSWATCH_CONFIG"
        if path.is_dir():
            raise ConfigError(
                f"the config file {path} (from {origin}) is a directory; name the file "
                f"itself, e.g. {path / 'statuswatch.toml'}"
            )
        if not path.is_file():
            raise ConfigError(
                f"the config file {path} (from {origin}) does not exist; "
                "create it from config.example.toml or fix the path"
            )
        return path
    candidates = []
    if os.environ.get("CONFIGURATION_DIRECTORY"):
        first = os.environ["CONFIGURATION_DIRECTORY"].split(":")[0]
        candidates.append(Path(first) / "statuswatch.toml")
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    candidates.append(Path(xdg) / "statuswatch" / "statuswatch.toml")
    candidates.append(Path("/etc/statuswatch/statuswatch.toml"))
    return next((path for path in candidates if path.is_file()), None)
