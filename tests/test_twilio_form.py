"""Forms Twilio never sends are refused before anything is applied, signed or not.

Twilio signs the URL followed by the sorted parameter names and values joined with no
separator, so a captured signed form can be re-cut into other names and values under the same
signature. The attack tested here moves "NumMedia0" and the start of the key "NumSegments" into
the MessageSid value: a new MessageSid that dedup would take for a new message, applying the
captured answer again to the next question.
"""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from bench import hostile
from bench import webhook as bench_webhook
from bot.channels import signatures
from bot.channels.simulator import call_params, new_call_sid, twilio_params
from bot.channels.twilio_form import CALL_SID, MESSAGE_SID
from tests.utils import new_sid, replies_of, sign, sms, text
from tests.voice_utils import Call

PHONE = "+13055550123"
URL = "https://bot.example.org/twilio/sms"


def snapshot(redis) -> dict[bytes, bytes]:
    """Every key and its serialized value: equal snapshots mean nothing changed."""
    return {key: redis.dump(key) for key in redis.keys("*")}


def post(client, path: str, form, signature: str):
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


def recut(params: dict[str, str]) -> dict[str, str]:
    """The same signed string cut differently: MessageSid swallows 'NumMedia0Num', and what is
    left of NumSegments becomes a parameter 'Segments' (sorted in the same place)."""
    forged = {k: v for k, v in params.items() if k not in ("NumMedia", "NumSegments")}
    forged["MessageSid"] = params["MessageSid"] + "NumMedia" + params["NumMedia"] + "Num"
    forged["Segments"] = params["NumSegments"]
    return forged


def at_the_first_question(client) -> list[str]:
    text(client, PHONE, "SURVEY")
    return text(client, PHONE, "1")  # consent: the first question


def test_a_recut_signed_message_is_refused_and_changes_nothing(client, app, redis, monkeypatch):
    q = app.extensions["surveybot"].questionnaire
    at_the_first_question(client)
    captured = twilio_params(PHONE, "1")  # the answer to the first question
    signature = sign(app, "/twilio/sms", captured)
    second_question = replies_of(post(client, "/twilio/sms", captured, signature))
    forged = recut(captured)
    token = app.extensions["surveybot"].settings.TWILIO_AUTH_TOKEN
    assert RequestValidator(token).validate(URL, forged, signature), "still validly signed"
    assert forged["MessageSid"] != captured["MessageSid"]

    before = snapshot(redis)
    refused = post(client, "/twilio/sms", forged, signature)
    assert refused.status_code == 400
    assert snapshot(redis) == before, "the conversation is unchanged"
    # Retried as Twilio would, the captured message still gets its own cached reply.
    assert replies_of(post(client, "/twilio/sms", captured, signature)) == second_question

    # Without the shape check, the same forged form would be a new message, applied to the
    # second question: what the check prevents.
    monkeypatch.setattr(signatures, "malformed", lambda form: None)
    applied = replies_of(post(client, "/twilio/sms", forged, signature))
    assert applied != second_question
    assert q.message("closing", "en") not in second_question


def test_a_recut_call_step_is_refused(client, app, redis):
    call = Call(client, PHONE)
    call.start()
    url = call.turn.gather["action"]
    params = call.params("in-progress", Digits="1")
    signature = RequestValidator(
        app.extensions["surveybot"].settings.TWILIO_AUTH_TOKEN
    ).compute_signature(url, params)
    # "CallSidCA…CallStatusin-progress": CallSid swallows the status parameter.
    forged = {k: v for k, v in params.items() if k != "CallStatus"}
    forged["CallSid"] = params["CallSid"] + "CallStatus" + params["CallStatus"]
    assert RequestValidator(app.extensions["surveybot"].settings.TWILIO_AUTH_TOKEN).validate(
        url, forged, signature
    )
    before = snapshot(redis)
    assert call.post(url, forged, signature=signature).status_code == 400
    assert snapshot(redis) == before


@pytest.mark.parametrize(
    "change",
    [
        {"MessageSid": "SM123"},
        {"MessageSid": "SM" + "g" * 32},
        {"MessageSid": "XX" + "0" * 32},
        {"MessageSid": "SM" + "٣" * 32},  # digits of another script are not hex
        {"SmsSid": new_sid()},  # disagrees with MessageSid
        {"SmsMessageSid": "SM" + "0" * 33},
        {"AccountSid": "AC123"},
        {"NumMedia": "፩"},
        {"NumMedia": "0NumSegments1"},
        {"body": "1"},  # a parameter name Twilio never sends
        {"Num-Media": "0"},
        {"ReferralNumMedia": "0MessageType"},  # WhatsApp's counts have a shape too
        {"OriginalRepliedMessageSid": "SM" + "0" * 31},
    ],
)
@pytest.mark.parametrize("signed", [True, False])
def test_a_malformed_message_form_is_a_400_signed_or_not(client, app, redis, change, signed):
    at_the_first_question(client)
    params = {**twilio_params(PHONE, "1"), **change}
    signature = sign(app, "/twilio/sms", params) if signed else "bm90IGEgc2lnbmF0dXJl"
    before = snapshot(redis)
    assert post(client, "/twilio/sms", params, signature).status_code == 400
    assert snapshot(redis) == before


def test_a_parameter_given_twice_is_refused(client, app, redis):
    params = twilio_params(PHONE, "SURVEY")
    signature = sign(app, "/twilio/sms", params)
    form = {**params, "Body": [params["Body"], "STOP"]}
    assert post(client, "/twilio/sms", form, signature).status_code == 400
    assert redis.keys("*") == []


@pytest.mark.parametrize("absent", ["SmsSid", "MessageSid", "AccountSid"])
def test_a_signed_message_without_what_twilio_always_sends_is_a_400(client, app, redis, absent):
    params = {k: v for k, v in twilio_params(PHONE, "SURVEY").items() if k != absent}
    assert post(client, "/twilio/sms", params, sign(app, "/twilio/sms", params)).status_code == 400
    assert redis.keys("*") == []


@pytest.mark.parametrize(
    "path", ["/twilio/voice", "/twilio/voice/gather?n=1", "/twilio/voice/status"]
)
@pytest.mark.parametrize("call_sid", ["CA123", "CA" + "0" * 31 + "Z", "SM" + "0" * 32, ""])
def test_a_malformed_call_sid_is_a_400(client, app, redis, path, call_sid):
    params = call_params(PHONE, new_call_sid(), status="ringing")
    params["CallSid"] = call_sid
    assert post(client, path, params, sign(app, path, params)).status_code == 400
    assert redis.keys("*") == []


def test_a_status_callback_with_a_malformed_sid_counts_nothing(client, app, redis):
    params = {
        "MessageSid": "SM" + "0" * 31,
        "MessageStatus": "delivered",
        "AccountSid": "AC" + "0" * 32,
        "To": PHONE,
    }
    path = "/twilio/sms/status"
    assert post(client, path, params, sign(app, path, params)).status_code == 400
    assert redis.keys("*") == []


def test_every_sid_the_tests_simulator_and_benches_send_is_well_formed(client, app):
    assert MESSAGE_SID.fullmatch(new_sid())
    params = twilio_params(PHONE, "hi")
    assert params["MessageSid"] == params["SmsSid"] == params["SmsMessageSid"]
    assert MESSAGE_SID.fullmatch(params["MessageSid"])
    assert CALL_SID.fullmatch(new_call_sid()) and CALL_SID.fullmatch(Call(client, PHONE).call_sid)
    for request in hostile.hostile_requests(40, seed=1):
        sid = request.form.get("MessageSid") or request.form["CallSid"]
        assert (MESSAGE_SID if "MessageSid" in request.form else CALL_SID).fullmatch(sid)
    for _, body, _ in bench_webhook.build_requests("token", ["1"], 0, 2)[0]:
        assert b"MessageSid=SM" in body
    assert sms(client, PHONE, "SURVEY", sid=new_sid()).status_code == 200
