"""Keywords, start keywords and option words: each word a reply can be means one thing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from bot.core.checks.findings import Finding
from bot.core.engine import LANGUAGE_WORDS, NO_WORDS, YES_WORDS
from bot.core.questionnaire import Keyword, Question, Questionnaire, QuestionType
from bot.core.text import CONJUNCTIONS, is_number, normalize

# Characters the engine splits a multi reply on, besides the conjunction words.
_MULTI_SEPARATORS = ",;/+&"


def check_words(q: Questionnaire) -> Iterator[Finding]:
    """Keywords, start keywords and option words must each mean one thing."""
    # normalized word -> {owner: where}; an owner is one meaning a reply can have.
    owners: dict[str, dict[str, str]] = defaultdict(dict)
    yield from _check_keywords(q, owners)
    for lang, words in q.start_keywords.items():
        for word in words:
            norm = normalize(word)
            if norm:
                owners[norm].setdefault(f"start keyword ({lang})", f"start_keywords[{lang}]")
    for question in q.questions:
        yield from _check_option_words(question, owners)
        yield from _check_option_ambiguity(question)
        if question.type is QuestionType.MULTI:
            yield from _check_multi_labels(question)
    for norm, by_owner in sorted(owners.items()):
        if len(by_owner) > 1:
            places = "; ".join(f"{owner} ({where})" for owner, where in by_owner.items())
            yield Finding("error", "keywords", f"{norm!r} has more than one meaning: {places}")


def _check_keywords(q: Questionnaire, owners: dict[str, dict[str, str]]) -> Iterator[Finding]:
    """Keywords that are empty, numbers, language names or consent answers; each is noted in
    `owners`."""
    # Keywords are matched before anything else, in every language, so a keyword that is also
    # a consent answer or a language name would hide it.
    consent_words = {
        normalize(w) for words in (*YES_WORDS.values(), *NO_WORDS.values()) for w in words
    }
    language_words = {normalize(w) for words in LANGUAGE_WORDS.values() for w in words}
    language_words.update(normalize(name) for name in q.language_names.values())
    for keyword, per_lang in q.keywords.items():
        for lang, words in per_lang.items():
            for word in words:
                norm = normalize(word)
                where = f"keywords.{keyword.value}[{lang}]"
                if not norm:
                    yield Finding("error", where, f"{word!r} is empty once normalized")
                    continue
                owners[norm].setdefault(f"keyword {keyword.value.upper()}", where)
                if is_number(norm):
                    yield Finding("error", where, f"{word!r} would swallow numbered answers")
                if norm in language_words:
                    yield Finding("error", where, f"{word!r} is also a language name")
                # START at the consent question means yes, so only other keywords clash.
                if norm in consent_words and keyword is not Keyword.START:
                    yield Finding("error", where, f"{word!r} is also a consent answer")


def _check_option_words(question: Question, owners: dict[str, dict[str, str]]) -> Iterator[Finding]:
    """Option labels and synonyms that are numbers, or a keyword's or start keyword's word."""
    for option in question.options:
        for where, word in _option_words(question, option.id):
            norm = normalize(word)
            if not norm:
                continue
            if is_number(norm):
                # The engine reads digits as the option's position, never as a label.
                yield Finding(
                    "warning", where, f"{word!r} is read as option number {norm}, not a label"
                )
            for owner, owner_where in owners.get(norm, {}).items():
                yield Finding("error", where, f"{word!r} is also {owner} ({owner_where})")


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
