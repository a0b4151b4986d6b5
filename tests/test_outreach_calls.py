"""Invitation calls: the bot calls through Twilio's REST API (faked at its HTTP boundary), then
Twilio's signed voice webhooks run the phone survey in the invitation's language; answering
machines get nothing; "stop" said on the call opts the person out; calls keep the windows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import pytest
from sqlmodel import Session, select

from bot.infra import keys
from bot.infra.db import get_engine
from bot.infra.models import OptOut
from bot.infra.privacy import pseudonym
from bot.infra.queues import get_queue
from bot.outreach.invitations import InvitationError, queue_invitations
from bot.outreach.progress import invitation_progress
from tests.fake_twilio import FakeTwilio
from tests.test_outreach import run_simulated, scheduled_times
from tests.test_voice import answer_all, q_of, spoken
from tests.test_webhook import responses
from tests.utils import open_test_wave, run_jobs
from tests.voice_utils import Call
from workers import context

WAVE = "summer-2026"
BOT_NUMBER = "+15005550006"
UTC = dt.UTC


@dataclass
class InvitationCall(Call):
    """A call the bot placed: Twilio posts it with our number in From and the person in To."""

    answered_by: str = "human"

    def params(self, status: str, **extra: str) -> dict[str, str]:
        form = super().params(status, **extra)
        form.update(
            Direction="outbound-api",
            From=BOT_NUMBER,
            Caller=BOT_NUMBER,
            To=self.caller,
            Called=self.caller,
        )
        if status == "ringing":
            form["AnsweredBy"] = self.answered_by
        return form


@pytest.fixture
def calling(app, db, redis, clock):
    open_test_wave(db, redis, WAVE)
    clock.set(dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC))  # 10:00 in New York
    with FakeTwilio(clock=lambda: clock.moment) as fake:
        settings = replace(
            app.extensions["surveybot"].settings,
            TWILIO_ACCOUNT_SID="AC" + "1" * 32,
            TWILIO_FROM_NUMBER=BOT_NUMBER,
            TWILIO_API_BASE_URL=fake.url,
            CALL_RATE_PER_SECOND=1000.0,
        )
        context.configure(settings)
        yield fake, settings


def call_invite(redis, settings, numbers, language="es") -> int:
    return queue_invitations(
        settings, redis, get_queue(redis), wave=WAVE, numbers=numbers, language=language, call=True
    )


def test_an_invitation_call_runs_the_phone_survey_end_to_end(
    app, client, db, redis, calling, clock
):
    fake, settings = calling
    number = "+13055550177"
    call_invite(redis, settings, [number])
    run_simulated(redis, settings, clock, until=clock.moment)
    [request] = fake.requests
    assert request["path"].endswith("/Calls.json")
    form = request["form"]
    assert (form["To"], form["From"]) == (number, BOT_NUMBER)
    assert form["Url"] == "https://bot.example.org/twilio/voice"
    assert form["MachineDetection"] == "Enable"
    assert form["StatusCallback"] == "https://bot.example.org/twilio/voice/status"
    assert int(redis.hget(keys.invite_stats(WAVE), "call:sent")) == 1

    q = q_of(app)
    call = InvitationCall(client, number, call_sid=request["sid"])
    turn = call.start()  # no language menu: the invitation's language
    assert turn.text == spoken(q, "message.consent", "es")
    turn = call.press("1")
    assert turn.text == spoken(q, "question.status", "es")
    answer_all(call, q, "es", {})
    assert call.turn.hung_up and call.turn.text == spoken(q, "message.closing", "es")
    assert call.hang_up() == 204
    run_jobs(app)
    [stored] = responses(db)
    assert (stored.language, stored.wave) == ("es", WAVE)


def test_an_answering_machine_hears_nothing_of_the_survey(app, client, redis, calling, clock):
    fake, settings = calling
    number = "+13055550178"
    call_invite(redis, settings, [number])
    run_simulated(redis, settings, clock, until=clock.moment)
    call = InvitationCall(client, number, call_sid=fake.requests[0]["sid"])
    call.answered_by = "machine_start"
    turn = call.start()
    assert turn.hung_up and turn.said == []
    assert not redis.exists(keys.session(pseudonym(settings.PSEUDONYM_KEY, number)))
    day = clock.moment.date().isoformat()
    assert redis.hget(keys.call_stats(day), "machine") == b"1"


def test_stop_said_on_an_invitation_call_opts_out(app, client, db, redis, calling, clock):
    fake, settings = calling
    number = "+13055550179"
    call_invite(redis, settings, [number], language="en")
    run_simulated(redis, settings, clock, until=clock.moment)
    call = InvitationCall(client, number, call_sid=fake.requests[0]["sid"])
    call.start()
    turn = call.say("stop")
    assert turn.hung_up
    p = pseudonym(settings.PSEUDONYM_KEY, number)
    assert redis.exists(keys.opted_out(p))
    run_jobs(app)
    with Session(get_engine(db)) as session:
        assert [o.pseudonym for o in session.exec(select(OptOut))] == [p]
    # No more invitations, by text or call.
    fake.clear()
    call_invite(redis, settings, [number])
    run_simulated(redis, settings, clock, until=clock.moment)
    assert fake.requests == []
    assert invitation_progress(redis, WAVE, "call").opted_out == 1


def test_calls_keep_the_window_and_need_a_number_to_call_from(app, redis, calling, clock):
    fake, settings = calling
    clock.set(dt.datetime(2026, 11, 18, 12, 0, tzinfo=UTC))  # 7:00 in New York
    call_invite(redis, settings, ["+13055550180"])
    run_simulated(redis, settings, clock, until=clock.moment)
    assert fake.requests == []
    assert scheduled_times(redis) == [dt.datetime(2026, 11, 18, 14, 0, tzinfo=UTC)]
    run_simulated(redis, settings, clock, until=dt.datetime(2026, 11, 19, tzinfo=UTC))
    assert [r["time"] for r in fake.requests] == [dt.datetime(2026, 11, 18, 14, 0, tzinfo=UTC)]
    with pytest.raises(InvitationError, match="TWILIO_FROM_NUMBER"):
        call_invite(redis, replace(settings, TWILIO_FROM_NUMBER=""), ["+13055550181"])


def test_the_dashboard_offers_calls_and_says_why_it_cannot_place_them(app, db, redis):
    import io
    import re

    from tests.dashboard_utils import csrf_token, signed_in

    open_test_wave(db, redis, WAVE)
    client = signed_in(app, "organizer")
    path = f"/dashboard/waves/{WAVE}/invitations"
    assert 'value="call"' in client.get(path).get_data(as_text=True)

    def post(**extra):
        data = {
            "csrf_token": csrf_token(client),
            "file": (io.BytesIO(b"305-555-0101\n"), "members.csv"),
            "language": "es",
            "region": "US",
            "kind": "call",
            **extra,
        }
        return client.post(path, data=data, content_type="multipart/form-data")

    html = post(step="check").get_data(as_text=True)
    assert "Invitation calls" in html and "Send 1 calls" in html
    digest = re.search(r'name="digest" value="([0-9a-f]+)"', html)[1]
    sent = post(step="send", digest=digest)
    assert sent.status_code == 302
    page = client.get(path).get_data(as_text=True)  # no Twilio in the test app: refused
    assert "invitation calls need Twilio and TWILIO_FROM_NUMBER" in page
    assert not redis.hexists(keys.invite_stats(WAVE), "call:queued")
