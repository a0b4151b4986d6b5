"""End to end in a real browser: Playwright drives Debian's Chromium (headless, never a
downloaded browser) through the dashboard and the phone simulator of a live app.

Sign in, create and open a wave, take the survey through /simulator, see the response on the
wave's page (screenshot in test-artifacts/), close the wave and download its aggregate CSV.
"""

from __future__ import annotations

import csv
import io
import re

import pytest

from bot.channels.simulator import IGNORED_NOTICE, OPTED_IN_NOTICE, OPTED_OUT_NOTICE
from tests.dashboard_utils import PASSWORD, make_user
from tests.live_server import TIMEOUT_MS, Page, expect
from tests.utils import run_jobs

MAX_STEPS = 20  # texts after consent; the survey has fewer questions than this
WAVE = "browser-test"
EMAIL = "organizer@example.org"
CSV_HEADER = ["table", "group", "option", "count", "suppressed"]


def bot_texts(page: Page) -> list[str]:
    """The text of every bot bubble in the simulator's transcript, oldest first."""
    return page.locator("#sim-transcript .msg-bot .bubble").all_text_contents()


def text_bot(page: Page, body: str) -> list[str]:
    """Type one text into the simulator and send it; returns the bot's new bubbles."""
    before = page.locator("#sim-transcript .msg-bot").count()
    mine = page.locator("#sim-transcript .msg-me").count()
    page.locator("#sim-text").fill(body)
    page.locator("#sim-send").click()
    expect(page.locator("#sim-transcript .msg-me")).to_have_count(mine + 1)
    # Replies of one text are added together, once the webhook has answered.
    page.wait_for_function(
        "n => document.querySelectorAll('#sim-transcript .msg-bot').length > n",
        arg=before,
        timeout=TIMEOUT_MS,
    )
    expect(page.locator("#sim-transcript .system.error")).to_have_count(0)
    return bot_texts(page)[before:]


def take_survey(page: Page, questionnaire, keyword: str) -> int:  # noqa: ANN001
    """Answer the whole survey in English through the simulator; returns the texts sent."""
    consent = questionnaire.message("consent", "en")
    closing = questionnaire.message("closing", "en")
    first_question = questionnaire.questions[0].text["en"].strip()
    assert consent in "\n".join(text_bot(page, keyword))
    replies = text_bot(page, "1")  # consent: yes
    assert first_question in "\n".join(replies)
    for step in range(MAX_STEPS):
        if closing in "\n".join(replies):
            return step + 2
        replies = text_bot(page, "1")
    pytest.fail(f"no closing message after {MAX_STEPS} answers; last replies: {replies}")


def progress_tile(page: Page, label: str) -> str:
    """The value shown in one of the wave page's progress tiles."""
    tile = page.locator(".tile").filter(has=page.locator(".tile-label", has_text=label)).first
    return tile.locator(".tile-value").inner_text().strip()


def test_wave_from_sign_in_to_aggregate_csv(live_app, browser_context, repo_root, tmp_path):
    app, base = live_app
    state = app.extensions["surveybot"]
    minimum = state.settings.SMALL_CELL_MIN
    make_user(app, EMAIL, "organizer")
    artifacts = repo_root / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    dashboard = browser_context.new_page()

    # Sign in: the dashboard sends us to the form, then back.
    dashboard.goto(f"{base}/dashboard")
    expect(dashboard).to_have_url(re.compile(r"/dashboard/sign-in\?next="))
    dashboard.get_by_label("Email").fill(EMAIL)
    dashboard.get_by_label("Password").fill(PASSWORD)
    dashboard.get_by_role("button", name="Sign in").click()
    expect(dashboard.get_by_role("heading", name="Survey waves")).to_be_visible()
    expect(dashboard.get_by_text(EMAIL)).to_be_visible()

    # Create a draft wave with the form, then open it.
    dashboard.get_by_label("Name").fill(WAVE)
    dashboard.get_by_label("Title").fill("Browser test wave")
    dashboard.get_by_role("button", name="Create draft wave").click()
    expect(dashboard).to_have_url(f"{base}/dashboard/waves/{WAVE}")
    expect(dashboard.get_by_role("heading", name="Browser test wave")).to_be_visible()
    expect(dashboard.locator(".meta .status")).to_have_text("draft")
    dashboard.get_by_role("button", name="Open the wave").click()
    expect(dashboard.get_by_text(f"Wave {WAVE} is open.")).to_be_visible()
    expect(dashboard.locator(".meta .status")).to_have_text("open")
    no_release = dashboard.get_by_text("No release yet", exact=False)
    expect(no_release).to_be_visible()

    # Take the whole survey on the simulated phone, with the wave's start keyword.
    phone = browser_context.new_page()
    phone.goto(f"{base}/simulator")
    expect(phone.locator("#sim-number")).not_to_have_value("")
    keyword = state.questionnaire.start_keywords["en"][0].upper()  # SURVEY
    sent = take_survey(phone, state.questionnaire, keyword)
    assert sent >= 2 + len(state.questionnaire.questions) // 2
    phone.close()

    # The worker stores the response and refreshes the aggregates.
    run_jobs(app)
    dashboard.reload()
    expect(dashboard.locator(".meta .status")).to_have_text("open")
    # Stored, but not released: the page has not moved (figures are never live).
    expect(no_release).to_be_visible()
    from bot.releases.releases import make_release

    make_release(state.settings, state.redis, WAVE, min_new=1)
    dashboard.reload()
    # One completion is under the small-cell minimum: the released Completed tile says the
    # count is hidden, and the answer charts replace the "no release yet" note.
    assert progress_tile(dashboard, "Completed") == "not shown"
    expect(no_release).to_have_count(0)
    expect(dashboard.locator("figure.chart").first).to_be_visible()
    dashboard.screenshot(path=str(artifacts / "wave-page.png"), full_page=True)

    # Close the wave (the form asks for a ticked confirmation).
    dashboard.get_by_label("I understand that a closed wave").check()
    dashboard.get_by_role("button", name="Close the wave").click()
    expect(dashboard.get_by_text(f"Wave {WAVE} is closed.")).to_be_visible()
    expect(dashboard.locator(".meta .status")).to_have_text("closed")
    expect(dashboard.get_by_role("button", name="Close the wave")).to_have_count(0)

    # Download the aggregate CSV through its link.
    with dashboard.expect_download() as download_info:
        dashboard.get_by_role("link", name="Aggregates (CSV)").click()
    download = download_info.value
    assert download.suggested_filename == f"{WAVE}-aggregates.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    dashboard.close()

    rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert rows[0] == CSV_HEADER
    body = [dict(zip(CSV_HEADER, row, strict=True)) for row in rows[1:]]
    summary = {row["option"]: row for row in body if row["table"] == "summary"}
    assert set(summary) == {"started", "completed"}
    # The one completion is suppressed: empty and flagged, never a number.
    assert summary["completed"]["count"] == ""
    assert summary["completed"]["suppressed"] == "yes"
    questions = {q.id for q in state.questionnaire.questions}
    assert questions & {row["table"] for row in body}, body
    for row in body:
        if row["count"] == "":
            assert row["suppressed"] == "yes", row
        else:
            assert row["suppressed"] == "no", row
            assert not 1 <= int(row["count"]) < minimum, row


def test_stop_and_start_show_what_twilio_would_say(live_app, browser_context):
    """STOP, texts while opted out, and START each get a system line (not a bot bubble)."""
    app, base = live_app
    opted_in = app.extensions["surveybot"].questionnaire.message("opted_in", "en")
    page = browser_context.new_page()
    page.goto(f"{base}/simulator")
    expect(page.locator("#sim-number")).not_to_have_value("")
    text_bot(page, "SURVEY")
    bot_bubbles = page.locator("#sim-transcript .msg-bot")
    bots = bot_bubbles.count()
    notices = page.locator("#sim-transcript .system.notice")

    page.locator('.keyword[data-body="STOP"]').click()
    expect(notices).to_have_count(1)
    expect(notices.last).to_have_text(OPTED_OUT_NOTICE)
    expect(page.locator("#sim-transcript .msg-me .bubble").last).to_have_text("STOP")

    page.locator("#sim-text").fill("1")
    page.locator("#sim-send").click()
    expect(notices).to_have_count(2)
    expect(notices.last).to_have_text(IGNORED_NOTICE)
    assert bot_bubbles.count() == bots  # the bot said nothing to either

    page.locator('.keyword[data-body="START"]').click()
    expect(notices).to_have_count(3)
    expect(notices.last).to_have_text(OPTED_IN_NOTICE)
    expect(bot_bubbles).to_have_count(bots + 2)  # the bot's opt-in text, the language menu
    expect(bot_bubbles.nth(bots)).to_contain_text(opted_in.splitlines()[0])
    # The notice comes first, then the bot's replies; none of it is an error.
    assert notices.last.evaluate("n => n.nextElementSibling.classList.contains('msg-bot')")
    expect(page.locator("#sim-transcript .system.error")).to_have_count(0)
