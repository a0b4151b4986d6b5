"""Translations of the published reports: one YAML catalog per language in bot/catalogs.

A catalog holds the email's sentences (`email`, filled with str.format), the month names and the
date-range patterns of that language, so adding a language means adding a file, not code.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

CATALOGS = Path(__file__).resolve().parent.parent / "catalogs"


@dataclass(frozen=True)
class Catalog:
    """One language's strings: the email's sentences, month names and date-range patterns."""

    language: str
    email: dict[str, str]
    months: tuple[str, ...]
    dates: dict[str, str]


def languages() -> tuple[str, ...]:
    """The languages that have a catalog, sorted."""
    return tuple(sorted(path.stem for path in CATALOGS.glob("*.yaml")))


@functools.cache
def catalog(language: str) -> Catalog:
    """The catalog of one language; ValueError if there is none."""
    path = CATALOGS / f"{language}.yaml"
    if language not in languages():
        raise ValueError(f"no email strings for language {language!r} (have: {list(languages())})")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Catalog(
        language=language,
        email=dict(data["email"]),
        months=tuple(data["months"]),
        dates=dict(data["dates"]),
    )
