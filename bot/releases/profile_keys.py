"""Flat keys of a response's answers, stored on the response row for fast aggregation.

`choices_key` holds every answered one-choice question, `multi_key` every option chosen in a
several-choice question (plus `_answered`), each token `|question=option|`, sorted. The
aggregation groups responses by (week, language, choices_key) and counts multi options with
`LIKE '%|question=option|%'`: one scan of the response table instead of a join over answers.
"""

from __future__ import annotations

from typing import Any

ANSWERED = "_answered"


def _key(tokens: list[str]) -> str:
    return "|" + "|".join(sorted(tokens)) + "|" if tokens else ""


def choices_key(answers: dict[str, Any]) -> str:
    """Key of the one-choice answers (skips and numbers left out)."""
    return _key([f"{q}={v}" for q, v in answers.items() if isinstance(v, str)])


def multi_key(answers: dict[str, Any]) -> str:
    """Key of the several-choice answers: each chosen option, and that the question was answered."""
    tokens = []
    for question, value in answers.items():
        if isinstance(value, list):
            tokens.append(f"{question}={ANSWERED}")
            tokens.extend(f"{question}={option}" for option in value)
    return _key(tokens)


def parse_choices(key: str) -> dict[str, str]:
    """The one-choice answers of a choices key."""
    pairs = (token.split("=", 1) for token in key.strip("|").split("|") if token)
    return dict(pairs)


def multi_pattern(question_id: str, option_id: str) -> str:
    """LIKE pattern that matches responses that chose an option (or answered, with ANSWERED)."""
    return f"%|{question_id}={option_id}|%"
