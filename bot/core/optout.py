"""Opting out and back in, as Twilio and the law see it.

Twilio opts a number out when a whole text is one of its opt-out words (STOP, ARRET...) and back
in on an opt-in word (START, YES, UNSTOP); with Advanced Opt-Out it also tells the webhook which
one a text was (`OptOutType`). Since April 2025 (FCC 24-18) a person may also revoke consent "by
any reasonable means": "no me manden más", "stop texting me". This module reads both, purely:
which texts revoke consent (the file's `opt_out` phrases, alone or with courtesy words only, so
an answer that merely contains a word is never one), which may change the opt-out state (what
the webhook keeps a lasting mark of against replays), and the word lists an organizer gives
Twilio so that both sides agree.
"""

from __future__ import annotations

from enum import StrEnum

from bot.core.questionnaire import Keyword, Questionnaire
from bot.core.text import normalize
from bot.core.twilio_words import TWILIO_RESUBSCRIBE_WORDS

# Apostrophes people type inside words ("don't", "m'"): dropped, so "don't" reads as "dont".
_APOSTROPHES = str.maketrans("", "", "'’ʼ`´")
# A revocation is a short text; a longer one is an answer or a story, never read as one.
MAX_REVOCATION_WORDS = 24


class OptOutType(StrEnum):
    """The `OptOutType` Twilio's Advanced Opt-Out adds to a keyword text's webhook."""

    STOP = "STOP"
    START = "START"
    HELP = "HELP"

    @classmethod
    def read(cls, value: str | None) -> OptOutType | None:
        """The type a form value names (any case), or None for none or one Twilio never sends."""
        try:
            return cls((value or "").strip().upper())
        except ValueError:
            return None


def words_of(text: str) -> tuple[str, ...]:
    """A text as the words a revocation is matched on: normalized, apostrophes dropped."""
    return tuple(normalize(text.translate(_APOSTROPHES)).split())


_Index = tuple[dict[tuple[str, ...], str], frozenset, int]
_indexes: dict[tuple[str, bool], _Index] = {}


def _index(q: Questionnaire, with_keywords: bool) -> _Index:
    """(phrase words -> language, courtesy phrases as words, most words in either), built once
    per questionnaire."""
    key = (q.digest, with_keywords)
    found = _indexes.get(key)
    if found is not None:
        return found
    phrases: dict[tuple[str, ...], str] = {}
    for lang, listed in q.revocation.items():
        for phrase in listed:
            phrases.setdefault(words_of(phrase), lang)
    if with_keywords:  # "STOP PLEASE", "parar por favor": Twilio opts out on the bare word only
        for lang, listed in q.keywords.get(Keyword.STOP, {}).items():
            for word in listed:
                phrases.setdefault(words_of(word), lang)
    phrases.pop((), None)
    courtesy = frozenset(words_of(w) for listed in q.courtesy.values() for w in listed) - {()}
    if len(_indexes) > 64:
        _indexes.clear()
    longest = max((len(p) for p in (*phrases, *courtesy)), default=0)
    found = _indexes[key] = (phrases, courtesy, longest)
    return found


def revocation_language(q: Questionnaire, text: str, *, with_keywords: bool = True) -> str | None:
    """The language of the revocation a text is, or None when it is not one.

    A revocation is a text made only of revocation phrases and courtesy words, with at least one
    phrase: "please stop texting me" is one; "I'm not stopping", "my ex won't stop texting me"
    and an answer that merely contains a word are not. `with_keywords`: the stop words count
    as phrases (texts; a call's bare "stop" only ends the call).
    """
    words = words_of(text)
    if not words or len(words) > MAX_REVOCATION_WORDS:
        return None
    phrases, courtesy, longest = _index(q, with_keywords)
    # reach[i]: the words before i are covered; its value is the first phrase's language, or
    # "" when only courtesy words cover them so far.
    reach: dict[int, str] = {0: ""}
    for i in range(len(words)):
        if i not in reach:
            continue
        for size in range(1, min(longest, len(words) - i) + 1):
            run = words[i : i + size]
            lang = phrases.get(run)
            if lang is not None:
                reach.setdefault(i + size, reach[i] or lang)
            elif run in courtesy:
                reach.setdefault(i + size, reach[i])
    return reach.get(len(words)) or None


def is_resubscribe(q: Questionnaire, norm: str, opt_out_type: OptOutType | None) -> bool:
    """Whether a text from someone opted out opts them back in, as it does at Twilio: START or a
    start word of the file, YES (Twilio's default), or any text Twilio marks START."""
    if opt_out_type is OptOutType.START:
        return True
    found = q.keyword_index.get(norm)
    return (found is not None and found[0] is Keyword.START) or norm in TWILIO_RESUBSCRIBE_WORDS


def may_change_opt_state(q: Questionnaire, text: str, opt_out_type: OptOutType | None) -> bool:
    """Whether a text could opt someone out or back in when replayed later, whatever it did
    now: a stop or start word, a revocation, or a text Twilio opted out. Not YES (nor a text
    Twilio marks START because it is YES): YES is also an answer, and a lasting mark for every
    answered yes would count one person's yeses; a YES that opted someone in is marked by its
    event (bot/records/sessions.py), and a replayed old YES reaches the bot only: Twilio keeps
    its own opt-out and sends them nothing until they opt in there."""
    if opt_out_type is OptOutType.STOP:
        return True
    found = q.keyword_index.get(normalize(text))
    if found is not None and found[0] in (Keyword.STOP, Keyword.START):
        return True
    return revocation_language(q, text) is not None


# What Twilio calls each list in Advanced Opt-Out, and the keyword the bot hears for it.
TWILIO_LISTS = (("opt-out", Keyword.STOP), ("opt-in", Keyword.START), ("help", Keyword.HELP))


def twilio_keywords(q: Questionnaire) -> dict[str, dict[str, list[str]]]:
    """The words to configure at Twilio (Advanced Opt-Out), by list and language, upper case:
    each keyword of the file and, for a word with accents, its spelling without them (the bot
    reads both; Twilio matches what it is given)."""
    lists: dict[str, dict[str, list[str]]] = {}
    for name, keyword in TWILIO_LISTS:
        per_lang = lists[name] = {}
        for lang in q.languages:
            words = list(q.keywords.get(keyword, {}).get(lang, ()))
            if keyword is Keyword.START and lang == "en":
                words += TWILIO_RESUBSCRIBE_WORDS
            spelled: list[str] = []
            for word in words:
                spelled += [word.strip().upper(), normalize(word).upper()]
            per_lang[lang] = list(dict.fromkeys(w for w in spelled if w))
    return lists


def format_twilio_keywords(q: Questionnaire) -> str:
    """`twilio_keywords` as the lines `surveybot survey check` prints and README lists."""
    lines = []
    for name, per_lang in twilio_keywords(q).items():
        for lang, words in per_lang.items():
            lines.append(f"{name} {lang}: {', '.join(words)}")
    return "\n".join(lines)
