"""The weekly coalition report: on schedule, in the coalition's time zone, at most once a week.

Schedule: RQ's cron runs in UTC (`surveybot cron` pins TZ=UTC), while the coalition says
"Monday 08:00 in America/New_York". `utc_cron_expressions` turns REPORT_CRON into one UTC
expression per UTC offset the zone uses (standard and daylight time), all registered
(workers/weekly.py); each firing runs `send_due_reports`, which sends only if the moment it
was enqueued is a REPORT_CRON moment in REPORT_TIMEZONE. So exactly one of them fires each
week, right across daylight-saving changes.

Which waves: one report per wave that was open during the reported week (`report_waves`);
only an installation that never created a wave reports on the implicit DEFAULT_WAVE.

At most once: a Redis lock keeps two senders apart, and a row per wave and ISO week in the
database is claimed (inserted, primary key) before sending and marked sent after. A second
firing, a second cron process or a retried job finds the claim and sends nothing. If a worker
dies in the middle of the SMTP conversation the claim stays "sending": nobody knows whether
the mail left, so nothing is resent automatically; `surveybot report send --force` decides.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from enum import StrEnum
from zoneinfo import ZoneInfo

from redis import Redis
from redis.exceptions import LockError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.infra import clock
from bot.infra.config import Settings
from bot.infra.db import get_engine
from bot.infra.exceptions import ConfigError, MailInDoubt
from bot.infra.models import ReportDelivery
from bot.infra.weeks import last_complete_week, parse_week
from bot.releases.schedule import is_due

log = logging.getLogger(__name__)

LOCK_TIMEOUT_SECONDS = 15 * 60


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


# ---------------------------------------------------------------------------------- sending


def compose(
    settings: Settings,
    redis: Redis,
    *,
    wave: str,
    week: str,
    recipients: list[str],
    sender: str | None = None,
    language: str | None = None,
) -> EmailMessage:
    """The report email of a wave and week, from the latest release made up to now (its week
    table, the week before for changes, and the wave so far beside them), from REPORT_FROM in
    REPORT_LANGUAGE unless told otherwise."""
    from bot.releases.email_report import build_message, render_report
    from bot.releases.releases import load_latest, local_today, released_reports, unreleased
    from bot.releases.report import questionnaire_of

    q = questionnaire_of(settings, wave)
    release = load_latest(settings, wave, made_by=local_today(settings))
    current, previous, so_far = released_reports(release, week)
    if current is None:
        current = unreleased(wave, parse_week(week), settings.SMALL_CELL_MIN)
    rendered = render_report(
        current,
        previous,
        q,
        language=language or settings.REPORT_LANGUAGE,
        so_far=so_far,
    )
    return build_message(rendered, sender=sender or settings.REPORT_FROM, recipients=recipients)


def report_waves(settings: Settings, week: str, *, now: dt.datetime | None = None) -> list[str]:
    """The waves a week's report is sent for: every wave open at some time during that week,
    or the implicit DEFAULT_WAVE while no wave was ever created.

    A wave counts if it is open now, or closed and either got answers that week or was due to
    close (`closes_at`) between the week's start and now: the wave table keeps no time of an
    organizer's closing by hand, so such a wave with no answers that week is left out. A wave
    created after the week, or never opened, does not count.
    """
    from sqlmodel import select

    from bot.infra.models import Response
    from bot.outreach.waves import WaveStatus, list_waves

    start, end = parse_week(week)
    now = now or clock.now()
    zone = ZoneInfo(settings.REPORT_TIMEZONE)
    with Session(get_engine(settings.DATABASE_URL)) as session:
        waves = list_waves(session)
        if not waves:
            return [settings.DEFAULT_WAVE]
        answered = set(
            session.exec(select(Response.wave).where(Response.completed_week == week).distinct())
        )
    chosen = []
    for wave in waves:
        if wave.status == WaveStatus.DRAFT or wave.created_on > end:
            continue
        closes = wave.closes_at
        if closes is not None and closes.tzinfo is None:
            closes = closes.replace(tzinfo=dt.UTC)  # SQLite drops the zone of these UTC times
        closed_since = (
            closes is not None and closes <= now and closes.astimezone(zone).date() >= start
        )
        if wave.status == WaveStatus.OPEN or wave.name in answered or closed_since:
            chosen.append(wave.name)
    return sorted(chosen)


@dataclass(frozen=True)
class _Claim:
    """A claimed delivery and the row it replaced (None: there was none), to restore it if
    the mail certainly did not leave."""

    previous: tuple[str, dt.date, dt.date | None, int] | None


def _claim(database_url: str, wave: str, week: str, *, force: bool) -> _Claim | Outcome:
    """Claim the week's delivery, or say why not."""
    engine = get_engine(database_url)
    today = clock.today()
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
                return _Claim(previous=None)
            if not force:
                return (
                    Outcome.ALREADY_SENT if row.status == DeliveryStatus.SENT else Outcome.IN_DOUBT
                )
            previous = (row.status, row.claimed_on, row.sent_on, row.recipients)
            row.status, row.claimed_on = DeliveryStatus.SENDING, today
            session.add(row)
            session.commit()
            return _Claim(previous=previous)
    except IntegrityError:
        return Outcome.ALREADY_SENT  # another process claimed it a moment ago


def _release(database_url: str, wave: str, week: str, claim: _Claim) -> None:
    """Give a claim back: the mail certainly did not leave. A forced claim puts back the row
    it replaced, so a week that was sent (or in doubt) stays so."""
    with Session(get_engine(database_url)) as session:
        row = session.get(ReportDelivery, (wave, week))
        if row is None or row.status != DeliveryStatus.SENDING:
            return
        if claim.previous is None:
            session.delete(row)
        else:
            row.status, row.claimed_on, row.sent_on, row.recipients = claim.previous
            session.add(row)
        session.commit()


def _mark_sent(database_url: str, wave: str, week: str, recipients: int) -> None:
    with Session(get_engine(database_url)) as session:
        row = session.get(ReportDelivery, (wave, week))
        row.status, row.sent_on, row.recipients = DeliveryStatus.SENT, clock.today(), recipients
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
    from bot.infra.mailer import send_message

    to = list(recipients or settings.REPORT_RECIPIENTS)
    if not to:
        raise ConfigError("REPORT_RECIPIENTS is empty: nobody to send the report to")
    if not settings.SMTP_URL:
        raise ConfigError("SMTP_URL is not set: cannot send the report")
    if recipients:
        send_message(
            compose(settings, redis, wave=wave, week=week, recipients=to), settings.SMTP_URL
        )
        return Outcome.SENT.value
    lock = redis.lock(f"sb:report:lock:{wave}:{week}", timeout=LOCK_TIMEOUT_SECONDS)
    if not lock.acquire(blocking=False):
        return Outcome.LOCKED.value
    try:
        claim = _claim(settings.DATABASE_URL, wave, week, force=force)
        if not isinstance(claim, _Claim):
            if claim is Outcome.IN_DOUBT:
                log.error(
                    "the %s report of wave %s may or may not have been sent (an earlier attempt "
                    "stopped mid-send); not resending. Check with the recipients, then use "
                    "`surveybot report send --wave %s --week %s --force` if needed",
                    week,
                    wave,
                    wave,
                    week,
                )
            return claim.value
        # Composed only now that this process holds the week (nothing wasted on a refusal);
        # until the mail is handed to SMTP, a failure certainly sent nothing: give it back.
        try:
            message = compose(settings, redis, wave=wave, week=week, recipients=to)
            send_message(message, settings.SMTP_URL)
        except MailInDoubt as exc:
            # The relay may have it: the claim stays "sending", so no retry sends it again.
            log.error(
                "the %s report of wave %s may or may not have been sent (%s); not resending. "
                "Check with the recipients, then use `surveybot report send --wave %s --week %s "
                "--force` if needed",
                week,
                wave,
                exc,
                wave,
                week,
            )
            return Outcome.IN_DOUBT.value
        except BaseException:
            _release(settings.DATABASE_URL, wave, week, claim)
            raise
        _mark_sent(settings.DATABASE_URL, wave, week, len(to))
        log.info("the %s report of wave %s was sent to %d recipients", week, wave, len(to))
        return Outcome.SENT.value
    finally:
        try:
            lock.release()
        except LockError:
            pass  # it expired: the claim row still guards against a second send


def send_weekly_reports(settings: Settings, redis: Redis, week: str) -> dict[str, str]:
    """Send a week's report of every wave of `report_waves`, each at most once; {wave: outcome}.

    A wave whose mail fails does not stop the others; the failure is raised at the end."""
    from bot.infra.exceptions import MailError

    outcomes: dict[str, str] = {}
    failed: dict[str, MailError] = {}
    for wave in report_waves(settings, week):
        try:
            outcomes[wave] = send_week_report(settings, redis, wave=wave, week=week)
        except MailError as exc:
            log.error("the %s report of wave %s was not sent: %s", week, wave, exc)
            failed[wave] = exc
    if failed:
        detail = "; ".join(f"{wave}: {exc}" for wave, exc in failed.items())
        raise MailError(f"the {week} report was not sent for {len(failed)} wave(s) ({detail})")
    return outcomes


def send_due_reports(
    settings: Settings, redis: Redis, moment: dt.datetime | None
) -> str | dict[str, str]:
    """If `moment` (when a cron firing was enqueued; None: now) is a REPORT_CRON moment
    locally, send last week's report of each wave open during that week (see `report_waves`);
    {wave: outcome}."""
    moment = moment or clock.now()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    if not is_due(settings.REPORT_CRON, settings.REPORT_TIMEZONE, moment):
        return Outcome.NOT_DUE.value
    local_day = moment.astimezone(ZoneInfo(settings.REPORT_TIMEZONE)).date()
    return send_or_retry_later(settings, redis, last_complete_week(local_day), attempt=0)


# After a failed weekly send (the relay down longer than the mailer's own retries, a refusal an
# operator may fix), the job tries again this long after each failure: about 14 hours in all.
# The claim of each wave's week keeps it at most once whatever runs when.
WEEKLY_RETRY_DELAYS = (600, 1800, 3600, 7200, 14400, 21600)


def send_or_retry_later(
    settings: Settings, redis: Redis, week: str, *, attempt: int
) -> str | dict[str, str]:
    """Send the week's reports; if a mail failed (certainly not sent), schedule another try
    (`WEEKLY_RETRY_DELAYS`), and say so, instead of waiting for next week's firing."""
    from bot.infra.exceptions import MailError
    from bot.infra.queues import RETRY_WEEKLY_REPORT_JOB, get_queue

    try:
        return send_weekly_reports(settings, redis, week)
    except MailError as exc:
        if attempt >= len(WEEKLY_RETRY_DELAYS):
            log.error("the %s report was not sent after %d retries: %s", week, attempt, exc)
            raise
        delay = WEEKLY_RETRY_DELAYS[attempt]
        get_queue(redis).enqueue_in(
            dt.timedelta(seconds=delay),
            RETRY_WEEKLY_REPORT_JOB,
            week,
            attempt + 1,
            result_ttl=7 * 24 * 3600,
            description=f"retry the {week} report",
        )
        log.error("the %s report was not sent (%s); trying again in %d s", week, exc, delay)
        return f"not sent; retry {attempt + 1} of {len(WEEKLY_RETRY_DELAYS)} in {delay} s"
