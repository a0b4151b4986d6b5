"""What the weekly email says: a published report in, plain data out (findings, tables, notes).

Pure: published (already suppressed) report dicts and the questionnaire in, `Content` (frozen
dataclasses of strings) out, with no I/O; only the published aggregates reach it (no ids, no
rows). The templates under bot/templates/email lay it out as text and HTML.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from bot.releases.email_format import Content, Count, Format, Table, get, total, whole_percent
from bot.releases.report import category_label, ordered_categories

AFRAID = "afraid_to_seek_help"
REASONS = "fear_reasons"
REPORT_CRIME = "would_report_crime"

# The afraid-by-group tables, in the order the study reports them: (crosstab key, title key).
AFRAID_TABLES = (
    (f"{AFRAID}|status", "by_status"),
    (f"{AFRAID}|years_in_us", "by_years"),
    (f"{AFRAID}|knows_deported", "by_deported"),
    (f"{AFRAID}|language", "by_language"),
)


def findings(current: dict, f: Format, when: str) -> list[str]:
    """The key findings, one sentence each, for the figures the report publishes."""
    s = f.s
    out = []
    afraid_q = get(current, "questions", AFRAID)
    if afraid_q is not None:
        pct = whole_percent(get(afraid_q, "counts", "yes"), get(afraid_q, "answered"))
        out.append(
            s["headline_afraid"].format(pct=pct)
            if pct is not None
            else s["headline_afraid_small"].format(when=when)
        )
    out += _status_findings(current, s)

    reasons = get(current, "questions", REASONS)
    ice = whole_percent(get(reasons, "counts", "ice_collaboration"), get(reasons, "answered"))
    if ice is not None:
        out.append(s["headline_ice"].format(pct=ice))

    years = get(current, "crosstabs", f"{AFRAID}|years_in_us", "gt10")
    gt10 = whole_percent(get(years, "counts", "yes"), get(years, "answered"))
    if gt10 is not None:
        out.append(s["headline_years"].format(pct=gt10))
    out += _deported_findings(current, s)

    crime = get(current, "questions", REPORT_CRIME)
    report_pct = whole_percent(get(crime, "counts", "yes"), get(crime, "answered"))
    if report_pct is not None:
        out.append(s["headline_report_crime"].format(pct=report_pct))
    return out


def _status_findings(current: dict, s: dict[str, str]) -> list[str]:
    status = get(current, "crosstabs", f"{AFRAID}|status") or {}
    lpr = whole_percent(get(status, "lpr", "counts", "yes"), get(status, "lpr", "answered"))
    citizen = whole_percent(
        get(status, "citizen", "counts", "yes"), get(status, "citizen", "answered")
    )
    if lpr is not None and citizen is not None:
        return [s["headline_status_both"].format(lpr=lpr, citizen=citizen)]
    if lpr is not None:
        return [s["headline_status_lpr"].format(lpr=lpr)]
    if citizen is not None:
        return [s["headline_status_citizen"].format(citizen=citizen)]
    return []


def _deported_findings(current: dict, s: dict[str, str]) -> list[str]:
    deported = get(current, "crosstabs", f"{AFRAID}|knows_deported") or {}
    knowing = [deported[k] for k in ("one", "several") if k in deported]
    if not knowing or "none" not in deported:
        return []
    known = whole_percent(
        total(get(c, "counts", "yes") for c in knowing),
        total(get(c, "answered") for c in knowing),
    )
    none = whole_percent(get(deported, "none", "counts", "yes"), get(deported, "none", "answered"))
    if known is None or none is None:
        return []
    return [s["headline_deported"].format(known=known, none=none)]


@dataclass(frozen=True)
class _GroupRow:
    label: str
    answered: Count
    afraid: Count
    pct: int | None
    change: int | None


def _afraid_rows(
    current: dict, previous: dict | None, q, key: str, language: str
) -> list[_GroupRow]:
    by = key.split("|", 1)[1]
    table = get(current, "crosstabs", key) or {}
    before = get(previous, "crosstabs", key) or {}
    rows = []
    for category in ordered_categories(q, by, table):
        cell = table[category]
        answered = get(cell, "answered")
        afraid = get(cell, "counts", "yes")
        pct = whole_percent(afraid, answered)
        then = get(before, category)
        pct_then = whole_percent(get(then, "counts", "yes"), get(then, "answered"))
        change = None if pct is None or pct_then is None else pct - pct_then
        rows.append(
            _GroupRow(category_label(q, by, category, language), answered, afraid, pct, change)
        )
    return rows


def afraid_table(
    current: dict, previous: dict | None, q, key: str, title_key: str, f: Format
) -> Table | None:
    """Afraid to seek help, by one group question, with the change against the week before."""
    if get(current, "crosstabs", key) is None:
        return None
    s = f.s
    rows = _afraid_rows(current, previous, q, key, f.language)
    suppressed = set()
    cells = []
    for i, row in enumerate(rows):
        if row.answered is None:
            suppressed.add((i, 1))
        if row.afraid is None:
            suppressed.add((i, 2))
        cells.append(
            (
                row.label,
                f.count(row.answered),
                f.count(row.afraid),
                f.pct(row.pct),
                f.change(row.change),
            )
        )
    bars = tuple(f.bar(row.label, row.pct, row.answered == 0) for row in rows)
    return Table(
        title=s[title_key],
        columns=(
            s["col_group"],
            s["col_answered"],
            s["col_afraid"],
            s["col_pct_afraid"],
            s["col_change"],
        ),
        rows=tuple(cells),
        suppressed=frozenset(suppressed),
        chart=bars,
        chart_alt=f.chart_alt(s[title_key], bars),
    )


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


def responses_table(current: dict, f: Format) -> Table:
    """Conversations started and completed, and the completion rate."""
    s = f.s
    started, completed = current.get("started"), current.get("completed")
    rate = whole_percent(completed, started)
    if rate is not None and rate > 100:  # completed this week, started the week before
        rate = None
    suppressed = {(i, 1) for i, v in enumerate((started, completed)) if v is None}
    return Table(
        title=s["responses"],
        columns=(s["col_measure"], s["col_value"]),
        rows=(
            (s["started"], f.count(started)),
            (s["completed"], f.count(completed)),
            (s["completion_rate"], f.pct(rate)),
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
    return Table(
        title=s["languages"],
        columns=(s["col_language"], s["col_completed"], s["col_share"]),
        rows=tuple(rows),
        suppressed=frozenset(suppressed),
    )


def _suppression_note(f: Format) -> str | None:
    if f.minimum <= 1:
        return None
    if f.minimum == 2:
        return f.s["note_suppression_one"]
    return f.s["note_suppression"].format(min=f.minimum, max=f.minimum - 1)


def _is_week(start: dt.date, end: dt.date) -> bool:
    return start.isoweekday() == 1 and (end - start).days == 6


def _tables(current: dict, previous: dict | None, q, f: Format) -> list[Table]:
    tables = [afraid_table(current, previous, q, key, title, f) for key, title in AFRAID_TABLES]
    tables += [reasons_table(current, q, f), responses_table(current, f)]
    tables.append(languages_table(current, q, f))
    return [table for table in tables if table is not None]


def _summary(completed: Count, started: Count, f: Format, when: str) -> str:
    if completed is None:
        return f.s["summary_hidden"].format(when=when)
    if started is not None and started >= completed:
        return f.s["summary_started"].format(
            completed=f.count(completed), started=f.count(started), when=when
        )
    return f.s["summary"].format(completed=f.count(completed), when=when)


def build_content(
    current: dict[str, Any], previous: dict[str, Any] | None, q, language: str
) -> Content:
    """What the email of one published report says; `previous` (the week before) gives changes."""
    minimum = int(current["suppression_min"])
    f = Format(language, minimum)
    s = f.s
    start = dt.date.fromisoformat(current["period"]["start"])
    end = dt.date.fromisoformat(current["period"]["end"])
    weekly = _is_week(start, end)
    title = s["title_week" if weekly else "title_period"].format(dates=f.dates(start, end))
    when = s["when_week" if weekly else "when_period"]
    subtitle = s["wave"].format(wave=current.get("wave", ""))
    footer = s["footer"]
    completed, started = current.get("completed"), current.get("started")

    # completed == 0: nobody answered. completed hidden: fewer than the minimum only when the
    # conversations started are fewer too (a hidden total may also hide a larger number, so
    # that small groups can't be worked out from it).
    if completed == 0:
        body = s["empty"].format(when=when) + " " + s["empty_next"]
        return Content(title, title, subtitle, body, (), (), (), footer)
    if completed is None and started is not None and started < minimum:
        body = s["too_small"].format(min=minimum, when=when)
        notes = tuple(filter(None, [_suppression_note(f)]))
        return Content(title, title, subtitle, body, (), (), notes, footer)

    summary = _summary(completed, started, f, when)
    usable_previous = previous if previous and previous.get("completed") != 0 else None
    notes_list = [n for n in (_suppression_note(f), s["note_method"]) if n]
    if usable_previous is None:
        notes_list.append(s["note_no_previous"])
    return Content(
        subject=title,
        title=title,
        subtitle=subtitle,
        summary=summary,
        findings=tuple(findings(current, f, when)),
        tables=tuple(_tables(current, usable_previous, q, f)),
        notes=tuple(notes_list),
        footer=footer,
    )
