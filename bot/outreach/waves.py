"""Survey waves: create, open, close, and the registry of open waves the webhook reads.

The database is the record of every wave. The webhook never reads it: opening or closing a
wave also rewrites the Redis registry (`keys.WAVES_OPEN`, one hash entry per open wave with
its questionnaire snapshot and start keywords) and bumps `keys.WAVES_VERSION`, which each web
process checks on every message to know when to reload its parsed copy.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from redis import Redis
from sqlmodel import Session, select

from bot.core.placeholders import find_placeholders, refusal
from bot.core.questionnaire import DEFAULT_SURVEY_PATH, Questionnaire, parse_questionnaire
from bot.core.text import normalize
from bot.infra import clock, keys
from bot.infra.config import Settings
from bot.infra.db import get_engine
from bot.infra.exceptions import QuestionnaireError, SurveybotError
from bot.infra.models import Wave
from bot.outreach.pacing import outreach_entry

log = logging.getLogger(__name__)

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
DEMO_WAVE = "demo"


class WaveStatus(StrEnum):
    """A wave's life: drafted, open for answers, closed for good."""

    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class WaveError(SurveybotError):
    """A wave operation that cannot be done (with the reason, for the organizer)."""


# ---------------------------------------------------------------------------------- records


def get_wave(session: Session, name: str) -> Wave:
    """The wave of this name, or WaveError."""
    wave = session.get(Wave, name)
    if wave is None:
        raise WaveError(f"no wave named {name!r}")
    return wave


def list_waves(session: Session) -> list[Wave]:
    """Every wave, newest first."""
    return list(session.exec(select(Wave).order_by(Wave.created_on.desc(), Wave.name)))


def _read_questionnaire(path: Path) -> tuple[str, Questionnaire]:
    """The questionnaire file's text and parsed form, or WaveError saying what is wrong."""
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WaveError(
            f"the questionnaire file {path} cannot be read: {exc.strerror or exc}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise WaveError(f"the questionnaire file {path} is not UTF-8 text") from exc
    try:
        return source, parse_questionnaire(source)
    except QuestionnaireError as exc:
        raise WaveError(f"the questionnaire file {path} is not valid: {exc}") from exc


def _keywords(raw: dict[str, list[str]] | None, q: Questionnaire) -> dict[str, list[str]]:
    chosen = raw or {lang: list(words) for lang, words in q.start_keywords.items()}
    return {lang: [w.strip() for w in words if w.strip()] for lang, words in chosen.items()}


def create_wave(
    session: Session,
    *,
    name: str,
    title: str = "",
    survey_file: str | None = None,
    start_keywords: dict[str, list[str]] | None = None,
    opens_at: dt.datetime | None = None,
    closes_at: dt.datetime | None = None,
    default: bool = False,
) -> Wave:
    """A new draft wave (the questionnaire file is checked now, snapshotted when it opens)."""
    if not NAME.match(name):
        raise WaveError("a wave name is lowercase letters, digits and dashes, e.g. summer-2026")
    if session.get(Wave, name) is not None:
        raise WaveError(f"a wave named {name!r} already exists")
    path = Path(survey_file) if survey_file else DEFAULT_SURVEY_PATH
    _, q = _read_questionnaire(path)
    if opens_at and closes_at and closes_at <= opens_at:
        raise WaveError("a wave must close after it opens")
    wave = Wave(
        name=name,
        title=title or name,
        survey_file=str(path),
        start_keywords=_keywords(start_keywords, q),
        status=WaveStatus.DRAFT,
        is_default=default,
        opens_at=opens_at,
        closes_at=closes_at,
        created_on=clock.today(),
    )
    session.add(wave)
    session.commit()
    session.refresh(wave)
    return wave


def _normalized_keywords(wave: Wave) -> set[str]:
    return {normalize(w) for words in wave.start_keywords.values() for w in words}


def open_wave(session: Session, redis: Redis, name: str, *, allow_placeholders: bool) -> Wave:
    """Open a draft wave: snapshot its questionnaire and start answering its texts.

    Its questionnaire may still hold placeholder resources (bot.core.placeholders) only if
    `allow_placeholders`: callers pass `settings.allows_placeholders` (False in production).
    """
    wave = get_wave(session, name)
    if wave.status != WaveStatus.DRAFT:
        raise WaveError(f"wave {name!r} is {wave.status}; only a draft can be opened")
    path = Path(wave.survey_file)
    source, q = _read_questionnaire(path)
    unfinished = find_placeholders(q)
    if unfinished and not allow_placeholders:
        raise WaveError(refusal(name, unfinished, path))
    others = [w for w in list_waves(session) if w.status == WaveStatus.OPEN]
    clash = {
        other.name: sorted(_normalized_keywords(other) & _normalized_keywords(wave))
        for other in others
    }
    clash = {k: v for k, v in clash.items() if v}
    if clash:
        detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in clash.items())
        raise WaveError(f"start keywords already used by an open wave ({detail})")
    wave.questionnaire_yaml = source
    wave.questionnaire_digest = q.digest
    wave.status = WaveStatus.OPEN
    if not any(o.is_default for o in others):
        wave.is_default = True  # a plain text needs somewhere to go
    elif wave.is_default:
        for other in others:
            other.is_default = False
            session.add(other)
    session.add(wave)
    session.commit()
    session.refresh(wave)
    sync_registry(session, redis)
    return wave


def close_wave(session: Session, redis: Redis, name: str) -> int:
    """Close an open wave; drop its "already answered" markers. Returns how many."""
    wave = get_wave(session, name)
    if wave.status != WaveStatus.OPEN:
        raise WaveError(f"wave {name!r} is {wave.status}; only an open wave can be closed")
    wave.status = WaveStatus.CLOSED
    wave.is_default = False
    session.add(wave)
    session.commit()
    sync_registry(session, redis)
    forget = redis.register_script(_FORGET_WAVE)
    dropped = 0
    for key in redis.scan_iter(match=f"{keys.PREFIX}:{{*}}:done", count=1000):
        dropped += int(forget(keys=[key], args=[name]))
    return dropped


# Remove one wave's name from a respondent's comma-separated list of completed waves, atomically
# (a conversation WATCHing the key retries if this changes it).
_FORGET_WAVE = """
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
local kept, found = {}, 0
for name in string.gmatch(value, '[^,]+') do
  if name == ARGV[1] then found = 1 else table.insert(kept, name) end
end
if found == 0 then return 0 end
if #kept == 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], table.concat(kept, ','))
end
return 1
"""


def sync_registry(session: Session, redis: Redis) -> None:
    """Rewrite the Redis registry of open waves from the database."""
    open_waves = [w for w in list_waves(session) if w.status == WaveStatus.OPEN]
    with redis.pipeline() as pipe:
        pipe.delete(keys.WAVES_OPEN)
        for wave in open_waves:
            pipe.hset(
                keys.WAVES_OPEN,
                wave.name,
                json.dumps(
                    {
                        "questionnaire": wave.questionnaire_yaml,
                        "keywords": wave.start_keywords,
                        "default": wave.is_default,
                        "outreach": outreach_entry(wave),
                    }
                ),
            )
        pipe.incr(keys.WAVES_VERSION)
        pipe.execute()


def ensure_demo_wave(session: Session, redis: Redis, *, allow_placeholders: bool) -> Wave | None:
    """On a fresh installation (no wave at all), create and open a demo wave to text at once."""
    if list_waves(session):
        return None
    create_wave(session, name=DEMO_WAVE, title="Demo wave (try the survey)", default=True)
    return open_wave(session, redis, DEMO_WAVE, allow_placeholders=allow_placeholders)


# ---------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class OpenWave:
    """An open wave as the webhook sees it."""

    name: str
    questionnaire: Questionnaire  # with the wave's start keywords
    default: bool


@dataclass(frozen=True)
class Registry:
    """The open waves at one registry version."""

    version: bytes | None
    waves: dict[str, OpenWave]

    @property
    def default(self) -> OpenWave | None:
        """Where a plain text goes: the default wave, or the only open one."""
        for wave in self.waves.values():
            if wave.default:
                return wave
        return next(iter(self.waves.values())) if len(self.waves) == 1 else None

    def by_keyword(self, norm: str) -> tuple[OpenWave, str] | None:
        """The open wave whose start keyword this normalized text is, with its language."""
        for wave in self.waves.values():
            lang = wave.questionnaire.start_index.get(norm)
            if lang is not None:
                return wave, lang
        return None


class RegistryCache:
    """Parsed open waves, reloaded only when the registry version changes."""

    def __init__(self) -> None:
        self._registry = Registry(version=b"\x00never", waves={})
        self._parsed: dict[str, Questionnaire] = {}
        self._implicit: Registry | None = None

    def implicit(self, name: str, questionnaire: Questionnaire) -> Registry:
        """The registry of a fresh installation: the questionnaire file as one open wave."""
        cached = self._implicit
        stale = cached is None or name not in cached.waves
        if stale or cached.waves[name].questionnaire is not questionnaire:
            wave = OpenWave(name=name, questionnaire=questionnaire, default=True)
            cached = self._implicit = Registry(version=None, waves={name: wave})
        return cached

    def get(self, redis: Redis, version: bytes | None) -> Registry:
        """The registry at `version` (read along with the conversation's keys)."""
        if version == self._registry.version:
            return self._registry
        raw = redis.hgetall(keys.WAVES_OPEN)
        waves = {}
        parsed_now: dict[str, Questionnaire] = {}
        for name_bytes, blob in raw.items():
            data = json.loads(blob)
            source = data["questionnaire"]
            parsed = parsed_now.get(source) or self._parsed.get(source)
            if parsed is None:
                parsed = parse_questionnaire(source)
            parsed_now[source] = parsed
            keywords = {lang: tuple(words) for lang, words in data["keywords"].items()}
            name = name_bytes.decode()
            waves[name] = OpenWave(
                name=name,
                questionnaire=replace(parsed, start_keywords=keywords),
                default=bool(data.get("default")),
            )
        self._parsed = parsed_now  # closed waves' questionnaires are let go
        self._registry = Registry(version=version, waves=waves)
        return self._registry


def apply_schedule(
    session: Session, redis: Redis, now: dt.datetime, *, allow_placeholders: bool
) -> list[str]:
    """Open drafts whose opening time has come and close open waves whose closing time has
    passed; returns what was done, e.g. ["opened summer-2026"]. A draft that cannot open
    (see `open_wave`) stays a draft, with a "could not open" line."""
    done: list[str] = []
    waves = list_waves(session)
    # Closings first, so a wave that follows another with the same keywords can open now.
    for wave in waves:
        closes_at = _aware(wave.closes_at)
        if wave.status == WaveStatus.OPEN and closes_at is not None and closes_at <= now:
            close_wave(session, redis, wave.name)
            done.append(f"closed {wave.name}")
    for wave in waves:
        opens_at, closes_at = _aware(wave.opens_at), _aware(wave.closes_at)
        if wave.status != WaveStatus.DRAFT or opens_at is None or opens_at > now:
            continue
        if closes_at is not None and closes_at <= now:
            continue  # its whole period went by as a draft: leave it to an organizer
        try:
            open_wave(session, redis, wave.name, allow_placeholders=allow_placeholders)
            done.append(f"opened {wave.name}")
        except WaveError as exc:
            done.append(f"could not open {wave.name}: {exc}")
    return done


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    """Schedule times without a zone are UTC (SQLite drops the zone)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=dt.UTC)


def wave_questionnaire(session: Session, name: str, settings) -> Questionnaire:  # noqa: ANN001
    """The questionnaire a wave's answers follow: its snapshot, taken when it opened; the
    questionnaire file (SURVEY_FILE) for the implicit wave or a wave never opened."""
    from bot.core.questionnaire import load_questionnaire

    wave = session.get(Wave, name)
    if wave is not None and wave.questionnaire_yaml:
        return parse_questionnaire(wave.questionnaire_yaml)
    return load_questionnaire(settings.SURVEY_FILE or None)


def apply_schedule_now(settings: Settings, redis: Redis) -> list[str]:
    """`apply_schedule` at this moment, on the settings' database (the cron job, every minute);
    what was done is logged, a planned opening that did not happen as a warning."""
    with Session(get_engine(settings.DATABASE_URL)) as session:
        done = apply_schedule(
            session, redis, clock.now(), allow_placeholders=settings.allows_placeholders
        )
    for line in done:
        # A planned opening that did not happen needs an operator: say it louder.
        level = logging.WARNING if line.startswith("could not") else logging.INFO
        log.log(level, "wave schedule: %s", line)
    return done
