"""Questionnaire files: load the YAML into immutable objects the engine walks through.

The file is the single source of every respondent-facing string. Loading is strict about
shape (a malformed file fails with `QuestionnaireError` naming the place); the softer checks
(missing translations, SMS length, skip logic) live in `bot.core.checks`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from bot.core.twilio_words import TWILIO_HELP_WORDS, TWILIO_START_WORDS, TWILIO_STOP_WORDS
from bot.infra.exceptions import QuestionnaireError

DEFAULT_SURVEY_PATH = Path(__file__).parent.parent / "surveys" / "community_safety.yaml"


class QuestionType(StrEnum):
    """How a question's reply is read."""

    CHOICE = "choice"
    MULTI = "multi"
    NUMBER = "number"


class Keyword(StrEnum):
    """Commands a respondent may text at any point of the conversation."""

    STOP = "stop"
    START = "start"
    HELP = "help"
    SKIP = "skip"
    BACK = "back"
    RESTART = "restart"
    LANGUAGE = "language"


# Messages the engine needs; every one must exist in every language of the file.
REQUIRED_MESSAGES = (
    "consent",
    "declined",
    "help",
    "invalid",
    "invalid_multi",
    "invalid_number",
    "skip_offer",
    "not_skippable",
    "back_at_start",
    "restarted",
    "resumed",
    "closing",
    "already_completed",
    "opted_in",
    "text_only",
    "no_wave_open",
    "wave_closed",
    "consent_hint",
)
# Values the engine fills into messages besides the file's resources: `keyword`, the wave's
# own start word in the message's language (what DECLINED and OPTED_IN tell a person to text),
# and `last`, the number of the last option of the question at hand (the hint "Reply 1 to 5").
ENGINE_FIELDS = ("keyword", "last")

Text = dict[str, str]  # language code -> string


@dataclass(frozen=True)
class Option:
    """One answer of a choice or multi question; `id` is stable across versions."""

    id: str
    label: Text
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    voice: Text = field(default_factory=dict)  # the label as read aloud, where it differs


@dataclass(frozen=True)
class Question:
    """One question: text per language, its options and optional skip logic."""

    id: str
    type: QuestionType
    text: Text
    options: tuple[Option, ...] = ()
    skippable: bool = True
    # Skip logic: ask only if every named earlier question was answered with one of the listed
    # option ids (for multi: any overlap).
    when: dict[str, tuple[str, ...]] = field(default_factory=dict)
    minimum: int | None = None
    maximum: int | None = None
    voice: Text = field(default_factory=dict)

    @cached_property
    def option_words(self) -> dict[str, tuple[frozenset[str], ...]]:
        """Per language, the normalized label and synonyms of each option, built once."""
        from bot.core.text import normalize

        languages = {lang for o in self.options for lang in (*o.label, *o.synonyms)}

        def words(option: Option, lang: str) -> frozenset[str]:
            raw = (option.label.get(lang, ""), *option.synonyms.get(lang, ()))
            return frozenset(w for w in map(normalize, raw) if w)

        return {lang: tuple(words(o, lang) for o in self.options) for lang in languages}

    def option(self, option_id: str) -> Option:
        """The option with this id."""
        for option in self.options:
            if option.id == option_id:
                return option
        raise KeyError(option_id)


@dataclass(frozen=True)
class VoiceText:
    """What the phone channel says where the SMS wording does not read well aloud.

    `language_prompt` and `messages` override the SMS texts per language (a message missing
    here is spoken from `messages`); `recordings` names, per language without text-to-speech
    (Haitian Creole), the audio file of each prompt: "language_prompt", "message.<key>",
    "question.<id>".
    """

    language_prompt: Text = field(default_factory=dict)
    messages: dict[str, Text] = field(default_factory=dict)
    recordings: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Questionnaire:
    """A whole survey: languages, messages, keywords, questions and report settings."""

    id: str
    version: str
    languages: tuple[str, ...]
    language_names: Text
    language_prompt: Text
    messages: dict[str, Text]
    keywords: dict[Keyword, dict[str, tuple[str, ...]]]
    start_keywords: dict[str, tuple[str, ...]]
    questions: tuple[Question, ...]
    resources: dict[str, str]
    crosstabs: tuple[tuple[str, str], ...]
    review: dict[str, Any]
    digest: str
    voice: VoiceText = field(default_factory=lambda: VoiceText())
    # Resource name -> the value the file shipped with, which an organizer must replace
    # (see bot.core.placeholders); a resource that still holds it is unfinished.
    placeholders: dict[str, str] = field(default_factory=dict)
    # Revocation of consent in a sentence (the file's `opt_out` group, bot.core.optout):
    # language -> phrases, and language -> courtesy words allowed around them.
    revocation: dict[str, tuple[str, ...]] = field(default_factory=dict)
    courtesy: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # The YAML text it was read from (`digest` is of it): what a snapshot of it keeps.
    source: str = field(default="", repr=False, compare=False)

    @cached_property
    def keyword_index(self) -> dict[str, tuple[Keyword, str]]:
        """Normalized keyword word -> (keyword, language of the word), built once."""
        from bot.core.text import normalize

        index: dict[str, tuple[Keyword, str]] = {}
        for keyword, per_lang in self.keywords.items():
            for lang, words in per_lang.items():
                for word in words:
                    index.setdefault(normalize(word), (keyword, lang))
        return index

    @cached_property
    def start_index(self) -> dict[str, str]:
        """Normalized start keyword -> the language it names, built once."""
        from bot.core.text import normalize

        index: dict[str, str] = {}
        for lang, words in self.start_keywords.items():
            for word in words:
                index.setdefault(normalize(word), lang)
        return index

    def question(self, question_id: str) -> Question:
        """The question with this id."""
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)

    def index(self, question_id: str) -> int:
        """Position of a question in the file."""
        for i, question in enumerate(self.questions):
            if question.id == question_id:
                return i
        raise KeyError(question_id)

    def start_word(self, lang: str) -> str:
        """The word that starts this questionnaire's survey in a language, as a text names it:
        the first start keyword of the language, else of any language, else Twilio's START."""
        for words in (self.start_keywords.get(lang, ()), *self.start_keywords.values()):
            if words:
                return words[0].upper()
        return TWILIO_START_WORDS[0].upper()

    def _fields(self, lang: str, values: dict[str, Any]) -> dict[str, Any]:
        """What a message's placeholders are filled with: resources, then ENGINE_FIELDS
        (`last` defaults to the longest option list, so `survey check` measures the worst)."""
        longest = max((len(question.options) for question in self.questions), default=0)
        return {
            **self.resources,
            "keyword": self.start_word(lang),
            "last": longest,
            **values,
        }

    def message(self, key: str, lang: str, **values: Any) -> str:
        """A message in one language with the file's resources (and `values`) filled in."""
        return self.messages[key][lang].strip().format(**self._fields(lang, values))

    def voice_message(self, key: str, lang: str, **values: Any) -> str:
        """A message as spoken by phone: its `voice` text if any, else its SMS text."""
        text = self.voice.messages.get(key, {}).get(lang)
        if text is None:
            text = self.messages[key][lang]
        return " ".join(text.split()).format(**self._fields(lang, values))


def _text(raw: Any, where: str) -> Text:
    if isinstance(raw, str):
        raise QuestionnaireError(f"{where}: expected a mapping of language to text, got a string")
    if not isinstance(raw, dict):
        raise QuestionnaireError(f"{where}: expected a mapping of language to text")
    return {str(k): str(v) for k, v in raw.items() if v is not None}


def _words(raw: Any, where: str) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise QuestionnaireError(f"{where}: expected a mapping of language to a list of words")
    out: dict[str, tuple[str, ...]] = {}
    for lang, words in raw.items():
        if isinstance(words, str):
            words = [words]
        out[str(lang)] = tuple(str(w) for w in words or ())
    return out


def _option(raw: Any, where: str) -> Option:
    if not isinstance(raw, dict) or "id" not in raw:
        raise QuestionnaireError(f"{where}: an option needs an id and a label")
    return Option(
        id=str(raw["id"]),
        label=_text(raw.get("label"), f"{where}.label"),
        synonyms=_words(raw.get("synonyms"), f"{where}.synonyms"),
        voice=_text(raw["voice"], f"{where}.voice") if raw.get("voice") else {},
    )


def _voice(raw: Any) -> VoiceText:
    if raw is None:
        return VoiceText()
    if not isinstance(raw, dict):
        raise QuestionnaireError("voice: expected language_prompt, messages and recordings")
    recordings_raw = raw.get("recordings") or {}
    if not isinstance(recordings_raw, dict) or not all(
        isinstance(v, dict) for v in recordings_raw.values()
    ):
        raise QuestionnaireError("voice.recordings: expected language -> prompt -> audio file")
    return VoiceText(
        language_prompt=_text(raw.get("language_prompt") or {}, "voice.language_prompt"),
        messages={
            str(k): _text(v, f"voice.messages.{k}") for k, v in (raw.get("messages") or {}).items()
        },
        recordings={
            str(lang): {str(k): str(v) for k, v in files.items() if v}
            for lang, files in recordings_raw.items()
        },
    )


def _resources(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise QuestionnaireError(f"{where}: expected a mapping of resource name to value")
    return {str(k): "" if v is None else str(v) for k, v in raw.items()}


def _question(raw: Any, where: str) -> Question:
    if not isinstance(raw, dict) or "id" not in raw:
        raise QuestionnaireError(f"{where}: a question needs an id")
    qid = str(raw["id"])
    where = f"question {qid}"
    try:
        qtype = QuestionType(raw.get("type", "choice"))
    except ValueError as exc:
        raise QuestionnaireError(f"{where}: unknown type {raw.get('type')!r}") from exc
    options = tuple(
        _option(o, f"{where}.options[{i}]") for i, o in enumerate(raw.get("options") or ())
    )
    when_raw = raw.get("when") or {}
    if not isinstance(when_raw, dict):
        raise QuestionnaireError(f"{where}.when: expected a mapping of question id to option ids")
    when = {
        str(k): tuple(str(x) for x in (v if isinstance(v, list) else [v]))
        for k, v in when_raw.items()
    }
    return Question(
        id=qid,
        type=qtype,
        text=_text(raw.get("text"), f"{where}.text"),
        options=options,
        skippable=bool(raw.get("skippable", True)),
        when=when,
        minimum=raw.get("min"),
        maximum=raw.get("max"),
        voice=_text(raw["voice"], f"{where}.voice") if raw.get("voice") else {},
    )


def parse_questionnaire(source: str) -> Questionnaire:
    """Build a questionnaire from YAML text."""
    try:
        raw = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        raise QuestionnaireError(f"not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise QuestionnaireError("a questionnaire file is a YAML mapping")
    languages = tuple(str(lang) for lang in raw.get("languages") or ())
    if not languages:
        raise QuestionnaireError("languages: at least one language is required")
    messages = {str(k): _text(v, f"messages.{k}") for k, v in (raw.get("messages") or {}).items()}
    opt_out = raw.get("opt_out") or {}
    if not isinstance(opt_out, dict):
        raise QuestionnaireError("opt_out: expected phrases, courtesy and confirmation")
    if opt_out.get("confirmation") is not None:
        # Said like any message (and checked like one): `messages.opted_out`.
        messages["opted_out"] = _text(opt_out["confirmation"], "opt_out.confirmation")
    keywords: dict[Keyword, dict[str, tuple[str, ...]]] = {}
    for name, words in (raw.get("keywords") or {}).items():
        try:
            keyword = Keyword(name)
        except ValueError as exc:
            raise QuestionnaireError(f"keywords: unknown keyword {name!r}") from exc
        keywords[keyword] = _words(words, f"keywords.{name}")
    for keyword, defaults in (
        (Keyword.STOP, TWILIO_STOP_WORDS),
        (Keyword.START, TWILIO_START_WORDS),
        (Keyword.HELP, TWILIO_HELP_WORDS),
    ):
        per_lang = keywords.setdefault(keyword, {})
        per_lang["en"] = tuple(dict.fromkeys((*per_lang.get("en", ()), *defaults)))
    questions = tuple(
        _question(q, f"questions[{i}]") for i, q in enumerate(raw.get("questions") or ())
    )
    if not questions:
        raise QuestionnaireError("questions: at least one question is required")
    crosstabs = tuple(
        tuple(str(pair).split("|", 1))  # type: ignore[misc]
        for pair in (raw.get("report") or {}).get("crosstabs") or ()
    )
    return Questionnaire(
        id=str(raw.get("id") or "survey"),
        version=str(raw.get("version") or "1"),
        languages=languages,
        language_names=_text(raw.get("language_names") or {}, "language_names"),
        language_prompt=_text(raw.get("language_prompt") or {}, "language_prompt"),
        messages=messages,
        keywords=keywords,
        start_keywords=_words(raw.get("start_keywords"), "start_keywords"),
        questions=questions,
        resources=_resources(raw.get("resources"), "resources"),
        crosstabs=crosstabs,  # type: ignore[arg-type]
        review=dict(raw.get("review") or {}),
        digest=hashlib.sha256(source.encode()).hexdigest()[:16],
        voice=_voice(raw.get("voice")),
        placeholders=_resources(raw.get("placeholders"), "placeholders"),
        revocation=_words(opt_out.get("phrases"), "opt_out.phrases"),
        courtesy=_words(opt_out.get("courtesy"), "opt_out.courtesy"),
        source=source,
    )


def load_questionnaire(path: str | Path | None = None) -> Questionnaire:
    """Read and parse a questionnaire file (the community safety survey by default)."""
    path = Path(path) if path else DEFAULT_SURVEY_PATH
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise QuestionnaireError(f"cannot read {path}: {exc.strerror}") from exc
    return parse_questionnaire(source)
