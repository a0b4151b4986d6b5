"""The weekly email: a published report rendered as text and HTML, in the study's style.

Pure: published (already suppressed) report dicts and the questionnaire in, strings out; no I/O.
Only the published aggregates reach the email (no ids, no rows).

A suppressed count is `None` and reads "not shown", explained by a note ("counts from 1 to N-1
are not shown, and a few other cells are hidden so they can't be worked out from totals"). It
does not read "fewer than N": complementary suppression also hides large counts (a total of
150 can be hidden to protect a group of 3 inside it), and a published report cannot tell the two
apart. A percentage is computed only when both its numerator and its denominator are published.

Charts are drawn with table cells (background colour and width), so they need no image and
show in Gmail, Outlook and Apple Mail; each has a caption and `role="img"` with an `aria-label`
that says every bar's value.
"""

from __future__ import annotations

import datetime as dt
import math
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from html import escape
from typing import Any

from bot.releases.report import category_label, ordered_categories
from bot.releases.suppression import percent

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

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title_week": "Community safety survey — week of {dates}",
        "title_period": "Community safety survey — {dates}",
        "wave": "Wave: {wave}",
        "summary": "{completed} people completed the survey {when}.",
        "summary_started": "{completed} people completed the survey {when} ({started} started).",
        "summary_hidden": (
            "How many people completed the survey {when} is not shown, so that smaller groups "
            "can't be worked out from it."
        ),
        "when_week": "this week",
        "when_period": "in this period",
        "findings": "Key findings",
        "headline_afraid": (
            "{pct}% of respondents said they are afraid to go to the police, fire department "
            "or emergency room for help."
        ),
        "headline_afraid_small": (
            "How many said they are afraid to seek help is not shown {when}, to protect "
            "respondents."
        ),
        "headline_status_both": (
            "{lpr}% of permanent residents and {citizen}% of US citizens said so too."
        ),
        "headline_status_lpr": "{lpr}% of permanent residents said so too.",
        "headline_status_citizen": "{citizen}% of US citizens said so too.",
        "headline_ice": (
            "{pct}% of those afraid named collaboration between local police and ICE as a reason."
        ),
        "headline_years": (
            "{pct}% of respondents who have lived in the US for over 10 years are afraid."
        ),
        "headline_deported": (
            "Of respondents who know someone who was deported, {known}% are afraid, against "
            "{none}% of those who know no one."
        ),
        "headline_report_crime": (
            "{pct}% said they would call 911 or report a crime to the police if they were a victim."
        ),
        "by_status": "Afraid to seek help, by immigration status",
        "by_years": "Afraid to seek help, by years in the US",
        "by_deported": "Afraid to seek help, by knowing someone who was deported",
        "by_language": "Afraid to seek help, by language of the survey",
        "col_group": "Group",
        "col_answered": "Answered",
        "col_afraid": "Afraid",
        "col_pct_afraid": "% afraid",
        "col_change": "Change",
        "chart_caption": "Chart: percent afraid to seek help, by group.",
        "chart_alt": "Bar chart, percent afraid to seek help. {items}.",
        "chart_item": "{label}: {value}",
        "no_answers": "no answers",
        "reasons": "Reasons for the fear",
        "col_reason": "Reason",
        "col_named": "Named by",
        "col_pct_reasons": "% of those afraid",
        "reasons_note": (
            "Out of the {answered} people who were afraid and said why; a person may name "
            "more than one reason."
        ),
        "reasons_note_small": (
            "Out of the people who were afraid and said why; a person may name more than "
            "one reason."
        ),
        "responses": "Responses",
        "col_measure": "Measure",
        "col_value": "Value",
        "started": "Started",
        "completed": "Completed",
        "completion_rate": "Completion rate",
        "languages": "Completed surveys by language",
        "col_language": "Language",
        "col_completed": "Completed",
        "col_share": "Share",
        "suppressed": "not shown",
        "not_available": "—",
        "pts": "{sign}{n} pts",
        "about": "About these numbers",
        "note_suppression": (
            "To protect respondents, counts of fewer than {min} people (1 to {max}) are not "
            "shown, and a few other cells are hidden so they can't be worked out from totals."
        ),
        "note_suppression_one": (
            "To protect respondents, counts of 1 are not shown, and a few other cells are "
            "hidden so they can't be worked out from totals."
        ),
        "note_method": (
            "Percentages are of the people who answered each question; anyone may skip a "
            "question. Changes are in percentage points against the week before."
        ),
        "note_no_previous": "There are no figures from the week before to compare with.",
        "empty": "There were no new answers {when}.",
        "empty_next": "The survey is still open; the next report will include any new answers.",
        "too_small": (
            "Fewer than {min} people completed the survey {when}: too few to report any "
            "figure safely."
        ),
        "footer": (
            "Sent by surveybot for the coalition. This email contains only aggregate counts: "
            "no phone numbers and no individual answers."
        ),
    },
    "es": {
        "title_week": "Encuesta de seguridad comunitaria — semana del {dates}",
        "title_period": "Encuesta de seguridad comunitaria — del {dates}",
        "wave": "Ronda: {wave}",
        "summary": "{completed} personas completaron la encuesta {when}.",
        "summary_started": (
            "{completed} personas completaron la encuesta {when} ({started} la empezaron)."
        ),
        "summary_hidden": (
            "No se muestra cuántas personas completaron la encuesta {when}, para que no puedan "
            "deducirse grupos más pequeños."
        ),
        "when_week": "esta semana",
        "when_period": "en este período",
        "findings": "Resultados principales",
        "headline_afraid": (
            "El {pct}% de las personas encuestadas dijo tener miedo de acudir a la policía, "
            "a los bomberos o a una sala de emergencias para pedir ayuda."
        ),
        "headline_afraid_small": (
            "No se muestra cuántas personas dijeron tener miedo de pedir ayuda {when}, para "
            "proteger a quienes respondieron."
        ),
        "headline_status_both": (
            "También lo dijo el {lpr}% de los residentes permanentes y el {citizen}% de los "
            "ciudadanos estadounidenses."
        ),
        "headline_status_lpr": "También lo dijo el {lpr}% de los residentes permanentes.",
        "headline_status_citizen": (
            "También lo dijo el {citizen}% de los ciudadanos estadounidenses."
        ),
        "headline_ice": (
            "El {pct}% de quienes tienen miedo mencionó como motivo la colaboración entre la "
            "policía local e ICE."
        ),
        "headline_years": (
            "El {pct}% de quienes llevan más de 10 años viviendo en EE. UU. tiene miedo."
        ),
        "headline_deported": (
            "Entre quienes conocen a alguien que fue deportado, el {known}% tiene miedo, "
            "frente al {none}% de quienes no conocen a nadie."
        ),
        "headline_report_crime": (
            "El {pct}% dijo que llamaría al 911 o denunciaría un delito a la policía si fuera "
            "víctima."
        ),
        "by_status": "Miedo a pedir ayuda, según situación migratoria",
        "by_years": "Miedo a pedir ayuda, según años en EE. UU.",
        "by_deported": "Miedo a pedir ayuda, según si conoce a alguien deportado",
        "by_language": "Miedo a pedir ayuda, según el idioma de la encuesta",
        "col_group": "Grupo",
        "col_answered": "Respondieron",
        "col_afraid": "Con miedo",
        "col_pct_afraid": "% con miedo",
        "col_change": "Cambio",
        "chart_caption": "Gráfico: porcentaje con miedo a pedir ayuda, por grupo.",
        "chart_alt": "Gráfico de barras, porcentaje con miedo a pedir ayuda. {items}.",
        "chart_item": "{label}: {value}",
        "no_answers": "sin respuestas",
        "reasons": "Motivos del miedo",
        "col_reason": "Motivo",
        "col_named": "Lo mencionaron",
        "col_pct_reasons": "% de quienes tienen miedo",
        "reasons_note": (
            "Sobre las {answered} personas con miedo que dijeron por qué; cada persona puede "
            "mencionar más de un motivo."
        ),
        "reasons_note_small": (
            "Sobre las personas con miedo que dijeron por qué; cada persona puede mencionar "
            "más de un motivo."
        ),
        "responses": "Respuestas",
        "col_measure": "Medida",
        "col_value": "Valor",
        "started": "Iniciadas",
        "completed": "Completadas",
        "completion_rate": "Tasa de finalización",
        "languages": "Encuestas completadas por idioma",
        "col_language": "Idioma",
        "col_completed": "Completadas",
        "col_share": "Proporción",
        "suppressed": "no se muestra",
        "not_available": "—",
        "pts": "{sign}{n} pts",
        "about": "Sobre estas cifras",
        "note_suppression": (
            "Para proteger a quienes respondieron, no se muestran los conteos de menos de {min} "
            "personas (de 1 a {max}), y se ocultan algunas otras celdas para que no puedan "
            "deducirse de los totales."
        ),
        "note_suppression_one": (
            "Para proteger a quienes respondieron, no se muestran los conteos de 1, y se "
            "ocultan algunas otras celdas para que no puedan deducirse de los totales."
        ),
        "note_method": (
            "Los porcentajes se calculan sobre quienes respondieron cada pregunta; cualquier "
            "pregunta se puede omitir. Los cambios están en puntos porcentuales respecto de "
            "la semana anterior."
        ),
        "note_no_previous": "No hay cifras de la semana anterior para comparar.",
        "empty": "No hubo respuestas nuevas {when}.",
        "empty_next": (
            "La encuesta sigue abierta; el próximo informe incluirá las respuestas nuevas."
        ),
        "too_small": (
            "Menos de {min} personas completaron la encuesta {when}: son muy pocas para "
            "publicar cifras sin riesgo."
        ),
        "footer": (
            "Enviado por surveybot para la coalición. Este correo solo contiene conteos "
            "agregados: ningún número de teléfono ni respuestas individuales."
        ),
    },
}

MONTHS = {
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "es": (
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ),
}

# Colours (contrast checked against white and each other).
INK = "#1f2328"
MUTED = "#57606a"
RULE = "#d0d7de"
BAR = "#b54708"
TRACK = "#efe9e1"
BAND = "#0b4f5c"

Count = int | None


@dataclass(frozen=True)
class RenderedReport:
    """One email, ready to wrap in a MIME message: subject, plain text and HTML."""

    subject: str
    text: str
    html: str


def whole_percent(part: Count, whole: Count) -> int | None:
    """A whole percentage from published numbers only (None if either is suppressed, or whole is 0).

    `bot.releases.suppression.percent` decides when a percentage may exist; this rounds it half up
    (37.5 -> 38), the way people round by hand.
    """
    value = percent(part, whole)
    return None if value is None else math.floor(value + 0.5)


# --------------------------------------------------------------------------- data access


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    return data


def _sum(values: Iterable[Count]) -> Count:
    """Sum of published counts; None if any of them is suppressed."""
    total = 0
    for value in values:
        if value is None:
            return None
        total += value
    return total


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
    table = _get(current, "crosstabs", key) or {}
    before = _get(previous, "crosstabs", key) or {}
    rows = []
    for category in ordered_categories(q, by, table):
        cell = table[category]
        answered = _get(cell, "answered")
        afraid = _get(cell, "counts", "yes")
        pct = whole_percent(afraid, answered)
        then = _get(before, category)
        pct_then = whole_percent(_get(then, "counts", "yes"), _get(then, "answered"))
        change = None if pct is None or pct_then is None else pct - pct_then
        rows.append(
            _GroupRow(category_label(q, by, category, language), answered, afraid, pct, change)
        )
    return rows


# --------------------------------------------------------------------------- formatting


class _Format:
    def __init__(self, language: str, minimum: int) -> None:
        self.s = STRINGS[language]
        self.language = language
        self.minimum = minimum

    def count(self, value: Count) -> str:
        if value is None:
            return self.s["suppressed"]
        return f"{value:,}"

    def pct(self, value: int | None) -> str:
        return self.s["not_available"] if value is None else f"{value}%"

    def change(self, value: int | None) -> str:
        if value is None:
            return self.s["not_available"]
        sign = "+" if value > 0 else ("\u2212" if value < 0 else "")
        return self.s["pts"].format(sign=sign, n=abs(value))

    def dates(self, start: dt.date, end: dt.date) -> str:
        months = MONTHS[self.language]
        if self.language == "es":
            if start.year != end.year:
                return (
                    f"{start.day} de {months[start.month - 1]} de {start.year} al "
                    f"{end.day} de {months[end.month - 1]} de {end.year}"
                )
            if start.month != end.month:
                return (
                    f"{start.day} de {months[start.month - 1]} al {end.day} de "
                    f"{months[end.month - 1]} de {end.year}"
                )
            return f"{start.day} al {end.day} de {months[end.month - 1]} de {end.year}"
        if start.year != end.year:
            return (
                f"{months[start.month - 1]} {start.day}, {start.year}–"
                f"{months[end.month - 1]} {end.day}, {end.year}"
            )
        if start.month != end.month:
            return (
                f"{months[start.month - 1]} {start.day}–{months[end.month - 1]} {end.day}, "
                f"{end.year}"
            )
        return f"{months[start.month - 1]} {start.day}–{end.day}, {end.year}"


def _is_week(start: dt.date, end: dt.date) -> bool:
    return start.isoweekday() == 1 and (end - start).days == 6


# --------------------------------------------------------------------------- content model


@dataclass(frozen=True)
class _Table:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    suppressed: frozenset[tuple[int, int]]  # (row, column) cells that read "fewer than N"
    chart: tuple[tuple[str, int | None, bool], ...] = ()  # (label, percent, nobody) bars
    note: str = ""


@dataclass(frozen=True)
class _Content:
    subject: str
    title: str
    subtitle: str
    summary: str
    findings: tuple[str, ...]
    tables: tuple[_Table, ...]
    notes: tuple[str, ...]
    footer: str


def _findings(current: dict, q, f: _Format, when: str) -> list[str]:
    s = f.s
    out = []
    afraid_q = _get(current, "questions", AFRAID)
    if afraid_q is not None:
        pct = whole_percent(_get(afraid_q, "counts", "yes"), _get(afraid_q, "answered"))
        out.append(
            s["headline_afraid"].format(pct=pct)
            if pct is not None
            else s["headline_afraid_small"].format(when=when)
        )

    status = _get(current, "crosstabs", f"{AFRAID}|status") or {}
    lpr = whole_percent(_get(status, "lpr", "counts", "yes"), _get(status, "lpr", "answered"))
    citizen = whole_percent(
        _get(status, "citizen", "counts", "yes"), _get(status, "citizen", "answered")
    )
    if lpr is not None and citizen is not None:
        out.append(s["headline_status_both"].format(lpr=lpr, citizen=citizen))
    elif lpr is not None:
        out.append(s["headline_status_lpr"].format(lpr=lpr))
    elif citizen is not None:
        out.append(s["headline_status_citizen"].format(citizen=citizen))

    reasons = _get(current, "questions", REASONS)
    ice = whole_percent(_get(reasons, "counts", "ice_collaboration"), _get(reasons, "answered"))
    if ice is not None:
        out.append(s["headline_ice"].format(pct=ice))

    years = _get(current, "crosstabs", f"{AFRAID}|years_in_us", "gt10")
    gt10 = whole_percent(_get(years, "counts", "yes"), _get(years, "answered"))
    if gt10 is not None:
        out.append(s["headline_years"].format(pct=gt10))

    deported = _get(current, "crosstabs", f"{AFRAID}|knows_deported") or {}
    knowing = [deported[k] for k in ("one", "several") if k in deported]
    if knowing and "none" in deported:
        known = whole_percent(
            _sum(_get(c, "counts", "yes") for c in knowing),
            _sum(_get(c, "answered") for c in knowing),
        )
        none = whole_percent(
            _get(deported, "none", "counts", "yes"), _get(deported, "none", "answered")
        )
        if known is not None and none is not None:
            out.append(s["headline_deported"].format(known=known, none=none))

    crime = _get(current, "questions", REPORT_CRIME)
    report_pct = whole_percent(_get(crime, "counts", "yes"), _get(crime, "answered"))
    if report_pct is not None:
        out.append(s["headline_report_crime"].format(pct=report_pct))
    return out


def _afraid_table(
    current: dict, previous: dict | None, q, key: str, title_key: str, f: _Format
) -> _Table | None:
    if _get(current, "crosstabs", key) is None:
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
    return _Table(
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
        chart=tuple((row.label, row.pct, row.answered == 0) for row in rows),
    )


def _reasons_table(current: dict, q, f: _Format) -> _Table | None:
    reasons = _get(current, "questions", REASONS)
    if reasons is None:
        return None
    s = f.s
    answered = _get(reasons, "answered")
    counts = _get(reasons, "counts") or {}
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
    return _Table(
        title=s["reasons"],
        columns=(s["col_reason"], s["col_named"], s["col_pct_reasons"]),
        rows=tuple(rows),
        suppressed=frozenset(suppressed),
        note=note,
    )


def _responses_table(current: dict, f: _Format) -> _Table:
    s = f.s
    started, completed = current.get("started"), current.get("completed")
    rate = whole_percent(completed, started)
    if rate is not None and rate > 100:  # completed this week, started the week before
        rate = None
    suppressed = {(i, 1) for i, v in enumerate((started, completed)) if v is None}
    return _Table(
        title=s["responses"],
        columns=(s["col_measure"], s["col_value"]),
        rows=(
            (s["started"], f.count(started)),
            (s["completed"], f.count(completed)),
            (s["completion_rate"], f.pct(rate)),
        ),
        suppressed=frozenset(suppressed),
    )


def _languages_table(current: dict, q, f: _Format) -> _Table | None:
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
    return _Table(
        title=s["languages"],
        columns=(s["col_language"], s["col_completed"], s["col_share"]),
        rows=tuple(rows),
        suppressed=frozenset(suppressed),
    )


def _suppression_note(f: _Format) -> str | None:
    if f.minimum <= 1:
        return None
    if f.minimum == 2:
        return f.s["note_suppression_one"]
    return f.s["note_suppression"].format(min=f.minimum, max=f.minimum - 1)


def _content(current: dict, previous: dict | None, q, language: str) -> _Content:
    minimum = int(current["suppression_min"])
    f = _Format(language, minimum)
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
    tiny = completed is None and started is not None and started < minimum
    if completed == 0 or tiny:
        if completed == 0:
            body = s["empty"].format(when=when) + " " + s["empty_next"]
            notes: tuple[str, ...] = ()
        else:
            body = s["too_small"].format(min=minimum, when=when)
            notes = tuple(filter(None, [_suppression_note(f)]))
        return _Content(title, title, subtitle, body, (), (), notes, footer)

    if completed is None:
        summary = s["summary_hidden"].format(when=when)
    elif started is not None and started >= completed:
        summary = s["summary_started"].format(
            completed=f.count(completed), started=f.count(started), when=when
        )
    else:
        summary = s["summary"].format(completed=f.count(completed), when=when)
    usable_previous = previous if previous and previous.get("completed") != 0 else None
    tables: list[_Table] = []
    for key, title_key in AFRAID_TABLES:
        table = _afraid_table(current, usable_previous, q, key, title_key, f)
        if table is not None:
            tables.append(table)
    reasons = _reasons_table(current, q, f)
    if reasons is not None:
        tables.append(reasons)
    tables.append(_responses_table(current, f))
    languages = _languages_table(current, q, f)
    if languages is not None:
        tables.append(languages)
    notes = [n for n in (_suppression_note(f), s["note_method"]) if n]
    if usable_previous is None:
        notes.append(s["note_no_previous"])
    return _Content(
        subject=title,
        title=title,
        subtitle=subtitle,
        summary=summary,
        findings=tuple(_findings(current, q, f, when)),
        tables=tuple(tables),
        notes=tuple(notes),
        footer=footer,
    )


# --------------------------------------------------------------------------- plain text


def _text_table(table: _Table) -> list[str]:
    widths = [
        max(len(table.columns[c]), *(len(r[c]) for r in table.rows))
        if table.rows
        else len(table.columns[c])
        for c in range(len(table.columns))
    ]

    def line(cells: tuple[str, ...]) -> str:
        parts = [
            cell.ljust(widths[c]) if c == 0 else cell.rjust(widths[c])
            for c, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    out = [table.title, "=" * len(table.title), "", line(table.columns)]
    out.append("  ".join("-" * w for w in widths))
    out.extend(line(row) for row in table.rows)
    if table.note:
        out += ["", *textwrap.wrap(table.note, 76)]
    return out


def _text(c: _Content, s: dict[str, str]) -> str:
    lines = [c.title, c.subtitle, "", *textwrap.wrap(c.summary, 76)]
    if c.findings:
        lines += ["", s["findings"], "=" * len(s["findings"]), ""]
        for finding in c.findings:
            lines += textwrap.wrap(finding, 76, initial_indent="- ", subsequent_indent="  ")
    for table in c.tables:
        lines += ["", ""]
        lines += _text_table(table)
    if c.notes:
        lines += ["", "", s["about"], "=" * len(s["about"]), ""]
        for i, note in enumerate(c.notes):
            lines += [""] * (i > 0) + textwrap.wrap(note, 76)
    lines += ["", "-- ", *textwrap.wrap(c.footer, 76)]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- HTML

_FONT = "font-family:Arial,Helvetica,sans-serif"
_CELL = f"padding:6px 5px;border-bottom:1px solid {RULE};{_FONT};font-size:14px;color:{INK}"


def _bar_value(pct: int | None, nobody: bool, s: dict[str, str]) -> str:
    if pct is not None:
        return f"{pct}%"
    return s["no_answers"] if nobody else s["suppressed"]


def _html_chart(table: _Table, s: dict[str, str]) -> str:
    items = "; ".join(
        s["chart_item"].format(label=label, value=_bar_value(pct, nobody, s))
        for label, pct, nobody in table.chart
    )
    alt = f"{table.title}. " + s["chart_alt"].format(items=items)
    rows = []
    for label, pct, nobody in table.chart:
        if pct is None:
            bar = (
                f'<td style="padding:4px 0;{_FONT};font-size:12px;font-style:italic;'
                f'color:{MUTED}">{escape(_bar_value(pct, nobody, s))}</td>'
            )
            value = escape(s["not_available"])
        else:
            width = max(0, min(100, pct))
            cells = []
            if width > 0:
                cells.append(
                    f'<td width="{width}%" bgcolor="{BAR}" style="background-color:{BAR};'
                    f'height:16px;line-height:16px;font-size:1px">&nbsp;</td>'
                )
            if width < 100:
                cells.append(
                    f'<td width="{100 - width}%" bgcolor="{TRACK}" '
                    f'style="background-color:{TRACK};height:16px;line-height:16px;'
                    f'font-size:1px">&nbsp;</td>'
                )
            bar = (
                '<td style="padding:4px 0"><table role="presentation" width="100%" '
                'cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse">'
                f"<tr>{''.join(cells)}</tr></table></td>"
            )
            value = f"{pct}%"
        rows.append(
            f'<tr><td width="40%" style="padding:4px 10px 4px 0;{_FONT};font-size:13px;'
            f'color:{INK}">{escape(label)}</td>{bar}'
            f'<td width="56" align="right" style="padding:4px 0 4px 10px;{_FONT};'
            f'font-size:13px;font-weight:bold;color:{INK}">{escape(value)}</td></tr>'
        )
    return (
        f'<p style="margin:14px 0 6px;{_FONT};font-size:13px;color:{MUTED}">'
        f"{escape(s['chart_caption'])}</p>"
        f'<table role="img" aria-label="{escape(alt, quote=True)}" width="100%" '
        'cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse">'
        f"{''.join(rows)}</table>"
    )


def _html_table(table: _Table, s: dict[str, str]) -> str:
    head_style = (
        f"{_CELL};font-size:12px;color:{MUTED};border-bottom:2px solid {RULE};font-weight:bold"
    )
    head = "".join(
        f'<th scope="col" align="left" width="40%" style="{head_style}">{escape(col)}</th>'
        if i == 0
        else f'<th scope="col" align="right" style="{head_style}">{escape(col)}</th>'
        for i, col in enumerate(table.columns)
    )
    body = []
    for r, row in enumerate(table.rows):
        cells = []
        for c, cell in enumerate(row):
            if c == 0:
                cells.append(
                    f'<th scope="row" align="left" style="{_CELL};font-weight:normal">'
                    f"{escape(cell)}</th>"
                )
            elif (r, c) in table.suppressed:
                cells.append(
                    f'<td align="right" style="{_CELL};color:{MUTED};font-style:italic">'
                    f"{escape(cell)}</td>"
                )
            else:
                cells.append(
                    f'<td align="right" style="{_CELL};white-space:nowrap">{escape(cell)}</td>'
                )
        body.append(f"<tr>{''.join(cells)}</tr>")
    parts = [
        f'<h2 style="margin:32px 0 4px;{_FONT};font-size:18px;line-height:24px;color:{INK}">'
        f"{escape(table.title)}</h2>"
    ]
    if table.chart:
        parts.append(_html_chart(table, s))
    parts.append(
        '<table width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="border-collapse:collapse;margin-top:12px">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )
    if table.note:
        parts.append(
            f'<p style="margin:8px 0 0;{_FONT};font-size:13px;color:{MUTED}">'
            f"{escape(table.note)}</p>"
        )
    return "".join(parts)


def _html(c: _Content, s: dict[str, str], language: str) -> str:
    p = f'style="margin:0 0 12px;{_FONT};font-size:15px;line-height:22px;color:{INK}"'
    parts = [
        f"<p {p}>{escape(c.summary)}</p>",
    ]
    if c.findings:
        parts.append(
            f'<h2 style="margin:24px 0 8px;{_FONT};font-size:18px;line-height:24px;'
            f'color:{INK}">{escape(s["findings"])}</h2>'
        )
        items = "".join(
            f'<li style="margin:0 0 8px;{_FONT};font-size:15px;line-height:22px;color:{INK}">'
            f"{escape(finding)}</li>"
            for finding in c.findings
        )
        parts.append(f'<ul style="margin:0;padding:0 0 0 20px">{items}</ul>')
    parts.extend(_html_table(table, s) for table in c.tables)
    if c.notes:
        notes = "".join(
            f'<p style="margin:0 0 8px;{_FONT};font-size:13px;line-height:19px;'
            f'color:{MUTED}">{escape(note)}</p>'
            for note in c.notes
        )
        parts.append(
            f'<h2 style="margin:32px 0 8px;{_FONT};font-size:15px;color:{INK}">'
            f"{escape(s['about'])}</h2>{notes}"
        )
    content = "".join(parts)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{escape(language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light">'
        f"<title>{escape(c.subject)}</title></head>"
        f'<body style="margin:0;padding:0;background-color:#f6f8fa">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'bgcolor="#f6f8fa" style="background-color:#f6f8fa"><tr><td align="center" '
        'style="padding:16px 6px">'
        '<table role="presentation" width="640" cellpadding="0" cellspacing="0" border="0" '
        'style="width:100%;max-width:640px;border-collapse:collapse;background-color:#ffffff">'
        f'<tr><td bgcolor="{BAND}" style="background-color:{BAND};padding:20px 18px">'
        f'<h1 style="margin:0;{_FONT};font-size:22px;line-height:28px;color:#ffffff">'
        f"{escape(c.title)}</h1>"
        f'<p style="margin:6px 0 0;{_FONT};font-size:13px;color:#d8eef2">'
        f"{escape(c.subtitle)}</p></td></tr>"
        f'<tr><td style="padding:20px 18px 28px">{content}</td></tr>'
        f'<tr><td style="padding:16px 18px;border-top:1px solid {RULE};{_FONT};font-size:12px;'
        f'line-height:18px;color:{MUTED}">{escape(c.footer)}</td></tr>'
        "</table></td></tr></table></body></html>\n"
    )


# --------------------------------------------------------------------------- public API


def render_report(
    current: dict[str, Any], previous: dict[str, Any] | None, q, *, language: str = "en"
) -> RenderedReport:
    """The email of one published report; `previous` (the week before) gives the changes."""
    if language not in STRINGS:
        raise ValueError(f"no email strings for language {language!r} (have: {sorted(STRINGS)})")
    content = _content(current, previous, q, language)
    s = STRINGS[language]
    return RenderedReport(
        subject=content.subject,
        text=_text(content, s),
        html=_html(content, s, language),
    )


def build_message(
    rendered: RenderedReport, *, sender: str, recipients: list[str] | tuple[str, ...]
) -> EmailMessage:
    """A multipart/alternative (text + HTML) UTF-8 message."""
    msg = EmailMessage()
    msg["Subject"] = rendered.subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    address = parseaddr(sender)[1]
    domain = address.rsplit("@", 1)[1] if "@" in address else ""
    # An explicit domain: without one, make_msgid looks up this machine's name.
    msg["Message-ID"] = make_msgid(domain=domain or "surveybot.invalid")
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(rendered.text, subtype="plain", charset="utf-8")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return msg
