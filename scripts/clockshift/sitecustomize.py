"""Run Python with its calendar moved: `CLOCK_SHIFT_DAYS=365 PYTHONPATH=scripts/clockshift ...`.

Every Python process started with this folder on PYTHONPATH (the test run and the processes it
starts: `surveybot dev`, gunicorn, workers, benchmarks) sees the wall clock moved by
CLOCK_SHIFT_DAYS days, still ticking; monotonic clocks, sleeps and timeouts are untouched. It
checks that no test depends on the day it runs (README: "The two commands"). Debian's
`faketime` cannot do this for Python 3.11: with the monotonic clock faked, thread waits hang,
and without it every time.sleep fails with EINVAL (libfaketime issue #426).
"""

import os

_days = os.environ.get("CLOCK_SHIFT_DAYS")
if _days:
    import datetime

    import time_machine

    time_machine.travel(datetime.timedelta(days=float(_days)), tick=True).start()
