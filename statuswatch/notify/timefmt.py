"""Times and durations as people read them, in their own time zone. Pure.

Total over everything the parser accepts (DESIGN §1, §4): an epoch in the year 9999 shown
in Europe/Paris would be in the year 10000, which `datetime` cannot hold; such a moment is
shown in UTC instead (where it fits), never raised as OverflowError. Names of days and
months are our own rather than strftime's, which follow the process locale.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
UNKNOWN_TIME = "an unknown time"


def validate_timezone(name: str) -> None:
    """Raise ValueError unless `name` is an IANA time zone known on this machine.

    For config loading: `render` itself falls back to UTC (and says so in every time it
    prints) rather than failing to deliver.
    """
    if load_zone(name) is None:
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Paris or UTC"
        )


def load_zone(name: str) -> tzinfo | None:
    if name == "UTC":
        # Needs no tz database, which slim containers lack.
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):
        return None


def zone_or_utc(name: str) -> tzinfo:
    return load_zone(name) or UTC


def utc(moment: datetime) -> datetime:
    """The model's datetimes are UTC; a naive one would otherwise be read as local time."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def local(moment: datetime, zone: tzinfo) -> datetime | None:
    """`moment` in `zone`; in UTC where `zone` would leave datetime's range (years 1-9999);
    None only if even that fails."""
    moment = utc(moment)
    for target in (zone, UTC):
        try:
            return moment.astimezone(target)
        except (OverflowError, ValueError, OSError):
            continue
    return None


def from_epoch_ms(value: int | None) -> datetime | None:
    """An Apple epoch as a UTC datetime; None when there is none or it is not a time."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError, TypeError):
        # The feed is untrusted: an absurd epoch means "no time given", not a crash.
        return None


def abbreviation(moment: datetime) -> str:
    name = moment.tzname() or "UTC"
    # Zones without a letter abbreviation (Asia/Dubai) report "+04"; "UTC+04" reads better.
    match = re.fullmatch(r"([+-]\d{2})(\d{2})?", name)
    if match:
        return "UTC" + match.group(1) + (f":{match.group(2)}" if match.group(2) else "")
    return name


def _day(moment: datetime, reference_year: int | None) -> str:
    text = f"{_DAYS[moment.weekday()]} {moment.day} {_MONTHS[moment.month - 1]}"
    # "Fri 31 Dec" alone would read as this year's; a time in another year says which.
    if reference_year is not None and moment.year != reference_year:
        text += f" {moment.year}"
    return text


def _clock(moment: datetime) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


def _year(reference: datetime | None, zone: tzinfo) -> int | None:
    if reference is None:
        return None
    shown = local(reference, zone)
    return None if shown is None else shown.year


def format_moment(moment: datetime, zone: tzinfo, *, reference: datetime | None = None) -> str:
    """E.g. "Tue 14 May 18:00 CEST": always with the zone, since readers live in several.

    With `reference` (usually when the change was seen), a moment in another year shows
    its year: "Fri 31 Dec 9999 23:59 UTC".
    """
    shown = local(moment, zone)
    if shown is None:
        return UNKNOWN_TIME
    return f"{_day(shown, _year(reference, zone))} {_clock(shown)} {abbreviation(shown)}"


def format_window(
    start: datetime, end: datetime | None, zone: tzinfo, *, reference: datetime | None = None
) -> str:
    """E.g. "Tue 14 May 18:00–19:00 UTC"; dates and zones are repeated only when they differ."""
    first = local(start, zone)
    last = None if end is None or utc(end) <= utc(start) else local(end, zone)
    if first is None or last is None:
        return format_moment(start, zone, reference=reference)
    year = _year(reference, zone)
    first_zone, last_zone = abbreviation(first), abbreviation(last)
    same_day = first.date() == last.date()
    end_text = _clock(last) if same_day else f"{_day(last, year)} {_clock(last)}"
    if first_zone != last_zone:
        # A daylight-saving change inside the window: each end keeps its own zone.
        return f"{_day(first, year)} {_clock(first)} {first_zone} – {end_text} {last_zone}"
    if same_day:
        return f"{_day(first, year)} {_clock(first)}–{end_text} {first_zone}"
    return f"{_day(first, year)} {_clock(first)} – {end_text} {first_zone}"


def format_duration(delta: timedelta) -> str:
    """Format as "45 min", "2 h 14 min" or "3 d 4 h": truncated, never rounded up, so a
    duration is never reported longer than it was."""
    if delta < timedelta(0):
        raise ValueError(f"a duration cannot be negative: {delta}")
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "less than 1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    days, hours = divmod(hours, 24)
    if days >= 365:
        years = days // 365
        return f"more than {years} year" + ("s" if years > 1 else "")
    return f"{days} d" + (f" {hours} h" if hours else "")
