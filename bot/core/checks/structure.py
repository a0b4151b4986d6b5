"""Questions, skip logic, crosstabs and the review note: the file's shape."""

from __future__ import annotations

from collections.abc import Iterator

from bot.core.checks.findings import WITH_OPTIONS, Finding
from bot.core.questionnaire import Questionnaire, QuestionType


def check_questions(q: Questionnaire) -> Iterator[Finding]:
    """Question and option ids unique, option counts, number bounds, skip logic."""
    seen: set[str] = set()
    position = {}
    for i, question in enumerate(q.questions):
        where = f"question {question.id}"
        if question.id in seen:
            yield Finding("error", where, "duplicate question id")
        seen.add(question.id)
        position.setdefault(question.id, i)

        option_ids = [option.id for option in question.options]
        for option_id in sorted({x for x in option_ids if option_ids.count(x) > 1}):
            yield Finding("error", where, f"duplicate option id {option_id!r}")
        if question.type in WITH_OPTIONS and len(question.options) < 2:
            yield Finding("error", where, f"a {question.type.value} question needs 2+ options")
        if question.type is QuestionType.NUMBER:
            if question.options:
                yield Finding("error", where, "a number question has no options")
            low, high = question.minimum, question.maximum
            if low is not None and high is not None and low > high:
                yield Finding("error", where, f"min {low} is greater than max {high}")

        for earlier_id, wanted in question.when.items():
            if earlier_id not in position or earlier_id == question.id:
                later = any(other.id == earlier_id for other in q.questions)
                problem = "is not an earlier question" if later else "is not a question"
                yield Finding("error", f"{where}.when", f"{earlier_id!r} {problem}")
                continue
            earlier = q.questions[position[earlier_id]]
            known = {option.id for option in earlier.options}
            for option_id in wanted:
                if option_id not in known:
                    yield Finding(
                        "error",
                        f"{where}.when",
                        f"question {earlier_id!r} has no option {option_id!r}",
                    )


def check_crosstabs(q: Questionnaire) -> Iterator[Finding]:
    """Each crosstab of the report pairs two questions with options."""
    by_id = {question.id: question for question in q.questions}
    for pair in q.crosstabs:
        where = f"report.crosstabs {'|'.join(pair)}"
        if len(pair) != 2:
            yield Finding("error", where, "expected QUESTION|BY")
            continue
        for qid in pair:
            if qid == "language":
                continue  # the respondent's language is always known
            question = by_id.get(qid)
            if question is None:
                yield Finding("error", where, f"{qid!r} is not a question")
            elif question.type not in WITH_OPTIONS:
                yield Finding("error", where, f"{qid!r} has no options to count")


def check_review(q: Questionnaire) -> Iterator[Finding]:
    """The file's review status, when the review is not done."""
    status = q.review.get("status")
    if status and status != "done":
        note = str(q.review.get("note") or "").strip()
        yield Finding("info", "review", f"status {status}" + (f": {note}" if note else ""))
