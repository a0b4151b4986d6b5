"""Lint a questionnaire: what the loader accepts but respondents or reports would trip over.

`bot.core.questionnaire` rejects files it cannot build; this module reports the softer problems
(missing translations, skip logic pointing nowhere, keywords that swallow answers) and measures
every message as it will be sent, because each extra SMS segment costs money and can arrive out
of order. It also hears the file as a call does: recordings for languages Twilio cannot speak,
keypad limits, phone-only texts and how long each question takes to read aloud.
`surveybot survey check [FILE]` prints `format_findings(check_file(FILE))`.
"""

from __future__ import annotations

import difflib
import string
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Literal

from bot.core.engine import (
    KEY_BACK,
    KEY_SKIP,
    LANGUAGE_WORDS,
    NO_WORDS,
    YES_WORDS,
    all_languages,
    language_prompt,
)
from bot.core.placeholders import describe_placeholder, find_placeholders
from bot.core.questionnaire import (
    DEFAULT_SURVEY_PATH,
    REQUIRED_MESSAGES,
    Keyword,
    Question,
    Questionnaire,
    QuestionType,
    load_questionnaire,
)
from bot.core.render import render_question
from bot.core.smsencoding import describe, summary
from bot.core.text import CONJUNCTIONS, normalize
from bot.core.voice_prompts import (
    AUDIO_SUFFIXES,
    MAX_HINT_CHARS,
    PHONE_ONLY_FALLBACKS,
    PHONE_ONLY_MESSAGES,
    SAY_VOICES,
    SPEECH_LANGUAGES,
    all_prompts,
    hint_phrases,
    question_speech,
    recording_path,
)
from bot.infra.exceptions import QuestionnaireError

Level = Literal["error", "warning", "info"]

# Segments a message may use before the checker warns. The consent message carries the privacy
# notice (what is kept, no encryption, SKIP, STOP, HELP), so it may use one more.
SEGMENT_LIMIT = 2
SEGMENT_LIMITS = {"consent": 3}
# Messages the engine sends in every language at once, joined by a blank line, when it does not
# know the respondent's language yet (see `bot.core.engine.all_languages`). Three messages in one:
# the limit is three segments.
ALL_LANGUAGE_MESSAGES = ("help", "text_only", "already_completed", "opted_in")
ALL_LANGUAGE_LIMIT = 3

# The study's variables: other code, exports and the weekly report depend on these ids.
CONTRACT: dict[str, tuple[tuple[QuestionType, ...], tuple[str, ...]]] = {
    "status": (
        (QuestionType.CHOICE,),
        ("citizen", "lpr", "other_status", "undocumented", "no_answer"),
    ),
    "years_in_us": ((QuestionType.CHOICE,), ("lt5", "5to10", "gt10")),
    "afraid_to_seek_help": ((QuestionType.CHOICE,), ("yes", "no")),
    "fear_reasons": (
        (QuestionType.MULTI,),
        ("ice_collaboration", "deportation", "language", "bad_experience", "other"),
    ),
    "knows_deported": ((QuestionType.CHOICE,), ("none", "one", "several")),
    "would_report_crime": ((QuestionType.CHOICE,), ("yes", "no", "not_sure")),
}
CONTRACT_WHEN = {"fear_reasons": {"afraid_to_seek_help": ("yes",)}}

# Characters the engine splits a multi reply on, besides the conjunction words.
_MULTI_SEPARATORS = ",;/+&"
_WITH_OPTIONS = (QuestionType.CHOICE, QuestionType.MULTI)

# Words past which a question is hard to follow by ear: a caller holds every option in mind
# until the last one is read.
SPOKEN_WORD_LIMIT = 90
# By phone a choice is one key and 9 goes back, so options 1-8 only; a multi answer is a run
# of single digits, so options 1-9 only.
CHOICE_KEYPAD_OPTIONS = int(KEY_BACK) - 1
MULTI_KEYPAD_OPTIONS = 9
# What a call says for a prompt with no playable recording
# (bot.core.voice_prompts.FALLBACK_VOICE).
_READ_BY_FALLBACK = "calls read it with a French voice"


@dataclass(frozen=True)
class Finding:
    """One problem or measurement: `where` names the place in the file."""

    level: Level
    where: str
    message: str


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
    if folder is None and _needs_recordings(q):
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
        *_check_translations(q),
        *_check_questions(q),
        *_check_crosstabs(q),
        *_check_resources(q, allow_placeholders, path or "the questionnaire file"),
        *_check_placeholders(q),
        *_check_words(q),
        *_check_review(q),
        *_check_segments(q),
        *_check_voice(q, Path(audio_dir) if audio_dir else None),
    ]


def check_contract(q: Questionnaire) -> list[Finding]:
    """The community safety survey's contract: its question ids, types and option ids."""
    findings: list[Finding] = []
    by_id = {question.id: question for question in q.questions}
    for qid, (types, option_ids) in CONTRACT.items():
        where = f"question {qid}"
        question = by_id.get(qid)
        if question is None:
            findings.append(Finding("error", where, "missing: the study's reports need it"))
            continue
        if question.type not in types:
            wanted = " or ".join(t.value for t in types)
            findings.append(
                Finding("error", where, f"type is {question.type.value}, expected {wanted}")
            )
        present = {option.id for option in question.options}
        for option_id in option_ids:
            if option_id not in present:
                findings.append(Finding("error", where, f"option {option_id!r} is missing"))
        expected_when = CONTRACT_WHEN.get(qid)
        if expected_when is not None and question.when != expected_when:
            findings.append(
                Finding("warning", where, f"when is {question.when}, expected {expected_when}")
            )
    return findings


def format_findings(findings: Iterable[Finding]) -> str:
    """One line per finding ("LEVEL where: message"), then a count of errors and warnings."""
    findings = list(findings)
    lines = [f"{f.level.upper()} {f.where}: {f.message}" for f in findings]
    errors = sum(f.level == "error" for f in findings)
    warnings = sum(f.level == "warning" for f in findings)
    lines.append(f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}")
    return "\n".join(lines)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# ------------------------------------------------------------------------------ translations


def _strings(q: Questionnaire) -> Iterator[tuple[str, dict[str, str]]]:
    """Every respondent-facing text mapping with the place it comes from."""
    yield "language_prompt", q.language_prompt
    for key, texts in q.messages.items():
        yield f"messages.{key}", texts
    for question in q.questions:
        yield f"question {question.id}.text", question.text
        for option in question.options:
            yield f"question {question.id}.option {option.id}", option.label


def _check_translations(q: Questionnaire) -> Iterator[Finding]:
    if len(set(q.languages)) != len(q.languages):
        yield Finding("error", "languages", "a language is listed twice")
    for key in REQUIRED_MESSAGES:
        if key not in q.messages:
            yield Finding("error", f"messages.{key}", "missing: the engine sends this message")
    known = set(q.languages)
    for where, text in _strings(q):
        for lang in q.languages:
            if not text.get(lang, "").strip():
                yield Finding("error", where, f"no {lang} text")
        for lang in sorted(set(text) - known):
            yield Finding("warning", where, f"text in {lang}, which is not in languages")
    for lang in q.languages:
        if not q.language_names.get(lang, "").strip():
            # The engine also accepts a language's name as the answer to the language prompt.
            yield Finding("warning", "language_names", f"no name for {lang}")


# ---------------------------------------------------------------------------------- questions


def _check_questions(q: Questionnaire) -> Iterator[Finding]:
    seen: set[str] = set()
    position = {}
    for i, question in enumerate(q.questions):
        where = f"question {question.id}"
        if question.id in seen:
            yield Finding("error", where, "duplicate question id")
        seen.add(question.id)
        position.setdefault(question.id, i)

        option_ids = [option.id for option in question.options]
        for option_id in sorted({x for x in option_ids if option_ids.count(x) > 1}):
            yield Finding("error", where, f"duplicate option id {option_id!r}")
        if question.type in _WITH_OPTIONS and len(question.options) < 2:
            yield Finding("error", where, f"a {question.type.value} question needs 2+ options")
        if question.type is QuestionType.NUMBER:
            if question.options:
                yield Finding("error", where, "a number question has no options")
            low, high = question.minimum, question.maximum
            if low is not None and high is not None and low > high:
                yield Finding("error", where, f"min {low} is greater than max {high}")

        for earlier_id, wanted in question.when.items():
            if earlier_id not in position or earlier_id == question.id:
                later = any(other.id == earlier_id for other in q.questions)
                problem = "is not an earlier question" if later else "is not a question"
                yield Finding("error", f"{where}.when", f"{earlier_id!r} {problem}")
                continue
            earlier = q.questions[position[earlier_id]]
            known = {option.id for option in earlier.options}
            for option_id in wanted:
                if option_id not in known:
                    yield Finding(
                        "error",
                        f"{where}.when",
                        f"question {earlier_id!r} has no option {option_id!r}",
                    )


def _check_crosstabs(q: Questionnaire) -> Iterator[Finding]:
    by_id = {question.id: question for question in q.questions}
    for pair in q.crosstabs:
        where = f"report.crosstabs {'|'.join(pair)}"
        if len(pair) != 2:
            yield Finding("error", where, "expected QUESTION|BY")
            continue
        for qid in pair:
            if qid == "language":
                continue  # the respondent's language is always known
            question = by_id.get(qid)
            if question is None:
                yield Finding("error", where, f"{qid!r} is not a question")
            elif question.type not in _WITH_OPTIONS:
                yield Finding("error", where, f"{qid!r} has no options to count")


# ---------------------------------------------------------------------------------- resources


def _check_resources(q: Questionnaire, allow: bool, path: str | Path) -> Iterator[Finding]:
    """Resources an organizer has not filled in yet (bot.core.placeholders)."""
    level: Level = "warning" if allow else "error"
    # Outside production the shipped file must run as it is (tests, `surveybot dev`).
    suffix = "; production refuses to open a wave with it" if allow else ""
    for found in find_placeholders(q):
        yield Finding(level, found.key, describe_placeholder(found, path) + suffix)
    for name in q.placeholders:
        if name not in q.resources:
            yield Finding(
                "warning", f"placeholders.{name}", f"no resource {name}: nothing to replace"
            )


# ------------------------------------------------------------------------------- placeholders


def _fields(text: str) -> list[str]:
    """Names of the str.format fields in a text; raises ValueError on a stray brace."""
    names = []
    for _literal, field, _spec, _conversion in string.Formatter().parse(text):
        if field is not None:
            # "{hotline.x}" and "{hotline[0]}" still look up "hotline" first.
            names.append(field.split(".", 1)[0].split("[", 1)[0])
    return names


def _placeholder_findings(
    q: Questionnaire, where: str, text: str, values: tuple[str, ...] = ()
) -> Iterator[Finding]:
    """A formatted text's placeholders must each name a resource or one of `values`."""
    try:
        names = _fields(text)
    except ValueError as exc:
        yield Finding("error", where, f"bad braces ({exc}); write no literal braces")
        return
    for name in names:
        if not name or name.isdigit():
            yield Finding("error", where, "a placeholder needs a name, e.g. {hotline}")
        elif name not in q.resources and name not in values:
            known = ", ".join(sorted({*q.resources, *values})) or "none"
            yield Finding("error", where, f"unknown placeholder {{{name}}} (resources: {known})")


def _check_placeholders(q: Questionnaire) -> Iterator[Finding]:
    for key, texts in q.messages.items():
        for lang, text in texts.items():
            yield from _placeholder_findings(q, f"messages.{key}[{lang}]", text)
    # Only messages are formatted: braces anywhere else reach the phone as typed.
    for where, texts in _strings(q):
        if where.startswith("messages."):
            continue
        for lang, text in texts.items():
            if "{" in text or "}" in text:
                yield Finding("warning", f"{where}[{lang}]", "braces are sent literally here")


# ------------------------------------------------------------------------------------ words


def _check_words(q: Questionnaire) -> Iterator[Finding]:
    """Keywords, start keywords and option words must each mean one thing."""
    # Keywords are matched before anything else, in every language, so a keyword that is also
    # a consent answer or a language name would hide it.
    consent_words = {
        normalize(w) for words in (*YES_WORDS.values(), *NO_WORDS.values()) for w in words
    }
    language_words = {normalize(w) for words in LANGUAGE_WORDS.values() for w in words}
    language_words.update(normalize(name) for name in q.language_names.values())
    # normalized word -> {owner: where}; an owner is one meaning a reply can have.
    owners: dict[str, dict[str, str]] = defaultdict(dict)
    for keyword, per_lang in q.keywords.items():
        for lang, words in per_lang.items():
            for word in words:
                norm = normalize(word)
                where = f"keywords.{keyword.value}[{lang}]"
                if not norm:
                    yield Finding("error", where, f"{word!r} is empty once normalized")
                    continue
                owners[norm].setdefault(f"keyword {keyword.value.upper()}", where)
                if norm.isdigit():
                    yield Finding("error", where, f"{word!r} would swallow numbered answers")
                if norm in language_words:
                    yield Finding("error", where, f"{word!r} is also a language name")
                # START at the consent question means yes, so only other keywords clash.
                if norm in consent_words and keyword is not Keyword.START:
                    yield Finding("error", where, f"{word!r} is also a consent answer")
    for lang, words in q.start_keywords.items():
        for word in words:
            norm = normalize(word)
            if norm:
                owners[norm].setdefault(f"start keyword ({lang})", f"start_keywords[{lang}]")

    for question in q.questions:
        for option in question.options:
            for where, word in _option_words(question, option.id):
                norm = normalize(word)
                if not norm:
                    continue
                if norm.isdigit():
                    # The engine reads digits as the option's position, never as a label.
                    yield Finding(
                        "warning", where, f"{word!r} is read as option number {norm}, not a label"
                    )
                for owner, owner_where in owners.get(norm, {}).items():
                    yield Finding("error", where, f"{word!r} is also {owner} ({owner_where})")
        yield from _check_option_ambiguity(question)
        if question.type is QuestionType.MULTI:
            yield from _check_multi_labels(question)

    for norm, by_owner in sorted(owners.items()):
        if len(by_owner) > 1:
            places = "; ".join(f"{owner} ({where})" for owner, where in by_owner.items())
            yield Finding("error", "keywords", f"{norm!r} has more than one meaning: {places}")


def _option_words(question: Question, option_id: str) -> Iterator[tuple[str, str]]:
    option = question.option(option_id)
    base = f"question {question.id}.option {option.id}"
    for lang, label in option.label.items():
        yield f"{base}.label[{lang}]", label
    for lang, words in option.synonyms.items():
        for word in words:
            yield f"{base}.synonyms[{lang}]", word


def _check_option_ambiguity(question: Question) -> Iterator[Finding]:
    # In one language, a word naming two options selects neither.
    by_lang: dict[tuple[str, str], set[str]] = defaultdict(set)
    for option in question.options:
        for lang, label in option.label.items():
            by_lang[(lang, normalize(label))].add(option.id)
        for lang, words in option.synonyms.items():
            for word in words:
                by_lang[(lang, normalize(word))].add(option.id)
    for (lang, norm), option_ids in sorted(by_lang.items()):
        if norm and len(option_ids) > 1:
            yield Finding(
                "error",
                f"question {question.id}",
                f"{norm!r} names options {', '.join(sorted(option_ids))} in {lang}",
            )


def _check_multi_labels(question: Question) -> Iterator[Finding]:
    # The engine splits a multi reply on separators and conjunctions before matching labels,
    # so a label containing one can only be chosen by its number.
    for option in question.options:
        for where, word in _option_words(question, option.id):
            splitters = [ch for ch in _MULTI_SEPARATORS if ch in word]
            splitters += [w for w in normalize(word).split(" ") if w in CONJUNCTIONS]
            if splitters:
                shown = ", ".join(repr(s) for s in dict.fromkeys(splitters))
                yield Finding(
                    "warning",
                    where,
                    f"{word!r} contains {shown}: a multi reply is split there, so only the "
                    "number selects this option",
                )


def _check_review(q: Questionnaire) -> Iterator[Finding]:
    status = q.review.get("status")
    if status and status != "done":
        note = str(q.review.get("note") or "").strip()
        yield Finding("info", "review", f"status {status}" + (f": {note}" if note else ""))


# ----------------------------------------------------------------------------------- segments


def _sms_finding(where: str, text: str, limit: int) -> Finding:
    info = describe(text)
    message = summary(info)
    if info.segments > limit:
        return Finding("warning", where, f"{message}: more than {limit} segments")
    return Finding("info", where, message)


def _sent_message(q: Questionnaire, key: str, lang: str) -> str | None:
    """A message as sent, or None when it is missing or its placeholders are broken."""
    if not q.messages.get(key, {}).get(lang, "").strip():
        return None
    try:
        return q.message(key, lang)
    except (KeyError, IndexError, ValueError, AttributeError):
        return None  # already reported by the placeholder check


def _check_segments(q: Questionnaire) -> Iterator[Finding]:
    """Measure every text exactly as the engine sends it."""
    langs = q.languages
    if all(q.language_prompt.get(lang, "").strip() for lang in langs):
        yield _sms_finding("language_prompt", language_prompt(q).text, SEGMENT_LIMIT)
    for key in q.messages:
        limit = SEGMENT_LIMITS.get(key, SEGMENT_LIMIT)
        sent = {lang: _sent_message(q, key, lang) for lang in langs}
        for lang, text in sent.items():
            if text is not None:
                yield _sms_finding(f"messages.{key}[{lang}]", text, limit)
        if key in ALL_LANGUAGE_MESSAGES and len(langs) > 1 and None not in sent.values():
            combined = all_languages(q, key).text
            yield _sms_finding(f"messages.{key}[all languages]", combined, ALL_LANGUAGE_LIMIT)
    for question in q.questions:
        for lang in langs:
            texts = [question.text, *(option.label for option in question.options)]
            if question.type not in _WITH_OPTIONS:
                texts = [question.text]
            if all(text.get(lang, "").strip() for text in texts):
                rendered = render_question(question, lang)
                yield _sms_finding(f"question {question.id}[{lang}]", rendered, SEGMENT_LIMIT)


# -------------------------------------------------------------------------------------- phone


def _check_voice(q: Questionnaire, audio_dir: Path | None) -> Iterator[Finding]:
    """The file as a call hears it (bot.core.voice_prompts): recordings, keys, spoken texts."""
    yield from _check_recordings(q, audio_dir)
    yield from _check_keypad(q)
    yield from _check_phone_messages(q)
    yield from _check_spoken_texts(q)
    yield from _check_speech_hints(q)
    yield from _check_spoken_length(q)


def _needs_recordings(q: Questionnaire) -> bool:
    """Whether any prompt of the file can be a recording."""
    return bool(q.voice.recordings) or any(lang not in SAY_VOICES for lang in q.languages)


def _audio_name_problem(name: str) -> str | None:
    """Why the app's audio route would not serve a file of this name, if it would not."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name or PureWindowsPath(name).drive:
        return f"{name} leaves the audio folder (.. or an absolute path): the app never serves it"
    if not name.endswith(AUDIO_SUFFIXES):
        return f"{name} is not a .mp3 or .wav file: the app serves only those"
    return None


def _unknown_prompt(prompt: str, prompts: list[str]) -> str:
    kind, _, key = prompt.partition(".")
    if kind == "message" and key in PHONE_ONLY_FALLBACKS:
        return "no such prompt: it is said inside each question, record it with question.<id>"
    close = difflib.get_close_matches(prompt, prompts, n=1)
    guess = f" (did you mean {close[0]}?)" if close else ""
    return f"no such prompt{guess}: calls never play this file"


def _check_recordings(q: Questionnaire, audio_dir: Path | None) -> Iterator[Finding]:
    """Every prompt of a language without text-to-speech needs a recording the app can play."""
    prompts = all_prompts(q)
    for lang, files in q.voice.recordings.items():
        if lang not in q.languages:
            yield Finding(
                "warning", f"voice.recordings.{lang}", f"{lang} is not in languages: never played"
            )
        for prompt in files:
            if prompt not in prompts:
                yield Finding(
                    "warning", f"voice.recordings.{lang} {prompt}", _unknown_prompt(prompt, prompts)
                )
    for lang in q.languages:
        files = q.voice.recordings.get(lang, {})
        required = lang not in SAY_VOICES
        fallback = _READ_BY_FALLBACK if required else "calls read it with text-to-speech"
        recorded = 0
        for prompt in prompts:
            where = f"voice.recordings.{lang} {prompt}"
            name = files.get(prompt)
            if name is None:
                if required:
                    yield Finding("warning", where, f"no recording named: {fallback}")
                continue
            problem = _audio_name_problem(name)
            if problem is not None:
                yield Finding("warning", where, problem)
            elif audio_dir is not None and recording_path(audio_dir, name) is None:
                yield Finding(
                    "warning",
                    where,
                    f"recording {name} not found in {audio_dir}: {fallback} until it exists",
                )
            else:
                recorded += 1
        if not required:
            continue
        if audio_dir is None:
            summary = f"{recorded} of {len(prompts)} prompts name a recording (files not checked)"
        else:
            missing = "" if audio_dir.is_dir() else " (no such folder)"
            summary = f"{recorded} of {len(prompts)} prompts recorded in {audio_dir}{missing}"
        yield Finding("info", f"voice.recordings.{lang}", summary)


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
        "option": bool(types & set(_WITH_OPTIONS)),
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
            findings = list(_placeholder_findings(q, where, text, values))
            yield from findings
            if values and not findings:
                for name in values:
                    if name not in _fields(text):
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
