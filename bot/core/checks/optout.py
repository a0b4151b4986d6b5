"""Revocation phrases: each language has a confirmation, and no phrase is an answer."""

from __future__ import annotations

from collections.abc import Iterator

from bot.core.checks.findings import Finding
from bot.core.optout import revocation_language, words_of
from bot.core.questionnaire import Questionnaire
from bot.core.text import normalize


def check_opt_out(q: Questionnaire) -> Iterator[Finding]:
    """Phrases need a confirmation in every language, and none may be what an answer is."""
    if not any(q.revocation.values()):
        return
    confirmation = q.messages.get("opted_out", {})
    for lang in q.languages:
        if not confirmation.get(lang, "").strip():
            yield Finding(
                "error",
                f"opt_out.confirmation[{lang}]",
                "missing: a revocation in a sentence is confirmed in the person's language",
            )
        if not q.revocation.get(lang):
            yield Finding(
                "warning",
                f"opt_out.phrases[{lang}]",
                "no phrases: sentences revoking consent in this language are not recognised",
            )
    # An option's label or synonym that reads as a revocation would opt out a person answering.
    for question in q.questions:
        for option in question.options:
            words = [*option.label.values()]
            words += [w for listed in option.synonyms.values() for w in listed]
            for word in words:
                if normalize(word) and revocation_language(q, word) is not None:
                    yield Finding(
                        "error",
                        f"question {question.id}.option {option.id}",
                        f"{word!r} reads as a revocation (opt_out.phrases): it would opt out",
                    )
    for lang, phrases in q.revocation.items():
        for phrase in phrases:
            if len(words_of(phrase)) < 2:
                yield Finding(
                    "warning",
                    f"opt_out.phrases[{lang}] {phrase!r}",
                    "one word: put single words in keywords.stop, where Twilio hears them too",
                )
