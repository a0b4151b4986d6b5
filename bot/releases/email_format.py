"""The weekly email's vocabulary: its data shapes and how one language writes each number.

A suppressed count is `None` and reads "not shown", explained by a note ("counts from 1 to N-1
are not shown, and a few other cells are hidden so they can't be worked out from totals"). It
does not read "fewer than N": complementary suppression also hides large counts (a total of
150 can be hidden to protect a group of 3 inside it), and a published report cannot tell the two
apart. A percentage is computed only when both its numerator and its denominator are published.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.releases.catalog import catalog
from bot.releases.suppression import percent

Count = int | None


def whole_percent(part: Count, whole: Count) -> int | None:
    """A whole percentage from published numbers only (None if either is suppressed, or whole is 0).

    `bot.releases.suppression.percent` decides when a percentage may exist; this rounds it half up
    (37.5 -> 38), the way people round by hand.
    """
    value = percent(part, whole)
    return None if value is None else math.floor(value + 0.5)


def get(data: Any, *path: str) -> Any:
    """The value at `path` in nested mappings, or None where a key is missing."""
    for key in path:
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    return data


def total(values: Iterable[Count]) -> Count:
    """Sum of published counts; None if any of them is suppressed."""
    result = 0
    for value in values:
        if value is None:
            return None
        result += value
    return result


@dataclass(frozen=True)
class Bar:
    """One bar of a chart: its label, its percentage (None: no bar) and the value it reads."""

    label: str
    pct: int | None
    text: str

    @property
    def width(self) -> int:
        """The bar's share of the track, in percent (0 to 100)."""
        return max(0, min(100, self.pct or 0))


@dataclass(frozen=True)
class Table:
    """One table of the email, its cells already formatted, and the chart drawn above it."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    suppressed: frozenset[tuple[int, int]]  # (row, column) cells that read "not shown"
    chart: tuple[Bar, ...] = ()
    chart_alt: str = ""  # what a screen reader says of the chart: every bar's value
    note: str = ""


@dataclass(frozen=True)
class Content:
    """Everything the email says, in reading order."""

    subject: str
    title: str
    subtitle: str
    summary: str
    findings: tuple[str, ...]
    tables: tuple[Table, ...]
    notes: tuple[str, ...]
    footer: str


class Format:
    """How one language writes counts, percentages, changes and date ranges."""

    def __init__(self, language: str, minimum: int) -> None:
        self.catalog = catalog(language)
        self.s = self.catalog.email
        self.language = language
        self.minimum = minimum

    def count(self, value: Count) -> str:
        """A published count with thousands separators, or "not shown"."""
        if value is None:
            return self.s["suppressed"]
        return f"{value:,}"

    def pct(self, value: int | None) -> str:
        """A whole percentage, or a dash."""
        return self.s["not_available"] if value is None else f"{value}%"

    def change(self, value: int | None) -> str:
        """A change in percentage points with its sign (a true minus sign), or a dash."""
        if value is None:
            return self.s["not_available"]
        sign = "+" if value > 0 else ("\u2212" if value < 0 else "")
        return self.s["pts"].format(sign=sign, n=abs(value))

    def dates(self, start: dt.date, end: dt.date) -> str:
        """A date range, naming the month and year only as often as the language needs."""
        months = self.catalog.months
        if start.year != end.year:
            pattern = self.catalog.dates["other_year"]
        elif start.month != end.month:
            pattern = self.catalog.dates["same_year"]
        else:
            pattern = self.catalog.dates["same_month"]
        return pattern.format(
            m1=months[start.month - 1],
            d1=start.day,
            y1=start.year,
            m2=months[end.month - 1],
            d2=end.day,
            y2=end.year,
        )

    def bar(self, label: str, pct: int | None, nobody: bool) -> Bar:
        """A chart bar; without a percentage it reads "no answers" or "not shown"."""
        if pct is not None:
            return Bar(label, pct, f"{pct}%")
        return Bar(label, None, self.s["no_answers"] if nobody else self.s["suppressed"])

    def chart_alt(self, title: str, bars: Iterable[Bar]) -> str:
        """The chart's text alternative: its title and every bar's value."""
        items = "; ".join(
            self.s["chart_item"].format(label=bar.label, value=bar.text) for bar in bars
        )
        return f"{title}. " + self.s["chart_alt"].format(items=items)
