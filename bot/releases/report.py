"""The aggregate report: the study's table, computed from aggregate profiles.

`build_raw_report` is pure (profiles in, exact counts out); `publish` applies small-cell
suppression, and only its result ever leaves the database (CLI JSON, email, dashboard).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from bot.core.questionnaire import Questionnaire, QuestionType
from bot.infra import clock
from bot.infra.weeks import parse_week, previous_week
from bot.releases.aggregates import Profile
from bot.releases.profile_keys import ANSWERED
from bot.releases.suppression import LANGUAGE  # the pseudo-question every respondent answers


def _by(q: Questionnaire, question_id: str) -> list[str]:
    """The categories of a crosstab's second question (its options, or the languages)."""
    if question_id == LANGUAGE:
        return list(q.languages)
    return [option.id for option in q.question(question_id).options]


def category_label(q: Questionnaire, question_id: str, option_id: str, language: str = "en") -> str:
    """How a report category reads: an option's label, or a language's own name."""
    if question_id == LANGUAGE:
        return q.language_names.get(option_id, option_id)
    try:
        label = q.question(question_id).option(option_id).label
    except KeyError:
        return option_id
    return label.get(language) or label.get("en") or option_id


def ordered_categories(q: Questionnaire, question_id: str, keys: Iterable[str]) -> list[str]:
    """Categories in the questionnaire's order (unknown ones last, as they come)."""
    keys = list(keys)
    try:
        rank = {k: i for i, k in enumerate(_by(q, question_id))}
    except KeyError:
        rank = {}
    return sorted(keys, key=lambda k: (rank.get(k, len(rank)), keys.index(k)))


def _category(profile: Profile, question_id: str) -> str | None:
    if question_id == LANGUAGE:
        return profile.language
    return profile.choices.get(question_id)


def _tally(q: Questionnaire, question_id: str, profiles: Iterable[Profile]) -> dict[str, Any]:
    """answered and counts of one question over some profiles."""
    question = q.question(question_id)
    counts = dict.fromkeys((o.id for o in question.options), 0)
    answered = 0
    for profile in profiles:
        if question.type is QuestionType.MULTI:
            tallies = profile.multi.get(question_id, {})
            answered += tallies.get(ANSWERED, 0)
            for option_id in counts:
                counts[option_id] += tallies.get(option_id, 0)
        else:
            chosen = profile.choices.get(question_id)
            if chosen is not None and chosen in counts:
                answered += profile.respondents
                counts[chosen] += profile.respondents
    return {"type": question.type.value, "answered": answered, "counts": counts}


def build_raw_report(
    q: Questionnaire,
    profiles: list[Profile],
    *,
    wave: str,
    period: tuple[dt.date, dt.date],
    started: int,
    minimum: int,
) -> dict[str, Any]:
    """The report with exact counts (never published as is: see `publish`)."""
    by_language = dict.fromkeys(q.languages, 0)
    for profile in profiles:
        by_language[profile.language] = by_language.get(profile.language, 0) + profile.respondents
    questions = {
        question.id: _tally(q, question.id, profiles)
        for question in q.questions
        if question.type in (QuestionType.CHOICE, QuestionType.MULTI)
    }
    for question in q.questions:
        if question.when and question.id in questions:
            # Suppression needs the skip logic: the answered of a question asked only after
            # some answers bounds how many gave them, and may give a hidden one away.
            questions[question.id]["when"] = {k: list(v) for k, v in question.when.items()}
    crosstabs: dict[str, dict[str, Any]] = {}
    for first, second in q.crosstabs:
        groups: dict[str, list[Profile]] = defaultdict(list)
        for profile in profiles:
            category = _category(profile, second)
            if category is not None:
                groups[category].append(profile)
        crosstabs[f"{first}|{second}"] = {
            category: {
                k: v for k, v in _tally(q, first, groups.get(category, [])).items() if k != "type"
            }
            for category in _by(q, second)
        }
    return {
        "survey": q.id,
        "wave": wave,
        "period": {"start": period[0].isoformat(), "end": period[1].isoformat()},
        "suppression_min": minimum,
        "started": started,
        "completed": sum(by_language.values()),
        "by_language": by_language,
        "questions": questions,
        "crosstabs": crosstabs,
    }


def publish(raw: dict[str, Any]) -> dict[str, Any]:
    """The report as it may be shown outside the database: small cells suppressed."""
    from bot.releases.protection import protect

    return protect(raw)


def week_period(week: str) -> tuple[dt.date, dt.date]:
    """Monday to Sunday of an ISO week."""
    return parse_week(week)


def questionnaire_of(settings, wave: str) -> Questionnaire:  # noqa: ANN001
    """The questionnaire a wave's report is read with (`bot.outreach.waves.wave_questionnaire`)."""
    from sqlmodel import Session

    from bot.infra.db import get_engine
    from bot.outreach.waves import wave_questionnaire

    with Session(get_engine(settings.DATABASE_URL)) as session:
        return wave_questionnaire(session, wave, settings)


def load_raw_report(
    settings,
    redis,
    *,
    wave: str,
    week: str | None,
    q: Questionnaire | None = None,
) -> dict[str, Any]:
    """The raw report of a wave for one ISO week (None: the whole wave so far), read with `q`
    (default: the wave's own questionnaire, see `bot.outreach.waves.wave_questionnaire`)."""
    from sqlmodel import Session

    from bot.infra import keys
    from bot.infra.db import get_engine
    from bot.outreach.waves import wave_questionnaire
    from bot.releases.aggregates import load_profiles

    with Session(get_engine(settings.DATABASE_URL)) as session:
        if q is None:
            q = wave_questionnaire(session, wave, settings)
        profiles = load_profiles(session, wave, {week} if week else None)
    field = f"started:{week}" if week else "started"
    started = int(redis.hget(keys.wave_stats(wave), field) or 0)
    if week:
        period = week_period(week)
    elif profiles:
        weeks = sorted({p.week for p in profiles})
        period = (week_period(weeks[0])[0], week_period(weeks[-1])[1])
    else:
        today = clock.today()
        period = (today, today)
    return build_raw_report(
        q, profiles, wave=wave, period=period, started=started, minimum=settings.SMALL_CELL_MIN
    )


def published_reports(
    settings,
    redis,
    *,
    wave: str,
    week: str,
    q: Questionnaire | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The published report of a week and of the week before (for the changes)."""
    if q is None:
        q = questionnaire_of(settings, wave)
    current = publish(load_raw_report(settings, redis, wave=wave, week=week, q=q))
    previous = publish(load_raw_report(settings, redis, wave=wave, week=previous_week(week), q=q))
    return current, previous
