"""Print what each kind of notification looks like, as Markdown for docs/notifications.md.

Run from an environment where statuswatch is installed (`pip install -e .`):

    python docs/render_examples.py > /tmp/examples.md

The examples come from `render()` itself, so the docs show real output; paste it back into
docs/notifications.md whenever the wording changes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from statuswatch.model import Kind, to_epoch_ms
from statuswatch.notify.catchup import render_catch_up
from statuswatch.notify.digest import render_digest
from statuswatch.notify.render import (
    TEMPLATE_FIELDS,
    Message,
    render,
    sample_transition,
)

RESOLVED = "iCloud Backup was unavailable due to scheduled maintenance."
# Fixed so the output does not change from run to run; 14 May 2024 is a Tuesday.
NOW = datetime(2024, 5, 14, 16, 14, tzinfo=UTC)

DESCRIPTIONS = {
    Kind.RECOVERED: "A service is available again (here iCloud Backup, after maintenance).",
    Kind.MAINTENANCE: "A service has gone under maintenance.",
    Kind.OUTAGE: "Apple reports an outage.",
    Kind.ISSUE: "Apple reports an issue.",
    Kind.PERFORMANCE: "Apple reports degraded performance.",
    Kind.INITIAL: "statuswatch sees a service for the first time and it is not available.",
    Kind.SCHEDULED: "Apple announces planned maintenance (sent once per announcement).",
    Kind.SOURCE_DOWN: "statuswatch has had no data from Apple's feed for longer than"
    " `stale_after`.",
    Kind.SOURCE_UP: "The feed can be read again after a `source_down`.",
    Kind.STARTING: 'A planned event is about to start (`remind_before`, here the "1h" reminder).',
    Kind.REMINDER: "A service is still not available (`repeat_every`, here after 12 h).",
}


def block(message: Message) -> str:
    return f"```text\n{message.title}\n\n{message.body}\n```"


def main() -> None:
    for kind, description in DESCRIPTIONS.items():
        message = render(sample_transition(kind, now=NOW))
        print(f"### `{kind.value}`\n\n{description}\n\n{block(message)}\n")

    print("### Another service recovering\n")
    print("Only iCloud Backup gets the backup checklist.\n")
    print(f"{block(render(sample_transition('recovered', service='Mail', now=NOW)))}\n")

    print("### In your time zone\n")
    print('With `timezone = "Europe/Paris"`:\n')
    scheduled = sample_transition("scheduled", now=NOW)
    print(f"{block(render(scheduled, timezone='Europe/Paris'))}\n")

    print("### Several changes at once (digest)\n")
    digest = render_digest(
        [
            sample_transition("source_up", now=NOW + timedelta(minutes=2)),
            sample_transition("recovered", now=NOW),
            sample_transition("outage", service="Mail", now=NOW + timedelta(minutes=1)),
        ]
    )
    print(f"{block(digest)}\n")

    print("### After quiet hours (the catch-up)\n")
    print(
        'With `quiet_hours = "22:00-07:00"` and `timezone = "Europe/Paris"`, a maintenance'
        " that started at 23:10 and ended at 02:40 arrives at 07:00 as one message:\n"
    )
    night = datetime(2024, 5, 14, 21, 10, tzinfo=UTC)  # 23:10 CEST
    morning = night + timedelta(hours=3, minutes=30)  # 02:40 CEST
    went = sample_transition("maintenance", now=night)
    assert went.event is not None
    apple = replace(
        went.event,
        epoch_start_ms=to_epoch_ms(night - timedelta(minutes=2)),
        epoch_end_ms=to_epoch_ms(morning - timedelta(minutes=3)),
    )
    went = replace(went, event=apple)
    back = replace(
        sample_transition("recovered", now=morning),
        since=night,
        event=replace(apple, event_status="completed", message=RESOLVED),
    )
    catch_up = render_catch_up(
        [went, back], timezone="Europe/Paris", window="22:00-07:00", status_page=None
    )
    print(f"{block(catch_up)}\n")

    print("### Text from the feed is neutralised\n")
    print("A message containing Slack pings, HTML and a line break in the service name:\n")
    hostile = sample_transition("outage", service="Mail\n<!channel>", now=NOW)
    assert hostile.event is not None
    hostile = replace(
        hostile,
        event=replace(hostile.event, message="<b>Down</b> for @everyone <@U0123ABC>"),
    )
    print(f"{block(render(hostile))}\n")

    title_template = "[{kind}] {service}: {to_state}"
    body_template = "{service} is {to_state} since {at} (was {from_state} for {duration}). {link}"
    print("### With templates\n")
    print("With `title_template` and `body_template` set to\n")
    print(f"```text\n{title_template}\n{body_template}\n```\n")
    print("the same recovery reads:\n")
    templated = render(
        sample_transition("recovered", now=NOW),
        title_template=title_template,
        body_template=body_template,
    )
    print(f"{block(templated)}\n")

    print("### Template fields\n")
    print("| field | what it holds |\n| --- | --- |")
    for name, description in TEMPLATE_FIELDS.items():
        print(f"| `{{{name}}}` | {description} |")


if __name__ == "__main__":
    main()
