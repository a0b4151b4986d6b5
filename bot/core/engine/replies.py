"""Reading a reply: a language, a consent, an answer to a question (number, label, synonym)."""

from __future__ import annotations

import re
from typing import Any

from bot.core.questionnaire import Question, Questionnaire, QuestionType
from bot.core.text import CONJUNCTIONS, is_number, normalize, number_word, read_number

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


# Words that turn a phrase around: "I'm not a US citizen" names no option.
NEGATIONS = frozenset(
    {"not", "no", "never", "don", "isn", "aren", "nope", "ni", "nunca", "tampoco", "pa", "non"}
)
# A reply longer than this is not searched for an option named inside it.
MAX_WORDS_SEARCHED = 12


def _number_word(question: Question, word: str, lang: str) -> int | None:
    """The option index a number word picks ("two", "dos", "de"): by its number, unless the
    word is part of an option's own words in the language ("one" of "One person"), which
    then win (and two such options make it unclear: "one" of "No one" and "One person")."""
    n = number_word(word, lang)
    if n is None:
        return None
    named = {
        i
        for i, phrases in enumerate(question.option_words.get(lang, ()))
        if any(word in phrase.split(" ") for phrase in phrases)
    }
    if named:
        return named.pop() if len(named) == 1 else None
    return n - 1 if 1 <= n <= len(question.options) else None


def _with_digits(phrase: str, lang: str) -> str:
    """A phrase with its number words as digits: "mas de diez anos" -> "mas de 10 anos"."""
    return " ".join(str(number_word(w, lang) or w) for w in phrase.split(" "))


def _named_inside(question: Question, phrase: str, pool: tuple[str, ...]) -> int | None:
    """The one option whose label or synonym stands as whole words inside a reply ("I'm a
    US citizen"), a longer match winning over one inside it ("no lo se" over "no"); None
    when several options are named, or a negation stands outside the match."""
    padded = f" {phrase} "
    spans: list[tuple[int, int, int]] = []
    for lang in pool:
        for i, phrases in enumerate(question.option_words.get(lang, ())):
            for words in phrases:
                at = padded.find(f" {words} ")
                while at != -1:
                    spans.append((at, at + len(words) + 2, i))
                    at = padded.find(f" {words} ", at + 1)
    kept = [
        (start, end, i)
        for start, end, i in spans
        if not any(s <= start and end <= e and e - s > end - start and j != i for s, e, j in spans)
    ]
    if len({i for _, _, i in kept}) != 1:
        return None
    outside = padded
    for start, end, _ in kept:
        outside = outside[:start] + " " * (end - start) + outside[end:]
    if NEGATIONS & set(outside.split()):
        return None
    return kept[0][2]


def _match_option(
    question: Question, phrase: str, lang: str, langs: tuple[str, ...], *, loose: bool = True
) -> int | None:
    """Index of the option a phrase names: its number (in digits or words), label or synonym,
    or one of those inside a longer reply."""
    if is_number(phrase):
        n = read_number(phrase)
        return n - 1 if n is not None and 1 <= n <= len(question.options) else None
    pools = ((lang,), tuple(x for x in langs if x != lang))
    # The respondent's own language first, then any other if it names exactly one option.
    for pool in pools:
        words = question.option_words
        hits = {
            i
            for x in pool
            for i, option_words in enumerate(words.get(x, ()))
            if phrase in option_words
        }
        if len(hits) == 1:
            return hits.pop()
    if " " not in phrase:
        return _number_word(question, phrase, lang)
    # "yes I am" or "1 citizen": a first word that names exactly one option.
    first, _, rest = phrase.partition(" ")
    if loose and rest and not any(is_number(word) for word in rest.split(" ")):
        found = _match_option(question, first, lang, (lang,), loose=False)
        if found is not None:
            return found
    if len(phrase.split(" ")) > MAX_WORDS_SEARCHED:
        return None
    digits = _with_digits(phrase, lang)
    for candidate in dict.fromkeys((phrase, digits)):
        for pool in pools:
            found = _named_inside(question, candidate, pool)
            if found is not None:
                return found
    return None


_MULTI_SPLIT = re.compile(r"\s*(?:,|;|/|\+|&|\n)\s*")
_CONJUNCTION_SPLIT = re.compile(r"\b(?:" + "|".join(sorted(CONJUNCTIONS)) + r")\b")


def _parse_multi(question: Question, text: str, lang: str, langs: tuple[str, ...]):
    norm_words = [w for w in normalize(text).split(" ") if w and w not in CONJUNCTIONS]
    count = len(question.options)
    spelled = [_number_word(question, w, lang) for w in norm_words]
    if norm_words and all(index is not None for index in spelled):
        return sorted(set(spelled))  # type: ignore[type-var]  # "one and three", "en ak twa"
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


def near_miss(norm: str) -> bool:
    """Whether a reply that answers nothing is still numbers (out of range, or too many):
    someone answering the question in front of them, who needs only the range."""
    words = [w for w in norm.split(" ") if w and w not in CONJUNCTIONS]
    return bool(words) and all(is_number(w) for w in words)


def consent_answer(norm: str, lang: str) -> bool | None:
    """Yes (True), no (False) or unclear (None) at the consent question."""
    if norm in ("1", *YES_WORDS.get(lang, ()), *YES_WORDS["en"]):
        return True
    if norm in ("2", *NO_WORDS.get(lang, ()), *NO_WORDS["en"]):
        return False
    return None
