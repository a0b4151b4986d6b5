"""The privacy model, proven by scanning everything at rest after real conversations.

After complete (and stopped, and declined) conversations from known numbers, by text, by
phone and on WhatsApp, no database table, no Redis key or value (RQ's job data included,
decompressed) and no captured log line holds any of the numbers in any common format, any
MessageSid or CallSid, a recording URL, a speech result or a WhatsApp ProfileName; no
pseudonym sits next to an answer; and no stored response has a time finer than a day.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import zlib

import pytest
from sqlalchemy import inspect, text

from bot.core.voice_prompts import prompt_speech
from bot.infra import keys
from bot.infra.db import get_engine
from bot.infra.privacy import pseudonym
from bot.infra.sealing import conversation_cipher, open_text
from bot.records import inbox
from bot.records.sessions import ENCRYPTED
from tests.utils import PROFILE_NAME, inbox_records, new_sid, replies_of, run_jobs, sms, whatsapp
from tests.voice_utils import Call

NUMBERS = ["+13055550123", "+17865550188", "+509 3412 5678", "+1 (954) 555-0147"]
# Callers: one by keypad in Kreyol, one by speech in Spanish who hangs up and calls back, one
# who starts by text and finishes by phone.
CALLERS = ["+13055550144", "+1 786 555 0166", "+15095550199"]
# A speech result as Twilio hands it over (capitalized, with a period: not a string of the
# questionnaire, which the open-wave registry holds): read into an option id, never kept.
SPOKEN = "Sin papeles."
# On WhatsApp (ProfileName: tests/utils.py PROFILE_NAME; WaId: the number's digits), with a
# voice note and a tapped button on the way; and one who started by text and stops on WhatsApp.
WHATSAPP = ["+13055550155", "+17865550177"]


def formats(number: str) -> set[str]:
    """Common ways to write a number: E.164, bare digits, national, dashed, dotted, spaced."""
    digits = re.sub(r"\D", "", number)
    national = digits[1:] if digits.startswith("1") else digits[3:]
    out = {f"+{digits}", digits, national}
    if len(national) == 10:
        a, b, c = national[:3], national[3:6], national[6:]
        out |= {f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"{a} {b} {c}", f"{b}-{c}"}
    else:
        out |= {f"{national[:2]} {national[2:6]} {national[6:]}", f"{national[:4]} {national[4:]}"}
    return out


def sealed_arguments(dump: list[tuple[bytes, bytes]], secret_key: str) -> set[str]:
    """Every job argument sealed with `seal_text` in a dump, opened with the storage secret
    key: what an attacker holding that key (and only then) reads in the job data."""
    found = set()
    for _, value in dump:
        for token in re.findall(rb"sealed:[A-Za-z0-9+/=]+", value):
            found.add(open_text(secret_key, token.decode()))
    return found


def redis_dump(redis) -> list[tuple[bytes, bytes]]:
    """Every key with every value it holds, compressed values (RQ job data) decompressed."""
    out = []
    for key in redis.scan_iter(count=1000):
        kind = redis.type(key).decode()
        if kind == "string":
            values = [redis.get(key)]
        elif kind == "hash":
            values = [b for pair in redis.hgetall(key).items() for b in pair]
        elif kind == "list":
            values = redis.lrange(key, 0, -1)
        elif kind == "set":
            values = list(redis.smembers(key))
        elif kind == "zset":
            values = [m for m, _ in redis.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            values = [b for _, fields in redis.xrange(key) for pair in fields.items() for b in pair]
        else:
            pytest.fail(f"unexpected Redis type {kind} at {key!r}")
        for value in values:
            out.append((key, value))
            try:
                out.append((key, zlib.decompress(value)))
            except zlib.error:
                pass
    return out


def database_dump(url) -> dict[str, list[tuple]]:
    engine = get_engine(url)
    tables = inspect(engine).get_table_names()
    with engine.connect() as connection:
        return {
            t: [tuple(r) for r in connection.execute(text(f'SELECT * FROM "{t}"'))] for t in tables
        }


def converse(client, number, bodies):
    sids = []
    for body in bodies:
        sid = new_sid()
        sids.append(sid)
        response = sms(client, number, body, sid=sid)
        replies_of(response)
    return sids


def converse_whatsapp(client, number, bodies):
    """WhatsApp messages: a body "audio" or "image" sends that media, "button:<id>" taps a
    quick reply whose payload is that option id."""
    sids = []
    for body in bodies:
        sid = new_sid()
        sids.append(sid)
        if body in ("audio", "image"):
            response = whatsapp(client, number, "", sid=sid, media=body)
        elif body.startswith("button:"):
            response = whatsapp(client, number, "", sid=sid, button=(body[7:], "Non"))
        else:
            response = whatsapp(client, number, body, sid=sid)
        replies_of(response)
    return sids


@pytest.fixture
def conversations(client, app, caplog):
    """Real conversations from known numbers: complete ones, a stop, a decline."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="surveybot")
    sids = []
    sids += converse(client, NUMBERS[0], ["SURVEY", "1", "4", "3", "1", "1 2", "3", "2"])
    sids += converse(client, NUMBERS[1], ["hola", "2", "si", "2", "1", "2", "1", "2"])
    sids += converse(client, NUMBERS[2], ["SONDAJ", "1", "SKIP", "BACK", "3", "RESTART", "4"])
    sids += converse(client, NUMBERS[2], ["2", "1", "1", "1 5", "2", "3", "SONDAJ"])
    sids += converse(client, NUMBERS[3], ["SURVEY", "1", "1", "STOP"])
    sids += converse(client, "+13055550999", ["SURVEY", "2"])
    sids += converse_whatsapp(client, WHATSAPP[0], ["ENCUESTA", "1", "audio", "2", "2", "2"])
    sids += converse_whatsapp(client, WHATSAPP[0], ["button:none", "image", "2"])
    sids += converse(client, WHATSAPP[1], ["SONDAJ", "1"])
    sids += converse_whatsapp(client, WHATSAPP[1], ["3", "KANPE"])

    call = Call(client, CALLERS[0])
    call.start()
    for pressed in ("3", "1", "4", "3", "1", "12#", "3", "2"):
        call.press(pressed)
    assert call.turn.hung_up
    call.hang_up()
    first = Call(client, CALLERS[1])
    first.start()
    first.press("2")
    first.say("sí")
    first.say(SPOKEN)
    first.hang_up()
    second = Call(client, CALLERS[1])
    second.start()
    for words in ("tres", "claro", "uno y dos", "varias", "no"):
        second.say(words)
    assert second.turn.hung_up
    second.hang_up()
    sids += converse(client, CALLERS[2], ["SURVEY", "1", "1"])
    third = Call(client, CALLERS[2])
    third.start()
    for pressed in ("2", "2", "1", "1"):
        third.press(pressed)
    assert third.turn.hung_up
    third.hang_up()
    sids += [call.call_sid, first.call_sid, second.call_sid, third.call_sid]
    return sids


def assert_clean(blobs, numbers, sids, where):
    for blob in blobs:
        as_text = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else str(blob)
        for number in numbers:
            for shape in formats(number):
                assert shape not in as_text, f"{shape!r} found in {where}: {as_text[:200]!r}"
        for sid in sids:
            assert sid not in as_text, f"a MessageSid or CallSid found in {where}"
        assert PROFILE_NAME not in as_text, f"a WhatsApp ProfileName found in {where}"
        for trace in ("RecordingUrl", "/Recordings/"):  # the bot never records a call
            assert trace not in as_text, f"{trace!r} found in {where}"


def _said(reply: str) -> str:
    """A cached reply as its words: an SMS text, or what a call's TwiML says."""
    if not reply.startswith("<?xml"):
        return reply
    from tests.voice_utils import check_twiml

    turn = check_twiml(reply.encode())
    assert turn.hung_up, "only a finished call's last answer is left cached"
    return " ".join(words for words, _ in turn.said)


def assert_pseudonyms_only_in_markers(dump, pseudonyms, harmless_replies):
    """Pseudonyms appear only in per-respondent keys that hold no answer. `pseudonyms` maps each
    to its conversation cipher, to open the replies cached for Twilio's retries as the bot does."""
    values_of: dict[bytes, list[bytes]] = {}
    for key, value in dump:
        values_of.setdefault(key, []).append(value)
    for key, value in dump:
        if not any(p.encode() in key for p in pseudonyms):
            if any(p.encode() in value for p in pseudonyms):
                # Only the job that records an opt-out carries a pseudonym, and no answer (a
                # sealed record of the inbox cannot contain one: it is random bytes).
                blob = b" ".join(values_of[key])
                assert key.startswith(b"rq:job:"), key
                assert b"workers.storage.record_opt_" in blob, key
                assert b"store_response" not in blob, key
        elif b":session" in key:
            pass  # a conversation still in flight (none is left in these tests)
        elif b":msg:" in key:
            assert value.startswith(ENCRYPTED), "cached replies are kept encrypted"
            cipher = next(c for p, c in pseudonyms.items() if p.encode() in key)
            replies = json.loads(cipher.decrypt(value[len(ENCRYPTED) :]))
            assert set(map(_said, replies)) <= harmless_replies, value
        elif key.decode().endswith(":done"):
            assert value == b"default"  # the set of waves this respondent completed
        elif key.decode().endswith(":optmsgs"):
            # Marks against late replays of STOP/START: short keyed digests, nothing else.
            assert re.fullmatch(rb"(?:[0-9a-f]{16},)+", value), value
        elif key.decode().endswith(":wa-window"):
            assert value == b"1"  # WhatsApp's 24-hour window is open: nothing more
        else:
            assert key.decode().endswith(":optout"), key
            assert value == b"1"


def test_nothing_at_rest_identifies_a_respondent(app, db, redis, conversations, caplog):
    numbers = [*NUMBERS, "+13055550999", *CALLERS, *WHATSAPP]
    sids = conversations
    settings = app.extensions["surveybot"].settings
    key = settings.PSEUDONYM_KEY
    pseudonyms = {pseudonym(key, n): conversation_cipher(key, n) for n in numbers}

    # Before the batch: the responses and every counter about a respondent wait sealed in the
    # storage inbox; no job carries answers, and no counter has moved while people texted.
    before = redis_dump(redis)
    assert len(inbox_records(redis, settings, inbox.RESPONSE)) == 7
    assert not any(b"store_response" in value for _, value in before)
    assert not redis.keys("sb:stats:wave:*") and not redis.keys("sb:stats:asked:*")
    assert_clean([k for k, _ in before] + [v for _, v in before], numbers, sids, "Redis")

    run_jobs(app)
    after = redis_dump(redis)
    assert_clean([k for k, _ in after] + [v for _, v in after], numbers, sids, "Redis")
    tables = database_dump(db)
    assert len(tables["response"]) == 7  # 3 by text, 3 by phone, 1 on WhatsApp
    for table, rows in tables.items():
        assert_clean([value for row in rows for value in row], numbers, sids, f"table {table}")
    # The conversations ran while the fixture was set up: scan that phase's records too.
    records = [r for phase in ("setup", "call") for r in caplog.get_records(phase)]
    assert records, "the scan must see log records"
    assert_clean([str(r.__dict__) for r in records], numbers, sids, "the logs")  # extras too
    # What a caller said is read into an option and dropped.
    rows = [str(value) for table in tables.values() for row in table for value in row]
    for blob in [v for _, v in before + after] + rows + [str(r.__dict__) for r in records]:
        assert SPOKEN.encode() not in (blob if isinstance(blob, bytes) else blob.encode())

    # No pseudonym next to an answer: not in the response or answer tables, and in Redis only
    # in markers that hold no answer (completed, opted out) and the cache of the last reply.
    for table in ("response", "answer"):
        for row in tables[table]:
            assert not {str(v) for v in row} & set(pseudonyms)
    q = app.extensions["surveybot"].questionnaire
    # Replies that end a conversation say nothing of its answers (an opt-out's confirmation:
    # the bot's own on WhatsApp, where Twilio confirms nothing).
    ending = ("closing", "already_completed", "declined", "opted_out")
    harmless = {q.message(k, lang) for k in ending for lang in q.languages} | {
        prompt_speech(q, f"message.{k}", lang) for k in ending for lang in q.languages
    }
    for dump in (before, after):
        assert_pseudonyms_only_in_markers(dump, pseudonyms, harmless)

    # Stored responses know their date, never their time.
    for row in tables["response"]:
        for value in row:
            assert not isinstance(value, dt.datetime)
            assert not (isinstance(value, str) and re.search(r"\d{2}:\d{2}", value))
    # The only pseudonyms in the database are those that opted out (by text, on WhatsApp), in
    # their own table.
    assert sorted(row[0] for row in tables["opt_out"]) == sorted(
        pseudonym(settings.PSEUDONYM_KEY, n) for n in (NUMBERS[3], WHATSAPP[1])
    )


def test_in_flight_state_is_deleted_on_completion_stop_and_decline(app, redis, conversations):
    settings = app.extensions["surveybot"].settings
    for number in (*NUMBERS, "+13055550999", *CALLERS, *WHATSAPP):
        assert not redis.exists(keys.session(pseudonym(settings.PSEUDONYM_KEY, number)))
