"""Primary suppression and the whole pass: a raw report in, its publishable copy out."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from bot.releases.suppression.complementary import complementary_suppression
from bot.releases.suppression.relations import (
    Group,
    Path,
    constraint_groups,
    count_paths,
    get_value,
    inequalities,
    multi_bounds,
)


def percent(part: int | None, whole: int | None) -> float | None:
    """Return 100 * part / whole, or None when either is suppressed or whole is 0."""
    # Percentages are computed only from published numbers: a percentage of a hidden count, or
    # over a hidden total, would give the hidden number back.
    if part is None or whole is None or whole == 0:
        return None
    return 100.0 * part / whole


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
    complementary_suppression(groups, pairs, values, order, hidden)

    published = copy.deepcopy(dict(raw))
    published["suppression_min"] = minimum
    for path in hidden:
        node = published
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = None
    return published
