"""The community safety survey's contract: the question and option ids its reports read."""

from __future__ import annotations

from bot.core.checks.findings import Finding
from bot.core.questionnaire import Questionnaire, QuestionType

# The study's variables: other code, exports and the weekly report depend on these ids.
CONTRACT: dict[str, tuple[tuple[QuestionType, ...], tuple[str, ...]]] = {
    "status": (
        (QuestionType.CHOICE,),
        ("citizen", "lpr", "other_status", "undocumented", "no_answer"),
    ),
    "years_in_us": ((QuestionType.CHOICE,), ("lt5", "5to10", "gt10")),
    "afraid_to_seek_help": ((QuestionType.CHOICE,), ("yes", "no")),
    "fear_reasons": (
        (QuestionType.MULTI,),
        ("ice_collaboration", "deportation", "language", "bad_experience", "other"),
    ),
    "knows_deported": ((QuestionType.CHOICE,), ("none", "one", "several")),
    "would_report_crime": ((QuestionType.CHOICE,), ("yes", "no", "not_sure")),
}
CONTRACT_WHEN = {"fear_reasons": {"afraid_to_seek_help": ("yes",)}}


def check_contract(q: Questionnaire) -> list[Finding]:
    """The community safety survey's contract: its question ids, types and option ids."""
    findings: list[Finding] = []
    by_id = {question.id: question for question in q.questions}
    for qid, (types, option_ids) in CONTRACT.items():
        where = f"question {qid}"
        question = by_id.get(qid)
        if question is None:
            findings.append(Finding("error", where, "missing: the study's reports need it"))
            continue
        if question.type not in types:
            wanted = " or ".join(t.value for t in types)
            findings.append(
                Finding("error", where, f"type is {question.type.value}, expected {wanted}")
            )
        present = {option.id for option in question.options}
        for option_id in option_ids:
            if option_id not in present:
                findings.append(Finding("error", where, f"option {option_id!r} is missing"))
        expected_when = CONTRACT_WHEN.get(qid)
        if expected_when is not None and question.when != expected_when:
            findings.append(
                Finding("warning", where, f"when is {question.when}, expected {expected_when}")
            )
    return findings
