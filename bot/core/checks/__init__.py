"""Lint a questionnaire: what the loader accepts but respondents or reports would trip over.

`bot.core.questionnaire` rejects files it cannot build; this package reports the softer problems
(missing translations, skip logic pointing nowhere, keywords that swallow answers) and measures
every message as it will be sent, because each extra SMS segment costs money and can arrive out
of order. It also hears the file as a call does: recordings for languages Twilio cannot speak,
keypad limits, phone-only texts and how long each question takes to read aloud.
`surveybot survey check [FILE]` prints `format_findings(check_file(FILE))`.
"""

from __future__ import annotations

from pathlib import Path

from bot.core.checks.contract import CONTRACT, CONTRACT_WHEN, check_contract
from bot.core.checks.findings import Finding, Level, format_findings
from bot.core.checks.optout import check_opt_out
from bot.core.checks.placeholders import check_placeholders, check_resources
from bot.core.checks.recordings import needs_recordings
from bot.core.checks.segments import (
    ALL_LANGUAGE_LIMIT,
    ALL_LANGUAGE_MESSAGES,
    SEGMENT_LIMIT,
    SEGMENT_LIMITS,
    check_segments,
)
from bot.core.checks.structure import check_crosstabs, check_questions, check_review
from bot.core.checks.translations import check_translations
from bot.core.checks.voice import (
    CHOICE_KEYPAD_OPTIONS,
    MULTI_KEYPAD_OPTIONS,
    SPOKEN_WORD_LIMIT,
    check_voice,
)
from bot.core.checks.words import check_words
from bot.core.questionnaire import DEFAULT_SURVEY_PATH, Questionnaire, load_questionnaire
from bot.infra.exceptions import QuestionnaireError

__all__ = [
    "ALL_LANGUAGE_LIMIT",
    "ALL_LANGUAGE_MESSAGES",
    "CHOICE_KEYPAD_OPTIONS",
    "CONTRACT",
    "CONTRACT_WHEN",
    "MULTI_KEYPAD_OPTIONS",
    "SEGMENT_LIMIT",
    "SEGMENT_LIMITS",
    "SPOKEN_WORD_LIMIT",
    "Finding",
    "Level",
    "check_contract",
    "check_file",
    "check_questionnaire",
    "format_findings",
]


def check_file(
    path: str | Path | None = None,
    *,
    audio_dir: str | Path | None = None,
    audio_base_url: str = "",
    allow_placeholders: bool = False,
) -> list[Finding]:
    """Load and check a questionnaire file; a file that cannot load is one error finding.

    Recordings are looked for in `audio_dir`, else in `audio/` beside the file, unless
    `audio_base_url` says they are served from elsewhere: then only their names are checked.
    Placeholder resources are errors unless `allow_placeholders` (outside production).
    """
    where = str(path or DEFAULT_SURVEY_PATH)
    folder = Path(audio_dir) if audio_dir else None
    if folder is None and not audio_base_url:
        folder = Path(where).parent / "audio"
    try:
        q = load_questionnaire(path)
    except QuestionnaireError as exc:
        return [Finding("error", where, str(exc))]
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        # The loader trusts the file's shape in a few places; a wrong shape lands here.
        return [Finding("error", where, f"cannot load: {type(exc).__name__}: {exc}")]
    findings = check_questionnaire(
        q, audio_dir=folder, allow_placeholders=allow_placeholders, path=where
    )
    if folder is None and needs_recordings(q):
        findings.append(
            Finding(
                "info",
                "voice.recordings",
                f"served from {audio_base_url}: not checked that the files exist",
            )
        )
    if q.id == "community_safety":
        findings.extend(check_contract(q))
    return findings


def check_questionnaire(
    q: Questionnaire,
    audio_dir: str | Path | None = None,
    *,
    allow_placeholders: bool = False,
    path: str | Path | None = None,
) -> list[Finding]:
    """Every check that applies to any questionnaire, grouped by kind, in file order.

    Named recordings must exist in `audio_dir`; without one, only their names are checked.
    Resources still holding a placeholder are errors, warnings with `allow_placeholders`;
    `path` names the file to edit in their messages.
    """
    return [
        *check_translations(q),
        *check_questions(q),
        *check_crosstabs(q),
        *check_resources(q, allow_placeholders, path or "the questionnaire file"),
        *check_placeholders(q),
        *check_words(q),
        *check_opt_out(q),
        *check_review(q),
        *check_segments(q),
        *check_voice(q, Path(audio_dir) if audio_dir else None),
    ]
