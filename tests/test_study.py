"""A synthetic wave with the 2009 study's proportions: the report must state exactly its figures.

Florida Immigrant Coalition and WeCount!, Miami-Dade, summer 2009: 56% afraid to go to the
police, fire department or emergency room for help; 37% of permanent residents and 15% of
citizens too; 30% of those afraid named police-ICE collaboration; 43% of those in the US for
over 10 years were afraid; more fear among those who know people who were deported.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest

from bot.releases.aggregates import load_profiles
from bot.releases.report import build_raw_report, publish
from bot.releases.suppression import percent
from tests.factories import response_payload, store_all
from tests.test_aggregation import refresh

WEEK_DAY = dt.date(2026, 11, 18)  # ISO week 2026-W47

# (afraid, not afraid) per category; 1000 respondents, 560 afraid.
STATUS = {
    "citizen": (30, 170),
    "lpr": (111, 189),
    "undocumented": (260, 40),
    "other_status": (159, 41),
}
YEARS = {"gt10": (172, 228), "lt5": (194, 106), "5to10": (194, 106)}
KNOWS = {"none": (160, 240), "one": (180, 120), "several": (220, 80)}
ICE_AMONG_AFRAID = 168  # 30% of 560


def _column(spec, afraid: bool, rng):
    values = [k for k, (yes, no) in spec.items() for _ in range(yes if afraid else no)]
    rng.shuffle(values)
    return values


def study_respondents(seed: int = 2009):
    """1000 answer sets whose crosstabs have exactly the study's proportions."""
    rng = random.Random(seed)
    people = []
    for afraid, count in ((True, 560), (False, 440)):
        status = _column(STATUS, afraid, rng)
        years = _column(YEARS, afraid, rng)
        knows = _column(KNOWS, afraid, rng)
        for i in range(count):
            answers = {
                "status": status[i],
                "years_in_us": years[i],
                "afraid_to_seek_help": "yes" if afraid else "no",
            }
            if afraid:
                reasons = ["deportation"] if i >= ICE_AMONG_AFRAID else ["ice_collaboration"]
                if i % 3 == 0:
                    reasons.append("language")
                answers["fear_reasons"] = sorted(reasons)
            answers["knows_deported"] = knows[i]
            answers["would_report_crime"] = rng.choice(["yes", "no", "not_sure"])
            people.append((answers, rng.choice(["en", "es", "es", "ht"])))
    return people


@pytest.fixture
def study_report(app, db):
    q = app.extensions["surveybot"].questionnaire
    payloads = [
        response_payload(q, answers, language=language, day=WEEK_DAY)
        for answers, language in study_respondents()
    ]
    assert store_all(db, payloads) == 1000
    refresh(app)
    from sqlmodel import Session

    from bot.infra.db import get_engine

    with Session(get_engine(db)) as session:
        profiles = load_profiles(session, "default", {"2026-W47"})
    raw = build_raw_report(
        q,
        profiles,
        wave="default",
        period=(dt.date(2026, 11, 16), dt.date(2026, 11, 22)),
        started=1100,
        minimum=5,
    )
    return publish(raw)


def pct(part, whole):
    value = percent(part, whole)
    assert value is not None
    return round(value)


def test_the_report_states_the_studys_figures(study_report):
    report = study_report
    afraid = report["questions"]["afraid_to_seek_help"]
    assert report["completed"] == 1000
    assert pct(afraid["counts"]["yes"], afraid["answered"]) == 56
    by_status = report["crosstabs"]["afraid_to_seek_help|status"]
    assert pct(by_status["lpr"]["counts"]["yes"], by_status["lpr"]["answered"]) == 37
    assert pct(by_status["citizen"]["counts"]["yes"], by_status["citizen"]["answered"]) == 15
    reasons = report["questions"]["fear_reasons"]
    assert pct(reasons["counts"]["ice_collaboration"], reasons["answered"]) == 30
    by_years = report["crosstabs"]["afraid_to_seek_help|years_in_us"]
    assert pct(by_years["gt10"]["counts"]["yes"], by_years["gt10"]["answered"]) == 43
    by_knows = report["crosstabs"]["afraid_to_seek_help|knows_deported"]
    rates = {k: percent(v["counts"]["yes"], v["answered"]) for k, v in by_knows.items()}
    assert rates["none"] < rates["one"] < rates["several"]


def test_exact_counts_not_just_rounded_percentages(study_report):
    by_status = study_report["crosstabs"]["afraid_to_seek_help|status"]
    assert by_status["lpr"] == {"answered": 300, "counts": {"yes": 111, "no": 189}}
    assert by_status["citizen"] == {"answered": 200, "counts": {"yes": 30, "no": 170}}
    assert study_report["questions"]["fear_reasons"]["counts"]["ice_collaboration"] == 168
