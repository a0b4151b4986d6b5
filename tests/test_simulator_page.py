"""The local simulator: its page and assets, its API through the real webhook, the terminal chat."""

from __future__ import annotations

import random
import re
import socket
import threading

import pytest
from werkzeug.serving import make_server

from bot import create_app
from bot.channels.simulator import IGNORED_NOTICE, OPTED_IN_NOTICE, OPTED_OUT_NOTICE
from bot.cli.terminal_sim import (
    AREA_CODES,
    banner,
    describe_failure,
    format_notices,
    format_outbox,
    format_replies,
    format_reply,
    make_up_number,
    pretty_number,
    run_terminal_sim,
)
from bot.infra.outbound import send_sms
from tests.live_server import feed_input

FICTIONAL = re.compile(r"^\+1\d{3}55501\d{2}$")
PHONE = "+13055550123"
MAX_STEPS = 15


def api_send(client, body: str, *, sender: str = PHONE, media: bool = False) -> list[str]:  # noqa: ANN001
    """Text the bot through the simulator API; returns its replies."""
    response = client.post(
        "/simulator/api/send", json={"from": sender, "body": body, "media": media}
    )
    assert response.status_code == 200, response.data
    data = response.get_json()
    assert data["status"] == 200
    return data["replies"]


# --- the page -----------------------------------------------------------------------------


def test_page_links_its_api_and_assets(client):
    response = client.get("/simulator")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-send-url="/simulator/api/send"' in html
    assert 'data-outbox-url="/simulator/api/outbox"' in html
    assert 'href="/static/simulator.css"' in html
    assert 'src="/static/simulator.js"' in html
    assert 'aria-live="polite"' in html
    assert re.search(r'<label [^>]*for="sim-number"', html)
    assert re.search(r'<label [^>]*for="sim-text"', html)
    for word in ("HELP", "SKIP", "BACK", "LANGUAGE", "RESTART", "STOP", "START"):
        assert f'data-body="{word}"' in html
    assert "nothing goes to real phones" in html.lower()
    assert "//cdn" not in html and "https://" not in html


@pytest.mark.parametrize(
    ("path", "mimetype", "needle"),
    [
        ("/static/simulator.js", "text/javascript", "dataset.sendUrl"),
        ("/static/simulator.css", "text/css", "pre-wrap"),
    ],
)
def test_assets_are_served(client, path, mimetype, needle):
    response = client.get(path)
    try:
        assert response.status_code == 200
        assert response.mimetype == mimetype
        assert needle in response.get_data(as_text=True)
    finally:
        response.close()


def test_page_makes_up_numbers_in_the_fictional_range(client):
    response = client.get("/static/simulator.js")
    try:
        script = response.get_data(as_text=True)
    finally:
        response.close()
    assert '"55501"' in script
    assert "Math.random() * 100" in script


def test_simulator_is_off_outside_development_unless_enabled(redis, settings_overrides):
    overrides = dict(settings_overrides, SIMULATOR_ENABLED="0")
    assert overrides["SURVEYBOT_ENV"] == "test"
    app = create_app(overrides)
    try:
        client = app.test_client()
        assert client.get("/simulator").status_code == 404
        response = client.post("/simulator/api/send", json={"from": PHONE, "body": "hi"})
        assert response.status_code == 404
        assert "simulator" not in app.blueprints
    finally:
        app.extensions["surveybot"].redis.close()


# --- the API, through the real signed webhook -------------------------------------------------


def test_first_text_gets_the_language_menu(app, client):
    questionnaire = app.extensions["surveybot"].questionnaire
    replies = api_send(client, "hola")
    text = "\n".join(replies)
    lines = text.splitlines()
    for number, lang in enumerate(questionnaire.languages, start=1):
        assert questionnaire.language_prompt[lang] in text
        assert any(
            str(number) in line for line in lines if questionnaire.language_prompt[lang] in line
        )
    assert len(lines) >= 3


def test_survey_keyword_starts_english_consent(app, client):
    consent = app.extensions["surveybot"].questionnaire.message("consent", "en")
    assert consent in "\n".join(api_send(client, "SURVEY"))


def test_a_whole_survey_through_the_simulator(app, client):
    questionnaire = app.extensions["surveybot"].questionnaire
    closing = questionnaire.message("closing", "en")
    first_question = questionnaire.questions[0].text["en"].strip()
    assert questionnaire.message("consent", "en") in "\n".join(api_send(client, "SURVEY"))
    replies = api_send(client, "1")  # consent: yes
    assert first_question in "\n".join(replies)
    for _ in range(MAX_STEPS):
        if closing in "\n".join(replies):
            break
        replies = api_send(client, "1")
    assert closing in "\n".join(replies)
    # The conversation is over: the next text does not ask a question again.
    assert first_question not in "\n".join(api_send(client, "1"))


def test_send_needs_a_number(client):
    response = client.post("/simulator/api/send", json={"body": "hola"})
    assert response.status_code == 400


def test_outbox_pops_texts_the_bot_sent_on_its_own(app, client, redis):
    settings = app.extensions["surveybot"].settings
    send_sms(settings, app.extensions["surveybot"].redis, PHONE, "An invitation\nline two")
    assert client.post("/simulator/api/outbox", json={"from": PHONE}).get_json() == {
        "messages": ["An invitation\nline two"]
    }
    assert client.post("/simulator/api/outbox", json={"from": PHONE}).get_json() == {"messages": []}
    assert client.post("/simulator/api/outbox", json={}).status_code == 400


def test_the_number_never_goes_in_a_url(app, client):
    """Request logs keep URLs: the outbox takes the number in its body, and no simulator
    route reads one from a query string."""
    settings = app.extensions["surveybot"].settings
    send_sms(settings, app.extensions["surveybot"].redis, PHONE, "An invitation")
    assert client.get("/simulator/api/outbox", query_string={"from": PHONE}).status_code == 405
    asked = client.post("/simulator/api/outbox", query_string={"from": PHONE}, json={})
    assert asked.status_code == 400
    assert client.post("/simulator/api/outbox", json={"from": PHONE}).get_json() == {
        "messages": ["An invitation"]
    }
    sent = client.post("/simulator/api/send", query_string={"from": PHONE}, json={"body": "hi"})
    assert sent.status_code == 400


def send_json(client, body: str, *, sender: str = PHONE) -> dict:  # noqa: ANN001
    """Text the bot through the simulator API; returns its whole JSON answer."""
    response = client.post("/simulator/api/send", json={"from": sender, "body": body})
    assert response.status_code == 200, response.data
    return response.get_json()


def test_stop_shows_the_opt_out_start_the_opt_in(app, client, redis):
    questionnaire = app.extensions["surveybot"].questionnaire
    started = send_json(client, "SURVEY")
    assert started["notices"] == [] and started["events"] == []
    assert questionnaire.message("consent", "en") in "\n".join(started["replies"])

    # STOP: the bot sends nothing; the page says what Twilio would do instead.
    stopped = send_json(client, "STOP")
    assert stopped["replies"] == []
    assert stopped["events"] == ["opted_out"]
    assert stopped["notices"] == [OPTED_OUT_NOTICE]
    for words in ("opted out", "Twilio", "Advanced Opt-Out", "until it texts START"):
        assert words in OPTED_OUT_NOTICE

    # Texts while opted out are ignored, and the page says why (STOP again too).
    for body in ("1", "hola", "STOP"):
        ignored = send_json(client, body)
        assert (ignored["replies"], ignored["events"]) == ([], [])
        assert ignored["notices"] == [IGNORED_NOTICE]

    # START: opted back in; the bot's own replies follow the notice.
    back = send_json(client, "START")
    assert back["events"] == ["opted_in"]
    assert back["notices"] == [OPTED_IN_NOTICE]
    assert "opted back in" in OPTED_IN_NOTICE and "Twilio" in OPTED_IN_NOTICE
    assert back["replies"] and questionnaire.message("opted_in", "en") in back["replies"][0]
    after = send_json(client, "hola")
    assert after["notices"] == [] and after["replies"]


# --- terminal simulator: pure parts -----------------------------------------------------------


def test_made_up_numbers_are_fictional():
    rng = random.Random(1)
    numbers = {make_up_number(rng) for _ in range(200)}
    assert all(FICTIONAL.match(n) for n in numbers)
    assert {n[2:5] for n in numbers} <= set(AREA_CODES)
    assert len(numbers) > 50
    assert FICTIONAL.match(make_up_number())


def test_pretty_number():
    assert pretty_number("+13055550142") == "+1 (305) 555-0142"
    assert pretty_number("+50937000000") == "+50937000000"


def test_format_reply_indents_further_lines():
    assert format_reply("Question?\n1. Yes\n2. No") == "bot> Question?\n     1. Yes\n     2. No"
    assert format_reply("") == "bot>"
    assert format_reply("Hi", "(sent by the bot)") == "bot> (sent by the bot) Hi"


def test_format_replies_and_outbox():
    assert format_replies(["a", "b\nc"]) == "bot> a\nbot> b\n     c"
    assert format_replies([]) == "bot> (no reply)"
    assert format_outbox([]) == ""
    assert format_outbox(["x"]) == "bot> (sent by the bot) x"


def test_banner_names_the_number_and_how_to_quit():
    text = banner("http://127.0.0.1:5000", "+13055550142")
    assert "+1 (305) 555-0142" in text and "+13055550142" in text
    assert "Ctrl-D" in text and "/quit" in text


def test_describe_failure():
    assert describe_failure(502, {"status": 403, "replies": []}) == (
        "error: the simulator answered HTTP 502 (the webhook answered 403)"
    )
    assert "a simulated phone needs a number" in describe_failure(
        400, {"error": "a simulated phone needs a number"}
    )
    assert describe_failure(500, None) == "error: the simulator answered HTTP 500"


# --- terminal simulator: end to end over HTTP -------------------------------------------------


def questionnaire_consent_start(app) -> str:  # noqa: ANN001
    """The first line of the English consent text, as the terminal prints it."""
    consent = app.extensions["surveybot"].questionnaire.message("consent", "en")
    return "bot> " + consent.splitlines()[0]


def test_terminal_chat_end_to_end(app, live_url, monkeypatch, capsys):
    questionnaire = app.extensions["surveybot"].questionnaire
    prompts = feed_input(monkeypatch, ["hola", "1", ""])
    run_terminal_sim(live_url + "/", PHONE)
    out = capsys.readouterr().out
    assert "+1 (305) 555-0123" in out
    for lang in questionnaire.languages:
        assert questionnaire.language_prompt[lang] in out
    consent = questionnaire.message("consent", "en")
    assert f"bot> {consent.splitlines()[0]}" in out
    assert consent.splitlines()[-1] in out
    assert out.rstrip().endswith("bye")
    assert prompts == ["you> "] * 4  # three lines, then Ctrl-D


def test_terminal_chat_makes_up_a_number_and_shows_the_outbox(app, live_url, monkeypatch, capsys):
    settings = app.extensions["surveybot"].settings
    redis = app.extensions["surveybot"].redis
    send_sms(settings, redis, PHONE, "You are invited\nto a survey")
    feed_input(monkeypatch, ["SURVEY", "/quit", "never sent"])
    run_terminal_sim(live_url, PHONE)
    out = capsys.readouterr().out
    assert "bot> (sent by the bot) You are invited\n     to a survey" in out
    assert out.index("You are invited") < out.index("This anonymous survey")
    assert questionnaire_consent_start(app) in out

    feed_input(monkeypatch, [])
    run_terminal_sim(live_url, None)
    match = re.search(r"\((\+1\d{10})\)", capsys.readouterr().out)
    assert match and FICTIONAL.match(match[1])


def test_terminal_chat_shows_stop_and_start(app, live_url, monkeypatch, capsys):
    opted_in = app.extensions["surveybot"].questionnaire.message("opted_in", "en")
    feed_input(monkeypatch, ["SURVEY", "STOP", "1", "START"])
    run_terminal_sim(live_url, PHONE)
    out = capsys.readouterr().out
    stop = out.index(f"-- {OPTED_OUT_NOTICE}")
    ignored = out.index(f"-- {IGNORED_NOTICE}")
    start = out.index(f"-- {OPTED_IN_NOTICE}")
    assert stop < ignored < start < out.index(opted_in.splitlines()[0])
    # The notice says why the bot is silent: no "(no reply)" beside it.
    assert "(no reply)" not in out


def test_format_notices():
    assert format_notices(["a", "b"]) == "-- a\n-- b"


def test_terminal_sim_picture_command_sends_media(app, live_url, monkeypatch, capsys):
    text_only = app.extensions["surveybot"].questionnaire.message("text_only", "en")
    feed_input(monkeypatch, ["/picture"])
    run_terminal_sim(live_url, PHONE)
    out = capsys.readouterr().out
    assert f"bot> {text_only}" in out
    assert app.extensions["surveybot"].questionnaire.language_prompt["en"] in out


def test_terminal_sim_unreachable_url_exits_1(monkeypatch, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port now: the connection is refused.
    feed_input(monkeypatch, ["hola"])
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(SystemExit) as exit_info:
        run_terminal_sim(url, PHONE)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert f"is `surveybot dev` running at {url}?" in err
    assert len(err.strip().splitlines()) == 1


def test_terminal_sim_says_when_the_simulator_is_off(
    redis, settings_overrides, monkeypatch, capsys
):
    app = create_app(dict(settings_overrides, SIMULATOR_ENABLED="0"))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="sim-off-server")
    thread.start()
    try:
        feed_input(monkeypatch, ["hola"])
        with pytest.raises(SystemExit) as exit_info:
            run_terminal_sim(f"http://127.0.0.1:{server.port}", PHONE)
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
        app.extensions["surveybot"].redis.close()
    assert exit_info.value.code == 1
    assert "no simulator" in capsys.readouterr().err


def test_terminal_sim_ctrl_c_exits_cleanly(monkeypatch, capsys, live_url):
    def interrupted(prompt: str = "") -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("builtins.input", interrupted)
    run_terminal_sim(live_url, PHONE)
    assert capsys.readouterr().out.rstrip().endswith("bye")
