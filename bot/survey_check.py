"""Lint a questionnaire: what the loader accepts but respondents or reports would trip over.

`bot.questionnaire` rejects files it cannot build; this module reports the softer problems
(missing translations, skip logic pointing nowhere, keywords that swallow answers) and measures
every message as it will be sent, because each extra SMS segment costs money and can arrive out
of order. `surveybot survey check [FILE]` prints `format_findings(check_file(FILE))`.
"""

from __future__ import annotations

import string
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.engine import LANGUAGE_WORDS, NO_WORDS, YES_WORDS
from bot.exceptions import QuestionnaireError
from bot.questionnaire import (
    DEFAULT_SURVEY_PATH,
    REQUIRED_MESSAGES,
    Keyword,
    Question,
    Questionnaire,
    QuestionType,
    load_questionnaire,
)
from bot.render import render_question
from bot.smsencoding import describe
from bot.text import CONJUNCTIONS, normalize

Level = Literal["error", "warning", "info"]

# Segments a message may use before the checker warns. The consent message carries the privacy
# notice (what is kept, no encryption, SKIP, STOP, HELP), so it may use one more.
SEGMENT_LIMIT = 2
SEGMENT_LIMITS = {"consent": 3}
# Messages the engine sends in every language at once, joined by a blank line, when it does not
# know the respondent's language yet (see `bot.engine._all_languages`). Three messages in one:
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


@dataclass(frozen=True)
class Finding:
    """One problem or measurement: `where` names the place in the file."""

    level: Level
    where: str
    message: str


def check_file(path: str | Path | None = None) -> list[Finding]:
    """Load and check a questionnaire file; a file that cannot load is one error finding."""
    where = str(path or DEFAULT_SURVEY_PATH)
    try:
        q = load_questionnaire(path)
    except QuestionnaireError as exc:
        return [Finding("error", where, str(exc))]
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        # The loader trusts the file's shape in a few places; a wrong shape lands here.
        return [Finding("error", where, f"cannot load: {type(exc).__name__}: {exc}")]
    findings = check_questionnaire(q)
    if q.id == "community_safety":
        findings.extend(check_contract(q))
    return findings


def check_questionnaire(q: Questionnaire) -> list[Finding]:
    """Every check that applies to any questionnaire, grouped by kind, in file order."""
    return [
        *_check_translations(q),
        *_check_questions(q),
        *_check_crosstabs(q),
        *_check_placeholders(q),
        *_check_words(q),
        *_check_review(q),
        *_check_segments(q),
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
    for question in q.questions:
        if question.voice:
            for lang in q.languages:
                if not question.voice.get(lang, "").strip():
                    yield Finding("warning", f"question {question.id}.voice", f"no {lang} text")
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


# ------------------------------------------------------------------------------- placeholders


def _fields(text: str) -> list[str]:
    """Names of the str.format fields in a text; raises ValueError on a stray brace."""
    names = []
    for _literal, field, _spec, _conversion in string.Formatter().parse(text):
        if field is not None:
            # "{hotline.x}" and "{hotline[0]}" still look up "hotline" first.
            names.append(field.split(".", 1)[0].split("[", 1)[0])
    return names


def _check_placeholders(q: Questionnaire) -> Iterator[Finding]:
    for key, texts in q.messages.items():
        for lang, text in texts.items():
            where = f"messages.{key}[{lang}]"
            try:
                names = _fields(text)
            except ValueError as exc:
                yield Finding("error", where, f"bad braces ({exc}); write no literal braces")
                continue
            for name in names:
                if not name or name.isdigit():
                    yield Finding("error", where, "a placeholder needs a name, e.g. {hotline}")
                elif name not in q.resources:
                    known = ", ".join(sorted(q.resources)) or "none"
                    yield Finding(
                        "error", where, f"unknown placeholder {{{name}}} (resources: {known})"
                    )
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
    unit = "septets" if info.encoding == "GSM-7" else "UTF-16 units"
    noun = "segment" if info.segments == 1 else "segments"
    message = f"{info.encoding}, {info.segments} {noun} ({info.length} {unit})"
    if info.ucs2_chars:
        message += f"; UCS-2 because of {' '.join(info.ucs2_chars)}"
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
        prompt = "\n".join(q.language_prompt[lang].strip() for lang in langs)
        yield _sms_finding("language_prompt", prompt, SEGMENT_LIMIT)
    for key in q.messages:
        limit = SEGMENT_LIMITS.get(key, SEGMENT_LIMIT)
        sent = {lang: _sent_message(q, key, lang) for lang in langs}
        for lang, text in sent.items():
            if text is not None:
                yield _sms_finding(f"messages.{key}[{lang}]", text, limit)
        if key in ALL_LANGUAGE_MESSAGES and len(langs) > 1 and None not in sent.values():
            combined = "\n\n".join(sent[lang] or "" for lang in langs)
            yield _sms_finding(f"messages.{key}[all languages]", combined, ALL_LANGUAGE_LIMIT)
    for question in q.questions:
        for lang in langs:
            texts = [question.text, *(option.label for option in question.options)]
            if question.type not in _WITH_OPTIONS:
                texts = [question.text]
            if all(text.get(lang, "").strip() for text in texts):
                rendered = render_question(q, question, lang)
                yield _sms_finding(f"question {question.id}[{lang}]", rendered, SEGMENT_LIMIT)
