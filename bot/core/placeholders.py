"""Placeholder resources: values a questionnaire ships with that an organizer must replace.

The shipped file names the coalition "the coalition" and gives a made-up hotline. Both reach
respondents through {org} and {hotline} in every language, so a Spanish or Kreyòl text would
read "Encuesta de seguridad de the coalition". A file marks such values in its `placeholders:`
mapping (resource name -> the shipped value); a resource still equal to its marked value is
unfinished, and once an organizer edits `resources` the mark no longer matches, with nothing
else to delete. The two shipped values are recognized even in a file without the mark.
`surveybot survey check` reports them (errors in production) and production refuses to open
a wave with them (`bot.outreach.waves.open_wave`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.core.questionnaire import Questionnaire

# The values the shipped questionnaire came with, recognized in any file.
SHIPPED_PLACEHOLDERS = {"org": "the coalition", "hotline": "1-888-000-0000"}
# What each known resource should become, for the organizer reading the finding.
RESOURCE_HINTS = {
    "org": "the coalition's own name as respondents know it (used as is in every language)",
    "hotline": "the real know-your-rights hotline number",
}


@dataclass(frozen=True)
class Placeholder:
    """A resource that still holds a placeholder (or nothing at all)."""

    resource: str
    value: str  # its current value; "" when it is empty or missing

    @property
    def key(self) -> str:
        """Where it is in the file."""
        return f"resources.{self.resource}"


def _same(a: str, b: str) -> bool:
    # "The  Coalition" is the same unfinished English phrase as "the coalition".
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _uses_default_invitation(q: Questionnaire) -> bool:
    own = q.messages.get("invitation", {})
    return any(lang not in own for lang in q.languages)


def find_placeholders(q: Questionnaire) -> list[Placeholder]:
    """Resources still holding a marked or shipped placeholder, or empty, in file order."""
    found = []
    for name, value in q.resources.items():
        marks = (q.placeholders.get(name), SHIPPED_PLACEHOLDERS.get(name))
        if not value.strip() or any(mark is not None and _same(value, mark) for mark in marks):
            found.append(Placeholder(name, value))
    if "org" not in q.resources and _uses_default_invitation(q):
        # The built-in invitation (bot.outreach.invitations) names the sender with {org}, and says
        # "the coalition" when the file has no such resource.
        found.append(Placeholder("org", ""))
    return found


def describe_placeholder(p: Placeholder, path: str | Path) -> str:
    """One line for an organizer: which resource, its value, and where to change it."""
    hint = RESOURCE_HINTS.get(p.resource, "its real value")
    if not p.value.strip():
        return f"{p.key} is empty or missing: set {p.key} in {path} to {hint}"
    return f'still the placeholder "{p.value}": change {p.key} in {path} to {hint}'


def refusal(wave: str, found: Iterable[Placeholder], path: str | Path) -> str:
    """Why production will not open a wave, as one line naming every placeholder."""
    values = ", ".join(f'{p.key} is "{p.value}"' for p in found)
    return (
        f"wave {wave!r} was not opened: its questionnaire still has placeholders ({values}); "
        f"replace them in {path}, then check it with: surveybot survey check {path}"
    )
