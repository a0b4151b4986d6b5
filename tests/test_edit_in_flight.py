"""The questionnaire file edited while people answer, and the web tier reloaded.

In the implicit wave (no wave ever opened) the bot answers from the file; a conversation in
flight keeps the questionnaire it started with (bot/records/snapshots.py), and one whose
questionnaire is gone all the same goes on kindly on the new file (bot/core/engine/reconcile.py).
"""

from __future__ import annotations

import shutil

import pytest
import yaml

from bot import create_app
from bot.core.questionnaire import DEFAULT_SURVEY_PATH
from bot.core.render import render_question
from bot.infra import keys
from bot.infra.privacy import pseudonym
from bot.records import inbox
from tests.utils import inbox_records, replies_of, sms

PHONES = [f"+1305555{n:04d}" for n in range(10)]
REMOVED = "years_in_us"


@pytest.fixture
def survey_file(tmp_path):
    path = tmp_path / "survey.yaml"
    shutil.copy(DEFAULT_SURVEY_PATH, path)
    return path


@pytest.fixture
def overrides(settings_overrides, survey_file):
    return {**settings_overrides, "SURVEY_FILE": str(survey_file)}


@pytest.fixture
def apps():
    """Builds web apps as a (re)load of the web tier does; closes them at the end."""
    built = []

    def build(overrides):
        app = create_app(overrides)
        built.append(app)
        return app

    yield build
    for app in built:
        app.extensions["surveybot"].redis.close()


def remove_question(path, question_id: str) -> None:
    """Edit the questionnaire file as an organizer would: the question's block deleted."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["questions"] = [q for q in raw["questions"] if q["id"] != question_id]
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")


def say(client, phone: str, body: str) -> list[str]:
    response = sms(client, phone, body)
    assert response.status_code == 200, response.data  # never a server error
    return replies_of(response)


def questionnaire(app):
    return app.extensions["surveybot"].questionnaire


def start_and_wait_on_removed(client, app) -> None:
    """Ten conversations, each waiting on the question the edit removes."""
    prompt = render_question(questionnaire(app).question(REMOVED), "en")
    for phone in PHONES:
        say(client, phone, "SURVEY")
        say(client, phone, "1")  # consent: the first question
        assert say(client, phone, "1") == [prompt]


def finish(client, app, phone: str, replies: list[str]) -> list[str]:
    """Answer "1" (or "1 3") to every question asked, until the survey closes."""
    q = questionnaire(app)
    for _ in range(20):
        if replies == [q.message("closing", "en")]:
            return replies
        asked = next(x for x in q.questions if render_question(x, "en") in replies)
        replies = say(client, phone, "1 3" if asked.type == "multi" else "1")
    raise AssertionError(f"the survey did not close: {replies}")


def completed(app) -> list[dict]:
    state = app.extensions["surveybot"]
    return inbox_records(state.redis, state.settings, inbox.RESPONSE)


def test_conversations_in_flight_finish_on_the_questionnaire_they_started_with(
    overrides, survey_file, apps, redis
):
    before = apps(overrides)
    start_and_wait_on_removed(before.test_client(), before)
    original = questionnaire(before)
    snapshot = keys.questionnaire_snapshot(original.digest)
    assert redis.get(snapshot).decode() == original.source
    assert 0 < redis.ttl(snapshot) <= before.extensions["surveybot"].settings.session_ttl_seconds

    remove_question(survey_file, REMOVED)
    after = apps(overrides)  # the web workers reloaded with the edited file
    assert questionnaire(after).digest != original.digest
    client = after.test_client()
    for phone in PHONES:
        # Their answer to the removed question is taken; they go on where they were.
        replies = say(client, phone, "1")
        assert replies == [render_question(original.question("afraid_to_seek_help"), "en")]
        finish(client, before, phone, replies)
    records = completed(after)
    assert len(records) == len(PHONES)
    for record in records:
        assert record["answers"][REMOVED] == "lt5"
        assert record["survey_version"] == original.version

    # Someone who starts now gets the edited questionnaire: never asked the removed question.
    newcomer = "+13055559999"
    say(client, newcomer, "SURVEY")
    say(client, newcomer, "1")  # consent: the first question
    replies = say(client, newcomer, "1")
    assert replies == [render_question(questionnaire(after).question("afraid_to_seek_help"), "en")]
    assert redis.exists(keys.questionnaire_snapshot(questionnaire(after).digest))


def test_a_conversation_whose_questionnaire_is_gone_goes_on_kindly(
    overrides, survey_file, apps, redis
):
    before = apps(overrides)
    start_and_wait_on_removed(before.test_client(), before)
    original = questionnaire(before)
    redis.delete(keys.questionnaire_snapshot(original.digest))  # lost with Redis's data

    remove_question(survey_file, REMOVED)
    after = apps(overrides)
    edited = questionnaire(after)
    client = after.test_client()
    for phone in PHONES:
        # What they sent answered the removed question: it is not taken as another answer;
        # they are asked the next question that exists, and go on to the end.
        replies = say(client, phone, "1")
        assert replies == [render_question(edited.question("afraid_to_seek_help"), "en")]
        finish(client, after, phone, replies)
    records = completed(after)
    assert len(records) == len(PHONES)
    for record in records:
        assert REMOVED not in record["answers"]
        assert record["answers"]["status"] == "citizen"


def test_when_the_question_left_was_the_last_the_survey_completes(
    overrides, survey_file, apps, redis
):
    before = apps(overrides)
    q = questionnaire(before)
    last = q.questions[-1].id
    phone = PHONES[0]
    client = before.test_client()
    say(client, phone, "SURVEY")
    replies = say(client, phone, "1")
    while render_question(q.question(last), "en") not in replies:
        asked = next(x for x in q.questions if render_question(x, "en") in replies)
        replies = say(client, phone, "1 3" if asked.type == "multi" else "1")
    redis.delete(keys.questionnaire_snapshot(q.digest))

    remove_question(survey_file, last)
    after = apps(overrides)
    assert say(after.test_client(), phone, "2") == [q.message("closing", "en")]
    [record] = completed(after)
    assert last not in record["answers"] and record["answers"]["status"] == "citizen"
    key = pseudonym(after.extensions["surveybot"].settings.PSEUDONYM_KEY, phone)
    assert not redis.exists(keys.session(key))
