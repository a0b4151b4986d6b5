"""One step of a conversation: the inbound text read in order of precedence."""

from __future__ import annotations

from bot.core.engine.buttons import read_choice
from bot.core.engine.keys import read_keys
from bot.core.engine.keywords import keyword_and_language, keyword_of, keyword_step, start_language
from bot.core.engine.prompts import all_languages, language_prompt, message, pending_prompt
from bot.core.engine.reconcile import finish_if_done, reconcile
from bot.core.engine.replies import (
    chosen_language,
    consent_answer,
    named_language,
    near_miss,
    parse_answer,
)
from bot.core.engine.states import (
    Channel,
    Event,
    EventType,
    Inbound,
    Reply,
    Session,
    Signal,
    Stage,
    Step,
)
from bot.core.engine.walk import advance, ask, miss, next_question
from bot.core.optout import OptOutType, is_resubscribe, revocation_language
from bot.core.questionnaire import Keyword, Questionnaire
from bot.core.text import MAX_BODY_CHARS, clean_body, normalize


def text_language(q: Questionnaire, norm: str) -> str | None:
    """The language a text is in, when it says so: a start keyword, a keyword of one language
    (COMENZAR, AYUDA, KANPE; not Twilio's own English words) or a language's name."""
    return start_language(q, norm) or keyword_and_language(q, norm)[1] or named_language(q, norm)


def begin(q: Questionnaire, inbound: Inbound, norm: str) -> Step:
    """A text from someone with no conversation in flight."""
    known = inbound.language if inbound.language in q.languages else None
    lang = text_language(q, norm) or known
    keyword = keyword_of(q, norm)
    if inbound.completed:
        reply = (
            message(q, "already_completed", lang) if lang else all_languages(q, "already_completed")
        )
        return Step(None, (reply,))
    if lang:
        consent = (message(q, "consent", lang),)
        if keyword is Keyword.HELP:
            consent = (message(q, "help", lang), *consent)
        return Step(Session(stage=Stage.CONSENT, lang=lang), consent)
    replies: tuple[Reply, ...] = (language_prompt(q),)
    if keyword is Keyword.HELP:
        replies = (all_languages(q, "help"), *replies)
    elif inbound.has_media and not norm:
        replies = (all_languages(q, "text_only"), *replies)
    return Step(Session(), replies)


def _signal_step(q: Questionnaire, session: Session | None, inbound: Inbound) -> Step:
    """A call answered (greet or resume) or a request to hear the question again."""
    if session is None:
        return begin(q, inbound, "")
    session = session.copy()
    session.misses = 0
    if inbound.signal is Signal.REPEAT or session.lang is None:
        return Step(session, (pending_prompt(q, session),))
    return Step(session, (message(q, "resumed", session.lang), pending_prompt(q, session)))


def step(q: Questionnaire, session: Session | None, inbound: Inbound) -> Step:
    """Advance one conversation by one inbound message.

    A session that names what `q` no longer has (its questionnaire was edited and its snapshot
    is gone) is first made to fit (`reconcile`); a text meant for a question that is gone is
    not read as the answer to another: the question now pending is asked instead.
    """
    moved = False
    if session is not None:
        session, moved = reconcile(q, session)
    if inbound.keys is not None:
        inbound = read_keys(q, session, inbound)
    if inbound.choice is not None:
        inbound = read_choice(q, session, inbound)
    text = clean_body(inbound.text)
    if len(text) > MAX_BODY_CHARS:
        text = ""  # longer than any SMS Twilio delivers: not an answer to anything
    norm = normalize(text)
    keyword, revoked = _opt_keyword(q, inbound, text, inbound.keyword or keyword_of(q, norm))

    if inbound.opted_out or keyword is Keyword.STOP or revoked:
        return _stop_step(q, session, inbound, keyword, norm, revoked)
    finished = finish_if_done(q, session) if session is not None else None
    if finished is not None:
        return finished
    if inbound.signal is not None:
        return _signal_step(q, session, inbound)
    if session is None:
        return begin(q, inbound, norm)

    session = session.copy()  # never mutate the caller's session
    if keyword is Keyword.START and session.stage is Stage.CONSENT:
        keyword, norm = None, "1"  # "START" at the consent question means yes, begin
    if moved and keyword is Keyword.SKIP:
        return Step(session, (pending_prompt(q, session),))  # it skipped a question now gone
    if keyword is not None and keyword is not Keyword.START:
        return keyword_step(q, session, keyword)
    start_lang = start_language(q, norm)
    if keyword is Keyword.START:
        start_lang = start_lang or keyword_and_language(q, norm)[1]
    if start_lang is not None or keyword is Keyword.START:
        return _start_step(q, session, start_lang)
    if moved:
        return Step(session, (pending_prompt(q, session),))  # a reply to what is now gone

    if inbound.has_media and not norm:
        # A picture or voice note with no text: say we read text only, then ask again.
        missed = miss(q, session, inbound.channel)
        lang = session.lang
        explain = message(q, "text_only", lang) if lang else all_languages(q, "text_only")
        return Step(missed.session, (explain, missed.replies[-1]))
    if session.stage is Stage.LANGUAGE:
        return _language_step(q, session, norm, inbound.channel)
    if session.stage is Stage.CONSENT:
        return _consent_step(q, session, norm, inbound)
    return _answer_step(q, session, text, inbound)


def _opt_keyword(
    q: Questionnaire, inbound: Inbound, text: str, keyword: Keyword | None
) -> tuple[Keyword | None, str | None]:
    """The keyword a text is once Twilio's `OptOutType` is heard (Twilio opted the number out,
    so the bot does too, whatever the words), and the language of the revocation it is, if any
    (a call's bare "stop" ends the call only: there, the file's phrases alone revoke)."""
    if inbound.opt_out_type is OptOutType.STOP:
        return Keyword.STOP, None
    if inbound.opt_out_type is OptOutType.HELP and keyword is None:
        keyword = Keyword.HELP
    if keyword is Keyword.STOP or inbound.opted_out or not text:
        return keyword, None
    sms = inbound.channel is Channel.SMS
    return keyword, revocation_language(q, text, with_keywords=sms)


def _stop_step(
    q: Questionnaire,
    session: Session | None,
    inbound: Inbound,
    keyword: Keyword | None,
    norm: str,
    revoked: str | None,
) -> Step:
    """A text from a number that opted out (only an opt-in is heard), STOP, or a revocation."""
    lang = session.lang if session else None
    if inbound.opted_out:
        if keyword is not Keyword.START and not is_resubscribe(q, norm, inbound.opt_out_type):
            return Step(None)  # opted out: send nothing, keep nothing
        # COMENZAR or KOMANSE says the language: the reply and the survey speak it alone.
        lang = lang or text_language(q, norm) or inbound.language
        began = begin(q, Inbound(text="", language=lang), "")
        opted_in = message(q, "opted_in", lang) if lang else all_languages(q, "opted_in")
        return Step(began.session, (opted_in, *began.replies), (Event(EventType.OPTED_IN),))
    if revoked is not None:
        # Twilio neither blocks nor answers a sentence: the bot confirms, in their language.
        return Step(None, _revoked_replies(q, lang or revoked), (Event(EventType.OPTED_OUT),))
    if inbound.channel is Channel.VOICE:
        # "Stop" said on a call ends the survey and the call; texts are not opted out, unless
        # the bot placed the call to invite them: then they asked it to stop contacting them.
        goodbye = message(q, "declined", lang) if lang else all_languages(q, "declined")
        events = (Event(EventType.DECLINED),)
        if inbound.invited_call:
            events += (Event(EventType.OPTED_OUT),)
        return Step(None, (goodbye,), events)
    confirmed: tuple[Reply, ...] = ()
    if inbound.confirm_opt_out:  # on WhatsApp nobody else says it: the bot confirms
        lang = lang or text_language(q, norm)
        confirmed = _revoked_replies(q, lang) if lang else _all_confirmations(q)
    return Step(None, confirmed, (Event(EventType.OPTED_OUT),))


def _all_confirmations(q: Questionnaire) -> tuple[Reply, ...]:
    """The opt-out confirmation in every language (a STOP that names none, with no session)."""
    return (all_languages(q, "opted_out"),) if q.messages.get("opted_out") else ()


def _revoked_replies(q: Questionnaire, lang: str) -> tuple[Reply, ...]:
    """The confirmation of a revocation (none if the file has no `opt_out.confirmation`)."""
    return (message(q, "opted_out", lang),) if lang in q.messages.get("opted_out", {}) else ()


def _start_step(q: Questionnaire, session: Session, start_lang: str | None) -> Step:
    """START or a start keyword in a conversation: switch to its language, or carry on."""
    if start_lang and session.stage is not Stage.LANGUAGE:
        session.lang = start_lang
    if session.lang is None or session.stage is Stage.LANGUAGE:
        if start_lang is None:
            return Step(session, (pending_prompt(q, session),))
        session.lang = start_lang
        session.stage = session.resume or Stage.CONSENT
        session.resume = None
        return finish_if_done(q, session) or Step(session, (pending_prompt(q, session),))
    return Step(session, (message(q, "resumed", session.lang), pending_prompt(q, session)))


def _language_step(q: Questionnaire, session: Session, norm: str, channel: Channel) -> Step:
    """A reply to the language menu: on to consent, or back where a LANGUAGE change began."""
    chosen = chosen_language(q, norm)
    if chosen is None:
        return miss(q, session, channel)
    session.lang = chosen
    session.misses = 0
    if session.resume is not None:
        session.stage, session.resume = session.resume, None
        return finish_if_done(q, session) or Step(session, (pending_prompt(q, session),))
    session.stage = Stage.CONSENT
    return Step(session, (pending_prompt(q, session),))


def _welcome_back(q: Questionnaire, session: Session) -> Step:
    """Someone back after a pause, or texting after a call, whose text answers nothing: greet
    them and ask what is pending, rather than tell them off for a wrong reply."""
    session.misses = 0
    return Step(session, (message(q, "resumed", session.lang), pending_prompt(q, session)))  # type: ignore[arg-type]


def _consent_step(q: Questionnaire, session: Session, norm: str, inbound: Inbound) -> Step:
    """A reply to the consent message: the first question, or a goodbye."""
    lang = session.lang
    assert lang is not None
    consent = consent_answer(norm, lang)
    if consent is None and inbound.returning:
        return _welcome_back(q, session)
    if consent is None:
        return miss(q, session, inbound.channel, near=bool(norm))
    if not consent:
        return Step(None, (message(q, "declined", lang),), (Event(EventType.DECLINED),))
    first = next_question(q, None, session.answers)
    assert first is not None
    began = ask(q, session, first)
    return Step(began.session, began.replies, (Event(EventType.STARTED, lang=lang),))


def _answer_step(q: Questionnaire, session: Session, text: str, inbound: Inbound) -> Step:
    """A reply to the pending question: the next question, or a hint and the question again."""
    lang = session.lang
    assert lang is not None
    question = q.question(session.question)  # type: ignore[arg-type]
    value = parse_answer(q, question, text, lang)
    if value is None and inbound.returning:
        return _welcome_back(q, session)
    if value is None:
        return miss(q, session, inbound.channel, near=near_miss(normalize(text)))
    return advance(q, session, value)


def outside_wave(q: Questionnaire, session: Session | None, inbound: Inbound) -> Step:
    """A text that no open wave can take: no wave is open, or the respondent's wave closed
    before they finished (their partial answers go). STOP, START and HELP still work."""
    text = clean_body(inbound.text)
    text = text if len(text) <= MAX_BODY_CHARS else ""
    norm = normalize(text)
    keyword, keyword_lang = keyword_and_language(q, norm)
    keyword, revoked = _opt_keyword(q, inbound, text, keyword)
    lang = (session.lang if session else None) or keyword_lang
    lang = lang or start_language(q, norm) or named_language(q, norm)

    def say(key: str) -> Reply:
        return message(q, key, lang) if lang else all_languages(q, key)

    if inbound.opted_out:
        if keyword is not Keyword.START and not is_resubscribe(q, norm, inbound.opt_out_type):
            return Step(None)
        return Step(None, (say("opted_in"),), (Event(EventType.OPTED_IN),))
    if revoked is not None:
        return Step(None, _revoked_replies(q, lang or revoked), (Event(EventType.OPTED_OUT),))
    if keyword is Keyword.STOP and inbound.channel is Channel.SMS:
        return Step(None, (), (Event(EventType.OPTED_OUT),))
    closed = session is not None
    replies = (say("wave_closed" if closed else "no_wave_open"),)
    if keyword is Keyword.HELP:
        replies = (say("help"), *replies)
    return Step(None, replies)
