"""`surveybot survey check`: lint a questionnaire file before a wave uses it."""

from __future__ import annotations

import sys

import click

from bot.cli.settings import command_settings


@click.group("survey")
def survey_group() -> None:
    """Questionnaire files."""


@survey_group.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--audio-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder of the recordings (default: VOICE_AUDIO_DIR, else audio/ beside FILE).",
)
def survey_check(file: str | None, audio_dir: str | None) -> None:
    """Lint a questionnaire: translations, ids, skip logic, SMS segments and phone prompts."""
    from bot.core.checks import check_file, format_findings
    from bot.core.questionnaire import DEFAULT_SURVEY_PATH

    # Only SURVEYBOT_ENV and the two audio settings matter here: a file can be linted without
    # a deployment's secrets (settings are loaded, never validated). Recordings served from
    # VOICE_AUDIO_BASE_URL are not looked for on this disk.
    settings = command_settings()
    base_url = settings.VOICE_AUDIO_BASE_URL
    if audio_dir is None and not base_url:
        audio_dir = settings.VOICE_AUDIO_DIR or None
    path = file or str(DEFAULT_SURVEY_PATH)
    findings = check_file(
        path,
        audio_dir=audio_dir,
        audio_base_url=base_url,
        allow_placeholders=settings.allows_placeholders,
    )
    click.echo(f"checking {path} for {settings.SURVEYBOT_ENV} (SURVEYBOT_ENV)")
    _echo_twilio_keywords(path)
    click.echo(format_findings(findings))  # its last line counts errors and warnings
    if any(f.level == "error" for f in findings):
        sys.exit(1)


def _echo_twilio_keywords(path: str) -> None:
    """The keyword lists to give Twilio's Advanced Opt-Out, so Twilio and the bot agree."""
    from bot.core.optout import format_twilio_keywords
    from bot.core.questionnaire import load_questionnaire
    from bot.infra.exceptions import QuestionnaireError

    try:
        q = load_questionnaire(path)
    except (QuestionnaireError, AttributeError, KeyError, TypeError, ValueError):
        return  # the findings above already say why the file does not load
    click.echo(
        "At Twilio (Messaging Service > Opt-Out Management, Advanced Opt-Out), give each list"
        " exactly these words (README: Connecting a real Twilio number):"
    )
    click.echo(format_twilio_keywords(q))
    click.echo()
