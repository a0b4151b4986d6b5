"""Resources still to fill in, and the {placeholders} of formatted messages."""

from __future__ import annotations

import string
from collections.abc import Iterator
from pathlib import Path

from bot.core.checks.findings import Finding, Level
from bot.core.checks.translations import respondent_texts
from bot.core.placeholders import describe_placeholder, find_placeholders
from bot.core.questionnaire import ENGINE_FIELDS, Questionnaire


def check_resources(q: Questionnaire, allow: bool, path: str | Path) -> Iterator[Finding]:
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


def placeholder_fields(text: str) -> list[str]:
    """Names of the str.format fields in a text; raises ValueError on a stray brace."""
    names = []
    for _literal, field, _spec, _conversion in string.Formatter().parse(text):
        if field is not None:
            # "{hotline.x}" and "{hotline[0]}" still look up "hotline" first.
            names.append(field.split(".", 1)[0].split("[", 1)[0])
    return names


def placeholder_findings(
    q: Questionnaire, where: str, text: str, values: tuple[str, ...] = ()
) -> Iterator[Finding]:
    """A formatted text's placeholders must each name a resource or one of `values`."""
    try:
        names = placeholder_fields(text)
    except ValueError as exc:
        yield Finding("error", where, f"bad braces ({exc}); write no literal braces")
        return
    for name in names:
        if not name or name.isdigit():
            yield Finding("error", where, "a placeholder needs a name, e.g. {hotline}")
        elif name not in q.resources and name not in values:
            known = ", ".join(sorted({*q.resources, *values})) or "none"
            yield Finding("error", where, f"unknown placeholder {{{name}}} (resources: {known})")


def check_placeholders(q: Questionnaire) -> Iterator[Finding]:
    """Each message's placeholders known; braces elsewhere are sent as typed."""
    for key, texts in q.messages.items():
        for lang, text in texts.items():
            where = f"messages.{key}[{lang}]"
            yield from placeholder_findings(q, where, text, ENGINE_FIELDS)
    # Only messages are formatted: braces anywhere else reach the phone as typed.
    for where, texts in respondent_texts(q):
        if where.startswith("messages."):
            continue
        for lang, text in texts.items():
            if "{" in text or "}" in text:
                yield Finding("warning", f"{where}[{lang}]", "braces are sent literally here")
