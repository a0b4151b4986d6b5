"""The exact audit: which hidden counts the published sums pin down.

Exact arithmetic (fractions, a tableau simplex with Bland's rule): a rounding slip here would
publish a recoverable count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from fractions import Fraction

from bot.releases.suppression.relations import Group, Path


def determined(groups: list[Group], hidden: set[Path], values: dict[Path, int]) -> list[Path]:
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
