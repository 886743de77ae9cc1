"""Errors shared by modules that must not import each other's dependencies.

`ConfigError` lives here, not in config.py, so that `statuswatch check` can raise and
classify it without importing pydantic (see settings_cache.py).
"""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration problem, worded for the person who wrote the config."""
