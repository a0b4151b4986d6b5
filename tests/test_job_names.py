"""The bot enqueues its jobs by name (it never imports the job shells): every name must lead
to a job in workers/, or the job would fail only once a worker picks it up."""

from __future__ import annotations

import importlib

import pytest

from bot.infra import queues

JOB_NAMES = sorted(value for name, value in vars(queues).items() if name.endswith("_JOB"))


def test_the_queue_module_names_every_kind_of_job():
    assert len(JOB_NAMES) == 9
    assert queues.STORAGE_JOBS <= set(JOB_NAMES)


@pytest.mark.parametrize("job_name", JOB_NAMES)
def test_each_job_name_is_a_function_of_the_job_shells(job_name):
    module, _, function = job_name.rpartition(".")
    assert module.startswith("workers.")
    assert callable(getattr(importlib.import_module(module), function))
