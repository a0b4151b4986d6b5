"""The sums and bounds a published report gives away: what an attacker can solve.

Paths name a count inside the report, e.g. ``("crosstabs", "afraid_to_seek_help|status", "lpr",
"counts", "yes")``. The raw report must carry ``"type"`` on every question (``"multi"`` marks a
question whose counts do not add up to ``answered``; every other type is treated as adding up),
and ``"when"`` on every question with skip logic (the questionnaire's ``when``: earlier question
id to the option ids that lead to it; a question without it counts as asked of everyone).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Path = tuple[str, ...]

LANGUAGE = "language"  # the pseudo-question of crosstabs "A|language": rows are by_language keys


@dataclass(frozen=True)
class Group:
    """A published sum: the values at ``members`` add up to the value at ``total`` (plus the
    values at ``plus``, when the right-hand side is itself a sum).

    ``exact`` is False for sums that only hold when nobody skipped a question (a crosstab's rows
    miss the respondents who skipped its row question; a question asked only after some answers
    misses those who skipped it), where the right-hand side is only an upper bound in general.
    The classic rule treats every group as a sum anyway, since an attacker may know that nobody
    skipped; the audit uses whichever the data says.
    """

    members: tuple[Path, ...]
    total: Path
    exact: bool = True
    plus: tuple[Path, ...] = ()

    @property
    def totals(self) -> tuple[Path, ...]:
        """The right-hand side: total and plus."""
        return (self.total, *self.plus)

    @property
    def paths(self) -> tuple[Path, ...]:
        """Members and totals: every value the sum involves."""
        return (*self.members, *self.totals)

    @property
    def terms(self) -> list[tuple[Path, int]]:
        """The sum as sign * value terms that add up to 0 (or at most 0 when not exact)."""
        return [(path, 1) for path in self.members] + [(path, -1) for path in self.totals]


def get_value(report: Mapping[str, Any], path: Path) -> Any:
    """Return the value at ``path`` in ``report``."""
    node: Any = report
    for key in path:
        node = node[key]
    return node


def count_paths(report: Mapping[str, Any]) -> list[Path]:
    """Return the path of every count in the report, in report (key) order."""
    paths: list[Path] = [(key,) for key in ("started", "completed") if key in report]
    paths += [("by_language", lang) for lang in report.get("by_language", {})]
    for name, question in report.get("questions", {}).items():
        paths.append(("questions", name, "answered"))
        paths += [("questions", name, "counts", option) for option in question.get("counts", {})]
    for key, rows in report.get("crosstabs", {}).items():
        for row, cell in rows.items():
            paths.append(("crosstabs", key, row, "answered"))
            paths += [("crosstabs", key, row, "counts", option) for option in cell["counts"]]
    return paths


def _is_multi(report: Mapping[str, Any], name: str) -> bool:
    # The type decides whether counts add up to answered, so guessing it would either leak
    # (assuming "multi" drops real sums) or break the audit; the raw report must say.
    try:
        return report["questions"][name]["type"] == "multi"
    except KeyError:
        raise ValueError(f"report needs questions[{name!r}] with its 'type'") from None


def _conditions(report: Mapping[str, Any], name: str) -> list[tuple[str, tuple[str, ...]]]:
    """The skip logic of a question that the report can speak of: (earlier question, options)."""
    when = report["questions"][name].get("when") or {}
    if not isinstance(when, Mapping):
        raise ValueError(f"questions[{name!r}]['when'] must map question ids to option ids")
    conditions = []
    for earlier, wanted in when.items():
        if isinstance(wanted, str) or not isinstance(wanted, Iterable):
            raise ValueError(f"questions[{name!r}]['when'][{earlier!r}] must list option ids")
        options = tuple(dict.fromkeys(wanted))
        counts = report["questions"].get(earlier, {}).get("counts", {})
        # Nothing published counts the answers to an unreported question (a number), and a
        # condition on an option the report does not count cannot be written as a sum.
        if options and all(option in counts for option in options):
            conditions.append((earlier, options))
    return conditions


def _condition_cell(
    crosstabs: Mapping[str, Any], earlier: str, by: str, row: str, option: str
) -> Path | None:
    """Where a crosstab publishes how many chose ``option`` of ``earlier`` and ``row`` of ``by``."""
    if row in crosstabs.get(f"{earlier}|{by}", {}):
        if option in crosstabs[f"{earlier}|{by}"][row]["counts"]:
            return ("crosstabs", f"{earlier}|{by}", row, "counts", option)
    if row in crosstabs.get(f"{by}|{earlier}", {}).get(option, {}).get("counts", {}):
        return ("crosstabs", f"{by}|{earlier}", option, "counts", row)
    return None


def _skip_logic_groups(report: Mapping[str, Any]) -> list[Group]:
    # A question asked only of those who gave certain earlier answers (``when``) is answered by
    # at most that many: everyone who completed with such an answer reached it, and only SKIP
    # keeps one from its ``answered``. The report publishes no skip count for it (a reached or
    # skipped figure would make this an equality for anyone), so it is a bound, exact only when
    # nobody skipped, like a crosstab's columns; but then an attacker who assumes nobody skipped
    # reads a hidden condition count off the question's published ``answered`` (9 afraid, 6
    # of them "yes", hidden; fear_reasons answered by 6 gives yes = 6 and no = 3). For a multi
    # earlier question the sum over several options counts some people twice: still a bound.
    # The same holds within each row of a crosstab of the question, against the cells of the
    # earlier question in the crosstab by the same second question.
    groups: list[Group] = []
    questions = report.get("questions", {})
    crosstabs = report.get("crosstabs", {})
    for name in questions:
        for earlier, options in _conditions(report, name):
            counts = [("questions", earlier, "counts", option) for option in options]
            answered = ("questions", name, "answered")
            groups.append(Group((answered,), counts[0], exact=False, plus=tuple(counts[1:])))
            for key, rows in crosstabs.items():
                first, _, by = key.partition("|")
                if first != name or by == earlier:
                    # In "Q|E" a row of E's options is already bounded by E's own count.
                    continue
                for row in rows:
                    found = [_condition_cell(crosstabs, earlier, by, row, o) for o in options]
                    cells = [cell for cell in found if cell is not None]
                    if len(cells) == len(options):  # otherwise no crosstab counts them all
                        answered = ("crosstabs", key, row, "answered")
                        plus = tuple(cells[1:])
                        groups.append(Group((answered,), cells[0], exact=False, plus=plus))
    return groups


def _nonempty(groups: Iterable[Group]) -> list[Group]:
    # A sum over nothing would claim its total is zero, which skipped questions make false.
    return [group for group in groups if group.members]


def constraint_groups(report: Mapping[str, Any]) -> list[Group]:
    """Return every sum published in the report, as groups of member paths and a total path."""
    groups: list[Group] = []
    questions = report.get("questions", {})
    crosstabs = report.get("crosstabs", {})
    if "completed" in report:
        groups.append(
            Group(
                tuple(("by_language", lang) for lang in report.get("by_language", {})),
                ("completed",),
            )
        )
    for name, question in questions.items():
        if not _is_multi(report, name):
            counts = tuple(("questions", name, "counts", option) for option in question["counts"])
            groups.append(Group(counts, ("questions", name, "answered")))
    for key, rows in crosstabs.items():
        name, _, by = key.partition("|")
        where = ("crosstabs", key)
        multi = _is_multi(report, name)
        for row, cell in rows.items():
            if not multi:
                counts = tuple((*where, row, "counts", option) for option in cell["counts"])
                groups.append(Group(counts, (*where, row, "answered")))
        for option in questions[name]["counts"]:
            column = tuple((*where, row, "counts", option) for row in rows)
            groups.append(Group(column, ("questions", name, "counts", option), exact=False))
        answered = tuple((*where, row, "answered") for row in rows)
        groups.append(Group(answered, ("questions", name, "answered"), exact=False))
        # "A|B" and "B|A" both count the people who chose a and b: one number published twice.
        mirror = f"{by}|{name}"
        if by in questions and mirror in crosstabs and key < mirror:
            for row, cell in rows.items():
                for option in cell["counts"]:
                    twin = ("crosstabs", mirror, option, "counts", row)
                    if option in crosstabs[mirror] and row in crosstabs[mirror][option]["counts"]:
                        groups.append(Group(((*where, row, "counts", option),), twin))
    groups += _skip_logic_groups(report)
    return _nonempty(groups)


def inequalities(report: Mapping[str, Any]) -> list[tuple[Path, Path]]:
    """Return pairs (small, large) of paths whose values always satisfy small <= large."""
    pairs: list[tuple[Path, Path]] = []
    questions = report.get("questions", {})
    if "started" in report and "completed" in report:
        pairs.append((("completed",), ("started",)))
    for name, question in questions.items():
        if "completed" in report:
            pairs.append((("questions", name, "answered"), ("completed",)))
        if _is_multi(report, name):
            answered = ("questions", name, "answered")
            pairs += [
                (("questions", name, "counts", option), answered) for option in question["counts"]
            ]
    for key, rows in report.get("crosstabs", {}).items():
        name, _, by = key.partition("|")
        multi = _is_multi(report, name)
        for row, cell in rows.items():
            answered = ("crosstabs", key, row, "answered")
            if multi:
                pairs += [
                    (("crosstabs", key, row, "counts", option), answered)
                    for option in cell["counts"]
                ]
            if by == LANGUAGE and row in report.get("by_language", {}):
                pairs.append((answered, ("by_language", row)))
            elif by in questions and row in questions[by]["counts"]:
                pairs.append((answered, ("questions", by, "counts", row)))
    return pairs


def multi_bounds(report: Mapping[str, Any]) -> list[Group]:
    """Return the bounds ``answered <= sum of counts`` of multi-choice questions and their rows.

    Whoever answers a multi-choice question chooses at least one option (the bot refuses an
    empty answer), so its counts add up to at least ``answered``: to exactly that when everyone
    chose one option, which an attacker may know. Never exact, so these are bounds, like the
    pairs of `inequalities`, not sums.
    """
    bounds: list[Group] = []
    for name, question in report.get("questions", {}).items():
        if _is_multi(report, name) and question["counts"]:
            counts = [("questions", name, "counts", option) for option in question["counts"]]
            answered = ("questions", name, "answered")
            bounds.append(Group((answered,), counts[0], exact=False, plus=tuple(counts[1:])))
    for key, rows in report.get("crosstabs", {}).items():
        if _is_multi(report, key.partition("|")[0]):
            for row, cell in rows.items():
                if not cell["counts"]:
                    continue
                where = ("crosstabs", key, row)
                counts = [(*where, "counts", option) for option in cell["counts"]]
                answered = (*where, "answered")
                bounds.append(Group((answered,), counts[0], exact=False, plus=tuple(counts[1:])))
    return bounds
