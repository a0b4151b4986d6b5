"""Opting out and back in as Twilio and the law see it (issue 13, items 1-3): Twilio's word
lists and `OptOutType`, revocation in a sentence (FCC 24-18), and replays beyond the dedup
window. Every text goes through the signed webhook, as Twilio posts it."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from bot.channels.simulator import twilio_params
from bot.core.engine import language_prompt
from bot.core.optout import format_twilio_keywords, revocation_language, twilio_keywords
from bot.core.questionnaire import Questionnaire, load_questionnaire
from bot.core.render import render_question
from bot.core.voice_prompts import prompt_speech
from bot.infra import defaults, keys
from bot.infra.privacy import pseudonym
from tests.test_rotation import rotated
from tests.utils import new_sid, replies_of, sign, sms_status
from tests.voice_utils import Call

PHONE = "+13055550177"
# The start keyword and the language-menu key of each language of the shipped file.
START = {"en": "SURVEY", "es": "ENCUESTA", "ht": "SONDAJ"}
STOP = {"en": "STOP", "es": "PARAR", "ht": "KANPE"}
OPT_IN = {"en": "START", "es": "COMENZAR", "ht": "KÒMANSE"}


def q_of(app) -> Questionnaire:
    return app.extensions["surveybot"].questionnaire


def me(app, phone: str = PHONE) -> str:
    return pseudonym(app.extensions["surveybot"].settings.PSEUDONYM_KEY, phone)


def signed(client, body: str, *, phone: str = PHONE, opt_out_type: str | None = None) -> dict:
    """The form Twilio posts for one text (with Advanced Opt-Out's OptOutType if given)."""
    params = twilio_params(phone, body)
    sid = new_sid()
    params.update(MessageSid=sid, SmsSid=sid, SmsMessageSid=sid)
    if opt_out_type is not None:
        params["OptOutType"] = opt_out_type
    return params


def post(client, params: dict):
    """POST a form to the SMS webhook, signed exactly as Twilio signs it."""
    signature = sign(client.application, "/twilio/sms", params)
    return client.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": signature})


def say(client, body: str, **kwargs) -> list[str]:
    return replies_of(post(client, signed(client, body, **kwargs)))


def opted_out(redis, app) -> bool:
    return bool(redis.exists(keys.opted_out(me(app))))


def at_first_question(client, lang: str) -> None:
    say(client, START[lang])
    say(client, "1")  # consent


# ------------------------------------------------------------ 1. Twilio's lists, OptOutType


@pytest.mark.parametrize("lang", ["en", "es", "ht"])
def test_yes_after_stop_opts_back_in_as_at_twilio(client, app, redis, lang):
    q = q_of(app)
    at_first_question(client, lang)
    assert say(client, STOP[lang]) == []
    assert opted_out(redis, app)
    replies = say(client, "Yes")  # Twilio re-subscribes the number on YES
    assert not opted_out(redis, app)
    assert replies[-1] == language_prompt(q).text
    assert say(client, "2") == [q.message("consent", "es")]  # and the bot answers again


@pytest.mark.parametrize("lang", ["en", "es", "ht"])
def test_each_language_stop_and_start_words_agree(client, app, redis, lang):
    at_first_question(client, lang)
    say(client, STOP[lang])
    assert opted_out(redis, app)
    assert say(client, "1") == []  # silent while opted out
    assert say(client, OPT_IN[lang])
    assert not opted_out(redis, app)


def test_yes_is_consent_for_someone_not_opted_out(client, app, redis):
    q = q_of(app)
    say(client, "SURVEY")
    replies = say(client, "yes")
    assert replies[-1] == render_question(q.questions[0], "en")
    assert not opted_out(redis, app)


@pytest.mark.parametrize("word", ["ARRET", "arrêt", "Arrête", "STOP ALL", "optout", "Revoke"])
def test_twilio_default_stop_words_stop(client, app, redis, word):
    at_first_question(client, "en")
    assert say(client, word) == []
    assert opted_out(redis, app)
    assert not redis.exists(keys.session(me(app)))


@pytest.mark.parametrize("body", ["SALIR", "FINI", "desabonner"])
def test_opt_out_type_stop_opts_out_whatever_the_word(client, app, redis, body):
    at_first_question(client, "es")
    assert say(client, body, opt_out_type="STOP") == []  # Twilio blocked the number
    assert opted_out(redis, app)
    assert say(client, "1") == []


@pytest.mark.parametrize("body", ["VOLVER", "Retounen", "resume"])
def test_opt_out_type_start_opts_back_in_whatever_the_word(client, app, redis, body):
    at_first_question(client, "ht")
    say(client, STOP["ht"])
    assert say(client, body) == []  # not an opt-in word the bot knows...
    assert opted_out(redis, app)
    assert say(client, body, opt_out_type="START")  # ...but Twilio says it opted in
    assert not opted_out(redis, app)


def test_opt_out_type_start_on_an_answer_is_read_as_the_answer(client, app, redis):
    """Twilio marks every YES as START; for someone not opted out it is an answer."""
    q = q_of(app)
    at_first_question(client, "en")
    say(client, "1")  # status
    say(client, "1")  # years in the US
    replies = say(client, "yes", opt_out_type="START")  # afraid to seek help: yes
    assert replies[-1] == render_question(q.question("fear_reasons"), "en")


@pytest.mark.parametrize("lang", ["en", "es", "ht"])
def test_opt_out_type_help_gives_help_in_the_language(client, app, lang):
    q = q_of(app)
    at_first_question(client, lang)
    replies = say(client, "AIDE", opt_out_type="help")
    assert replies[0] == q.message("help", lang)


def test_an_unknown_opt_out_type_is_ignored_and_a_malformed_one_refused(client, app, redis):
    q = q_of(app)
    at_first_question(client, "en")
    replies = say(client, "1", opt_out_type="MAYBE")
    assert replies[-1] == render_question(q.questions[1], "en")
    assert not opted_out(redis, app)
    response = post(client, signed(client, "1", opt_out_type="ST0P1"))
    assert response.status_code == 400


def test_organizers_get_the_exact_lists_for_twilio(app, runner, repo_root):
    q = load_questionnaire()
    lists = twilio_keywords(q)
    assert lists["opt-out"]["en"][:9] == [
        "STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE",
    ]  # fmt: skip
    assert "ARRET" in lists["opt-out"]["en"]
    assert lists["opt-out"]["es"] == ["PARAR", "ALTO", "BASTA", "CANCELAR"]
    assert lists["opt-in"]["en"] == ["START", "UNSTOP", "YES"]
    assert lists["opt-in"]["ht"] == ["KÒMANSE", "KOMANSE"]
    assert lists["help"]["en"] == ["HELP", "INFO"]
    expected = format_twilio_keywords(q)
    result = runner.invoke(args=["survey", "check"])
    assert expected in result.output
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    readme_lines = "\n".join(line.strip() for line in readme.splitlines())
    assert expected in readme_lines, "README's Twilio set-up lists what survey check prints"


# ------------------------------------------------------------ 2. revocation in a sentence

REVOCATIONS = [
    ("en", "Stop texting me"),
    ("en", "unsubscribe me please"),
    ("en", "Please, don't text me anymore"),
    ("en", "STOP PLEASE"),
    ("es", "No me manden más"),
    ("es", "no me manden mas mensajes, gracias!"),
    ("es", "parar por favor"),
    ("ht", "Pa voye m mesaj ankò"),
    ("ht", "tanpri pa voye m' mesaj anko"),
    ("ht", "kanpe tanpri"),
]


@pytest.mark.parametrize(("lang", "sentence"), REVOCATIONS)
def test_a_revocation_in_a_sentence_opts_out_with_one_confirmation(
    client, app, redis, lang, sentence
):
    q = q_of(app)
    at_first_question(client, lang)
    assert say(client, sentence) == [q.message("opted_out", lang)]
    assert opted_out(redis, app)
    assert not redis.exists(keys.session(me(app)))
    assert say(client, "1") == []


@pytest.mark.parametrize(("lang", "sentence"), REVOCATIONS[::3])
def test_a_revocation_before_any_conversation_is_confirmed_in_its_language(
    client, app, redis, lang, sentence
):
    q = q_of(app)
    assert say(client, sentence) == [q.message("opted_out", lang)]
    assert opted_out(redis, app)


def test_the_confirmation_speaks_the_conversations_language(client, app):
    q = q_of(app)
    at_first_question(client, "es")
    assert say(client, "stop texting me") == [q.message("opted_out", "es")]


NOT_REVOCATIONS = [
    ("en", "I'm not stopping"),
    ("en", "my ex won't stop texting me"),
    ("en", "I don't want you to stop texting me"),
    ("es", "no me detengo"),
    ("es", "mi vecino no me deja de escribir y no me manden más a la policía"),
    ("ht", "mwen p ap sispann"),
    ("ht", "lapolis pa voye m mesaj ankò apre sa"),
]


@pytest.mark.parametrize(("lang", "sentence"), NOT_REVOCATIONS)
def test_a_text_that_merely_contains_the_words_is_not_a_revocation(
    client, app, redis, lang, sentence
):
    q = q_of(app)
    at_first_question(client, lang)
    replies = say(client, sentence)
    assert q.message("opted_out", lang) not in replies
    assert replies[-1] == render_question(q.questions[0], lang)  # asked again
    assert not opted_out(redis, app)


def test_revocation_reads_accents_case_punctuation_and_apostrophes_alike():
    q = load_questionnaire()
    for text in ("NO ME MANDEN MÁS!!", "no, me manden mas", "Don’t text me", "dont text me."):
        assert revocation_language(q, text) is not None, text
    for text in ("", "1", "yes", "no", "stop the war", "more than ten years"):
        assert revocation_language(q, text) is None, text


@pytest.mark.parametrize(
    ("lang", "key", "spoken"),
    [("en", "1", "stop calling me please"), ("es", "2", "no me llamen más")],
)
def test_a_spoken_revocation_ends_the_call_and_records_the_opt_out(
    client, app, redis, lang, key, spoken
):
    q = q_of(app)
    call = Call(client, PHONE)
    call.start()
    call.press(key)  # language
    call.press("1")  # consent
    turn = call.say(spoken)
    assert turn.hung_up
    assert turn.text == prompt_speech(q, "message.opted_out", lang)
    assert opted_out(redis, app)
    assert not redis.exists(keys.session(me(app)))
    assert say(client, "SURVEY") == []  # texts are opted out too


def test_a_spoken_bare_stop_still_only_ends_the_call(client, app, redis):
    call = Call(client, PHONE)
    call.start()
    call.press("1")
    call.press("1")
    assert call.say("stop").hung_up
    assert not opted_out(redis, app)


# ------------------------------------------------------------ 3. replays beyond the window


def reply_caches_expire(redis, app) -> None:
    """What Redis does once MESSAGE_DEDUP_TTL_SECONDS have passed: the cached replies go."""
    cached = list(redis.scan_iter(match=f"{keys.PREFIX}:{{{me(app)}}}:msg:*"))
    assert cached
    for key in cached:
        assert 0 < redis.ttl(key) <= defaults.MESSAGE_DEDUP_TTL_SECONDS
    redis.delete(*cached)


def later(clock, hours: int = 7) -> None:
    clock.set(clock.moment + dt.timedelta(hours=hours))


@pytest.mark.parametrize("lang", ["en", "es", "ht"])
def test_a_stop_replayed_after_the_window_does_not_opt_out_again(client, app, redis, clock, lang):
    at_first_question(client, lang)
    captured = signed(client, STOP[lang])
    post(client, captured)
    assert opted_out(redis, app)
    say(client, OPT_IN[lang])
    assert not opted_out(redis, app)
    later(clock)
    reply_caches_expire(redis, app)
    assert replies_of(post(client, captured)) == []
    assert not opted_out(redis, app)


@pytest.mark.parametrize(("lang", "sentence"), REVOCATIONS[1::3])
def test_a_revocation_replayed_after_the_window_does_not_opt_out_again(
    client, app, redis, clock, lang, sentence
):
    captured = signed(client, sentence)
    assert replies_of(post(client, captured))
    say(client, OPT_IN[lang])
    later(clock, hours=30)
    reply_caches_expire(redis, app)
    assert replies_of(post(client, captured)) == []
    assert not opted_out(redis, app)


@pytest.mark.parametrize("lang", ["en", "es", "ht"])
def test_an_opt_in_replayed_after_the_window_does_not_opt_back_in(client, app, redis, clock, lang):
    say(client, STOP[lang])
    captured = signed(client, OPT_IN[lang])
    post(client, captured)
    say(client, STOP[lang])
    assert opted_out(redis, app)
    later(clock)
    reply_caches_expire(redis, app)
    assert replies_of(post(client, captured)) == []
    assert opted_out(redis, app)


def test_answering_yes_leaves_no_lasting_mark(client, app, redis):
    """YES is also an answer (consent, "are you afraid..."): a lasting mark per answered yes
    would count one person's yeses under their pseudonym. Only a YES that opted someone back in
    is marked; an old answered yes replayed after a STOP reaches the bot alone, and Twilio,
    which keeps its own opt-out, still sends them nothing."""
    say(client, "ENCUESTA")
    post(client, signed(client, "sí"))  # consent
    post(client, signed(client, "yes"))  # an answer
    assert not redis.exists(keys.opt_messages(me(app)))
    say(client, "PARAR")
    marks = redis.get(keys.opt_messages(me(app)))
    assert marks is not None and len(marks.rstrip(b",").split(b",")) == 1  # the STOP alone
    post(client, signed(client, "YES"))  # an opt-in now: marked too
    assert len(redis.get(keys.opt_messages(me(app))).rstrip(b",").split(b",")) == 2
    assert not opted_out(redis, app)


def test_the_marks_are_short_keyed_digests_only(client, app, redis):
    captured = signed(client, "STOP")
    post(client, captured)
    value = redis.get(keys.opt_messages(me(app)))
    assert re.fullmatch(rb"(?:[0-9a-f]{16},)+", value)
    assert captured["MessageSid"].encode() not in value
    assert redis.ttl(keys.opt_messages(me(app))) == -1  # kept for good, like the opt-out


def test_an_ordinary_answer_leaves_no_mark(client, app, redis):
    at_first_question(client, "en")
    say(client, "2")
    assert not redis.exists(keys.opt_messages(me(app)))


def test_a_replay_during_a_key_rotation_is_still_recognised(
    client, app, redis, clock, settings_overrides
):
    """Marks made under the old key move to the new pseudonym and still match a replay."""
    captured = signed(client, "PARAR")
    post(client, captured)
    new_app = rotated(settings_overrides)
    new_client = new_app.test_client()
    say(new_client, "COMENZAR")  # carried over, then opted back in under the new key
    later(clock)
    for key in redis.scan_iter(match=f"{keys.PREFIX}:*:msg:*"):
        redis.delete(key)
    assert replies_of(post(new_client, captured)) == []
    new_me = pseudonym(new_app.extensions["surveybot"].settings.PSEUDONYM_KEY, PHONE, version="v2")
    assert not redis.exists(keys.opted_out(new_me))
    assert redis.exists(keys.opt_messages(new_me))
    new_app.extensions["surveybot"].redis.close()


def test_a_replayed_21610_callback_does_not_opt_out_again(client, app, redis):
    """Twilio's 21610 status callback (the recipient is blocked) opts out once per message."""
    blocked = new_sid()
    sms_status(client, blocked, "failed", to=PHONE, code="21610")
    assert opted_out(redis, app)
    say(client, "START")
    assert not opted_out(redis, app)
    sms_status(client, blocked, "failed", to=PHONE, code="21610")  # the same signed callback
    assert not opted_out(redis, app)
    sms_status(client, new_sid(), "failed", to=PHONE, code="21610")  # a new one still counts
    assert opted_out(redis, app)


# ------------------------------------------------------------ outside any wave, and the checks


def test_with_no_wave_open_revocations_and_yes_still_work(app, client, redis, db):
    from sqlmodel import Session

    from bot.infra.db import get_engine
    from bot.outreach.waves import close_wave, create_wave, open_wave

    with Session(get_engine(db)) as session:
        create_wave(session, name="only")
        open_wave(session, redis, "only", allow_placeholders=True)
        close_wave(session, redis, "only")
    q = q_of(app)
    assert say(client, "no me manden más, por favor") == [q.message("opted_out", "es")]
    assert opted_out(redis, app)
    assert say(client, "hola") == []
    assert say(client, "YES")  # Twilio re-subscribed the number
    assert not opted_out(redis, app)
    assert say(client, "ARRET") == []
    assert opted_out(redis, app)
    assert say(client, "VOLVER", opt_out_type="START")
    assert not opted_out(redis, app)


def _file_with(edit) -> Questionnaire:
    import yaml

    from bot.core.questionnaire import DEFAULT_SURVEY_PATH, parse_questionnaire

    raw = yaml.safe_load(DEFAULT_SURVEY_PATH.read_text(encoding="utf-8"))
    edit(raw)
    return parse_questionnaire(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False))


def test_survey_check_flags_a_missing_confirmation_and_an_answer_that_revokes():
    from bot.core.checks.optout import check_opt_out

    assert list(check_opt_out(load_questionnaire())) == []

    def break_it(raw: dict) -> None:
        del raw["opt_out"]["confirmation"]["ht"]
        raw["questions"][0]["options"][0]["synonyms"] = {"en": ["stop texting me"]}
        raw["opt_out"]["phrases"]["es"].append("basta")

    findings = {(f.level, f.where) for f in check_opt_out(_file_with(break_it))}
    assert ("error", "opt_out.confirmation[ht]") in findings
    assert ("error", "question status.option citizen") in findings
    assert ("warning", "opt_out.phrases[es] 'basta'") in findings


def test_a_file_without_an_opt_out_group_revokes_by_keyword_only():
    q = _file_with(lambda raw: raw.pop("opt_out"))
    assert revocation_language(q, "stop texting me") is None
    assert revocation_language(q, "stop please") is None  # no courtesy words either
    assert revocation_language(q, "parar") == "es"  # a keyword (the engine reads it first)
    assert "opted_out" not in q.messages
