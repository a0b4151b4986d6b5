"""One typed settings object, read once at start from the environment (and `.env`).

`bot.create_app(overrides)` and the workers both build it with `load_settings`; nothing else
reads `os.environ`. In production it refuses missing or well-known secrets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from bot.infra import defaults
from bot.infra.devinstance import DevInstance
from bot.infra.exceptions import ConfigError
from bot.infra.sealing import development_storage_keys

# Values that have been seen in examples; never acceptable as a production secret.
KNOWN_BAD_SECRETS = frozenset(
    {"", "dev", "changeme", "change-me", "secret", "test", "development", "replace-me"}
)
MIN_SECRET_LENGTH = 16


class Environment(StrEnum):
    """Where the app runs: production is the default, so forgetting to say is safe."""

    PRODUCTION = "production"
    DEVELOPMENT = "development"
    TEST = "test"


def _bool(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _hops(value: Any) -> int:
    # TRUST_PROXY once was a yes/no setting: "true" still means the one proxy it meant then.
    text = str(value).strip().lower()
    if text in {"", "0", "false", "no", "off"}:
        return 0
    if text in {"true", "yes", "on"}:
        return 1
    hops = int(text)
    if hops < 0:
        raise ValueError(text)
    return hops


@dataclass(frozen=True)
class Settings:
    """Configuration of the web app, the workers and the CLI."""

    SURVEYBOT_ENV: Environment = Environment.PRODUCTION
    REDIS_URL: str = ""
    DATABASE_URL: str = ""
    SECRET_KEY: str = ""
    PSEUDONYM_KEY: str = ""
    PSEUDONYM_KEY_VERSION: str = "v1"
    PSEUDONYM_OLD_KEYS: tuple[str, ...] = ()  # "v1:<key>", ...: still read during a rotation
    STORAGE_PUBLIC_KEY: str = ""
    STORAGE_SECRET_KEY: str = ""
    TWILIO_ACCOUNT_SID: str = ""
    TWILIO_AUTH_TOKEN: str = ""
    TWILIO_MESSAGING_SERVICE_SID: str = ""
    TWILIO_FROM_NUMBER: str = ""
    TWILIO_API_BASE_URL: str = ""
    TWILIO_DELETE_MESSAGES: bool = False
    # The fragment the README's webhook URLs carry ("" for none): added to the action URLs of
    # a call's <Gather>, and a signature over the URL with it is accepted too.
    TWILIO_CONNECTION_OVERRIDES: str = defaults.TWILIO_CONNECTION_OVERRIDES
    PUBLIC_BASE_URL: str = ""
    TRUST_PROXY: int = 0  # reverse proxies in front that append to X-Forwarded-For (1, 2...)
    SMTP_URL: str = ""
    REPORT_FROM: str = ""
    REPORT_RECIPIENTS: tuple[str, ...] = ()
    REPORT_CRON: str = defaults.REPORT_CRON
    REPORT_TIMEZONE: str = defaults.REPORT_TIMEZONE
    REPORT_LANGUAGE: str = "en"
    SMALL_CELL_MIN: int = defaults.SMALL_CELL_MIN
    RELEASE_HOUR: int = defaults.RELEASE_HOUR
    RELEASE_MIN_NEW: int = defaults.RELEASE_MIN_NEW
    SESSION_TTL_HOURS: float = defaults.SESSION_TTL_HOURS
    SEND_RATE_PER_SECOND: float = defaults.SEND_RATE_PER_SECOND
    SEND_WINDOW: str = defaults.SEND_WINDOW  # recipients' local time; a wave may override it
    SEND_DAILY_CAP: int = defaults.SEND_DAILY_CAP  # texts a day from our sender, 0: no cap
    CALL_RATE_PER_SECOND: float = defaults.CALL_RATE_PER_SECOND  # invitation calls a second
    # WhatsApp invitations: the sender ("whatsapp:+1..."; empty: the Messaging Service's), the
    # approved template of each language (ContentSid "HX..."), and their own rate.
    WHATSAPP_FROM: str = ""
    WHATSAPP_INVITE_CONTENT_SID_EN: str = ""
    WHATSAPP_INVITE_CONTENT_SID_ES: str = ""
    WHATSAPP_INVITE_CONTENT_SID_HT: str = ""
    WHATSAPP_RATE_PER_SECOND: float = defaults.WHATSAPP_RATE_PER_SECOND
    BATCH_MIN_SIZE: int | None = None  # None: the environment's default (batch_min_size)
    BATCH_MIN_HOURS: float | None = None
    DEFAULT_PHONE_REGION: str = "US"
    SURVEY_FILE: str = ""
    DEFAULT_WAVE: str = defaults.DEFAULT_WAVE
    SIMULATOR_ENABLED: bool = False
    VOICE_SPEECH: bool = True
    VOICE_AUDIO_DIR: str = ""
    VOICE_AUDIO_BASE_URL: str = ""
    INSTANCE_PATH: str = defaults.INSTANCE_DIR
    LOG_LEVEL: str = "INFO"
    # How often each worker runs RQ's maintenance and checks on its running job (seconds).
    # Smaller in tests of killed workers only: the defaults keep a dead worker's jobs at most
    # about two minutes from running again (README: workers).
    WORKER_MAINTENANCE_SECONDS: int = defaults.WORKER_MAINTENANCE_SECONDS
    JOB_MONITORING_SECONDS: int = defaults.JOB_MONITORING_SECONDS
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        """True unless explicitly in development or test."""
        return self.SURVEYBOT_ENV is Environment.PRODUCTION

    @property
    def allows_placeholders(self) -> bool:
        """Whether a questionnaire may still hold placeholder resources (bot.core.placeholders):
        only outside production, so the shipped file runs as it is in tests and development."""
        return not self.is_production

    @property
    def simulator_on(self) -> bool:
        """The simulator exists in development or when switched on explicitly."""
        return self.SIMULATOR_ENABLED or self.SURVEYBOT_ENV is Environment.DEVELOPMENT

    @property
    def twilio_configured(self) -> bool:
        """Whether outbound messages can go to Twilio (else they go to the simulator)."""
        return bool(
            self.TWILIO_ACCOUNT_SID
            and self.TWILIO_AUTH_TOKEN
            and (self.TWILIO_MESSAGING_SERVICE_SID or self.TWILIO_FROM_NUMBER)
        )

    @property
    def old_pseudonym_keys(self) -> list[tuple[str, str]]:
        """(version, key) of each earlier PSEUDONYM_KEY still read during a rotation."""
        pairs = []
        for item in self.PSEUDONYM_OLD_KEYS:
            version, _, key = item.partition(":")
            if not key or version == self.PSEUDONYM_KEY_VERSION:
                raise ConfigError(
                    "PSEUDONYM_OLD_KEYS holds version:key pairs, each with a version other than "
                    f"PSEUDONYM_KEY_VERSION ({self.PSEUDONYM_KEY_VERSION})"
                )
            pairs.append((version, key))
        return pairs

    @property
    def storage_public_key(self) -> str:
        """The key completed responses are sealed to (bot/infra/sealing.py); outside
        production, one derived from PSEUDONYM_KEY when none is set."""
        if self.STORAGE_PUBLIC_KEY or self.is_production:
            return self.STORAGE_PUBLIC_KEY
        return development_storage_keys(self.PSEUDONYM_KEY)[0]

    @property
    def storage_secret_key(self) -> str:
        """The key that opens sealed responses: only the storage workers need it."""
        if self.STORAGE_SECRET_KEY or self.is_production:
            return self.STORAGE_SECRET_KEY
        return development_storage_keys(self.PSEUDONYM_KEY)[1]

    @property
    def batch_min_size(self) -> int:
        """Records the storage inbox must hold before a batch closes (at least 1)."""
        if self.BATCH_MIN_SIZE is not None:
            return max(1, self.BATCH_MIN_SIZE)
        return defaults.BATCH_MIN_SIZE if self.is_production else defaults.DEV_BATCH_MIN_SIZE

    @property
    def batch_min_hours(self) -> float:
        """Hours that must pass after a storage batch before the next one closes."""
        if self.BATCH_MIN_HOURS is not None:
            return max(0.0, self.BATCH_MIN_HOURS)
        return defaults.BATCH_MIN_HOURS if self.is_production else defaults.DEV_BATCH_MIN_HOURS

    @property
    def session_ttl_seconds(self) -> int:
        """Lifetime of a conversation in flight, in seconds."""
        return max(1, int(self.SESSION_TTL_HOURS * 3600))

    def require(self, *names: str, purpose: str = "") -> None:
        """ConfigError naming, in one line, the first of `names` that is not set and how to
        set it (checked before a command asks or does anything)."""
        for name in names:
            if not getattr(self, name):
                why = f" ({purpose})" if purpose else ""
                raise ConfigError(
                    f"{name} is not set{why}: start `surveybot dev` in this folder and run the "
                    f"command beside it, or set {name} in the environment or in .env"
                )

    def validate(self) -> None:
        """Refuse to run production with missing or default secrets."""
        if not self.is_production:
            return
        problems = []
        for name in ("SECRET_KEY", "PSEUDONYM_KEY", "TWILIO_AUTH_TOKEN"):
            value = getattr(self, name)
            if value.strip().lower() in KNOWN_BAD_SECRETS or len(value) < MIN_SECRET_LENGTH:
                problems.append(f"{name} is missing, a known default or shorter than 16 characters")
        self.old_pseudonym_keys  # noqa: B018 - raises on a malformed rotation setting
        if not self.STORAGE_PUBLIC_KEY:
            problems.append(
                "STORAGE_PUBLIC_KEY is missing (completed responses are sealed to it: "
                "`surveybot keys generate` makes a pair)"
            )
        if not self.PUBLIC_BASE_URL:
            problems.append("PUBLIC_BASE_URL is missing (Twilio signatures are checked against it)")
        if not self.REDIS_URL:
            problems.append("REDIS_URL is missing")
        if not self.DATABASE_URL:
            problems.append("DATABASE_URL is missing")
        if self.SIMULATOR_ENABLED:
            # The simulator signs whatever it is sent with the real auth token, without login:
            # anyone could text or stop a real respondent's conversation through it.
            problems.append("SIMULATOR_ENABLED=1 (the simulator is for development only)")
        if self.TWILIO_DELETE_MESSAGES and not (
            self.TWILIO_ACCOUNT_SID.strip() and self.TWILIO_AUTH_TOKEN.strip()
        ):
            problems.append(
                "TWILIO_DELETE_MESSAGES=1 needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN "
                "(records are deleted through Twilio's REST API)"
            )
        if self.RELEASE_MIN_NEW < defaults.RELEASE_MIN_NEW_FACTOR * self.SMALL_CELL_MIN:
            problems.append(
                f"RELEASE_MIN_NEW={self.RELEASE_MIN_NEW} is too small: at least "
                f"{defaults.RELEASE_MIN_NEW_FACTOR} x SMALL_CELL_MIN "
                f"({defaults.RELEASE_MIN_NEW_FACTOR * self.SMALL_CELL_MIN}), so that two releases "
                "never differ by a few responses"
            )
        if not 0 <= self.RELEASE_HOUR <= 23:
            problems.append(f"RELEASE_HOUR={self.RELEASE_HOUR} is not an hour (0 to 23)")
        if problems:
            raise ConfigError("refusing to start in production: " + "; ".join(problems))


_CONVERTERS = {
    "bool": _bool,
    "int": int,
    "float": float,
    "int | None": lambda v: None if str(v).strip() == "" else int(v),
    "float | None": lambda v: None if str(v).strip() == "" else float(v),
    "tuple[str, ...]": lambda v: tuple(
        x.strip() for x in (v.split(",") if isinstance(v, str) else v) if x and x.strip()
    ),
    "Environment": Environment,
    "str": lambda v: "" if v is None else str(v),
}
_FIELD_CONVERTERS = {"TRUST_PROXY": _hops}


def load_settings(
    overrides: dict[str, Any] | None = None,
    *,
    env_file: str | None = ".env",
    dev_instance: bool = True,
) -> Settings:
    """Settings from `.env`, then a running `surveybot dev` of this folder (its instance's
    settings: bot/infra/devinstance.py), then the environment, then `overrides` (same names).

    The order is the one `surveybot dev` gives its own processes, so a command run beside it
    sees the bot it runs.
    """
    raw: dict[str, Any] = {}
    if env_file and Path(env_file).is_file():
        raw.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    if dev_instance:
        instance = (overrides or {}).get("INSTANCE_PATH") or os.environ.get("INSTANCE_PATH")
        instance = instance or raw.get("INSTANCE_PATH") or defaults.INSTANCE_DIR
        raw.update(DevInstance(Path(instance)).settings())
    raw.update(os.environ)
    raw.update(overrides or {})
    values: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name == "extra" or f.name not in raw:
            continue
        value = raw[f.name]
        converter = _FIELD_CONVERTERS.get(f.name) or _CONVERTERS[str(f.type)]
        try:
            values[f.name] = converter(value)
        except ValueError as exc:
            raise ConfigError(f"{f.name}={value!r} is not a valid {f.type}") from exc
    known = {f.name for f in fields(Settings)}
    values["extra"] = {k: v for k, v in (overrides or {}).items() if k not in known}
    return Settings(**values)
