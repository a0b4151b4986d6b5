"""Key rotation: a new PSEUDONYM_KEY or storage key pair, followed as the README describes.

Throughout a rotation, a member who opted out stays out, one who answered is thanked and not
asked again, and a conversation in flight goes on where it was; `surveybot keys status` says
when nothing depends on the old key any more.
"""

from __future__ import annotations

import datetime as dt

from click.testing import CliRunner
from sqlmodel import Session, select

from bot import create_app
from bot.cli import main
from bot.infra import keys
from bot.infra.db import get_engine
from bot.infra.models import OptOut
from bot.infra.privacy import pseudonym
from bot.infra.sealing import generate_storage_keys, seal
from bot.records import inbox
from tests.test_webhook import q_of, take_survey
from tests.utils import run_jobs, text
from workers import context

STOPPED, ANSWERED, HALFWAY = "+13055550301", "+13055550302", "+13055550303"
NEW_KEY = "rotated-pseudonym-key-0123456789abcdef"


def rotated(settings_overrides: dict, **more: str):
    """The app after an operator followed the rotation procedure: new key and version, the
    old pair kept in PSEUDONYM_OLD_KEYS."""
    old = settings_overrides["PSEUDONYM_KEY"]
    app = create_app(
        {
            **settings_overrides,
            "PSEUDONYM_KEY": NEW_KEY,
            "PSEUDONYM_KEY_VERSION": "v2",
            "PSEUDONYM_OLD_KEYS": f"v1:{old}",
            **more,
        }
    )
    context.configure(app.extensions["surveybot"].settings)
    return app


def status(app, monkeypatch) -> str:  # noqa: ANN001
    settings = app.extensions["surveybot"].settings
    for name in ("REDIS_URL", "DATABASE_URL", "PSEUDONYM_KEY", "PSEUDONYM_KEY_VERSION"):
        monkeypatch.setenv(name, str(getattr(settings, name)))
    monkeypatch.setenv("PSEUDONYM_OLD_KEYS", ",".join(settings.PSEUDONYM_OLD_KEYS))
    monkeypatch.setenv("SURVEYBOT_ENV", "test")
    result = CliRunner().invoke(main, ["keys", "status"])
    assert result.exit_code == 0, result.output
    return result.output


def test_opt_outs_answers_and_conversations_survive_a_rotation(
    app, redis, db, settings_overrides, monkeypatch, tmp_path
):
    client = app.test_client()
    q = q_of(app)
    text(client, STOPPED, "SURVEY")
    assert text(client, STOPPED, "STOP") == []
    take_survey(client, ANSWERED)
    text(client, HALFWAY, "SURVEY")
    asked = text(client, HALFWAY, "1")  # consent given: the first question is asked
    run_jobs(app)
    old_key = settings_overrides["PSEUDONYM_KEY"]
    assert redis.exists(keys.session(pseudonym(old_key, HALFWAY)))

    after = rotated(settings_overrides)
    out = status(after, monkeypatch)
    assert "pseudonym key v2: 0 Redis keys, 0 stored opt-outs, 0 reply caches (current)" in out
    assert "pseudonym key v1:" in out and "(still needed)" in out

    client = after.test_client()
    assert text(client, STOPPED, "SURVEY") == []  # still opted out: nothing is sent
    assert text(client, ANSWERED, "SURVEY") == [q.message("already_completed", "en")]
    assert text(client, HALFWAY, "1") != asked  # answered the first question, goes on
    new = pseudonym(NEW_KEY, HALFWAY, version="v2")
    assert redis.exists(keys.session(new))
    # All three carried over on their next text; only the replies cached for Twilio's retries
    # of messages sent before the rotation stay under v1, until they expire.
    assert {k.decode().rsplit(":", 2)[-2] for k in redis.keys("sb:{v1:*")} == {"msg"}

    # The opt-out stored in the database is under the old key until the number is seen by
    # an invitation or `keys migrate`; the status says so, then says the key is unused.
    out = status(after, monkeypatch)
    assert "pseudonym key v1: 0 Redis keys, 1 stored opt-outs, " in out and "still needed" in out
    for cache in redis.keys("sb:{v1:*"):  # a day later, the reply caches have expired
        redis.delete(cache)
    upload = tmp_path / "members.csv"
    upload.write_text(f"phone\n{STOPPED}\n{ANSWERED}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["keys", "migrate", str(upload)])
    assert result.exit_code == 0, result.output
    assert STOPPED not in result.output and "2 numbers read" in result.output
    with Session(get_engine(db)) as session:
        assert [o.pseudonym for o in session.exec(select(OptOut))] == [
            pseudonym(NEW_KEY, STOPPED, version="v2")
        ]
    out = status(after, monkeypatch)
    assert "pseudonym key v1: 0 Redis keys, 0 stored opt-outs, 0 reply caches (unused" in out


def test_an_invitation_after_a_rotation_skips_an_old_opt_out(app, redis, db, settings_overrides):
    old_key = settings_overrides["PSEUDONYM_KEY"]
    with Session(get_engine(db)) as session:
        session.add(OptOut(pseudonym=pseudonym(old_key, STOPPED), since=dt.date(2026, 6, 1)))
        session.commit()
    after = rotated(settings_overrides)
    from bot.outreach.sending import _opted_out

    settings = after.extensions["surveybot"].settings
    current = pseudonym(NEW_KEY, STOPPED, version="v2")
    assert _opted_out(settings, redis, STOPPED, current)
    assert not _opted_out(settings, redis, ANSWERED, pseudonym(NEW_KEY, ANSWERED, version="v2"))
    with Session(get_engine(db)) as session:  # carried over: the old row is gone
        assert [o.pseudonym for o in session.exec(select(OptOut))] == [current]


def test_records_sealed_to_an_old_storage_key_still_open(
    app, redis, db, settings_overrides, monkeypatch
):
    old_public, old_secret = generate_storage_keys()
    new_public, new_secret = generate_storage_keys()
    inbox.put(redis, old_public, inbox.COUNT, {"wave": "w", "field": "started"})
    after = rotated(
        settings_overrides,
        STORAGE_PUBLIC_KEY=new_public,
        STORAGE_SECRET_KEY=f"{new_secret},{old_secret}",
    )
    [sealed] = inbox.take(redis, 10)
    settings = after.extensions["surveybot"].settings
    assert inbox.open_record(settings.storage_secret_key, sealed)["field"] == "started"
    monkeypatch.setenv("STORAGE_SECRET_KEY", f"{new_secret},{old_secret}")
    out = status(after, monkeypatch)
    assert "storage inbox: 1 sealed records, 1 only under an old storage key" in out
    inbox.done(redis, [sealed])
    redis.sadd(keys.STORAGE_INBOX, seal(new_public, b"{}"))
    assert "storage inbox: 1 sealed records, 0 only under an old storage key" in status(
        after, monkeypatch
    )
