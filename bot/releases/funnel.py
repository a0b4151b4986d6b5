"""The funnel of a release: who started (per language), who reached each question, who met a
skip-logic condition, who declined or opted out; raw from the live counters, then protected.

The live counters (`keys.wave_stats`, `keys.asked_stats`) move while a person texts, so they are
never shown as they are: `raw_funnel` reads them into plain data when a release is made, and
`protect_funnel` (called by `bot.releases.protection.protect`, the one seam) applies the rules
the dashboard always applied: no shown count of 1 to minimum - 1, and no difference of two
neighbouring shown points of the funnel that small. The published funnel: "started_by_language",
"chain" (started, each question asked of everyone, completed: a value or None each),
"conditional" (questions asked of some only, with their `when`) and "events".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot.core.questionnaire import Questionnaire, QuestionType
from bot.releases.cellkey import RECORD_KEY_SPACE, perturb
from bot.releases.suppression import suppress_report

EVENTS = ("declined", "opted_out")


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


def raw_funnel(
    q: Questionnaire, stats: Mapping[bytes, bytes], asked: Mapping[bytes, bytes]
) -> dict[str, Any]:
    """The live counters of a wave as plain data (exact: for `protect_funnel` only).

    `q` is the questionnaire the wave asks; `stats` and `asked` are the Redis hashes
    `keys.wave_stats` and `keys.asked_stats`."""
    return {
        "started": _int(stats, "started"),
        "started_by_language": {lang: _int(stats, f"started:{lang}") for lang in q.languages},
        "reached": [
            {"question": question.id, "reached": _int(asked, question.id)}
            for question in q.questions
            if not question.when
        ]
        if asked
        else [],
        "conditional": [
            {
                "question": question.id,
                "reached": _int(asked, question.id),
                "when": {k: list(v) for k, v in question.when.items()},
            }
            for question in q.questions
            if question.when
        ]
        if asked
        else [],
        "events": {name: _int(stats, name) for name in EVENTS},
        "keys": _keys(q, stats, asked),
    }


def _key(raw: Mapping[bytes, bytes], name: str) -> int:
    return _int(raw, f"{name}#key") % RECORD_KEY_SPACE


def _keys(
    q: Questionnaire, stats: Mapping[bytes, bytes], asked: Mapping[bytes, bytes]
) -> dict[str, Any]:
    """The cell key of every funnel counter: the sum of the random record keys its sealed
    count records carried (bot/records/batches.py keeps it beside the counter)."""
    return {
        "started": _key(stats, "started"),
        "started_by_language": {lang: _key(stats, f"started:{lang}") for lang in q.languages},
        "reached": {question.id: _key(asked, question.id) for question in q.questions},
        "events": {name: _key(stats, name) for name in EVENTS},
    }


def perturb_funnel(funnel: Mapping[str, Any]) -> dict[str, Any]:
    """The funnel's counts perturbed by their cell keys, as every other published count
    (bot/releases/cellkey.py); `protect_funnel` then hides the small ones."""
    keys = funnel.get("keys") or {}
    reached_keys = keys.get("reached", {})
    return {
        "started": perturb(funnel["started"], keys.get("started", 0)),
        "started_by_language": {
            lang: perturb(n, keys.get("started_by_language", {}).get(lang, 0))
            for lang, n in funnel["started_by_language"].items()
        },
        "reached": [
            {**point, "reached": perturb(point["reached"], reached_keys.get(point["question"], 0))}
            for point in funnel["reached"]
        ],
        "conditional": [
            {**point, "reached": perturb(point["reached"], reached_keys.get(point["question"], 0))}
            for point in funnel["conditional"]
        ],
        "events": {
            name: perturb(n, keys.get("events", {}).get(name, 0))
            for name, n in funnel["events"].items()
        },
    }


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


def protect_funnel(
    funnel: Mapping[str, Any],
    raw: Mapping[str, Any],
    published: Mapping[str, Any],
    minimum: int,
) -> dict[str, Any]:
    """The funnel as it may be published beside `published` (the protected report of `raw`)."""
    started = suppress_report(
        {"completed": funnel["started"], "by_language": dict(funnel["started_by_language"])},
        minimum,
    )
    points = list(funnel["reached"])
    values = [int(raw.get("started", 0)), *(p["reached"] for p in points)]
    values.append(int(raw.get("completed", 0)))
    keep = (published.get("started") is not None, published.get("completed") is not None)
    shown = chain_shown(values, minimum, keep=keep) if points else []
    names = ["started", *(p["question"] for p in points), "completed"] if points else []
    chain = [
        {"point": name, "value": values[i] if shown[i] else None} for i, name in enumerate(names)
    ]
    conditional = [
        {
            "question": c["question"],
            "when": c["when"],
            # Who reached it is about how many met the condition: hidden when that is hidden.
            "reached": None
            if condition_count(published, c["when"]) is None
            else primary(c["reached"], minimum),
        }
        for c in funnel["conditional"]
    ]
    return {
        "started_by_language": started["by_language"],
        "chain": chain,  # started, each question asked of everyone, completed
        "conditional": conditional,
        "events": {name: primary(funnel["events"].get(name, 0), minimum) for name in EVENTS},
    }
