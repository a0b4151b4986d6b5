"""The questionnaire checker: the shipped survey is clean, and each kind of mistake is caught."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.core.checks import (
    Finding,
    check_contract,
    check_file,
    check_questionnaire,
    format_findings,
)
from bot.core.questionnaire import (
    DEFAULT_SURVEY_PATH,
    REQUIRED_MESSAGES,
    load_questionnaire,
    parse_questionnaire,
)
from bot.core.render import render_question
from bot.core.voice_prompts import all_prompts, recording_path

# A small valid questionnaire; each test breaks one thing in a copy.
BASE: dict[str, Any] = {
    "id": "mini",
    "version": "1",
    "languages": ["en", "es"],
    "language_names": {"en": "English", "es": "Español"},
    "language_prompt": {"en": "Reply 1 for English", "es": "Responda 2 para español"},
    "start_keywords": {"en": ["survey"], "es": ["encuesta"]},
    "resources": {"hotline": "1-305-555-0147", "org": "Red Comunitaria"},
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


def add_kreyol(raw: dict) -> None:
    """Make `ht` a language of the raw file, its texts copied from English."""

    def copy_en(node):
        if isinstance(node, dict):
            if "en" in node and "ht" not in node:
                node["ht"] = copy.deepcopy(node["en"])
            for value in node.values():
                copy_en(value)
        elif isinstance(node, list):
            for value in node:
                copy_en(value)

    raw["languages"].append("ht")
    copy_en(raw)
    raw["language_names"]["ht"] = "Kreyòl"
    raw["start_keywords"]["ht"] = ["sondaj"]


def warnings_at(findings: list[Finding], prefix: str) -> list[Finding]:
    return [f for f in findings if f.level == "warning" and f.where.startswith(prefix)]


def record_everything(q, folder) -> None:
    """Empty files for every recording the questionnaire names."""
    for files in q.voice.recordings.values():
        for name in files.values():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).touch()


# ------------------------------------------------------------------------------ the shipped file


def test_shipped_survey_has_no_errors_outside_production():
    findings = check_file(DEFAULT_SURVEY_PATH, allow_placeholders=True)
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


def test_shipped_survey_lists_each_missing_kreyol_recording(tmp_path):
    q = load_questionnaire()
    prompts = all_prompts(q)
    findings = check_file(DEFAULT_SURVEY_PATH, audio_dir=tmp_path, allow_placeholders=True)
    missing = warnings_at(findings, "voice.recordings.ht ")
    assert [f.where.split(" ", 1)[1] for f in missing] == prompts
    assert has(findings, "warning", "voice.recordings.ht message.consent", "ht/consent.mp3")
    assert has(findings, "warning", "voice.recordings.ht message.consent", str(tmp_path))
    assert has(findings, "warning", "voice.recordings.ht question.status", "French voice")
    assert has(findings, "info", "voice.recordings.ht", f"0 of {len(prompts)} prompts recorded")
    assert errors(findings) == []

    record_everything(q, tmp_path)
    findings = check_file(DEFAULT_SURVEY_PATH, audio_dir=tmp_path)
    assert warnings_at(findings, "voice.recordings") == []
    assert has(findings, "info", "voice.recordings.ht", f"{len(prompts)} of {len(prompts)}")


def test_recordings_are_looked_for_beside_the_file_by_default(tmp_path):
    path = tmp_path / "survey.yaml"
    path.write_text(DEFAULT_SURVEY_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    q = load_questionnaire(path)
    findings = check_file(path)
    assert has(findings, "info", "voice.recordings.ht", f"in {tmp_path / 'audio'} (no such")
    record_everything(q, tmp_path / "audio")
    assert warnings_at(check_file(path), "voice.recordings") == []


def test_recordings_served_from_a_url_are_only_checked_by_name(tmp_path):
    findings = check_file(DEFAULT_SURVEY_PATH, audio_base_url="https://cdn.example/audio")
    assert warnings_at(findings, "voice.recordings") == []
    assert has(findings, "info", "voice.recordings", "served from https://cdn.example/audio")
    assert has(findings, "info", "voice.recordings.ht", "name a recording (files not checked)")
    # An explicit folder is checked even then.
    findings = check_file(
        DEFAULT_SURVEY_PATH, audio_dir=tmp_path, audio_base_url="https://cdn.example/audio"
    )
    assert has(findings, "warning", "voice.recordings.ht message.consent", "not found")


# ------------------------------------------------------------------- resources to replace
# The shipped organization name and hotline are placeholders: an error in production, a
# warning elsewhere (bot.core.placeholders).

SHIPPED = {"org": "the coalition", "hotline": "1-888-000-0000"}
REAL = {"org": "Coalición de Inmigrantes de la Florida", "hotline": "1-305-555-0147"}


def shipped_copy(tmp_path, *, resources=None, marker=True) -> Path:
    """The shipped questionnaire in a new file, with `resources` replaced and, unless
    `marker`, without its `placeholders:` mapping."""
    raw = yaml.safe_load(DEFAULT_SURVEY_PATH.read_text(encoding="utf-8"))
    raw["resources"].update(resources or {})
    if not marker:
        del raw["placeholders"]
    path = tmp_path / "survey.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def resource_findings(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.where.startswith(("resources.", "placeholders."))]


def test_shipped_placeholders_are_errors_in_production_and_warnings_elsewhere():
    production = resource_findings(check_file(DEFAULT_SURVEY_PATH))
    assert [(f.level, f.where) for f in production] == [
        ("error", "resources.hotline"),
        ("error", "resources.org"),
    ]
    assert errors(check_file(DEFAULT_SURVEY_PATH)) == production  # nothing else is wrong
    org = production[1]
    # Which resource, its value, the file and the key to change: one line.
    assert org.message.startswith('still the placeholder "the coalition": change resources.org')
    assert f"in {DEFAULT_SURVEY_PATH} to the coalition's own name" in org.message
    assert "\n" not in org.message
    assert (
        format_findings([org])
        .splitlines()[0]
        .startswith('ERROR resources.org: still the placeholder "the coalition"')
    )
    assert '"1-888-000-0000"' in production[0].message

    elsewhere = resource_findings(check_file(DEFAULT_SURVEY_PATH, allow_placeholders=True))
    assert [(f.level, f.where) for f in elsewhere] == [
        ("warning", "resources.hotline"),
        ("warning", "resources.org"),
    ]
    assert "production refuses to open a wave" in elsewhere[1].message


def test_the_shipped_file_marks_its_placeholders():
    q = load_questionnaire()
    assert q.placeholders == SHIPPED and q.resources == SHIPPED


def test_shipped_values_are_flagged_even_without_the_marker(tmp_path):
    path = shipped_copy(tmp_path, marker=False)
    assert load_questionnaire(path).placeholders == {}
    findings = resource_findings(check_file(path))
    assert [(f.level, f.where) for f in findings] == [
        ("error", "resources.hotline"),
        ("error", "resources.org"),
    ]
    assert str(path) in findings[1].message
    # Written differently, still the same English phrase.
    path = shipped_copy(tmp_path, resources={"org": "The  Coalition"}, marker=False)
    assert has(check_file(path), "error", "resources.org", '"The  Coalition"')


def test_replaced_values_pass_with_the_marker_left_in_place(tmp_path):
    path = shipped_copy(tmp_path, resources=REAL)
    assert load_questionnaire(path).placeholders == SHIPPED  # nothing else was deleted
    findings = check_file(path)
    assert resource_findings(findings) == []
    assert errors(findings) == [], format_findings(errors(findings))
    # Replacing one of the two is not enough.
    path = shipped_copy(tmp_path, resources={"hotline": REAL["hotline"]})
    assert [f.where for f in errors(check_file(path))] == ["resources.org"]


def test_a_value_the_file_marks_is_flagged_until_replaced(tmp_path):
    def mark(raw):
        raw["resources"]["clinic"] = "CLINIC NAME"
        raw["placeholders"] = {"clinic": "CLINIC NAME"}
        raw["messages"]["closing"]["es"] = "Gracias. Clínica: {clinic}."

    q = build(mark)
    assert has(check_questionnaire(q), "error", "resources.clinic", '"CLINIC NAME"')
    assert has(check_questionnaire(q, allow_placeholders=True), "warning", "resources.clinic", "")
    assert errors(check_questionnaire(q, allow_placeholders=True)) == []

    def replaced(raw):
        mark(raw)
        raw["resources"]["clinic"] = "Clínica Borinquen"

    assert resource_findings(check_questionnaire(build(replaced))) == []


def test_an_empty_or_missing_resource_is_unfinished_too():
    def empty(raw):
        raw["resources"]["hotline"] = None

    findings = check_questionnaire(build(empty))
    assert has(findings, "error", "resources.hotline", "resources.hotline is empty or missing")

    # Without `org`, the built-in invitation would say "The coalition asks...".
    def no_org(raw):
        del raw["resources"]["org"]

    assert has(check_questionnaire(build(no_org)), "error", "resources.org", "empty or missing")

    def own_invitation(raw):
        no_org(raw)
        raw["messages"]["invitation"] = {"en": "Reply SURVEY.", "es": "Responda ENCUESTA."}

    assert resource_findings(check_questionnaire(build(own_invitation))) == []


def test_a_marker_naming_no_resource_is_a_warning_and_a_bad_marker_an_error(tmp_path):
    def stray(raw):
        raw["placeholders"] = {"hotlin": "1-888-000-0000"}

    findings = check_questionnaire(build(stray))
    assert has(findings, "warning", "placeholders.hotlin", "no resource hotlin")
    assert errors(findings) == []

    path = tmp_path / "bad.yaml"
    raw = copy.deepcopy(BASE)
    raw["placeholders"] = ["org"]
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    (finding,) = check_file(path)
    assert finding.level == "error" and "placeholders: expected a mapping" in finding.message


def test_spanish_and_kreyol_texts_with_the_placeholder_are_what_the_check_prevents(tmp_path):
    shipped = load_questionnaire()
    # What respondents would read: an English phrase inside Spanish and Kreyòl texts.
    assert "Encuesta de seguridad de the coalition." in shipped.message("help", "es")
    assert shipped.message("help", "ht").startswith("Se the coalition ki fè sondaj sa a.")
    assert "1-888-000-0000" in shipped.message("closing", "es")
    found = {f.where for f in errors(check_file(DEFAULT_SURVEY_PATH))}
    assert found == {"resources.org", "resources.hotline"}

    path = shipped_copy(tmp_path, resources=REAL)
    fixed = load_questionnaire(path)
    spanish = fixed.message("help", "es")
    assert f"Encuesta de seguridad de {REAL['org']}." in spanish
    assert "the coalition" not in spanish and "1-888-000-0000" not in spanish
    assert "the coalition" not in fixed.message("help", "ht")
    assert errors(check_file(path)) == []


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
    rendered = render_question(afraid, "es")
    assert rendered == "¿Tiene miedo?\n1. Sí\n2. No"
    assert render_question(q.question("age"), "en") == "How old are you?"
    findings = check_questionnaire(q)
    expected = f"UCS-2, 1 segment ({len(rendered)} UTF-16 units); UCS-2 because of í"
    assert has(findings, "info", "question afraid[es]", expected)


def test_all_language_messages_are_measured_together():
    findings = check_questionnaire(build())
    assert has(findings, "info", "messages.help[all languages]", "1 segment")


# ------------------------------------------------------------------------------------- phone


def test_every_kreyol_prompt_needs_a_playable_recording(tmp_path):
    def kreyol(raw):
        add_kreyol(raw)
        raw["voice"] = {
            "recordings": {
                "ht": {
                    "language_prompt": "ht/language_prompt.mp3",
                    "message.consent": "ht/consent.ogg",
                    "message.help": "../help.mp3",
                    "message.closing": "/etc/closing.wav",
                    "question.afrad": "ht/afraid.mp3",
                    "message.option": "ht/option.mp3",
                },
                "fr": {"language_prompt": "fr/language_prompt.mp3"},
            }
        }

    q = build(kreyol)
    findings = check_questionnaire(q)  # no folder: names only
    where = "voice.recordings.ht"
    assert has(findings, "warning", f"{where} message.declined", "no recording named: calls read")
    assert has(findings, "warning", f"{where} question.afraid", "French voice")
    assert has(findings, "warning", f"{where} message.consent", "not a .mp3 or .wav file")
    assert has(findings, "warning", f"{where} message.help", "leaves the audio folder")
    assert has(findings, "warning", f"{where} message.closing", "leaves the audio folder")
    assert has(findings, "warning", f"{where} question.afrad", "did you mean question.afraid?")
    assert has(findings, "warning", f"{where} message.option", "said inside each question")
    assert has(findings, "warning", "voice.recordings.fr", "fr is not in languages")
    assert not warnings_at(findings, f"{where} language_prompt")
    assert has(findings, "info", where, "1 of ")
    assert has(findings, "info", where, "(files not checked)")
    # Texting-only messages are never said on a call, so never recorded.
    assert not warnings_at(findings, f"{where} message.opted_in")

    findings = check_questionnaire(q, audio_dir=tmp_path)
    assert has(findings, "warning", f"{where} language_prompt", "ht/language_prompt.mp3 not found")
    (tmp_path / "ht").mkdir()
    (tmp_path / "ht" / "language_prompt.mp3").touch()
    assert not warnings_at(check_questionnaire(q, audio_dir=tmp_path), f"{where} language_prompt")
    assert errors(findings) == []


def test_languages_with_text_to_speech_need_no_recording():
    assert not warnings_at(check_questionnaire(build()), "voice.recordings")


def test_a_recording_is_an_audio_file_inside_the_folder(tmp_path):
    folder = tmp_path / "audio"
    (folder / "ht").mkdir(parents=True)
    for name in ("ht/consent.mp3", "ht/consent.ogg"):
        (folder / name).touch()
    (tmp_path / "outside.mp3").touch()
    assert recording_path(folder, "ht/consent.mp3") == (folder / "ht/consent.mp3").resolve()
    assert recording_path(folder, "ht/consent.ogg") is None  # the app serves no .ogg
    assert recording_path(folder, "ht/missing.mp3") is None
    assert recording_path(folder, "../outside.mp3") is None
    assert recording_path(folder, "ht") is None


def test_options_the_keypad_cannot_reach():
    def options(n):
        return [{"id": f"o{i}", "label": {"en": f"Opt {i}", "es": f"Opc {i}"}} for i in range(n)]

    def many(raw):
        question(raw, "afraid")["options"] = options(9)
        question(raw, "why")["options"] = options(10)

    findings = check_questionnaire(build(many))
    assert has(findings, "warning", "question afraid", "cannot choose option 9 or later")
    assert has(findings, "warning", "question why", "cannot choose option 10 or later")

    def enough(raw):
        question(raw, "afraid")["options"] = options(8)
        question(raw, "why")["options"] = options(9)

    findings = check_questionnaire(build(enough))
    assert not any("cannot choose" in f.message for f in findings)


def test_missing_phone_only_messages_say_what_a_call_says_instead():
    findings = check_questionnaire(build())
    assert has(findings, "warning", "voice.messages.call_ended", "no en, es text")
    assert has(findings, "warning", "voice.messages.call_ended", "declined message instead")
    assert has(findings, "warning", "voice.messages.option", '"1. <label>."')
    assert has(findings, "warning", "voice.messages.keys_multi", "(keys, then #)")
    assert has(findings, "warning", "voice.messages.keys_number", "(digits, then #)")

    def spoken(raw):
        raw["voice"] = {
            "messages": {
                "call_ended": {"en": "Goodbye for now.", "es": "Adiós por ahora."},
                "option": {"en": "For {label}, press {number}."},
                "keys_multi": {"en": "Then pound.", "es": "Luego numeral."},
                "keys_number": {"en": "Then pound.", "es": "Luego numeral."},
            }
        }

    findings = check_questionnaire(build(spoken))
    assert warnings_at(findings, "voice.messages") == [
        Finding(
            "warning",
            "voice.messages.option",
            'no es text: calls read each option as "1. <label>."',
        ),
    ]


def test_a_phone_only_message_used_by_no_question_is_not_asked_for():
    def choices_only(raw):
        raw["questions"] = [question(raw, "afraid")]
        raw["report"]["crosstabs"] = []

    findings = check_questionnaire(build(choices_only))
    assert not warnings_at(findings, "voice.messages.keys_multi")
    assert not warnings_at(findings, "voice.messages.keys_number")
    assert warnings_at(findings, "voice.messages.option")


def test_option_message_placeholders():
    def option(en, es):
        def mutate(raw):
            raw["voice"] = {"messages": {"option": {"en": en, "es": es}}}

        return check_questionnaire(build(mutate))

    findings = option("For {label}, press {numbr}.", "Press {number}.")
    assert has(findings, "error", "voice.messages.option[en]", "unknown placeholder {numbr}")
    assert not has(findings, "error", "voice.messages.option[en]", "needs {number}")
    assert has(findings, "error", "voice.messages.option[es]", "needs {label}")
    assert errors(option("{label}: {number}. Help: {hotline}.", "{label}, {number}.")) == []

    def bad_message(raw):
        raw["voice"] = {"messages": {"help": {"en": "Press {number}.", "es": "Ayuda {"}}}

    findings = check_questionnaire(build(bad_message))
    assert has(findings, "error", "voice.messages.help[en]", "unknown placeholder {number}")
    assert has(findings, "error", "voice.messages.help[es]", "bad braces")


def test_spoken_texts_follow_the_files_languages():
    def spoken(raw):
        raw["voice"] = {
            "language_prompt": {"en": "For English, press 1.", "fr": "Pour le français, 3."},
            "messages": {
                "help": {"en": "Press star to hear it again."},
                "consnet": {"en": "Welcome.", "es": "Bienvenido."},
                "opted_in": {"en": "Welcome back.", "es": "Bienvenido de nuevo."},
            },
        }
        question(raw, "why")["options"][0]["voice"] = {"en": "the police"}
        question(raw, "age")["voice"] = {"es": "¿Cuántos años {tiene}?"}

    findings = check_questionnaire(build(spoken))
    assert has(findings, "warning", "voice.language_prompt", "no es text")
    assert has(findings, "warning", "voice.language_prompt", "text in fr, which is not in")
    assert has(findings, "warning", "voice.messages.help", "no es text: calls read messages.help")
    assert has(findings, "warning", "voice.messages.consnet", "not a message of the file")
    assert has(findings, "warning", "voice.messages.opted_in", "texting-only")
    # A per-question or per-option spoken text is an override for one language at a time.
    assert has(findings, "info", "question why.option police.voice", "no es text")
    assert has(findings, "info", "question age.voice", "no en text")
    assert has(findings, "warning", "question age.voice[es]", "braces are spoken literally")


def test_a_speech_hint_too_long_for_twilio_names_its_question():
    def long(raw):
        add_kreyol(raw)
        options = question(raw, "afraid")["options"]
        options[0]["synonyms"]["en"] = ["yeah", "yes " * 30]
        options[1]["synonyms"] = {"ht": ["non " * 30]}  # no speech recognition in Kreyòl
        raw["keywords"]["back"]["es"].append("volver " * 20)

    findings = check_questionnaire(build(long))
    hints = [f for f in findings if "hint" in f.message]
    assert has(findings, "warning", "question afraid", "en hint 'yes yes")
    assert has(findings, "warning", "question afraid", "over 100")
    assert not any("non non" in f.message for f in hints)
    # BACK is a hint of every question: reported once, at the first.
    first = f"question {BASE['questions'][0]['id']}"
    assert [f.where for f in hints if "es hint 'volver" in f.message] == [first]


def test_spoken_questions_are_counted_in_words():
    def spoken(raw):
        raw["voice"] = {
            "messages": {
                "option": {"en": "For {label}, press {number}.", "es": "{label}: {number}."}
            }
        }
        question(raw, "why")["voice"] = {"en": "Why? " * 90, "es": "¿Por qué?"}

    findings = check_questionnaire(build(spoken))
    # "Are you afraid? For Yes, press 1. For No, press 2."
    assert has(findings, "info", "question afraid[en]", "11 words spoken")
    assert has(findings, "warning", "question why[en]", "more than 90")
    assert has(findings, "info", "question why[es]", "words spoken")


# -------------------------------------------------------------------------------------- CLI


@pytest.fixture
def no_audio_settings(monkeypatch):
    """The audio settings unset, whatever the environment says, outside production (where the
    shipped placeholders are warnings, so the recordings decide the outcome)."""
    monkeypatch.setenv("SURVEYBOT_ENV", "test")
    monkeypatch.setenv("VOICE_AUDIO_DIR", "")
    monkeypatch.setenv("VOICE_AUDIO_BASE_URL", "")
    return monkeypatch


def survey_check(*args: str):
    from click.testing import CliRunner

    from bot.cli import main

    return CliRunner().invoke(main, ["survey", "check", *args])


def test_cli_warns_about_missing_recordings_without_failing(no_audio_settings, tmp_path):
    result = survey_check("--audio-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    line = "WARNING voice.recordings.ht message.consent: recording ht/consent.mp3 not found in"
    assert f"{line} {tmp_path}" in result.output
    assert "0 errors" in result.output


def test_cli_audio_dir_option_and_setting(no_audio_settings, tmp_path):
    record_everything(load_questionnaire(), tmp_path)
    result = survey_check("--audio-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "WARNING voice.recordings" not in result.output
    assert f"recorded in {tmp_path}" in result.output

    no_audio_settings.setenv("VOICE_AUDIO_DIR", str(tmp_path))
    result = survey_check()
    assert "WARNING voice.recordings" not in result.output
    assert f"recorded in {tmp_path}" in result.output


def test_cli_with_an_audio_base_url_checks_names_only(no_audio_settings, tmp_path):
    no_audio_settings.setenv("VOICE_AUDIO_BASE_URL", "https://cdn.example/audio")
    no_audio_settings.setenv("VOICE_AUDIO_DIR", str(tmp_path))  # the app plays from the URL
    result = survey_check()
    assert result.exit_code == 0, result.output
    assert "WARNING voice.recordings" not in result.output
    assert "INFO voice.recordings: served from https://cdn.example/audio" in result.output
    # --audio-dir checks a local copy anyway.
    result = survey_check("--audio-dir", str(tmp_path))
    assert "WARNING voice.recordings.ht message.consent" in result.output


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
