"""The figures the dashboard's wave page shows, computed from a wave's aggregates.

Plain data in, plain data out: the published report (already suppressed), the raw counters
that go with it, and the small-cell minimum. Every count computed here that the report does not
already publish (drop-off, started by language, invitations, consent events) is suppressed by
the same rules, so a page never shows a count of 1 to minimum - 1, nor a difference of two shown
counts that small.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.core.questionnaire import Question, Questionnaire, QuestionType
from bot.releases.email_report import whole_percent
from bot.releases.report import category_label, ordered_categories
from bot.releases.suppression import LANGUAGE, suppress_report


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


def primary(value: int | None, minimum: int) -> int | None:
    """A count as it may be shown: None for 1 to minimum - 1 (zeros reveal nobody)."""
    if value is None or 0 < value < minimum:
        return None
    return value


def _int(raw: Mapping[bytes, bytes], name: str) -> int:
    try:
        return max(0, int(raw.get(name.encode(), 0)))
    except ValueError:
        return 0


def chain_shown(values: list[int], minimum: int, *, keep: tuple[bool, bool]) -> list[bool]:
    """Which points of a funnel to show: no shown count, and no difference between two
    neighbouring shown counts, may be 1 to minimum - 1; as many points as that allows.

    `keep` says whether the first and the last point are published elsewhere anyway (then
    they are shown, and the difference between just those two is not a secret either).
    """
    n = len(values)
    if n == 0:
        return []

    def shown_ok(v: int) -> bool:
        return v == 0 or v >= minimum

    def gap_ok(i: int, j: int) -> bool:
        gap = abs(values[i] - values[j])
        return gap == 0 or gap >= minimum or (i == 0 and j == n - 1 and all(keep))

    best: list[tuple[int, int | None] | None] = [None] * n  # (points shown, previous)
    for j in range(n):
        if not shown_ok(values[j]):
            continue
        if j == 0 or not keep[0]:
            best[j] = (1, None)
        for i in range(j):
            if best[i] is not None and gap_ok(i, j):
                if best[j] is None or best[i][0] + 1 > best[j][0]:
                    best[j] = (best[i][0] + 1, i)
    ends = [n - 1] if keep[1] else list(range(n))
    candidates = [j for j in ends if best[j] is not None]
    shown = [False] * n
    if not candidates:
        return shown
    j: int | None = max(candidates, key=lambda k: (best[k][0], k))
    while j is not None:
        shown[j] = True
        j = best[j][1]
    return shown


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
    published: Mapping[str, Any], stats: Mapping[bytes, bytes], q: Questionnaire, minimum: int
) -> list[tuple[str, int | None, int | None, int | None]]:
    """Per language: name, started, completed and completion rate, all suppressed."""
    started_total = _int(stats, "started")
    started = suppress_report(
        {
            "completed": started_total,
            "by_language": {lang: _int(stats, f"started:{lang}") for lang in q.languages},
        },
        minimum,
    )
    completed = published.get("by_language", {})
    rows = []
    for lang in ordered_categories(q, LANGUAGE, dict.fromkeys([*q.languages, *completed])):
        began = started["by_language"].get(lang)
        done = completed.get(lang)
        rows.append((q.language_names.get(lang, lang), began, done, whole_percent(done, began)))
    return rows


def condition_count(published: Mapping[str, Any], when: Mapping[str, Iterable[str]]) -> int | None:
    """How many completed respondents met a skip-logic condition, as published (None: hidden,
    or not a published count at all)."""
    if len(when) != 1:
        return None  # answers to two questions at once: no published count says how many
    [(question_id, options)] = when.items()
    data = published.get("questions", {}).get(question_id, {})
    counts = [data.get("counts", {}).get(option) for option in options]
    if not counts or None in counts:
        return None
    if len(counts) > 1 and data.get("type") == QuestionType.MULTI.value:
        return None  # a respondent may be in several counts: their sum is nobody's count
    return sum(counts)


def _conditional_row(
    q: Questionnaire, question: Question, reached: int, published: Mapping[str, Any], minimum: int
) -> FunnelRow:
    """The reach of a question asked of some respondents only, and of whom."""
    whom = "; ".join(
        f"{_short_title(k)} = {', '.join(category_label(q, k, o) for o in v)}"
        for k, v in question.when.items()
    )
    # Who reached it is about how many met the condition: hidden when that is hidden.
    hidden = condition_count(published, question.when) is None
    shown = None if hidden else primary(reached, minimum)
    title = f"{question.id}: {_question_title(q, question.id)}"
    return FunnelRow(title, shown, whole_percent(shown, published.get("started")), conditional=whom)


def _funnel_rows(labels: list[str], values: list[int], shown: list[bool]) -> list[FunnelRow]:
    """The funnel's points, each shown one with how many stopped before the next shown one."""
    started = values[0] if shown[0] else None
    rows = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        if not shown[i]:
            rows.append(FunnelRow(label, None, None))
            continue
        following = next((j for j in range(i + 1, len(values)) if shown[j]), None)
        stopped = None if following is None else max(0, value - values[following])
        span = 1 if following is None else following - i
        rows.append(FunnelRow(label, value, whole_percent(value, started), stopped, span))
    return rows


def drop_off(
    q: Questionnaire,
    asked: Mapping[bytes, bytes],
    raw: Mapping[str, Any],
    published: Mapping[str, Any],
    minimum: int,
) -> tuple[list[FunnelRow], list[FunnelRow]]:
    """The funnel from started through each question to completed, and the reach of the
    questions asked of some respondents only (skip logic), all suppressed."""
    if not asked:
        return [], []
    labels = ["Started"]
    values = [int(raw.get("started", 0))]
    conditional = []
    for question in q.questions:
        reached = _int(asked, question.id)
        if question.when:
            conditional.append(_conditional_row(q, question, reached, published, minimum))
            continue
        labels.append(f"{question.id}: {_question_title(q, question.id)}")
        values.append(reached)
    labels.append("Completed")
    values.append(int(raw.get("completed", 0)))
    keep = (published.get("started") is not None, published.get("completed") is not None)
    return _funnel_rows(labels, values, chain_shown(values, minimum, keep=keep)), conditional


INVITATION_LABELS = (
    ("queued", "Queued"),
    ("pending", "Waiting to be sent"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("failed", "Failed or undelivered"),
    ("opted_out", "Not sent: opted out"),
    ("skipped", "Not sent: already invited, or the wave closed"),
)


def invitation_rows(
    progress: Mapping[str, int], minimum: int
) -> list[tuple[str, int | None]] | None:
    """The invitation counters as labelled, suppressed rows (None: none were ever queued)."""
    if not progress.get("queued"):
        return None
    return [(label, primary(progress.get(name, 0), minimum)) for name, label in INVITATION_LABELS]


@dataclass(frozen=True)
class WaveCounters:
    """A wave's aggregates as read from Redis, before any figure is computed."""

    raw: Mapping[str, Any]  # the raw (unsuppressed) report of the whole wave
    published: Mapping[str, Any]  # the same report, published
    stats: Mapping[bytes, bytes]  # the wave's counters (started, declined, opted out ...)
    asked: Mapping[bytes, bytes]  # how many were asked each question
    invitations: Mapping[str, int]  # the invitation counters by name


def wave_page(
    counters: WaveCounters, q: Questionnaire, asked_q: Questionnaire, minimum: int
) -> WavePage:
    """The wave page's published figures: report, counters, invitations and drop-off.

    `q` labels the report (the bot's questionnaire); `asked_q` is the one the wave asks, for
    the drop-off funnel.
    """
    published, stats = counters.published, counters.stats
    funnel, conditional = drop_off(asked_q, counters.asked, counters.raw, published, minimum)
    return WavePage(
        started=published.get("started"),
        completed=published.get("completed"),
        completion_rate=whole_percent(published.get("completed"), published.get("started")),
        events=[
            ("Declined at the consent message", primary(_int(stats, "declined"), minimum)),
            ("Opted out (STOP)", primary(_int(stats, "opted_out"), minimum)),
        ],
        invitations=invitation_rows(counters.invitations, minimum),
        languages=language_rows(published, stats, q, minimum),
        funnel=funnel,
        conditional=conditional,
        charts=question_charts(published, q),
        crosstabs=crosstab_tables(published, q),
    )
