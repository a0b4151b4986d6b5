"""The dashboard's CSV downloads, built from plain data: the published aggregate tables and the
admins' row-level export. The views read the data and send the text; nothing here touches a
request, Redis or the database.
"""

from __future__ import annotations

import csv
import io
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from bot.core.questionnaire import Questionnaire

AGGREGATE_HEADER = ("table", "group", "option", "count", "suppressed")


def csv_cell(value: Any) -> str:
    """A value as a CSV cell that no spreadsheet runs as a formula."""
    # A cell starting with = + - @ runs as a formula in spreadsheets; ours are ids and counts,
    # but quote defensively.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_text(rows: Iterable[Iterable[Any]]) -> str:
    """Rows as CSV text (CRLF line ends, every cell through `csv_cell`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return buffer.getvalue()


def aggregate_rows(published: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The published report as (table, group, option, count, suppressed) rows."""
    rows: list[tuple[Any, ...]] = [AGGREGATE_HEADER]

    def add(table: str, group: str, option: str, value: int | None) -> None:
        rows.append(
            (table, group, option, "" if value is None else value, "yes" if value is None else "no")
        )

    for name in ("started", "completed"):
        if name in published:
            add("summary", "", name, published[name])
    for lang, value in published.get("by_language", {}).items():
        add("by_language", "", lang, value)
    for question_id, data in published.get("questions", {}).items():
        add(question_id, "", "answered", data.get("answered"))
        for option, value in data.get("counts", {}).items():
            add(question_id, "", option, value)
    for key, groups in published.get("crosstabs", {}).items():
        for group, cell in groups.items():
            add(key, group, "answered", cell.get("answered"))
            for option, value in cell.get("counts", {}).items():
                add(key, group, option, value)
    return rows


def answer_value(option_id: str | None, number: int | None, skipped: bool) -> str:
    """One stored answer as an export cell: "skipped", the option id, or the number."""
    if skipped:
        return "skipped"
    if option_id is not None:
        return option_id
    return "" if number is None else str(number)


def export_rows(
    q: Questionnaire,
    wave: str,
    responses: Iterable[tuple[Any, str, str]],
    answers: Iterable[tuple[Any, str, str | None, int | None, bool]],
) -> list[list[Any]]:
    """A wave's responses, one row each, with nothing that leads back to a respondent: a
    fresh row number (shuffled order, not the response id), language, ISO week, answers.

    `responses` are (response id, language, completed week); `answers` are (response id,
    question id, option id, number, skipped).
    """
    given: dict[Any, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for response_id, question_id, option_id, number, skipped in answers:
        given[response_id][question_id].append(answer_value(option_id, number, skipped))
    question_ids = [question.id for question in q.questions]
    extra = sorted({qid for by_id in given.values() for qid in by_id} - set(question_ids))
    columns = question_ids + extra
    rows = []
    for response_id, language, week in responses:
        by_id = given.get(response_id, {})
        rows.append([wave, language, week, *(";".join(sorted(by_id.get(c, []))) for c in columns)])
    # Storage order follows completion time; a shuffle leaves no order to join on.
    random.SystemRandom().shuffle(rows)
    header = ["row", "wave", "language", "week", *columns]
    return [header, *([i, *row] for i, row in enumerate(rows, start=1))]
