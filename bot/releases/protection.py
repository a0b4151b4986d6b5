"""The one seam through which every published figure passes: raw report in, published out.

Every release (bot/releases/releases.py) protects each of its reports here, and nothing else
turns exact counts into shown ones. Today the body is per-report small-cell suppression
(`bot.releases.suppression.suppress_report`) plus the funnel rules of bot/releases/funnel.py;
the cell-key perturbation (bot/releases/cellkey.py) is meant to replace it, with the same
inputs and the same output shape (a count or None wherever the raw report has a count, plus
"bands" for hidden headlines and the "funnel" when the raw report has one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.releases.cellkey import perturb_report, protect_release
from bot.releases.funnel import perturb_funnel, protect_funnel
from bot.releases.suppression import suppress_report


def protect(raw_report: Mapping[str, Any], keys: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The report as it may be shown outside the database.

    `raw_report` has the "Aggregate report" shape with exact counts (its "suppression_min"
    the small-cell minimum), optionally with a raw "funnel" (`bot.releases.funnel.raw_funnel`).
    `keys` is the cell key of every count, in the report's shape
    (`bot.releases.cellkey.key_report`): every release passes them, and every count is then
    perturbed by its key and hidden below the minimum (`cellkey.protect_release`), the one
    protection that holds across every release a viewer collects (tests/test_release_attack.py).
    Without keys (a report nobody publishes across releases), per-report suppression.
    """
    report = {k: v for k, v in raw_report.items() if k != "funnel"}
    minimum = int(report["suppression_min"])
    if keys is None:
        shown, published = report, suppress_report(report, minimum)
    else:
        shown = perturb_report(report, keys)  # before hiding: what bands and chains compare
        published = protect_release(report, keys, minimum)
    bands = headline_bands(shown, published)
    if bands:
        published["bands"] = bands
    if "funnel" in raw_report:
        funnel = raw_report["funnel"]
        funnel = funnel if keys is None else perturb_funnel(funnel)
        published["funnel"] = protect_funnel(funnel, shown, published, minimum)
    return published


# The share bands of a hidden yes/no headline: (upper bound of the share, band name).
BANDS = ((0.4, "fewer_than_half"), (0.6, "about_half"), (1.0, "more_than_half"))


def headline_bands(raw: Mapping[str, Any], published: Mapping[str, Any]) -> dict[str, str]:
    """For each question whose "yes" count is hidden, the band of its share ("more than
    half", ...), so a small week's email still has a headline. Only when at least twice the
    small-cell minimum answered: a band of a handful of answers would nearly give them away."""
    minimum = int(raw["suppression_min"])
    bands = {}
    for question_id, data in raw.get("questions", {}).items():
        yes, answered = data.get("counts", {}).get("yes"), data.get("answered") or 0
        shown = published.get("questions", {}).get(question_id, {}).get("counts", {})
        if yes is None or shown.get("yes") is not None or answered < 2 * minimum:
            continue
        share = yes / answered
        bands[question_id] = next(name for bound, name in BANDS if share < bound or bound == 1.0)
    return bands
