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

from bot.releases.suppression.primary import percent, suppress_report
from bot.releases.suppression.relations import (
    LANGUAGE,
    Group,
    Path,
    constraint_groups,
    count_paths,
    get_value,
    inequalities,
    multi_bounds,
)

__all__ = [
    "LANGUAGE",
    "Group",
    "Path",
    "constraint_groups",
    "count_paths",
    "get_value",
    "inequalities",
    "multi_bounds",
    "percent",
    "suppress_report",
]
