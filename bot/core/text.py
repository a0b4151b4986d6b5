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


def normalize(text: str) -> str:
    """Lowercase, strip accents and punctuation, collapse spaces: 'Sí!' -> 'si'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    no_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    no_punct = _PUNCT.sub(" ", no_marks).replace("_", " ")
    return _SPACES.sub(" ", no_punct).strip()
