"""Complementary suppression: hide more counts until no hidden one can be worked out.

The classic rule (no published sum with exactly one unknown) first, then an audit: every hidden
count must be left undetermined by the published sums (`audit.determined`) and have a witness,
another whole-number report consistent with everything published where it differs by 1.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.releases.suppression.audit import determined
from bot.releases.suppression.relations import Group, Path


def complementary_suppression(
    groups: list[Group],
    pairs: list[Group],
    values: dict[Path, int],
    order: dict[Path, int],
    hidden: set[Path],
) -> None:
    # The classic rule first, then an audit; while the audit finds a hidden count it cannot
    # prove safe, hide one more non-zero cell next to it. The audit is exact about what the
    # published sums pin down (`audit.determined`), and then asks every hidden count for a witness:
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
        pinned = determined(sums, cells, values)
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
        if target in determined(sums, cells, values):
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
