"""Sending email over SMTP, configured by one URL, with retries on temporary failures.

`SMTP_URL` forms:
- `smtp://host:25` plain (no TLS; for a local relay)
- `smtp://user:pass@host:587` STARTTLS (the default on port 587; force with `?starttls=1`,
  turn off with `?starttls=0`)
- `smtps://user:pass@host:465` implicit TLS
User and password are percent-decoded (`%40` for `@`). Query options: `cafile=/path/ca.pem`
(trust a private CA as well as the system's), `timeout=30` (seconds per network operation),
`helo=name` (the name this client gives in EHLO).

`send_message` retries connection failures, timeouts, disconnections and 4xx replies with
backoff, and raises `MailError` at once on a permanent failure (5xx reply, authentication
refused, no recipients, TLS certificate not trusted). A connection lost once the message's
DATA phase started raises `MailInDoubt` at once, never retried: the relay may have accepted it.
Errors and logs name the SMTP reply, never the message's content; recipients' addresses are
logged at debug level only.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses
from enum import StrEnum
from urllib.parse import parse_qs, unquote, urlsplit

from bot.infra.exceptions import ConfigError, MailError, MailInDoubt

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
DEFAULT_BACKOFF = (1, 5, 30, 120)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class Security(StrEnum):
    """How the connection to the SMTP server is protected."""

    PLAIN = "plain"
    STARTTLS = "starttls"
    TLS = "tls"  # implicit TLS (smtps)


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send mail (the password is left out of repr)."""

    host: str
    port: int
    security: Security
    username: str = ""
    password: str = field(default="", repr=False)
    cafile: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    helo: str | None = None

    def describe(self) -> str:
        """host:port and security, for messages and logs (no credentials)."""
        return f"{self.host}:{self.port} ({self.security.value})"


def parse_smtp_url(url: str) -> SmtpConfig:
    """An `SmtpConfig` from `smtp://` or `smtps://` URL (see the module docstring)."""
    if not url or not url.strip():
        raise ConfigError("SMTP_URL is not set")
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise ConfigError(f"SMTP_URL must start with smtp:// or smtps://, not {scheme or '?'}://")
    if not parts.hostname:
        raise ConfigError("SMTP_URL has no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError("SMTP_URL has an invalid port") from exc
    query = {k.lower(): v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = set(query) - {"starttls", "cafile", "timeout", "helo"}
    if unknown:
        raise ConfigError(f"SMTP_URL has unknown options: {', '.join(sorted(unknown))}")

    if scheme == "smtps":
        if port is None:
            port = 465
        security = Security.TLS
        if query.get("starttls", "").lower() in _TRUE:
            raise ConfigError("SMTP_URL: smtps:// is already TLS; starttls=1 does not apply")
    else:
        if port is None:
            port = 25
        starttls = query.get("starttls")
        if starttls is None or starttls == "":
            security = Security.STARTTLS if port == 587 else Security.PLAIN
        elif starttls.lower() in _TRUE:
            security = Security.STARTTLS
        elif starttls.lower() in _FALSE:
            security = Security.PLAIN
        else:
            raise ConfigError(f"SMTP_URL: starttls={starttls!r} is not 0 or 1")

    timeout = DEFAULT_TIMEOUT
    if query.get("timeout"):
        try:
            timeout = float(query["timeout"])
        except ValueError as exc:
            raise ConfigError("SMTP_URL: timeout must be a number of seconds") from exc
        if timeout <= 0:
            raise ConfigError("SMTP_URL: timeout must be positive")

    return SmtpConfig(
        host=parts.hostname,
        port=port,
        security=security,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        cafile=query.get("cafile") or None,
        timeout=timeout,
        helo=query.get("helo") or None,
    )


class _Temporary(Exception):
    """A failure worth retrying; its message names the reply or the network error."""


class _Permanent(Exception):
    """A failure retrying will not fix."""


class _InDoubt(Exception):
    """A transport failure after the message's end was sent: it may have been accepted."""


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = " ".join(str(text).split())  # one line
    return f"{code} {text}".strip()


def _by_code(code: int, text: bytes | str, what: str) -> Exception:
    reply = _reply(code, text)
    if 400 <= code < 500:
        return _Temporary(f"{what}: {reply}")
    return _Permanent(f"{what}: {reply}")


def _transport(exc: BaseException) -> Exception | None:
    """The retry verdict on a network or TLS failure (connecting or mid-conversation)."""
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return _Temporary(f"server disconnected: {exc}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _Permanent(f"TLS certificate not trusted: {exc.verify_message}")
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return _Temporary(f"TLS connection dropped: {exc}")
    if isinstance(exc, ssl.SSLError):
        return _Permanent(f"TLS handshake failed: {exc.reason or exc}")
    if isinstance(exc, TimeoutError):
        return _Temporary("timed out")
    if isinstance(exc, OSError):
        return _Temporary(f"connection error: {exc.strerror or exc}")
    return None


def _recipients(msg: EmailMessage) -> list[str]:
    fields = [str(v) for name in ("To", "Cc", "Bcc") for v in msg.get_all(name, [])]
    return [address for _name, address in getaddresses(fields) if address]


def _ssl_context(config: SmtpConfig) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if config.cafile:
        try:
            context.load_verify_locations(cafile=config.cafile)
        except (OSError, ssl.SSLError) as exc:
            raise _Permanent(f"cannot read the CA file {config.cafile}: {exc}") from exc
    return context


def _watch_data(server: smtplib.SMTP) -> list[bool]:
    """A flag set once the DATA phase starts: from then on the relay may accept the message
    without this client hearing its answer (the reply lost to a cut connection)."""
    started = [False]
    data = server.data

    def watched(msg):  # noqa: ANN001, ANN202 - smtplib's signature
        started[0] = True
        return data(msg)

    server.data = watched
    return started


def _in_doubt_or(sending: list[bool], verdict: Exception | None) -> Exception | None:
    if sending[0] and isinstance(verdict, _Temporary):
        return _InDoubt(f"the connection failed during the message's delivery ({verdict})")
    return verdict


def _send_once(msg: EmailMessage, config: SmtpConfig) -> dict:
    """One connection, one delivery; raises `_Temporary` or `_Permanent`."""
    try:
        context = _ssl_context(config) if config.security is not Security.PLAIN else None
        if config.security is Security.TLS:
            server: smtplib.SMTP = smtplib.SMTP_SSL(
                config.host,
                config.port,
                local_hostname=config.helo,
                timeout=config.timeout,
                context=context,
            )
        else:
            server = smtplib.SMTP(
                config.host, config.port, local_hostname=config.helo, timeout=config.timeout
            )
    except smtplib.SMTPConnectError as exc:
        raise _by_code(exc.smtp_code, exc.smtp_error, "connection refused by server") from exc
    except (smtplib.SMTPServerDisconnected, OSError) as exc:  # ssl.SSLError is an OSError
        raise _transport(exc) from exc

    sending = [False]  # set by _watch_data once the message's DATA phase starts
    try:
        server.ehlo()
        if config.security is Security.STARTTLS:
            server.starttls(context=context)
            server.ehlo()
        if config.username:
            server.login(config.username, config.password)
        sending = _watch_data(server)
        refused = server.send_message(msg)
    except smtplib.SMTPNotSupportedError as exc:
        raise _Permanent(f"server does not support a required extension: {exc}") from exc
    except smtplib.SMTPAuthenticationError as exc:
        if 400 <= exc.smtp_code < 500:
            raise _Temporary(
                f"authentication failed: {_reply(exc.smtp_code, exc.smtp_error)}"
            ) from exc
        raise _Permanent(f"authentication failed: {_reply(exc.smtp_code, exc.smtp_error)}") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        replies = list(exc.recipients.values())
        if not replies:
            raise _Permanent("no recipients") from exc
        code, text = replies[0]
        if all(400 <= c < 500 for c, _ in replies):
            raise _Temporary(f"recipients refused: {_reply(code, text)}") from exc
        permanent = next((c, t) for c, t in replies if not 400 <= c < 500)
        raise _Permanent(f"recipients refused: {_reply(*permanent)}") from exc
    except smtplib.SMTPSenderRefused as exc:
        raise _by_code(exc.smtp_code, exc.smtp_error, "sender refused") from exc
    except smtplib.SMTPDataError as exc:
        raise _by_code(exc.smtp_code, exc.smtp_error, "message refused") from exc
    except smtplib.SMTPResponseException as exc:
        raise _by_code(exc.smtp_code, exc.smtp_error, "server error") from exc
    except smtplib.SMTPServerDisconnected as exc:
        raise _in_doubt_or(sending, _transport(exc)) from exc
    except smtplib.SMTPException as exc:  # an OSError too: must come before the next clause
        raise _Permanent(f"SMTP error: {exc}") from exc
    except OSError as exc:  # network and TLS failures (ssl.SSLError is an OSError)
        raise _in_doubt_or(sending, _transport(exc)) from exc
    finally:
        try:
            server.quit()
        except (smtplib.SMTPException, OSError):
            server.close()
    return refused


def send_message(
    msg: EmailMessage,
    smtp_url: str,
    *,
    attempts: int = 5,
    backoff: Sequence[float] = DEFAULT_BACKOFF,
    sleep: Callable[[float], object] = time.sleep,
) -> None:
    """Deliver `msg` to its To/Cc/Bcc recipients; retry temporary failures, then `MailError`.

    Waits `backoff[i]` seconds after the (i+1)th failed attempt (the last value repeats).
    """
    config = _parse_for_sending(smtp_url)
    recipients = _recipients(msg)
    if not recipients:
        raise MailError("cannot send: the message has no recipients")
    if not msg.get("From"):
        raise MailError("cannot send: the message has no From address")
    attempts = max(1, attempts)
    where = config.describe()
    for attempt in range(1, attempts + 1):
        log.debug("sending to %s via %s, attempt %d", ", ".join(recipients), where, attempt)
        try:
            refused = _send_once(msg, config)
        except _InDoubt as exc:
            # At most once: a relay that accepted the message and lost its reply would send it
            # twice if we tried again ("in doubt, never resent automatically").
            log.warning("email via %s may or may not have been sent: %s", where, exc)
            raise MailInDoubt(f"email via {where} may have been sent: {exc}") from None
        except _Permanent as exc:
            log.warning("email to %s failed permanently: %s", where, exc)
            raise MailError(f"email not sent via {where}: {exc}") from None
        except _Temporary as exc:
            if attempt == attempts:
                log.warning("email attempt %d/%d via %s failed: %s", attempt, attempts, where, exc)
                raise MailError(
                    f"email not sent via {where} after {attempts} attempts: {exc}"
                ) from None
            delay = backoff[min(attempt - 1, len(backoff) - 1)] if backoff else 0
            log.warning(
                "email attempt %d/%d via %s failed: %s; retrying in %s s",
                attempt,
                attempts,
                where,
                exc,
                delay,
            )
            sleep(delay)
            continue
        if refused:
            log.warning(
                "email sent via %s, but %d of %d recipients were refused",
                where,
                len(refused),
                len(recipients),
            )
            log.debug("refused recipients: %s", refused)
        else:
            log.info("email sent via %s to %d recipients", where, len(recipients))
        return


def _parse_for_sending(url: str) -> SmtpConfig:
    try:
        return parse_smtp_url(url)
    except ConfigError as exc:
        raise MailError(str(exc)) from None
