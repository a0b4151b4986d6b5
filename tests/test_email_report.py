"""The weekly email: the study's sentences and tables from a published report, en and es."""

from __future__ import annotations

import copy
import email
import re
from email import policy
from html.parser import HTMLParser

import pytest

from bot.core.questionnaire import load_questionnaire
from bot.releases.email_report import build_message, render_report, whole_percent

NOTE_EN = (
    "To protect respondents, counts of fewer than 5 people (1 to 4) are not shown, and a few "
    "other cells are hidden so they can't be worked out from totals."
)


@pytest.fixture(scope="module")
def q():
    return load_questionnaire()


def cell(answered, yes, no):
    return {"answered": answered, "counts": {"yes": yes, "no": no}}


def published() -> dict:
    """A published report (suppressed cells are None), in the contract's shape."""
    return {
        "survey": "community_safety",
        "wave": "summer-2026",
        "period": {"start": "2026-11-16", "end": "2026-11-22"},
        "suppression_min": 5,
        "started": 140,
        "completed": 120,
        "by_language": {"en": 30, "es": 70, "ht": 20},
        "questions": {
            "status": {
                "type": "choice",
                "answered": 118,
                "counts": {
                    "citizen": 40,
                    "lpr": 30,
                    "other_status": None,
                    "undocumented": 40,
                    "no_answer": None,
                },
            },
            "afraid_to_seek_help": {
                "type": "choice",
                "answered": 118,
                "counts": {"yes": 66, "no": 52},
            },
            "fear_reasons": {
                "type": "multi",
                "answered": 60,
                "counts": {
                    "ice_collaboration": 18,
                    "deportation": 40,
                    "language": None,
                    "bad_experience": None,
                    "other": 7,
                },
            },
            "would_report_crime": {
                "type": "choice",
                "answered": 110,
                "counts": {"yes": 50, "no": 40, "not_sure": 20},
            },
        },
        "crosstabs": {
            "afraid_to_seek_help|status": {
                "citizen": cell(40, 6, 34),
                "lpr": cell(30, 11, 19),
                "other_status": cell(None, None, None),
                "undocumented": cell(40, None, None),
                "no_answer": cell(0, 0, 0),
            },
            "afraid_to_seek_help|years_in_us": {
                "lt5": cell(40, 30, 10),
                "5to10": cell(38, 19, 19),
                "gt10": cell(40, 17, 23),
            },
            "afraid_to_seek_help|knows_deported": {
                "none": cell(50, 20, 30),
                "one": cell(40, 26, 14),
                "several": cell(28, 20, 8),
            },
            "afraid_to_seek_help|language": {
                "en": cell(30, 10, 20),
                "es": cell(68, 44, 24),
                "ht": cell(20, 12, 8),
            },
            "fear_reasons|status": {
                "citizen": {"answered": 6, "counts": {"ice_collaboration": None}},
            },
        },
    }


def previous_week() -> dict:
    report = copy.deepcopy(published())
    report["period"] = {"start": "2026-11-09", "end": "2026-11-15"}
    status = report["crosstabs"]["afraid_to_seek_help|status"]
    status["citizen"] = cell(40, 4, 36)  # 10% then, 15% now: +5 pts
    status["lpr"] = cell(None, None, None)  # suppressed then: no change shown
    years = report["crosstabs"]["afraid_to_seek_help|years_in_us"]
    years["gt10"] = cell(40, 15, 25)  # 38% then (37.5 rounds up), 43% now: +5 pts
    years["lt5"] = cell(40, 33, 7)  # 83% then, 75% now: -8 pts
    report["crosstabs"]["afraid_to_seek_help|language"]["es"] = cell(68, 40, 28)  # 59%: +6 pts
    return report


def row_of(text: str, label: str, index: int = 0) -> str:
    """A plain-text table row that starts with a group's label (the first one by default)."""
    return [line for line in text.splitlines() if line.startswith(label + " ")][index]


def test_english_headlines_in_the_studys_words(q):
    rendered = render_report(published(), previous_week(), q)
    assert rendered.subject == "Community safety survey — week of Nov 16–22, 2026"
    for sentence in (
        "56% of respondents said they are afraid to go to the police, fire department or "
        "emergency room for help.",
        "37% of permanent residents and 15% of US citizens said so too.",
        "30% of those afraid named collaboration between local police and ICE as a reason.",
        "43% of respondents who have lived in the US for over 10 years are afraid.",
        "Of respondents who know someone who was deported, 68% are afraid, against 40% of those "
        "who know no one.",
    ):
        assert sentence in rendered.html, sentence
        assert sentence in " ".join(rendered.text.split()), sentence
    assert "120 people completed the survey this week (140 started)." in rendered.text


def test_spanish_uses_spanish_text_and_labels(q):
    rendered = render_report(published(), previous_week(), q, language="es")
    assert rendered.subject == (
        "Encuesta de seguridad comunitaria — semana del 16 al 22 de noviembre de 2026"
    )
    text = " ".join(rendered.text.split())
    for sentence in (
        "El 56% de las personas encuestadas dijo tener miedo de acudir a la policía, a los "
        "bomberos o a una sala de emergencias para pedir ayuda.",
        "También lo dijo el 37% de los residentes permanentes y el 15% de los ciudadanos "
        "estadounidenses.",
        "El 30% de quienes tienen miedo mencionó como motivo la colaboración entre la policía "
        "local e ICE.",
        "El 43% de quienes llevan más de 10 años viviendo en EE. UU. tiene miedo.",
    ):
        assert sentence in text, sentence
    assert "Residente permanente (green card)" in rendered.text
    assert "Miedo a la deportación" in rendered.text
    assert "no se muestra" in rendered.text
    assert "no se muestran los conteos de menos de 5 personas (de 1 a 4)" in text
    assert '<html lang="es">' in rendered.html
    for english in ("afraid", "not shown", "Permanent resident", "Key findings"):
        assert english not in rendered.text and english not in rendered.html, english


def test_suppressed_cells_read_not_shown_and_the_note_explains(q):
    # "not shown", never "fewer than 5": a None may also be a large count hidden so that a
    # small one can't be worked out from the totals (see test_a_hidden_total_is_not_called_small)
    rendered = render_report(published(), None, q)
    other = row_of(rendered.text, "Other (visa, TPS, asylum pending...)")
    assert other.count("not shown") == 2
    assert "not shown" in row_of(rendered.text, "Language barrier")
    assert NOTE_EN in " ".join(rendered.text.split())
    assert NOTE_EN.replace("'", "&#x27;") in rendered.html
    assert '<td align="right" style="' in rendered.html and ">not shown</td>" in rendered.html
    # The rule ("fewer than 5") is stated once, in the note; no cell claims to be small.
    assert " ".join(rendered.text.split()).count("fewer than") == 1

    report = published()
    report["suppression_min"] = 10  # the note follows the report's minimum
    note = " ".join(render_report(report, None, q).text.split())
    assert "counts of fewer than 10 people (1 to 9) are not shown" in note


def test_no_percentage_from_a_suppressed_number(q):
    rendered = render_report(published(), None, q)
    # undocumented: 40 answered, the afraid count is hidden -> no percentage, no change
    undocumented = row_of(rendered.text, "Undocumented")
    assert "%" not in undocumented
    assert undocumented.split()[-2:] == ["—", "—"]
    assert "%" not in row_of(rendered.text, "Language barrier")
    # the chart says so too, instead of drawing a bar
    assert "Undocumented: not shown" in rendered.html

    report = published()
    report["crosstabs"]["afraid_to_seek_help|status"]["lpr"] = cell(30, None, None)
    report["questions"]["afraid_to_seek_help"]["counts"]["yes"] = None
    report["questions"]["fear_reasons"]["answered"] = None
    rendered = render_report(report, None, q)
    assert "15% of US citizens said so too." in rendered.text
    assert "permanent residents" not in rendered.text
    assert "of respondents said they are afraid" not in rendered.text
    assert "How many said they are afraid to seek help is not shown this week" in " ".join(
        rendered.text.split()
    )
    assert "as a reason" not in rendered.text  # its base (who gave reasons) is hidden
    assert "%" not in row_of(rendered.text, "Police work with ICE")


def test_changes_in_points_against_the_week_before(q):
    rendered = render_report(published(), previous_week(), q)
    assert row_of(rendered.text, "US citizen").endswith("+5 pts")
    assert row_of(rendered.text, "Permanent resident (green card)").endswith("—")
    assert row_of(rendered.text, "More than 10 years").endswith("+5 pts")
    assert row_of(rendered.text, "Less than 5 years").endswith("\u22128 pts")
    assert row_of(rendered.text, "Español").endswith("+6 pts")
    assert row_of(rendered.text, "Nobody").endswith("0 pts")
    assert "+6 pts" in rendered.html

    without = render_report(published(), None, q)
    assert "pts" not in without.text
    assert "no figures from the week before" in without.text


def test_rounding_is_half_up_and_only_from_published_numbers():
    assert whole_percent(3, 8) == 38  # 37.5
    assert whole_percent(1, 8) == 13  # 12.5
    assert whole_percent(66, 118) == 56
    assert whole_percent(None, 10) is None
    assert whole_percent(3, None) is None
    assert whole_percent(0, 0) is None


def test_a_week_with_no_answers_still_sends_a_short_email(q):
    report = published()
    report.update(started=0, completed=0, by_language={"en": 0, "es": 0, "ht": 0})
    rendered = render_report(report, None, q)
    assert "There were no new answers this week." in rendered.text
    assert "There were no new answers this week." in rendered.html
    assert "%" not in rendered.text
    assert "<table" in rendered.html and 'role="img"' not in rendered.html
    es = render_report(report, None, q, language="es")
    assert "No hubo respuestas nuevas esta semana." in es.text

    # fewer than 5 completed (fewer than 5 even started): nothing can be shown safely
    report.update(started=3, completed=None)
    rendered = render_report(report, None, q)
    assert "Fewer than 5 people completed the survey this week" in rendered.text
    assert "%" not in rendered.text


def test_a_hidden_total_is_not_called_small(q):
    # Complementary suppression may hide `completed` although it is large: the email must not
    # say "fewer than 5 people completed", and still reports what is published.
    report = published()
    report["completed"] = None
    report["by_language"]["en"] = None
    rendered = render_report(report, None, q)
    text = " ".join(rendered.text.split())
    assert "How many people completed the survey this week is not shown" in text
    assert "Fewer than 5 people completed" not in text
    assert "56% of respondents said they are afraid" in text
    assert row_of(rendered.text, "Español", -1).split() == ["Español", "70", "—"]  # no share
    assert row_of(rendered.text, "English", -1).split() == ["English", "not", "shown", "—"]
    assert " ".join(rendered.text.split()).count("fewer than") == 1  # only the note's rule


def test_only_published_aggregates_reach_the_email(q):
    report = published()
    report["response_ids"] = ["0b7f5c1e-3c3e-4f59-9a8c-secret"]
    report["debug"] = {"pseudonym": "v1:deadbeefcafe"}
    rendered = render_report(report, None, q)
    for leak in ("secret", "deadbeef", "pseudonym", "response_ids"):
        assert leak not in rendered.text and leak not in rendered.html


class TagBalance(HTMLParser):
    CHECKED = {"html", "head", "body", "table", "thead", "tbody", "tr", "td", "th", "ul", "li"}
    CHECKED |= {"p", "h1", "h2", "title"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.charts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("role") == "img":
            self.charts.append(attrs)
        if tag in self.CHECKED:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag not in self.CHECKED:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()


@pytest.mark.parametrize("language", ["en", "es"])
def test_html_is_well_formed_and_every_chart_has_alt_text(q, language):
    rendered = render_report(published(), previous_week(), q, language=language)
    parser = TagBalance()
    parser.feed(rendered.html)
    parser.close()
    assert parser.errors == []
    assert parser.stack == []
    assert rendered.html.startswith("<!DOCTYPE html>")
    assert len(parser.charts) == 4  # % afraid by status, years, knowing someone, language
    for chart in parser.charts:
        assert chart.get("aria-label"), chart
    labels = [c["aria-label"] for c in parser.charts]
    if language == "en":
        assert "US citizen: 15%" in labels[0]
        assert "Permanent resident (green card): 37%" in labels[0]
        assert "More than 10 years: 43%" in labels[1]
    else:
        assert "Residente permanente (green card): 37%" in labels[0]
    # each chart has a visible caption just before it
    assert (
        rendered.html.count("Chart: percent afraid" if language == "en" else "Gráfico: porcentaje")
        == 4
    )


def test_html_escapes_what_it_shows(q):
    report = published()
    report["wave"] = "<b>summer</b>"
    rendered = render_report(report, None, q)
    assert "<b>summer</b>" not in rendered.html
    assert "&lt;b&gt;summer&lt;/b&gt;" in rendered.html


def test_build_message_is_multipart_alternative_with_both_parts(q):
    rendered = render_report(published(), previous_week(), q, language="es")
    msg = build_message(
        rendered,
        sender="Encuesta <survey@coalition.example.org>",
        recipients=["a@example.org", "b@example.org"],
    )
    parsed = email.message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["Subject"] == rendered.subject
    assert parsed["From"] == "Encuesta <survey@coalition.example.org>"
    assert parsed["To"] == "a@example.org, b@example.org"
    assert parsed["Date"]
    assert re.fullmatch(r"<[^@<>]+@coalition\.example\.org>", parsed["Message-ID"])
    parts = [part.get_content_type() for part in parsed.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    plain, html = parsed.iter_parts()
    assert plain.get_content_charset() == "utf-8"
    assert html.get_content_charset() == "utf-8"
    assert plain.get_content().replace("\r\n", "\n") == rendered.text
    assert "situación migratoria" in html.get_content()
