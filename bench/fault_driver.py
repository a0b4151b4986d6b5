"""Respondents for the fault harness (bench/faults.py): signed texts delivered as Twilio
delivers them (once, several times, retried after a 5xx), answers that identify their sender,
and the stored rows matched back to the senders.

Every respondent answers from a plan drawn from its index: the answers to `status`,
`afraid_to_seek_help` (with `fear_reasons`) and `knows_deported` differ between any two
respondents (816 combinations), so each anonymous stored row names its sender. `years_in_us`
(which the edit scenario removes) and `would_report_crime` (which the race scenario answers
twice at once) are answered too but identify nobody. A respondent answers whatever question the
bot asks (it reads the prompt), so an edited questionnaire is followed as a person would.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bench.procfile import Bot, replies

SKIP = "-"  # a skipped question, in plans and stored answers alike
IDENTITY = ("status", "afraid_to_seek_help", "fear_reasons", "knows_deported")
FEAR_SUBSETS = [
    frozenset(c) for n in range(1, 6) for c in itertools.combinations(range(1, 6), n)
]  # 31 non-empty choices of the 5 reasons
AFRAID = [("yes", s) for s in FEAR_SUBSETS] + [("yes", None), ("no", None), (None, None)]
MAX_RESPONDENTS = 6 * len(AFRAID) * 4
# Twilio's retries with the README's connection overrides (#rc=5&rp=5xx,ct,rt): up to 5 more
# attempts, all within its 15 s total (`tt`). The pauses are ours: Twilio does not publish them.
RETRY_PAUSES = (0.5, 1.0, 2.0, 3.0, 4.0)
TOTAL_LIMIT = 15.0
RESEND_PAUSE = 3.0  # a person whose text was given up on sends it again after a while
MAX_RESENDS = 20


def plan(index: int, options: dict[str, list[str]]) -> dict[str, tuple[str, object]]:
    """Respondent `index`'s answers: question id -> (the text it replies, the stored value:
    an option id, a frozenset of option ids for a multi question, or SKIP)."""
    if not 0 <= index < MAX_RESPONDENTS:
        raise ValueError(f"at most {MAX_RESPONDENTS} respondents can be told apart")

    def choice(question: str, n: int | None) -> tuple[str, object]:
        if n is None:
            return "SKIP", SKIP
        return str(n), options[question][n - 1]

    status, rest = index % 6, index // 6
    afraid, fear = AFRAID[rest % len(AFRAID)]
    knows = rest // len(AFRAID) % 4
    answers = {
        "status": choice("status", status + 1 if status < 5 else None),
        "years_in_us": choice("years_in_us", index % 3 + 1),
        "afraid_to_seek_help": choice(
            "afraid_to_seek_help", None if afraid is None else (1 if afraid == "yes" else 2)
        ),
        "knows_deported": choice("knows_deported", knows + 1 if knows < 3 else None),
        "would_report_crime": choice("would_report_crime", index // 7 % 3 + 1),
    }
    if afraid == "yes":
        if fear is None:
            answers["fear_reasons"] = ("SKIP", SKIP)
        else:
            names = options["fear_reasons"]
            answers["fear_reasons"] = (
                " ".join(str(n) for n in sorted(fear)),
                frozenset(names[n - 1] for n in fear),
            )
    return answers


def identity(answers: dict[str, object]) -> tuple:
    """What tells respondents apart, from planned or stored answers."""
    return tuple(answers.get(q) for q in IDENTITY)


@dataclass
class Tally:
    """What the deliveries got, shared by every thread of a scenario."""

    statuses: Counter = field(default_factory=Counter)  # final status of each attempt
    retried: Counter = field(default_factory=Counter)  # 5xx answers that Twilio retried
    messages: int = 0  # distinct texts (MessageSids)
    requests: int = 0  # HTTP requests, copies and retries included
    gave_up: int = 0  # texts Twilio stopped retrying (the person sent them again)
    unequal_copies: int = 0  # copies of one text that got different replies
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, status: int, retried: bool) -> None:
        with self.lock:
            self.requests += 1
            self.statuses[status] += 1
            if retried:
                self.retried[status] += 1

    def note(self, what: str) -> None:
        with self.lock:
            if len(self.unexpected) < 5:
                self.unexpected.append(what)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


class Twilio:
    """Delivers texts to the bot as Twilio would: signed, retried after a 5xx, a refused
    connection or a timeout (the README's connection overrides), `copies` times each."""

    def __init__(self, bot: Bot, tally: Tally, *, copies: int = 1, concurrent: bool = False):
        self.bot, self.tally = bot, tally
        self.copies, self.concurrent = copies, concurrent
        self.pool = ThreadPoolExecutor(max_workers=64) if concurrent else None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()

    def attempt(self, params: dict[str, str]) -> tuple[int, bytes] | None:
        """One delivery with Twilio's retries; (status, body), or None when Twilio gives up."""
        started = time.monotonic()
        for pause in (*RETRY_PAUSES, None):
            try:
                status, body = self.bot.post("/twilio/sms", params, timeout=TOTAL_LIMIT)
            except OSError:
                status, body = 0, b""  # refused or timed out: ct / rt
            retry = (status >= 500 or status == 0) and pause is not None
            retry = retry and time.monotonic() - started + pause < TOTAL_LIMIT
            self.tally.count(status, retry)
            if status == 200:
                return status, body
            if not retry:
                return None if status >= 500 or status == 0 else (status, body)
            time.sleep(pause)
        return None

    def deliver(self, sender: str, body: str) -> list[str]:
        """The bot's replies to one text; sent again as a new text if Twilio gave up."""
        for _ in range(MAX_RESENDS):
            params = Bot.form(sender, body, "SM" + secrets.token_hex(16))
            with self.tally.lock:
                self.tally.messages += 1
            results = self._copies(params)
            answered = [r for r in results if r is not None]
            if not answered:
                with self.tally.lock:
                    self.tally.gave_up += 1
                time.sleep(RESEND_PAUSE)
                continue
            if any(r != answered[0] for r in answered):
                with self.tally.lock:
                    self.tally.unequal_copies += 1
            status, content = answered[0]
            if status != 200:
                self.tally.note(f"{status} to {body!r}: {content[:120]!r}")
                return []
            return replies(content)
        raise RuntimeError(f"a text was given up on {MAX_RESENDS} times")

    def _copies(self, params: dict[str, str]) -> list[tuple[int, bytes] | None]:
        if self.copies == 1:
            return [self.attempt(params)]
        if self.pool is None:
            return [self.attempt(params) for _ in range(self.copies)]
        return list(self.pool.map(self.attempt, [params] * self.copies))


class Prompts:
    """Tells which question a reply asks, or whether it closes the survey."""

    def __init__(self, questionnaire_path) -> None:  # noqa: ANN001
        from bot.core.questionnaire import load_questionnaire
        from bot.core.render import render_question

        q = load_questionnaire(questionnaire_path)
        self.texts = {render_question(question, "en"): question.id for question in q.questions}
        self.closing = q.message("closing", "en")
        self.options = {question.id: [o.id for o in question.options] for question in q.questions}

    def which(self, reply: list[str]) -> str | None:
        """The question id a reply asks, "closing" when it ends the survey, else None."""
        for text in reversed(reply):
            if text in self.texts:
                return self.texts[text]
            if text.startswith(self.closing[:40]):
                return "closing"
        return None


@dataclass
class Respondent:
    """One person answering from a plan; what the bot asked is what it answered."""

    index: int
    sender: str
    plan: dict[str, tuple[str, object]]
    asked: str | None = None  # the question the last reply asked ("closing" when done)
    given: dict[str, object] = field(default_factory=dict)  # what it answered, by question
    either: dict[str, set] = field(default_factory=dict)  # a question answered twice at once
    completed_at: float | None = None

    def start(self, twilio: Twilio, prompts: Prompts, keyword: str) -> None:
        """The keyword, then consent: the first question."""
        self.asked = prompts.which(twilio.deliver(self.sender, keyword))
        if self.asked is None:  # the consent text
            self._take(twilio.deliver(self.sender, "1"), prompts)

    def answer(self, twilio: Twilio, prompts: Prompts, *, until: str | None = None,
               race: str | None = None) -> None:  # fmt: skip
        """Answer questions until the survey closes (or `until` is asked). At question
        `race`, send two different answers at the same moment."""
        for _ in range(20):
            question = self.asked
            if question in (None, "closing") or question == until:
                return
            if question not in self.plan:
                twilio.tally.note(f"asked {question!r}, which no plan answers")
                return
            text, value = self.plan[question]
            if question == race:
                self._race(twilio, prompts, question)
                continue
            self.given[question] = value
            self._take(twilio.deliver(self.sender, text), prompts)

    def _race(self, twilio: Twilio, prompts: Prompts, question: str) -> None:
        texts = {"1": 0, "2": 1}
        options = prompts.options[question]
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(lambda t: twilio.deliver(self.sender, t), list(texts)))
        self.either[question] = {options[i] for i in texts.values()}
        # Whichever came first answered the question; the other landed after it.
        asked = [prompts.which(r) for r in results]
        self.asked = "closing" if "closing" in asked else next((a for a in asked if a), None)
        if self.asked == "closing":
            self.completed_at = time.monotonic()

    def _take(self, reply: list[str], prompts: Prompts) -> None:
        self.asked = prompts.which(reply)
        if self.asked == "closing":
            self.completed_at = time.monotonic()

    @property
    def completed(self) -> bool:
        return self.completed_at is not None

    def expected(self) -> dict[str, object]:
        """The answers it gave, as they would be stored."""
        return dict(self.given)

    def plan_values(self) -> dict[str, object]:
        """Its planned answers, as they would be stored."""
        return {q: value for q, (_, value) in self.plan.items()}


def stored_rows(database_url: str, wave: str) -> list[dict[str, object]]:
    """Every stored response of `wave`, as question id -> option id, frozenset or SKIP."""
    from sqlalchemy import text

    from bot.infra.db import get_engine

    rows: dict[str, dict[str, set]] = {}
    with get_engine(database_url).connect() as connection:
        result = connection.execute(
            text("SELECT r.id, a.question_id, a.option_id, a.skipped FROM response r "
                 "LEFT JOIN answer a ON a.response_id = r.id WHERE r.wave = :wave"),
            {"wave": wave},
        )  # fmt: skip
        for response_id, question, option, skipped in result:
            answers = rows.setdefault(str(response_id), {})
            if question is not None:
                answers.setdefault(question, set()).add(SKIP if skipped else option)
    return [{q: _value(q, v) for q, v in answers.items()} for answers in rows.values()]


def _value(question: str, values: set) -> object:
    if values == {SKIP}:
        return SKIP
    if question == "fear_reasons":
        return frozenset(values)
    return next(iter(values)) if len(values) == 1 else frozenset(values)


@dataclass
class Match:
    """Stored rows against completed surveys."""

    stored: int = 0  # completed surveys with at least one row
    lost: int = 0  # completed surveys with none
    duplicated: int = 0  # rows beyond one per sender
    altered: int = 0  # a sender's row whose answers differ from what it answered
    foreign: int = 0  # rows that match no completed survey


def match(respondents: list[Respondent], rows: list[dict[str, object]]) -> Match:
    """Count stored, lost, duplicated, altered and foreign rows."""
    by_identity = {identity(r.plan_values()): r for r in respondents}
    seen: Counter = Counter()
    out = Match()
    for row in rows:
        person = by_identity.get(identity(row))
        if person is None or not person.completed:
            out.foreign += 1
            continue
        seen[person.index] += 1
        if not _same(person, row):
            out.altered += 1
    for person in respondents:
        if person.completed:
            n = seen[person.index]
            out.stored += n > 0
            out.lost += n == 0
            out.duplicated += max(0, n - 1)
    return out


def _same(person: Respondent, row: dict[str, object]) -> bool:
    expected = person.expected()
    for question, choices in person.either.items():
        if row.get(question) not in choices:
            return False
        expected[question] = row.get(question)
    return expected == row
