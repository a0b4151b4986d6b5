"""Reading what respondents type: case, accents, spacing and punctuation never matter."""

from __future__ import annotations

import re
import unicodedata

MAX_BODY_CHARS = 1600  # Twilio's own limit for one message body

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACES = re.compile(r"\s+")
# Words that join the numbers of a multi answer: "1 y 3", "1 and 3", "1 ak 3", "1 et 3".
CONJUNCTIONS = frozenset({"and", "y", "e", "ak", "et", "epi", "or", "o", "ou"})
# Numbers written as words, normalized, by language: "two", "dos", "de" (Kreyol) read as 2.
# Each language's own, plus English; Kreyol "de" is not Spanish "de" ("of").
NUMBER_WORDS = {
    "en": ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
    "es": ("uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez"),
    "ht": ("en", "de", "twa", "kat", "senk", "sis", "set", "uit", "nef", "dis"),
}
_NUMBER_TABLES = {
    lang: {**{w: n for n, w in enumerate(NUMBER_WORDS["en"], 1)}, **dict(extra)}
    for lang, extra in {
        "en": {},
        "es": {**{w: n for n, w in enumerate(NUMBER_WORDS["es"], 1)}, "una": 1},
        "ht": {w: n for n, w in enumerate(NUMBER_WORDS["ht"], 1)},
    }.items()
}
# A dot between single letters is an abbreviation: "U.S." reads as "us", not "u s".
_ABBREVIATION_DOT = re.compile(r"(?<=\b[^\W\d_])\.(?=[^\W\d_]\b)")


def clean_body(body: str | None) -> str:
    """Drop control characters and bound the length of an inbound body."""
    if not body:
        return ""
    body = body[: MAX_BODY_CHARS * 2]
    kept = (ch if unicodedata.category(ch)[0] != "C" or ch in "\n\t" else " " for ch in body)
    return "".join(kept).strip()


def is_number(word: str) -> bool:
    """Whether a word is a number as the bot reads one: ASCII digits 0-9 only.

    `str.isdigit()` also holds for characters `int()` refuses (Ethiopic '፩', superscripts,
    Tai Tham '᧚'), which made a hostile reply a server error; `normalize` has already turned
    the decimal digits of every script into ASCII ones, so nothing a respondent means is lost.
    """
    return bool(word) and word.isascii() and word.isdigit()


def read_number(word: str, max_digits: int = 9) -> int | None:
    """The number a word is (ASCII digits, at most `max_digits` of them), else None: a run of
    thousands of digits is no answer, and `int()` refuses more than 4,300."""
    return int(word) if is_number(word) and len(word) <= max_digits else None


def number_word(word: str, lang: str) -> int | None:
    """The number a normalized word spells in a language (or in English), else None."""
    return _NUMBER_TABLES.get(lang, _NUMBER_TABLES["en"]).get(word)


def _ascii_digit(ch: str) -> str:
    """A decimal digit of any script (Unicode Nd: Arabic-Indic '٣', Devanagari '३', fullwidth
    '３') as its ASCII digit; any other character unchanged."""
    value = unicodedata.decimal(ch, None)
    return ch if value is None else str(value)


def normalize(text: str) -> str:
    """Lowercase, strip accents and punctuation, collapse spaces, read the decimal digits of
    every script as ASCII ones: 'Sí!' -> 'si', '٣' -> '3'."""
    decomposed = unicodedata.normalize("NFKD", _ABBREVIATION_DOT.sub("", text.casefold()))
    no_marks = "".join(_ascii_digit(ch) for ch in decomposed if not unicodedata.combining(ch))
    no_punct = _PUNCT.sub(" ", no_marks).replace("_", " ")
    return _SPACES.sub(" ", no_punct).strip()
