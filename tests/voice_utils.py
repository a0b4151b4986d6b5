"""Test helpers for the phone channel: place a call through the signed voice routes, as
Twilio does, and check every TwiML document it answers with."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator

from bot.channels.simulator import SIMULATED_ACCOUNT, SIMULATED_BOT_NUMBER

# What Twilio's <Say> accepts for the voices used here, and what <Gather> recognizes.
POLLY_VOICE_LANGUAGES = {"Polly.Joanna": "en-US", "Polly.Lupe": "es-US", "Polly.Lea": "fr-FR"}
GATHER_SPEECH_LANGUAGES = {"en-US", "es-US"}
GATHER_ATTRIBUTES = {
    "action",
    "method",
    "input",
    "numDigits",
    "finishOnKey",
    "timeout",
    "language",
    "hints",
    "speechTimeout",
    "actionOnEmptyResult",
}
VERBS = {"Say", "Play", "Gather", "Hangup", "Pause", "Redirect"}


@dataclass
class Turn:
    """One TwiML answer of the bot, read the way a caller hears it."""

    said: list[tuple[str, str | None]]  # (text or played URL, <Say> language or "play")
    gather: dict[str, str] | None
    hung_up: bool
    xml: bytes = b""

    @property
    def text(self) -> str:
        """Everything said, as one string."""
        return " ".join(words for words, _ in self.said)


def check_twiml(xml: bytes) -> Turn:
    """Parse a voice TwiML document and assert it is one Twilio accepts."""
    root = ET.fromstring(xml)
    assert root.tag == "Response", xml
    said: list[tuple[str, str | None]] = []
    gather = None
    hung_up = False
    children = list(root)
    for i, verb in enumerate(children):
        assert verb.tag in VERBS, verb.tag
        assert verb.tag not in ("Record", "Dial"), "the bot never records or connects a call"
        if verb.tag == "Gather":
            assert i == len(children) - 1, "nothing after a Gather: actionOnEmptyResult posts"
            attrs = dict(verb.attrib)
            assert set(attrs) <= GATHER_ATTRIBUTES, attrs
            assert attrs["actionOnEmptyResult"] == "true"
            assert attrs["method"] == "POST"
            assert urlsplit(attrs["action"]).scheme == "https", attrs["action"]
            assert attrs["input"] in ("dtmf", "dtmf speech"), attrs
            assert ("numDigits" in attrs) != ("finishOnKey" in attrs), attrs
            if "numDigits" in attrs:
                assert attrs["numDigits"] == "1"
            else:
                assert attrs["finishOnKey"] == "#"
            assert 1 <= int(attrs["timeout"]) <= 30
            if "speech" in attrs["input"]:
                assert attrs["language"] in GATHER_SPEECH_LANGUAGES, attrs
                for hint in attrs.get("hints", "").split(","):
                    assert len(hint.strip()) <= 100
            else:
                assert "language" not in attrs and "hints" not in attrs
            gather = attrs
            nested = list(verb)
        else:
            nested = [verb]
        for element in nested:
            assert element.tag in ("Say", "Play", "Pause", "Hangup"), element.tag
            if element.tag == "Say":
                voice = element.attrib["voice"]
                language = element.attrib["language"]
                assert POLLY_VOICE_LANGUAGES[voice] == language, (voice, language)
                assert (element.text or "").strip(), "an empty <Say>"
                said.append((element.text or "", language))
            elif element.tag == "Play":
                assert urlsplit(element.text or "").scheme == "https"
                said.append((element.text or "", "play"))
            elif element.tag == "Hangup":
                hung_up = True
    assert (gather is None) == hung_up, "every answer either listens or hangs up"
    return Turn(said, gather, hung_up, xml)


@dataclass
class Call:
    """A phone call to the bot: every request signed as Twilio signs it."""

    client: FlaskClient
    caller: str
    call_sid: str = field(default_factory=lambda: "CA" + uuid.uuid4().hex)
    turn: Turn | None = None
    turns: list[Turn] = field(default_factory=list)

    def params(self, status: str, **extra: str) -> dict[str, str]:
        """The form Twilio posts for this call."""
        return {
            "AccountSid": SIMULATED_ACCOUNT,
            "ApiVersion": "2010-04-01",
            "CallSid": self.call_sid,
            "CallStatus": status,
            "Called": SIMULATED_BOT_NUMBER,
            "Caller": self.caller,
            "Direction": "inbound",
            "From": self.caller,
            "To": SIMULATED_BOT_NUMBER,
            **extra,
        }

    def post(self, url: str, params: dict[str, str], *, signature: str | None = None):
        """POST to an absolute URL under PUBLIC_BASE_URL, signed; returns the response."""
        settings = self.client.application.extensions["surveybot"].settings
        if signature is None:
            validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
            signature = validator.compute_signature(url, params)
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.client.post(path, data=params, headers={"X-Twilio-Signature": signature})

    def _answer(self, response) -> Turn:  # noqa: ANN001
        assert response.status_code == 200, response.data
        assert response.mimetype == "text/xml"
        self.turn = check_twiml(response.data)
        self.turns.append(self.turn)
        return self.turn

    def _base(self) -> str:
        return self.client.application.extensions["surveybot"].settings.PUBLIC_BASE_URL

    def start(self) -> Turn:
        """The call is answered."""
        url = self._base().rstrip("/") + "/twilio/voice"
        return self._answer(self.post(url, self.params("ringing")))

    def _gather(self, **extra: str) -> Turn:
        assert self.turn is not None and self.turn.gather is not None, "the bot is not listening"
        params = self.params("in-progress", **extra)
        return self._answer(self.post(self.turn.gather["action"], params))

    def press(self, keys: str) -> Turn:
        """Keys pressed on the keypad (a trailing # is consumed by Twilio, as on a call)."""
        finished = "#" if keys.endswith("#") else ""
        return self._gather(Digits=keys.rstrip("#"), FinishedOnKey=finished)

    def say(self, words: str, confidence: str = "0.91") -> Turn:
        """Words spoken, as Twilio's speech recognition hands them over."""
        return self._gather(SpeechResult=words, Confidence=confidence)

    def silence(self) -> Turn:
        """Nothing entered before the Gather timed out."""
        return self._gather()

    def hang_up(self, status: str = "completed") -> int:
        """The caller hangs up: Twilio posts the final status callback."""
        url = self._base().rstrip("/") + "/twilio/voice/status"
        params = self.params(status, CallDuration="42")
        return self.post(url, params).status_code
