"""How the survey sounds on a call: the one place that turns engine replies into speech.

The engine names every reply's prompt ("language_prompt", "message.<key>", "question.<id>"),
so the phone says the same thing as the text, in words that read well aloud: the file's
`voice` texts where it has them, options read as "For <label>, press <N>", and, for a
language Twilio cannot speak (Haitian Creole), the recording the file names for the prompt.
Pure functions (`recording_path` only looks at the disk): `bot.channels.voice` turns their
output into TwiML, `bot.core.checks` lints it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from bot.core.engine import Reply
from bot.core.questionnaire import Keyword, Question, Questionnaire, QuestionType

T = TypeVar("T")


@dataclass(frozen=True)
class Voice:
    """A Twilio <Say> voice and the BCP-47 language it speaks."""

    language: str
    name: str


# Twilio's Amazon Polly voices for the languages it speaks well. Haitian Creole has no
# text-to-speech anywhere at Twilio: its prompts are recordings, and a missing recording is
# read by a French voice (close in spelling, far from right) until one is made.
SAY_VOICES = {
    "en": Voice("en-US", "Polly.Joanna"),
    "es": Voice("es-US", "Polly.Lupe"),
}
FALLBACK_VOICE = Voice("fr-FR", "Polly.Lea")
# Languages <Gather> speech recognition understands; the others answer by keypad only.
SPEECH_LANGUAGES = {"en": "en-US", "es": "es-US"}
# What a Gather waits for: seconds of silence before the next key (Twilio's default is 5).
GATHER_TIMEOUT_SECONDS = 6
MAX_HINT_CHARS = 100  # Twilio's limit for one hint phrase
# The files the app's audio route serves.
AUDIO_SUFFIXES = (".mp3", ".wav")


@dataclass(frozen=True)
class Speech:
    """One thing said on a call: its text, its language and its recording if it has one."""

    text: str
    lang: str
    prompt: str  # "language_prompt", "message.<key>" or "question.<id>"
    recording: str | None = None  # file name from the questionnaire's `voice.recordings`

    @property
    def voice(self) -> Voice:
        """The voice that reads `text` when there is no recording."""
        return SAY_VOICES.get(self.lang, FALLBACK_VOICE)


# Phone-only messages a questionnaire may lack (`surveybot survey check` warns): what a call
# says instead, so a file written for texts still works by phone.
PHONE_ONLY_FALLBACKS = {
    "option": "{number}. {label}.",
    "keys_multi": "",
    "keys_number": "",
}
PHONE_ONLY_MESSAGES = ("call_ended", *PHONE_ONLY_FALLBACKS)


def voice_message(q: Questionnaire, key: str, lang: str, **values: object) -> str:
    """A message as said on a call, with the fallbacks for phone-only messages."""
    if key in q.voice.messages and lang in q.voice.messages[key] or key in q.messages:
        return q.voice_message(key, lang, **values)
    if key == "call_ended":
        return q.voice_message("declined", lang)
    return PHONE_ONLY_FALLBACKS[key].format(**values)


def option_label(question: Question, index: int, lang: str) -> str:
    """An option's label as read aloud."""
    option = question.options[index]
    return (option.voice.get(lang) or option.label[lang]).strip()


def question_speech(q: Questionnaire, question: Question, lang: str) -> str:
    """A question as read aloud: its text, each option and its key, how to answer."""
    parts = [" ".join((question.voice.get(lang) or question.text[lang]).split())]
    if question.type in (QuestionType.CHOICE, QuestionType.MULTI):
        parts.extend(
            voice_message(q, "option", lang, label=option_label(question, i, lang), number=i + 1)
            for i in range(len(question.options))
        )
    if question.type is QuestionType.MULTI:
        parts.append(voice_message(q, "keys_multi", lang))
    elif question.type is QuestionType.NUMBER:
        parts.append(voice_message(q, "keys_number", lang))
    return " ".join(p for p in parts if p)


def prompt_speech(q: Questionnaire, prompt: str, lang: str) -> str:
    """The spoken text of one named prompt in one language."""
    kind, _, name = prompt.partition(".")
    if kind == "question":
        return question_speech(q, q.question(name), lang)
    if kind == "message":
        return voice_message(q, name, lang)
    if prompt == "language_prompt":
        text = q.voice.language_prompt.get(lang) or q.language_prompt[lang]
        return " ".join(text.split())
    raise KeyError(prompt)


def recording(q: Questionnaire, prompt: str, lang: str) -> str | None:
    """The audio file the questionnaire names for a prompt in a language, if any."""
    return q.voice.recordings.get(lang, {}).get(prompt)


def recording_url_path(filename: str) -> str:
    """A recording's name as it goes into a URL: percent-encoded UTF-8 ("ht/konsantman ò.mp3"
    -> "ht/konsantman%20%C3%B2.mp3"), its folders kept. A space or an ò left bare in a <Play>
    URL is not a valid URL: Twilio may fetch another name, or none."""
    return quote(filename, safe="/")


def recording_path(folder: Path, filename: str) -> Path | None:
    """The file the app would play for a recording name: an audio file inside `folder`."""
    if not filename.endswith(AUDIO_SUFFIXES):
        return None
    root = folder.resolve()
    path = (root / filename).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


# Spoken prompts by questionnaire (its digest names its content), prompt and language: every
# caller hears the same ones, so each is composed once per process.
_spoken: dict[tuple, Speech] = {}
MAX_MEMO = 4096  # entries per memo: prompts x languages x questionnaire versions, with room


def memo(cache: dict, key: tuple, build: Callable[[], T]) -> T:
    """`cache[key]`, built on first use; the cache is emptied when it reaches MAX_MEMO."""
    value = cache.get(key)
    if value is None:
        if len(cache) >= MAX_MEMO:
            cache.clear()
        value = cache[key] = build()
    return value


def speech_for(q: Questionnaire, prompt: str, lang: str) -> Speech:
    """One prompt in one language, ready to say."""
    return memo(
        _spoken,
        (q.digest, prompt, lang),
        lambda: Speech(prompt_speech(q, prompt, lang), lang, prompt, recording(q, prompt, lang)),
    )


def speak(q: Questionnaire, reply: Reply) -> list[Speech]:
    """What a call says for one engine reply (every language in turn when it has none)."""
    langs = (reply.lang,) if reply.lang else q.languages
    return [speech_for(q, prompt, lang) for prompt in reply.prompt.split() for lang in langs]


def all_prompts(q: Questionnaire) -> list[str]:
    """Every prompt a call can say (what a language without text-to-speech must record)."""
    keys = sorted({*q.messages, *q.voice.messages, "call_ended"} - set(PHONE_ONLY_FALLBACKS))
    # Texting-only messages are never said on a call (invitations and reminders are texts).
    keys = [k for k in keys if k not in ("opted_in", "text_only", "invitation", "reminder")]
    return [
        "language_prompt",
        *(f"message.{k}" for k in keys),
        *(f"question.{question.id}" for question in q.questions),
    ]


def hint_phrases(q: Questionnaire, question: Question, lang: str) -> list[str]:
    """Words a caller is likely to say for a question, once each: its option labels and
    synonyms, SKIP and BACK. Phrases longer than MAX_HINT_CHARS are kept for the checker."""
    words: list[str] = []
    for option in question.options:
        words.extend((option.label.get(lang, ""), option.voice.get(lang, "")))
        words.extend(option.synonyms.get(lang, ()))
    for keyword in (Keyword.SKIP, Keyword.BACK):
        words.extend(q.keywords.get(keyword, {}).get(lang, ()))
    phrases = (hint_phrase(word) for word in words)
    return list(dict.fromkeys(phrase for phrase in phrases if phrase))


# Twilio's <Gather> hints are phrases of words separated by spaces, the phrases separated by
# commas (warning 13330 otherwise), and a word starting with $ is a class token: so a hint
# keeps letters, digits and an apostrophe inside a word ("don't"), and nothing else.
_HINT_DROPPED = re.compile(r"[^\w\s']|_|(?<!\w)'|'(?!\w)")
_ABBREVIATION_DOT = re.compile(r"(?<=\b[^\W\d_])\.(?=[^\W\d_]\b)")


def hint_phrase(text: str) -> str:
    """A label or word as a hint Twilio accepts: "Ciudadano/a de EE.UU." -> "Ciudadano a de
    EEUU", "Other (visa, TPS...)" -> "Other visa TPS"."""
    text = _ABBREVIATION_DOT.sub("", text)
    return " ".join(_HINT_DROPPED.sub(" ", text).split())


def speech_hints(q: Questionnaire, question: Question, lang: str) -> str:
    """The <Gather> hints for a question: its hint phrases Twilio accepts, comma-separated."""
    return ", ".join(p for p in hint_phrases(q, question, lang) if len(p) <= MAX_HINT_CHARS)
