"""The traceback RQ keeps with a failed job, in Redis and so in its append-only file, names no
Redis key, pseudonym or phone number (workers/worker.py scrubs it as log lines are scrubbed)."""

from __future__ import annotations

from rq.registry import FailedJobRegistry

from bot.infra.queues import get_queue
from workers.worker import ProjectSimpleWorker

PSEUDONYM = "v1:" + "ab" * 32


def test_a_failed_jobs_stored_traceback_is_scrubbed(redis):
    queue = get_queue(redis)
    job = queue.enqueue("tests.jobs.fail_naming_a_key_and_a_number", failure_ttl=600)
    ProjectSimpleWorker([queue], connection=redis).work(burst=True)

    assert job.id in FailedJobRegistry(queue=queue).get_job_ids()
    job.refresh()
    stored = job.latest_result().exc_string
    assert "RuntimeError" in stored and "of pipeline caused error" in stored  # the reason stays
    assert "(SET ...) of pipeline" in stored
    assert "WRONGTYPE at sb:<key>" in stored and "number <number> is not" in stored
    for private in (PSEUDONYM, "ab" * 32, "cd" * 32, "305-555-0142", "+1 305"):
        assert private not in stored
    # Nowhere in Redis: not in the job's hash, its results stream or any other value.
    for key in redis.scan_iter("rq:*"):
        kind = redis.type(key)
        if kind == b"hash":
            dumped = b" ".join(b"%s=%s" % kv for kv in redis.hgetall(key).items())
        elif kind == b"stream":
            dumped = repr(redis.xrange(key)).encode()
        else:
            continue
        assert b"305-555-0142" not in dumped and PSEUDONYM.encode() not in dumped, key


def test_log_lines_name_no_phone_number(caplog):
    import logging

    from bot.infra.redaction import install_log_scrubber

    install_log_scrubber()
    caplog.set_level(logging.INFO)
    log = logging.getLogger("surveybot.test")
    log.warning("Twilio refused: %s", "The 'To' number +13055550142 is not a valid phone number")
    log.warning("sent to whatsapp:+52 55 1234 5678 at 10:00")
    assert "+1305" not in caplog.text and "5550142" not in caplog.text
    assert "1234 5678" not in caplog.text
    assert caplog.text.count("<number>") == 2 and "at 10:00" in caplog.text
