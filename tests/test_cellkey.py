"""Cell-key noise: the same records always publish the same number, the noise is small, unbiased
and never turns an empty cell into people, and every count of a report gets the key of exactly
the responses it counts (so a viewer's saved releases can only be differenced into noise)."""

from __future__ import annotations

import datetime as dt
import random
from fractions import Fraction

import pytest

from bot.core.questionnaire import load_questionnaire
from bot.releases import cellkey
from bot.releases.cellkey import (
    CROSSTAB_MIN,
    MAX_NOISE,
    PTABLE,
    PTABLES,
    RECORD_KEY_SPACE,
    SMALL_CELL_MIN,
    cell_key,
    crosstabs_allowed,
    key_report,
    new_record_key,
    perturb,
    perturb_report,
    protect_release,
    published_range,
)
from bot.releases.report import build_raw_report, publish
from bot.releases.suppression import count_paths
from tests.cellkey_utils import Record, keyed_profiles, report_paths, value_at
from tests.factories import random_answers

PERIOD = (dt.date(2026, 11, 16), dt.date(2026, 11, 22))
KEYS = range(RECORD_KEY_SPACE)


def test_record_keys_are_uniform_over_the_key_space():
    keys = [new_record_key() for _ in range(20_000)]
    assert min(keys) == 0 and max(keys) == RECORD_KEY_SPACE - 1
    mean = sum(keys) / len(keys)
    assert abs(mean - (RECORD_KEY_SPACE - 1) / 2) < 3


def test_cell_key_is_the_sum_of_record_keys_modulo_the_space():
    assert cell_key([]) == 0
    assert cell_key([200, 100]) == 44
    assert cell_key([255] * 256) == 0


def test_the_same_content_always_gets_the_same_noise():
    rng = random.Random(1)
    records = [rng.randrange(RECORD_KEY_SPACE) for _ in range(37)]
    first = perturb(len(records), cell_key(records))
    for _ in range(20):
        rng.shuffle(records)  # any order, any release: same records, same published number
        assert perturb(len(records), cell_key(records)) == first


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 17, 1000])
def test_noise_is_bounded_and_never_negative(n):
    published = {perturb(n, key) for key in KEYS}
    assert all(abs(p - n) <= MAX_NOISE for p in published)
    assert all(p >= 0 for p in published)
    if n >= MAX_NOISE:
        assert published == set(range(n - MAX_NOISE, n + MAX_NOISE + 1))


def test_zero_stays_zero():
    assert {perturb(0, key) for key in KEYS} == {0}


def test_small_published_values_are_ambiguous():
    # A true 1 can be published as 0 .. 1 + MAX_NOISE, and every published value could be
    # several true counts: exactly those published_range names.
    assert {perturb(1, key) for key in KEYS} == set(range(MAX_NOISE + 2))
    sources = {p: {n for n in range(12) for key in KEYS if perturb(n, key) == p} for p in range(6)}
    for p, ns in sources.items():
        low, high = published_range(p)
        assert ns == set(range(low, high + 1))
    # A true 1 is published as 0 often enough that a published 0 does not mean "nobody".
    assert sum(perturb(1, key) == 0 for key in KEYS) / RECORD_KEY_SPACE > 0.3


@pytest.mark.parametrize("max_noise", sorted(PTABLES))
def test_every_table_is_unbiased_bounded_and_keeps_zero(max_noise):
    for n in range(max_noise + 3):
        published = [perturb(n, key, max_noise) for key in KEYS]
        assert Fraction(sum(published), RECORD_KEY_SPACE) == n
        assert min(published) == max(n - max_noise, 0) and max(published) == (
            n + max_noise if n else 0
        )
        for p in set(published):
            low, high = published_range(p, max_noise)
            assert low <= n <= high


def test_a_hidden_value_may_be_anything_up_to_the_minimum_plus_the_noise():
    assert published_range(None) == (0, SMALL_CELL_MIN - 1 + MAX_NOISE)
    hidden = {n for n in range(20) for key in KEYS if perturb(n, key) < SMALL_CELL_MIN}
    assert hidden == set(range(SMALL_CELL_MIN + MAX_NOISE))


@pytest.mark.parametrize("n", [1, 2, 3, 10])
def test_published_counts_are_unbiased_over_keys(n):
    # Exact expectation from the table: every key is equally likely.
    expectation = Fraction(sum(perturb(n, key) for key in KEYS), RECORD_KEY_SPACE)
    assert expectation == n
    assert sum(w for _, w in PTABLE[min(n, max(PTABLE))]) == RECORD_KEY_SPACE
    assert cellkey.noise_distribution(n) == {
        noise: w / RECORD_KEY_SPACE for noise, w in PTABLE[min(n, max(PTABLE))]
    }


def test_unbiased_in_practice_over_random_records():
    rng = random.Random(5)
    for n in (1, 2, 7):
        draws = [perturb(n, cell_key(rng.randrange(256) for _ in range(n))) for _ in range(20_000)]
        assert abs(sum(draws) / len(draws) - n) < 0.05


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        perturb(-1, 0)
    with pytest.raises(ValueError):
        perturb(3, RECORD_KEY_SPACE)


def synthetic_records(q, count, seed=11):
    rng = random.Random(seed)
    weeks = ["2026-W46", "2026-W47"]
    return [
        Record(
            rng.choice(weeks),
            rng.choice(["en", "es", "es", "ht"]),
            random_answers(q, rng, skip_rate=0.15),
            rng.randrange(RECORD_KEY_SPACE),
        )
        for _ in range(count)
    ]


def raw_report(q, profiles, started=0):
    return build_raw_report(q, profiles, wave="w", period=PERIOD, started=started, minimum=5)


def test_every_count_gets_the_key_of_exactly_the_records_it_counts():
    q = load_questionnaire()
    records = synthetic_records(q, 300)
    profiles = keyed_profiles(q, records)
    raw = raw_report(q, profiles, started=340)
    keys = key_report(q, profiles, started_key=77)
    paths = [p for p in report_paths(raw) if p != ("started",)]
    assert paths == [p for p in report_paths(keys) if p != ("started",)]
    # Brute force: which records does each count count? Ask the report about each record alone.
    counted: dict[tuple, list[Record]] = {path: [] for path in paths}
    for record in records:
        alone = raw_report(q, keyed_profiles(q, [record]))
        for path in paths:
            assert value_at(alone, path) in (0, 1)
            if value_at(alone, path):
                counted[path].append(record)
    for path in paths:
        assert value_at(raw, path) == len(counted[path]), path
        assert value_at(keys, path) == cell_key(r.key for r in counted[path]), path
    assert keys["started"] == 77
    # And a few by hand, independent of the report's code.
    lpr = [r for r in records if r.answers.get("status") == "lpr"]
    ice = [r for r in lpr if "ice_collaboration" in (r.answers.get("fear_reasons") or [])]
    cell = ("crosstabs", "fear_reasons|status", "lpr", "counts", "ice_collaboration")
    assert value_at(keys, cell) == cell_key(r.key for r in ice)
    ht = [r for r in records if r.language == "ht"]
    assert keys["by_language"]["ht"] == cell_key(r.key for r in ht)
    assert keys["completed"] == cell_key(r.key for r in records)


def test_perturb_report_perturbs_every_count_and_nothing_else():
    q = load_questionnaire()
    records = synthetic_records(q, 200, seed=3)
    profiles = keyed_profiles(q, records)
    raw = raw_report(q, profiles, started=260)
    keys = key_report(q, profiles, started_key=9)
    published = perturb_report(raw, keys)
    assert raw == raw_report(q, profiles, started=260)  # the raw report is left alone
    assert report_paths(published) == report_paths(raw)
    for path in report_paths(raw):
        assert value_at(published, path) == perturb(value_at(raw, path), value_at(keys, path))
    assert sum(value_at(published, p) != value_at(raw, p) for p in report_paths(raw)) > 20
    for name in ("survey", "wave", "period", "suppression_min"):
        assert published[name] == raw[name]
    assert (
        published["questions"]["fear_reasons"]["when"] == raw["questions"]["fear_reasons"]["when"]
    )
    # Same records in another release (another order of profiles): same published report.
    shuffled = list(reversed(profiles))
    again = perturb_report(
        raw_report(q, shuffled, started=260), key_report(q, shuffled, started_key=9)
    )
    assert again == published


def test_a_count_without_a_key_is_refused():
    q = load_questionnaire()
    profiles = keyed_profiles(q, synthetic_records(q, 30))
    raw = raw_report(q, profiles)
    keys = key_report(q, profiles)
    del keys["questions"]["status"]["counts"]["lpr"]
    with pytest.raises(KeyError):
        perturb_report(raw, keys)


def test_suppressed_counts_stay_suppressed():
    q = load_questionnaire()
    profiles = keyed_profiles(q, synthetic_records(q, 30))
    raw = raw_report(q, profiles)
    raw["by_language"]["ht"] = None
    assert perturb_report(raw, key_report(q, profiles))["by_language"]["ht"] is None


def test_protect_release_perturbs_every_count_and_hides_small_published_values():
    q = load_questionnaire()
    records = synthetic_records(q, 120, seed=8)
    profiles = keyed_profiles(q, records)
    raw = raw_report(q, profiles, started=150)
    keys = key_report(q, profiles, started_key=31)
    shown = protect_release(raw, keys)
    noisy = perturb_report(raw, keys)
    # The shape publish() gives: the same counts, each a number or None.
    assert count_paths(shown) == count_paths(publish(raw))
    assert shown["suppression_min"] == SMALL_CELL_MIN
    assert raw == raw_report(q, profiles, started=150)  # the raw report is left alone
    for path in report_paths(raw):
        value = value_at(noisy, path)
        if value < SMALL_CELL_MIN:
            assert value_at(shown, path) is None, path  # zeros too: empty looks like small
        else:
            assert value_at(shown, path) == value, path
    # Totals are perturbed like every count: never published exactly by construction.
    assert shown["completed"] == perturb(raw["completed"], keys["completed"])
    assert shown["started"] == perturb(150, 31)
    # Same records in another order: the same published report.
    again = list(reversed(profiles))
    assert (
        protect_release(raw_report(q, again, started=150), key_report(q, again, started_key=31))
        == shown
    )


def test_crosstabs_wait_for_enough_published_responses():
    assert CROSSTAB_MIN >= 2 * SMALL_CELL_MIN
    assert not crosstabs_allowed(None) and not crosstabs_allowed(CROSSTAB_MIN - 1)
    assert crosstabs_allowed(CROSSTAB_MIN)
    q = load_questionnaire()
    for count, seed in ((25, 1), (200, 2)):
        profiles = keyed_profiles(q, synthetic_records(q, count, seed=seed))
        shown = protect_release(raw_report(q, profiles), key_report(q, profiles))
        cells = [value_at(shown, p) for p in report_paths(shown) if p[0] == "crosstabs"]
        assert cells  # the shape stays: the crosstabs are there, with None when held back
        if crosstabs_allowed(shown["completed"]):
            assert count == 200 and any(c is not None for c in cells)
        else:
            assert count == 25 and all(c is None for c in cells)
