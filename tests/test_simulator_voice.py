"""The simulator's phone mode: Twilio's voice request parameters, TwiML parsing, signatures, and
the /simulator/api/call plumbing."""

from __future__ import annotations

import re

import pytest
from flask import Response, request
from twilio.request_validator import RequestValidator

from bot.channels.signatures import twilio_signed
from bot.channels.simulator import (
    INPUT_PARAMS,
    SIMULATED_ACCOUNT,
    SIMULATED_BOT_NUMBER,
    CallStatus,
    TooManyRedirects,
    call_params,
    deliver_call,
    new_call_sid,
    parse_voice_twiml,
    recording_name,
    signed_request,
)
from bot.cli.terminal_sim import format_prompt, gather_hint, next_payload, run_terminal_call
from tests.live_server import feed_input

PHONE = "+13055550123"
BASE = "https://bot.example.org"  # PUBLIC_BASE_URL of the test settings
SID = "CA" + "0123456789abcdef" * 2

LANGUAGE_MENU = f"""<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Gather action="{BASE}/twilio/voice/gather?n=0" method="POST" input="dtmf" numDigits="1"
          timeout="6" actionOnEmptyResult="true">
    <Say language="en-US" voice="Polly.Joanna">For English, press 1.</Say>
    <Say language="es-US" voice="Polly.Lupe">Para español, oprima 2.</Say>
    <Play>{BASE}/twilio/voice/audio/ht/menu.mp3</Play>
  </Gather>
  <Pause length="1"/>
  <Redirect method="POST">{BASE}/twilio/voice</Redirect>
</Response>"""

MULTI_QUESTION = f"""<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Say language="es-US" voice="Polly.Lupe">Gracias.</Say>
  <Pause length="1"/>
  <Gather action="{BASE}/twilio/voice/gather?n=4&amp;q=fear_reasons" method="POST"
          input="dtmf speech" finishOnKey="#" timeout="6" language="es-US"
          hints="deportación, idioma" actionOnEmptyResult="true">
    <Say language="es-US" voice="Polly.Lupe">¿Por qué? Oprima cada número y luego numeral.</Say>
  </Gather>
</Response>"""

CLOSING = """<Response>
  <Say language="en-US" voice="Polly.Joanna">Thank you. <break time="1s"/> Goodbye.</Say>
  <Play>https://bot.example.org/twilio/voice/audio/ht/closing.mp3</Play>
  <Hangup/>
</Response>"""


# --- Twilio's request parameters ------------------------------------------------------------


def test_call_sids_look_like_twilio_s():
    sids = {new_call_sid() for _ in range(50)}
    assert len(sids) == 50
    assert all(re.fullmatch(r"CA[0-9a-f]{32}", sid) for sid in sids)


def test_call_params_of_a_ringing_call():
    params = call_params(PHONE, SID, status=CallStatus.RINGING)
    assert params["CallSid"] == SID
    assert params["AccountSid"] == SIMULATED_ACCOUNT
    assert params["From"] == params["Caller"] == PHONE
    assert params["To"] == params["Called"] == SIMULATED_BOT_NUMBER
    assert params["CallStatus"] == "ringing"
    assert params["Direction"] == "inbound"
    assert params["ApiVersion"] == "2010-04-01"
    assert params["FromCountry"] == params["CallerCountry"] == "US"
    for geo in ("City", "State", "Zip", "Country"):
        for who in ("From", "To", "Caller", "Called"):
            assert f"{who}{geo}" in params
    # Nothing entered yet, and no end-of-call fields.
    assert not set(INPUT_PARAMS) & set(params)
    assert "CallDuration" not in params
    assert all(isinstance(value, str) for value in params.values())


def test_call_params_carry_the_caller_s_input():
    pressed = call_params(PHONE, SID, status="in-progress", digits="13", finished_on_key="#")
    assert pressed["CallStatus"] == "in-progress"
    assert (pressed["Digits"], pressed["FinishedOnKey"]) == ("13", "#")
    assert "SpeechResult" not in pressed
    one_key = call_params(PHONE, SID, status="in-progress", digits="*")
    assert (one_key["Digits"], one_key["FinishedOnKey"]) == ("*", "")
    said = call_params(PHONE, SID, status="in-progress", speech="sí")
    assert said["SpeechResult"] == "sí"
    assert 0 < float(said["Confidence"]) <= 1
    assert "Digits" not in said
    silent = call_params(PHONE, SID, status="in-progress")
    assert "Digits" not in silent and "SpeechResult" not in silent


def test_call_params_of_the_status_callback():
    params = call_params(PHONE, SID, status=CallStatus.COMPLETED, duration=42)
    assert params["CallStatus"] == "completed"
    assert params["CallDuration"] == "42"
    assert params["CallbackSource"] == "call-progress-events"
    assert params["SequenceNumber"] == "0"
    assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT", params["Timestamp"])
    with pytest.raises(ValueError):
        call_params(PHONE, SID, status="on-hold")


def test_a_number_outside_north_america_has_no_country_guess():
    params = call_params("+50937000000", SID, status="ringing")
    assert params["FromCountry"] == ""
    assert params["ToCountry"] == "US"


# --- TwiML --------------------------------------------------------------------------------


def test_parse_the_language_menu():
    twiml = parse_voice_twiml(LANGUAGE_MENU)
    assert twiml["prompts"] == [
        {
            "text": "For English, press 1.",
            "language": "en-US",
            "voice": "Polly.Joanna",
            "audio": None,
        },
        {
            "text": "Para español, oprima 2.",
            "language": "es-US",
            "voice": "Polly.Lupe",
            "audio": None,
        },
        {
            "text": None,
            "language": None,
            "voice": None,
            "audio": f"{BASE}/twilio/voice/audio/ht/menu.mp3",
        },
    ]
    assert twiml["gather"] == {
        "action": f"{BASE}/twilio/voice/gather?n=0",
        "method": "POST",
        "input": "dtmf",
        "numDigits": 1,
        "finishOnKey": "#",  # Twilio's default
        "timeout": 6,
        "language": "en-US",
        "hints": None,
        "actionOnEmptyResult": True,
    }
    assert twiml["hangup"] is False
    # Heard only if the <Gather> timed out without actionOnEmptyResult.
    assert twiml["redirect"] == f"{BASE}/twilio/voice"


def test_parse_a_multiple_choice_question():
    twiml = parse_voice_twiml(MULTI_QUESTION.encode("utf-8"))
    assert [p["text"] for p in twiml["prompts"]] == [
        "Gracias.",
        "¿Por qué? Oprima cada número y luego numeral.",
    ]
    assert {p["language"] for p in twiml["prompts"]} == {"es-US"}
    gather = twiml["gather"]
    assert gather["action"] == f"{BASE}/twilio/voice/gather?n=4&q=fear_reasons"
    assert gather["input"] == "dtmf speech"
    assert gather["numDigits"] is None
    assert gather["finishOnKey"] == "#"
    assert gather["language"] == "es-US"
    assert gather["hints"] == "deportación, idioma"
    assert (twiml["hangup"], twiml["redirect"]) == (False, None)


def test_parse_a_closing_that_hangs_up():
    twiml = parse_voice_twiml(CLOSING)
    assert [p["text"] for p in twiml["prompts"]] == ["Thank you. Goodbye.", None]
    assert twiml["prompts"][1]["audio"] == f"{BASE}/twilio/voice/audio/ht/closing.mp3"
    assert twiml["gather"] is None
    assert twiml["hangup"] is True
    assert twiml["redirect"] is None


def test_parse_resolves_relative_urls_and_twilio_defaults():
    xml = (
        "<Response><Say>Hello</Say><Gather><Play>audio/en/q1.mp3</Play></Gather>"
        '<Gather action="gather?n=2"/></Response>'
    )
    twiml = parse_voice_twiml(xml, base_url=f"{BASE}/twilio/voice")
    assert twiml["prompts"][0]["language"] == "en-US"  # <Say>'s default
    assert twiml["prompts"][1]["audio"] == f"{BASE}/twilio/audio/en/q1.mp3"
    gather = twiml["gather"]
    # No action: Twilio posts back to the document's own URL. A second <Gather> is not reached.
    assert gather["action"] == f"{BASE}/twilio/voice"
    assert (gather["input"], gather["timeout"], gather["finishOnKey"]) == ("dtmf", 5, "#")
    assert gather["actionOnEmptyResult"] is False
    redirect = parse_voice_twiml(
        "<Response><Redirect>/twilio/voice?retry=1</Redirect><Say>never</Say></Response>",
        base_url=f"{BASE}/twilio/voice/gather?n=1",
    )
    assert redirect == {
        "prompts": [],
        "gather": None,
        "hangup": False,
        "redirect": f"{BASE}/twilio/voice?retry=1",
    }


def test_parse_refuses_what_is_not_twiml():
    with pytest.raises(ValueError):
        parse_voice_twiml("<html><body>Not found</body></html>")


def test_recording_names():
    assert recording_name(f"{BASE}/twilio/voice/audio/ht/consent.mp3") == "ht/consent.mp3"
    assert recording_name("https://cdn.example.org/a/b/menu.wav") == "menu.wav"


# --- signatures ---------------------------------------------------------------------------


@pytest.fixture
def echo(app):
    """A test-only route behind the real signature check, which records what it received
    and answers with a <Redirect> the first time, to a <Gather> after that."""
    seen: list[dict] = []

    @twilio_signed
    def view() -> Response:
        seen.append(
            {
                "url": request.url,
                "form": request.form.to_dict(),
                "signature": request.headers.get("X-Twilio-Signature", ""),
            }
        )
        if "again" not in request.args:
            body = f"<Say>One</Say><Redirect>{BASE}/sim-test/echo?again=1&amp;x=y</Redirect>"
        else:
            body = '<Say language="es-US">Dos</Say><Gather numDigits="1"><Say>Tres</Say></Gather>'
        return Response(f"<Response>{body}</Response>", mimetype="text/xml")

    app.add_url_rule("/sim-test/echo", "sim_test_echo", view, methods=["GET", "POST"])
    return seen


def test_deliver_call_signs_as_twilio_and_follows_redirects(app, echo):
    token = app.extensions["surveybot"].settings.TWILIO_AUTH_TOKEN
    params = call_params(PHONE, SID, status="in-progress", digits="2")
    url = f"{BASE}/sim-test/echo?step=1"
    status, twiml = deliver_call(app, url, params)
    assert status == 200
    assert [p["text"] for p in twiml["prompts"]] == ["One", "Dos", "Tres"]
    assert twiml["gather"]["action"] == f"{BASE}/sim-test/echo?again=1&x=y"
    first, second = echo
    # Each request was signed against the absolute public URL with its query string.
    validator = RequestValidator(token)
    assert first["url"] == url
    assert validator.validate(url, first["form"], first["signature"])
    assert first["form"] == params
    redirected = f"{BASE}/sim-test/echo?again=1&x=y"
    assert second["url"] == redirected
    assert validator.validate(redirected, second["form"], second["signature"])
    # A <Redirect> carries the call, not the caller's earlier input.
    assert "Digits" not in second["form"] and second["form"]["CallSid"] == SID


def test_a_tampered_request_is_refused(app, echo):
    params = call_params(PHONE, SID, status="in-progress", digits="1")
    signature = RequestValidator("not-our-token").compute_signature(f"{BASE}/sim-test/echo", params)
    client = app.test_client()
    response = client.post("/sim-test/echo", data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    # Signed for other parameters than those posted.
    good = RequestValidator(app.extensions["surveybot"].settings.TWILIO_AUTH_TOKEN)
    signature = good.compute_signature(f"{BASE}/sim-test/echo", params)
    response = client.post(
        "/sim-test/echo",
        data={**params, "Digits": "2"},
        headers={"X-Twilio-Signature": signature},
        base_url=BASE,
    )
    assert response.status_code == 403
    assert echo == []


def test_a_redirect_loop_gives_up(app):
    def loop() -> Response:
        return Response(f"<Response><Redirect>{BASE}/sim-test/loop</Redirect></Response>")

    app.add_url_rule("/sim-test/loop", "sim_test_loop", loop, methods=["POST"])
    with pytest.raises(TooManyRedirects):
        deliver_call(app, f"{BASE}/sim-test/loop", call_params(PHONE, SID, status="ringing"))


def test_signed_get_carries_the_params_in_the_signed_url(app, echo):
    status, _body, mimetype = signed_request(app, f"{BASE}/sim-test/echo", {"a": "1"}, method="GET")
    assert (status, mimetype) == (200, "text/xml")
    assert echo[0]["url"] == f"{BASE}/sim-test/echo?a=1"


# --- the API's guard rails and the page ------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"action": "start"}, "needs a number"),
        ({"from": PHONE, "action": "dance"}, "action must be"),
        ({"from": PHONE, "action": "press", "call_sid": "CA123"}, "which call"),
        (
            {"from": PHONE, "action": "press", "call_sid": SID, "url": f"{BASE}/twilio/sms"},
            "voice URLs",
        ),
        (
            {
                "from": PHONE,
                "action": "press",
                "call_sid": SID,
                "url": "https://elsewhere.example.com/twilio/voice/gather",
            },
            "voice URLs",
        ),
        (
            {
                "from": PHONE,
                "action": "press",
                "call_sid": SID,
                "url": f"{BASE}/twilio/voice/../sms",
            },
            "voice URLs",
        ),
        (
            {
                "from": PHONE,
                "action": "press",
                "call_sid": SID,
                "url": f"{BASE}/twilio/voice/gather?n=1",
                "digits": "1a",
            },
            "digits are",
        ),
    ],
)
def test_call_api_refuses_bad_requests(client, payload, error):
    response = client.post("/simulator/api/call", json=payload)
    assert response.status_code == 400
    assert error in response.get_json()["error"]


def test_audio_proxy_serves_only_the_bot_s_recordings(client):
    response = client.get("/simulator/api/audio", query_string={"url": f"{BASE}/twilio/sms"})
    assert response.status_code == 400
    response = client.get(
        "/simulator/api/audio", query_string={"url": "https://elsewhere.example.com/a.mp3"}
    )
    assert response.status_code == 400


def test_page_has_the_phone_mode(client):
    response = client.get("/simulator")
    html = response.get_data(as_text=True)
    assert 'data-call-url="/simulator/api/call"' in html
    assert 'src="/static/simulator_phone.js"' in html
    assert 'aria-pressed="true" aria-controls="sms-mode">Text<' in html
    assert re.search(r'id="call-mode"[^>]*hidden', html)
    keys = re.findall(r'data-key="([0-9*#])"', html)
    assert keys == list("123456789*0#")
    for control in ("call-start", "call-hangup", "call-no-answer", "call-mute", "call-speech"):
        assert f'id="{control}"' in html
    assert re.search(r'<label [^>]*for="call-speech"', html)
    # Scripts come from files only, and the CSP says so.
    assert "<script>" not in html and "onclick" not in html
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "media-src 'self'" in csp
    assert "unsafe-inline" not in csp


def test_phone_script_is_served_and_never_needs_speech_synthesis(client):
    response = client.get("/static/simulator_phone.js")
    try:
        assert response.status_code == 200
        assert response.mimetype == "text/javascript"
        script = response.get_data(as_text=True)
    finally:
        response.close()
    assert "dataset.callUrl" in script
    assert "SpeechSynthesisUtterance" in script
    assert "utterance.lang = item.language" in script
    # Guarded: a browser without speech synthesis (headless Chromium) gets text only.
    assert 'typeof window.SpeechSynthesisUtterance === "function"' in script


# --- whole calls through /simulator/api/call and the real voice routes ----------------------

MAX_STEPS = 20  # answers after consent; the survey has fewer questions than this


def call_api(client, **payload) -> dict:  # noqa: ANN001, ANN003
    """One step of a simulated call from PHONE; asserts the bot answered 200."""
    response = client.post("/simulator/api/call", json={"from": PHONE, **payload})
    assert response.status_code == 200, response.data
    data = response.get_json()
    assert data["status"] in (200, 204), data
    return data


def press(client, answer: dict, digits: str, **extra) -> dict:  # noqa: ANN001, ANN003
    """Press keys at the <Gather> of the previous answer."""
    gather = answer["gather"]
    assert gather is not None, answer
    if gather["numDigits"] is None and "finished_on_key" not in extra:
        extra["finished_on_key"] = gather["finishOnKey"]  # press each number, then #
    return call_api(
        client,
        action="press",
        call_sid=answer["call_sid"],
        url=gather["action"],
        digits=digits,
        **extra,
    )


def said(answer: dict) -> str:
    """Everything the bot said in one answer."""
    return " ".join(p["text"] for p in answer["prompts"])


def speech(app, prompt: str, lang: str = "en") -> str:  # noqa: ANN001
    """What the phone channel says for a named prompt (the voice module's own wording)."""
    from bot.core.voice_prompts import prompt_speech

    return prompt_speech(app.extensions["surveybot"].questionnaire, prompt, lang)


def completed_calls(redis) -> int:  # noqa: ANN001
    """Completed calls counted by the status callback route, over every day."""
    from bot.infra import keys

    return sum(
        int(redis.hget(key, "completed") or 0) for key in redis.scan_iter(keys.call_stats("*"))
    )


def test_a_whole_call_through_the_simulator(app, client, redis):
    questionnaire = app.extensions["surveybot"].questionnaire
    menu = call_api(client, action="start")
    assert re.fullmatch(r"CA[0-9a-f]{32}", menu["call_sid"])
    # The language menu, in each language, with a language and voice for each prompt.
    for lang in questionnaire.languages:
        assert speech(app, "language_prompt", lang) in said(menu)
    assert len({p["language"] for p in menu["prompts"]}) == len(questionnaire.languages)
    assert all(p["voice"] for p in menu["prompts"])
    assert menu["gather"]["numDigits"] == 1
    assert menu["gather"]["action"].startswith(f"{BASE}/twilio/voice/gather?")
    assert (menu["hangup"], menu["ended"], menu["status_callback"]) == (False, False, None)

    consent = press(client, menu, "1")  # English
    assert consent["call_sid"] == menu["call_sid"]
    assert speech(app, "message.consent") in said(consent)
    assert {p["language"] for p in consent["prompts"]} == {"en-US"}

    answer = press(client, consent, "1")  # consent: yes
    first = questionnaire.questions[0]
    assert speech(app, f"question.{first.id}") in said(answer)
    closing = speech(app, "message.closing")
    multi_seen = False
    for _ in range(MAX_STEPS):
        if answer["ended"]:
            break
        multi_seen |= answer["gather"]["numDigits"] is None
        answer = press(client, answer, "1")
    assert closing in said(answer)
    assert multi_seen, "a multiple-choice question takes keys, then #"
    # The bot hung up, and the simulator sent Twilio's status callback, which the route took.
    assert answer["hangup"] is True and answer["gather"] is None
    assert answer["ended"] is True
    assert answer["status_callback"] in (200, 204)
    assert completed_calls(redis) == 1


def test_hanging_up_half_way_sends_the_status_callback_and_a_new_call_resumes(app, client, redis):
    menu = call_api(client, action="start")
    consent = press(client, menu, "2")  # Spanish
    assert speech(app, "message.consent", "es") in said(consent)
    question = press(client, consent, "1")
    hung_up = call_api(client, action="hangup", call_sid=menu["call_sid"], duration=37)
    assert hung_up["ended"] is True
    assert hung_up["status_callback"] in (200, 204)
    assert hung_up["prompts"] == [] and hung_up["gather"] is None
    assert completed_calls(redis) == 1

    again = call_api(client, action="start")
    assert again["call_sid"] != menu["call_sid"]
    # The same number calls back: the survey goes on in Spanish, at the same question.
    assert speech(app, "message.resumed", "es") in said(again)
    first = app.extensions["surveybot"].questionnaire.questions[0]
    assert speech(app, f"question.{first.id}", "es") in said(question)
    assert speech(app, f"question.{first.id}", "es") in said(again)


def test_speech_and_no_answer(app, client):
    menu = call_api(client, action="start")
    consent = press(client, menu, "1")
    assert "speech" in consent["gather"]["input"]
    # Nothing pressed: Twilio posts to the action after the timeout, without Digits.
    silence = call_api(
        client,
        action="press",
        call_sid=menu["call_sid"],
        url=consent["gather"]["action"],
        digits="",
    )
    assert silence["ended"] is False and silence["gather"] is not None
    assert silence["gather"]["action"] != consent["gather"]["action"]
    answer = call_api(
        client,
        action="say",
        call_sid=menu["call_sid"],
        url=silence["gather"]["action"],
        speech="one",
    )
    first = app.extensions["surveybot"].questionnaire.questions[0]
    assert speech(app, f"question.{first.id}") in said(answer)


def test_a_tampered_request_to_the_voice_route_is_refused(app):
    params = call_params(PHONE, SID, status="ringing")
    url = f"{BASE}/twilio/voice"
    forged = RequestValidator("not-our-token").compute_signature(url, params)
    response = app.test_client().post(
        "/twilio/voice", data=params, headers={"X-Twilio-Signature": forged}
    )
    assert response.status_code == 403
    good = RequestValidator(app.extensions["surveybot"].settings.TWILIO_AUTH_TOKEN)
    response = app.test_client().post(
        "/twilio/voice",
        data={**params, "From": "+13055550199"},  # not what was signed
        headers={"X-Twilio-Signature": good.compute_signature(url, params)},
    )
    assert response.status_code == 403
    status, body, _ = signed_request(app, url, params)
    assert status == 200 and parse_voice_twiml(body)["gather"] is not None


@pytest.fixture
def audio_app(redis, settings_overrides, tmp_path):
    """An app with one Kreyòl recording on disk: the language menu's."""
    from bot import create_app
    from workers import context

    folder = tmp_path / "audio"
    (folder / "ht").mkdir(parents=True)
    (folder / "ht" / "language_prompt.mp3").write_bytes(b"ID3 not really an mp3")
    app = create_app({**settings_overrides, "VOICE_AUDIO_DIR": str(folder)})
    context.configure(app.extensions["surveybot"].settings)
    yield app
    context.configure(None)
    app.extensions["surveybot"].redis.close()


def test_a_recording_is_shown_and_served_to_the_page(audio_app):
    client = audio_app.test_client()
    menu = call_api(client, action="start")
    (played,) = [p for p in menu["prompts"] if p["audio"]]
    assert played["audio"] == f"{BASE}/twilio/voice/audio/ht/language_prompt.mp3"
    assert played["recording"] == "ht/language_prompt.mp3"
    assert played["text"] == "(recording: ht/language_prompt.mp3)"
    assert played["audio_found"] is True
    response = client.get(played["audio_src"])
    try:
        assert response.status_code == 200
        assert response.mimetype == "audio/mpeg"
        assert response.get_data() == b"ID3 not really an mp3"
    finally:
        response.close()


def test_a_missing_recording_is_shown_as_one(redis, settings_overrides, tmp_path):
    from bot import create_app

    # Recordings said to be served from this app's audio route, with none there.
    app = create_app(
        {
            **settings_overrides,
            "VOICE_AUDIO_DIR": str(tmp_path / "empty"),
            "VOICE_AUDIO_BASE_URL": f"{BASE}/twilio/voice/audio",
        }
    )
    try:
        menu = call_api(app.test_client(), action="start")
    finally:
        app.extensions["surveybot"].redis.close()
    (played,) = [p for p in menu["prompts"] if p["audio"]]
    assert played["recording"] == "ht/language_prompt.mp3"
    assert (played["audio_found"], played["audio_src"]) == (False, None)


# --- the terminal's phone mode (`surveybot sim --phone`) ------------------------------------

ONE_KEY = {
    "action": f"{BASE}/twilio/voice/gather?n=1",
    "input": "dtmf",
    "numDigits": 1,
    "finishOnKey": "#",
    "actionOnEmptyResult": True,
}
KEYS_THEN_POUND = {**ONE_KEY, "numDigits": None, "input": "dtmf speech"}


def test_terminal_prompts_and_hints():
    assert format_prompt({"text": "Hello\nthere", "language": "en-US", "audio": None}) == (
        "bot> [en-US] Hello\n     there"
    )
    recording = {"text": "(recording: ht/consent.mp3)", "language": None, "audio": "https://x"}
    assert format_prompt(recording) == "bot> [recording] (recording: ht/consent.mp3)"
    assert "press one key" in gather_hint(ONE_KEY) and "/say" not in gather_hint(ONE_KEY)
    assert "Enter is #" in gather_hint(KEYS_THEN_POUND) and "/say" in gather_hint(KEYS_THEN_POUND)
    assert gather_hint(None) == ""


def test_terminal_lines_become_call_steps():
    url = ONE_KEY["action"]
    one = {"gather": ONE_KEY, "redirect": None}
    assert next_payload("1", one) == {"action": "press", "url": url, "digits": "1"}
    assert next_payload(" * ", one) == {"action": "press", "url": url, "digits": "*"}
    assert next_payload("#", one) == {
        "action": "press",
        "url": url,
        "digits": "",
        "finished_on_key": "#",
    }
    assert next_payload("", one) == {"action": "press", "url": url, "digits": ""}
    assert next_payload("/hangup", one) == {"action": "hangup"}
    assert next_payload("/say yes", one) is None  # this <Gather> does not listen for speech
    assert next_payload("x", one) is None
    multi = {"gather": KEYS_THEN_POUND}
    for line in ("1 3", "13#", "13"):
        assert next_payload(line, multi) == {
            "action": "press",
            "url": url,
            "digits": "13",
            "finished_on_key": "#",
        }
    assert next_payload("/say one and three", multi) == {
        "action": "say",
        "url": url,
        "speech": " one and three",
    }
    # Without actionOnEmptyResult a timeout follows the <Redirect>, or ends the call.
    quiet = {**ONE_KEY, "actionOnEmptyResult": False}
    redirect = f"{BASE}/twilio/voice?retry=1"
    assert next_payload("", {"gather": quiet, "redirect": redirect}) == {
        "action": "press",
        "url": redirect,
        "digits": "",
    }
    assert next_payload("", {"gather": quiet, "redirect": None}) == {"action": "hangup"}


def test_terminal_call_end_to_end(app, live_url, monkeypatch, capsys, redis):
    # English, consent, then the first option of every question (keys then # when several).
    prompts = feed_input(monkeypatch, ["1", "1", *["1"] * MAX_STEPS])
    run_terminal_call(live_url, PHONE)
    out = capsys.readouterr().out
    assert "+1 (305) 555-0123" in out
    assert f"bot> [en-US] {speech(app, 'language_prompt')}" in out
    assert f"bot> [es-US] {speech(app, 'language_prompt', 'es')}" in out
    assert speech(app, "message.consent") in out
    assert "Enter is #" in out  # a multiple-choice question
    assert speech(app, "message.closing") in out
    assert re.search(r"-- the bot ended the call \(status callback: HTTP 20[04]\)\nbye\n$", out)
    assert len(prompts) < MAX_STEPS + 2  # the call ended before the lines ran out
    assert completed_calls(redis) == 1


def test_terminal_call_hang_up(app, live_url, monkeypatch, capsys, redis):
    feed_input(monkeypatch, ["2", "x", "/hangup", "1"])
    run_terminal_call(live_url, PHONE)
    out = capsys.readouterr().out
    assert speech(app, "message.consent", "es") in out
    assert "(keys are 0-9, * and #)" in out
    assert re.search(r"-- you hung up \(status callback: HTTP 20[04]\)\nbye\n$", out)
    assert completed_calls(redis) == 1
    # Ctrl-D hangs up too.
    feed_input(monkeypatch, [])
    run_terminal_call(live_url, PHONE)
    assert "-- you hung up" in capsys.readouterr().out
    assert completed_calls(redis) == 2


def test_sim_command_calls_with_phone(app, live_url):
    result = app.test_cli_runner().invoke(
        args=["sim", "--phone", "--url", live_url, "--from", PHONE], input="3\n/hangup\n"
    )
    assert result.exit_code == 0, result.output
    assert "calling the bot" in result.output
    assert speech(app, "language_prompt", "ht") in result.output
    assert "-- you hung up" in result.output
