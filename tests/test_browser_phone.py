"""The simulator's phone mode in a real browser: Playwright drives Debian's Chromium (headless,
never a downloaded browser) through a whole call on the keypad of a live app, through the real
signed voice routes. Screenshot in test-artifacts/phone-mode.png.
"""

from __future__ import annotations

from bot.infra import keys as redis_keys
from tests.live_server import TIMEOUT_MS, BrowserContext, Page, expect

MAX_STEPS = 20  # answers after consent; the survey has fewer questions than this

# Records what the page asks the browser to read aloud, and ends each utterance at once so
# the page's queue moves on (headless Chromium has no voices to speak with).
RECORD_SPEECH = """
(() => {
  window.__spoken = [];
  const synth = window.speechSynthesis;
  if (!synth) { return; }
  synth.speak = (utterance) => {
    window.__spoken.push({ text: utterance.text, lang: utterance.lang });
    setTimeout(() => utterance.onend && utterance.onend(new Event("end")), 0);
  };
  synth.cancel = () => {};
})();
"""
# A browser without speech synthesis at all.
NO_SPEECH = """
Object.defineProperty(window, "speechSynthesis", { value: undefined, configurable: true });
Object.defineProperty(window, "SpeechSynthesisUtterance", { value: undefined, configurable: true });
"""


def speech(app, prompt: str, lang: str = "en") -> str:  # noqa: ANN001
    """What the phone channel says for a named prompt (the voice module's own wording)."""
    from bot.core.voice_prompts import prompt_speech

    return prompt_speech(app.extensions["surveybot"].questionnaire, prompt, lang)


def open_phone(browser_context: BrowserContext, base: str, script: str) -> tuple[Page, list]:
    """The simulator in phone mode; returns the page and the script errors it raises."""
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.add_init_script(script)
    page.goto(f"{base}/simulator")
    expect(page.locator("#sim-number")).not_to_have_value("")
    expect(page.locator("#call-mode")).to_be_hidden()
    page.get_by_role("button", name="Phone", exact=True).click()
    expect(page.get_by_role("button", name="Phone", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.locator("#call-mode")).to_be_visible()
    expect(page.locator("#sim-transcript")).to_be_hidden()
    return page, errors


def bot_says(page: Page) -> list[str]:
    """The text of every bot bubble of the call, oldest first."""
    return page.locator("#call-transcript .msg-bot .bubble").all_text_contents()


def wait_for_answer(page: Page, before: int) -> list[str]:
    """Wait until the bot's next answer is shown; returns its new bubbles."""
    page.wait_for_function(
        "n => document.querySelectorAll('#call-transcript .msg-bot').length > n"
        " && document.getElementById('call-mode').dataset.state !== 'busy'",
        arg=before,
        timeout=TIMEOUT_MS,
    )
    expect(page.locator("#call-transcript .system.error")).to_have_count(0)
    return bot_says(page)[before:]


def key(page: Page, name: str) -> None:
    """Press one key of the keypad."""
    page.locator(f'#call-keypad .key[data-key="{name}"]').click()


def answer(page: Page) -> list[str]:
    """Answer what the bot waits for with the first option; returns what it says next."""
    before = page.locator("#call-transcript .msg-bot").count()
    kind = page.locator("#call-mode").get_attribute("data-gather")
    if kind == "one-key":
        key(page, "1")
    else:
        # Several answers: the keys accumulate and show until # sends them.
        assert kind == "finish-on-key", kind
        key(page, "1")
        expect(page.locator("#call-digits")).to_have_text("1")
        key(page, "3")
        expect(page.locator("#call-digits")).to_have_text("1 3")
        expect(page.locator("#call-mode")).to_have_attribute("data-state", "listening")
        key(page, "#")
        expect(page.locator("#call-transcript .msg-me .bubble").last).to_have_text("Pressed 1 3 #")
    return wait_for_answer(page, before)


def test_a_whole_call_on_the_keypad(live_app, browser_context, repo_root, redis):
    app, base = live_app
    questionnaire = app.extensions["surveybot"].questionnaire
    artifacts = repo_root / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    page, errors = open_phone(browser_context, base, RECORD_SPEECH)
    expect(page.locator("#call-keypad .key")).to_have_count(12)
    expect(page.locator('#call-keypad .key[data-key="1"]')).to_be_disabled()

    # Call: the language menu in every language, each bubble labelled with its language.
    page.get_by_role("button", name="Call").click()
    menu = wait_for_answer(page, 0)
    for lang in questionnaire.languages:
        assert speech(app, "language_prompt", lang) in menu
    labels = page.locator("#call-transcript .msg-bot .lang").all_text_contents()
    assert labels[0].startswith("en-US") and labels[1].startswith("es-US")
    assert len(set(labels)) == len(questionnaire.languages)
    expect(page.locator("#call-mode")).to_have_attribute("data-gather", "one-key")
    expect(page.locator("#call-hangup")).to_be_enabled()
    expect(page.locator("#call-start")).to_be_disabled()
    # Read aloud, each in its <Say>'s language.
    page.wait_for_function("() => window.__spoken.length >= 3")
    spoken = page.evaluate("window.__spoken")
    assert spoken[0] == {"text": menu[0], "lang": "en-US"}
    assert spoken[1] == {"text": menu[1], "lang": "es-US"}

    before = page.locator("#call-transcript .msg-bot").count()
    key(page, "1")  # English
    consent = wait_for_answer(page, before)
    assert speech(app, "message.consent") in consent
    expect(page.locator("#call-transcript .msg-me .bubble").last).to_have_text("Pressed 1")
    # The consent step also listens for speech: the say box opens.
    expect(page.locator("#call-speech")).to_be_enabled()

    replies = answer(page)  # consent: yes
    first = questionnaire.questions[0]
    assert speech(app, f"question.{first.id}") in replies
    closing = speech(app, "message.closing")
    for _ in range(MAX_STEPS):
        if page.locator("#call-mode").get_attribute("data-state") == "ended":
            break
        replies = answer(page)
    assert closing in replies
    expect(page.locator("#call-mode")).to_have_attribute("data-state", "ended")
    ended = page.locator("#call-transcript .system").last
    expect(ended).to_contain_text("The bot ended the call")
    expect(ended).to_contain_text("Status callback: HTTP 204")
    expect(page.locator("#call-status")).to_contain_text("The bot ended the call")
    expect(page.locator("#call-start")).to_be_enabled()
    expect(page.locator("#call-hangup")).to_be_disabled()
    expect(page.locator('#call-keypad .key[data-key="1"]')).to_be_disabled()
    # The page is as tall as the window (the transcript scrolls): a window-sized shot.
    page.screenshot(path=str(artifacts / "phone-mode.png"))
    assert errors == []

    # The status callback reached the route: one completed call counted.
    counted = [redis.hget(k, "completed") for k in redis.scan_iter(redis_keys.call_stats("*"))]
    assert counted == [b"1"]


def test_no_speech_synthesis_no_answer_and_hanging_up(live_app, browser_context):
    app, base = live_app
    page, errors = open_phone(browser_context, base, NO_SPEECH)
    expect(page.locator("#call-voice-note")).to_be_visible()
    page.get_by_role("button", name="Call").click()
    wait_for_answer(page, 0)
    before = page.locator("#call-transcript .msg-bot").count()
    key(page, "2")  # Spanish
    consent = wait_for_answer(page, before)
    assert speech(app, "message.consent", "es") in consent

    # No answer: Twilio posts after its timeout with nothing pressed; the bot asks again.
    before = page.locator("#call-transcript .msg-bot").count()
    page.get_by_role("button", name="No answer").click()
    expect(page.locator("#call-transcript .msg-me .bubble").last).to_have_text("(no answer)")
    assert speech(app, "message.consent", "es") in " ".join(wait_for_answer(page, before))

    # Speech input, where the bot listens for it.
    before = page.locator("#call-transcript .msg-bot").count()
    page.locator("#call-speech").fill("uno")
    page.get_by_role("button", name="Say", exact=True).click()
    expect(page.locator("#call-transcript .msg-me .bubble").last).to_have_text(
        "Said \u201cuno\u201d"
    )
    first = app.extensions["surveybot"].questionnaire.questions[0]
    assert speech(app, f"question.{first.id}", "es") in wait_for_answer(page, before)

    page.get_by_role("button", name="Hang up").click()
    expect(page.locator("#call-mode")).to_have_attribute("data-state", "ended")
    expect(page.locator("#call-transcript .system").last).to_contain_text("You hung up")
    expect(page.locator("#call-transcript .system").last).to_contain_text("HTTP 204")
    assert errors == []

    # Text mode still works beside it.
    page.get_by_role("button", name="Text", exact=True).click()
    expect(page.locator("#sim-transcript")).to_be_visible()
    expect(page.locator("#call-mode")).to_be_hidden()
