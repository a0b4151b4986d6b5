"""What a check finds, and how the findings print."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from bot.core.questionnaire import QuestionType

Level = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    """One problem or measurement: `where` names the place in the file."""

    level: Level
    where: str
    message: str


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


# Question types whose answers are options.
WITH_OPTIONS = (QuestionType.CHOICE, QuestionType.MULTI)
