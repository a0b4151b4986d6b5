"""Invitations over WhatsApp: the language's approved template sent to Twilio's REST API (faked
at its HTTP boundary) with the form fields Twilio documents for Content templates (ContentSid,
ContentVariables, no Body), per upload or per row of one CSV, through the texts' opt-out checks,
at WhatsApp's own rate; refused without a template; the reply on WhatsApp starts the survey in
the invitation's language; the number only ever sealed in the job."""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

from bot.cli.invite import invite_command
from bot.infra import keys
from bot.infra.config import load_settings
from bot.infra.privacy import pseudonym_for
from bot.infra.queues import get_queue
from bot.outreach.invitations import InvitationError, parse_invitation_csv, wave_invitation
from bot.outreach.progress import invitation_progress
from bot.outreach.ratelimit import RATE_LIMIT_KEY, WHATSAPP_RATE_LIMIT_KEY
from bot.outreach.upload import queue_upload
from tests.dashboard_utils import csrf_token, signed_in
from tests.fake_twilio import FakeTwilio
from tests.test_outreach import run_simulated
from tests.test_outreach_surfaces import cli_env
from tests.test_privacy import assert_clean, formats, redis_dump, sealed_arguments
from tests.test_voice import q_of
from tests.utils import open_test_wave, sms_status, text, wa_text
from workers import context

WAVE = "summer-2026"
ACCOUNT = "AC" + "1" * 32
SERVICE = "MG" + "2" * 32
BOT_NUMBER = "+15005550006"
WHATSAPP_SENDER = "whatsapp:+14155238886"
TEMPLATES = {"en": "HX" + "e" * 32, "es": "HX" + "5" * 32, "ht": "HX" + "4" * 32}
MIAMI = ["+13055550101", "+13055550102", "+13055550103", "+13055550104"]
UTC = dt.UTC


@pytest.fixture
def wave(app, db, redis, clock):
    open_test_wave(db, redis, WAVE)
    clock.set(dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC))  # 10:00 in Miami
    return WAVE


@pytest.fixture
def twilio(app, wave, clock):
    with FakeTwilio(clock=lambda: clock.moment) as fake:
        settings = replace(
            app.extensions["surveybot"].settings,
            TWILIO_ACCOUNT_SID=ACCOUNT,
            TWILIO_MESSAGING_SERVICE_SID=SERVICE,
            TWILIO_FROM_NUMBER=BOT_NUMBER,
            TWILIO_API_BASE_URL=fake.url,
            SEND_RATE_PER_SECOND=1000.0,
            CALL_RATE_PER_SECOND=1000.0,
            WHATSAPP_FROM=WHATSAPP_SENDER,
            WHATSAPP_INVITE_CONTENT_SID_EN=TEMPLATES["en"],
            WHATSAPP_INVITE_CONTENT_SID_ES=TEMPLATES["es"],
            WHATSAPP_INVITE_CONTENT_SID_HT=TEMPLATES["ht"],
            WHATSAPP_RATE_PER_SECOND=1000.0,
        )
        context.configure(settings)
        yield fake, settings


def upload(redis, settings, csv: bytes, *, language="es", channel="whatsapp") -> dict[str, int]:
    check = parse_invitation_csv(csv, default_region="US")
    return queue_upload(
        settings,
        redis,
        get_queue(redis),
        wave=WAVE,
        check=check,
        language=language,
        channel=channel,
    )


def csv_of(numbers) -> bytes:
    return ("phone\n" + "\n".join(numbers) + "\n").encode()


def test_a_whatsapp_upload_sends_the_languages_template_with_twilios_fields(
    app, client, redis, twilio, clock
):
    fake, settings = twilio
    assert upload(redis, settings, csv_of(MIAMI[:1])) == {"whatsapp": 1}
    run_simulated(redis, settings, clock, until=clock.moment)
    [request] = fake.requests
    assert request["path"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    # Twilio's Content template send: ContentSid, ContentVariables as a JSON string, no Body;
    # the sender is WHATSAPP_FROM (which wins over the Messaging Service).
    assert request["form"] == {
        "To": "whatsapp:" + MIAMI[0],
        "From": WHATSAPP_SENDER,
        "ContentSid": TEMPLATES["es"],
        "ContentVariables": json.dumps({"1": "ENCUESTA"}),
        "StatusCallback": "https://bot.example.org/twilio/sms/status",
    }
    p = pseudonym_for(settings, MIAMI[0])
    assert json.loads(redis.get(keys.invited(p))) == {"wave": WAVE, "lang": "es"}
    # Its status callback counts in the wave's progress, as a WhatsApp invitation.
    sms_status(client, request["sid"], "delivered", to="whatsapp:" + MIAMI[0])
    progress = invitation_progress(redis, WAVE, "whatsapp")
    assert (progress.queued, progress.sent, progress.delivered) == (1, 1, 1)
    assert invitation_progress(redis, WAVE, "invitation").queued == 0


def test_the_messaging_service_sends_without_a_whatsapp_from(app, redis, twilio, clock):
    fake, settings = twilio
    settings = replace(settings, WHATSAPP_FROM="")
    upload(redis, settings, csv_of(MIAMI[:1]), language="ht")
    run_simulated(redis, settings, clock, until=clock.moment)
    [form] = fake.messages
    assert form["MessagingServiceSid"] == SERVICE and "From" not in form
    assert (form["ContentSid"], form["ContentVariables"]) == (TEMPLATES["ht"], '{"1": "SONDAJ"}')


def test_one_csv_chooses_the_channel_per_row_and_old_csvs_still_read(app, redis, twilio, clock):
    fake, settings = twilio
    csv = (
        "Phone;Channel\n"
        f"{MIAMI[0]};WhatsApp\n"
        f"{MIAMI[1]};sms\n"
        f"{MIAMI[2]};\n"  # the upload's choice
        f"{MIAMI[3]};llamada\n"
        "+13055550199;fax\n"
    ).encode()
    check = parse_invitation_csv(csv, default_region="US")
    assert check.channels == ["whatsapp", "sms", "", "call"]
    assert check.invalid == [(6, "the channel is not sms, whatsapp or call")]
    assert upload(redis, settings, csv, language="en", channel="sms") == {
        "whatsapp": 1,
        "sms": 2,
        "call": 1,
    }
    run_simulated(redis, settings, clock, until=clock.moment)
    sent = {r["form"]["To"]: r for r in fake.requests}
    assert sent["whatsapp:" + MIAMI[0]]["form"]["ContentSid"] == TEMPLATES["en"]
    body = wave_invitation(redis, WAVE, "en")
    assert sent[MIAMI[1]]["form"]["Body"] == body == sent[MIAMI[2]]["form"]["Body"]
    assert sent[MIAMI[3]]["path"].endswith("/Calls.json")
    assert len(fake.requests) == 4
    # A file of numbers alone (or with other columns) reads as before: the upload's channel.
    old = parse_invitation_csv(b"name,phone\nAna,305-555-0101\n", default_region="US")
    assert (old.valid, old.channels, old.invalid) == ([MIAMI[0]], [""], [])


def test_a_number_that_texted_stop_gets_no_whatsapp_invitation(app, client, redis, twilio, clock):
    fake, settings = twilio
    text(client, MIAMI[0], "STOP")  # by SMS: the marker is per pseudonym, any channel
    upload(redis, settings, csv_of(MIAMI[:2]))
    run_simulated(redis, settings, clock, until=clock.moment)
    assert [r["form"]["To"] for r in fake.requests] == ["whatsapp:" + MIAMI[1]]
    progress = invitation_progress(redis, WAVE, "whatsapp")
    assert (progress.sent, progress.opted_out) == (1, 1)


def test_whatsapp_has_its_own_rate_and_limiter_key(app, redis, twilio, clock):
    assert load_settings({}, env_file=None).WHATSAPP_RATE_PER_SECOND == 10
    fake, settings = twilio
    upload(redis, settings, csv_of(MIAMI[:2]))
    run_simulated(redis, settings, clock, until=clock.moment)
    assert len(fake.requests) == 2
    assert redis.exists(WHATSAPP_RATE_LIMIT_KEY) and not redis.exists(RATE_LIMIT_KEY)
    upload(redis, settings, csv_of(MIAMI[2:3]), channel="sms")
    run_simulated(redis, settings, clock, until=clock.moment)
    assert redis.exists(RATE_LIMIT_KEY)
    assert WHATSAPP_RATE_LIMIT_KEY != RATE_LIMIT_KEY


def test_a_language_without_a_template_is_refused_with_nothing_queued(
    app, db, redis, twilio, tmp_path, monkeypatch
):
    fake, settings = twilio
    settings = replace(settings, WHATSAPP_INVITE_CONTENT_SID_HT="")
    mixed = f"phone,channel\n{MIAMI[0]},sms\n{MIAMI[1]},whatsapp\n".encode()
    with pytest.raises(InvitationError, match="WHATSAPP_INVITE_CONTENT_SID_HT"):
        upload(redis, settings, mixed, language="ht", channel="sms")
    assert get_queue(redis).count == 0  # not even the row to text
    assert invitation_progress(redis, WAVE, "invitation").queued == 0

    cli_env(app, monkeypatch)  # the command: no template configured at all
    members = tmp_path / "members.csv"
    members.write_bytes(csv_of(MIAMI[:1]))
    result = CliRunner().invoke(
        invite_command, [WAVE, str(members), "--whatsapp", "--language", "es", "--yes"]
    )
    assert result.exit_code == 1
    assert "no WhatsApp template for invitations in 'es'" in result.output
    assert "WHATSAPP_INVITE_CONTENT_SID_ES" in result.output
    assert get_queue(redis).count == 0


def test_the_dashboard_offers_whatsapp_and_refuses_it_without_a_template(app, db, redis, wave):
    client = signed_in(app, "organizer")
    path = f"/dashboard/waves/{WAVE}/invitations"
    assert 'value="whatsapp"' in client.get(path).get_data(as_text=True)
    data = {
        "csrf_token": csrf_token(client),
        "file": (io.BytesIO(b"305-555-0101\n"), "members.csv"),
        "language": "es",
        "region": "US",
        "kind": "whatsapp",
        "step": "check",
    }
    client.post(path, data=data, content_type="multipart/form-data")
    page = client.get(path).get_data(as_text=True)
    assert "The WhatsApp invitations cannot be sent" in page
    assert "WHATSAPP_INVITE_CONTENT_SID_ES" in page
    assert get_queue(redis).count == 0


def test_the_reply_on_whatsapp_starts_the_survey_in_the_invitations_language(
    app, client, redis, twilio, clock
):
    fake, settings = twilio
    upload(redis, settings, csv_of(MIAMI[:1]), language="es")
    run_simulated(redis, settings, clock, until=clock.moment)
    assert len(fake.requests) == 1
    q = q_of(app)
    # Not the start keyword: any reply of an invitee starts the invitation's wave and language.
    replies = wa_text(client, MIAMI[0], "hola")  # From=whatsapp:+1305...
    assert replies[0] == q.message("consent", "es")
    assert not redis.exists(keys.invited(pseudonym_for(settings, MIAMI[0])))


def test_the_number_travels_only_sealed(app, redis, twilio, clock, caplog):
    fake, settings = twilio
    upload(redis, settings, csv_of(MIAMI[:2]))
    before = redis_dump(redis)
    assert not any(
        shape.encode() in v for n in MIAMI[:2] for shape in formats(n) for _, v in before
    )
    assert set(MIAMI[:2]) <= sealed_arguments(before, settings.storage_secret_key)
    run_simulated(redis, settings, clock, until=clock.moment)
    assert len(fake.requests) == 2
    after = redis_dump(redis)
    assert_clean([k for k, _ in after] + [v for _, v in after], MIAMI[:2], fake.sids, "Redis")
    records = [r for phase in ("setup", "call") for r in caplog.get_records(phase)]
    assert_clean([str(r.__dict__) for r in records], MIAMI[:2], fake.sids, "the logs")


def test_the_readmes_templates_are_the_invitation_with_a_variable_mid_sentence(repo_root):
    from bot.outreach.invitations import DEFAULT_INVITATIONS

    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    for language, invitation in DEFAULT_INVITATIONS.items():
        template = invitation.format(org="Your Coalition", keyword="{{1}}")
        assert f"| `{template}` |" in readme, language
        assert not template.startswith("{{") and not template.endswith("}}")
