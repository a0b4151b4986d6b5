"""bench/at_rest.py runs end to end (tiny sizes): both paths complete every survey into the
storage inbox, and it prints the two figures and their ratio. No figure is asserted."""

from __future__ import annotations

import re

from bench import at_rest


def test_the_at_rest_benchmark_runs(capsys, redis_url):
    assert at_rest.main(["--surveys", "3", "--rounds", "2", "--redis-url", redis_url]) == 0
    out = capsys.readouterr().out
    assert re.search(r"baseline\s+CPU per message: +\d+\.\d us", out)
    assert re.search(r"at rest\s+CPU per message: +\d+\.\d us", out)
    assert re.search(r"ratio \(at rest / baseline\) CPU per message: \d+\.\d\d", out)
