"""The file as a call hears it (bot.core.voice_prompts): keys, phone texts, hints, length."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from bot.core.checks.findings import WITH_OPTIONS, Finding, Level
from bot.core.checks.placeholders import placeholder_fields, placeholder_findings
from bot.core.checks.recordings import check_recordings
from bot.core.engine import KEY_BACK, KEY_SKIP
from bot.core.questionnaire import ENGINE_FIELDS, Questionnaire, QuestionType
from bot.core.voice_prompts import (
    MAX_HINT_CHARS,
    PHONE_ONLY_FALLBACKS,
    PHONE_ONLY_MESSAGES,
    SPEECH_LANGUAGES,
    all_prompts,
    hint_phrases,
    question_speech,
)

# Words past which a question is hard to follow by ear: a caller holds every option in mind
# until the last one is read.
SPOKEN_WORD_LIMIT = 90
# By phone a choice is one key and 9 goes back, so options 1-8 only; a multi answer is a run
# of single digits, so options 1-9 only.
CHOICE_KEYPAD_OPTIONS = int(KEY_BACK) - 1
MULTI_KEYPAD_OPTIONS = 9


def check_voice(q: Questionnaire, audio_dir: Path | None) -> Iterator[Finding]:
    """The file as a call hears it (bot.core.voice_prompts): recordings, keys, spoken texts."""
    yield from check_recordings(q, audio_dir)
    yield from _check_keypad(q)
    yield from _check_phone_messages(q)
    yield from _check_spoken_texts(q)
    yield from _check_speech_hints(q)
    yield from _check_spoken_length(q)


def _check_keypad(q: Questionnaire) -> Iterator[Finding]:
    """Options a caller's keypad cannot reach."""
    for question in q.questions:
        count = len(question.options)
        where = f"question {question.id}"
        if question.type is QuestionType.CHOICE and count > CHOICE_KEYPAD_OPTIONS:
            yield Finding(
                "warning",
                where,
                f"{count} options: by keypad a choice is one key ({KEY_BACK} goes back, "
                f"{KEY_SKIP} skips), so callers cannot choose option {CHOICE_KEYPAD_OPTIONS + 1} "
                "or later",
            )
        elif question.type is QuestionType.MULTI and count > MULTI_KEYPAD_OPTIONS:
            yield Finding(
                "warning",
                where,
                f"{count} options: by keypad a multi answer is a run of single keys "
                f"({KEY_BACK} alone goes back, {KEY_SKIP} skips), so callers cannot choose "
                f"option {MULTI_KEYPAD_OPTIONS + 1} or later with others",
            )


def _phone_only_fallback(key: str) -> str:
    """What a call says when the file lacks a phone-only message (bot.core.voice_prompts)."""
    if key == "call_ended":
        return "a call ended after missed answers says the declined message instead"
    if key == "option":
        example = PHONE_ONLY_FALLBACKS["option"].format(number=1, label="<label>")
        return f'calls read each option as "{example}"'
    if key == "keys_multi":
        return "calls do not say how to answer a multi question (keys, then #)"
    return "calls do not say how to answer a number question (digits, then #)"


def _check_phone_messages(q: Questionnaire) -> Iterator[Finding]:
    """Phone-only messages: present in every language, with the placeholders they are given."""
    types = {question.type for question in q.questions}
    used = {
        "call_ended": True,
        "option": bool(types & set(WITH_OPTIONS)),
        "keys_multi": QuestionType.MULTI in types,
        "keys_number": QuestionType.NUMBER in types,
    }
    for key in PHONE_ONLY_MESSAGES:
        if key in q.messages or not used.get(key, True):
            continue  # a call says the text message, or never needs this one
        texts = q.voice.messages.get(key, {})
        missing = [lang for lang in q.languages if lang not in texts]
        if missing:
            yield Finding(
                "warning",
                f"voice.messages.{key}",
                f"no {', '.join(missing)} text: {_phone_only_fallback(key)}",
            )
    for key, texts in q.voice.messages.items():
        values = ("label", "number") if key == "option" else ()
        for lang, text in texts.items():
            where = f"voice.messages.{key}[{lang}]"
            findings = list(placeholder_findings(q, where, text, (*values, *ENGINE_FIELDS)))
            yield from findings
            if values and not findings:
                for name in values:
                    if name not in placeholder_fields(text):
                        example = "For {label}, press {number}."
                        yield Finding("error", where, f"needs {{{name}}}, e.g. {example!r}")


def _voice_strings(q: Questionnaire) -> Iterator[tuple[str, dict[str, str], str]]:
    """Every spoken-only text mapping, its place, and what a call reads where it has none."""
    yield "voice.language_prompt", q.voice.language_prompt, "the texted language_prompt"
    for key, texts in q.voice.messages.items():
        yield f"voice.messages.{key}", texts, f"messages.{key}"
    for question in q.questions:
        yield f"question {question.id}.voice", question.voice, "the question's text"
        for option in question.options:
            where = f"question {question.id}.option {option.id}.voice"
            yield where, option.voice, "the option's label"


def _check_spoken_texts(q: Questionnaire) -> Iterator[Finding]:
    """Spoken texts: the file's languages, each one where another has one, no stray keys."""
    known = set(q.languages)
    for where, texts, instead in _voice_strings(q):
        if not texts:
            continue  # nothing spoken differs from the text version
        key = where.removeprefix("voice.messages.")
        phone_only = key in PHONE_ONLY_MESSAGES and key not in q.messages
        for lang in q.languages:
            if phone_only and lang not in texts:
                continue  # reported with what a call says instead
            if not texts.get(lang, "").strip():
                # A question's or option's `voice` text is an override where the written words
                # read badly aloud, which is a matter of each language on its own ("EE.UU."
                # needs one, "US citizen" does not): its absence is a note, not a warning.
                level: Level = "info" if where.startswith("question ") else "warning"
                yield Finding(level, where, f"no {lang} text: calls read {instead}")
        for lang in sorted(set(texts) - known):
            yield Finding("warning", where, f"text in {lang}, which is not in languages")
        if where.startswith("voice.messages."):
            continue  # formatted: checked with the phone messages
        for lang, text in texts.items():
            if "{" in text or "}" in text:
                yield Finding("warning", f"{where}[{lang}]", "braces are spoken literally here")
    prompts = set(all_prompts(q))
    for key in q.voice.messages:
        where = f"voice.messages.{key}"
        if key not in q.messages and key not in PHONE_ONLY_MESSAGES:
            yield Finding(
                "warning", where, f"not a message of the file (no messages.{key}): never said"
            )
        elif key in q.messages and f"message.{key}" not in prompts:
            yield Finding("warning", where, "a texting-only message: calls never say it")


def _check_speech_hints(q: Questionnaire) -> Iterator[Finding]:
    """Hint phrases Twilio's speech recognition would refuse
    (bot.core.voice_prompts.hint_phrases); each once, where it is first heard: SKIP and
    BACK are hints of every question."""
    reported: set[tuple[str, str]] = set()
    for question in q.questions:
        for lang in (lang for lang in q.languages if lang in SPEECH_LANGUAGES):
            for phrase in hint_phrases(q, question, lang):
                if len(phrase) > MAX_HINT_CHARS and (lang, phrase) not in reported:
                    reported.add((lang, phrase))
                    yield Finding(
                        "warning",
                        f"question {question.id}",
                        f"{lang} hint {phrase[:40]!r}... has {len(phrase)} characters: "
                        f"speech recognition gets no hint over {MAX_HINT_CHARS}",
                    )


def _check_spoken_length(q: Questionnaire) -> Iterator[Finding]:
    """Count the words of each question as a call reads it, options and keys included."""
    for question in q.questions:
        for lang in q.languages:
            try:
                words = len(question_speech(q, question, lang).split())
            except (KeyError, IndexError, ValueError, AttributeError):
                continue  # a missing text or a broken placeholder, reported above
            where = f"question {question.id}[{lang}]"
            if words > SPOKEN_WORD_LIMIT:
                yield Finding(
                    "warning",
                    where,
                    f"{words} words spoken, more than {SPOKEN_WORD_LIMIT}: a caller must hold "
                    "every option in mind",
                )
            else:
                yield Finding("info", where, f"{words} words spoken")
