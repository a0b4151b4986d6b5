"""Quick-reply buttons on WhatsApp: contents made once at Twilio by `surveybot whatsapp buttons
sync`, then a reply that ends with a short choice question sent by a job as that content (the
whole turn, in order), a tap answering with the option it names, numbered text everywhere else.

Webhooks are signed as Twilio signs them; Redis and the database are real; Twilio's REST API
(messages and the Content API) is faked at its HTTP boundary (tests/fake_twilio.py), and the
jobs run in a real RQ worker against it.
"""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest
from click.testing import CliRunner
from rq.job import Job
from sqlmodel import Session, select

from bot.cli import main
from bot.core.questionnaire import Option
from bot.core.render import quick_replies, render_question
from bot.infra import keys
from bot.infra.db import get_engine
from bot.infra.models import Answer
from bot.infra.queues import SEND_WHATSAPP_TURN_JOB, get_queue
from bot.records.quick_replies import quick_reply_for
from tests.conftest import TEST_SECRETS
from tests.fake_twilio import SERVER_ERROR, FakeTwilio
from tests.utils import WHATSAPP_BOT, no_jobs_left, replies_of, run_jobs, sign, whatsapp_params
from workers import context

PHONE = "+13055550123"
ACCOUNT = "AC" + "0" * 32
SERVICE = "MG" + "2" * 32
# The questions of the shipped file that take buttons: single choices of at most 3 options.
BUTTON_QUESTIONS = ("years_in_us", "afraid_to_seek_help", "knows_deported", "would_report_crime")


@pytest.fixture
def fake():
    with FakeTwilio() as twilio:
        yield twilio


def make_app(settings_overrides, fake, **more):
    from bot import create_app

    app = create_app(
        {
            **settings_overrides,
            "TWILIO_ACCOUNT_SID": ACCOUNT,
            "TWILIO_FROM_NUMBER": "+15005550006",
            "TWILIO_API_BASE_URL": fake.url,
            **more,
        }
    )
    context.configure(app.extensions["surveybot"].settings)
    return app


@pytest.fixture
def app(settings_overrides, redis, fake):
    application = make_app(settings_overrides, fake)
    yield application
    context.configure(None)
    application.extensions["surveybot"].redis.close()


def sync(app, monkeypatch, *args: str):
    """Run `surveybot whatsapp buttons sync` as an operator would, beside the app."""
    settings = app.extensions["surveybot"].settings
    env = {
        "SURVEYBOT_ENV": "test",
        "REDIS_URL": settings.REDIS_URL,
        "TWILIO_ACCOUNT_SID": settings.TWILIO_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": settings.TWILIO_AUTH_TOKEN,
        "TWILIO_API_BASE_URL": settings.TWILIO_API_BASE_URL,
        "PSEUDONYM_KEY": TEST_SECRETS["PSEUDONYM_KEY"],
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(main, ["whatsapp", "buttons", "sync", *args])


def post(client, body: str, **kwargs):
    params = whatsapp_params(PHONE, body, **kwargs)
    signature = sign(client.application, "/twilio/sms", params)
    return client.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": signature})


def say(client, body: str, **kwargs) -> list[str]:
    return replies_of(post(client, body, **kwargs))


def q_of(app):
    return app.extensions["surveybot"].questionnaire


def content_of(fake, sid: str) -> dict:
    """The Content API body of the content Twilio answered with this ContentSid."""
    [found] = [r["json"] for r in fake.requests if r["sid"] == sid and r["json"]]
    return found


# ------------------------------------------------------------------------------ the contents


def test_only_short_single_choices_get_buttons(app):
    q = q_of(app)
    with_buttons = [
        x.id for x in q.questions if all(quick_replies(x, lang) for lang in "en es ht".split())
    ]
    assert tuple(with_buttons) == BUTTON_QUESTIONS
    assert quick_replies(q.question("status"), "en") == ()  # five options
    assert quick_replies(q.question("fear_reasons"), "en") == ()  # several answers
    afraid = q.question("afraid_to_seek_help")
    assert quick_replies(afraid, "es") == (("yes", "Sí"), ("no", "No"))
    # A label longer than WhatsApp shows on a button: no buttons in that language.
    long = Option(id="yes", label={"en": "Yes, every single time"})
    assert quick_replies(replace(afraid, options=(long, afraid.options[1])), "en") == ()


def test_sync_makes_one_content_per_question_and_language_through_the_content_api(
    app, fake, redis, monkeypatch
):
    q = q_of(app)
    result = sync(app, monkeypatch)
    assert result.exit_code == 0, result.output
    posted = [r for r in fake.requests if r["path"] == "/v1/Content"]
    assert len(posted) == len(BUTTON_QUESTIONS) * 3
    assert all(r["method"] == "POST" and r["status"] == 201 for r in posted)
    token = TEST_SECRETS["TWILIO_AUTH_TOKEN"]
    assert {r["auth"] for r in posted} == {
        "Basic " + base64.b64encode(f"{ACCOUNT}:{token}".encode()).decode()
    }
    # The exact body Twilio documents for a twilio/quick-reply content.
    first = content_of(fake, posted[0]["sid"])
    question = q.question("years_in_us")
    assert first == {
        "friendly_name": first["friendly_name"],
        "language": "en",
        "types": {
            "twilio/quick-reply": {
                "body": question.text["en"],
                "actions": [
                    {"type": "QUICK_REPLY", "title": o.label["en"], "id": o.id}
                    for o in question.options
                ],
            }
        },
    }
    assert first["friendly_name"].startswith("surveybot_community_safety_years_in_us_en_")
    kept = redis.hgetall(keys.WHATSAPP_QUICK_REPLIES)
    assert sorted(v.decode() for v in kept.values()) == sorted(r["sid"] for r in posted)
    assert "created" in result.output and "Sí | No" in result.output
    # A second run makes nothing new.
    again = sync(app, monkeypatch)
    assert again.exit_code == 0 and "created" not in again.output
    assert len([r for r in fake.requests if r["path"] == "/v1/Content"]) == len(posted)


def test_sync_reports_a_refused_content_and_keeps_nothing_for_it(app, fake, redis, monkeypatch):
    fake.fail_next(SERVER_ERROR)
    result = sync(app, monkeypatch)
    assert result.exit_code != 0
    assert "failed" in result.output and "20500" in result.output
    assert redis.hlen(keys.WHATSAPP_QUICK_REPLIES) == len(BUTTON_QUESTIONS) * 3 - 1
    assert sync(app, monkeypatch).exit_code == 0  # run again: the missing one is made
    assert redis.hlen(keys.WHATSAPP_QUICK_REPLIES) == len(BUTTON_QUESTIONS) * 3


def test_a_dry_run_makes_nothing(app, fake, redis, monkeypatch):
    result = sync(app, monkeypatch, "--dry-run")
    assert result.exit_code == 0 and "would create" in result.output
    assert fake.requests == [] and not redis.exists(keys.WHATSAPP_QUICK_REPLIES)


# --------------------------------------------------------------------------- in conversation


def test_a_whole_survey_with_buttons_and_typed_answers(app, fake, redis, db, monkeypatch):
    q = q_of(app)
    assert sync(app, monkeypatch).exit_code == 0
    fake.clear()
    client = app.test_client()
    assert say(client, "SURVEY") == [q.message("consent", "en")]
    # The next question has buttons: the TwiML is empty, a job sends it as its content.
    assert say(client, "1") == [render_question(q.question("status"), "en")]
    assert say(client, "1") == []
    run_jobs(app)
    [message] = fake.messages
    years = quick_reply_for(q, "years_in_us", "en")
    sid = redis.hget(keys.WHATSAPP_QUICK_REPLIES, years.fingerprint).decode()
    assert message == {
        "To": "whatsapp:" + PHONE,
        "From": WHATSAPP_BOT,
        "ContentSid": sid,
        "StatusCallback": "https://bot.example.org/twilio/sms/status",
    }
    # A tap answers with the option its payload names, whatever the button's text.
    fake.clear()
    assert say(client, "", button=("gt10", "More than 10 years")) == []
    run_jobs(app)
    [message] = fake.messages
    afraid = quick_reply_for(q, "afraid_to_seek_help", "en")
    assert (
        message["ContentSid"]
        == redis.hget(keys.WHATSAPP_QUICK_REPLIES, afraid.fingerprint).decode()
    )
    fake.clear()
    # A question without buttons goes as numbered text, in the TwiML, as ever.
    assert say(client, "", button=("yes", "Yes")) == [
        render_question(q.question("fear_reasons"), "en")
    ]
    assert say(client, "2") == []  # typed; the next question (knows_deported) has buttons
    assert say(client, "3") == []  # typed numbers still answer a button question
    assert say(client, "", button=("not_sure", "Not sure")) == [q.message("closing", "en")]
    run_jobs(app)
    assert [m["ContentSid"] for m in fake.messages] == [
        redis.hget(keys.WHATSAPP_QUICK_REPLIES, quick_reply_for(q, x, "en").fingerprint).decode()
        for x in ("knows_deported", "would_report_crime")
    ]
    with Session(get_engine(db)) as session:
        answers = {a.question_id: a.option_id for a in session.exec(select(Answer)).all()}
    assert answers["years_in_us"] == "gt10"
    assert answers["afraid_to_seek_help"] == "yes"
    assert answers["knows_deported"] == "several"
    assert answers["would_report_crime"] == "not_sure"
    no_jobs_left(redis)


def to_status(client) -> None:
    """Consent given: the status question (five options: numbered text) waits; answering it
    brings years_in_us, which has buttons."""
    say(client, "SURVEY")
    say(client, "1")


def test_a_retried_webhook_sends_no_second_button_message(app, fake, redis, monkeypatch):
    assert sync(app, monkeypatch).exit_code == 0
    fake.clear()
    client = app.test_client()
    to_status(client)
    sid = "SM" + "7" * 32
    first = post(client, "1", sid=sid)
    again = post(client, "1", sid=sid)  # Twilio retries the same message
    assert replies_of(first) == replies_of(again) == []
    assert get_queue(redis).count == 1
    run_jobs(app)
    assert len(fake.messages) == 1 and "ContentSid" in fake.messages[0]
    assert replies_of(post(client, "1", sid=sid)) == []  # even after the job ran
    run_jobs(app)
    assert len(fake.messages) == 1
    no_jobs_left(redis)


def test_texts_before_the_question_go_first_in_the_same_job(app, fake, redis, monkeypatch):
    q = q_of(app)
    assert sync(app, monkeypatch).exit_code == 0
    client = app.test_client()
    to_status(client)
    fake.clear()
    # A reply that answers nothing: a hint, then the question again (with its buttons).
    numbered = render_question(q.question("years_in_us"), "en")
    assert say(client, "1") == []  # status answered: years_in_us, with buttons
    run_jobs(app)
    fake.clear()
    assert say(client, "banana") == []
    run_jobs(app)
    bodies = [m.get("Body") or m.get("ContentSid") for m in fake.messages]
    assert len(bodies) == 2
    assert bodies[0] and bodies[0] != numbered and not bodies[0].startswith("HX")
    assert bodies[1].startswith("HX")


def test_without_a_content_the_question_goes_as_numbered_text(app, fake, redis):
    q = q_of(app)
    client = app.test_client()
    say(client, "SURVEY")
    assert say(client, "1") == [render_question(q.question("status"), "en")]
    assert say(client, "1") == [render_question(q.question("years_in_us"), "en")]
    assert get_queue(redis).count == 0 and fake.requests == []


def test_a_content_twilio_refuses_falls_back_to_numbered_text(app, fake, redis, monkeypatch):
    q = q_of(app)
    assert sync(app, monkeypatch).exit_code == 0
    client = app.test_client()
    to_status(client)
    fake.clear()
    assert say(client, "1") == []
    fake.fail_next((400, 21655, "The ContentSid is Invalid"))
    run_jobs(app)
    assert fake.messages == [
        {
            "To": "whatsapp:" + PHONE,
            "From": WHATSAPP_BOT,
            "Body": render_question(q.question("years_in_us"), "en"),
            "StatusCallback": "https://bot.example.org/twilio/sms/status",
        }
    ]
    no_jobs_left(redis)


def test_a_temporary_error_is_retried_without_sending_anything_twice(app, fake, redis, monkeypatch):
    assert sync(app, monkeypatch).exit_code == 0
    client = app.test_client()
    to_status(client)
    fake.clear()
    assert say(client, "1") == []  # status answered: years_in_us, with buttons
    run_jobs(app)
    fake.clear()
    assert say(client, "banana") == []  # hint, then the question
    fake.fail_next(None, SERVER_ERROR)  # the hint goes, the content fails once
    run_jobs(app)
    sent = fake.messages
    assert len(sent) == 2 and "Body" in sent[0] and "ContentSid" in sent[1]
    no_jobs_left(redis)


def test_nothing_goes_once_the_window_has_closed(app, fake, redis, monkeypatch):
    assert sync(app, monkeypatch).exit_code == 0
    client = app.test_client()
    to_status(client)
    fake.clear()
    assert say(client, "1") == []
    settings = app.extensions["surveybot"].settings
    from bot.infra.privacy import pseudonym_for

    redis.delete(keys.whatsapp_window(pseudonym_for(settings, "whatsapp:" + PHONE)))
    run_jobs(app)
    assert fake.requests == []
    no_jobs_left(redis)


def test_with_a_messaging_service_it_sends_from_the_service(
    settings_overrides, redis, fake, monkeypatch
):
    app = make_app(settings_overrides, fake, TWILIO_MESSAGING_SERVICE_SID=SERVICE)
    try:
        assert sync(app, monkeypatch).exit_code == 0
        client = app.test_client()
        to_status(client)
        fake.clear()
        assert say(client, "1") == []
        run_jobs(app)
        [message] = fake.messages
        assert message["MessagingServiceSid"] == SERVICE and "From" not in message
        assert message["To"] == "whatsapp:" + PHONE and message["ContentSid"].startswith("HX")
    finally:
        context.configure(None)
        app.extensions["surveybot"].redis.close()


def test_the_number_travels_only_sealed_and_is_never_logged(app, fake, redis, monkeypatch, caplog):
    caplog.set_level("DEBUG")
    assert sync(app, monkeypatch).exit_code == 0
    client = app.test_client()
    to_status(client)
    assert say(client, "1") == []  # status answered: years_in_us, with buttons
    run_jobs(app)
    fake.clear()
    assert say(client, "banana") == []
    queue = get_queue(redis)
    [job_id] = queue.get_job_ids()
    job = Job.fetch(job_id, connection=redis)
    assert job.func_name == SEND_WHATSAPP_TURN_JOB
    [sealed] = job.args
    assert sealed.startswith("sealed:") and not job.kwargs
    raw = b"".join(v for v in redis.hgetall(Job.key_for(job_id)).values())
    digits = PHONE[1:].encode()
    assert digits not in raw and b"banana" not in raw
    fake.error = SERVER_ERROR  # retried: the number waits, sealed, in the scheduled job
    run_jobs(app, scheduled=False)
    fake.error = None
    run_jobs(app)
    assert len(fake.messages) == 2
    blobs = [k for k in redis.keys("*")] + [
        v for k in redis.keys("*") if redis.type(k) == b"string" for v in [redis.get(k)]
    ]
    assert not any(digits in blob for blob in blobs if blob)
    logs = [str(r.__dict__) for r in caplog.records]
    assert logs, "the scan must see something"
    assert not any(PHONE[1:] in line for line in logs)
    no_jobs_left(redis)
