"""Reading what respondents type: case, accents, spacing and punctuation never matter."""

from __future__ import annotations

import re
import unicodedata

MAX_BODY_CHARS = 1600  # Twilio's own limit for one message body

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACES = re.compile(r"\s+")
# Words that join the numbers of a multi answer: "1 y 3", "1 and 3", "1 ak 3", "1 et 3".
CONJUNCTIONS = frozenset({"and", "y", "e", "ak", "et", "epi", "or", "o", "ou"})


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


def _ascii_digit(ch: str) -> str:
    """A decimal digit of any script (Unicode Nd: Arabic-Indic '٣', Devanagari '३', fullwidth
    '３') as its ASCII digit; any other character unchanged."""
    value = unicodedata.decimal(ch, None)
    return ch if value is None else str(value)


def normalize(text: str) -> str:
    """Lowercase, strip accents and punctuation, collapse spaces, read the decimal digits of
    every script as ASCII ones: 'Sí!' -> 'si', '٣' -> '3'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    no_marks = "".join(_ascii_digit(ch) for ch in decomposed if not unicodedata.combining(ch))
    no_punct = _PUNCT.sub(" ", no_marks).replace("_", " ")
    return _SPACES.sub(" ", no_punct).strip()
