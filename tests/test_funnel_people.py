"""The funnel and the language table count people, not messages (bot/records/counted.py):
each step once per conversation, and each person in one language, the one they finished in."""

from __future__ import annotations

import pytest

from bot.infra import keys
from bot.infra.privacy import pseudonym_for
from bot.records import batches, inbox
from bot.records.counted import count_started
from bot.releases.cellkey import RECORD_KEY_SPACE
from bot.releases.funnel import raw_funnel
from tests.test_webhook import q_of, responses
from tests.utils import inbox_records, store_inbox, text

START_WORDS = {"en": "SURVEY", "es": "ENCUESTA", "ht": "SONDAJ"}
MAX_ANSWERS = 12  # more than the shipped survey asks of anyone


def finish(client, phone: str) -> list[str]:
    """Answer "1" until the survey says it is done; returns the last replies."""
    for _ in range(MAX_ANSWERS):
        replies = text(client, phone, "1")
        if not any("\n1." in reply for reply in replies):
            return replies
    pytest.fail("the survey did not end")


def counters(app, redis) -> tuple[dict[str, int], dict[str, int]]:
    """The wave's counters once the storage inbox is stored (exact, no release)."""
    store_inbox(redis, app.extensions["surveybot"].settings)
    stats = redis.hgetall(keys.wave_stats("default"))
    asked = redis.hgetall(keys.asked_stats("default"))

    def plain(raw):
        return {k.decode(): int(v) for k, v in raw.items() if not k.endswith(b"#key")}

    return plain(stats), plain(asked)


@pytest.mark.parametrize(("first", "then"), [("en", "es"), ("es", "ht"), ("ht", "en")])
def test_a_person_who_switches_language_counts_once_in_the_language_they_finished_in(
    app, client, redis, db, first, then
):
    phone = "+13055550171"
    text(client, phone, START_WORDS[first])
    text(client, phone, "1")  # consent: started in `first`
    text(client, phone, "1")  # one answer
    text(client, phone, START_WORDS[then])  # on in `then`
    finish(client, phone)
    stats, _ = counters(app, redis)
    assert stats["started"] == 1 and stats["completed"] == 1
    assert stats.get(f"started:{first}", 0) == 0
    assert stats[f"started:{then}"] == 1
    assert stats[f"completed:{then}"] == 1
    assert [r.language for r in responses(db)] == [then]
    # The funnel a release reads: one person, one language, started >= completed in each.
    funnel = raw_funnel(q_of(app), redis.hgetall(keys.wave_stats("default")), {})
    assert funnel["started_by_language"] == {
        lang: int(lang == then) for lang in q_of(app).languages
    }
    # The person moved with the key of their first count: both cell keys are as if they had
    # started in `then` (the one taken back cancels out).
    assert funnel["keys"]["started_by_language"][first] == 0


def test_the_issue_example_four_spanish_completions_are_four_spanish_starts(app, client, redis, db):
    for i in range(3):  # three people in Spanish from the start
        phone = f"+1305555020{i}"
        text(client, phone, "ENCUESTA")
        text(client, phone, "1")
        finish(client, phone)
    switcher = "+13055550209"  # one who began in English and switched
    text(client, switcher, "SURVEY")
    text(client, switcher, "1")
    text(client, switcher, "ENCUESTA")
    finish(client, switcher)
    stats, _ = counters(app, redis)
    assert (stats["started:es"], stats["completed:es"]) == (4, 4)
    assert stats.get("started:en", 0) == 0
    assert sorted(r.language for r in responses(db)) == ["es"] * 4


def test_a_person_who_switches_and_stops_counts_where_they_started(app, client, redis):
    phone = "+13055550172"
    text(client, phone, "SURVEY")
    text(client, phone, "1")
    text(client, phone, "ENCUESTA")
    text(client, phone, "1")
    stats, _ = counters(app, redis)  # never completed: the language they started in
    assert (stats["started:en"], stats.get("started:es", 0)) == (1, 0)


def test_restart_and_start_count_nothing_again(app, client, redis):
    phone = "+13055550173"
    text(client, phone, "SURVEY")
    text(client, phone, "1")
    text(client, phone, "1")
    text(client, phone, "1")
    _, reached_before = counters(app, redis)
    text(client, phone, "RESTART")
    text(client, phone, "1")
    text(client, phone, "1")
    text(client, phone, "START")
    text(client, phone, "SURVEY")  # the start keyword again, mid-conversation
    text(client, phone, "REINICIAR")  # RESTART in Spanish
    text(client, phone, "1")
    stats, reached = counters(app, redis)
    assert stats["started"] == 1 and stats["started:en"] == 1
    assert stats["restarted"] == 2
    assert reached == reached_before
    assert all(n == 1 for n in reached.values())
    finish(client, phone)
    stats, reached = counters(app, redis)
    assert (stats["started"], stats["completed"], stats["completed:en"]) == (1, 1, 1)
    assert all(n == 1 for n in reached.values())


def test_stop_ends_the_conversation_so_a_start_after_it_is_a_new_one(app, client, redis):
    # Nothing of a conversation is kept after STOP (the privacy model), so nothing can say the
    # person was counted: their new conversation after START counts again.
    phone = "+13055550174"
    text(client, phone, "SURVEY")
    text(client, phone, "1")
    text(client, phone, "STOP")
    assert not redis.exists(
        keys.session(pseudonym_for(app.extensions["surveybot"].settings, phone))
    )
    text(client, phone, "START")
    text(client, phone, "1")
    text(client, phone, "1")
    stats, _ = counters(app, redis)
    assert stats["started"] == 2


def test_a_start_is_counted_once_per_conversation_whatever_the_engine_says(app, redis):
    # The markers decide, not the number of STARTED events: a second one in the same
    # conversation (as a future path through the engine might emit) counts nothing.
    settings = app.extensions["surveybot"].settings
    with redis.pipeline() as pipe:
        pipe.multi()
        counted = count_started(pipe, settings.storage_public_key, "default", "en", "2026-W47", {})
        again = count_started(
            pipe, settings.storage_public_key, "default", "es", "2026-W47", counted
        )
        pipe.execute()
    assert again == counted and counted["lang"] == "en"
    assert 0 <= counted["k"] < RECORD_KEY_SPACE
    fields = sorted(r["field"] for r in inbox_records(redis, settings, inbox.COUNT))
    assert fields == ["started", "started:2026-W47", "started:en"]


def test_a_count_taken_back_is_applied_once_and_cancels_its_key(app, redis):
    settings = app.extensions["surveybot"].settings
    public = settings.storage_public_key
    key = inbox.put_count(redis, public, "default", "started:en")
    inbox.put_count(redis, public, "default", "started:en", key=key, undo=True)
    inbox.put_count(redis, public, "default", "started:es", key=key)
    records = inbox_records(redis, settings, inbox.COUNT)
    assert sorted(r.get("n", 1) for r in records) == [-1, 1, 1]
    assert all("wave" in r and "field" in r and "k" in r for r in records)
    result = batches.store_batch(settings, redis, force=True)
    assert result.status == "stored"
    stats = redis.hgetall(keys.wave_stats("default"))
    assert int(stats[b"started:en"]) == 0
    assert int(stats[b"started:en#key"]) % RECORD_KEY_SPACE == 0
    assert (int(stats[b"started:es"]), int(stats[b"started:es#key"])) == (1, key)
    batches.store_batch(settings, redis, force=True)  # nothing left: nothing applied twice
    assert redis.hgetall(keys.wave_stats("default")) == stats
