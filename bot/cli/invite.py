"""`surveybot wave invite WAVE FILE` and `surveybot wave remind WAVE FILE`: check an upload of
opted-in members' numbers, show what would be sent to how many people and how many days it
takes (the sending window, the daily caps, the rate), and queue the texts once the organizer
agrees.

Nothing here prints or keeps a number: the summary names counts and line numbers only, and the
file is read into memory, never copied.
"""

from __future__ import annotations

import click

from bot.cli.settings import command_settings
from bot.infra.exceptions import SurveybotError

LANGUAGES = ("en", "es", "ht")


def _open_wave_previews(settings, name: str, languages: list[str], kind: str):  # noqa: ANN001, ANN202
    """The exact invitation each language will receive from this wave, which must be open:
    read with its frozen questionnaire and start keywords, as the send jobs' text is."""
    from bot.infra.db import session_scope
    from bot.outreach.invitations import preview_invitations
    from bot.outreach.reminders import preview_reminders
    from bot.outreach.waves import WaveError, WaveStatus, get_wave, wave_questionnaire

    with session_scope(settings.DATABASE_URL) as session:
        try:
            wave = get_wave(session, name)
        except WaveError as exc:
            raise click.ClickException(str(exc)) from exc
        if wave.status != WaveStatus.OPEN:
            raise click.ClickException(
                f"wave {name!r} is {wave.status}: only an open wave can invite"
            )
        try:
            q = wave_questionnaire(session, name, settings)
            if kind == "reminder":
                return preview_reminders(q, languages[0])
            return preview_invitations(q, languages, keywords=wave.start_keywords)
        except SurveybotError as exc:
            raise click.ClickException(str(exc)) from exc


def _duration(count: int, rate: float) -> str:
    seconds = count / rate if rate > 0 else 0
    if seconds < 90:
        return f"about {max(1, round(seconds))} seconds"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} minutes"
    return f"about {seconds / 3600:.1f} hours"


def _estimate_line(settings, redis, wave: str, count: int, kind: str) -> str:  # noqa: ANN001
    """How long the sends take at the wave's window, the daily caps and the kind's rate."""
    from bot.outreach.progress import wave_estimate

    return f"Estimate: {wave_estimate(settings, redis, wave, count, kind).describe()}."


def groups_n(groups: dict[str, list[str]]) -> dict[str, int]:
    """How many numbers each channel has."""
    return {ch: len(numbers) for ch, numbers in groups.items()}


def _whatsapp_line(settings, redis, wave: str, language: str) -> str:  # noqa: ANN001
    """The template WhatsApp invitations use, and the keyword filling it (or the refusal)."""
    from bot.outreach.invitations import wave_keyword
    from bot.outreach.whatsapp_invites import check_whatsapp

    template = check_whatsapp(settings, language)
    return (
        f"WhatsApp invitations in {language}: the approved template {template} with {{{{1}}}} = "
        f"{wave_keyword(redis, wave, language)}, at up to "
        f"{settings.WHATSAPP_RATE_PER_SECOND:g} per second."
    )


_LANGUAGE = click.option(
    "--language",
    type=click.Choice(LANGUAGES),
    default="en",
    show_default=True,
    help="Language of the text; replies start the survey in it.",
)
_REGION = click.option(
    "--region",
    default=None,
    help="Country of numbers without a country code (default: DEFAULT_PHONE_REGION).",
)
_YES = click.option("--yes", is_flag=True, help="Queue without asking for confirmation.")


def _upload(wave: str, file, language: str, region: str | None, yes: bool, kind: str) -> None:  # noqa: ANN001, PLR0915
    """Check the upload, show the exact text and the estimate, ask, queue `kind` texts."""
    from redis import Redis

    from bot.infra.queues import get_queue
    from bot.outreach.invitations import describe_check, parse_invitation_csv
    from bot.outreach.reminders import queue_reminders
    from bot.outreach.upload import by_channel, describe_queued, queue_upload

    settings = command_settings(
        "DATABASE_URL", "REDIS_URL", "PSEUDONYM_KEY", purpose="to check opt-outs and queue texts"
    )
    # One language per upload: rows carry no language of their own.
    previews = _open_wave_previews(settings, wave, [language], kind)
    data = file.read()
    redis = Redis.from_url(settings.REDIS_URL)
    try:
        check = parse_invitation_csv(
            data,
            default_region=region or settings.DEFAULT_PHONE_REGION,
        )
        del data
        click.echo(f"{getattr(file, 'name', 'upload')}:")
        for line in describe_check(check):
            click.echo(f"  {line}")
        if not check.valid:
            raise click.ClickException(
                f"nobody to {'remind' if kind == 'reminder' else 'invite'}: nothing was queued"
            )
        channel = {"call": "call", "whatsapp": "whatsapp"}.get(kind, "sms")
        groups = by_channel(check, channel) if kind != "reminder" else {}
        if groups and any(check.channels):
            click.echo(
                f"By channel (the file's channel column): {describe_queued(groups_n(groups))}."
            )
        if "whatsapp" in groups:
            click.echo(_whatsapp_line(settings, redis, wave, language))
        if "call" in groups:
            click.echo(
                f"Calls in {language}: each person hears the phone survey in that language "
                f"(answering machines are hung up on), at up to {settings.CALL_RATE_PER_SECOND:g} "
                "calls per second."
            )
        label = "Reminder" if kind == "reminder" else "Invitation"
        for preview in previews if kind == "reminder" or "sms" in groups else []:
            click.echo(f"{label} in {preview.language}, exactly as sent ({preview.cost}):")
            for line in preview.text.splitlines():
                click.echo(f"  {line}")
        rate = (
            settings.WHATSAPP_RATE_PER_SECOND
            if kind == "whatsapp"
            else settings.SEND_RATE_PER_SECOND
        )
        if kind == "reminder":
            click.echo(
                f"Up to {len(check.valid)} reminders to wave {wave!r}: only to those invited who "
                "have not answered or opted out, texted long enough ago and reminded fewer times "
                "than the wave allows (decided when each is sent; nobody is named)."
            )
        else:
            click.echo(
                f"{len(check.valid)} texts to wave {wave!r} at up to {rate:g} per second "
                f"({_duration(len(check.valid), rate)} once workers run)."
            )
        click.echo(_estimate_line(settings, redis, wave, len(check.valid), kind))
        noun = {
            "reminder": "reminders",
            "call": "invitation calls",
            "whatsapp": "WhatsApp invitations",
        }.get(kind, "invitations")
        if not yes and not click.confirm(f"Queue these {noun}?", default=False):
            click.echo("Nothing was queued.")
            return
        if kind == "reminder":
            reminders = queue_reminders(
                settings,
                redis,
                get_queue(redis),
                wave=wave,
                numbers=check.valid,
                language=language,
            )
            queued = f"{reminders} {noun}"
        else:
            counts = queue_upload(
                settings,
                redis,
                get_queue(redis),
                wave=wave,
                check=check,
                language=language,
                channel=channel,
            )
            queued = describe_queued(counts)
        click.echo(
            f"Queued {queued}. Progress: `surveybot wave outreach {wave}` or the wave's "
            "dashboard page."
        )
    except SurveybotError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        redis.close()


@click.command("invite")
@click.argument("wave")
@click.argument("file", type=click.File("rb"))
@_LANGUAGE
@_REGION
@_YES
@click.option(
    "--call",
    is_flag=True,
    help="Invite by phone call (from TWILIO_FROM_NUMBER): the bot calls and runs the phone survey.",
)
@click.option(
    "--whatsapp",
    is_flag=True,
    help="Invite on WhatsApp with the approved template of the language (see README).",
)
def invite_command(
    wave: str, file, language: str, region: str | None, yes: bool, call: bool, whatsapp: bool
) -> None:  # noqa: ANN001
    """Text (or call, or message on WhatsApp) an invitation to the opted-in members' numbers in
    FILE. A `channel` column (sms, whatsapp, call) chooses per row; other rows get the option's."""
    if call and whatsapp:
        raise click.UsageError("choose --call or --whatsapp, not both")
    _upload(
        wave,
        file,
        language,
        region,
        yes,
        "call" if call else "whatsapp" if whatsapp else "invitation",
    )


@click.command("remind")
@click.argument("wave")
@click.argument("file", type=click.File("rb"))
@_LANGUAGE
@_REGION
@_YES
def remind_command(wave: str, file, language: str, region: str | None, yes: bool) -> None:  # noqa: ANN001
    """Text one reminder to those in FILE (the invitation's CSV) who are due one."""
    _upload(wave, file, language, region, yes, "reminder")
