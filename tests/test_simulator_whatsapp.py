"""The simulator's WhatsApp mode: the page's toggle, its API and `surveybot sim --whatsapp`.

Each message goes through the real, signed /twilio/sms webhook as the form Twilio posts for
WhatsApp; a question that would get quick-reply buttons in production comes back with them
(whether or not `surveybot whatsapp buttons sync` ran here), and a tap sends the button's form.
Redis and the database are real; there is no Twilio (development has none).
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from flask import request, request_started
from sqlmodel import Session, select

from bot.channels.simulator import SIMULATED_PROFILE_NAME, whatsapp_params
from bot.cli import main
from bot.cli.terminal_sim import format_buttons, run_terminal_sim, tapped
from bot.core.render import quick_replies, render_question
from bot.infra.db import get_engine
from bot.infra.models import Answer
from bot.infra.queues import get_queue
from bot.records.sessions import message_applied
from tests.live_server import feed_input
from tests.test_privacy import redis_dump
from tests.utils import run_jobs
from tests.utils import whatsapp_params as twilio_whatsapp_form

PHONE = "+13055550123"


def q_of(app):  # noqa: ANN001, ANN201
    return app.extensions["surveybot"].questionnaire


def wa_send(client, body: str = "", *, button=None, whatsapp: bool = True) -> dict:  # noqa: ANN001
    """Write to the bot through the simulator API in WhatsApp mode; returns its answer."""
    payload = {"from": PHONE, "body": body, "whatsapp": whatsapp}
    if button is not None:
        payload["button"] = {"id": button[0], "title": button[1]}
    response = client.post("/simulator/api/send", json=payload)
    assert response.status_code == 200, response.data
    data = response.get_json()
    assert data["status"] == 200
    return data


def buttons_of(question, lang: str = "en") -> list[dict[str, str]]:  # noqa: ANN001
    return [{"id": i, "title": t} for i, t in quick_replies(question, lang)]


def stored_answers(db: str) -> dict[str, str]:
    with Session(get_engine(db)) as session:
        return {a.question_id: a.option_id for a in session.exec(select(Answer))}


# --- the form ---------------------------------------------------------------------------------


def test_the_simulator_posts_the_form_twilio_posts_for_whatsapp():
    typed = whatsapp_params(PHONE, "hola")
    assert typed.keys() == twilio_whatsapp_form(PHONE, "hola").keys()
    assert typed["From"] == "whatsapp:" + PHONE and typed["To"].startswith("whatsapp:+")
    assert typed["WaId"] == PHONE[1:] and typed["ProfileName"] == SIMULATED_PROFILE_NAME
    assert (typed["MessageType"], typed["NumMedia"], typed["Body"]) == ("text", "0", "hola")
    tap = whatsapp_params(PHONE, "", button=("gt10", "More than 10 years"))
    assert tap.keys() == twilio_whatsapp_form(PHONE, "", button=("gt10", "x")).keys()
    assert (tap["MessageType"], tap["ButtonPayload"]) == ("button", "gt10")
    assert tap["ButtonText"] == tap["Body"] == "More than 10 years"
    picture = whatsapp_params(PHONE, "", media=True)
    assert (picture["MessageType"], picture["NumMedia"]) == ("image", "1")
    assert picture["MessageSid"].startswith("MM")


def test_the_page_has_a_whatsapp_mode_with_buttons(client):
    html = client.get("/simulator").get_data(as_text=True)
    assert 'id="mode-whatsapp"' in html and 'data-mode="whatsapp"' in html
    response = client.get("/static/simulator.js")
    try:
        script = response.get_data(as_text=True)
    finally:
        response.close()
    assert "quick-replies" in script and "whatsapp: whatsapp" in script


# --- the API ----------------------------------------------------------------------------------


def test_a_whole_survey_on_whatsapp_with_taps_and_typed_answers(app, client, db, redis, caplog):
    caplog.set_level("DEBUG")
    q = q_of(app)
    first = wa_send(client, "SURVEY")
    assert first["replies"] == [q.message("consent", "en")] and first["buttons"] == []
    # Five options: no buttons, numbered text as ever.
    status = wa_send(client, "1")
    assert status["replies"] == [render_question(q.question("status"), "en")]
    assert status["buttons"] == []
    # A short choice: its text, with its buttons (no content was synced: dev shows them anyway).
    years = wa_send(client, "1")
    assert years["replies"] == [q.question("years_in_us").text["en"].strip()]
    assert years["buttons"] == buttons_of(q.question("years_in_us"))
    afraid = wa_send(client, button=("gt10", "More than 10 years"))
    assert afraid["buttons"] == buttons_of(q.question("afraid_to_seek_help"))
    reasons = wa_send(client, button=("yes", "Yes"))
    assert reasons["replies"] == [render_question(q.question("fear_reasons"), "en")]
    assert reasons["buttons"] == []
    deported = wa_send(client, "2")
    assert deported["buttons"] == buttons_of(q.question("knows_deported"))
    crime = wa_send(client, "3")  # a typed number answers a question with buttons
    assert crime["buttons"] == buttons_of(q.question("would_report_crime"))
    closing = wa_send(client, button=("not_sure", "Not sure"))
    assert closing["replies"] == [q.message("closing", "en")] and closing["buttons"] == []
    run_jobs(app)
    answers = stored_answers(db)
    assert answers["status"] == q.question("status").options[0].id
    assert answers["years_in_us"] == "gt10"
    assert answers["afraid_to_seek_help"] == "yes"
    assert answers["knows_deported"] == "several"
    assert answers["would_report_crime"] == "not_sure"
    # No content, no Twilio: nothing was handed to a job; every reply came back as TwiML.
    assert get_queue(redis).count == 0
    # The person's chosen name and number reached no Redis value and no log line.
    blobs = [v for pair in redis_dump(redis) for v in pair]
    logs = [str(r.__dict__) for r in caplog.records]
    assert blobs and logs, "the scan must see something"
    for needle in (SIMULATED_PROFILE_NAME, PHONE[1:]):
        assert not any(needle.encode() in blob for blob in blobs), f"{needle!r} in Redis"
        assert not any(needle in line for line in logs), f"{needle!r} in the logs"


def test_the_webhook_gets_whatsapp_fields_and_sms_mode_shows_no_buttons(app, client):
    q = q_of(app)
    seen = []

    def listen(_pseudonym: str, **step) -> None:  # noqa: ANN003
        seen.append(step["events"])

    with message_applied.connected_to(listen):
        wa_send(client, "SURVEY", whatsapp=False)
        wa_send(client, "1", whatsapp=False)
        texted = wa_send(client, "1", whatsapp=False)
    assert len(seen) == 3
    # By SMS the same question goes as numbered text, without buttons.
    assert texted["replies"] == [render_question(q.question("years_in_us"), "en")]
    assert texted["buttons"] == []
    # One number, one conversation: on WhatsApp the pending question comes with its buttons.
    again = wa_send(client, "HELP")
    assert q.question("years_in_us").text["en"].strip() in again["replies"][-1]


def test_a_stale_button_is_read_as_the_text_it_showed(app, client, db):
    q = q_of(app)
    wa_send(client, "SURVEY")
    wa_send(client, "1")
    wa_send(client, "1")  # years_in_us waits, with buttons
    # A button of another question whose text is no option here: asked again, nothing stored.
    stale = wa_send(client, button=("not_sure", "Not sure"))
    assert stale["buttons"] == buttons_of(q.question("years_in_us"))
    assert q.question("years_in_us").text["en"].strip() in stale["replies"][-1]
    assert "years_in_us" not in stored_answers(db)


@pytest.mark.parametrize(
    "payload",
    [
        {"from": PHONE, "whatsapp": False, "button": {"id": "yes", "title": "Yes"}},
        {"from": PHONE, "whatsapp": True, "button": ["yes", "Yes"]},
        {"from": PHONE, "whatsapp": True, "button": {"id": 3, "title": "Yes"}},
        {"from": PHONE, "whatsapp": True, "button": {"id": " ", "title": "Yes"}},
        {"from": PHONE, "whatsapp": True, "button": "yes"},
    ],
)
def test_a_bad_button_gets_a_clear_400(client, redis, payload):
    response = client.post("/simulator/api/send", json=payload)
    assert response.status_code == 400
    assert "button" in response.get_json()["error"]
    assert not redis.keys("session:*")


def test_a_picture_on_whatsapp_gets_the_question_again(app, client):
    q = q_of(app)
    wa_send(client, "SURVEY")
    wa_send(client, "1")
    wa_send(client, "1")
    response = client.post(
        "/simulator/api/send", json={"from": PHONE, "whatsapp": True, "media": True}
    )
    data = response.get_json()
    assert response.status_code == 200 and len(data["replies"]) >= 2
    assert data["replies"][-1] == q.question("years_in_us").text["en"].strip()
    assert data["buttons"] == buttons_of(q.question("years_in_us"))


# --- the terminal -----------------------------------------------------------------------------


def test_typed_numbers_tap_buttons_only_when_there_is_one():
    shown = [{"id": "yes", "title": "Yes"}, {"id": "no", "title": "No"}]
    assert tapped("2", shown) == shown[1]
    assert tapped("3", shown) is None and tapped("0", shown) is None
    assert tapped("1", []) is None and tapped("١", shown) is None and tapped("yes", shown) is None
    assert format_buttons(shown).splitlines()[1:] == ["     [1] Yes", "     [2] No"]


def test_terminal_whatsapp_survey_with_buttons(app, db, live_url, monkeypatch, capsys):
    q = q_of(app)
    years = q.question("years_in_us")
    # consent, status (typed), a tap of [3], a tap of [1], fear_reasons typed "2",
    # knows_deported: "7" is no button (sent as text, not understood), then "2"; then [3].
    lines = ["SURVEY", "1", "1", "3", "1", "2", "7", "2", "3"]
    feed_input(monkeypatch, lines)
    posted: list[tuple[str, str]] = []

    def webhook(_app, **_extra) -> None:  # noqa: ANN001, ANN003
        if request.path == "/twilio/sms":  # what the bot's webhook got from the simulator
            posted.append((request.form["MessageType"], request.form.get("ButtonPayload", "")))

    with request_started.connected_to(webhook, app):
        run_terminal_sim(live_url, PHONE, whatsapp=True)
    out = capsys.readouterr().out
    kinds = [kind for kind, _ in posted]
    # After "7" the bot says the answer was not understood (a text without buttons, as on
    # WhatsApp): the "2" that follows goes as text too, and the last question has buttons.
    assert kinds == ["text"] * 3 + ["button"] * 2 + ["text"] * 3 + ["button"]
    assert posted[3][1] == quick_replies(years, "en")[2][0]
    assert "WhatsApp messages go through the real signed webhook" in out
    assert f"bot> {years.text['en'].strip()}" in out
    for n, (_, title) in enumerate(quick_replies(years, "en"), start=1):
        assert f"     [{n}] {title}" in out
    third = quick_replies(years, "en")[2][1]
    assert f"(tapped [3] {third})" in out
    assert "(tapped [7]" not in out
    assert q.message("closing", "en") in out
    run_jobs(app)
    answers = stored_answers(db)
    assert answers["years_in_us"] == quick_replies(years, "en")[2][0]
    assert answers["afraid_to_seek_help"] == "yes"
    assert answers["knows_deported"] == quick_replies(q.question("knows_deported"), "en")[1][0]
    assert answers["would_report_crime"] == "not_sure"


def test_sim_command_takes_whatsapp(app, live_url):
    result = CliRunner().invoke(
        main,
        ["sim", "--url", live_url, "--from", PHONE, "--whatsapp"],
        input="SURVEY\n1\n1\n",
    )
    assert result.exit_code == 0, result.output
    assert "[1] " in result.output and "type a number to tap one" in result.output
    both = CliRunner().invoke(main, ["sim", "--url", live_url, "--phone", "--whatsapp"])
    assert both.exit_code != 0 and "choose one" in both.output


# --- the page in Chromium ---------------------------------------------------------------------


def test_the_page_shows_buttons_and_a_tap_answers(live_app, browser_context):
    from tests.live_server import expect

    app, base = live_app
    q = q_of(app)
    page = browser_context.new_page()
    page.goto(f"{base}/simulator")
    page.locator("#mode-whatsapp").click()
    expect(page.locator("#mode-whatsapp")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#sim-form")).to_be_visible()
    for body in ("SURVEY", "1", "1"):
        mine = page.locator("#sim-transcript .msg-me").count()
        page.locator("#sim-text").fill(body)
        page.locator("#sim-send").click()
        expect(page.locator("#sim-transcript .msg-me")).to_have_count(mine + 1)
        expect(page.locator("#sim-transcript .msg-bot")).to_have_count(mine + 1)
    years = quick_replies(q.question("years_in_us"), "en")
    taps = page.locator("#sim-transcript .quick-reply")
    expect(taps).to_have_text([title for _, title in years])
    expect(page.locator("#sim-transcript .msg-bot").last.locator(".quick-reply")).to_have_count(
        len(years)
    )
    posted: list[tuple[str, str]] = []

    def webhook(_app, **_extra) -> None:  # noqa: ANN001, ANN003
        if request.path == "/twilio/sms":
            posted.append((request.form["MessageType"], request.form.get("ButtonPayload", "")))

    with request_started.connected_to(webhook, app):
        taps.nth(2).click()
        expect(page.locator("#sim-transcript .msg-me").last).to_contain_text(years[2][1])
        afraid = quick_replies(q.question("afraid_to_seek_help"), "en")
        # Only the last message's buttons remain: the new question's.
        expect(page.locator("#sim-transcript .quick-reply")).to_have_text([t for _, t in afraid])
    assert posted == [("button", years[2][0])]
    expect(page.locator("#sim-transcript .system.error")).to_have_count(0)
    page.close()
