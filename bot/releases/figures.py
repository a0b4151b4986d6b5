"""The figures the dashboard's wave page shows, computed from a wave's aggregates.

Plain data in, plain data out: the published report (already suppressed), the raw counters
that go with it, and the small-cell minimum. Every count computed here that the report does not
already publish (drop-off, started by language, invitations, consent events) is suppressed by
the same rules, so a page never shows a count of 1 to minimum - 1, nor a difference of two shown
counts that small.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.core.questionnaire import Questionnaire, QuestionType
from bot.releases.email_report import whole_percent
from bot.releases.funnel import primary
from bot.releases.report import category_label, ordered_categories
from bot.releases.suppression import LANGUAGE


@dataclass(frozen=True)
class Bar:
    """One bar of a chart: a label, a published count (None: not shown) and its percent."""

    label: str
    count: int | None
    pct: int | None


@dataclass(frozen=True)
class Chart:
    """A question's published counts as bars."""

    id: str
    title: str
    answered: int | None
    bars: tuple[Bar, ...]
    multi: bool = False


@dataclass(frozen=True)
class CrossRow:
    """One group of a crosstab: its label, how many answered and a cell per option."""

    label: str
    answered: int | None
    cells: tuple[Bar, ...]


@dataclass(frozen=True)
class Crosstab:
    """Answers to one question by the groups of another."""

    key: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[CrossRow, ...]


@dataclass(frozen=True)
class FunnelRow:
    """One point of the drop-off funnel (a question reached, or the start or the end)."""

    label: str
    reached: int | None
    pct: int | None  # of those who started
    stopped: int | None = None  # stopped after this point, before the next shown one
    span: int = 1  # how many steps `stopped` covers
    conditional: str = ""  # for a question asked of some respondents only: of whom


@dataclass
class WavePage:
    """Everything the wave page shows, all published (suppressed) figures."""

    started: int | None
    completed: int | None
    completion_rate: int | None
    events: list[tuple[str, int | None]]
    invitations: list[tuple[str, int | None]] | None
    languages: list[tuple[str, int | None, int | None, int | None]]
    funnel: list[FunnelRow]
    conditional: list[FunnelRow]
    charts: list[Chart]
    crosstabs: list[Crosstab] = field(default_factory=list)
    release: ReleaseInfo | None = None


def _question_title(q: Questionnaire, question_id: str) -> str:
    if question_id == LANGUAGE:
        return "Language of the survey"
    try:
        return q.question(question_id).text.get("en", question_id)
    except KeyError:
        return question_id


# Short names of the contract's question ids (ARCHITECTURE.md) for table titles; other ids
# read as themselves.
SHORT_NAMES = {
    "status": "immigration status",
    "years_in_us": "years in the US",
    "afraid_to_seek_help": "afraid to seek help",
    "fear_reasons": "reasons for the fear",
    "knows_deported": "knowing someone who was deported",
    "would_report_crime": "would report a crime",
    LANGUAGE: "language of the survey",
}


def _short_title(question_id: str) -> str:
    name = SHORT_NAMES.get(question_id, question_id.replace("_", " "))
    return name[:1].upper() + name[1:]


def question_charts(published: Mapping[str, Any], q: Questionnaire) -> list[Chart]:
    """A bar chart per question of the published report, in the questionnaire's order."""
    charts = []
    questions = published.get("questions", {})
    for question_id in _ordered_questions(q, questions):
        data = questions[question_id]
        answered = data.get("answered")
        counts = data.get("counts", {})
        bars = tuple(
            Bar(
                category_label(q, question_id, option),
                counts[option],
                whole_percent(counts[option], answered),
            )
            for option in ordered_categories(q, question_id, counts)
        )
        charts.append(
            Chart(
                question_id,
                _question_title(q, question_id),
                answered,
                bars,
                multi=data.get("type") == QuestionType.MULTI.value,
            )
        )
    return charts


def _ordered_questions(q: Questionnaire, present: Iterable[str]) -> list[str]:
    rank = {question.id: i for i, question in enumerate(q.questions)}
    return sorted(present, key=lambda k: (rank.get(k, len(rank)), k))


def crosstab_tables(published: Mapping[str, Any], q: Questionnaire) -> list[Crosstab]:
    """Each published crosstab as a table of counts and row percentages."""
    tables = []
    for key, groups in published.get("crosstabs", {}).items():
        first, _, second = key.partition("|")
        options = ordered_categories(
            q, first, published.get("questions", {}).get(first, {}).get("counts", {})
        )
        rows = []
        for category in ordered_categories(q, second, groups):
            cell = groups[category]
            answered = cell.get("answered")
            counts = cell.get("counts", {})
            rows.append(
                CrossRow(
                    category_label(q, second, category),
                    answered,
                    tuple(
                        Bar(
                            category_label(q, first, option),
                            counts.get(option),
                            whole_percent(counts.get(option), answered),
                        )
                        for option in options
                    ),
                )
            )
        title = f"{_short_title(first)}, by {SHORT_NAMES.get(second, second.replace('_', ' '))}"
        tables.append(
            Crosstab(key, title, tuple(category_label(q, first, o) for o in options), tuple(rows))
        )
    return tables


def language_rows(
    published: Mapping[str, Any], funnel: Mapping[str, Any], q: Questionnaire
) -> list[tuple[str, int | None, int | None, int | None]]:
    """Per language: name, started, completed and completion rate, as released."""
    started = funnel.get("started_by_language", {})
    completed = published.get("by_language", {})
    rows = []
    for lang in ordered_categories(q, LANGUAGE, dict.fromkeys([*q.languages, *completed])):
        began = started.get(lang)
        done = completed.get(lang)
        rows.append((q.language_names.get(lang, lang), began, done, whole_percent(done, began)))
    return rows


def _conditional_row(q: Questionnaire, entry: Mapping[str, Any], started: int | None) -> FunnelRow:
    """The released reach of a question asked of some respondents only, and of whom."""
    whom = "; ".join(
        f"{_short_title(k)} = {', '.join(category_label(q, k, o) for o in v)}"
        for k, v in entry["when"].items()
    )
    question_id = entry["question"]
    title = f"{question_id}: {_question_title(q, question_id)}"
    reached = entry["reached"]
    return FunnelRow(title, reached, whole_percent(reached, started), conditional=whom)


def _funnel_rows(labels: list[str], values: list[int | None]) -> list[FunnelRow]:
    """The funnel's points, each shown one with how many stopped before the next shown one."""
    started = values[0]
    rows = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        if value is None:
            rows.append(FunnelRow(label, None, None))
            continue
        following = next((j for j in range(i + 1, len(values)) if values[j] is not None), None)
        stopped = None if following is None else max(0, value - values[following])
        span = 1 if following is None else following - i
        rows.append(FunnelRow(label, value, whole_percent(value, started), stopped, span))
    return rows


def drop_off(
    q: Questionnaire, funnel: Mapping[str, Any], published: Mapping[str, Any]
) -> tuple[list[FunnelRow], list[FunnelRow]]:
    """The released funnel from started through each question to completed, and the reach of
    the questions asked of some respondents only (skip logic)."""
    chain = funnel.get("chain", [])
    if not chain:
        return [], []
    names = {"started": "Started", "completed": "Completed"}
    labels = [
        names.get(point["point"]) or f"{point['point']}: {_question_title(q, point['point'])}"
        for point in chain
    ]
    rows = _funnel_rows(labels, [point["value"] for point in chain])
    started = published.get("started")
    conditional = [_conditional_row(q, entry, started) for entry in funnel.get("conditional", [])]
    return rows, conditional


INVITATION_LABELS = (
    ("queued", "Queued"),
    ("pending", "Waiting to be sent"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("failed", "Failed or undelivered"),
    # Opted-out numbers are counted with the others not sent: a row of their own would tell
    # an organizer who uploads one number whether that person texted STOP.
    ("skipped", "Not sent: opted out, already invited, or the wave closed"),
)


def invitation_rows(
    progress: Mapping[str, int], minimum: int
) -> list[tuple[str, int | None]] | None:
    """The invitation counters as labelled, suppressed rows (None: none were ever queued)."""
    if not progress.get("queued"):
        return None
    return [(label, primary(progress.get(name, 0), minimum)) for name, label in INVITATION_LABELS]


@dataclass(frozen=True)
class ReleaseInfo:
    """Which release the page shows: its number, the day it was made, the responses it
    covers (the released count: None if not shown), and the rule for the next one."""

    number: int
    made_on: dt.date
    responses: int | None


def wave_page(
    content: Mapping[str, Any] | None,
    release: ReleaseInfo | None,
    q: Questionnaire,
    asked_q: Questionnaire,
    invitations: Mapping[str, int],
    minimum: int,
) -> WavePage:
    """The wave page's figures: a release's content (None: no release yet), and the
    invitations (about sending, not answers: live).

    `q` labels the report (the bot's questionnaire); `asked_q` is the one the wave asks, for
    the drop-off funnel.
    """
    content = content or {}
    published = content.get("wave", {})
    funnel = content.get("funnel", {})
    events = funnel.get("events", {})
    rows, conditional = drop_off(asked_q, funnel, published)
    return WavePage(
        started=published.get("started"),
        completed=published.get("completed"),
        completion_rate=whole_percent(published.get("completed"), published.get("started")),
        events=[
            ("Declined at the consent message", events.get("declined")),
            ("Opted out (STOP)", events.get("opted_out")),
        ],
        invitations=invitation_rows(invitations, minimum),
        languages=language_rows(published, funnel, q) if content else [],
        funnel=rows,
        conditional=conditional,
        charts=question_charts(published, q),
        crosstabs=crosstab_tables(published, q),
        release=release,
    )
