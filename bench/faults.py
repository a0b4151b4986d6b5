"""Fault harness: complete surveys through production's processes under faults, counted.

Run:  python bench/faults.py                       (every scenario, 100 respondents each)
      python bench/faults.py --quick --scenarios baseline,redis_kill
      python bench/faults.py --database-url postgresql://postgres@127.0.0.1:5432/faults

Each scenario starts a fresh stack as the Procfile runs production (bench/procfile.py): the
`release` migration, gunicorn (`web`), two forking `surveybot worker`s and `surveybot cron`, in
production mode with real secrets and storage keys, on a redis-server of its own with AOF
(`appendfsync everysec`) and an empty PostgreSQL database: on a cluster of the run's own (initdb
and pg_ctl, so the outage scenario can stop it) or, with --database-url, on that database
(emptied; the outage scenario is then skipped). Respondents text the bot as Twilio delivers
texts, signed, and retried after a 5xx, a refused connection or a timeout as the README's
connection overrides ask (#rc=5&rp=5xx,ct,rt: 5 more attempts within 15 s); a text Twilio gives
up on is sent again by its person. Their answers identify them (bench/fault_driver.py), so
every stored row, anonymous as it is, is matched to its sender. Completed surveys reach the
database through the sealed inbox and cron's batches (BATCH_MIN_SIZE=1, BATCH_MIN_HOURS=0;
cron checks every 30 s, so up to 30 s of "converge" is that wait).

Per scenario it prints: surveys completed (the bot sent its closing text) and texts sent
(distinct MessageSids; requests with copies and retries in brackets), rows stored, lost
(completed, no row), duplicated (rows beyond one per sender), altered (a sender's row whose
answers are not the ones it gave) and foreign (rows matching no completed survey), the 5xx
answers (500, 503, others; how many answers Twilio retried, and texts it gave up on), and the
time to converge: from the fault's end (or the last completion, if later) until every completed
survey is stored. Exits 1 if anything was lost, duplicated, altered, foreign or got a 500.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python bench/faults.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fault_driver import (
    MAX_RESPONDENTS,
    Match,
    Prompts,
    Respondent,
    Tally,
    Twilio,
    match,
    plan,
    stored_rows,
)
from bench.procfile import (
    AofRedis,
    Bot,
    PostgresCluster,
    Processes,
    StackError,
    empty_database,
    production_env,
    wait_for,
)

WAVE, KEYWORD = "faults", "FAULTS"
EDITED = "years_in_us"  # the question the edit scenario removes while people wait on it
RACED = "would_report_crime"  # answered twice at the same moment in the race scenario


@dataclass
class Options:
    respondents: int
    concurrency: int
    converge_timeout: float
    db_outage: float
    redis_down: float
    memory_full: float
    kills: int
    kill_window: float
    hostile: int
    database_url: str | None


@dataclass
class Row:
    """One line of the table."""

    name: str
    tally: Tally
    match: Match
    surveys: int
    converge: float | None
    note: str = ""


@dataclass
class Run:
    """One scenario's stack, its respondents and its deliveries."""

    opts: Options
    pg: PostgresCluster | None
    name: str
    wave: str = WAVE
    keyword: str = KEYWORD
    people: list[Respondent] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)

    def start(self, waves: tuple[tuple[str, str], ...] = ((WAVE, KEYWORD),)) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"surveybot-faults-{self.name}-"))
        self.redis = AofRedis(self.workdir)
        if self.pg is not None:
            url = self.pg.create_database(f"faults_{self.name}")
        else:
            url = self.opts.database_url
            empty_database(url)
        self.env = production_env(workdir=self.workdir, redis_url=self.redis.url,
                                  database_url=url)  # fmt: skip
        self.processes = Processes(self.env, self.workdir)
        self.processes.release()
        for wave, keyword in waves:  # the first opened is the default for plain texts
            words = ["--keyword", f"en={keyword}"] if keyword else []
            self.processes.run("surveybot", "wave", "create", wave, *words,
                               "--survey", self.env["SURVEY_FILE"])  # fmt: skip
            self.processes.run("surveybot", "wave", "open", wave)
        self.processes.start_all(workers=2)
        self.bot = Bot(self.processes.base, self.env["TWILIO_AUTH_TOKEN"])
        self.prompts = Prompts(self.env["SURVEY_FILE"])

    def stop(self) -> None:
        self.processes.stop_all()
        self.redis.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def new_people(self, count: int) -> list[Respondent]:
        first = len(self.people)
        if first + count > MAX_RESPONDENTS:
            raise SystemExit(f"at most {MAX_RESPONDENTS} respondents")
        made = [Respondent(i, f"+1305555{i:04d}", plan(i, self.prompts.options))
                for i in range(first, first + count)]  # fmt: skip
        self.people.extend(made)
        return made

    def twilio(self, copies: int = 1, concurrent: bool = False) -> Twilio:
        return Twilio(self.bot, self.tally, copies=copies, concurrent=concurrent)

    def each(self, people: list[Respondent], work: Callable[[Respondent], None]) -> None:
        """Run `work` for every respondent, `concurrency` at a time."""
        with ThreadPoolExecutor(max_workers=self.opts.concurrency) as pool:
            for future in [pool.submit(work, person) for person in people]:
                future.result()

    def survey(self, people: list[Respondent], twilio: Twilio | None = None, **how) -> None:
        """Complete the surveys of `people` (start, consent, every question)."""
        twilio = twilio or self.twilio()

        def one(person: Respondent) -> None:
            if person.asked is None:
                person.start(twilio, self.prompts, self.keyword)
            person.answer(twilio, self.prompts, **how)

        self.each(people, one)
        twilio.close()

    def in_background(self, people: list[Respondent]) -> threading.Thread:
        thread = threading.Thread(target=self.survey, args=(people,), daemon=True)
        thread.start()
        return thread

    def completed(self) -> int:
        return sum(person.completed for person in self.people)

    def converge(self, fault_end: float) -> tuple[Match, float | None]:
        """Wait until every completed survey is stored (and the inbox is empty, so no late
        duplicate is missed); the match and the seconds from the fault's end (or the last
        completion) until then, None if that did not happen within the timeout."""
        from bot.records import inbox

        last = max([p.completed_at for p in self.people if p.completed_at] + [fault_end])
        deadline = last + self.opts.converge_timeout
        found, converged = Match(), None
        while time.monotonic() < deadline:
            found = match(self.people, stored_rows(self.env["DATABASE_URL"], self.wave))
            if converged is None and found.lost == 0:
                converged = time.monotonic() - last
            if converged is not None:
                with self.redis.client() as client:
                    if inbox.size(client) == 0:
                        return match(self.people, stored_rows(self.env["DATABASE_URL"],
                                                              self.wave)), converged  # fmt: skip
            time.sleep(1.0)
        return found, converged


def baseline(run: Run) -> tuple[float, str]:
    run.survey(run.new_people(run.opts.respondents))
    return time.monotonic(), ""


def sequential3(run: Run) -> tuple[float, str]:
    run.survey(run.new_people(run.opts.respondents), run.twilio(copies=3))
    return time.monotonic(), f"copies with different replies: {run.tally.unequal_copies}"


def concurrent3(run: Run) -> tuple[float, str]:
    run.survey(run.new_people(run.opts.respondents), run.twilio(copies=3, concurrent=True))
    return time.monotonic(), f"copies with different replies: {run.tally.unequal_copies}"


def race(run: Run) -> tuple[float, str]:
    run.survey(run.new_people(run.opts.respondents), race=RACED)
    return time.monotonic(), f"two answers at once to {RACED}"


def db_outage(run: Run) -> tuple[float, str]:
    if run.pg is None:
        raise Skipped("--database-url given: the harness cannot stop that server")
    run.pg.stop()
    down = time.monotonic()
    run.survey(run.new_people(run.opts.respondents))
    during = run.completed()
    time.sleep(max(0.0, down + run.opts.db_outage - time.monotonic()))
    run.pg.start()
    return time.monotonic(), (f"PostgreSQL stopped {time.monotonic() - down:.0f} s; "
                              f"{during} completed while down")  # fmt: skip


def worker_kill(run: Run) -> tuple[float, str]:
    from rq import Worker

    sending = run.in_background(run.new_people(run.opts.respondents))
    kills, jobs, last = 0, [], time.monotonic()
    deadline = time.monotonic() + run.opts.kill_window
    with run.redis.client() as client:
        while kills < run.opts.kills and time.monotonic() < deadline:
            busy = _busy_worker(run, Worker.all(connection=client))
            if busy is None:
                time.sleep(0.02)
                continue
            name, job = busy
            run.processes.kill_group(name)  # the worker, its work horse and its scheduler
            kills, last = kills + 1, time.monotonic()
            jobs.append(job)
            time.sleep(1.0)  # a process manager's restart delay
            run.processes.start(name)
    sending.join()
    return last, f"{kills} kills of a busy worker's group (jobs: {', '.join(jobs) or '-'})"


def _busy_worker(run: Run, workers) -> tuple[str, str] | None:  # noqa: ANN001
    ours = {run.processes.pid(n): n for n in run.processes.children if n.startswith("worker")}
    for worker in workers:
        if worker.get_state() == "busy" and worker.pid in ours:
            job = worker.get_current_job()
            return ours[worker.pid], job.func_name.rsplit(".", 1)[-1] if job else "?"
    return None


def _when_a_third_done(run: Run) -> None:
    wait_for("a third of the surveys", lambda: run.completed() >= len(run.people) // 3, 300,
             every=0.05)  # fmt: skip


def redis_kill(run: Run) -> tuple[float, str]:
    sending = run.in_background(run.new_people(run.opts.respondents))
    _when_a_third_done(run)
    run.redis.kill()
    killed = time.monotonic()
    time.sleep(run.opts.redis_down)
    run.redis.start()  # from its append-only file
    back = time.monotonic()
    sending.join()
    return back, f"Redis SIGKILLed, answering again {back - killed:.1f} s later (AOF)"


def memory_full(run: Run) -> tuple[float, str]:
    sending = run.in_background(run.new_people(run.opts.respondents))
    _when_a_third_done(run)
    with run.redis.client() as client:
        used = int(client.info("memory")["used_memory"])
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", str(used // 2))
        time.sleep(run.opts.memory_full)
        client.config_set("maxmemory", "0")
    freed = time.monotonic()
    sending.join()
    return freed, f"maxmemory {used // 2048} KiB (noeviction) for {run.opts.memory_full:.0f} s"


def edit(run: Run) -> tuple[float, str]:
    import yaml

    waiting = run.new_people(run.opts.respondents)
    run.survey(waiting, until=EDITED)
    on_it = sum(p.asked == EDITED for p in waiting)
    path = Path(run.env["SURVEY_FILE"])
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["questions"] = [q for q in raw["questions"] if q["id"] != EDITED]
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    before = _gunicorn_workers(run)
    os.kill(run.processes.pid("web"), signal.SIGHUP)  # gunicorn: new workers, new file
    wait_for("gunicorn's new workers", lambda: _reloaded(run, before), 60)
    reloaded = time.monotonic()
    later = run.new_people(max(1, run.opts.respondents // 2))
    run.survey(waiting + later)
    asked = sum(EDITED in p.given for p in later)
    return reloaded, (f"{on_it} waiting on {EDITED} when it was removed and gunicorn reloaded; "
                      f"{len(later)} started after ({asked} of them asked it)")  # fmt: skip


def _gunicorn_workers(run: Run) -> set[int]:
    master = run.processes.pid("web")
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            found.add(int(stat.parent.name))
    return found


def _reloaded(run: Run, before: set[int]) -> bool:
    now = _gunicorn_workers(run)
    return len(now) == int(run.env["WEB_CONCURRENCY"]) and not now & before


def hostile(run: Run) -> tuple[float, str]:
    from collections import Counter

    from bench.hostile import hostile_requests

    requests = hostile_requests(run.opts.hostile, seed=12)
    statuses: Counter = Counter()

    def post(request) -> None:  # noqa: ANN001
        status, _ = run.bot.post(request.path, request.form)
        statuses[status] += 1
        run.tally.count(status, retried=False)

    sending = run.in_background(run.new_people(run.opts.respondents))
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(post, requests))
    sending.join()
    shown = ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items()))
    return time.monotonic(), f"{len(requests)} signed hostile requests ({shown})"


class Skipped(Exception):
    """A scenario this run cannot play, with the reason."""


SCENARIOS: dict[str, Callable[[Run], tuple[float, str]]] = {
    "baseline": baseline,
    "sequential3": sequential3,
    "concurrent3": concurrent3,
    "race": race,
    "db_outage": db_outage,
    "worker_kill": worker_kill,
    "redis_kill": redis_kill,
    "edit": edit,
    "memory_full": memory_full,
    "hostile": hostile,
}
WAVES = {  # scenario -> waves to open first; the edit plays the implicit wave (none opened)
    "edit": (),
    "hostile": (("noise", ""), (WAVE, KEYWORD)),  # hostile texts go to the default, "noise"
}


def play(name: str, opts: Options, pg: PostgresCluster | None) -> Row:
    """One scenario on a fresh stack: its row of the table."""
    run = Run(opts, pg, name)
    if name == "edit":
        from bot.infra.defaults import DEFAULT_WAVE

        run.wave, run.keyword = DEFAULT_WAVE, "SURVEY"
    run.start(WAVES.get(name, ((WAVE, KEYWORD),)))
    try:
        fault_end, note = SCENARIOS[name](run)
        found, seconds = run.converge(fault_end)
    finally:
        run.stop()
    if run.tally.unexpected:
        note += "; unexpected: " + " | ".join(run.tally.unexpected)
    return Row(name, run.tally, found, run.completed(), seconds, note)


HEADER = ("scenario", "surveys", "texts (requests)", "stored", "lost", "dup", "altered",
          "foreign", "500", "503", "other 5xx", "retried", "gave up", "converge")  # fmt: skip


def cells(row: Row) -> tuple[str, ...]:
    t, m = row.tally, row.match
    other = t.server_errors - t.statuses[500] - t.statuses[503]
    seconds = "never" if row.converge is None else f"{row.converge:.1f} s"
    return (row.name, str(row.surveys), f"{t.messages} ({t.requests})", str(m.stored),
            str(m.lost), str(m.duplicated), str(m.altered), str(m.foreign),
            str(t.statuses[500]), str(t.statuses[503]), str(other),
            str(sum(t.retried.values())), str(t.gave_up), seconds)  # fmt: skip


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                       enumerate(zip(r, widths, strict=True))) for r in rows]  # fmt: skip
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def failed(row: Row) -> bool:
    m = row.match
    lost_or_worse = m.lost or m.duplicated or m.altered or m.foreign
    return bool(lost_or_worse or row.tally.statuses[500] or row.converge is None)


def options(argv: list[str] | None) -> tuple[Options, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--respondents", type=int, default=None, help="per scenario (100)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated, of: {', '.join(SCENARIOS)}")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="few respondents, short faults")
    parser.add_argument("--database-url", default=None,
                        help="an existing PostgreSQL database to use (emptied!) instead of a "
                             "cluster of the run's own; skips db_outage")  # fmt: skip
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    quick = args.quick
    opts = Options(
        respondents=args.respondents or (12 if quick else 100),
        concurrency=8 if quick else 16,
        converge_timeout=150.0 if quick else 240.0,
        db_outage=10.0 if quick else 30.0,
        redis_down=2.0 if quick else 3.0,
        memory_full=3.0 if quick else 5.0,
        kills=2 if quick else 3,
        kill_window=70.0 if quick else 100.0,
        hostile=200 if quick else 1000,
        database_url=args.database_url,
    )
    return opts, names


def main(argv: list[str] | None = None) -> int:
    opts, names = options(argv)
    pg = PostgresCluster() if opts.database_url is None else None
    rows: list[Row] = []
    skipped: list[str] = []
    started = time.monotonic()
    try:
        for name in names:
            print(f"== {name}", flush=True)
            try:
                row = play(name, opts, pg)
            except Skipped as exc:
                skipped.append(f"{name}: skipped, {exc}")
                print(skipped[-1], flush=True)
                continue
            rows.append(row)
            print(table([HEADER, cells(row)]) + ("\n  " + row.note if row.note else ""),
                  flush=True)  # fmt: skip
    except StackError as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 2
    finally:
        if pg is not None:
            pg.remove()
    print(
        f"\n{opts.respondents} respondents per scenario, {opts.concurrency} at a time; "
        f"{time.monotonic() - started:.0f} s in all\n"
    )
    print(table([HEADER, *(cells(row) for row in rows)]))
    for row in rows:
        if row.note:
            print(f"  {row.name}: {row.note}")
    for line in skipped:
        print(f"  {line}")
    bad = [row.name for row in rows if failed(row)]
    if bad:
        print(f"FAIL: lost, duplicated, altered or foreign rows, a 500, or no convergence in: "
              f"{', '.join(bad)}")  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
