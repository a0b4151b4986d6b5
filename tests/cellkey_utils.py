"""Synthetic responses with record keys, and the keyed profiles a wave's aggregation would give.

Shared by the cell-key tests: no database, no Redis. A record is one completed response (week,
language, answers, record key); `keyed_profiles` groups records as the aggregation does (week,
language, one-choice answers) and adds the key sums `bot.releases.cellkey.key_report` reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.core.questionnaire import Questionnaire, QuestionType
from bot.releases.cellkey import RECORD_KEY_SPACE
from bot.releases.profile_keys import ANSWERED


@dataclass(frozen=True)
class Record:
    """One completed response: what the response row holds, plus its record key."""

    week: str
    language: str
    answers: dict[str, Any]  # choice: option id or None (skipped); multi: list or None
    key: int


@dataclass
class KeyedProfile:
    """`workers.aggregation.Profile` with the key sums of its respondents."""

    week: str
    language: str
    choices: dict[str, str | None]
    respondents: int = 0
    multi: dict[str, dict[str, int]] = field(default_factory=dict)
    key_sum: int = 0
    multi_keys: dict[str, dict[str, int]] = field(default_factory=dict)


def keyed_profiles(q: Questionnaire, records: Iterable[Record]) -> list[KeyedProfile]:
    """Group records by week, language and one-choice answers, with counts and key sums."""
    choice_ids = [x.id for x in q.questions if x.type is QuestionType.CHOICE]
    multis = [x for x in q.questions if x.type is QuestionType.MULTI]
    groups: dict[tuple, KeyedProfile] = {}

    def zeros() -> dict[str, dict[str, int]]:
        return {x.id: dict.fromkeys([ANSWERED, *(o.id for o in x.options)], 0) for x in multis}

    for record in records:
        choices = {qid: record.answers.get(qid) for qid in choice_ids}
        group = (record.week, record.language, tuple(sorted(choices.items(), key=str)))
        if group not in groups:
            groups[group] = KeyedProfile(
                record.week,
                record.language,
                choices,
                multi=zeros(),
                multi_keys=zeros(),
            )
        profile = groups[group]
        profile.respondents += 1
        profile.key_sum = (profile.key_sum + record.key) % RECORD_KEY_SPACE
        for x in multis:
            chosen = record.answers.get(x.id)
            if chosen is None:
                continue
            for option in [ANSWERED, *chosen]:
                profile.multi[x.id][option] += 1
                keys = profile.multi_keys[x.id]
                keys[option] = (keys[option] + record.key) % RECORD_KEY_SPACE
    return list(groups.values())


def report_paths(report: dict[str, Any]) -> list[tuple[str, ...]]:
    """The path of every count in a report (as `bot.releases.suppression.count_paths`)."""
    from bot.releases.suppression import count_paths

    return count_paths(report)


def value_at(report: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = report
    for step in path:
        node = node[step]
    return node
