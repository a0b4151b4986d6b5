"""TwiML answers read as a phone would: message bodies, or what a caller hears and can do."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urldefrag, urljoin

# Twilio's defaults for attributes a TwiML document leaves out.
DEFAULT_SAY_LANGUAGE = "en-US"
DEFAULT_GATHER_TIMEOUT = 5
DEFAULT_FINISH_ON_KEY = "#"


def parse_twiml(xml: bytes | str) -> list[str]:
    """The message bodies of a TwiML <Response>."""
    root = ET.fromstring(xml)
    return [(m.text or "") for m in root.iter("Message")]


def _int_attr(element: ET.Element, name: str) -> int | None:
    """An integer attribute of a TwiML verb, or None when absent or not a number."""
    raw = (element.get(name) or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None


def _prompt(element: ET.Element, base_url: str | None) -> dict[str, Any] | None:
    """A <Say> or <Play> as {text, language, voice, audio}; None for any other verb."""
    if element.tag == "Say":
        text = " ".join("".join(element.itertext()).split())
        return {
            "text": text,
            "language": element.get("language") or DEFAULT_SAY_LANGUAGE,
            "voice": element.get("voice"),
            "audio": None,
        }
    if element.tag == "Play":
        url = (element.text or "").strip()
        return {
            "text": None,
            "language": None,
            "voice": None,
            "audio": urljoin(base_url, url) if base_url else url,
        }
    return None


def parse_voice_twiml(xml: bytes | str, *, base_url: str | None = None) -> dict[str, Any]:
    """A TwiML voice <Response>, as what a caller hears and what they can do next.

    Returns {prompts: [{text, language, voice, audio}] in the order they are heard (inside the
    <Gather> or not), gather: {action, method, input, numDigits, finishOnKey, timeout, language,
    hints, actionOnEmptyResult} or None, hangup: bool, redirect: URL or None}. Relative URLs
    are resolved against `base_url` (the document's own URL), as Twilio resolves them; a
    <Gather> without an action posts back to that URL. A URL's fragment (Twilio's connection
    overrides) is dropped: it tells Twilio how to retry, and is never requested.
    """
    root = ET.fromstring(xml)
    if root.tag != "Response":
        raise ValueError(f"not a TwiML <Response>: <{root.tag}>")

    def absolute(url: str) -> str:
        return urldefrag(urljoin(base_url, url) if base_url else url).url

    prompts: list[dict[str, Any]] = []
    gather: dict[str, Any] | None = None
    hangup = False
    redirect: str | None = None
    for verb in root:
        if gather is not None or hangup or redirect is not None:
            # Twilio moves on from a <Gather> (to its action), a <Hangup> or a <Redirect>;
            # what follows runs only if a <Gather> timed out without actionOnEmptyResult.
            if verb.tag == "Redirect" and gather is not None and redirect is None:
                redirect = absolute((verb.text or "").strip())
            elif verb.tag == "Hangup" and gather is not None:
                hangup = True
            continue
        prompt = _prompt(verb, base_url)
        if prompt is not None:
            prompts.append(prompt)
        elif verb.tag == "Gather":
            prompts.extend(p for p in (_prompt(child, base_url) for child in verb) if p)
            finish = verb.get("finishOnKey")
            gather = {
                "action": absolute(verb.get("action") or "") or base_url,
                "method": (verb.get("method") or "POST").upper(),
                "input": " ".join((verb.get("input") or "dtmf").split()),
                "numDigits": _int_attr(verb, "numDigits"),
                "finishOnKey": DEFAULT_FINISH_ON_KEY if finish is None else finish,
                "timeout": _int_attr(verb, "timeout") or DEFAULT_GATHER_TIMEOUT,
                "language": verb.get("language") or DEFAULT_SAY_LANGUAGE,
                "hints": verb.get("hints") or None,
                "actionOnEmptyResult": (verb.get("actionOnEmptyResult") or "").lower() == "true",
            }
        elif verb.tag == "Hangup":
            hangup = True
        elif verb.tag == "Redirect":
            redirect = absolute((verb.text or "").strip())
    return {"prompts": prompts, "gather": gather, "hangup": hangup, "redirect": redirect}
