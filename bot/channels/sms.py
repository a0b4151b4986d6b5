"""Twilio Messaging webhooks. The request path touches Redis only: validate, advance, reply."""

from __future__ import annotations

import logging
import re
from xml.sax.saxutils import escape, quoteattr

from flask import Blueprint, Response, request

from bot.channels.signatures import public_base, twilio_webhook
from bot.channels.twilio_form import Hook, replyable
from bot.channels.whatsapp import note_status, read_message
from bot.core.optout import OptOutType
from bot.infra import clock, keys, whatsapp_window
from bot.infra.privacy import message_digest, pseudonym_for
from bot.infra.rotation import carry_over
from bot.infra.sealing import conversation_cipher
from bot.infra.stats import count
from bot.outreach.status import record_invitation_status
from bot.records.cleanup import RecordKind, deletion_on, schedule_deletion
from bot.records.quick_replies import content_sid, split_marker, whatsapp_texts
from bot.records.sessions import handle_message, sms_texts
from bot.records.whatsapp_turns import Turn, hand_over
from bot.web.state import state

bp = Blueprint("webhooks", __name__, url_prefix="/twilio")
log = logging.getLogger("surveybot.webhooks")

# Message statuses Twilio reports; anything else is counted as "other".
KNOWN_STATUSES = frozenset(
    {
        "accepted",
        "scheduled",
        "canceled",
        "queued",
        "sending",
        "sent",
        "failed",
        "delivered",
        "undelivered",
        "receiving",
        "received",
        "read",
        "partially_delivered",
    }
)
_ERROR_CODE = re.compile(r"[0-9]{1,6}")  # ASCII digits only, matched whole
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def twiml(replies: tuple[str, ...] | list[str], *, action: str | None = None) -> Response:
    """A TwiML <Response> with one <Message> per reply (none: Twilio sends nothing); `action`:
    where Twilio posts each reply's status callbacks."""
    tag = f"<Message action={quoteattr(action)}>" if action else "<Message>"
    body = "".join(f"{tag}{escape(_XML_INVALID.sub('', text))}</Message>" for text in replies)
    xml = f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'
    return Response(xml, mimetype="text/xml")


@bp.post("/sms")
@twilio_webhook(Hook.SMS)
def inbound_sms() -> Response | tuple[str, int]:
    """A respondent's text: one step of their conversation, answered with TwiML."""
    sender = request.form.get("From", "")
    message_sid = request.form["MessageSid"]  # well-formed and equal to SmsSid (twilio_form)
    if not sender:
        return "a Twilio message webhook needs From", 400
    if not replyable(sender):
        # A short code or an alphanumeric sender ID (a carrier's or a business's text): no
        # person to survey, and any reply would fail at Twilio. Nothing is kept, not even
        # the message's SID; an empty <Response/> tells Twilio to send nothing.
        log.info("a text from a sender Twilio cannot reply to (short code or name): ignored")
        return twiml(())
    settings = state().settings
    key = settings.PSEUDONYM_KEY
    message = read_message(request.form)  # a text's, or a WhatsApp message's (whatsapp.py)
    if settings.PSEUDONYM_OLD_KEYS:  # a key rotation is under way: carry this number over
        carry_over(state().redis, settings, sender)
    pseudonym, digest = pseudonym_for(settings, sender), message_digest(key, message_sid)
    replies = handle_message(
        state().conversation,
        pseudonym=pseudonym,
        message_digest=digest,
        text=message.text,
        has_media=message.has_media,
        choice=message.choice,
        confirm_opt_out=message.on_whatsapp,  # Twilio confirms a STOP by SMS, not on WhatsApp
        cipher=conversation_cipher(key, sender),
        # Advanced Opt-Out says which keyword list a text matched at Twilio: the bot follows.
        opt_out_type=OptOutType.read(request.form.get("OptOutType")),
        old_digests=tuple(message_digest(k, message_sid) for _, k in settings.old_pseudonym_keys),
        render=whatsapp_texts if message.on_whatsapp else sms_texts,
    )
    app_state = state()
    if message.on_whatsapp:  # their 24-hour window opens again (bot/infra/whatsapp_window.py)
        whatsapp_window.renew(app_state.redis, pseudonym)
    replies, fingerprint = split_marker(replies)
    if fingerprint and hand_over_with_buttons(sender, pseudonym, digest, replies, fingerprint):
        replies = ()  # a job sends the whole turn, buttons last (bot/records/whatsapp_turns.py)
    schedule_deletion(
        settings,
        app_state.redis,
        app_state.queue,
        kind=RecordKind.MESSAGE,
        sid=message_sid,
        status="received",
    )
    return twiml(replies, action=_status_callback_url(settings))


def hand_over_with_buttons(
    sender: str, pseudonym: str, digest: str, replies: tuple[str, ...], fingerprint: str
) -> bool:
    """Whether a WhatsApp reply ending with a question that has quick-reply buttons goes
    through the job (queued now, or by the first delivery of this message); False when no
    content was made for that question or there is no Twilio to send it: numbered text, as
    TwiML."""
    app_state = state()
    settings, redis = app_state.settings, app_state.redis
    if not settings.twilio_configured:
        return False
    sid = content_sid(redis, fingerprint)
    if sid is None:
        return False
    turn = Turn(to=sender, sender=request.form.get("To", ""), texts=replies, content_sid=sid)
    hand_over(
        settings, redis, app_state.queue, pseudonym=pseudonym, message_digest=digest, turn=turn
    )
    return True


def _status_callback_url(settings) -> str | None:  # noqa: ANN001
    """With deletion at Twilio on, the URL where Twilio reports the replies' statuses (the final
    one schedules their deletion); else None, and the TwiML stays as it always was."""
    if not deletion_on(settings):
        return None
    return f"{public_base(settings)}{bp.url_prefix}/sms/status"


@bp.post("/sms/status")
@twilio_webhook(Hook.SMS_STATUS)
def sms_status() -> tuple[str, int]:
    """A delivery outcome: counted per day and status, nothing else kept."""
    status = (request.form.get("MessageStatus") or request.form.get("SmsStatus") or "").lower()
    status = status if status in KNOWN_STATUSES else "other"
    day = clock.today().isoformat()
    redis = state().redis
    code = request.form.get("ErrorCode") or ""
    code = code if _ERROR_CODE.fullmatch(code) else ""
    with redis.pipeline() as pipe:
        count(pipe, keys.delivery_stats(day), status, *([f"error:{code}"] if code else []))
        pipe.execute()
    note_status(state().settings, redis, to=request.form.get("To") or "", error_code=code)
    # An invitation's outcome also counts in its wave's progress, and error 21610 (the
    # recipient texted STOP to our sender) marks them opted out. `To` goes no further.
    app_state = state()
    record_invitation_status(
        app_state.settings,
        redis,
        app_state.queue,
        message_sid=request.form.get("MessageSid") or request.form.get("SmsSid") or "",
        to=request.form.get("To") or "",
        status=status,
        error_code=code,
    )
    # A final status: the record (an invitation, or one of the bot's replies) can be deleted.
    schedule_deletion(
        app_state.settings,
        redis,
        app_state.queue,
        kind=RecordKind.MESSAGE,
        sid=request.form.get("MessageSid") or request.form.get("SmsSid") or "",
        status=status,
    )
    return "", 204
