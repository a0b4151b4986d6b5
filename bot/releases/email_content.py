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
from bot.releases.email_tables import languages_table, reasons_table, responses_table
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


def _afraid_headline(current: dict, f: Format, when: str) -> str | None:
    """The headline: the exact share, else its band when the release gives one (an exact
    count must stay hidden), else why it is not shown."""
    s = f.s
    afraid_q = get(current, "questions", AFRAID)
    if afraid_q is None:
        return None
    pct = whole_percent(get(afraid_q, "counts", "yes"), get(afraid_q, "answered"))
    if pct is not None:
        return s["headline_afraid"].format(pct=pct)
    band = get(current, "bands", AFRAID)
    if band is not None and f"band_{band}" in s:
        return s["headline_afraid_band"].format(band=s[f"band_{band}"], when=when)
    return s["headline_afraid_small"].format(when=when)


def findings(current: dict, f: Format, when: str, so_far: dict | None = None) -> list[str]:
    """The key findings, one sentence each, for the figures the report publishes (and the
    wave so far's headline beside the week's, when given)."""
    s = f.s
    out = []
    headline = _afraid_headline(current, f, when)
    if headline:
        out.append(headline)
    so_far_q = get(so_far, "questions", AFRAID)
    so_far_pct = whole_percent(get(so_far_q, "counts", "yes"), get(so_far_q, "answered"))
    if so_far_pct is not None:
        out.append(s["headline_afraid_so_far"].format(pct=so_far_pct))
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


def _total_row(current: dict, previous: dict | None, label: str) -> _GroupRow:
    """Everyone who answered the question: the question's own published counts, which the
    groups of a crosstab add up to."""
    whole = get(current, "questions", AFRAID)
    answered, afraid = get(whole, "answered"), get(whole, "counts", "yes")
    pct = whole_percent(afraid, answered)
    before = get(previous, "questions", AFRAID)
    pct_then = whole_percent(get(before, "counts", "yes"), get(before, "answered"))
    change = None if pct is None or pct_then is None else pct - pct_then
    return _GroupRow(label, answered, afraid, pct, change)


def afraid_table(
    current: dict,
    previous: dict | None,
    q,
    key: str,
    title_key: str,
    f: Format,
    so_far: dict | None = None,
) -> Table | None:
    """Afraid to seek help, by one group question, with a total row, the change against the
    week before and (when given) the share of the wave so far beside it."""
    if get(current, "crosstabs", key) is None:
        return None
    s = f.s
    groups = _afraid_rows(current, previous, q, key, f.language)
    rows = [*groups, _total_row(current, previous, s["total_row"])]
    beside: list[int | None] = []
    if so_far is not None:
        wave_rows = {r.label: r.pct for r in _afraid_rows(so_far, None, q, key, f.language)}
        beside = [wave_rows.get(row.label) for row in groups]
        beside.append(_total_row(so_far, None, "").pct)
    suppressed = set()
    cells = []
    for i, row in enumerate(rows):
        if row.answered is None:
            suppressed.add((i, 1))
        if row.afraid is None:
            suppressed.add((i, 2))
        cell = (
            row.label,
            f.count(row.answered),
            f.count(row.afraid),
            f.pct(row.pct),
            f.change(row.change),
        )
        cells.append(cell + ((f.pct(beside[i]),) if beside else ()))
    bars = tuple(f.bar(row.label, row.pct, row.answered == 0) for row in groups)
    return Table(
        title=s[title_key],
        columns=(
            s["col_group"],
            s["col_answered"],
            s["col_afraid"],
            s["col_pct_afraid"],
            s["col_change"],
        )
        + ((s["col_so_far"],) if beside else ()),
        rows=tuple(cells),
        suppressed=frozenset(suppressed),
        chart=bars,
        chart_alt=f.chart_alt(s[title_key], bars),
    )


def _suppression_note(f: Format) -> str | None:
    if f.minimum <= 1:
        return None
    if f.minimum == 2:
        return f.s["note_suppression_one"]
    return f.s["note_suppression"].format(min=f.minimum, max=f.minimum - 1)


def _is_week(start: dt.date, end: dt.date) -> bool:
    return start.isoweekday() == 1 and (end - start).days == 6


def _tables(
    current: dict, previous: dict | None, q, f: Format, so_far: dict | None = None
) -> list[Table]:
    tables = [
        afraid_table(current, previous, q, key, title, f, so_far) for key, title in AFRAID_TABLES
    ]
    tables += [reasons_table(current, q, f), responses_table(current, f, so_far)]
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
    current: dict[str, Any],
    previous: dict[str, Any] | None,
    q,
    language: str,
    so_far: dict[str, Any] | None = None,
) -> Content:
    """What the email of one published report says; `previous` (the week before) gives changes,
    `so_far` (the wave so far, from the same release) is shown beside the week.

    A `current` marked "not_released" (no release covers the period yet) says so, and shows
    the wave so far instead when there is one."""
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
    if current.get("not_released"):
        return _not_released(title, subtitle, footer, q, f, so_far)
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
    if so_far is not None and so_far.get("completed") is not None:
        summary += " " + s["summary_so_far"].format(completed=f.count(so_far["completed"]))
    usable_previous = previous if previous and previous.get("completed") != 0 else None
    notes_list = [n for n in (_suppression_note(f), s["note_method"]) if n]
    if usable_previous is None:
        notes_list.append(s["note_no_previous"])
    return Content(
        subject=title,
        title=title,
        subtitle=subtitle,
        summary=summary,
        findings=tuple(findings(current, f, when, so_far)),
        tables=tuple(_tables(current, usable_previous, q, f, so_far)),
        notes=tuple(notes_list),
        footer=footer,
    )


def _not_released(
    title: str, subtitle: str, footer: str, q, f: Format, so_far: dict | None
) -> Content:
    """No release covers this period yet: say so, with the wave so far when there is one."""
    s = f.s
    if so_far is None or not so_far.get("completed"):
        return Content(title, title, subtitle, s["not_released"], (), (), (), footer)
    when = s["when_so_far"]
    said = _summary(so_far["completed"], so_far.get("started"), f, when)
    summary = s["not_released"] + " " + said
    notes = tuple(n for n in (_suppression_note(f), s["note_method"]) if n)
    return Content(
        subject=title,
        title=title,
        subtitle=subtitle,
        summary=summary,
        findings=tuple(findings(so_far, f, when)),
        tables=tuple(_tables(so_far, None, q, f)),
        notes=notes,
        footer=footer,
    )
