"""The weekly email: a published report rendered as text and HTML, in the study's style.

`email_content` decides what the email says (plain data); the Jinja templates under
bot/templates/email lay it out; this module renders them and wraps the result in a MIME message.
Rendering needs no Flask app: the weekly job runs in an RQ worker. No I/O but reading templates
and catalogs.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import re
import textwrap
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from jinja2.ext import Extension
from markupsafe import Markup

from bot.releases.catalog import catalog, languages
from bot.releases.email_content import build_content
from bot.releases.email_format import Table, whole_percent

__all__ = ["STRINGS", "RenderedReport", "build_message", "render_report", "whole_percent"]

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
WIDTH = 76  # plain-text lines, as mail clients quote them

# The email's sentences by language (the dashboard lists these languages).
STRINGS = {language: catalog(language).email for language in languages()}


@dataclass(frozen=True)
class RenderedReport:
    """One email, ready to wrap in a MIME message: subject, plain text and HTML."""

    subject: str
    text: str
    html: str


class _OneLine(Extension):
    """Join every line of an HTML template to the next: the email's HTML is one line.

    Templates stay readable with one element a line; some mail clients turn stray newlines
    between table cells into gaps, so the output has none but those written as {{ "\\n" }}.
    """

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return re.sub(r"\n[ \t]*", "", source)


def _escape(value: Any) -> Any:
    # html.escape (quotes as &quot; and &#x27;) rather than markupsafe's &#34; and &#39;: the
    # same bytes the email has always had.
    if isinstance(value, str) and not isinstance(value, Markup):
        return Markup(html.escape(value))
    return value


def _wrap(text: str, initial: str = "", subsequent: str = "") -> str:
    lines = textwrap.wrap(text, WIDTH, initial_indent=initial, subsequent_indent=subsequent)
    return "\n".join(lines)


def _text_grid(table: Table) -> str:
    """A table's header, rule and rows in aligned columns: the first left, the rest right."""
    widths = [
        max(len(column), *(len(row[c]) for row in table.rows)) if table.rows else len(column)
        for c, column in enumerate(table.columns)
    ]

    def line(cells: tuple[str, ...]) -> str:
        parts = [
            cell.ljust(widths[c]) if c == 0 else cell.rjust(widths[c])
            for c, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(table.columns), rule, *(line(row) for row in table.rows)])


@functools.cache
def _environments() -> tuple[Environment, Environment]:
    loader = FileSystemLoader(TEMPLATES)
    html_env = Environment(
        loader=loader,
        autoescape=True,
        finalize=_escape,
        extensions=[_OneLine],
        undefined=StrictUndefined,
    )
    text_env = Environment(
        loader=loader,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=StrictUndefined,
    )
    text_env.filters.update(wrap=_wrap, text_grid=_text_grid)
    return html_env, text_env


def render_report(
    current: dict[str, Any],
    previous: dict[str, Any] | None,
    q,
    *,
    language: str = "en",
    so_far: dict[str, Any] | None = None,
) -> RenderedReport:
    """The email of one published report; `previous` (the week before) gives the changes,
    `so_far` (the wave so far, of the same release) is shown beside it."""
    strings = catalog(language).email  # ValueError for a language without a catalog
    content = build_content(current, previous, q, language, so_far)
    html_env, text_env = _environments()
    context = {"c": content, "s": strings, "language": language}
    return RenderedReport(
        subject=content.subject,
        text=text_env.get_template("email/report.txt").render(context),
        html=html_env.get_template("email/report.html").render(context),
    )


def build_message(
    rendered: RenderedReport, *, sender: str, recipients: list[str] | tuple[str, ...]
) -> EmailMessage:
    """A multipart/alternative (text + HTML) UTF-8 message."""
    msg = EmailMessage()
    msg["Subject"] = rendered.subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    address = parseaddr(sender)[1]
    domain = address.rsplit("@", 1)[1] if "@" in address else ""
    # An explicit domain: without one, make_msgid looks up this machine's name.
    msg["Message-ID"] = make_msgid(domain=domain or "surveybot.invalid")
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(rendered.text, subtype="plain", charset="utf-8")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return msg
