"""Reading a reply: a language, a consent, an answer to a question (number, label, synonym)."""

from __future__ import annotations

import re
from typing import Any

from bot.core.questionnaire import Question, Questionnaire, QuestionType
from bot.core.text import CONJUNCTIONS, is_number, normalize, read_number

# Consent is a yes/no question without options in the file; these words read it.
YES_WORDS = {
    "en": ("yes", "y", "yeah", "yep", "ok", "okay", "sure", "start"),
    "es": ("si", "claro", "ok", "vale", "dale", "bueno"),
    "ht": ("wi", "oui", "dako", "ok"),
}
NO_WORDS = {"en": ("no", "n", "nope"), "es": ("no",), "ht": ("non",)}
# Names a respondent may use to pick a language, beyond its number.
LANGUAGE_WORDS = {
    "en": ("en", "english", "ingles", "angle", "anglais"),
    "es": ("es", "espanol", "spanish", "castellano", "espanyol", "panyol"),
    "ht": ("ht", "kreyol", "creole", "criollo", "haitian", "kreyol ayisyen", "creole haitien"),
}


def named_language(q: Questionnaire, norm: str) -> str | None:
    """The language a text names (its name in the file, or a known word)."""
    for lang in q.languages:
        names = {normalize(q.language_names.get(lang, "")), *LANGUAGE_WORDS.get(lang, ())}
        if norm in names:
            return lang
    return None


def chosen_language(q: Questionnaire, norm: str) -> str | None:
    """The language a reply to the language menu picks: its number or name."""
    n = read_number(norm)
    if n is not None and 1 <= n <= len(q.languages):
        return q.languages[n - 1]
    return named_language(q, norm)


def _match_option(
    question: Question, phrase: str, lang: str, langs: tuple[str, ...], *, loose: bool = True
) -> int | None:
    """Index of the option a phrase names: its number, label or a synonym."""
    if is_number(phrase):
        n = read_number(phrase)
        return n - 1 if n is not None and 1 <= n <= len(question.options) else None
    # The respondent's own language first, then any other if it names exactly one option.
    for pool in ((lang,), tuple(x for x in langs if x != lang)):
        words = question.option_words
        hits = {
            i
            for x in pool
            for i, option_words in enumerate(words.get(x, ()))
            if phrase in option_words
        }
        if len(hits) == 1:
            return hits.pop()
    # "yes I am" or "1 citizen": a first word that names exactly one option.
    first, _, rest = phrase.partition(" ")
    if loose and rest and not any(is_number(word) for word in rest.split(" ")):
        return _match_option(question, first, lang, (lang,), loose=False)
    return None


_MULTI_SPLIT = re.compile(r"\s*(?:,|;|/|\+|&|\n)\s*")
_CONJUNCTION_SPLIT = re.compile(r"\b(?:" + "|".join(sorted(CONJUNCTIONS)) + r")\b")


def _parse_multi(question: Question, text: str, lang: str, langs: tuple[str, ...]):
    norm_words = [w for w in normalize(text).split(" ") if w and w not in CONJUNCTIONS]
    count = len(question.options)
    if norm_words and all(is_number(w) for w in norm_words):
        picks: list[int] = []
        for w in norm_words:
            n = read_number(w)
            if n is not None and 1 <= n <= count:
                picks.append(n - 1)
            elif len(w) > 1 and all(1 <= int(d) <= count for d in w):
                picks.extend(int(d) - 1 for d in w)  # "13" with five options means 1 and 3
            else:
                return None
        return sorted(set(picks))
    phrases = [normalize(p) for p in _MULTI_SPLIT.split(text)]
    picks = []
    for phrase in phrases:
        for part in _CONJUNCTION_SPLIT.split(phrase):
            part = part.strip()
            if not part:
                continue
            index = _match_option(question, part, lang, langs, loose=False)
            if index is None:
                return None
            picks.append(index)
    return sorted(set(picks)) or None


def parse_answer(q: Questionnaire, question: Question, text: str, lang: str) -> Any:
    """The value a reply gives a question (option id, list of ids, int), or None if unclear."""
    norm = normalize(text)
    if not norm:
        return None
    if question.type is QuestionType.NUMBER:
        value = read_number(norm)
        if value is None:
            return None
        if question.minimum is not None and value < question.minimum:
            return None
        if question.maximum is not None and value > question.maximum:
            return None
        return value
    if question.type is QuestionType.MULTI:
        picks = _parse_multi(question, text, lang, q.languages)
        return [question.options[i].id for i in picks] if picks else None
    index = _match_option(question, norm, lang, q.languages)
    return question.options[index].id if index is not None else None


def consent_answer(norm: str, lang: str) -> bool | None:
    """Yes (True), no (False) or unclear (None) at the consent question."""
    if norm in ("1", *YES_WORDS.get(lang, ()), *YES_WORDS["en"]):
        return True
    if norm in ("2", *NO_WORDS.get(lang, ()), *NO_WORDS["en"]):
        return False
    return None
