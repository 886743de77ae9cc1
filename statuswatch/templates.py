"""Operator-written title and body templates: the fields they may use, and checking them.

Only plain field names are allowed ("{service}", "{at:>20}"): "{service.__class__}" or
"{service[0]}" would let a template reach into Python objects. Pure.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator

# A template's format spec is operator-written, but "{message:>999999999}" would still
# allocate a gigabyte before any cap applies.
TEMPLATE_WIDTH_MAX = 1000


class TemplateError(ValueError):
    """A title or body template that cannot be rendered (unknown field, bad syntax)."""


TEMPLATE_FIELDS: dict[str, str] = {
    "service": "the service's name as Apple spells it, e.g. iCloud Backup (empty for feed-health"
    " messages)",
    "kind": "what happened: recovered, outage, issue, performance, maintenance, initial,"
    " scheduled, source_down or source_up",
    "emoji": "the symbol the default title starts with, e.g. ✅ (may be empty)",
    "from_state": "the state before the change: available, maintenance, performance, issue,"
    " outage or unknown (empty when there was none)",
    "to_state": "the state after the change",
    "at": "when statuswatch saw the change, in your time zone, e.g. Tue 14 May 18:00 CEST",
    "at_iso": "the same moment in UTC, ISO-8601, e.g. 2024-05-14T16:00:00Z",
    "since": "when the previous state began, in your time zone (for recovered: the start Apple"
    " gives for the event when it gives one; for initial: when the current state was first"
    " seen; for source_down: when the feed was last read; for source_up: when it first failed;"
    " empty when unknown)",
    "duration": "how long the previous state lasted, e.g. 2 h 14 min; for recovered, from"
    " Apple's start and end of the event when it gives them (empty when unknown)",
    "message": "Apple's own message for the event (empty when there is none)",
    "users_affected": "Apple's note on who is affected, e.g. Some users were affected",
    "status_type": "Apple's statusType for the event: Maintenance, Outage, Issue, Performance",
    "event_status": "Apple's eventStatus for the event: ongoing, resolved, scheduled, ...",
    "window": "the event's time window as Apple gives it, in your time zone, e.g."
    " Tue 14 May 18:00–19:00 UTC (empty when Apple gives no start)",
    "link": "the service's page if Apple links one on apple.com, else the status page",
    "status_page": "the status page: the configured one, else Apple's System Status page",
    "reason": "for source_down: the last error reading the feed (empty otherwise)",
    "source": "the name of the feed the change was seen in, e.g. consumer or developer",
    "timezone": "the time zone used for times, e.g. Europe/Paris",
    "default_title": "the title statuswatch would have used",
    "default_body": "the body statuswatch would have used",
}


_FORMATTER = string.Formatter()
_VALID_FIELDS = ", ".join(sorted(TEMPLATE_FIELDS))


def _field_names(template: str) -> Iterator[tuple[str, str]]:
    """(field name, format spec) of every replacement field, nested ones included."""
    for _literal, name, spec, _conversion in _FORMATTER.parse(template):
        if name is None:
            continue
        yield name, spec or ""
        if spec:
            yield from _field_names(spec)


def validate_template(template: str) -> None:
    """Raise TemplateError unless `template` renders with TEMPLATE_FIELDS alone.

    Called at config load so a bad template is reported when statuswatch starts, not when
    the first alert is due. Only plain names are allowed: "{service.__class__}" or
    "{service[0]}" would let a template reach into Python objects.
    """
    if not isinstance(template, str):
        raise TemplateError(f"a template must be a string, not {type(template).__name__}")
    try:
        fields = list(_field_names(template))
    except ValueError as exc:
        raise TemplateError(f"template {template!r} is not a valid format string: {exc}") from None
    unknown: list[str] = []
    for name, spec in fields:
        if name == "" or name.isdigit():
            raise TemplateError(
                f"template {template!r} has a positional field {{{name}}}; use a named one"
                f" such as {{service}}. Valid fields: {_VALID_FIELDS}"
            )
        if name not in TEMPLATE_FIELDS and name not in unknown:
            unknown.append(name)
        if any(int(number) > TEMPLATE_WIDTH_MAX for number in re.findall(r"\d+", spec)):
            raise TemplateError(
                f"template {template!r}: format spec {spec!r} of {{{name}}} is wider than"
                f" {TEMPLATE_WIDTH_MAX} characters"
            )
    if unknown:
        names = ", ".join(f"{{{name}}}" for name in unknown)
        plural = "fields" if len(unknown) > 1 else "field"
        raise TemplateError(
            f"template {template!r} uses unknown {plural} {names}; valid fields: {_VALID_FIELDS}"
        )
    try:
        # Every field is a string, so a trial run catches bad format specs ("{service:d}").
        template.format_map(dict.fromkeys(TEMPLATE_FIELDS, "x"))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise TemplateError(f"template {template!r} cannot be rendered: {exc}") from None


def apply_template(template: str, fields: dict[str, str]) -> str:
    validate_template(template)
    return template.format_map(fields)
