"""Redis's history on disk is bounded: the hourly rewrite of its append-only file drops the
steps of ended conversations (bot/records/compaction.py)."""

from __future__ import annotations

from redis import Redis
from rq.cron import CronScheduler

from bot.records.compaction import rewrite_history
from tests.redis_server import redis_server


def on_disk(server) -> bytes:  # noqa: ANN001
    return b"".join(path.read_bytes() for path in server.persisted_files())


def test_a_rewrite_drops_what_is_no_longer_live(tmp_path):
    with redis_server(tmp_path, persistent=True) as server:
        client = Redis.from_url(server.url)
        for step in range(5):
            client.set("sb:{v1:abc}:session", f"step-{step}-of-an-ended-conversation")
        client.delete("sb:{v1:abc}:session")
        client.set("sb:kept", "still-live")
        assert b"step-3-of-an-ended-conversation" in on_disk(server)  # the history, on disk

        assert rewrite_history(client) == "append-only file rewrite started"
        server.wait_for_rewrite()
        files = on_disk(server)
        assert b"still-live" in files
        assert b"of-an-ended-conversation" not in files
        client.close()


def test_without_an_append_only_file_nothing_is_asked(tmp_path):
    with redis_server(tmp_path) as server:
        client = Redis.from_url(server.url)
        assert rewrite_history(client) == "no append-only file to rewrite (appendonly no)"
        assert server.persisted_files() == []
        client.close()


def test_cron_asks_for_a_rewrite_every_hour(redis):
    scheduler = CronScheduler(connection=redis, name="test")
    scheduler.load_config_from_file("workers.cron_config")
    jobs = {job.name: job for job in scheduler.get_jobs()}
    assert jobs["workers.compaction.compact_redis_history"].interval == 3600
