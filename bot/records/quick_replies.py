"""WhatsApp quick-reply buttons: the contents made at Twilio, and which reply ends with one.

Inside the 24-hour session, WhatsApp shows up to three buttons without template approval
when the message is a Twilio `twilio/quick-reply` content. A content is made once, through
Twilio's Content API (`surveybot whatsapp buttons sync`, never on the request path), per
question of at most three short options and per language (bot/core/render.py
`quick_replies`); its ContentSid is kept in one Redis hash under a fingerprint of what it shows
(language, text, button ids and titles). Keyed by what it shows, a content stays in use across
questionnaire versions that did not change that question, and an edited question gets no stale
buttons: its new fingerprint has no content until the next sync. Nothing about respondents is
kept here.

On WhatsApp, the conversation's replies are rendered by `whatsapp_texts`: the texts as for SMS
and, when the last one asks a question that has buttons, a marker naming its fingerprint. The
webhook (bot/channels/sms.py) takes the marker off, and sends the turn through a job
(bot/records/whatsapp_turns.py) if a content exists, or as numbered text (TwiML) if none does.
The marker is cached with the replies, so a retried webhook sees the same thing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from redis import Redis

from bot.core.engine import Step
from bot.core.questionnaire import Questionnaire
from bot.core.render import quick_replies
from bot.infra import keys
from bot.infra.config import Settings
from bot.infra.outbound import twilio_client
from bot.infra.twilio_rest import TwilioFailure, call_twilio

# Ends a rendered WhatsApp reply whose last text asks a question with buttons. A NUL cannot
# come from the questionnaire's text (TwiML drops it anyway).
MARKER = "\x00quick-reply:"
CONTENT_TYPE = "twilio/quick-reply"


@dataclass(frozen=True)
class QuickReply:
    """One content to have at Twilio: a question's text and its buttons, in one language."""

    survey: str
    question: str
    lang: str
    body: str
    buttons: tuple[tuple[str, str], ...]  # (option id, title)

    @property
    def fingerprint(self) -> str:
        """What the content shows, digested: the key its ContentSid is kept under."""
        shown = json.dumps([self.lang, self.body, self.buttons], ensure_ascii=False)
        return hashlib.sha256(shown.encode()).hexdigest()[:32]

    @property
    def friendly_name(self) -> str:
        """The content's name in Twilio's console (not shown to respondents)."""
        return f"surveybot_{self.survey}_{self.question}_{self.lang}_{self.fingerprint[:8]}"

    def request(self) -> dict:
        """The Content API's body for this content (POST https://content.twilio.com/v1/Content)."""
        actions = [{"type": "QUICK_REPLY", "title": t, "id": i} for i, t in self.buttons]
        return {
            "friendly_name": self.friendly_name,
            "language": self.lang,
            "types": {CONTENT_TYPE: {"body": self.body, "actions": actions}},
        }


def quick_reply_for(q: Questionnaire, question_id: str, lang: str) -> QuickReply | None:
    """The content a question would go as in a language, or None (no buttons for it)."""
    question = q.question(question_id)
    buttons = quick_replies(question, lang)
    if not buttons:
        return None
    body = question.text[lang].strip()
    return QuickReply(q.id, question.id, lang, body, buttons)


def all_quick_replies(questionnaires: Iterable[Questionnaire]) -> Iterator[QuickReply]:
    """Every content these questionnaires call for, once each (by fingerprint)."""
    seen: set[str] = set()
    for q in questionnaires:
        for question in q.questions:
            for lang in q.languages:
                found = quick_reply_for(q, question.id, lang)
                if found is not None and found.fingerprint not in seen:
                    seen.add(found.fingerprint)
                    yield found


def ends_with_buttons(result: Step, questionnaire: Questionnaire) -> QuickReply | None:
    """The content a step's replies end with on WhatsApp: their last one asks a question that
    could go with buttons (whether or not its content was made yet), or None."""
    if not result.replies:
        return None
    last = result.replies[-1]
    kind, _, question_id = last.prompt.partition(".")
    if kind != "question" or last.lang is None:
        return None
    return quick_reply_for(questionnaire, question_id, last.lang)


def whatsapp_texts(result: Step, questionnaire: Questionnaire) -> tuple[str, ...]:
    """The WhatsApp rendering of a step: the SMS texts, then a marker if the last one asks a
    question that could go with buttons."""
    texts = tuple(reply.text for reply in result.replies)
    found = ends_with_buttons(result, questionnaire)
    return texts if found is None else (*texts, MARKER + found.fingerprint)


def split_marker(replies: tuple[str, ...]) -> tuple[tuple[str, ...], str | None]:
    """Rendered replies without their marker, and the fingerprint it named (or None)."""
    if replies and replies[-1].startswith(MARKER):
        return replies[:-1], replies[-1][len(MARKER) :]
    return replies, None


def content_sid(redis: Redis, fingerprint: str) -> str | None:
    """The ContentSid made for this fingerprint, if any (one HGET: fine on the request path)."""
    raw = redis.hget(keys.WHATSAPP_QUICK_REPLIES, fingerprint)
    return raw.decode() if raw else None


@dataclass(frozen=True)
class Synced:
    """What `sync` did with one content: "kept" (it existed), "created", "would create" (dry
    run) or "failed" (with Twilio's status and code)."""

    content: QuickReply
    outcome: str
    sid: str | None = None
    failure: TwilioFailure | None = None


def sync(
    settings: Settings, redis: Redis, questionnaires: Iterable[Questionnaire], *, dry_run: bool
) -> list[Synced]:
    """Make at Twilio every quick-reply content these questionnaires call for and that has none
    yet, and keep their ContentSids. Running it again makes nothing new."""
    from twilio.rest.content.v1.content import ContentList

    client = None if dry_run else twilio_client(settings)
    done: list[Synced] = []
    for content in all_quick_replies(questionnaires):
        existing = content_sid(redis, content.fingerprint)
        if existing:
            done.append(Synced(content, "kept", existing))
            continue
        if client is None:
            done.append(Synced(content, "would create"))
            continue
        made, failure = call_twilio(
            lambda c=content: client.content.v1.contents.create(
                ContentList.ContentCreateRequest(c.request())
            )
        )
        if made is None or not made.sid:
            done.append(Synced(content, "failed", failure=failure))
            continue
        redis.hset(keys.WHATSAPP_QUICK_REPLIES, content.fingerprint, made.sid)
        done.append(Synced(content, "created", made.sid))
    return done
