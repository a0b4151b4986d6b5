"""The differencing attack a viewer of the bot's releases can run, against the release design.

A viewer saves everything the bot publishes over a wave of three weeks (4-13 responses a day):
every release of the wave so far (one a day, once RELEASE_MIN_NEW new responses are in, so two
or three a week), with each release the table of every week it touches (that week's records up
to the release), the margins, the crosstabs by status and by language once a table publishes
CROSSTAB_MIN responses, and the conditional question (fear reasons, asked only of the afraid).
Every number goes through `bot.releases.cellkey.protect_release`. The viewer then solves for the
responses: one unknown whole count per (segment, language, full answer combination), a segment
being the part of the stretch between two releases that falls in one week, and knows:

* the p-table's ranges: a shown p comes from p - D .. p + D (at least 1), a hidden value
  (published below 5, zeros included) from 0 .. 4 + D;
* that nobody skipped, and which answer combinations exist (the unknowns are only those);
* that every stretch holds at least RELEASE_MIN_NEW responses, and in the tests' viewer
  (`VIEWER`) even exactly how many, an oracle no real viewer has;
* that the same records always publish the same number: so when a count covers a subset of the
  records of another and the two published values differ (hidden differs from any shown
  value), the larger set has at least one more record.

Integer programming (HiGHS, through scipy.optimize.milp) must not pin down (min == max over
every whole-number solution) any published or hidden count whose truth is 1 to 4, nor the
number of responses of any answer combination between two consecutive releases (per segment
and language, per release and language, per release). A few solutions with random objectives
are found first; any exact solution that differs from the truth on a count proves it is not
pinned, and only the counts they leave open get their own two programs.

Figures (`python -m tests.test_release_attack` prints them for every variant in VARIANTS; seed
2026, one core): pinned small counts / answer-combination counts between releases.

* the first helper's +-2 noise, nothing hidden, a release at every 20th response: 68 / 267 and
  6 / 313 (the attack works);
* +-3, nothing hidden, every 20th: 21 / 267 and 2 / 313;
* +-2, hide < 5, daily releases, crosstabs from 40: 0 / 151 and 0 / 260 (also at every 20th);
* the design (+-3, hide < 5, daily, crosstabs from 40): 0 / 151 and 0 / 260, also when the
  viewer is told every stretch's size, also with a release at every 20th response (0 / 186,
  0 / 313), and for seeds 1-4 (0 / 138, 144, 137, 160);
* +-4, hide < 5: 0 / 151 and 0 / 260.

The questionnaire is cut down (status, afraid, two fear reasons, with their crosstabs by status
and language) so each program stays small; the attack's structure is the real report's.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sys
import time
from dataclasses import dataclass, replace
from itertools import product

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_matrix, vstack

from bot.core.questionnaire import load_questionnaire
from bot.releases.cellkey import (
    CROSSTAB_MIN,
    MAX_NOISE,
    RECORD_KEY_SPACE,
    RELEASE_MIN_NEW,
    SMALL_CELL_MIN,
    crosstabs_allowed,
    key_report,
    protect_release,
    published_range,
)
from bot.releases.report import build_raw_report
from bot.releases.suppression import percent
from tests.cellkey_utils import Record, keyed_profiles, report_paths, value_at

WEEKS = ["2026-W45", "2026-W46", "2026-W47"]
DAILY = (4, 13)  # responses a day, uniformly: about 60 a week, a release every two or three days
PERIOD = (dt.date(2026, 11, 2), dt.date(2026, 11, 22))
LANGUAGES = {"en": 0.25, "es": 0.65, "ht": 0.10}  # Kreyol speakers: a small group
STATUS = {
    "citizen": 0.15,
    "lpr": 0.25,
    "other_status": 0.15,
    "undocumented": 0.4,
    "no_answer": 0.05,
}
AFRAID = {"citizen": 0.15, "lpr": 0.37, "other_status": 0.6, "undocumented": 0.85, "no_answer": 0.5}
REASONS = ("ice_collaboration", "deportation")


@dataclass(frozen=True)
class Design:
    """How releases are made (the defaults are bot.releases.cellkey's), and what the viewer
    is told about their sizes."""

    max_noise: int = MAX_NOISE
    minimum: int = SMALL_CELL_MIN  # published values below it are hidden (0: none are)
    crosstab_min: int = CROSSTAB_MIN
    weekly: bool = True  # each release also shows the weeks it touches
    # True: a release fires at exactly every RELEASE_MIN_NEW-th response, and the viewer knows
    # every stretch's size. False (the design): releases are made once a day when at least
    # RELEASE_MIN_NEW new responses arrived, so the viewer only knows a stretch holds at least
    # that many (its published total is perturbed like every count).
    exact_sizes: bool = False
    # True: the viewer is told how many responses each stretch holds anyway (an oracle no real
    # viewer has under daily releases; the tests grant it, to leave no doubt).
    told_sizes: bool = False


def attack_questionnaire():
    q = load_questionnaire()
    fear = q.question("fear_reasons")
    fear = replace(fear, options=tuple(o for o in fear.options if o.id in REASONS))
    questions = (q.question("status"), q.question("afraid_to_seek_help"), fear)
    crosstabs = tuple(pair for pair in q.crosstabs if pair[1] in ("status", "language"))
    return replace(q, questions=questions, crosstabs=crosstabs)


def combinations():
    """Every full answer combination of the cut-down survey (nobody skips)."""
    fear = [("no", None), ("yes", ["deportation"]), ("yes", ["ice_collaboration"])]
    fear.append(("yes", ["deportation", "ice_collaboration"]))
    return [
        {"status": status, "afraid_to_seek_help": afraid, "fear_reasons": reasons}
        for status, (afraid, reasons) in product(STATUS, fear)
    ]


def pick(rng, weights):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def wave_days(seed=2026):
    """The wave's responses, day by day, in the order they came, with a skewed mix."""
    rng = random.Random(seed)
    days = []
    for week in WEEKS:
        for _ in range(7):
            day = []
            for _ in range(rng.randint(*DAILY)):
                status = pick(rng, STATUS)
                answers = {"status": status, "afraid_to_seek_help": "no", "fear_reasons": None}
                if rng.random() < AFRAID[status]:
                    reasons = [
                        r
                        for r, p in (("ice_collaboration", 0.3), ("deportation", 0.85))
                        if rng.random() < p
                    ]
                    answers = {**answers, "afraid_to_seek_help": "yes"}
                    answers["fear_reasons"] = sorted(reasons or ["deportation"])
                language = pick(rng, LANGUAGES)
                day.append(Record(week, language, answers, rng.randrange(RECORD_KEY_SPACE)))
            days.append(day)
    return days


def stretches(days, design):
    """The records between consecutive releases of the wave so far (the last, unreleased
    responses left out)."""
    out, pending = [], []
    for day in days:
        for record in day:
            pending.append(record)
            if design.exact_sizes and len(pending) == RELEASE_MIN_NEW:
                out.append(pending)
                pending = []
        if not design.exact_sizes and len(pending) >= RELEASE_MIN_NEW:
            out.append(pending)  # the day's scheduled release
            pending = []
    return out


def report(q, records, design=None):
    """The raw report of some records (design None), or its published form under a design."""
    profiles = keyed_profiles(q, records)
    raw = build_raw_report(q, profiles, wave="w", period=PERIOD, started=0, minimum=5)
    if design is None:
        return raw
    return protect_release(
        raw, key_report(q, profiles), design.minimum, design.max_noise, design.crosstab_min
    )


class Attack:
    """The viewer's integer program over everything published, plus what the truth was.

    Unknowns: how many responses of each (language, answer combination) were filed in each
    segment, a segment being the part of a stretch between two releases that falls in one week.
    """

    def __init__(self, q, days, design):
        self.design = design
        combos = combinations()
        cells = [(lang, i) for lang in LANGUAGES for i in range(len(combos))]
        runs = stretches(days, design)
        segments = sorted({(s, r.week) for s, run in enumerate(runs) for r in run})
        self.segments = segments
        self.names = [(s, w, lang, i) for s, w in segments for lang, i in cells]
        index = {name: k for k, name in enumerate(self.names)}
        # What one response of each cell adds to each count: the report asked about it alone.
        probe = report(q, [Record(WEEKS[0], "en", combos[0], 0)])
        paths = [p for p in report_paths(probe) if p != ("started",)]
        unit = np.array(
            [
                [value_at(report(q, [Record(WEEKS[0], lang, combos[i], 0)]), p) for p in paths]
                for lang, i in cells
            ]
        )
        self.truth = np.zeros(len(self.names), dtype=int)
        for s, run in enumerate(runs):
            for record in run:
                i = combos.index(record.answers)
                self.truth[index[(s, record.week, record.language, i)]] += 1
        self.tables = []
        for r, run in enumerate(runs):
            self.tables.append((f"wave so far at release {r + 1}", lambda seg, r=r: seg[0] <= r))
            if design.weekly:
                for week in sorted({x.week for x in run}):
                    self.tables.append(
                        (
                            f"{week} at release {r + 1}",
                            lambda seg, r=r, week=week: seg[0] <= r and seg[1] == week,
                        )
                    )
        rows, published, true, labels = {}, [], [], []
        for name, covers in self.tables:
            chosen = [k for k, seg in enumerate(segments) if covers(seg)]
            scope = [
                rec
                for s, run in enumerate(runs)
                for rec in run
                if any(segments[k] == (s, rec.week) for k in chosen)
            ]
            shown, exact = report(q, scope, design), report(q, scope)
            with_crosstabs = crosstabs_allowed(shown["completed"], design.crosstab_min)
            for k, path in enumerate(paths):
                if path[0] == "crosstabs" and not with_crosstabs:
                    continue  # not published at all: nothing to learn from it
                row = np.zeros(len(self.names))
                for seg in chosen:
                    row[seg * len(cells) : (seg + 1) * len(cells)] = unit[:, k]
                support = row.tobytes()
                if support in rows:  # same records: the same number again, nothing new
                    assert published[rows[support]] == value_at(shown, path)
                    continue
                rows[support] = len(published)
                published.append(value_at(shown, path))
                true.append(value_at(exact, path))
                labels.append((name, *path))
        self.A = np.array([np.frombuffer(b) for b in rows])
        self.published, self.true, self.labels = published, np.array(true), labels
        assert (self.A @ self.truth == self.true).all()  # the model counts what the report counts
        low, high = (
            np.array(bound)
            for bound in zip(
                *(published_range(p, design.max_noise, design.minimum or 1) for p in published),
                strict=True,
            )
        )
        if not design.minimum:  # nothing hidden: published_range's None case never arises
            assert all(p is not None for p in published)
        self.hidden = sum(p is None for p in published)
        constraints = [(self.A, low, high)]
        # Responses between two releases: exactly so many, or at least RELEASE_MIN_NEW.
        size = np.array([[1.0 if n[0] == s else 0.0 for n in self.names] for s in range(len(runs))])
        if design.exact_sizes or design.told_sizes:
            counts = np.array([len(run) for run in runs])
            constraints.append((size, counts, counts))
        else:
            constraints.append((size, RELEASE_MIN_NEW, np.inf))
        # Same records, same number: a count over a subset of another's records whose published
        # value differs (a hidden value differs from any shown one) counts fewer records.
        subset = (self.A @ (1 - self.A).T == 0) & (self.A.sum(1)[:, None] < self.A.sum(1))
        hidden = np.array([p is None for p in published])
        value = np.array([-1 if p is None else p for p in published])
        differ = (hidden[:, None] != hidden[None, :]) | (
            ~hidden[:, None] & ~hidden[None, :] & (value[:, None] != value[None, :])
        )
        implied = low[None, :] - high[:, None] >= 1  # the ranges already say so
        a, b = np.nonzero(subset & differ & ~implied)
        self.strict_pairs = len(a)
        if len(a):
            constraints.append((self.A[b] - self.A[a], 1, np.inf))
        self.matrix = vstack([csr_matrix(m) for m, _, _ in constraints]).tocsr()
        self.lb = np.concatenate([np.broadcast_to(lo, (m.shape[0],)) for m, lo, _ in constraints])
        self.ub = np.concatenate([np.broadcast_to(hi, (m.shape[0],)) for m, _, hi in constraints])
        found = self.matrix @ self.truth
        assert (found >= self.lb).all() and (found <= self.ub).all()  # the truth is a solution
        self.upper = int(high.max())  # no unknown exceeds the largest published count's range
        self.pool = [self.truth]  # feasible programs found so far (the truth is one)
        self.solves = 0

    def solve(self, row, low, high, objective=None):
        """A whole-number solution with low <= row . x <= high, or None."""
        self.solves += 1
        constraints = LinearConstraint(
            vstack([self.matrix, csr_matrix(row)]),
            np.append(self.lb, low),
            np.append(self.ub, high),
        )
        zero = np.zeros(len(self.names)) if objective is None else objective
        bounds = Bounds(0, self.upper)
        # The relaxation first: when even fractions cannot do it, whole numbers cannot either.
        if milp(zero, constraints=constraints, bounds=bounds).status != 0:
            return None
        result = milp(zero, constraints=constraints, integrality=np.ones(len(zero)), bounds=bounds)
        if result.status != 0:
            return None
        x = np.round(result.x).astype(int)
        # A witness must be an exact whole-number solution, not one within the solver's
        # tolerances: otherwise "not pinned" would rest on a report no release could come from.
        found = self.matrix @ x
        assert (x >= 0).all() and (found >= self.lb).all() and (found <= self.ub).all()
        assert low <= row @ x <= high
        self.pool.append(x)
        return x

    def explore(self, count, seed=0):
        """Solutions far from the truth, to settle most questions without a program each."""
        rng = np.random.default_rng(seed)
        for _ in range(count):
            self.solve(np.zeros(len(self.names)), 0, 0, rng.normal(size=len(self.names)))

    def pinned(self, row) -> bool:
        """Whether every solution gives row . x the value the truth gives it."""
        value = row @ self.truth
        if any(row @ x != value for x in self.pool[1:]):
            return False
        return (
            self.solve(row, value + 1, np.inf) is None
            and self.solve(row, -np.inf, value - 1) is None
        )

    def small_pinned(self):
        """Every published or hidden count with a true 1..4 that the program pins."""
        small = [k for k, t in enumerate(self.true) if 1 <= t <= 4]
        return small, [self.labels[k] for k in small if self.pinned(self.A[k])]

    def singles_pinned(self):
        """Answer-combination counts between two releases (per segment and language, per
        release and language, per release) that the program pins."""
        rows = [np.eye(len(self.names))[k] for k, t in enumerate(self.truth) if t >= 1]
        stretches = max(n[0] for n in self.names) + 1
        combos = len(combinations())
        for s, i, lang in product(range(stretches), range(combos), [*LANGUAGES, None]):
            row = np.array(
                [
                    1.0 if (n[0], n[3]) == (s, i) and lang in (None, n[2]) else 0.0
                    for n in self.names
                ]
            )
            if row @ self.truth >= 1:
                rows.append(row)
        pinned = [[self.names[k] for k in np.flatnonzero(r)] for r in rows if self.pinned(r)]
        return rows, pinned


def run(design, explore=8, seed=2026):
    """The whole attack under one design: (attack, small counts, pinned, single rows, pinned)."""
    started = time.perf_counter()
    attack = Attack(attack_questionnaire(), wave_days(seed), design)
    attack.build_seconds = time.perf_counter() - started
    attack.explore(explore)
    small, pinned = attack.small_pinned()
    singles, singles_pinned = attack.singles_pinned()
    attack.seconds = time.perf_counter() - started
    return attack, small, pinned, singles, singles_pinned


# The releases as bot.releases.cellkey makes them, and a viewer told even every stretch's size.
VIEWER = Design(told_sizes=True)


@pytest.fixture(scope="module")
def attack():
    started = time.perf_counter()
    attack = Attack(attack_questionnaire(), wave_days(), VIEWER)
    attack.explore(8)
    attack.build_seconds = time.perf_counter() - started
    return attack


def test_the_viewer_has_everything_the_issue_names(attack):
    # Several weeks, several releases a week, weekly tables, crosstabs, margins, the conditional
    # question; hidden cells and shown ones among the small counts; subset pairs in use.
    tables = [name for name, _ in attack.tables]
    assert len([x for x in tables if x.startswith("wave so far")]) >= 7
    assert len([x for x in tables if x.startswith("2026-W")]) >= 8
    kinds = {label[1] for label in attack.labels}
    assert kinds == {"completed", "by_language", "questions", "crosstabs"}
    assert any("fear_reasons" in label for label in attack.labels)
    small = [k for k, t in enumerate(attack.true) if 1 <= t <= 4]
    assert len(small) > 50
    assert attack.hidden > 30 and any(attack.published[k] is not None for k in small)
    assert attack.strict_pairs > 100


def test_no_published_or_hidden_small_count_is_pinned_down(attack):
    started = time.perf_counter()
    small, pinned = attack.small_pinned()
    print(
        f"\n{len(attack.true)} distinct counts ({attack.hidden} hidden), {len(small)} with a "
        f"true 1..4, {attack.strict_pairs} subset pairs known to differ, {attack.solves} "
        f"programs solved in {time.perf_counter() - started:.1f} s "
        f"(setup {attack.build_seconds:.1f} s)"
    )
    assert pinned == [], f"{len(pinned)} of {len(small)} small counts pinned: {pinned}"


def test_no_response_between_two_releases_is_given_away(attack):
    # Between two consecutive releases of the wave so far, how many answered each combination
    # (in each language and week, and overall) must never be pinned down: a viewer who could,
    # and who knew one person answered then, would know that person's answers.
    started, solves = time.perf_counter(), attack.solves
    rows, pinned = attack.singles_pinned()
    print(
        f"\n{len(rows)} answer-combination counts between releases, "
        f"{attack.solves - solves} programs solved in {time.perf_counter() - started:.1f} s"
    )
    assert pinned == [], f"{len(pinned)} of {len(rows)} pinned: {pinned}"


def headline(published):
    """The share afraid to seek help, in percent, as a published report shows it (or None)."""
    afraid = published["questions"]["afraid_to_seek_help"]
    return percent(afraid["counts"]["yes"], afraid["answered"])


def headline_error_at_500(max_noise, seeds=range(40)):
    """The worst distance of the published headline from the exact one over ``seeds``."""
    from tests.test_study import study_respondents

    q = load_questionnaire()
    people = study_respondents()
    random.Random(500).shuffle(people)
    people = people[:500]
    worst = 0.0
    for seed in seeds:
        rng = random.Random(seed)
        records = [
            Record("2026-W47", lang, answers, rng.randrange(RECORD_KEY_SPACE))
            for answers, lang in people
        ]
        exact, shown = report(q, records), report(q, records, Design(max_noise=max_noise))
        worst = max(worst, abs(headline(shown) - headline(exact)))
    return worst


def test_the_headline_stays_within_a_point_at_500_responses():
    # The bound holds for every key, not only these seeds: yes ~ 280 and answered ~ 500, each
    # off by at most 3, put the share off by at most (3 + 0.56 * 3) / 497 < 0.95 points.
    assert headline_error_at_500(MAX_NOISE) < 1.0


def small_wave(weeks=4, seed=7):
    """20 to 40 answers a week, over the week's days, from the study's mix of answers."""
    from tests.test_study import study_respondents

    rng = random.Random(seed)
    people = study_respondents()
    rng.shuffle(people)
    days = []
    for w in range(weeks):
        count = rng.randint(20, 40)
        for day in range(7):
            share = [people.pop() for _ in range(count // 7 + (day < count % 7))]
            days.append(
                [
                    Record(f"2026-W{45 + w}", lang, answers, rng.randrange(RECORD_KEY_SPACE))
                    for answers, lang in share
                ]
            )
    return days


def test_a_small_wave_still_has_a_headline_every_week():
    # 20-40 answers a week, a release on each day with at least RELEASE_MIN_NEW new answers,
    # and a weekly email on Monday showing the latest release: the wave so far, and the week
    # just ended as far as that release covers it.
    q = load_questionnaire()
    days = small_wave()
    released, pending, emails = [], [], []
    for number, day in enumerate(days, start=1):
        pending += day
        if len(pending) >= RELEASE_MIN_NEW:
            released, pending = released + pending, []
        if number % 7 == 0:
            week = day[0].week
            this_week = [r for r in released if r.week == week]
            emails.append(
                {
                    "wave": (report(q, released), report(q, released, Design())),
                    "week": (report(q, this_week), report(q, this_week, Design())),
                }
            )
    for number, email in enumerate(emails, start=1):
        (wave_exact, wave), (_, week) = email["wave"], email["week"]
        # The wave so far always has its total and its headline, close to the truth...
        assert wave["completed"] is not None and headline(wave) is not None
        assert abs(wave["completed"] - wave_exact["completed"]) <= MAX_NOISE
        worst = 100 * (1 + 1) * MAX_NOISE / (wave_exact["completed"] - MAX_NOISE)
        assert abs(headline(wave) - headline(wave_exact)) <= worst
        # ... and the week's own total is shown too (its headline, over 20-40, is rough).
        assert week["completed"] is not None
        # Crosstabs appear once the wave so far publishes CROSSTAB_MIN answers.
        shown = any(
            cell["answered"] is not None
            for cell in wave["crosstabs"]["afraid_to_seek_help|status"].values()
        )
        assert shown == crosstabs_allowed(wave["completed"])
        if number >= 2:
            assert shown
    # By the fourth week (about 120 answers) the headline is within a few points.
    assert abs(headline(emails[-1]["wave"][1]) - headline(emails[-1]["wave"][0])) < 5


VARIANTS = {
    "design (+-3, hide <5, daily releases, crosstabs from 40)": Design(),
    "design, viewer told every stretch's size (the tests' viewer)": VIEWER,
    "design but a release at every 20th response": Design(exact_sizes=True),
    "+-2 only (the first helper's)": Design(
        max_noise=2, minimum=0, crosstab_min=0, exact_sizes=True
    ),
    "+-3, nothing hidden, exact sizes": Design(minimum=0, crosstab_min=0, exact_sizes=True),
    "+-2, hide <5": Design(max_noise=2),
    "+-2, hide <5, exact sizes": Design(max_noise=2, exact_sizes=True),
    "+-4, hide <5": Design(max_noise=4),
}

if __name__ == "__main__":  # python -m tests.test_release_attack [variant substrings]: figures
    seeds = [int(x) for x in os.environ.get("SEEDS", "2026").split(",")]
    for (label, design), seed in product(VARIANTS.items(), seeds):
        if sys.argv[1:] and not any(x in label for x in sys.argv[1:]):
            continue
        a, small, pinned, singles, singles_pinned = run(design, seed=seed)
        print(
            f"{label}, seed {seed}: {len(a.true)} counts ({a.hidden} hidden), "
            f"pinned {len(pinned)}/{len(small)} small, singles {len(singles_pinned)}/"
            f"{len(singles)}, {a.strict_pairs} pairs, {a.solves} programs, {a.seconds:.1f} s",
            flush=True,
        )
        for x in pinned[:5] + singles_pinned[:3]:
            print("   ", x)
