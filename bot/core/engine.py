"""The conversation engine: a pure function from (questionnaire, session, inbound text) to
(session, replies, events).

No I/O happens here, so SMS and voice share it and the tests can walk every path. The caller
loads the session, calls `step`, then saves the new session and acts on the events (store a
completed response, record an opt-out) in one atomic Redis transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from bot.core.questionnaire import (
    TWILIO_START_WORDS,
    TWILIO_STOP_WORDS,
    Keyword,
    Question,
    Questionnaire,
    QuestionType,
)
from bot.core.render import render_question
from bot.core.text import CONJUNCTIONS, MAX_BODY_CHARS, clean_body, normalize

MISSES_BEFORE_SKIP_OFFER = 3
# By phone a missed answer costs the caller more: offer to skip after the second miss, and
# after the third end the call for now (the session is kept, so calling again resumes).
VOICE_MISSES_BEFORE_SKIP_OFFER = 2
VOICE_MISSES_BEFORE_PAUSE = 3

# Consent is a yes/no question without options in the file; these words read it.
YES_WORDS = {
    "en": ("yes", "y", "yeah", "yep", "ok", "okay", "sure", "start"),
    "es": ("si", "claro", "ok", "vale", "dale", "bueno"),
    "ht": ("wi", "oui", "dako", "ok"),
}
NO_WORDS = {"en": ("no", "n", "nope"), "es": ("no",), "ht": ("non",)}
# Names a respondent may use to pick a language, beyond its number.
LANGUAGE_WORDS = {
    "en": ("en", "english", "ingles", "angle", "anglais"),
    "es": ("es", "espanol", "spanish", "castellano", "espanyol", "panyol"),
    "ht": ("ht", "kreyol", "creole", "criollo", "haitian", "kreyol ayisyen", "creole haitien"),
}


class Stage(StrEnum):
    """Where a conversation waits."""

    LANGUAGE = "language"
    CONSENT = "consent"
    QUESTION = "question"


class Channel(StrEnum):
    """How the respondent reaches the bot; both share sessions, answers and rules."""

    SMS = "sms"
    VOICE = "voice"


class Signal(StrEnum):
    """What a phone call says besides an answer."""

    CALL_START = "call_start"  # a call was answered: greet, or resume where they left off
    REPEAT = "repeat"  # say the pending question again (keypad *)


class EventType(StrEnum):
    """What happened in a step that the edge must act on."""

    STARTED = "started"  # consent given: counts as a started survey
    DECLINED = "declined"
    COMPLETED = "completed"
    OPTED_OUT = "opted_out"
    OPTED_IN = "opted_in"
    RESTARTED = "restarted"
    PAUSED = "paused"  # too many misses by phone: end the call, keep the session to resume


@dataclass(frozen=True)
class Event:
    """An outcome of a step; `answers` and `lang` are set on COMPLETED."""

    type: EventType
    answers: dict[str, Any] | None = None
    lang: str | None = None


@dataclass(frozen=True)
class Reply:
    """One outbound message; `lang` is None when it speaks all languages at once.

    `prompt` names what the text is ("language_prompt", "message.<key>" or "question.<id>"),
    so a channel can say it in its own words (the phone reads options aloud, or plays a
    recording) instead of sending the SMS text.
    """

    text: str
    lang: str | None
    prompt: str = ""


@dataclass(frozen=True)
class Inbound:
    """One inbound message and what the edge knows about its sender."""

    text: str
    has_media: bool = False
    opted_out: bool = False
    completed: bool = False  # this respondent already completed the current wave
    language: str | None = None  # already known (an invitation's), so no language menu
    channel: Channel = Channel.SMS
    signal: Signal | None = None
    keyword: Keyword | None = None  # a command given without words (keypad 0 skips, 9 goes back)
    keys: str | None = None  # keys pressed on a phone's keypad, read by `read_keys`


@dataclass
class Session:
    """A conversation in flight: everything needed to resume it, nothing about who it is."""

    stage: Stage = Stage.LANGUAGE
    lang: str | None = None
    question: str | None = None
    answers: dict[str, Any] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    misses: int = 0
    resume: Stage | None = None  # stage to return to after a LANGUAGE change

    def to_dict(self) -> dict[str, Any]:
        """Plain data for storage."""
        return {
            "stage": self.stage.value,
            "lang": self.lang,
            "question": self.question,
            "answers": dict(self.answers),
            "history": list(self.history),
            "misses": self.misses,
            "resume": self.resume.value if self.resume else None,
        }

    def copy(self) -> Session:
        """A copy the engine may change (answer values are never changed in place)."""
        return replace(self, answers=dict(self.answers), history=list(self.history))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Session:
        """Rebuild a session saved with `to_dict`."""
        data = dict(data)
        data["stage"] = Stage(data["stage"])
        if data.get("resume"):
            data["resume"] = Stage(data["resume"])
        return cls(**data)


@dataclass(frozen=True)
class Step:
    """Result of one step; `session` None means the conversation is over (or never began)."""

    session: Session | None
    replies: tuple[Reply, ...] = ()
    events: tuple[Event, ...] = ()


# ---------------------------------------------------------------------------------- reading


def _keyword_and_language(q: Questionnaire, norm: str) -> tuple[Keyword | None, str | None]:
    """The keyword a text is, and the language of the word (None for Twilio's own words)."""
    found = q.keyword_index.get(norm)
    if found is None:
        return None, None
    keyword, lang = found
    universal = norm in TWILIO_START_WORDS or norm in TWILIO_STOP_WORDS
    return keyword, None if universal else lang


def _keyword(q: Questionnaire, norm: str) -> Keyword | None:
    return _keyword_and_language(q, norm)[0]


def _start_language(q: Questionnaire, norm: str) -> str | None:
    return q.start_index.get(norm)


def _named_language(q: Questionnaire, norm: str) -> str | None:
    for lang in q.languages:
        names = {normalize(q.language_names.get(lang, "")), *LANGUAGE_WORDS.get(lang, ())}
        if norm in names:
            return lang
    return None


def _chosen_language(q: Questionnaire, norm: str) -> str | None:
    if norm.isdigit() and 1 <= int(norm) <= len(q.languages):
        return q.languages[int(norm) - 1]
    return _named_language(q, norm)


def _match_option(
    question: Question, phrase: str, lang: str, langs: tuple[str, ...], *, loose: bool = True
) -> int | None:
    """Index of the option a phrase names: its number, label or a synonym."""
    if phrase.isdigit():
        n = int(phrase)
        return n - 1 if 1 <= n <= len(question.options) else None
    # The respondent's own language first, then any other if it names exactly one option.
    for pool in ((lang,), tuple(x for x in langs if x != lang)):
        words = question.option_words
        hits = {
            i
            for x in pool
            for i, option_words in enumerate(words.get(x, ()))
            if phrase in option_words
        }
        if len(hits) == 1:
            return hits.pop()
    # "yes I am" or "1 citizen": a first word that names exactly one option.
    first, _, rest = phrase.partition(" ")
    if loose and rest and not any(word.isdigit() for word in rest.split(" ")):
        return _match_option(question, first, lang, (lang,), loose=False)
    return None


_MULTI_SPLIT = re.compile(r"\s*(?:,|;|/|\+|&|\n)\s*")
_CONJUNCTION_SPLIT = re.compile(r"\b(?:" + "|".join(sorted(CONJUNCTIONS)) + r")\b")


def _parse_multi(question: Question, text: str, lang: str, langs: tuple[str, ...]):
    norm_words = [w for w in normalize(text).split(" ") if w and w not in CONJUNCTIONS]
    count = len(question.options)
    if norm_words and all(w.isdigit() for w in norm_words):
        picks: list[int] = []
        for w in norm_words:
            n = int(w)
            if 1 <= n <= count:
                picks.append(n - 1)
            elif len(w) > 1 and all(1 <= int(d) <= count for d in w):
                picks.extend(int(d) - 1 for d in w)  # "13" with five options means 1 and 3
            else:
                return None
        return sorted(set(picks))
    phrases = [normalize(p) for p in _MULTI_SPLIT.split(text)]
    picks = []
    for phrase in phrases:
        for part in _CONJUNCTION_SPLIT.split(phrase):
            part = part.strip()
            if not part:
                continue
            index = _match_option(question, part, lang, langs, loose=False)
            if index is None:
                return None
            picks.append(index)
    return sorted(set(picks)) or None


def parse_answer(q: Questionnaire, question: Question, text: str, lang: str) -> Any:
    """The value a reply gives a question (option id, list of ids, int), or None if unclear."""
    norm = normalize(text)
    if not norm:
        return None
    if question.type is QuestionType.NUMBER:
        if not norm.isdigit() or len(norm) > 9:
            return None
        value = int(norm)
        if question.minimum is not None and value < question.minimum:
            return None
        if question.maximum is not None and value > question.maximum:
            return None
        return value
    if question.type is QuestionType.MULTI:
        picks = _parse_multi(question, text, lang, q.languages)
        return [question.options[i].id for i in picks] if picks else None
    index = _match_option(question, norm, lang, q.languages)
    return question.options[index].id if index is not None else None


def _consent_answer(norm: str, lang: str) -> bool | None:
    if norm in ("1", *YES_WORDS.get(lang, ()), *YES_WORDS["en"]):
        return True
    if norm in ("2", *NO_WORDS.get(lang, ()), *NO_WORDS["en"]):
        return False
    return None


# ---------------------------------------------------------------------------------- walking


def applies(question: Question, answers: dict[str, Any]) -> bool:
    """Whether a question's skip logic lets it be asked, given the answers so far."""
    for earlier, wanted in question.when.items():
        value = answers.get(earlier)
        chosen = set(value) if isinstance(value, list) else {value}
        if not chosen & set(wanted):
            return False
    return True


def next_question(q: Questionnaire, after: str | None, answers: dict[str, Any]) -> str | None:
    """The next question to ask after `after` (None: from the start), or None when done."""
    start = 0 if after is None else q.index(after) + 1
    for question in q.questions[start:]:
        if applies(question, answers):
            return question.id
    return None


def final_answers(q: Questionnaire, answers: dict[str, Any]) -> dict[str, Any]:
    """Answers in file order, without those whose skip logic no longer holds (after BACK)."""
    out: dict[str, Any] = {}
    for question in q.questions:
        if question.id in answers and applies(question, out):
            out[question.id] = answers[question.id]
    return out


def language_prompt(q: Questionnaire) -> Reply:
    """The first message: the language menu in every language at once."""
    lines = [q.language_prompt[lang].strip() for lang in q.languages]
    return Reply("\n".join(lines), None, "language_prompt")


def all_languages(q: Questionnaire, key: str) -> Reply:
    """A message in every language at once, for a respondent whose language is not known."""
    text = "\n\n".join(q.message(key, lang) for lang in q.languages)
    return Reply(text, None, f"message.{key}")


def _msg(q: Questionnaire, key: str, lang: str) -> Reply:
    return Reply(q.message(key, lang), lang, f"message.{key}")


def pending_prompt(q: Questionnaire, session: Session) -> Reply:
    """What the conversation is waiting for, asked again."""
    if session.stage is Stage.LANGUAGE or session.lang is None:
        return language_prompt(q)
    if session.stage is Stage.CONSENT:
        return _msg(q, "consent", session.lang)
    question = q.question(session.question)  # type: ignore[arg-type]
    text = render_question(question, session.lang)
    return Reply(text, session.lang, f"question.{question.id}")


def _ask(q: Questionnaire, session: Session, question_id: str, *before: Reply) -> Step:
    session.stage = Stage.QUESTION
    session.question = question_id
    session.misses = 0
    return Step(session, (*before, pending_prompt(q, session)))


def _advance(q: Questionnaire, session: Session, value: Any) -> Step:
    current = session.question
    assert current is not None
    session.answers[current] = value
    session.history.append(current)
    following = next_question(q, current, session.answers)
    if following is not None:
        return _ask(q, session, following)
    lang = session.lang
    assert lang is not None
    answers = final_answers(q, session.answers)
    return Step(
        None,
        (_msg(q, "closing", lang),),
        (Event(EventType.COMPLETED, answers=answers, lang=lang),),
    )


def _miss(q: Questionnaire, session: Session, channel: Channel = Channel.SMS) -> Step:
    session.misses += 1
    lang = session.lang
    voice = channel is Channel.VOICE
    if voice and session.misses >= VOICE_MISSES_BEFORE_PAUSE:
        session.misses = 0
        return Step(session, (), (Event(EventType.PAUSED, lang=lang),))
    if session.stage is not Stage.QUESTION or lang is None:
        return Step(session, (pending_prompt(q, session),))
    question = q.question(session.question)  # type: ignore[arg-type]
    hint_key = {
        QuestionType.MULTI: "invalid_multi",
        QuestionType.NUMBER: "invalid_number",
    }.get(question.type, "invalid")
    hint = q.message(hint_key, lang)
    prompt = f"message.{hint_key}"
    offer_after = VOICE_MISSES_BEFORE_SKIP_OFFER if voice else MISSES_BEFORE_SKIP_OFFER
    if session.misses >= offer_after and question.skippable:
        hint = f"{hint} {q.message('skip_offer', lang)}"
        prompt = f"{prompt} message.skip_offer"  # one SMS, two spoken prompts
    return Step(session, (Reply(hint, lang, prompt), pending_prompt(q, session)))


def _begin(q: Questionnaire, inbound: Inbound, norm: str) -> Step:
    """A text from someone with no conversation in flight."""
    known = inbound.language if inbound.language in q.languages else None
    lang = _start_language(q, norm) or _named_language(q, norm) or known
    keyword = _keyword(q, norm)
    if inbound.completed:
        reply = (
            _msg(q, "already_completed", lang) if lang else all_languages(q, "already_completed")
        )
        return Step(None, (reply,))
    if lang:
        consent = (_msg(q, "consent", lang),)
        if keyword is Keyword.HELP:
            consent = (_msg(q, "help", lang), *consent)
        return Step(Session(stage=Stage.CONSENT, lang=lang), consent)
    replies: tuple[Reply, ...] = (language_prompt(q),)
    if keyword is Keyword.HELP:
        replies = (all_languages(q, "help"), *replies)
    elif inbound.has_media and not norm:
        replies = (all_languages(q, "text_only"), *replies)
    return Step(Session(), replies)


def _keyword_step(q: Questionnaire, session: Session, keyword: Keyword) -> Step:
    lang = session.lang
    if keyword is Keyword.HELP:
        help_reply = _msg(q, "help", lang) if lang else all_languages(q, "help")
        return Step(session, (help_reply, pending_prompt(q, session)))
    if keyword is Keyword.LANGUAGE:
        if session.stage is not Stage.LANGUAGE:
            session.resume = session.stage
        session.stage = Stage.LANGUAGE
        return Step(session, (language_prompt(q),))
    if session.stage is Stage.LANGUAGE or lang is None:
        return Step(session, (pending_prompt(q, session),))
    if session.stage is Stage.CONSENT:
        if keyword is Keyword.BACK:
            session.stage = Stage.LANGUAGE
            session.resume = None
        return Step(session, (pending_prompt(q, session),))
    question = q.question(session.question)  # type: ignore[arg-type]
    if keyword is Keyword.RESTART:
        session.answers.clear()
        session.history.clear()
        first = next_question(q, None, session.answers)
        assert first is not None
        step = _ask(q, session, first, _msg(q, "restarted", lang))
        return Step(step.session, step.replies, (Event(EventType.RESTARTED),))
    if keyword is Keyword.BACK:
        if not session.history:
            return Step(session, (_msg(q, "back_at_start", lang), pending_prompt(q, session)))
        previous = session.history.pop()
        session.answers.pop(previous, None)
        return _ask(q, session, previous)
    if keyword is Keyword.SKIP:
        if not question.skippable:
            return Step(session, (_msg(q, "not_skippable", lang), pending_prompt(q, session)))
        return _advance(q, session, None)
    # START while in a conversation: nothing to opt into, carry on.
    return Step(session, (_msg(q, "resumed", lang), pending_prompt(q, session)))


# Keypad commands by phone: * says the question again, 0 skips, 9 goes back. A question whose
# answer is a number takes 0 and 9 as digits; `surveybot survey check` flags a question with
# nine or more options, whose 9th option the keypad could not choose.
KEY_REPEAT = "*"
KEY_SKIP = "0"
KEY_BACK = "9"


def read_keys(q: Questionnaire, session: Session | None, inbound: Inbound) -> Inbound:
    """Keys pressed on a call, read as an answer, a command or a request to repeat."""
    keys = (inbound.keys or "").replace("#", "")
    if KEY_REPEAT in keys:
        return replace(inbound, text="", keys=None, signal=Signal.REPEAT)
    asking = session.question if session and session.stage is Stage.QUESTION else None
    numeric = asking is not None and q.question(asking).type is QuestionType.NUMBER
    if not numeric and keys == KEY_SKIP:
        return replace(inbound, text="", keys=None, keyword=Keyword.SKIP)
    if not numeric and keys == KEY_BACK:
        return replace(inbound, text="", keys=None, keyword=Keyword.BACK)
    return replace(inbound, text=keys, keys=None)


def _signal_step(q: Questionnaire, session: Session | None, inbound: Inbound) -> Step:
    """A call answered (greet or resume) or a request to hear the question again."""
    if session is None:
        return _begin(q, inbound, "")
    session = session.copy()
    session.misses = 0
    if inbound.signal is Signal.REPEAT or session.lang is None:
        return Step(session, (pending_prompt(q, session),))
    return Step(session, (_msg(q, "resumed", session.lang), pending_prompt(q, session)))


def step(q: Questionnaire, session: Session | None, inbound: Inbound) -> Step:
    """Advance one conversation by one inbound message."""
    if inbound.keys is not None:
        inbound = read_keys(q, session, inbound)
    text = clean_body(inbound.text)
    if len(text) > MAX_BODY_CHARS:
        text = ""  # longer than any SMS Twilio delivers: not an answer to anything
    norm = normalize(text)
    keyword = inbound.keyword or _keyword(q, norm)

    if inbound.opted_out:
        if keyword is not Keyword.START:
            return Step(None)  # opted out: send nothing, keep nothing
        began = _begin(q, Inbound(text=""), "")
        lang = session.lang if session else None
        opted_in = _msg(q, "opted_in", lang) if lang else all_languages(q, "opted_in")
        return Step(began.session, (opted_in, *began.replies), (Event(EventType.OPTED_IN),))
    if keyword is Keyword.STOP and inbound.channel is Channel.VOICE:
        # "Stop" said on a call ends the survey and the call; texts are not opted out.
        lang = session.lang if session else None
        goodbye = _msg(q, "declined", lang) if lang else all_languages(q, "declined")
        return Step(None, (goodbye,), (Event(EventType.DECLINED),))
    if keyword is Keyword.STOP:
        return Step(None, (), (Event(EventType.OPTED_OUT),))
    if inbound.signal is not None:
        return _signal_step(q, session, inbound)
    if session is None:
        return _begin(q, inbound, norm)

    session = session.copy()  # never mutate the caller's session
    if keyword is Keyword.START and session.stage is Stage.CONSENT:
        keyword, norm = None, "1"  # "START" at the consent question means yes, begin
    if keyword is not None and keyword is not Keyword.START:
        return _keyword_step(q, session, keyword)
    start_lang = _start_language(q, norm)
    if keyword is Keyword.START:
        start_lang = start_lang or _keyword_and_language(q, norm)[1]
    if start_lang is not None or keyword is Keyword.START:
        if start_lang and session.stage is not Stage.LANGUAGE:
            session.lang = start_lang
        if session.lang is None or session.stage is Stage.LANGUAGE:
            if start_lang is None:
                return Step(session, (pending_prompt(q, session),))
            session.lang = start_lang
            session.stage = session.resume or Stage.CONSENT
            session.resume = None
            return Step(session, (pending_prompt(q, session),))
        return Step(session, (_msg(q, "resumed", session.lang), pending_prompt(q, session)))

    if inbound.has_media and not norm:
        # A picture or voice note with no text: say we read text only, then ask again.
        missed = _miss(q, session, inbound.channel)
        lang = session.lang
        explain = _msg(q, "text_only", lang) if lang else all_languages(q, "text_only")
        return Step(missed.session, (explain, missed.replies[-1]))

    if session.stage is Stage.LANGUAGE:
        chosen = _chosen_language(q, norm)
        if chosen is None:
            return _miss(q, session, inbound.channel)
        session.lang = chosen
        session.misses = 0
        if session.resume is not None:
            session.stage, session.resume = session.resume, None
            return Step(session, (pending_prompt(q, session),))
        session.stage = Stage.CONSENT
        return Step(session, (pending_prompt(q, session),))

    lang = session.lang
    assert lang is not None
    if session.stage is Stage.CONSENT:
        consent = _consent_answer(norm, lang)
        if consent is None:
            return _miss(q, session, inbound.channel)
        if not consent:
            return Step(None, (_msg(q, "declined", lang),), (Event(EventType.DECLINED),))
        first = next_question(q, None, session.answers)
        assert first is not None
        began = _ask(q, session, first)
        return Step(began.session, began.replies, (Event(EventType.STARTED, lang=lang),))

    question = q.question(session.question)  # type: ignore[arg-type]
    value = parse_answer(q, question, text, lang)
    if value is None:
        return _miss(q, session, inbound.channel)
    return _advance(q, session, value)


def outside_wave(q: Questionnaire, session: Session | None, inbound: Inbound) -> Step:
    """A text that no open wave can take: no wave is open, or the respondent's wave closed
    before they finished (their partial answers go). STOP, START and HELP still work."""
    text = clean_body(inbound.text)
    norm = normalize(text) if len(text) <= MAX_BODY_CHARS else ""
    keyword, keyword_lang = _keyword_and_language(q, norm)
    lang = (session.lang if session else None) or keyword_lang
    lang = lang or _start_language(q, norm) or _named_language(q, norm)

    def say(key: str) -> Reply:
        return _msg(q, key, lang) if lang else all_languages(q, key)

    if inbound.opted_out:
        if keyword is not Keyword.START:
            return Step(None)
        return Step(None, (say("opted_in"),), (Event(EventType.OPTED_IN),))
    if keyword is Keyword.STOP and inbound.channel is Channel.SMS:
        return Step(None, (), (Event(EventType.OPTED_OUT),))
    closed = session is not None
    replies = (say("wave_closed" if closed else "no_wave_open"),)
    if keyword is Keyword.HELP:
        replies = (say("help"), *replies)
    return Step(None, replies)
