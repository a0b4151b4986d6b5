"""What to tell an organizer whose report command found nothing to report in the default week.

On a fresh installation the last complete week usually had no open wave or no answers yet (the
first answers are this week's). Instead of a report of zeros, the command says so and names the
waves and weeks that do have answers, with the exact command that reports one. Only the names
of waves and weeks are shown, never a count: counts of answers are published figures.
"""

from __future__ import annotations

import shlex

from sqlmodel import Session, select

from bot.cli.settings import invoked_as
from bot.infra import clock
from bot.infra.config import Settings
from bot.infra.db import get_engine
from bot.infra.models import Response
from bot.infra.weeks import iso_week, parse_week


def answered_weeks(settings: Settings) -> list[tuple[str, str]]:
    """(wave, ISO week) pairs that have stored answers, newest week first."""
    with Session(get_engine(settings.DATABASE_URL)) as session:
        pairs = session.exec(select(Response.wave, Response.completed_week).distinct()).all()
    return sorted(pairs, key=lambda pair: (pair[1], pair[0]), reverse=True)


def nothing_to_report(
    settings: Settings, week: str, waves: list[str], *, command: str
) -> str | None:
    """None if one of `waves` has answers in `week`; else what to say instead of a report."""
    pairs = answered_weeks(settings)
    if any((wave, week) in pairs for wave in waves):
        return None
    monday, sunday = parse_week(week)
    said = f"{week} ({monday:%b %d} to {sunday:%b %d}), the last complete week, "
    said += "had no answers" if waves else "had no open wave"
    if waves:
        said += f" in wave {', '.join(waves)}"
    if not pairs:
        return (
            f"{said}, and no survey has been answered yet. Answer it first (in the simulator "
            "of `surveybot dev`, or by texting the bot); a worker stores each answer within "
            "seconds."
        )
    this_week = iso_week(clock.today())
    listed = ", ".join(
        f"{wave} in {answered}" + (" (this week so far)" if answered == this_week else "")
        for wave, answered in pairs[:6]
    )
    wave, answered = next((pair for pair in pairs if pair[0] in waves), pairs[0])
    option = "this" if answered == this_week else answered
    run = f"{invoked_as()} {command} --wave {shlex.quote(wave)} --week {option}"
    return f"{said}. Answers are stored for: {listed}.\nTo report one: {run}"
