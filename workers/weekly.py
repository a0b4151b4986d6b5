"""The weekly coalition report: on schedule, in the coalition's time zone, at most once a week.

Schedule: RQ's cron runs in UTC (`surveybot cron` pins TZ=UTC), while the coalition says
"Monday 08:00 in America/New_York". `utc_cron_expressions` turns REPORT_CRON into one UTC
expression per UTC offset the zone uses (standard and daylight time), all registered; each
firing runs `weekly_report_tick`, which sends only if the moment it was enqueued is a
REPORT_CRON moment in REPORT_TIMEZONE. So exactly one of them fires each week, right across
daylight-saving changes.

At most once: a Redis lock keeps two senders apart, and a row per wave and ISO week in the
database is claimed (inserted, primary key) before sending and marked sent after. A second
firing, a second cron process or a retried job finds the claim and sends nothing. If a worker
dies in the middle of the SMTP conversation the claim stays "sending": nobody knows whether
the mail left, so nothing is resent automatically; `surveybot report send --force` decides.
"""

from __future__ import annotations

import datetime as dt
import logging
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from redis import Redis
from redis.exceptions import LockError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.config import Settings
from bot.db import get_engine
from bot.exceptions import ConfigError
from bot.models import ReportDelivery
from bot.weeks import last_complete_week, previous_week

log = logging.getLogger(__name__)

LOCK_TIMEOUT_SECONDS = 15 * 60
EVERY_MINUTE = "* * * * *"


class DeliveryStatus(StrEnum):
    """Where a week's report stands."""

    SENDING = "sending"  # claimed; the mail may or may not have left
    SENT = "sent"


class Outcome(StrEnum):
    """What a call to `send_week_report` did."""

    SENT = "sent"
    ALREADY_SENT = "already sent"
    IN_DOUBT = "in doubt"  # an earlier attempt died mid-send; use --force to send again
    LOCKED = "locked"  # another process is sending it right now
    NOT_DUE = "not due"


# ---------------------------------------------------------------------------------- schedule


def _offsets(zone: ZoneInfo, year: int) -> list[dt.timedelta]:
    """Every UTC offset a zone uses during a year (usually standard and daylight time)."""
    seen: list[dt.timedelta] = []
    day = dt.datetime(year, 1, 1, 12, tzinfo=zone)
    for _ in range(366):
        offset = day.utcoffset()
        if offset is not None and offset not in seen:
            seen.append(offset)
        day += dt.timedelta(days=1)
    return seen


def _shift_weekdays(field: str, days: int) -> str | None:
    if field == "*" or days == 0:
        return field
    out = []
    for part in field.split(","):
        if not part.isdigit():
            return None  # ranges and names: use the every-minute fallback
        out.append(str((int(part) + days) % 7))
    return ",".join(out)


def utc_cron_expressions(expression: str, timezone: str, year: int | None = None) -> list[str]:
    """UTC cron expressions that cover a local `expression` under every offset of `timezone`."""
    fields = expression.split()
    if len(fields) != 5:
        raise ConfigError(f"REPORT_CRON {expression!r} is not a five-field cron expression")
    if not croniter.is_valid(expression):
        raise ConfigError(f"REPORT_CRON {expression!r} is not a valid cron expression")
    minute, hour, dom, month, dow = fields
    if not (minute.isdigit() and hour.isdigit()):
        return [EVERY_MINUTE]  # an unusual schedule: check every minute, send when due
    zone = ZoneInfo(timezone)
    local_minutes = int(hour) * 60 + int(minute)
    expressions = []
    for offset in _offsets(zone, year or dt.date.today().year):
        total = local_minutes - int(offset.total_seconds() // 60)
        day_shift, minutes = divmod(total, 24 * 60)
        weekdays = _shift_weekdays(dow, day_shift)
        if weekdays is None or (day_shift and dom != "*"):
            return [EVERY_MINUTE]
        expressions.append(f"{minutes % 60} {minutes // 60} {dom} {month} {weekdays}")
    return list(dict.fromkeys(expressions))


def is_due(expression: str, timezone: str, moment: dt.datetime) -> bool:
    """Whether `moment` (aware) is a time `expression` names in `timezone`."""
    local = moment.astimezone(ZoneInfo(timezone)).replace(second=0, microsecond=0, tzinfo=None)
    return croniter.match(expression, local)


# ---------------------------------------------------------------------------------- sending


def compose(settings: Settings, redis: Redis, *, wave: str, week: str, recipients: list[str]):
    """The report email of a wave and week, rendered from published aggregates only."""
    from bot.email_report import build_message, render_report
    from bot.questionnaire import load_questionnaire
    from bot.report import load_raw_report, publish

    current = publish(load_raw_report(settings, redis, wave=wave, week=week))
    previous = publish(load_raw_report(settings, redis, wave=wave, week=previous_week(week)))
    rendered = render_report(
        current,
        previous,
        load_questionnaire(settings.SURVEY_FILE or None),
        language=settings.REPORT_LANGUAGE,
    )
    return build_message(rendered, sender=settings.REPORT_FROM, recipients=recipients)


def _claim(database_url: str, wave: str, week: str, *, force: bool) -> Outcome | None:
    """Claim the week's delivery; None when claimed, else why not."""
    engine = get_engine(database_url)
    today = dt.date.today()
    try:
        with Session(engine) as session:
            row = session.get(ReportDelivery, (wave, week))
            if row is None:
                session.add(
                    ReportDelivery(
                        wave=wave, week=week, status=DeliveryStatus.SENDING, claimed_on=today
                    )
                )
                session.commit()
                return None
            if not force:
                return (
                    Outcome.ALREADY_SENT if row.status == DeliveryStatus.SENT else Outcome.IN_DOUBT
                )
            row.status, row.claimed_on = DeliveryStatus.SENDING, today
            session.add(row)
            session.commit()
            return None
    except IntegrityError:
        return Outcome.ALREADY_SENT  # another process claimed it a moment ago


def _release(database_url: str, wave: str, week: str) -> None:
    """Give a claim back: the mail certainly did not leave."""
    with Session(get_engine(database_url)) as session:
        row = session.get(ReportDelivery, (wave, week))
        if row is not None and row.status == DeliveryStatus.SENDING:
            session.delete(row)
            session.commit()


def _mark_sent(database_url: str, wave: str, week: str, recipients: int) -> None:
    with Session(get_engine(database_url)) as session:
        row = session.get(ReportDelivery, (wave, week))
        row.status, row.sent_on, row.recipients = DeliveryStatus.SENT, dt.date.today(), recipients
        session.add(row)
        session.commit()


def send_week_report(
    settings: Settings,
    redis: Redis,
    *,
    wave: str,
    week: str,
    recipients: list[str] | None = None,
    force: bool = False,
) -> str:
    """Send a week's report to the coalition at most once (or, with `recipients`, to those
    addresses only, as a manual extra that does not count as the week's delivery)."""
    from bot.mailer import send_message

    to = list(recipients or settings.REPORT_RECIPIENTS)
    if not to:
        raise ConfigError("REPORT_RECIPIENTS is empty: nobody to send the report to")
    if not settings.SMTP_URL:
        raise ConfigError("SMTP_URL is not set: cannot send the report")
    message = compose(settings, redis, wave=wave, week=week, recipients=to)
    if recipients:
        send_message(message, settings.SMTP_URL)
        return Outcome.SENT.value
    lock = redis.lock(f"sb:report:lock:{wave}:{week}", timeout=LOCK_TIMEOUT_SECONDS)
    if not lock.acquire(blocking=False):
        return Outcome.LOCKED.value
    try:
        refused = _claim(settings.DATABASE_URL, wave, week, force=force)
        if refused is not None:
            if refused is Outcome.IN_DOUBT:
                log.error(
                    "the %s report of wave %s may or may not have been sent (an earlier attempt "
                    "stopped mid-send); not resending. Check with the recipients, then use "
                    "`surveybot report send --week %s --force` if needed",
                    week,
                    wave,
                    week,
                )
            return refused.value
        try:
            send_message(message, settings.SMTP_URL)
        except BaseException:
            _release(settings.DATABASE_URL, wave, week)
            raise
        _mark_sent(settings.DATABASE_URL, wave, week, len(to))
        log.info("the %s report of wave %s was sent to %d recipients", week, wave, len(to))
        return Outcome.SENT.value
    finally:
        try:
            lock.release()
        except LockError:
            pass  # it expired: the claim row still guards against a second send


def weekly_report_tick() -> str:
    """Cron job: send last week's report if this firing is a REPORT_CRON moment locally."""
    from rq import get_current_job

    from workers import context

    settings = context.settings()
    job = get_current_job()
    moment = job.enqueued_at if job is not None and job.enqueued_at else dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    if not is_due(settings.REPORT_CRON, settings.REPORT_TIMEZONE, moment):
        return Outcome.NOT_DUE.value
    local_day = moment.astimezone(ZoneInfo(settings.REPORT_TIMEZONE)).date()
    redis = job.connection if job is not None else Redis.from_url(settings.REDIS_URL)
    return send_week_report(
        settings, redis, wave=settings.DEFAULT_WAVE, week=last_complete_week(local_day)
    )


def register(cron: Any, settings: Settings, queue_name: str) -> list[str]:
    """Register the weekly report with RQ's cron (UTC), once per UTC offset of the zone."""
    expressions = utc_cron_expressions(settings.REPORT_CRON, settings.REPORT_TIMEZONE)
    for expression in expressions:
        cron.register(
            weekly_report_tick,
            queue_name=queue_name,
            cron=expression,
            name=f"weekly report ({expression} UTC)",
            result_ttl=7 * 24 * 3600,
        )
    return expressions


def apply_wave_schedule() -> list[str]:
    """Cron job: open and close waves at the times organizers planned."""
    from rq import get_current_job
    from sqlmodel import Session as DbSession

    from bot.waves import apply_schedule
    from workers import context

    settings = context.settings()
    job = get_current_job()
    redis = job.connection if job is not None else Redis.from_url(settings.REDIS_URL)
    with DbSession(get_engine(settings.DATABASE_URL)) as session:
        done = apply_schedule(session, redis, dt.datetime.now(dt.UTC))
    for line in done:
        log.info("wave schedule: %s", line)
    return done
