"""Edges of what reaches the webhooks: senders Twilio cannot text back, odd signature headers,
bodies that are not forms, and Kreyòl recording names that a URL must encode."""

from __future__ import annotations

import hashlib
import json
import logging
from urllib.parse import quote

import pytest
import yaml
from twilio.request_validator import RequestValidator

from bot import create_app
from bot.channels.simulator import twilio_params
from bot.core.checks import check_file
from bot.core.questionnaire import DEFAULT_SURVEY_PATH
from tests.utils import replies_of, sms
from tests.voice_utils import Call

PHONE = "+13055550166"


# ------------------------------------------------- senders Twilio cannot deliver to (item 10)


@pytest.mark.parametrize(
    "sender",
    [
        "22395",  # a US short code (carriers' and businesses' texts)
        "+22395",  # the same with a plus: still 5 digits, no phone number
        "898211",  # a six-digit short code
        "MYBANK",  # an alphanumeric sender ID
        "Coalition",
        "+1 305",  # too few digits for any phone number in service
        "ABC1234567",  # a sender ID with digits in it is still a name
    ],
)
def test_a_sender_twilio_cannot_reply_to_gets_no_reply_and_leaves_nothing(
    client, redis, caplog, sender
):
    caplog.set_level(logging.INFO)
    for body in ("SURVEY", "1", "STOP", "Your code is 123456"):
        response = sms(client, sender, body)
        assert response.status_code == 200
        assert response.mimetype == "text/xml"
        assert replies_of(response) == []  # an empty <Response/>: Twilio sends nothing
        assert b"<Response></Response>" in response.data
    assert redis.keys("*") == []  # no session, no dedup key, no counter, no deletion job
    assert sender not in caplog.text
    assert "cannot reply to" in caplog.text


@pytest.mark.parametrize(
    "sender",
    [
        PHONE,
        "+509 3412 5678",
        "+1 (954) 555-0147",
        "whatsapp:+13055550168",
        "whatsapp:US.13491208655302741918",  # a WhatsApp user id: Twilio replies to it too
    ],
)
def test_a_phone_number_is_still_answered(client, redis, sender):
    assert replies_of(sms(client, sender, "SURVEY")) != []
    assert redis.keys("*") != []


def test_a_short_code_does_not_disturb_the_conversation_of_a_person(client):
    first = replies_of(sms(client, PHONE, "SURVEY"))
    assert first
    assert replies_of(sms(client, "22395", "1")) == []
    again = replies_of(sms(client, PHONE, "1"))  # the person's consent still applies
    assert again and again != first


# --------------------------------------------------------- signature headers (item 12)


@pytest.mark.parametrize(
    "header",
    [
        "ñandú-signature",  # Latin-1 letters (Werkzeug reads header bytes as Latin-1)
        "\u00e9" * 28,  # as long as a real signature
        "abc\u00ffdef=",
    ],
)
def test_a_non_ascii_signature_header_is_a_403_not_a_500(client, redis, header):
    params = twilio_params(PHONE, "SURVEY")
    encoded = header.encode("latin-1")  # what a client can put on the wire
    response = client.post(
        "/twilio/sms", data=params, headers=[("X-Twilio-Signature", encoded.decode("latin-1"))]
    )
    assert response.status_code == 403
    assert redis.keys("*") == []


def test_a_non_ascii_signature_header_on_a_call_is_a_403(client, redis):
    call = Call(client, PHONE)
    response = call.post(
        "https://bot.example.org/twilio/voice", call.params("ringing"), signature="é"
    )
    assert response.status_code == 403
    assert redis.keys("*") == []


def _json_request(app, path: str, body: dict, *, body_hash: str | None = None):
    """A JSON body the way Twilio signs one: the body's SHA-256 in `bodySHA256`, the
    signature over the URL alone (twilio-python's RequestValidator checks both)."""
    raw = json.dumps(body)
    digest = body_hash or hashlib.sha256(raw.encode()).hexdigest()
    url = f"https://bot.example.org{path}?bodySHA256={digest}"
    token = app.extensions["surveybot"].settings.TWILIO_AUTH_TOKEN
    validator = RequestValidator(token)
    signature = validator.compute_signature(url, {})
    assert validator.validate(url, raw, signature) == (body_hash is None)  # as Twilio would
    return f"{path}?bodySHA256={digest}", raw, signature


@pytest.mark.parametrize(
    "path", ["/twilio/sms", "/twilio/sms/status", "/twilio/voice", "/twilio/voice/status"]
)
@pytest.mark.parametrize("honest", [True, False])
def test_no_route_reads_a_json_body_so_a_signed_one_is_refused_with_415(
    app, client, redis, path, honest
):
    # No webhook here reads JSON: Twilio posts Messaging and Voice webhooks as forms. A JSON
    # body, signed properly with bodySHA256 or not, is refused before anything is read.
    form = twilio_params(PHONE, "STOP")
    target, raw, signature = _json_request(app, path, form, body_hash=None if honest else "0" * 64)
    response = client.post(
        target,
        data=raw,
        content_type="application/json",
        headers={"X-Twilio-Signature": signature},
    )
    assert response.status_code == 415
    assert redis.keys("*") == []


def test_a_signed_form_with_a_body_hash_in_its_url_is_checked_as_a_form(app, client, redis):
    # bodySHA256 in the query of a form post is just part of the signed URL.
    params = twilio_params(PHONE, "SURVEY")
    url = "https://bot.example.org/twilio/sms?bodySHA256=" + "0" * 64
    token = app.extensions["surveybot"].settings.TWILIO_AUTH_TOKEN
    signature = RequestValidator(token).compute_signature(url, params)
    path = "/twilio/sms?bodySHA256=" + "0" * 64
    response = client.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert replies_of(response) != []
    params["Body"] = "STOP"  # the same signature over another form: refused
    response = client.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


# ------------------------------------------------------ Kreyòl recording names (item 11)

ODD_NAME = "ht/konsantman ò.mp3"


def _survey_with_odd_recording(tmp_path):
    raw = yaml.safe_load(DEFAULT_SURVEY_PATH.read_text(encoding="utf-8"))
    raw["voice"]["recordings"]["ht"]["message.consent"] = ODD_NAME
    path = tmp_path / "survey.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_a_recording_name_with_a_space_and_an_o_grave_is_percent_encoded_in_play(
    settings_overrides, tmp_path, redis
):
    survey = _survey_with_odd_recording(tmp_path)
    audio = tmp_path / "audio"
    (audio / "ht").mkdir(parents=True)
    (audio / ODD_NAME).write_bytes(b"ID3 fake mp3 konsantman")
    recorded = create_app(
        {**settings_overrides, "SURVEY_FILE": str(survey), "VOICE_AUDIO_DIR": str(audio)}
    )
    try:
        call = Call(recorded.test_client(), PHONE)
        call.start()
        turn = call.press("3")
        [(url, how)] = turn.said
        assert how == "play"
        assert url == ("https://bot.example.org/twilio/voice/audio/ht/konsantman%20%C3%B2.mp3")
        assert " " not in url and url.isascii()
        # Twilio fetches exactly that URL: the app's audio route serves the file.
        with recorded.test_client().get(url.removeprefix("https://bot.example.org")) as got:
            assert got.status_code == 200 and got.data == b"ID3 fake mp3 konsantman"
    finally:
        recorded.extensions["surveybot"].redis.close()

    cdn = create_app(
        {
            **settings_overrides,
            "SURVEY_FILE": str(survey),
            "VOICE_AUDIO_BASE_URL": "https://cdn.example.org/audio/",
        }
    )
    try:
        call = Call(cdn.test_client(), "+13055550167")
        call.start()
        turn = call.press("3")
        assert turn.said == [("https://cdn.example.org/audio/" + quote(ODD_NAME), "play")]
    finally:
        cdn.extensions["surveybot"].redis.close()


def test_survey_check_flags_recording_names_that_need_encoding(tmp_path):
    survey = _survey_with_odd_recording(tmp_path)
    findings = check_file(
        survey, audio_base_url="https://cdn.example/audio", allow_placeholders=True
    )
    flagged = [f for f in findings if f.level == "warning" and ODD_NAME in f.message]
    assert len(flagged) == 1
    [finding] = flagged
    assert finding.where == "voice.recordings.ht message.consent"
    assert "space" in finding.message and "ò" in finding.message
    assert "ht/konsantman%20%C3%B2.mp3" in finding.message
    # The shipped file's names are plain ASCII: nothing to flag there.
    shipped = check_file(DEFAULT_SURVEY_PATH, audio_base_url="https://cdn.example/audio")
    assert not [f for f in shipped if "must encode" in f.message]


def test_the_simulator_says_why_a_short_code_gets_no_answer(client, redis):
    answer = client.post("/simulator/api/send", json={"from": "+22395", "body": "SURVEY"})
    assert answer.status_code == 200
    got = answer.get_json()
    assert got["replies"] == [] and got["events"] == []
    assert len(got["notices"]) == 1 and "short code" in got["notices"][0]
    assert redis.keys("*") == []
    answer = client.post("/simulator/api/send", json={"from": PHONE, "body": "SURVEY"})
    assert answer.get_json()["replies"] and answer.get_json()["notices"] == []
