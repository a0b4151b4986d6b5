"""Cell-key perturbation of published counts (ONS Census 2021, ABS TableBuilder).

Suppressing each report on its own does not protect the bot's viewers' sources: a viewer who
saves every weekly report, the whole-wave report and every snapshot can subtract one from
another and recover the small counts each of them hides. Cell-key noise closes that door:

* every completed response gets a random **record key** in ``0..RECORD_KEY_SPACE - 1``
  (`new_record_key`), stored with the response and never published;
* the **cell key** of a published count is the sum of the record keys of exactly the records it
  counts, modulo ``RECORD_KEY_SPACE`` (`cell_key`);
* the published count is the true count plus a noise looked up in the p-table by (true count,
  cell key) (`perturb`).

The same records always give the same published number, however many releases show them, so
averaging repeated releases gains nothing; two counts over different records get noises that
are unrelated to a viewer who does not know the keys, so the difference of two releases is the
true difference plus up to ``2 * MAX_NOISE`` of noise, never the hidden cell itself.

The p-table (`PTABLE`, one of `PTABLES` by MAX_NOISE D): the row is the true count (counts of
D or more share a row), the key picks a noise with probability weight/256 (keys are uniform):

========  ====  ====  ====  ====  ====  ====  ====  ========
true n    -3    -2    -1    0     +1    +2    +3    variance
========  ====  ====  ====  ====  ====  ====  ====  ========
0         .     .     .     256   .     .     .     0
1         .     .     106   84    36    20    10    1.22
2         .     36    62    72    48    28    10    1.78
3+        10    32    56    60    56    32    10    2.14
========  ====  ====  ====  ====  ====  ====  ====  ========

Every row is unbiased (its expectation over keys is the true count), never negative, at most D
from the truth; a true 0 stays 0 (noise on zeros would only invent people).

Releases (`protect_release`, one table of a release at a time). Noise alone does not hold: a
viewer who saves every release and every weekly table and runs an integer program over them
(tests/test_release_attack.py) pinned 68 of 267 small counts under +-2 and 21 under +-3, mostly
because "same records, same number" tells them which cells grew between two releases. So:

* **a perturbed value below ``minimum`` (SMALL_CELL_MIN, 5) is shown as None**, "fewer than 5",
  zeros included: a viewer then only knows the truth is 0 .. 4 + D, and a hidden cell next to a
  hidden one says nothing about which grew. This is the lever that does the work: with it even
  +-2 pinned nothing in the attack; without it +-3 pinned 21;
* **totals are perturbed like every count** (started, completed, by_language, answered), so no
  table's size, and no stretch's, is exact;
* **releases are cumulative for the wave**: a release is made on a schedule (daily) only when
  at least ``RELEASE_MIN_NEW`` (20) new responses arrived, so a stretch's size is "at least 20",
  never a known number; a weekly table is a release's table restricted to the responses filed
  in that week, built and keyed over exactly those records (so a week's table at a later release
  is a new table only if the release added records to that week);
* **crosstabs only once a table publishes ``CROSSTAB_MIN`` (2 x RELEASE_MIN_NEW = 40)
  responses** (`crosstabs_allowed`, decided on the published total, so the decision reveals
  nothing more): before that they would be mostly hidden, and each cell is one more equation.

D = 3 rather than 2 for margin (2 also held in the attack once small values are hidden; 3 keeps
holding when the viewer is even told every stretch's exact size), rather than 4 for the
headline: at 500 answers a share near 56% moves by at most (3 + 0.56 x 3) / 497 < 0.95 points
for any keys (worst over 40 key draws in the test: 0.71 at D = 3, 0.80 at D = 4, 0.51 at D = 2).

What a viewer can still learn: each shown count to within D; that a hidden count is at most
4 + D; that a cell changed between two releases (its published value changed), though not by
how much nor whose answers changed it. A small table reads roughly: over 20 answers the share
can be off by up to 6 / 17 (a published yes above the published answered happens, so a
renderer should cap a share at 100% or show a band).

Figures of one report stop adding up exactly (each total has its own noise); percentages are
computed from published numbers as before. The report's shape is untouched: `key_report`
builds, beside `bot.releases.report.build_raw_report`, a dict of the same shape holding every
count's cell key, and `perturb_report` applies the table to each count.

Where the keys come from: a response row stores its record key; an aggregate profile stores
``key_sum`` (the sum of its respondents' record keys modulo the key space, the same GROUP BY
that counts them: ``sum(record_key) % 256``) and ``multi_keys`` (per several-choice question,
per option and ``ANSWERED``, the key sum of the respondents counted there). "started" counts
people who began, who have no response row: its key is kept beside the counter and gets a new
record key added each time the counter goes up (so the key moves exactly when the count does).
"""

from __future__ import annotations

import copy
import random
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from bot.core.questionnaire import Questionnaire, QuestionType
from bot.releases.profile_keys import ANSWERED
from bot.releases.suppression import LANGUAGE

RECORD_KEY_SPACE = 256
MAX_NOISE = 3  # the p-table in use: see the module's docstring for why +-3
SMALL_CELL_MIN = 5  # bot.infra.defaults.SMALL_CELL_MIN: published values below it are hidden
RELEASE_MIN_NEW = 20  # new responses since the previous release before a new one is made
CROSSTAB_MIN = 2 * RELEASE_MIN_NEW  # published responses a table needs before its crosstabs

Row = tuple[tuple[int, int], ...]

# max noise -> (row: true count, capped at the last row) -> (noise, weight) pairs; the weights
# of a row add up to RECORD_KEY_SPACE and their noises to 0 (every row is unbiased).
PTABLES: dict[int, dict[int, Row]] = {
    2: {
        0: ((0, 256),),
        1: ((-1, 104), (0, 80), (1, 40), (2, 32)),
        2: ((-2, 26), (-1, 52), (0, 100), (1, 52), (2, 26)),
    },
    3: {
        0: ((0, 256),),
        1: ((-1, 106), (0, 84), (1, 36), (2, 20), (3, 10)),
        2: ((-2, 36), (-1, 62), (0, 72), (1, 48), (2, 28), (3, 10)),
        3: ((-3, 10), (-2, 32), (-1, 56), (0, 60), (1, 56), (2, 32), (3, 10)),
    },
    4: {
        0: ((0, 256),),
        1: ((-1, 118), (0, 72), (1, 32), (2, 20), (3, 10), (4, 4)),
        2: ((-2, 44), (-1, 60), (0, 70), (1, 40), (2, 24), (3, 12), (4, 6)),
        3: ((-3, 16), (-2, 38), (-1, 60), (0, 40), (1, 48), (2, 32), (3, 16), (4, 6)),
        4: ((-4, 6), (-3, 16), (-2, 32), (-1, 48), (0, 52), (1, 48), (2, 32), (3, 16), (4, 6)),
    },
}
PTABLE = PTABLES[MAX_NOISE]


def _columns(row: Row) -> tuple[int, ...]:
    # The noise of each cell key, in key order: the first weight's keys get the first noise.
    noises = tuple(noise for noise, weight in row for _ in range(weight))
    if len(noises) != RECORD_KEY_SPACE:
        raise ValueError("a p-table row's weights must add up to RECORD_KEY_SPACE")
    if sum(noises):
        raise ValueError("a p-table row must be unbiased")
    return noises


_NOISE = {d: {n: _columns(row) for n, row in table.items()} for d, table in PTABLES.items()}


def _table(max_noise: int) -> dict[int, tuple[int, ...]]:
    try:
        return _NOISE[max_noise]
    except KeyError:
        raise ValueError(f"no p-table for a max noise of {max_noise}") from None


# Where record keys come from: the operating system's secure source. Tests swap in a seeded
# generator (tests/conftest.py) so that which small counts a release shows is reproducible.
record_keys: random.Random = secrets.SystemRandom()


def new_record_key() -> int:
    """A response's (or a counter record's) key: uniform in 0..RECORD_KEY_SPACE - 1."""
    return record_keys.randrange(RECORD_KEY_SPACE)


def cell_key(keys: Iterable[int]) -> int:
    """The key of a cell: the sum of its records' keys modulo the key space."""
    return sum(keys) % RECORD_KEY_SPACE


def noise(n: int, key: int, max_noise: int = MAX_NOISE) -> int:
    """The p-table's noise for a true count ``n`` and cell key ``key``."""
    if n < 0:
        raise ValueError(f"a count cannot be negative: {n}")
    if not 0 <= key < RECORD_KEY_SPACE:
        raise ValueError(f"a cell key lies in 0..{RECORD_KEY_SPACE - 1}: {key}")
    table = _table(max_noise)
    return table[min(n, max(table))][key]


def perturb(n: int, key: int, max_noise: int = MAX_NOISE) -> int:
    """The published value of a true count ``n`` whose cell key is ``key``."""
    return n + noise(n, key, max_noise)


def noise_distribution(n: int, max_noise: int = MAX_NOISE) -> dict[int, float]:
    """Noise -> probability for a true count ``n`` (over uniform cell keys)."""
    table = PTABLES[max_noise]
    row = table[min(max(n, 0), max(table))]
    return {noise: weight / RECORD_KEY_SPACE for noise, weight in row}


def published_range(
    p: int | None, max_noise: int = MAX_NOISE, minimum: int = SMALL_CELL_MIN
) -> tuple[int, int]:
    """The true counts a published ``p`` may come from, for a viewer who knows the p-table.

    None (hidden: the perturbed value was below ``minimum``) may come from 0 up to
    ``minimum - 1 + max_noise``; a shown p from ``p - max_noise`` (at least 1, since only an
    empty cell is published as 0) up to ``p + max_noise``."""
    if p is None:
        return (0, minimum - 1 + max_noise)
    return (max(p - max_noise, 1 if p else 0), p + max_noise)


def crosstabs_allowed(published_completed: int | None, minimum: int = CROSSTAB_MIN) -> bool:
    """Whether a table may show its crosstabs: only once its published response count (the
    perturbed one, so the decision itself reveals nothing beyond what is published) reaches
    ``minimum``. Small tables' crosstabs would be nearly all hidden, and each crosstab cell is
    one more noisy equation a viewer can stack against the small counts."""
    return published_completed is not None and published_completed >= minimum


# --- whole reports --------------------------------------------------------------------------


def _count_slots(report: Mapping[str, Any]) -> Iterable[tuple[Any, str, tuple[str, ...]]]:
    """(container, key, path) of every count in a report-shaped dict, in report order."""
    for name in ("started", "completed"):
        if name in report:
            yield report, name, (name,)
    for lang in report.get("by_language", {}):
        yield report["by_language"], lang, ("by_language", lang)
    for qid, question in report.get("questions", {}).items():
        yield question, "answered", ("questions", qid, "answered")
        for option in question.get("counts", {}):
            yield question["counts"], option, ("questions", qid, "counts", option)
    for pair, rows in report.get("crosstabs", {}).items():
        for row, cell in rows.items():
            yield cell, "answered", ("crosstabs", pair, row, "answered")
            for option in cell.get("counts", {}):
                yield cell["counts"], option, ("crosstabs", pair, row, "counts", option)


def perturb_report(
    raw: Mapping[str, Any], keys: Mapping[str, Any], max_noise: int = MAX_NOISE
) -> dict[str, Any]:
    """A copy of a raw report with every count perturbed by its cell key in ``keys``.

    ``keys`` has the report's shape (see `key_report`); a count without a key is an error, since
    publishing it exactly would undo the protection of every other one. Counts already None
    (suppressed) stay None.
    """
    out = copy.deepcopy(dict(raw))
    for container, name, path in list(_count_slots(out)):
        if container[name] is None:
            continue
        key: Any = keys
        try:
            for step in path:
                key = key[step]
        except (KeyError, TypeError):
            raise KeyError(f"no cell key for count {'.'.join(path)}") from None
        container[name] = perturb(int(container[name]), int(key), max_noise)
    return out


def protect_release(
    raw: Mapping[str, Any],
    keys: Mapping[str, Any],
    minimum: int = SMALL_CELL_MIN,
    max_noise: int = MAX_NOISE,
    crosstab_minimum: int = CROSSTAB_MIN,
) -> dict[str, Any]:
    """The published form of one table of a release: what every surface shows.

    ``raw`` is `build_raw_report` over exactly the records the table covers (the wave so far at
    this release, or the part of it filed in one week), ``keys`` its `key_report` over the same
    profiles. Every count, totals included, is perturbed by its cell key; a perturbed value
    below ``minimum`` becomes None (shown as "fewer than ``minimum``"), zeros included, so an
    empty cell and a small one look alike. Crosstab cells are all None unless
    `crosstabs_allowed` says the table's published ``completed`` is large enough. The shape is
    `publish()`'s: the same keys, counts or None, ``suppression_min`` set to ``minimum``.
    """
    out = perturb_report(raw, keys, max_noise)
    out["suppression_min"] = minimum
    for container, name, _ in list(_count_slots(out)):
        if container[name] is not None and container[name] < minimum:
            container[name] = None
    if not crosstabs_allowed(out.get("completed"), crosstab_minimum):
        for container, name, path in list(_count_slots(out)):
            if path[0] == "crosstabs":
                container[name] = None
    return out


class KeyedProfile(Protocol):
    """An aggregate profile with the key sums of its respondents."""

    language: str
    choices: dict[str, str | None]
    key_sum: int
    multi_keys: dict[str, dict[str, int]]


def _category(profile: KeyedProfile, question_id: str) -> str | None:
    if question_id == LANGUAGE:
        return profile.language
    return profile.choices.get(question_id)


def _by(q: Questionnaire, question_id: str) -> list[str]:
    if question_id == LANGUAGE:
        return list(q.languages)
    return [option.id for option in q.question(question_id).options]


def _tally_keys(
    q: Questionnaire, question_id: str, profiles: Iterable[KeyedProfile]
) -> dict[str, Any]:
    """Cell keys of answered and counts of one question (as report.py's `_tally` counts)."""
    question = q.question(question_id)
    counts = dict.fromkeys((o.id for o in question.options), 0)
    answered = 0
    for profile in profiles:
        if question.type is QuestionType.MULTI:
            sums = profile.multi_keys.get(question_id, {})
            answered += sums.get(ANSWERED, 0)
            for option_id in counts:
                counts[option_id] += sums.get(option_id, 0)
        else:
            chosen = profile.choices.get(question_id)
            if chosen is not None and chosen in counts:
                answered += profile.key_sum
                counts[chosen] += profile.key_sum
    return {
        "answered": answered % RECORD_KEY_SPACE,
        "counts": {k: v % RECORD_KEY_SPACE for k, v in counts.items()},
    }


def key_report(
    q: Questionnaire, profiles: Iterable[KeyedProfile], *, started_key: int = 0
) -> dict[str, Any]:
    """The cell key of every count of `build_raw_report(q, profiles, ...)`, in its shape.

    Each key is the key sum of exactly the respondents the count counts: the report groups
    and filters profiles here just as `build_raw_report` does. ``started_key`` is the key of
    the "started" counter (see the module's docstring).
    """
    profiles = list(profiles)
    by_language = dict.fromkeys(q.languages, 0)
    for profile in profiles:
        by_language[profile.language] = by_language.get(profile.language, 0) + profile.key_sum
    questions = {
        question.id: _tally_keys(q, question.id, profiles)
        for question in q.questions
        if question.type in (QuestionType.CHOICE, QuestionType.MULTI)
    }
    crosstabs: dict[str, dict[str, Any]] = {}
    for first, second in q.crosstabs:
        groups: dict[str, list[KeyedProfile]] = defaultdict(list)
        for profile in profiles:
            category = _category(profile, second)
            if category is not None:
                groups[category].append(profile)
        crosstabs[f"{first}|{second}"] = {
            category: _tally_keys(q, first, groups.get(category, [])) for category in _by(q, second)
        }
    return {
        "started": started_key % RECORD_KEY_SPACE,
        "completed": sum(by_language.values()) % RECORD_KEY_SPACE,
        "by_language": {k: v % RECORD_KEY_SPACE for k, v in by_language.items()},
        "questions": questions,
        "crosstabs": crosstabs,
    }
