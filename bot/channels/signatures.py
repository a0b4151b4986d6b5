"""Twilio webhook signatures: every /twilio/ request must be signed with our auth token."""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Callable
from typing import Any

from flask import abort, request
from twilio.request_validator import RequestValidator

from bot.channels.twilio_form import Hook, malformed, missing

log = logging.getLogger("surveybot.webhooks")


def public_base(settings) -> str:  # noqa: ANN001 - bot.infra.config.Settings
    """This app's URL as Twilio reaches it (what signatures cover, where callbacks point):
    PUBLIC_BASE_URL, proxy or not. A client chooses the Host and X-Forwarded-Host it sends,
    so only without PUBLIC_BASE_URL (never in production: Settings.validate) does the URL of
    this request stand in, as in development and tests."""
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL.rstrip("/")
    return request.host_url.rstrip("/") + request.script_root


def signed_url(settings) -> str:  # noqa: ANN001
    """The URL Twilio called, as it signed it."""
    query = request.query_string.decode("latin-1")
    return f"{public_base(settings)}{request.path}" + (f"?{query}" if query else "")


def with_overrides(settings, url: str) -> str:  # noqa: ANN001
    """`url` with Twilio's connection overrides (TWILIO_CONNECTION_OVERRIDES) as its fragment:
    Twilio retries a request to it that fails, and never sends the fragment itself."""
    overrides = settings.TWILIO_CONNECTION_OVERRIDES.strip().lstrip("#")
    return f"{url}#{overrides}" if overrides else url


def is_signed(auth_token: str, url: str, *, fragment: str = "") -> bool:
    """Whether the current request carries a valid X-Twilio-Signature for `url`, or for `url`
    with the connection overrides' `fragment`. A request never carries its URL's fragment, and
    Twilio's documents do not say whether the URL it signs keeps it: both are our own URL, so
    accepting either lets nobody sign for anything else."""
    signature = request.headers.get("X-Twilio-Signature", "")
    # Twilio's signature is base64: ASCII. A header of other bytes (Werkzeug reads headers as
    # Latin-1) is simply wrong, and hmac.compare_digest would raise on it (a 500, not a 403).
    if not signature or not auth_token or not signature.isascii():
        return False
    validator = RequestValidator(auth_token)
    # The URL exactly as configured matches almost always: check it once, and only on a
    # mismatch let the validator also try the URL with and without an explicit port.
    if hmac.compare_digest(validator.compute_signature(url, request.form), signature):
        return True
    if validator.validate(url, request.form, signature):
        return True
    fragment = fragment.strip().lstrip("#")
    return bool(fragment) and validator.validate(f"{url}#{fragment}", request.form, signature)


def twilio_signed(view: Callable[..., Any]) -> Callable[..., Any]:
    """Reject with 403 any request not signed by Twilio; log nothing about the sender."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from bot.web.state import state

        settings = state().settings
        url = signed_url(settings)
        fragment = settings.TWILIO_CONNECTION_OVERRIDES
        if not is_signed(settings.TWILIO_AUTH_TOKEN, url, fragment=fragment):
            log.warning("rejected a webhook request with a missing or wrong signature")
            abort(403)
        return view(*args, **kwargs)

    return wrapper


# The bodies Twilio posts to Messaging and Voice webhooks: a form. Twilio also signs JSON
# bodies (for other products), with the body's SHA-256 in a `bodySHA256` query parameter and
# the signature over the URL alone; no route here reads a JSON body, and the form every route
# reads would be empty, so such a request is refused with 415 before its signature is even
# looked at: a URL signed for one JSON body can never carry another body into a route.
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def twilio_webhook(hook: Hook) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A Twilio webhook route: a body that is not a form is refused with 415, and a form
    Twilio never sends with 400, before anything else (signed or not: a re-cut signed form is
    still malformed); then the signature (403); then the parameters this webhook always
    carries (400). Nothing is applied on a refusal."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def complete(*args: Any, **kwargs: Any) -> Any:
            absent = missing(request.form, hook)
            if absent is not None:
                return f"a Twilio {hook.value} webhook needs {absent}", 400
            return view(*args, **kwargs)

        signed = twilio_signed(complete)

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if request.mimetype and request.mimetype not in FORM_TYPES:
                log.warning("refused a webhook request whose body is not a form")
                return "a Twilio webhook body is a form (application/x-www-form-urlencoded)", 415
            why = malformed(request.form)
            if why is not None:
                log.warning("refused a webhook request Twilio would never send: %s", why)
                return f"not a request Twilio sends: {why}", 400
            return signed(*args, **kwargs)

        return wrapper

    return decorate
