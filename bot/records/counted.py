"""What a conversation has counted, so the funnel counts people, not messages.

Each counter about a respondent (bot/records/inbox.py) is a sealed record with no pseudonym,
so a counter cannot tell whether a person was already counted: the conversation remembers it
instead, in markers kept in its own envelope (encrypted under the respondent's key, deleted
with the conversation on completion, STOP or expiry). Nothing links a counted step to a
pseudonym outside that envelope.

- **started**: once per conversation, in one language. The envelope keeps that language and
  the record key its language count carried.
- **reached** (`asked:<question>`): once per question per conversation (the envelope's
  `reached` list); RESTART and START keep the envelope, so they count nothing again.
- **language**: a person has one language in the started/completed table: the one they
  finished in if they completed, else the one they started in. Someone who started in English
  and finished in Spanish is taken back from `started:en` and counted in `started:es`, with
  the same record key, so the cell keys are as if they had started in Spanish
  (bot/releases/cellkey.py) and `completed:<lang>` never exceeds `started:<lang>` for them.

STOP ends the conversation and deletes its envelope (the privacy model keeps nothing of a
conversation after STOP): someone who texts START afterwards begins a new conversation and is
counted again.
"""

from __future__ import annotations

from typing import Any

from redis.client import Pipeline

from bot.records import inbox

STARTED = "started"


def count_started(
    pipe: Pipeline, seal_key: str, wave: str, lang: str, week: str, counted: dict[str, Any]
) -> dict[str, Any]:
    """Count a conversation's start (total, language, week) unless it already counted one;
    returns the markers the envelope keeps from now on."""
    if counted.get("lang"):
        return counted
    inbox.put_count(pipe, seal_key, wave, STARTED)
    key = inbox.put_count(pipe, seal_key, wave, f"{STARTED}:{lang}")
    inbox.put_count(pipe, seal_key, wave, f"{STARTED}:{week}")
    return {**counted, "lang": lang, "k": key}


def settle_language(
    pipe: Pipeline, seal_key: str, wave: str, lang: str | None, counted: dict[str, Any]
) -> None:
    """On completion in `lang`: a person counted as started in another language moves to it."""
    started_in = counted.get("lang")
    if not lang or not started_in or started_in == lang or "k" not in counted:
        return
    key = int(counted["k"])
    inbox.put_count(pipe, seal_key, wave, f"{STARTED}:{started_in}", key=key, undo=True)
    inbox.put_count(pipe, seal_key, wave, f"{STARTED}:{lang}", key=key)
