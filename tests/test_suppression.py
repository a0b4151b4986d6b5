"""Small-cell suppression: primary and complementary, checked by an attacker that solves the report.

The attacker test builds consistent raw reports by counting made-up respondents, publishes them
and then, for every hidden count, asks a linear program (scipy) for the smallest and largest
value that agrees with everything published. A hidden count whose range is narrower than 1 is
recovered (a range like [1, 1.5] holds one whole number). Two attackers: hidden counts >= 0, as
the published sums alone allow, and >= 1, for one who knows that zeros are never hidden.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from bot.releases.suppression import (
    constraint_groups,
    count_paths,
    get_value,
    inequalities,
    multi_bounds,
    percent,
    suppress_report,
)

LANGUAGES = ["en", "es", "ht"]
OPTIONS = {
    "status": ["citizen", "lpr", "other_status", "undocumented", "no_answer"],
    "years_in_us": ["lt5", "5to10", "gt10"],
    "afraid_to_seek_help": ["yes", "no"],
    "fear_reasons": ["ice_collaboration", "deportation", "language", "bad_experience", "other"],
    "knows_deported": ["none", "one", "several"],
    "would_report_crime": ["yes", "no", "not_sure"],
}
WHEN = {"fear_reasons": {"afraid_to_seek_help": ["yes"]}}  # the questionnaire's skip logic
CROSSTABS = [
    (question, by)
    for question in ("afraid_to_seek_help", "fear_reasons")
    for by in ("status", "years_in_us", "knows_deported", "language")
] + [
    # Both directions of one pair: the same counts published twice.
    ("afraid_to_seek_help", "would_report_crime"),
    ("would_report_crime", "afraid_to_seek_help"),
]


# ---- building raw reports from respondents ----


def _chose(person: dict[str, Any], question: str, option: str) -> bool:
    answer = person[question]
    if isinstance(answer, frozenset):
        return option in answer
    return answer == option


def _in_row(person: dict[str, Any], by: str, row: str) -> bool:
    return person["language"] == row if by == "language" else _chose(person, by, row)


def build_raw(
    people: list[dict[str, Any]],
    started: int,
    options: dict[str, list[str]] = OPTIONS,
    crosstabs: list[tuple[str, str]] = CROSSTABS,
) -> dict[str, Any]:
    """Count respondents into a raw report, so that every published relation really holds."""
    questions = {
        name: {
            "type": "multi" if name == "fear_reasons" else "choice",
            **({"when": dict(WHEN[name])} if name in WHEN else {}),
            "answered": sum(person[name] is not None for person in people),
            "counts": {
                option: sum(_chose(person, name, option) for person in people) for option in choices
            },
        }
        for name, choices in options.items()
    }
    tables = {}
    for name, by in crosstabs:
        rows = LANGUAGES if by == "language" else options[by]
        tables[f"{name}|{by}"] = {
            row: {
                "answered": sum(
                    person[name] is not None for person in people if _in_row(person, by, row)
                ),
                "counts": {
                    option: sum(
                        _chose(person, name, option)
                        for person in people
                        if _in_row(person, by, row)
                    )
                    for option in options[name]
                },
            }
            for row in rows
        }
    return {
        "survey": "community_safety",
        "wave": "default",
        "period": {"start": "2026-11-16", "end": "2026-11-22"},
        "suppression_min": 5,
        "started": started,
        "completed": len(people),
        "by_language": {
            language: sum(person["language"] == language for person in people)
            for language in LANGUAGES
        },
        "questions": questions,
        "crosstabs": tables,
    }


def random_raw(rng: random.Random) -> dict[str, Any]:
    """A raw report from a random community: skewed answers (many small cells), some skipping."""
    size = rng.choice([rng.randint(0, 25), rng.randint(20, 200)])
    skip = rng.choice([0.0, 0.03, 0.15])

    def weights(count: int) -> list[float]:
        return [rng.random() ** 3 + 0.01 for _ in range(count)]

    language_weights = weights(len(LANGUAGES))
    option_weights = {name: weights(len(options)) for name, options in OPTIONS.items()}
    people = []
    for _ in range(size):
        person: dict[str, Any] = {"language": rng.choices(LANGUAGES, weights=language_weights)[0]}
        for name in ("status", "years_in_us", "afraid_to_seek_help", "knows_deported"):
            person[name] = None
            if rng.random() >= skip:
                person[name] = rng.choices(OPTIONS[name], weights=option_weights[name])[0]
        person["would_report_crime"] = None
        if rng.random() >= skip:
            person["would_report_crime"] = rng.choices(
                OPTIONS["would_report_crime"], weights=option_weights["would_report_crime"]
            )[0]
        # fear_reasons is asked only of those afraid, and any subset of reasons may be chosen.
        person["fear_reasons"] = None
        if person["afraid_to_seek_help"] == "yes" and rng.random() >= skip:
            reasons = OPTIONS["fear_reasons"]
            chosen = {
                reason
                for reason, weight in zip(reasons, option_weights["fear_reasons"], strict=True)
                if rng.random() < weight
            }
            person["fear_reasons"] = frozenset(chosen or {rng.choice(reasons)})
        people.append(person)
    return build_raw(people, started=size + rng.randint(0, 20))


# ---- the attacker ----


def attack(raw: dict[str, Any], published: dict[str, Any], lowest: int) -> dict[tuple, tuple]:
    """Return {hidden path: (min, max)} over all values consistent with the published report.

    The attacker knows every published sum and bound, and even which "at most" relations are
    equalities (who skipped what), which is why the raw report is consulted. `lowest` is the
    smallest value a hidden count may take: 0, or 1 for an attacker who knows zeros are never
    hidden.
    """
    hidden = [path for path in count_paths(raw) if get_value(published, path) is None]
    index = {path: i for i, path in enumerate(hidden)}
    equal_rows, equal_rhs, below_rows, below_rhs = [], [], [], []
    used: set[tuple] = set()

    def add(terms: list[tuple[tuple, int]], equal: bool) -> None:
        # sum(sign * value) == 0 (equal) or <= 0; published values move to the right side.
        row = np.zeros(len(hidden))
        rhs = 0.0
        for path, sign in terms:
            if path in index:
                row[index[path]] += sign
                used.add(path)
            else:
                rhs -= sign * get_value(published, path)
        if row.any():
            (equal_rows if equal else below_rows).append(row)
            (equal_rhs if equal else below_rhs).append(rhs)

    for group in constraint_groups(raw):
        total = sum(get_value(raw, path) for path in group.totals)
        holds = sum(get_value(raw, path) for path in group.members) == total
        assert holds or not group.exact, group
        assert sum(get_value(raw, path) for path in group.members) <= total, group
        add(group.terms, equal=holds)
    for small, large in inequalities(raw):
        assert get_value(raw, small) <= get_value(raw, large), (small, large)
        add([(small, 1), (large, -1)], equal=get_value(raw, small) == get_value(raw, large))
    for bound in multi_bounds(raw):
        low = sum(get_value(raw, path) for path in bound.members)
        high = sum(get_value(raw, path) for path in bound.totals)
        assert low <= high, bound
        add(bound.terms, equal=low == high)

    # Sanity: the true values satisfy every constraint the attacker uses.
    true = np.array([get_value(raw, path) for path in hidden], dtype=float)
    for row, rhs in zip(equal_rows, equal_rhs, strict=True):
        assert row @ true == pytest.approx(rhs)
    for row, rhs in zip(below_rows, below_rhs, strict=True):
        assert row @ true <= rhs + 1e-9

    problem = {
        "A_eq": np.array(equal_rows) if equal_rows else None,
        "b_eq": equal_rhs or None,
        "A_ub": np.array(below_rows) if below_rows else None,
        "b_ub": below_rhs or None,
        "bounds": [(lowest, None)] * len(hidden),
        "method": "highs",
    }
    # Every solution the solver returns is a feasible report; a cell already seen at two values
    # at least 1 apart needs no program of its own.
    seen: dict[tuple, list[float]] = {}

    def note(solution: np.ndarray) -> None:
        for path, value in zip(hidden, solution, strict=True):
            low_high = seen.setdefault(path, [value, value])
            low_high[0], low_high[1] = min(low_high[0], value), max(low_high[1], value)

    # A few programs with random objectives find far-apart solutions that settle most cells.
    note(true)
    directions = np.random.default_rng(0).choice([-1.0, 1.0], size=(4, len(hidden)))
    for objective in directions if hidden else []:
        solution = linprog(objective, **problem)
        if solution.status == 0:
            note(solution.x)

    ranges = {}
    for path in hidden:
        if path not in used:
            ranges[path] = (lowest, float("inf"))  # no published sum mentions it
            continue
        if path in seen and seen[path][1] - seen[path][0] >= 1:
            # Not the full range, but wide enough; widen it to the true value, which satisfies
            # every constraint (checked above).
            ranges[path] = (
                min(seen[path][0], true[index[path]]),
                max(seen[path][1], true[index[path]]),
            )
            continue
        objective = np.zeros(len(hidden))
        objective[index[path]] = 1
        low = linprog(objective, **problem)
        assert low.status == 0, (path, low.message)
        note(low.x)
        high = linprog(-objective, **problem)
        assert high.status in (0, 3), (path, high.message)  # 3: unbounded above
        if high.status == 0:
            note(high.x)
        ranges[path] = (low.fun, -high.fun if high.status == 0 else float("inf"))
    return ranges


def assert_safe(raw: dict[str, Any], published: dict[str, Any], minimum: int) -> None:
    """Published counts are exact and not small; no hidden count can be worked out."""
    for path in count_paths(raw):
        value = get_value(published, path)
        if value is not None:
            assert value == get_value(raw, path), path
            assert not 0 < value < minimum, path
        else:
            assert get_value(raw, path) > 0, path  # zeros are never hidden
    # Both attackers: values >= 0 (the published sums only), and >= 1 (knowing that a
    # suppressed count is never 0). The second can only narrow the ranges.
    for lowest in (0, 1):
        for path, (low, high) in attack(raw, published, lowest).items():
            true = get_value(raw, path)
            assert low - 1e-6 <= true <= high + 1e-6, (lowest, path, low, high, true)
            assert high - low >= 1 - 1e-6, (lowest, path, low, high, true)


# ---- primary suppression ----


@pytest.mark.parametrize("minimum", [3, 5, 10])
@pytest.mark.parametrize("value", range(0, 13))
def test_primary_hides_exactly_1_to_minimum_minus_1(value: int, minimum: int) -> None:
    published = suppress_report({"started": value}, minimum)
    assert published["started"] == (None if 1 <= value < minimum else value)
    assert published["suppression_min"] == minimum


def test_primary_reaches_every_kind_of_count() -> None:
    raw = {
        "started": 4,
        "completed": 3,
        "by_language": {"en": 0, "es": 2, "ht": 1},
        "questions": {
            "afraid_to_seek_help": {"type": "choice", "answered": 3, "counts": {"yes": 3, "no": 0}}
        },
        "crosstabs": {
            "afraid_to_seek_help|language": {
                "en": {"answered": 0, "counts": {"yes": 0, "no": 0}},
                "es": {"answered": 2, "counts": {"yes": 2, "no": 0}},
                "ht": {"answered": 1, "counts": {"yes": 1, "no": 0}},
            }
        },
    }
    published = suppress_report(raw, 5)
    for path in count_paths(raw):
        expected = None if get_value(raw, path) else 0
        assert get_value(published, path) == expected, path


def test_report_is_not_mutated_and_other_keys_are_kept() -> None:
    raw = random_raw(random.Random(7))
    raw["questions"]["status"]["counts"]["lpr"] = 2  # make sure something is hidden
    before = copy.deepcopy(raw)
    published = suppress_report(raw, 5)
    assert raw == before
    assert published is not raw
    assert published["questions"]["status"]["counts"]["lpr"] is None
    for key in ("survey", "wave", "period"):
        assert published[key] == raw[key]
    assert published["questions"]["fear_reasons"]["type"] == "multi"


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="non-negative integer"):
        suppress_report({"started": -1}, 5)
    with pytest.raises(ValueError, match="type"):
        suppress_report({"questions": {"q": {"answered": 3, "counts": {"a": 3}}}}, 5)


# ---- complementary suppression ----


def _question(counts: dict[str, int], kind: str = "choice") -> dict[str, Any]:
    return {"type": kind, "answered": sum(counts.values()), "counts": counts}


def test_one_small_cell_in_a_question_hides_the_smallest_nonzero_partner() -> None:
    raw = {"questions": {"q": _question({"yes": 3, "no": 40, "none": 0, "not_sure": 12})}}
    published = suppress_report(raw, 5)
    assert published["questions"]["q"] == {
        "type": "choice",
        "answered": 55,
        "counts": {"yes": None, "no": 40, "none": 0, "not_sure": None},
    }
    assert_safe(raw, published, 5)


def test_ties_are_broken_by_key_order() -> None:
    raw = {"questions": {"q": _question({"a": 2, "b": 9, "c": 9})}}
    assert suppress_report(raw, 5)["questions"]["q"]["counts"] == {"a": None, "b": None, "c": 9}


def test_zeros_are_never_chosen_as_partners() -> None:
    raw = {"questions": {"q": _question({"a": 0, "b": 2, "c": 0, "d": 30})}}
    published = suppress_report(raw, 5)
    assert published["questions"]["q"]["counts"] == {"a": 0, "b": None, "c": 0, "d": None}
    assert published["questions"]["q"]["answered"] == 32


def test_two_hidden_ones_in_a_sum_are_protected_too() -> None:
    # yes + no = 2 is published, and a hidden count is never 0, so both would be 1: the rule
    # "two unknowns per sum" is not enough once the attacker knows zeros are published.
    raw = {"questions": {"q": _question({"yes": 1, "no": 1, "maybe": 40, "other": 50})}}
    published = suppress_report(raw, 5)
    assert published["questions"]["q"]["counts"] == {
        "yes": None,
        "no": None,
        "maybe": None,
        "other": 50,
    }
    assert_safe(raw, published, 5)


def _table(rows: dict[str, dict[str, int]], name: str = "q", by: str = "status") -> dict:
    """A raw report with one choice question and its crosstab by `by` (everyone answered both)."""
    options = list(next(iter(rows.values())))
    totals = {option: sum(row[option] for row in rows.values()) for option in options}
    return {
        "questions": {name: _question(totals)},
        "crosstabs": {
            f"{name}|{by}": {
                row: {"answered": sum(counts.values()), "counts": dict(counts)}
                for row, counts in rows.items()
            }
        },
    }


def test_one_small_cell_in_a_crosstab_hides_a_rectangle() -> None:
    raw = _table(
        {
            "lpr": {"yes": 2, "no": 28},
            "citizen": {"yes": 20, "no": 8},
            "undocumented": {"yes": 50, "no": 60},
        }
    )
    published = suppress_report(raw, 5)
    table = published["crosstabs"]["q|status"]
    assert table == {
        "lpr": {"answered": 30, "counts": {"yes": None, "no": None}},
        "citizen": {"answered": 28, "counts": {"yes": None, "no": None}},
        "undocumented": {"answered": 110, "counts": {"yes": 50, "no": 60}},
    }
    assert published["questions"] == raw["questions"]
    assert_safe(raw, published, 5)


BRIDGED = {
    # Two blocks of small cells joined by one small cell (citizen, c): every row and column has
    # 0 or >= 2 hidden cells, yet rows citizen + lpr minus columns a + b give (citizen, c) = 1.
    "citizen": {"a": 2, "b": 3, "c": 1, "d": 30},
    "lpr": {"a": 3, "b": 2, "c": 20, "d": 40},
    "other_status": {"a": 30, "b": 25, "c": 2, "d": 3},
    "undocumented": {"a": 35, "b": 45, "c": 3, "d": 2},
}


def test_at_least_two_per_row_and_column_is_not_enough() -> None:
    raw = _table(BRIDGED)
    primary_only = copy.deepcopy(raw)
    for path in count_paths(raw):
        if 0 < get_value(raw, path) < 5:
            node = primary_only
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = None
    bridge = ("crosstabs", "q|status", "citizen", "counts", "c")
    assert attack(raw, primary_only, 0)[bridge] == pytest.approx((1, 1))

    published = suppress_report(raw, 5)
    assert get_value(published, bridge) is None
    assert_safe(raw, published, 5)


def test_a_number_published_twice_is_hidden_in_both_places() -> None:
    # Everyone who answered q also gave a language, so the q|language row "es" repeats
    # by_language["es"]: hiding one copy must hide the other.
    raw = {
        "completed": 33,
        "by_language": {"en": 3, "es": 10, "ht": 20},
        "questions": {"q": _question({"yes": 13, "no": 20})},
        "crosstabs": {
            "q|language": {
                "en": {"answered": 3, "counts": {"yes": 1, "no": 2}},
                "es": {"answered": 10, "counts": {"yes": 6, "no": 4}},
                "ht": {"answered": 20, "counts": {"yes": 6, "no": 14}},
            }
        },
    }
    published = suppress_report(raw, 5)
    assert published["by_language"]["en"] is None
    for language in LANGUAGES:
        hidden_here = published["by_language"][language] is None
        hidden_there = published["crosstabs"]["q|language"][language]["answered"] is None
        assert hidden_here == hidden_there, language
    assert_safe(raw, published, 5)


def test_whole_numbers_matter() -> None:
    # Five respondents, minimum 3. Without whole-number witnesses the audit accepted a pattern
    # where a hidden count could only lie in [1, 1.5] for an attacker who knows hidden counts
    # are not 0: that is, it was 1.
    fields = ("language", "status", "years_in_us", "afraid_to_seek_help", "knows_deported")
    people = [
        dict(zip(fields, answers, strict=True))
        for answers in [
            ("ht", "citizen", None, "no", "several"),
            ("en", None, None, "yes", "several"),
            ("en", "citizen", "lt5", "yes", "one"),
            ("ht", "citizen", None, "yes", "one"),
            ("es", "citizen", "gt10", "yes", "one"),
        ]
    ]
    for person, report, fears in zip(
        people,
        [None, None, None, "not_sure", "yes"],
        [None, {"language"}, {"ice_collaboration"}, {"ice_collaboration"}, {"deportation"}],
        strict=True,
    ):
        person["would_report_crime"] = report
        person["fear_reasons"] = None if fears is None else frozenset(fears)
    raw = build_raw(people, started=7)
    assert_safe(raw, suppress_report(raw, 3), 3)


# ---- skip logic: a question asked after some answers only ----
#
# fear_reasons is asked only of those who answered afraid_to_seek_help "yes". Its published
# `answered` counts them, less those who skipped it: so it bounds the "yes" count, and equals it
# when nobody skipped. The checks below do not take the relations from the module: they write
# down what a reader of the report knows, and look for whole-number reports that agree with it.


def _relations(raw: dict[str, Any]) -> list[tuple[dict[tuple, int], bool]]:
    """Every relation between a report's counts that a reader knows, as ({path: sign}, equal):
    sum(sign * value) <= 0, and == 0 when it holds with equality in this data (an attacker may
    know that nobody skipped, or that everyone chose one reason)."""
    relations = []
    questions = raw.get("questions", {})
    crosstabs = raw.get("crosstabs", {})

    def at_most(small: list[tuple], large: list[tuple]) -> None:
        terms: dict[tuple, int] = {}
        for path, sign in [(path, 1) for path in small] + [(path, -1) for path in large]:
            terms[path] = terms.get(path, 0) + sign
        low = sum(get_value(raw, path) for path in small)
        high = sum(get_value(raw, path) for path in large)
        assert low <= high, (small, large)
        relations.append((terms, low == high))

    def answers(where: tuple, kind: str, options: list[str]) -> None:
        answered = (*where, "answered")
        counts = [(*where, "counts", option) for option in options]
        if kind == "multi":
            for count in counts:
                at_most([count], [answered])
            at_most([answered], counts)  # everyone who answered chose at least one option
        else:
            at_most(counts, [answered])
            at_most([answered], counts)

    if "completed" in raw:
        languages = [("by_language", language) for language in raw["by_language"]]
        at_most(languages, [("completed",)])
        at_most([("completed",)], languages)
        if "started" in raw:
            at_most([("completed",)], [("started",)])
    for name, question in questions.items():
        answers(("questions", name), question["type"], list(question["counts"]))
        if "completed" in raw:
            at_most([("questions", name, "answered")], [("completed",)])
        for earlier, wanted in question.get("when", {}).items():
            condition = [("questions", earlier, "counts", option) for option in wanted]
            at_most([("questions", name, "answered")], condition)
    for key, rows in crosstabs.items():
        name, _, by = key.partition("|")
        question = questions[name]
        for row in rows:
            where = ("crosstabs", key, row)
            answers(where, question["type"], list(question["counts"]))
            within = ("by_language", row) if by == "language" else ("questions", by, "counts", row)
            at_most([(*where, "answered")], [within])
            for earlier, wanted in question.get("when", {}).items():
                if f"{earlier}|{by}" in crosstabs:
                    cells = [("crosstabs", f"{earlier}|{by}", row, "counts", o) for o in wanted]
                    at_most([(*where, "answered")], cells)
                if f"{by}|{earlier}" in crosstabs:
                    cells = [("crosstabs", f"{by}|{earlier}", o, "counts", row) for o in wanted]
                    at_most([(*where, "answered")], cells)
        for option in question["counts"]:
            column = [("crosstabs", key, row, "counts", option) for row in rows]
            at_most(column, [("questions", name, "counts", option)])
        at_most(
            [("crosstabs", key, row, "answered") for row in rows], [("questions", name, "answered")]
        )
    return relations


def recoverable(raw: dict[str, Any], published: dict[str, Any]) -> list[tuple]:
    """The hidden counts that every whole-number report agreeing with the published one (hidden
    counts >= 1, every relation of `_relations`) gives the same value: found by search."""
    hidden = [path for path in count_paths(raw) if get_value(published, path) is None]
    true = {path: get_value(raw, path) for path in hidden}
    # Searching below a cap can only find fewer reports, so it can only report more as pinned.
    cap = 2 * max([get_value(raw, path) for path in count_paths(raw)] + [1])
    rows = []
    for terms, equal in _relations(raw):
        constant = sum(sign * get_value(published, p) for p, sign in terms.items() if p not in true)
        variables = [(p, sign) for p, sign in terms.items() if p in true and sign]
        rows.append((constant, variables, equal))

    def propagate(low: dict[tuple, int], high: dict[tuple, int]) -> bool:
        # Narrow every hidden count's interval until no relation narrows it further.
        changed = True
        while changed:
            changed = False
            for constant, variables, equal in rows:
                least = constant + sum(s * (low[p] if s > 0 else high[p]) for p, s in variables)
                most = constant + sum(s * (high[p] if s > 0 else low[p]) for p, s in variables)
                if least > 0 or (equal and most < 0):
                    return False
                for p, s in variables:
                    rest_least = least - s * (low[p] if s > 0 else high[p])
                    rest_most = most - s * (high[p] if s > 0 else low[p])
                    # s * v + rest <= 0 (and >= 0 when equal), with s = +1 or -1
                    new_low, new_high = low[p], high[p]
                    if s > 0:
                        new_high = min(new_high, -rest_least)
                        new_low = max(new_low, -rest_most) if equal else new_low
                    else:
                        new_low = max(new_low, rest_least)
                        new_high = min(new_high, rest_most) if equal else new_high
                    if new_low > new_high:
                        return False
                    if (new_low, new_high) != (low[p], high[p]):
                        low[p], high[p] = new_low, new_high
                        changed = True
        return True

    def solve(low: dict[tuple, int], high: dict[tuple, int]) -> bool:
        low, high = dict(low), dict(high)
        if not propagate(low, high):
            return False
        open_ = [p for p in hidden if low[p] < high[p]]
        if not open_:
            return True
        path = min(open_, key=lambda p: high[p] - low[p])
        values = sorted(range(low[path], high[path] + 1), key=lambda v: abs(v - true[path]))
        return any(solve({**low, path: v}, {**high, path: v}) for v in values)

    low = dict.fromkeys(hidden, 1)
    high = dict.fromkeys(hidden, cap)
    assert solve({**low, **true}, {**high, **true})  # the true report agrees with everything
    pinned = []
    for path in hidden:
        below = solve(low, {**high, path: true[path] - 1}) if true[path] > 1 else False
        if not below and not solve({**low, path: true[path] + 1}, high):
            pinned.append(path)
    return pinned


def _hide(raw: dict[str, Any], paths: list[tuple]) -> dict[str, Any]:
    published = copy.deepcopy(raw)
    for path in paths:
        node = published
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = None
    return published


def _respondents(rows: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    people = []
    for number, answers in rows:
        people += [{"language": "en", **answers} for _ in range(number)]
    return people


AFRAID = {name: OPTIONS[name] for name in ("status", "afraid_to_seek_help", "fear_reasons")}


def _afraid(status: str | None, afraid: str | None, *reasons: str) -> dict[str, Any]:
    fear = frozenset(reasons) if reasons else None
    return {"status": status, "afraid_to_seek_help": afraid, "fear_reasons": fear}


# The reviewer's case: 9 answered afraid_to_seek_help, 6 "yes" and 3 "no" (2 more skipped it);
# all 6 answered fear_reasons.
REVIEWED = _respondents(
    [
        (3, _afraid(None, "yes", "ice_collaboration", "deportation")),
        (2, _afraid(None, "yes", "deportation")),
        (1, _afraid(None, "yes", "language")),
        (3, _afraid(None, "no")),
        (2, _afraid(None, None)),
    ]
)


def test_a_hidden_condition_is_not_given_away_by_the_question_it_leads_to() -> None:
    raw = build_raw(REVIEWED, started=14, options=AFRAID, crosstabs=[])
    yes = ("questions", "afraid_to_seek_help", "counts", "yes")
    no = ("questions", "afraid_to_seek_help", "counts", "no")
    reached = ("questions", "fear_reasons", "answered")
    assert (get_value(raw, yes), get_value(raw, no), get_value(raw, reached)) == (6, 3, 6)
    # What was published before: yes and no hidden, fear_reasons answered by 6, so yes = 6.
    before = _hide(
        raw, [yes, no, *(path for path in count_paths(raw) if 0 < get_value(raw, path) < 5)]
    )
    assert get_value(before, reached) == 6
    assert {yes, no} <= set(recoverable(raw, before))

    published = suppress_report(raw, 5)
    assert get_value(published, no) is None
    assert get_value(published, yes) is None
    assert get_value(published, reached) is None
    assert recoverable(raw, published) == []
    assert_safe(raw, published, 5)


# The same within a crosstab column: 6 "yes" and 3 "no" among LPRs, and fear_reasons|status
# publishes how many LPRs answered fear_reasons.
BY_STATUS = _respondents(
    [
        (6, _afraid("lpr", "yes", "deportation")),
        (3, _afraid("lpr", "no")),
        (10, _afraid("citizen", "yes", "language", "bad_experience")),
        (20, _afraid("citizen", "no")),
        (30, _afraid("undocumented", "yes", "ice_collaboration", "deportation")),
        (8, _afraid("undocumented", "no")),
    ]
)


@pytest.mark.parametrize(
    "crosstabs",
    [
        [("afraid_to_seek_help", "status"), ("fear_reasons", "status")],
        # Only the mirror "status|afraid_to_seek_help" counts the LPRs who said yes.
        [("status", "afraid_to_seek_help"), ("fear_reasons", "status")],
    ],
)
def test_a_hidden_condition_cell_is_not_given_away_within_a_crosstab_column(
    crosstabs: list[tuple[str, str]],
) -> None:
    raw = build_raw(BY_STATUS, started=80, options=AFRAID, crosstabs=crosstabs)
    if crosstabs[0][0] == "afraid_to_seek_help":
        lpr_yes = ("crosstabs", "afraid_to_seek_help|status", "lpr", "counts", "yes")
    else:
        lpr_yes = ("crosstabs", "status|afraid_to_seek_help", "yes", "counts", "lpr")
    reached = ("crosstabs", "fear_reasons|status", "lpr", "answered")
    assert get_value(raw, lpr_yes) == get_value(raw, reached) == 6
    small = [path for path in count_paths(raw) if 0 < get_value(raw, path) < 5]
    # Everything the module hid before it knew about skip logic, but not the reached count.
    old = suppress_report({**raw, "questions": _without_when(raw["questions"])}, 5)
    before = _hide(raw, [p for p in count_paths(raw) if get_value(old, p) is None] + small)
    assert get_value(before, lpr_yes) is None
    assert get_value(before, reached) == 6
    assert lpr_yes in recoverable(raw, before)

    published = suppress_report(raw, 5)
    assert get_value(published, lpr_yes) is None
    assert get_value(published, reached) is None
    assert recoverable(raw, published) == []
    assert_safe(raw, published, 5)


def _without_when(questions: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {key: value for key, value in question.items() if key != "when"}
        for name, question in questions.items()
    }


def test_a_condition_on_several_options_bounds_by_their_sum() -> None:
    # q is asked after "a" or "b" of e (9 people: 3 + 6); all 9 answered it. With b = 6, c and
    # e's answered published, q's answered = 9 gives a = 3, then c = 2.
    raw = {
        "questions": {
            "e": _question({"a": 3, "b": 6, "c": 2, "d": 40}),
            "q": {"type": "multi", "when": {"e": ["a", "b"]}, "answered": 9, "counts": {"x": 9}},
        }
    }
    groups = constraint_groups(raw)
    bound = next(group for group in groups if group.members == (("questions", "q", "answered"),))
    assert bound.totals == (("questions", "e", "counts", "a"), ("questions", "e", "counts", "b"))
    assert not bound.exact
    before = _hide(raw, [("questions", "e", "counts", "a"), ("questions", "e", "counts", "c")])
    assert recoverable(raw, before) == [
        ("questions", "e", "counts", "a"),
        ("questions", "e", "counts", "c"),
    ]
    published = suppress_report(raw, 5)
    assert recoverable(raw, published) == []
    assert_safe(raw, published, 5)


def test_skip_logic_relations_are_bounds_in_the_constraint_groups() -> None:
    raw = build_raw(
        BY_STATUS,
        started=80,
        options=AFRAID,
        crosstabs=[("afraid_to_seek_help", "status"), ("fear_reasons", "status")],
    )
    groups = {(group.members, group.totals): group for group in constraint_groups(raw)}
    overall = groups[
        (
            (("questions", "fear_reasons", "answered"),),
            (("questions", "afraid_to_seek_help", "counts", "yes"),),
        )
    ]
    assert not overall.exact  # whoever skipped fear_reasons is missing from its answered
    for status in AFRAID["status"]:
        cell = ("crosstabs", "afraid_to_seek_help|status", status, "counts", "yes")
        row = ("crosstabs", "fear_reasons|status", status, "answered")
        assert not groups[((row,), (cell,))].exact


def test_skip_logic_the_report_cannot_speak_of_adds_nothing() -> None:
    base = {"questions": {"e": _question({"a": 3, "b": 6})}}
    for when in ({"age": ["18"]}, {"e": ["z"]}, {"e": []}, {}):
        raw = copy.deepcopy(base)
        raw["questions"]["q"] = {"type": "multi", "when": when, "answered": 2, "counts": {"x": 2}}
        assert not [
            g for g in constraint_groups(raw) if g.members == (("questions", "q", "answered"),)
        ]
    for bad in ({"e": "a"}, ["e"], {"e": 3}):
        raw = copy.deepcopy(base)
        raw["questions"]["q"] = {"type": "multi", "when": bad, "answered": 2, "counts": {"x": 2}}
        with pytest.raises(ValueError, match="when"):
            suppress_report(raw, 5)


def test_a_multi_question_is_answered_by_no_more_than_its_counts_add_up_to() -> None:
    # Everyone who answers a multi question chooses at least one option. Here everyone chose
    # one: answered = x + y, so with answered and y published, x = 2 would follow.
    raw = {"questions": {"q": _question({"x": 2, "y": 30}, kind="multi")}}
    assert multi_bounds(raw)[0].members == (("questions", "q", "answered"),)
    before = _hide(raw, [("questions", "q", "counts", "x")])
    assert recoverable(raw, before) == [("questions", "q", "counts", "x")]
    published = suppress_report(raw, 5)
    assert get_value(published, ("questions", "q", "counts", "x")) is None
    assert recoverable(raw, published) == []
    assert_safe(raw, published, 5)


def test_the_report_carries_the_questionnaires_skip_logic_to_suppression() -> None:
    # The reviewer's case through bot.releases.report: its raw report says which questions have skip
    # logic, so that `publish` knows fear_reasons' answered bounds afraid_to_seek_help "yes".
    import datetime as dt

    from bot.core.questionnaire import load_questionnaire
    from bot.releases.aggregates import Profile
    from bot.releases.report import build_raw_report, publish

    q = load_questionnaire()
    reasons = {"fear_reasons": {"_answered": 6, "deportation": 6, "language": 2}}
    profiles = [
        Profile("2026-W47", "en", {"afraid_to_seek_help": "yes"}, 6, reasons),
        Profile("2026-W47", "en", {"afraid_to_seek_help": "no"}, 3),
        Profile("2026-W47", "es", {}, 2),
    ]
    raw = build_raw_report(
        q,
        profiles,
        wave="default",
        period=(dt.date(2026, 11, 16), dt.date(2026, 11, 22)),
        started=14,
        minimum=5,
    )
    assert raw["questions"]["fear_reasons"]["when"] == {"afraid_to_seek_help": ["yes"]}
    assert "when" not in raw["questions"]["afraid_to_seek_help"]
    afraid = raw["questions"]["afraid_to_seek_help"]
    assert (afraid["answered"], afraid["counts"]) == (9, {"yes": 6, "no": 3})
    assert raw["questions"]["fear_reasons"]["answered"] == 6
    published = publish(raw)
    assert published["questions"]["afraid_to_seek_help"]["counts"] == {"yes": None, "no": None}
    assert published["questions"]["fear_reasons"]["answered"] is None
    assert recoverable(raw, published) == []
    assert_safe(raw, published, 5)


# ---- the attacker on many random reports ----


# 67 random reports for each minimum (201 in all), one test per minimum so that the suite's
# processes share the work.
@pytest.mark.parametrize("minimum", [3, 5, 10])
@settings(max_examples=67, deadline=None)
@given(rng=st.randoms(use_true_random=False))
def test_no_hidden_count_can_be_recovered(rng: random.Random, minimum: int) -> None:
    raw = random_raw(rng)
    published = suppress_report(raw, minimum)
    assert_safe(raw, published, minimum)


def test_constraint_groups_are_the_published_sums() -> None:
    raw = random_raw(random.Random(3))
    groups = constraint_groups(raw)
    totals = {group.total for group in groups}
    assert ("completed",) in totals
    assert ("questions", "afraid_to_seek_help", "answered") in totals
    assert ("questions", "fear_reasons", "answered") in totals  # from its crosstabs' rows
    assert ("crosstabs", "afraid_to_seek_help|status", "lpr", "answered") in totals
    # A multi question's counts do not add up to its answered, in a row or overall.
    assert ("crosstabs", "fear_reasons|status", "lpr", "answered") not in totals
    assert not any(
        group.total == ("questions", "fear_reasons", "answered")
        and group.members[0][-2] == "counts"
        for group in groups
    )
    # A|B and B|A publish the same cells.
    twins = [group for group in groups if len(group.members) == 1]
    assert any(
        group.members[0][1] == "afraid_to_seek_help|would_report_crime"
        and group.total[1] == "would_report_crime|afraid_to_seek_help"
        for group in twins
    )


# ---- percentages ----


def test_percent_uses_published_numbers_only() -> None:
    assert percent(1, 4) == 25.0
    assert percent(0, 10) == 0.0
    assert percent(None, 10) is None
    assert percent(3, None) is None
    assert percent(None, None) is None
    assert percent(0, 0) is None
    published = suppress_report({"questions": {"q": _question({"yes": 3, "no": 40})}}, 5)
    question = published["questions"]["q"]
    assert percent(question["counts"]["yes"], question["answered"]) is None
    assert percent(question["counts"]["no"], question["answered"]) is None
