"""The weekly email's plain tables: the reasons for the fear, the responses (with the wave so
far beside the week) and the languages (with a total row). Pure, like email_content.py."""

from __future__ import annotations

from bot.releases.email_format import Format, Table, get, whole_percent
from bot.releases.report import category_label, ordered_categories

REASONS = "fear_reasons"


def reasons_table(current: dict, q, f: Format) -> Table | None:
    """The reasons for the fear, each as a share of those afraid who said why."""
    reasons = get(current, "questions", REASONS)
    if reasons is None:
        return None
    s = f.s
    answered = get(reasons, "answered")
    counts = get(reasons, "counts") or {}
    rows, suppressed = [], set()
    for i, option in enumerate(ordered_categories(q, REASONS, counts)):
        n = counts[option]
        if n is None:
            suppressed.add((i, 1))
        rows.append(
            (
                category_label(q, REASONS, option, f.language),
                f.count(n),
                f.pct(whole_percent(n, answered)),
            )
        )
    note = (
        s["reasons_note"].format(answered=f.count(answered))
        if answered is not None
        else s["reasons_note_small"]
    )
    return Table(
        title=s["reasons"],
        columns=(s["col_reason"], s["col_named"], s["col_pct_reasons"]),
        rows=tuple(rows),
        suppressed=frozenset(suppressed),
        note=note,
    )


def _rate(report: dict) -> int | None:
    rate = whole_percent(report.get("completed"), report.get("started"))
    return None if rate is not None and rate > 100 else rate  # started the week before


def responses_table(current: dict, f: Format, so_far: dict | None = None) -> Table:
    """Conversations started and completed, and the completion rate (and the wave so far)."""
    s = f.s
    reports = [current] if so_far is None else [current, so_far]
    suppressed = {
        (i, 1 + j)
        for j, report in enumerate(reports)
        for i, name in enumerate(("started", "completed"))
        if report.get(name) is None
    }
    columns = (s["col_measure"], s["col_value"]) + ((s["col_so_far"],) if so_far else ())
    return Table(
        title=s["responses"],
        columns=columns,
        rows=(
            (s["started"], *(f.count(r.get("started")) for r in reports)),
            (s["completed"], *(f.count(r.get("completed")) for r in reports)),
            (s["completion_rate"], *(f.pct(_rate(r)) for r in reports)),
        ),
        suppressed=frozenset(suppressed),
    )


def languages_table(current: dict, q, f: Format) -> Table | None:
    """Completed surveys by the language they were taken in."""
    by_language = current.get("by_language") or {}
    if not by_language:
        return None
    s = f.s
    completed = current.get("completed")
    rows, suppressed = [], set()
    for i, lang in enumerate(ordered_categories(q, "language", by_language)):
        n = by_language[lang]
        if n is None:
            suppressed.add((i, 1))
        rows.append(
            (
                category_label(q, "language", lang, f.language),
                f.count(n),
                f.pct(whole_percent(n, completed)),
            )
        )
    rows.append((s["total_row"], f.count(completed), f.pct(whole_percent(completed, completed))))
    if completed is None:
        suppressed.add((len(rows) - 1, 1))
    return Table(
        title=s["languages"],
        columns=(s["col_language"], s["col_completed"], s["col_share"]),
        rows=tuple(rows),
        suppressed=frozenset(suppressed),
    )
