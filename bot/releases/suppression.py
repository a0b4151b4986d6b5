"""Small-cell suppression for published aggregate reports (ARCHITECTURE.md, privacy point 4).

A raw report (exact counts, in the "Aggregate report" JSON shape) becomes a published report:

1. Primary suppression: every count from 1 to ``minimum - 1`` becomes ``None``. Zeros stay: a zero
   reveals nobody, and hiding it would not help anyway, since nobody can be fewer than zero.
2. Complementary suppression: more counts become ``None`` until none of the hidden ones can be
   worked out from what is still published. The report publishes sums (`constraint_groups`:
   language counts add up to ``completed``, a choice question's counts to ``answered``, crosstab
   columns to the question's counts, a question asked only after some answers (skip logic) to
   at most those answers' counts, ...) and bounds (`inequalities`: ``answered <= completed``,
   a multi-choice count <= its ``answered``, ...; `multi_bounds`: a multi-choice question's
   counts add up to at least its ``answered``). First the classic rule: no sum may have
   exactly one unknown. That rule alone is not enough (two blocks of hidden cells joined by one
   cell; two hidden 1s in a published sum of 2, since a hidden count is never 0; crosstabs of
   one question sharing its totals), so an audit follows and hides more where needed.

The attacker we protect against knows every published number, sum and bound, knows which "at
most" relations are equalities in this data (as if they knew nobody skipped), knows a hidden
count is at least 1 and a whole number. Every hidden count gets a witness: another whole-number
report, consistent with all of that, in which the count differs by 1. So no hidden count can be
pinned down, and every linear-programming range for it is at least 1 wide.

Paths name a count inside the report, e.g. ``("crosstabs", "afraid_to_seek_help|status", "lpr",
"counts", "yes")``. The raw report must carry ``"type"`` on every question (``"multi"`` marks a
question whose counts do not add up to ``answered``; every other type is treated as adding up),
and ``"when"`` on every question with skip logic (the questionnaire's ``when``: earlier question
id to the option ids that lead to it; a question without it counts as asked of everyone).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
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


def percent(part: int | None, whole: int | None) -> float | None:
    """Return 100 * part / whole, or None when either is suppressed or whole is 0."""
    # Percentages are computed only from published numbers: a percentage of a hidden count, or
    # over a hidden total, would give the hidden number back.
    if part is None or whole is None or whole == 0:
        return None
    return 100.0 * part / whole


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


def _check_counts(raw: Mapping[str, Any], paths: list[Path]) -> None:
    for path in paths:
        value = get_value(raw, path)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"count at {path} must be a non-negative integer, got {value!r}")


def suppress_report(raw: Mapping[str, Any], minimum: int) -> dict[str, Any]:
    """Return the publishable copy of a raw report: small counts and their giveaways set to None."""
    if isinstance(minimum, bool) or not isinstance(minimum, int):
        raise ValueError(f"minimum must be an integer, got {minimum!r}")
    paths = count_paths(raw)
    _check_counts(raw, paths)
    values = {path: get_value(raw, path) for path in paths}
    order = {path: index for index, path in enumerate(paths)}
    # "At most" pairs become one-member groups. One that happens to be equal (everyone who
    # answered A also answered B) publishes one number twice, and an attacker who guesses that
    # nobody skipped reads a hidden copy off the published one, so the classic rule treats it
    # as a sum; one with room to spare only gives a bound, which the audit still considers.
    # The same goes for a multi-choice question's counts, at least its answered.
    pairs = [Group((small,), large, exact=False) for small, large in inequalities(raw)]
    pairs += multi_bounds(raw)
    groups = constraint_groups(raw) + [
        pair
        for pair in pairs
        if sum(values[path] for path in pair.members)
        == sum(values[path] for path in pair.totals)
        > 0
    ]
    hidden = {path for path, value in values.items() if 0 < value < minimum}
    _complementary(groups, pairs, values, order, hidden)

    published = copy.deepcopy(dict(raw))
    published["suppression_min"] = minimum
    for path in hidden:
        node = published
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = None
    return published


def _complementary(
    groups: list[Group],
    pairs: list[Group],
    values: dict[Path, int],
    order: dict[Path, int],
    hidden: set[Path],
) -> None:
    # The classic rule first, then an audit; while the audit finds a hidden count it cannot
    # prove safe, hide one more non-zero cell next to it. The audit is exact about what the
    # published sums pin down (`_determined`), and then asks every hidden count for a witness:
    # another whole-number report, consistent with everything published, where that count
    # differs by 1 (`_witness`). Whole numbers matter: an attacker who finds that a count lies
    # in [1, 1.5] knows it is 1.
    #
    # This ends: every step hides one more cell, and once every non-zero cell linked to a
    # count is hidden, the relations around it are homogeneous, so doubling every hidden value
    # there is a witness (`settled` below).
    def rank(path: Path) -> tuple[int, int]:
        return values[path], order[path]

    def room(group: Group) -> int:
        return -sum(sign * values[path] for path, sign in group.terms)

    # Relations that hold as equalities in this data are sums for the attacker. The others (a
    # sum that needs "nobody skipped" when someone did, a pair with room) are only bounds.
    relations = groups + pairs
    equal = [group for group in relations if room(group) == 0]
    loose = [group for group in relations if room(group) > 0]
    by_path: dict[Path, list[Group]] = {}
    for group in relations:
        for path in group.paths:
            by_path.setdefault(path, []).append(group)
    witnessed: set[Path] = set()  # a witness stays valid when more cells are hidden

    def unsafe(cells: set[Path], sums: list[Group], bounds: list[Group]) -> list[Path]:
        pinned = _determined(sums, cells, values)
        if pinned:
            return pinned
        for path in sorted(cells - witnessed, key=order.__getitem__):
            if path not in witnessed:
                move = _witness(path, cells, sums, bounds, values, room)
                if move is None:
                    return [path]
                witnessed.update(move)
        return []

    def still_unsafe(target: Path, extra: Path) -> bool:
        # Only the relations linked to the target through hidden cells matter.
        trial = hidden | {extra}
        block = _block(target, by_path, trial)
        cells = {path for group in block for path in group.paths if path in trial}
        sums = [group for group in block if room(group) == 0]
        if target in _determined(sums, cells, values):
            return True
        bounds = [group for group in block if room(group) > 0]
        return _witness(target, cells, sums, bounds, values, room) is None

    settled: set[Path] = set()
    while True:
        _one_unknown_rule(groups, values, hidden, rank)
        todo = [path for path in unsafe(hidden, equal, loose) if path not in settled]
        if not todo:
            return
        target = min(todo, key=order.__getitem__)
        # Prefer the cheapest partner that on its own makes the target safe (in a table: closes
        # a cycle through a "bridge" cell); otherwise hide the cheapest partner and try again.
        near = sorted(
            {
                path
                for group in by_path[target]
                for path in group.paths
                if path not in hidden and values[path] > 0
            },
            key=rank,
        )
        if not near:
            near = sorted(
                {
                    path
                    for group in _block(target, by_path, hidden)
                    for path in group.paths
                    if path not in hidden and values[path] > 0
                },
                key=rank,
            )
        if not near:
            # Nothing non-zero is published anywhere around the target: doubling every hidden
            # value in its block is another report consistent with everything published.
            settled.add(target)
            witnessed.add(target)
            continue
        hidden.add(next((path for path in near if not still_unsafe(target, path)), near[0]))


def _witness(
    target: Path,
    cells: set[Path],
    sums: list[Group],
    bounds: list[Group],
    values: dict[Path, int],
    room: Callable[[Group], int],
    budget: int = 4000,
) -> set[Path] | None:
    """Return the cells of a +-1 change that moves target and keeps the report consistent."""
    # Search for d in {-1, 0, 1} on hidden cells with d[target] != 0, every sum still balanced,
    # every bound still met, and every hidden count still >= 1 (the attacker knows hidden counts
    # are not 0). Depth-first, always continuing with the unbalanced sum that has the fewest
    # ways to rebalance; limits on the number of changed cells find short cycles first. A
    # search that runs out of budget answers None, which only makes us hide more.
    terms: list[list[tuple[Path, int]]] = []
    sums_of: dict[Path, list[tuple[int, int]]] = {}
    for group in sums:
        row = [(path, sign) for path, sign in group.terms if path in cells]
        for path, sign in row:
            sums_of.setdefault(path, []).append((len(terms), sign))
        terms.append(row)
    bound_terms = [
        (group.terms, room(group)) for group in bounds if any(path in cells for path in group.paths)
    ]
    change: dict[Path, int] = {}
    imbalance = [0] * len(terms)
    nodes = 0

    def assign(path: Path, step: int) -> None:
        change[path] = step
        for index, sign in sums_of.get(path, []):
            imbalance[index] += sign * step

    def unassign(path: Path) -> None:
        step = change.pop(path)
        for index, sign in sums_of.get(path, []):
            imbalance[index] -= sign * step

    def within_bounds() -> bool:
        return all(
            sum(sign * change.get(path, 0) for path, sign in row) <= spare
            for row, spare in bound_terms
        )

    def search(limit: int) -> bool:
        nonlocal nodes
        nodes += 1
        if nodes > budget:
            return False
        open_sums = [index for index, value in enumerate(imbalance) if value]
        if not open_sums:
            return within_bounds()
        if len(change) >= limit:
            return False
        best: list[tuple[Path, int]] | None = None
        for index in open_sums:
            need = imbalance[index]
            options = [
                (path, step)
                for path, sign in terms[index]
                if path not in change
                for step in (-sign if need > 0 else sign,)
                if step > 0 or values[path] >= 2
            ]
            if len(options) < abs(need):
                return False
            if best is None or len(options) < len(best):
                best = options
        for path, step in best or []:
            assign(path, step)
            if search(limit):
                return True
            unassign(path)
        return False

    for limit in (4, 8, 16, len(cells)):
        for step in (1, -1):
            if step < 0 and values[target] < 2:
                continue
            assign(target, step)
            if search(limit):
                return set(change)
            unassign(target)
    return None


def _one_unknown_rule(
    groups: list[Group],
    values: dict[Path, int],
    hidden: set[Path],
    rank: Callable[[Path], tuple[int, int]],
) -> None:
    # The classic rule: a sum with exactly one unknown gives it away, so hide the smallest
    # non-zero published member (or total). Hiding a zero protects nothing: non-negativity pins
    # it. When the sum holds, the hidden value is at least 1 so a non-zero partner exists; a sum
    # that does not hold (someone skipped) may have none, and then it pins nothing true anyway.
    changed = True
    while changed:
        changed = False
        for group in groups:
            unknown = [path for path in group.paths if path in hidden]
            if len(unknown) == 1:
                candidates = [
                    path for path in group.paths if path not in hidden and values[path] > 0
                ]
                if candidates:
                    hidden.add(min(candidates, key=rank))
                    changed = True


def _block(target: Path, by_path: dict[Path, list[Group]], hidden: set[Path]) -> list[Group]:
    # The groups linked to target through hidden cells: the only sums that can pin it.
    seen, todo, found = {target}, [target], []
    linked: set[int] = set()
    while todo:
        for group in by_path.get(todo.pop(), []):
            if id(group) in linked:
                continue
            linked.add(id(group))
            found.append(group)
            for path in group.paths:
                if path in hidden and path not in seen:
                    seen.add(path)
                    todo.append(path)
    return found


def _determined(groups: list[Group], hidden: set[Path], values: dict[Path, int]) -> list[Path]:
    """Return the hidden paths whose value follows from the published sums."""
    # Exact arithmetic throughout: a rounding slip here would publish a recoverable count.
    # The attacker knows the published sums and that every hidden count is at least 1 (zeros
    # are always published). Hidden counts of 2 or more sit strictly inside that bound, so
    # only the linear sums can pin them; a hidden 1 sits on the bound and can also be pinned
    # by it (two hidden 1s in a sum of 2). So: first find the hidden 1s that no feasible change
    # can raise (those are pinned), then a count is pinned when the sums, with those 1s known,
    # determine it, i.e. when its unit vector lies in their row space.
    rows = []
    for group in groups:
        row: dict[Path, Fraction] = {}
        for path, sign in group.terms:
            if path in hidden:
                row[path] = row.get(path, Fraction(0)) + sign
        rows.append(row)
    pivots = _reduce(rows, {})
    free = sorted(hidden - pivots.keys())
    # Changes that keep every sum: one per free (non-pivot) cell, moving the pivots along.
    # Blocks of cells linked by sums are independent, so each gets its own small program.
    component = _components(rows)
    blocks: dict[Path, list[dict[Path, Fraction]]] = {}
    for f in free:
        direction = {f: Fraction(1), **{p: -row[f] for p, row in pivots.items() if f in row}}
        if any(values[path] == 1 for path in direction):
            blocks.setdefault(component(f), []).append(direction)
    stuck: list[dict[Path, Fraction]] = []
    ones = {path for path in hidden if values[path] == 1}
    for block_root in sorted(blocks):
        directions = blocks[block_root]
        block_ones = sorted({path for d in directions for path in d if path in ones})
        columns = _independent(
            [tuple(d.get(path, Fraction(0)) for path in block_ones) for d in directions]
        )
        movable = _nonneg_support(len(block_ones), columns)
        stuck += [{path: Fraction(1)} for i, path in enumerate(block_ones) if i not in movable]
    # A hidden 1 that no free change touches is pinned already (its row is a unit vector).
    pivots = _reduce(stuck, pivots)
    return sorted(path for path, row in pivots.items() if len(row) == 1)


def _components(rows: list[dict[Path, Fraction]]) -> Callable[[Path], Path]:
    # Union-find over cells that share a sum: cells in different components never interact.
    parent: dict[Path, Path] = {}

    def find(path: Path) -> Path:
        parent.setdefault(path, path)
        while parent[path] != path:
            parent[path] = parent[parent[path]]
            path = parent[path]
        return path

    for row in rows:
        cells = list(row)
        for path in cells[1:]:
            parent[find(path)] = find(cells[0])
    return find


def _independent(columns: list[tuple[Fraction, ...]]) -> list[tuple[Fraction, ...]]:
    # Keep a basis of the columns' span: the program only needs the span, and fewer columns
    # keep the exact simplex small.
    basis: list[tuple[Fraction, ...]] = []
    reduced: list[tuple[int, list[Fraction]]] = []  # (pivot index, reduced vector)
    for column in columns:
        vector = list(column)
        for index, other in reduced:
            if vector[index]:
                factor = vector[index] / other[index]
                vector = [a - factor * b for a, b in zip(vector, other, strict=True)]
        lead = next((i for i, value in enumerate(vector) if value), None)
        if lead is not None:
            reduced.append((lead, vector))
            basis.append(column)
    return basis


def _reduce(
    rows: Iterable[dict[Path, Fraction]], pivots: dict[Path, dict[Path, Fraction]]
) -> dict[Path, dict[Path, Fraction]]:
    # Reduced row echelon form, kept sparse: every pivot cell appears in its own row only, so a
    # cell is determined exactly when its row has nothing else in it.
    for row in rows:
        row = {path: coef for path, coef in row.items() if coef}
        for path in [path for path in row if path in pivots]:
            coef = row.get(path)
            if coef:
                for other, value in pivots[path].items():
                    row[other] = row.get(other, Fraction(0)) - coef * value
                row = {key: value for key, value in row.items() if value}
        if not row:
            continue
        pivot = min(row)
        scale = row[pivot]
        row = {path: value / scale for path, value in row.items()}
        for other_row in pivots.values():
            coef = other_row.get(pivot)
            if coef:
                for path, value in row.items():
                    other_row[path] = other_row.get(path, Fraction(0)) - coef * value
                for path in [path for path, value in other_row.items() if not value]:
                    del other_row[path]
        pivots[pivot] = row
    return pivots


def _nonneg_support(size: int, columns: list[tuple[Fraction, ...]]) -> set[int]:
    """Return the coordinates that some non-negative vector in the span of columns has > 0."""
    # A column that is all >= 0 or all <= 0 answers for its support at once; the rest needs
    # small linear programs: maximise the sum of the open coordinates over non-negative
    # vectors of the span whose open coordinates sum to at most 1. A positive optimum
    # settles at least one more coordinate; an optimum of 0 says none of the rest can move.
    movable: set[int] = set()
    for column in columns:
        if all(value >= 0 for value in column) or all(value <= 0 for value in column):
            movable.update(i for i, value in enumerate(column) if value)
    width = len(columns)
    while True:
        open_ = [i for i in range(size) if i not in movable]
        if not open_:
            return movable
        # Variables: l+ (width), l- (width); rows: -z_i <= 0 for all i, sum of open z <= 1.
        rows = [[-c[i] for c in columns] + [c[i] for c in columns] for i in range(size)]
        norm = [sum(c[i] for i in open_) for c in columns]
        rows.append(norm + [-value for value in norm])
        bounds = [Fraction(0)] * size + [Fraction(1)]
        x = _simplex(rows, bounds, norm + [-value for value in norm])
        weights = [(c, x[j] - x[width + j]) for j, c in enumerate(columns) if x[j] or x[width + j]]
        gained = {i for i in open_ if sum(c[i] * w for c, w in weights if c[i]) > 0}
        if not gained:
            return movable
        movable |= gained


def _simplex(rows: list[list[Fraction]], bounds: list[Fraction], gain: list[Fraction]):
    """Return x >= 0 maximising gain . x subject to rows . x <= bounds (all bounds >= 0)."""
    # Exact tableau simplex with Bland's rule, which cannot cycle; x = 0 is feasible because
    # every bound is >= 0, so no first phase is needed.
    n_vars = len(gain)
    n_rows = len(rows)
    table = []
    for k, (row, bound) in enumerate(zip(rows, bounds, strict=True)):
        slack = [Fraction(0)] * n_rows
        slack[k] = Fraction(1)
        table.append([Fraction(v) for v in row] + slack + [Fraction(bound)])
    objective = [Fraction(v) for v in gain] + [Fraction(0)] * (n_rows + 1)
    basis = list(range(n_vars, n_vars + n_rows))
    while True:
        enter = next((j for j, value in enumerate(objective[:-1]) if value > 0), None)
        if enter is None:
            break
        ratios = [
            (row[-1] / row[enter], basis[k], k) for k, row in enumerate(table) if row[enter] > 0
        ]
        if not ratios:
            raise ArithmeticError("unbounded linear program")  # callers bound their objective
        leave = min(ratios)[2]
        pivot_row = table[leave]
        factor = pivot_row[enter]
        pivot_row[:] = [value / factor if value else value for value in pivot_row]
        for row in [*table, objective]:
            if row is not pivot_row and row[enter]:
                factor = row[enter]
                row[:] = [a - factor * b if b else a for a, b in zip(row, pivot_row, strict=True)]
        basis[leave] = enter
    x = [Fraction(0)] * n_vars
    for var, row in zip(basis, table, strict=True):
        if var < n_vars:
            x[var] = row[-1]
    return x
