"""`surveybot sim`: text (or call) the bot from a terminal, through its simulator and signed
webhooks.

The same chat as the /simulator page, with the standard library only: each line typed is
POSTed to `/simulator/api/send` of a running bot (e.g. `surveybot dev`), and the bot's texts
sent on its own (`/simulator/api/outbox`) are printed before each prompt. The number travels
in the JSON bodies only, never in a URL (request logs keep URLs). With `--whatsapp` each line
goes as a WhatsApp message, and a question with quick-reply buttons shows them as numbered
choices: typing a button's number taps it. With `--phone` it
calls instead: each step goes through `/simulator/api/call` to the real voice routes, what the
bot says is printed, and the keys typed answer it. Numbers are made up in the fictional
555-0100..555-0199 range; nothing goes to a real phone.
"""

from __future__ import annotations

import json
import random
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

# Area codes of places the coalition works; 555-0100..555-0199 is reserved for fiction.
AREA_CODES = ("305", "786", "954", "561", "407", "813", "239", "772")
BOT_PREFIX = "bot> "
UNPROMPTED_NOTE = "(sent by the bot)"
NOTICE_PREFIX = "-- "  # a system line: what Twilio, not the bot, would tell the phone
PROMPT = "you> "
QUIT_COMMANDS = frozenset({"/quit", "/exit"})
PICTURE_COMMAND = "/picture"
SEND_TIMEOUT = 30.0
OUTBOX_TIMEOUT = 10.0
KEYS_PROMPT = "keys> "
SAY_COMMAND = "/say"
HANGUP_COMMANDS = frozenset({"/hangup", *QUIT_COMMANDS})
_KEYS = re.compile(r"^[0-9*#]+$")

_US_NUMBER = re.compile(r"^\+1(\d{3})(\d{3})(\d{4})$")


class BotUnreachable(Exception):
    """The bot's web server could not be reached at all."""


class SimulatorOff(Exception):
    """The server answered, but it has no simulator (404)."""


def make_up_number(rng: random.Random | None = None) -> str:
    """A made-up US number in E.164, in the fictional 555-0100..555-0199 range."""
    rng = rng or random.SystemRandom()
    return f"+1{rng.choice(AREA_CODES)}55501{rng.randrange(100):02d}"


def pretty_number(number: str) -> str:
    """A US E.164 number as +1 (305) 555-0142; any other number unchanged."""
    match = _US_NUMBER.match(number)
    return f"+1 ({match[1]}) {match[2]}-{match[3]}" if match else number


def format_reply(text: str, note: str = "") -> str:
    """One bot text for the terminal: prefixed with "bot> ", further lines indented under it."""
    lines = text.splitlines() or [""]
    first = f"{BOT_PREFIX}{note} {lines[0]}" if note else f"{BOT_PREFIX}{lines[0]}"
    indent = " " * len(BOT_PREFIX)
    return "\n".join([first.rstrip(), *(f"{indent}{line}".rstrip() for line in lines[1:])])


def format_replies(replies: list[str]) -> str:
    """All the replies to one text, or a note that the bot sent none."""
    if not replies:
        return f"{BOT_PREFIX}(no reply)"
    return "\n".join(format_reply(reply) for reply in replies)


def format_notices(notices: list[str]) -> str:
    """System lines (an opt-out, an opt-in, an ignored text), each prefixed with "-- "."""
    return "\n".join(f"{NOTICE_PREFIX}{notice}" for notice in notices)


def format_buttons(buttons: list[dict[str, str]]) -> str:
    """WhatsApp quick-reply buttons as numbered choices under the bot's last text."""
    indent = " " * len(BOT_PREFIX)
    lines = [f"{indent}[{n}] {b.get('title', '')}" for n, b in enumerate(buttons, start=1)]
    return "\n".join([f"{indent}(WhatsApp buttons: type a number to tap one)", *lines])


def tapped(text: str, buttons: list[dict[str, str]]) -> dict[str, str] | None:
    """The button a typed line taps (its number among `buttons`), or None: sent as text."""
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= len(buttons):
        return None
    return buttons[int(text) - 1]


def format_outbox(messages: list[str]) -> str:
    """Texts the bot sent on its own, each marked as such (empty string if none)."""
    return "\n".join(format_reply(message, UNPROMPTED_NOTE) for message in messages)


def banner(url: str, number: str, *, whatsapp: bool = False) -> str:
    """What the terminal shows first: where it texts, as whom, and how to quit."""
    how = "WhatsApp messages" if whatsapp else "texts"
    return "\n".join(
        [
            f"surveybot simulator at {url} ({how} go through the real signed webhook;",
            "nothing goes to a real phone).",
            f"Your made-up number: {pretty_number(number)}  ({number})",
            'Type a text and press Enter (e.g. "hola", or SURVEY to start in English).',
            f"{PICTURE_COMMAND} sends a picture without text. Quit with Ctrl-D or /quit.",
            *(["On WhatsApp: buttons show as [1] [2] [3]; type a number to tap one."] * whatsapp),
        ]
    )


def _http_json(url: str, payload: dict[str, Any], timeout: float) -> tuple[int, Any]:
    """POST `payload` as JSON (every simulator call is a POST: the number stays out of URLs)
    and return (HTTP status, decoded JSON or None)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode("utf-8"),
        method="POST",
        headers={"Accept": "application/json", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise BotUnreachable(str(getattr(exc, "reason", exc))) from exc
    if status == 404:
        raise SimulatorOff(url)
    try:
        return status, json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return status, None


def send_text(
    url: str,
    sender: str,
    body: str,
    *,
    media: bool = False,
    whatsapp: bool = False,
    button: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """Text the bot as `sender` (on WhatsApp: a message, or a tap of `button`); returns (HTTP
    status, the simulator's JSON answer)."""
    payload: dict[str, Any] = {"from": sender, "body": body, "media": media, "whatsapp": whatsapp}
    if button is not None:
        payload["button"] = button
    return _http_json(f"{url}/simulator/api/send", payload, SEND_TIMEOUT)


def fetch_outbox(url: str, sender: str) -> list[str]:
    """Pop the texts the bot sent to `sender` on its own, oldest first."""
    status, data = _http_json(f"{url}/simulator/api/outbox", {"from": sender}, OUTBOX_TIMEOUT)
    if status != 200 or not isinstance(data, dict):
        return []
    return [str(message) for message in data.get("messages") or []]


def describe_failure(status: int, data: Any) -> str:
    """A one-line explanation of a failed send."""
    text = f"error: the simulator answered HTTP {status}"
    if isinstance(data, dict):
        webhook = data.get("status")
        if isinstance(webhook, int) and webhook != 200:
            text += f" (the webhook answered {webhook})"
        elif data.get("error"):
            text += f" ({data['error']})"
    return text


def _chat(url: str, number: str, whatsapp: bool = False) -> None:
    """The read-send-print loop; returns on EOF or /quit."""
    buttons: list[dict[str, str]] = []  # on WhatsApp: those under the bot's last text
    while True:
        outbox = fetch_outbox(url, number)
        if outbox:
            print(format_outbox(outbox), flush=True)
        line = input(PROMPT)
        text = line.strip()
        if text.lower() in QUIT_COMMANDS:
            return
        if not text:
            continue
        media = text.lower() == PICTURE_COMMAND
        button = tapped(text, buttons)
        if button is not None:
            print(f"(tapped [{text}] {button.get('title', '')})", flush=True)
        body = "" if media else (button or {}).get("title", line)
        status, data = send_text(url, number, body, media=media, whatsapp=whatsapp, button=button)
        buttons = []
        if status == 200 and isinstance(data, dict) and data.get("status") == 200:
            notices = [str(notice) for notice in data.get("notices") or []]
            if notices:
                print(format_notices(notices), flush=True)
            replies = [str(r) for r in data.get("replies") or []]
            if replies or not notices:  # a notice already says why the bot is silent
                print(format_replies(replies), flush=True)
            buttons = [b for b in data.get("buttons") or [] if isinstance(b, dict)]
            if buttons:
                print(format_buttons(buttons), flush=True)
        else:
            print(describe_failure(status, data), flush=True)


def _session(url: str, intro: str, talk: Callable[[], None]) -> None:
    """Print the banner, run one text thread or call, and turn a failure into one clear line."""
    print(intro, flush=True)
    try:
        talk()
    except (EOFError, KeyboardInterrupt):
        print()
    except BotUnreachable as exc:
        why = f"cannot reach the bot ({exc}): is `surveybot dev` running at {url}?"
        print(f"error: {why}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    except SimulatorOff:
        print(
            f"error: {url} has no simulator (404): it is on only with SURVEYBOT_ENV=development "
            "or SIMULATOR_ENABLED=1; is `surveybot dev` running there?",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(1) from None
    print("bye", flush=True)


def run_terminal_sim(url: str, sender: str | None, *, whatsapp: bool = False) -> None:
    """Chat with a running bot from this terminal (by text, or on WhatsApp) until Ctrl-D,
    Ctrl-C or /quit."""
    url = url.rstrip("/")
    number = sender or make_up_number()
    intro = banner(url, number, whatsapp=whatsapp)
    _session(url, intro, lambda: _chat(url, number, whatsapp))


# ------------------------------------------------------------------------------- phone calls


def format_prompt(prompt: dict[str, Any]) -> str:
    """One thing the bot says on a call, labelled with its language (or as a recording)."""
    label = "recording" if prompt.get("audio") else (prompt.get("language") or "?")
    return format_reply(str(prompt.get("text") or ""), f"[{label}]")


def gather_hint(gather: dict[str, Any] | None) -> str:
    """How to answer what the bot listens for, in a line."""
    if not gather:
        return ""
    if gather.get("numDigits") == 1:
        how = "press one key (0-9, * or #) and Enter"
    else:
        how = f"type the keys and Enter (Enter is {gather.get('finishOnKey') or '#'})"
    if "speech" in str(gather.get("input") or ""):
        how += f", or {SAY_COMMAND} WORDS"
    return f"({how}; Enter alone: no answer; /hangup)"


def call_banner(url: str, number: str) -> str:
    """What the terminal shows first in phone mode."""
    return "\n".join(
        [
            f"surveybot simulator at {url}: calling the bot (through the real signed voice",
            "webhooks; nothing goes to a real phone).",
            f"Your made-up number: {pretty_number(number)}  ({number})",
            "Answer with keys (1, 2, ... * #), /say WORDS where the bot listens for speech,",
            "Enter alone to let it time out. Hang up with /hangup, Ctrl-D or Ctrl-C.",
        ]
    )


def call_step(url: str, payload: dict[str, Any]) -> tuple[int, Any]:
    """One step of a simulated call; returns (HTTP status, the simulator's JSON answer)."""
    return _http_json(f"{url}/simulator/api/call", payload, SEND_TIMEOUT)


def describe_call_end(data: dict[str, Any], why: str) -> str:
    """The line that says the call ended, and what the status callback got."""
    callback = data.get("status_callback")
    return f"-- {why}" + (f" (status callback: HTTP {callback})" if callback else "")


def next_payload(line: str, answer: dict[str, Any]) -> dict[str, Any] | None:
    """The simulator request for one line typed during a call (None: the line means nothing)."""
    gather = answer.get("gather") or {}
    text = line.strip()
    if text.lower() in HANGUP_COMMANDS:
        return {"action": "hangup"}
    if text.lower().startswith(SAY_COMMAND + " ") and "speech" in str(gather.get("input")):
        return {"action": "say", "url": gather["action"], "speech": text[len(SAY_COMMAND) :]}
    if not text:
        # Twilio's timeout: the action gets no Digits, or the call goes on after the <Gather>.
        if gather.get("actionOnEmptyResult"):
            return {"action": "press", "url": gather["action"], "digits": ""}
        if answer.get("redirect"):
            return {"action": "press", "url": answer["redirect"], "digits": ""}
        return {"action": "hangup"}
    keys = text.replace(" ", "")
    if not _KEYS.match(keys):
        return None
    finish = str(gather.get("finishOnKey") or "")
    if gather.get("numDigits") == 1:
        key = keys[0]
        if finish and key in finish:
            return {
                "action": "press",
                "url": gather["action"],
                "digits": "",
                "finished_on_key": key,
            }
        return {"action": "press", "url": gather["action"], "digits": key}
    digits = keys.split(finish[0])[0] if finish else keys
    return {
        "action": "press",
        "url": gather["action"],
        "digits": digits,
        "finished_on_key": finish[:1],
    }


def _call(url: str, number: str) -> None:
    """Call the bot and answer it until the call ends."""
    status, data = call_step(url, {"from": number, "action": "start"})
    call_sid = data.get("call_sid") if isinstance(data, dict) else None
    try:
        while True:
            if status != 200 or not isinstance(data, dict):
                print(describe_failure(status, data), flush=True)
                return
            for prompt in data.get("prompts") or []:
                print(format_prompt(prompt), flush=True)
            if data.get("ended"):
                print(describe_call_end(data, "the bot ended the call"), flush=True)
                return
            print(gather_hint(data.get("gather")), flush=True)
            payload = None
            while payload is None:
                payload = next_payload(input(KEYS_PROMPT), data)
                if payload is None:
                    print("(keys are 0-9, * and #)", flush=True)
            if payload["action"] == "hangup":
                break
            payload.update({"from": number, "call_sid": call_sid})
            status, data = call_step(url, payload)
    except (EOFError, KeyboardInterrupt):
        print()
    _, data = call_step(url, {"from": number, "action": "hangup", "call_sid": call_sid})
    print(describe_call_end(data if isinstance(data, dict) else {}, "you hung up"), flush=True)


def run_terminal_call(url: str, sender: str | None) -> None:
    """Call a running bot from this terminal and answer on the keyboard until the call ends."""
    url = url.rstrip("/")
    number = sender or make_up_number()
    _session(url, call_banner(url, number), lambda: _call(url, number))
