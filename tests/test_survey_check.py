"""The questionnaire checker: the shipped survey is clean, and each kind of mistake is caught."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from bot.questionnaire import (
    DEFAULT_SURVEY_PATH,
    REQUIRED_MESSAGES,
    load_questionnaire,
    parse_questionnaire,
)
from bot.render import render_question
from bot.survey_check import (
    Finding,
    check_contract,
    check_file,
    check_questionnaire,
    format_findings,
)

# A small valid questionnaire; each test breaks one thing in a copy.
BASE: dict[str, Any] = {
    "id": "mini",
    "version": "1",
    "languages": ["en", "es"],
    "language_names": {"en": "English", "es": "Español"},
    "language_prompt": {"en": "Reply 1 for English", "es": "Responda 2 para español"},
    "start_keywords": {"en": ["survey"], "es": ["encuesta"]},
    "resources": {"hotline": "1-888-000-0000"},
    "keywords": {
        "skip": {"en": ["skip"], "es": ["saltar"]},
        "back": {"en": ["back"], "es": ["volver"]},
    },
    "messages": {
        key: {"en": f"{key} in English.", "es": f"{key} en español."} for key in REQUIRED_MESSAGES
    },
    "questions": [
        {
            "id": "afraid",
            "type": "choice",
            "text": {"en": "Are you afraid?", "es": "¿Tiene miedo?"},
            "options": [
                {"id": "yes", "label": {"en": "Yes", "es": "Sí"}, "synonyms": {"en": ["yeah"]}},
                {"id": "no", "label": {"en": "No", "es": "No"}},
            ],
        },
        {
            "id": "why",
            "type": "multi",
            "when": {"afraid": ["yes"]},
            "text": {"en": "Why?", "es": "¿Por qué?"},
            "options": [
                {"id": "police", "label": {"en": "Police", "es": "Policía"}},
                {"id": "other", "label": {"en": "Other reason", "es": "Otra razón"}},
            ],
        },
        {"id": "age", "type": "number", "text": {"en": "How old are you?", "es": "¿Edad?"}},
    ],
    "report": {"crosstabs": ["afraid|language", "why|afraid"]},
}


def build(mutate=None):
    """Parse a copy of BASE (after `mutate` edits the raw mapping) from YAML text."""
    raw = copy.deepcopy(BASE)
    if mutate is not None:
        mutate(raw)
    return parse_questionnaire(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False))


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "error"]


def has(findings: list[Finding], level: str, where: str, fragment: str) -> bool:
    return any(f.level == level and where in f.where and fragment in f.message for f in findings)


def question(raw: dict, qid: str) -> dict:
    return next(q for q in raw["questions"] if q["id"] == qid)


# ------------------------------------------------------------------------------ the shipped file


def test_shipped_survey_has_no_errors():
    findings = check_file(DEFAULT_SURVEY_PATH)
    assert errors(findings) == [], format_findings(errors(findings))


def test_shipped_survey_meets_the_contract_and_measures_every_message():
    q = load_questionnaire()
    assert q.id == "community_safety"
    assert check_contract(q) == []
    findings = check_questionnaire(q)
    for key in REQUIRED_MESSAGES:
        for lang in ("en", "es", "ht"):
            assert has(findings, "info", f"messages.{key}[{lang}]", "segment") or has(
                findings, "warning", f"messages.{key}[{lang}]", "segment"
            )
    assert has(findings, "info", "language_prompt", "1 segment")
    assert has(findings, "info", "review", "pending")


def test_shipped_consent_fits_three_segments_in_every_language():
    findings = check_questionnaire(load_questionnaire())
    for lang in ("en", "es", "ht"):
        assert has(findings, "info", f"messages.consent[{lang}]", "segment")


def test_base_questionnaire_is_clean():
    assert errors(check_questionnaire(build())) == []


# ---------------------------------------------------------------------------------- each error


def test_missing_translation():
    def drop(raw):
        del raw["messages"]["help"]["es"]
        del question(raw, "why")["options"][0]["label"]["es"]

    findings = check_questionnaire(build(drop))
    assert has(findings, "error", "messages.help", "no es text")
    assert has(findings, "error", "question why.option police", "no es text")


def test_missing_required_message():
    findings = check_questionnaire(build(lambda raw: raw["messages"].pop("closing")))
    assert has(findings, "error", "messages.closing", "missing")


def test_missing_language_prompt_line():
    findings = check_questionnaire(build(lambda raw: raw["language_prompt"].pop("es")))
    assert has(findings, "error", "language_prompt", "no es text")


def test_duplicate_question_id():
    findings = check_questionnaire(build(lambda raw: question(raw, "age").update(id="afraid")))
    assert has(findings, "error", "question afraid", "duplicate question id")


def test_duplicate_option_id():
    def dup(raw):
        question(raw, "afraid")["options"][1]["id"] = "yes"

    assert has(check_questionnaire(build(dup)), "error", "question afraid", "duplicate option")


def test_choice_needs_two_options_and_number_none():
    def shrink(raw):
        question(raw, "why")["options"].pop()
        question(raw, "age")["options"] = [{"id": "x", "label": {"en": "X", "es": "X"}}]

    findings = check_questionnaire(build(shrink))
    assert has(findings, "error", "question why", "needs 2+ options")
    assert has(findings, "error", "question age", "has no options")


def test_when_referring_to_a_later_question():
    def later(raw):
        question(raw, "afraid")["when"] = {"why": ["police"]}

    assert has(check_questionnaire(build(later)), "error", "question afraid.when", "not an earlier")


def test_when_referring_to_an_unknown_question():
    def unknown(raw):
        question(raw, "why")["when"] = {"nope": ["yes"]}

    assert has(check_questionnaire(build(unknown)), "error", "question why.when", "not a question")


def test_when_naming_a_missing_option():
    def missing(raw):
        question(raw, "why")["when"] = {"afraid": ["maybe"]}

    findings = check_questionnaire(build(missing))
    assert has(findings, "error", "question why.when", "no option 'maybe'")


def test_unknown_placeholder():
    def placeholder(raw):
        raw["messages"]["closing"]["es"] = "Llame al {hotlin}."

    findings = check_questionnaire(build(placeholder))
    assert has(findings, "error", "messages.closing[es]", "unknown placeholder {hotlin}")
    # The broken message is not measured, and measuring the rest still works.
    assert not any(f.where == "messages.closing[es]" and f.level == "info" for f in findings)
    assert has(findings, "info", "messages.closing[en]", "segment")


def test_known_placeholder_is_fine_and_stray_brace_is_not():
    def braces(raw):
        raw["messages"]["closing"]["en"] = "Call {hotline}."
        raw["messages"]["help"]["en"] = "Reply {1 or 2."

    findings = check_questionnaire(build(braces))
    assert not any("messages.closing[en]" in f.where for f in errors(findings))
    assert has(findings, "error", "messages.help[en]", "bad braces")


def test_keyword_colliding_with_an_option_label():
    def collide(raw):
        raw["keywords"]["skip"]["es"] = ["saltar", "otra razón"]

    findings = check_questionnaire(build(collide))
    assert has(findings, "error", "question why.option other.label[es]", "keyword SKIP")


def test_keyword_colliding_with_a_synonym_after_normalizing():
    def collide(raw):
        raw["keywords"]["back"]["en"] = ["back", "Yeah!"]

    findings = check_questionnaire(build(collide))
    assert has(findings, "error", "question afraid.option yes.synonyms[en]", "keyword BACK")


def test_keyword_colliding_with_another_keyword_across_languages():
    def collide(raw):
        raw["keywords"]["back"]["es"] = ["volver", "Skip"]

    findings = check_questionnaire(build(collide))
    assert has(findings, "error", "keywords", "'skip' has more than one meaning")


def test_keyword_that_is_a_consent_answer_or_a_number():
    def collide(raw):
        raw["keywords"]["skip"]["es"] = ["saltar", "sí", "3"]

    findings = check_questionnaire(build(collide))
    assert has(findings, "error", "keywords.skip[es]", "consent answer")
    assert has(findings, "error", "keywords.skip[es]", "numbered answers")


def test_same_word_for_two_options_is_ambiguous():
    def ambiguous(raw):
        question(raw, "afraid")["options"][1]["synonyms"] = {"en": ["yeah"]}

    findings = check_questionnaire(build(ambiguous))
    assert has(findings, "error", "question afraid", "'yeah' names options no, yes in en")


def test_multi_label_with_a_conjunction_warns():
    def conj(raw):
        question(raw, "why")["options"][0]["label"]["en"] = "Police and ICE"

    findings = check_questionnaire(build(conj))
    assert has(findings, "warning", "question why.option police.label[en]", "'and'")


def test_crosstab_naming_an_unknown_question():
    def bad(raw):
        raw["report"]["crosstabs"].append("afraid|nope")

    assert has(check_questionnaire(build(bad)), "error", "report.crosstabs", "'nope'")


def test_contract_option_missing():
    def drop(raw):
        status = question(raw, "status")
        status["options"] = [o for o in status["options"] if o["id"] != "undocumented"]
        raw["questions"] = [q for q in raw["questions"] if q["id"] != "knows_deported"]
        raw["report"]["crosstabs"] = [
            pair for pair in raw["report"]["crosstabs"] if "knows_deported" not in pair
        ]

    raw = yaml.safe_load(DEFAULT_SURVEY_PATH.read_text(encoding="utf-8"))
    drop(raw)
    q = parse_questionnaire(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False))
    findings = check_contract(q)
    assert has(findings, "error", "question status", "'undocumented' is missing")
    assert has(findings, "error", "question knows_deported", "missing")


def test_contract_applies_only_to_the_community_safety_survey(tmp_path):
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(BASE, allow_unicode=True), encoding="utf-8")
    assert errors(check_file(path)) == []


def test_unloadable_file_is_one_error(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("languages: [en]\nquestions: []\n", encoding="utf-8")
    findings = check_file(path)
    assert len(findings) == 1
    assert findings[0].level == "error"
    assert "question" in findings[0].message
    assert check_file(tmp_path / "absent.yaml")[0].level == "error"


# -------------------------------------------------------------------------------- SMS length


def test_long_message_gets_a_segments_warning():
    def long(raw):
        raw["messages"]["closing"]["en"] = "Thank you. " * 30  # 330 characters, 3 segments

    findings = check_questionnaire(build(long))
    assert has(findings, "warning", "messages.closing[en]", "3 segments")
    assert has(findings, "warning", "messages.closing[en]", "more than 2 segments")


def test_consent_may_use_three_segments_but_not_four():
    def consent(raw, times):
        raw["messages"]["consent"]["en"] = "Thank you. " * times

    three = check_questionnaire(build(lambda raw: consent(raw, 30)))
    assert has(three, "info", "messages.consent[en]", "3 segments")
    four = check_questionnaire(build(lambda raw: consent(raw, 45)))
    assert has(four, "warning", "messages.consent[en]", "more than 3 segments")


def test_ucs2_reason_characters_are_reported():
    def accents(raw):
        raw["messages"]["invalid"]["es"] = "Responda con el número de una opción. " * 4

    findings = check_questionnaire(build(accents))
    assert has(findings, "warning", "messages.invalid[es]", "UCS-2 because of ú ó")
    assert has(findings, "info", "messages.invalid[en]", "GSM-7, 1 segment")


def test_questions_are_measured_as_rendered():
    q = build()
    afraid = q.question("afraid")
    rendered = render_question(q, afraid, "es")
    assert rendered == "¿Tiene miedo?\n1. Sí\n2. No"
    assert render_question(q, q.question("age"), "en") == "How old are you?"
    findings = check_questionnaire(q)
    expected = f"UCS-2, 1 segment ({len(rendered)} UTF-16 units); UCS-2 because of í"
    assert has(findings, "info", "question afraid[es]", expected)


def test_all_language_messages_are_measured_together():
    findings = check_questionnaire(build())
    assert has(findings, "info", "messages.help[all languages]", "1 segment")


# ------------------------------------------------------------------------------------ output


def test_format_findings():
    text = format_findings(
        [
            Finding("error", "question x", "duplicate question id"),
            Finding("warning", "messages.help[en]", "GSM-7, 3 segments"),
            Finding("info", "language_prompt", "GSM-7, 1 segment"),
        ]
    )
    assert text.splitlines() == [
        "ERROR question x: duplicate question id",
        "WARNING messages.help[en]: GSM-7, 3 segments",
        "INFO language_prompt: GSM-7, 1 segment",
        "1 error, 1 warning",
    ]
    assert format_findings([]) == "0 errors, 0 warnings"


@pytest.mark.parametrize("level", ["error", "warning", "info"])
def test_finding_is_frozen(level):
    finding = Finding(level, "here", "what")
    with pytest.raises(AttributeError):
        finding.level = "info"  # type: ignore[misc]
