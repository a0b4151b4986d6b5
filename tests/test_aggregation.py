"""Aggregates always equal what the raw rows say: after one run, two, concurrent or late ones."""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections import Counter, defaultdict

from rq.registry import ScheduledJobRegistry
from sqlmodel import Session, select

from bot.core.questionnaire import QuestionType
from bot.infra.db import get_engine
from bot.infra.models import AggregateProfile, Answer, Response
from bot.releases.aggregates import load_profiles, refresh_wave
from bot.releases.profile_keys import ANSWERED
from bot.releases.report import build_raw_report
from tests.factories import random_answers, response_payload
from tests.utils import run_jobs
from workers.aggregation import refresh_aggregates
from workers.storage import store_response

DAYS = [dt.date(2026, 11, 9), dt.date(2026, 11, 16), dt.date(2026, 11, 18), dt.date(2026, 11, 22)]


def store_many(app, count, seed=7, wave="default"):
    q = app.extensions["surveybot"].questionnaire
    rng = random.Random(seed)
    for _ in range(count):
        store_response(
            response_payload(
                q,
                random_answers(q, rng),
                language=rng.choice(q.languages),
                day=rng.choice(DAYS),
                wave=wave,
            )
        )


def profiles_from_raw_rows(app, db, wave="default"):
    """An independent recomputation, in Python, straight from the raw rows."""
    q = app.extensions["surveybot"].questionnaire
    with Session(get_engine(db)) as session:
        responses = session.exec(select(Response).where(Response.wave == wave)).all()
        answers = defaultdict(list)
        for row in session.exec(select(Answer)).all():
            answers[row.response_id].append(row)
    grouped: Counter = Counter()
    multi_sums: dict = defaultdict(Counter)
    for response in responses:
        rows = answers[response.id]
        choices = tuple(
            (
                question.id,
                next(
                    (r.option_id for r in rows if r.question_id == question.id and not r.skipped),
                    None,
                ),
            )
            for question in q.questions
            if question.type is QuestionType.CHOICE
        )
        key = (response.completed_week, response.language, choices)
        grouped[key] += 1
        for question in q.questions:
            if question.type is not QuestionType.MULTI:
                continue
            mine = [r for r in rows if r.question_id == question.id and not r.skipped]
            multi_sums[key][(question.id, ANSWERED)] += 1 if mine else 0
            for option in question.options:
                multi_sums[key][(question.id, option.id)] += sum(
                    r.option_id == option.id for r in mine
                )
    return {
        (week, lang, choices, n, tuple(sorted(multi_sums[(week, lang, choices)].items())))
        for (week, lang, choices), n in grouped.items()
    }


def stored_profiles(app, db, wave="default"):
    with Session(get_engine(db)) as session:
        profiles = load_profiles(session, wave)
    q = app.extensions["surveybot"].questionnaire
    out = set()
    for p in profiles:
        choices = tuple(
            (qq.id, p.choices.get(qq.id)) for qq in q.questions if qq.type is QuestionType.CHOICE
        )
        multi = tuple(
            sorted(((qid, k), v) for qid, counts in p.multi.items() for k, v in counts.items())
        )
        out.add((p.week, p.language, choices, p.respondents, multi))
    return out


def refresh(app, wave="default"):
    app_state = app.extensions["surveybot"]
    return refresh_wave(
        app_state.redis, app_state.settings.DATABASE_URL, app_state.questionnaire, wave
    )


def test_aggregates_equal_a_recomputation_from_raw_rows(app, db):
    store_many(app, 300)
    refresh(app)
    expected = profiles_from_raw_rows(app, db)
    assert sum(item[3] for item in expected) == 300
    assert stored_profiles(app, db) == expected
    refresh(app)  # a second run changes nothing
    assert stored_profiles(app, db) == expected


def test_a_burst_of_completions_queues_one_refresh_and_it_catches_up(app, db):
    store_many(app, 40)
    queue = app.extensions["surveybot"].queue
    scheduled = [
        queue.fetch_job(j).func_name for j in ScheduledJobRegistry(queue=queue).get_job_ids()
    ]
    assert scheduled == ["workers.aggregation.refresh_aggregates"]
    run_jobs(app)
    assert stored_profiles(app, db) == profiles_from_raw_rows(app, db)


def test_concurrent_and_late_refreshes_end_equal_to_the_raw_rows(app, db):
    store_many(app, 100, seed=1)
    errors = []

    def refresher():
        try:
            for _ in range(3):
                refresh(app)
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    def writer():
        try:
            store_many(app, 60, seed=2)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=refresher) for _ in range(3)] + [
        threading.Thread(target=writer)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    run_jobs(app)  # the refresh that the last completions asked for
    expected = profiles_from_raw_rows(app, db)
    assert sum(item[3] for item in expected) == 160
    assert stored_profiles(app, db) == expected


def test_waves_are_aggregated_separately(app, db):
    store_many(app, 20, seed=3, wave="summer-2026")
    store_many(app, 10, seed=4, wave="default")
    refresh(app, "summer-2026")
    refresh(app, "default")
    assert stored_profiles(app, db, "summer-2026") == profiles_from_raw_rows(app, db, "summer-2026")
    assert stored_profiles(app, db, "default") == profiles_from_raw_rows(app, db, "default")
    with Session(get_engine(db)) as session:
        waves = Counter(row.wave for row in session.exec(select(AggregateProfile)))
    assert set(waves) == {"summer-2026", "default"}


def test_report_counts_equal_counting_the_raw_rows(app, db):
    store_many(app, 250, seed=11)
    refresh(app)
    q = app.extensions["surveybot"].questionnaire
    with Session(get_engine(db)) as session:
        profiles = load_profiles(session, "default")
        responses = {r.id: r for r in session.exec(select(Response))}
        rows = session.exec(select(Answer)).all()
    raw = build_raw_report(
        q, profiles, wave="default", period=(DAYS[0], DAYS[-1]), started=0, minimum=5
    )
    assert raw["completed"] == 250
    assert raw["by_language"] == dict(Counter(r.language for r in responses.values()))
    by_response = defaultdict(dict)
    for row in rows:
        if not row.skipped:
            by_response[row.response_id].setdefault(row.question_id, set()).add(row.option_id)
    for question in q.questions:
        counts = Counter(o for a in by_response.values() for o in a.get(question.id, ()))
        answered = sum(1 for a in by_response.values() if question.id in a)
        published = raw["questions"][question.id]
        assert published["answered"] == answered
        assert published["counts"] == {o.id: counts.get(o.id, 0) for o in question.options}
    # afraid_to_seek_help by status, counted by hand
    table = raw["crosstabs"]["afraid_to_seek_help|status"]
    for status in table:
        people = [a for a in by_response.values() if a.get("status") == {status}]
        assert table[status]["answered"] == sum("afraid_to_seek_help" in a for a in people)
        assert table[status]["counts"]["yes"] == sum(
            a.get("afraid_to_seek_help") == {"yes"} for a in people
        )
    # fear_reasons by language: each chosen option counted once per respondent
    table = raw["crosstabs"]["fear_reasons|language"]
    for lang in q.languages:
        people = [by_response[rid] for rid, r in responses.items() if r.language == lang]
        for option in q.question("fear_reasons").options:
            assert table[lang]["counts"][option.id] == sum(
                option.id in a.get("fear_reasons", ()) for a in people
            )


OTHER_REASON = (
    "      - id: other\n        label: {en: Other reason, es: Otra razón, ht: Lòt rezon}\n"
)


def open_wave_without_other_reason(db, redis, name):
    """An open wave whose frozen questionnaire differs from the file: no "other" reason, another
    label for ICE, and its own survey id."""
    from bot.infra.models import Wave
    from bot.outreach.waves import create_wave, open_wave

    with Session(get_engine(db)) as session:
        create_wave(session, name=name, start_keywords={"en": [name.upper()]})
        open_wave(session, redis, name, allow_placeholders=True)
        wave = session.get(Wave, name)
        assert OTHER_REASON in wave.questionnaire_yaml
        wave.questionnaire_yaml = (
            wave.questionnaire_yaml.replace(OTHER_REASON, "")
            .replace("\nid: community_safety\n", "\nid: community_safety_v1\n")
            .replace("{en: Police work with ICE,", "{en: Police working with ICE,")
        )
        session.add(wave)
        session.commit()


def test_a_wave_is_aggregated_with_its_frozen_questionnaire(app, db):
    open_wave_without_other_reason(db, app.extensions["surveybot"].redis, "summer-2026")
    store_many(app, 40, seed=5, wave="summer-2026")
    assert refresh_aggregates("summer-2026") > 0  # the job, as the worker runs it
    with Session(get_engine(db)) as session:
        profiles = load_profiles(session, "summer-2026")
    reasons = {key for p in profiles for key in p.multi["fear_reasons"]}
    assert reasons == {ANSWERED, "ice_collaboration", "deportation", "language", "bad_experience"}
