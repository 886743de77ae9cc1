"""`statuswatch config show`: the resolved settings as TOML-like text, durations as they are
written ("30m", not 1800.0) and every secret masked."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from statuswatch.config import Settings
from statuswatch.secrets import mask_url
from statuswatch.settings_view import format_duration


def public_view(settings: Settings) -> str:
    """The resolved settings as TOML-like text, with every URL masked."""
    data = settings.model_dump(mode="json", exclude_none=True)
    _durations_as_written(settings, data)
    if "database" in data:
        from statuswatch.secrets import mask_dsn

        data["database"] = mask_dsn(data["database"])
    for subscriber in data.get("subscribers", []):
        subscriber["urls"] = [mask_url(url) for url in subscriber.get("urls", [])]
    for key in ("url", "fail_url"):
        if key in data.get("heartbeat", {}):
            data["heartbeat"][key] = mask_url(data["heartbeat"][key])
    lines = []
    for key, value in data.items():
        if key not in ("sources", "subscribers") and not isinstance(value, dict):
            lines.append(f"{key} = {json_value(value)}")
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"\n[{key}]")
            lines.extend(f"{k} = {json_value(v)}" for k, v in value.items())
    for section in ("sources", "subscribers"):
        for item in data.get(section, []):
            lines.append(f"\n[[{section}]]")
            lines.extend(f"{key} = {json_value(value)}" for key, value in item.items())
    return "\n".join(lines)


def _durations_as_written(model: BaseModel, data: dict[str, Any]) -> None:
    """Show durations as "30m", the way they are written, not as 1800.0 seconds."""
    for name, info in type(model).model_fields.items():
        if name not in data:
            continue
        value, dumped = getattr(model, name), data[name]
        if "parse_duration" in repr(info.annotation) + repr(info.metadata):
            if isinstance(dumped, int | float):
                data[name] = format_duration(dumped)
            elif isinstance(dumped, list):
                data[name] = [
                    format_duration(v) if isinstance(v, int | float) else v for v in dumped
                ]
        elif isinstance(value, BaseModel) and isinstance(dumped, dict):
            _durations_as_written(value, dumped)
        elif isinstance(value, list) and isinstance(dumped, list):
            for item, item_data in zip(value, dumped, strict=False):
                if isinstance(item, BaseModel) and isinstance(item_data, dict):
                    _durations_as_written(item, item_data)


def json_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
