"""/dashboard: the organizers' web pages (server-rendered, no JavaScript needed).

Every view is wrapped by `require_role` (or marked `public`, the sign-in page only); every POST
carries the session's CSRF token. Only published figures reach a page or a CSV: the report
goes through `bot.releases.report.publish` (small-cell suppression), and every other count
shown here (invitations, drop-off, started by language) is suppressed by the same rules. The one
exception is the row-level export, for admins only, after a warning and an explicit confirm.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import logging
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlmodel import func, select
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from bot.core.questionnaire import Questionnaire, QuestionType, parse_questionnaire
from bot.dashboard import auth
from bot.dashboard.auth import Role, current_user, db, public, require_role
from bot.infra import keys
from bot.infra.exceptions import SurveybotError
from bot.infra.models import AggregateProfile, Answer, User
from bot.infra.models import Response as ResponseRow
from bot.outreach.invitations import (
    MAX_INVALID_SHOWN,
    InvitationPreview,
    invitation_progress,
    opted_out_checker,
    parse_invitation_csv,
    preview_invitations,
    queue_invitations,
)
from bot.outreach.waves import (
    WaveError,
    WaveStatus,
    close_wave,
    create_wave,
    get_wave,
    list_waves,
    wave_questionnaire,
)
from bot.outreach.waves import open_wave as open_wave_record
from bot.releases.email_report import STRINGS as EMAIL_LANGUAGES
from bot.releases.email_report import whole_percent
from bot.releases.report import category_label, ordered_categories
from bot.releases.suppression import suppress_report
from bot.web import outages
from bot.web.state import state

log = logging.getLogger("surveybot.dashboard")

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

INVITATION_UPLOAD_MAX_BYTES = 2 * 1024 * 1024  # ~100k numbers; the app's default is 64 KB
LANGUAGE = "language"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-src 'self'; "
    "frame-ancestors 'none'"
)
# The email preview is the email's own HTML (inline styles, no scripts), shown in a sandboxed
# frame of the preview page only.
PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


# ---------------------------------------------------------------------------------- app wiring


def init_app(app: Flask) -> None:
    """Register the dashboard, its security headers and its per-request database session."""
    app.register_blueprint(bp)
    app.after_request(security_headers)
    app.teardown_appcontext(auth.close_db)


def security_headers(response: Response) -> Response:
    """Headers every response gets (views may set stricter or looser ones first)."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    if request.blueprint == "dashboard":
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("Cache-Control", "no-store")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    if current_app.extensions["surveybot"].settings.is_production:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


@bp.before_request
def _before() -> None:
    if request.endpoint == "dashboard.invitations" and request.method == "POST":
        request.max_content_length = INVITATION_UPLOAD_MAX_BYTES
    auth.check_csrf()


@bp.context_processor
def _template_globals() -> dict[str, Any]:
    user = current_user()
    return {
        "csrf_token": auth.csrf_token,
        "user": user,
        "can": (lambda role: user is not None and auth.has_role(user, role)),
        "minimum": state().settings.SMALL_CELL_MIN,
    }


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    if exc.code is not None and exc.code < 400:
        return exc
    return render_template("dashboard/error.html", error=exc), exc.code or 500


def _outage_page(exc: Exception):
    """Redis or the database is down: the dashboard's own 503 page, not a bare 500."""
    service = outages.log_outage(exc)
    # Who is signed in cannot be known now, and asking again would fail again.
    g.dashboard_user = None
    error = ServiceUnavailable(description=outages.MESSAGES[service])
    page = render_template("dashboard/error.html", error=error)
    return page, 503, {"Retry-After": str(outages.RETRY_AFTER_SECONDS)}


for _outage in outages.OUTAGES:
    bp.register_error_handler(_outage, _outage_page)


# ---------------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class Bar:
    """One bar of a chart: a label, a published count (None: not shown) and its percent."""

    label: str
    count: int | None
    pct: int | None


@dataclass(frozen=True)
class Chart:
    """A question's published counts as bars."""

    id: str
    title: str
    answered: int | None
    bars: tuple[Bar, ...]
    multi: bool = False


@dataclass(frozen=True)
class CrossRow:
    """One group of a crosstab: its label, how many answered and a cell per option."""

    label: str
    answered: int | None
    cells: tuple[Bar, ...]


@dataclass(frozen=True)
class Crosstab:
    """Answers to one question by the groups of another."""

    key: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[CrossRow, ...]


@dataclass(frozen=True)
class FunnelRow:
    """One point of the drop-off funnel (a question reached, or the start or the end)."""

    label: str
    reached: int | None
    pct: int | None  # of those who started
    stopped: int | None = None  # stopped after this point, before the next shown one
    span: int = 1  # how many steps `stopped` covers
    conditional: str = ""  # for a question asked of some respondents only: of whom


@dataclass
class WavePage:
    """Everything the wave page shows, all published (suppressed) figures."""

    started: int | None
    completed: int | None
    completion_rate: int | None
    events: list[tuple[str, int | None]]
    invitations: list[tuple[str, int | None]] | None
    languages: list[tuple[str, int | None, int | None, int | None]]
    funnel: list[FunnelRow]
    conditional: list[FunnelRow]
    charts: list[Chart]
    crosstabs: list[Crosstab] = field(default_factory=list)


def primary(value: int | None, minimum: int) -> int | None:
    """A count as it may be shown: None for 1 to minimum - 1 (zeros reveal nobody)."""
    if value is None or 0 < value < minimum:
        return None
    return value


def _int(raw: Mapping[bytes, bytes], name: str) -> int:
    try:
        return max(0, int(raw.get(name.encode(), 0)))
    except ValueError:
        return 0


def chain_shown(values: list[int], minimum: int, *, keep: tuple[bool, bool]) -> list[bool]:
    """Which points of a funnel to show: no shown count, and no difference between two
    neighbouring shown counts, may be 1 to minimum - 1; as many points as that allows.

    `keep` says whether the first and the last point are published elsewhere anyway (then
    they are shown, and the difference between just those two is not a secret either).
    """
    n = len(values)
    if n == 0:
        return []

    def shown_ok(v: int) -> bool:
        return v == 0 or v >= minimum

    def gap_ok(i: int, j: int) -> bool:
        gap = abs(values[i] - values[j])
        return gap == 0 or gap >= minimum or (i == 0 and j == n - 1 and all(keep))

    best: list[tuple[int, int | None] | None] = [None] * n  # (points shown, previous)
    for j in range(n):
        if not shown_ok(values[j]):
            continue
        if j == 0 or not keep[0]:
            best[j] = (1, None)
        for i in range(j):
            if best[i] is not None and gap_ok(i, j):
                if best[j] is None or best[i][0] + 1 > best[j][0]:
                    best[j] = (best[i][0] + 1, i)
    ends = [n - 1] if keep[1] else list(range(n))
    candidates = [j for j in ends if best[j] is not None]
    shown = [False] * n
    if not candidates:
        return shown
    j: int | None = max(candidates, key=lambda k: (best[k][0], k))
    while j is not None:
        shown[j] = True
        j = best[j][1]
    return shown


def _question_title(q: Questionnaire, question_id: str) -> str:
    if question_id == LANGUAGE:
        return "Language of the survey"
    try:
        return q.question(question_id).text.get("en", question_id)
    except KeyError:
        return question_id


# Short names of the contract's question ids (ARCHITECTURE.md) for table titles; other ids
# read as themselves.
SHORT_NAMES = {
    "status": "immigration status",
    "years_in_us": "years in the US",
    "afraid_to_seek_help": "afraid to seek help",
    "fear_reasons": "reasons for the fear",
    "knows_deported": "knowing someone who was deported",
    "would_report_crime": "would report a crime",
    LANGUAGE: "language of the survey",
}


def _short_title(question_id: str) -> str:
    name = SHORT_NAMES.get(question_id, question_id.replace("_", " "))
    return name[:1].upper() + name[1:]


def question_charts(published: Mapping[str, Any], q: Questionnaire) -> list[Chart]:
    """A bar chart per question of the published report, in the questionnaire's order."""
    charts = []
    questions = published.get("questions", {})
    for question_id in _ordered_questions(q, questions):
        data = questions[question_id]
        answered = data.get("answered")
        counts = data.get("counts", {})
        bars = tuple(
            Bar(
                category_label(q, question_id, option),
                counts[option],
                whole_percent(counts[option], answered),
            )
            for option in ordered_categories(q, question_id, counts)
        )
        charts.append(
            Chart(
                question_id,
                _question_title(q, question_id),
                answered,
                bars,
                multi=data.get("type") == QuestionType.MULTI.value,
            )
        )
    return charts


def _ordered_questions(q: Questionnaire, present: Iterable[str]) -> list[str]:
    rank = {question.id: i for i, question in enumerate(q.questions)}
    return sorted(present, key=lambda k: (rank.get(k, len(rank)), k))


def crosstab_tables(published: Mapping[str, Any], q: Questionnaire) -> list[Crosstab]:
    """Each published crosstab as a table of counts and row percentages."""
    tables = []
    for key, groups in published.get("crosstabs", {}).items():
        first, _, second = key.partition("|")
        options = ordered_categories(
            q, first, published.get("questions", {}).get(first, {}).get("counts", {})
        )
        rows = []
        for category in ordered_categories(q, second, groups):
            cell = groups[category]
            answered = cell.get("answered")
            counts = cell.get("counts", {})
            rows.append(
                CrossRow(
                    category_label(q, second, category),
                    answered,
                    tuple(
                        Bar(
                            category_label(q, first, option),
                            counts.get(option),
                            whole_percent(counts.get(option), answered),
                        )
                        for option in options
                    ),
                )
            )
        title = f"{_short_title(first)}, by {SHORT_NAMES.get(second, second.replace('_', ' '))}"
        tables.append(
            Crosstab(key, title, tuple(category_label(q, first, o) for o in options), tuple(rows))
        )
    return tables


def language_rows(
    published: Mapping[str, Any], stats: Mapping[bytes, bytes], q: Questionnaire, minimum: int
) -> list[tuple[str, int | None, int | None, int | None]]:
    """Per language: name, started, completed and completion rate, all suppressed."""
    started_total = _int(stats, "started")
    started = suppress_report(
        {
            "completed": started_total,
            "by_language": {lang: _int(stats, f"started:{lang}") for lang in q.languages},
        },
        minimum,
    )
    completed = published.get("by_language", {})
    rows = []
    for lang in ordered_categories(q, LANGUAGE, dict.fromkeys([*q.languages, *completed])):
        began = started["by_language"].get(lang)
        done = completed.get(lang)
        rows.append((q.language_names.get(lang, lang), began, done, whole_percent(done, began)))
    return rows


def condition_count(published: Mapping[str, Any], when: Mapping[str, Iterable[str]]) -> int | None:
    """How many completed respondents met a skip-logic condition, as published (None: hidden,
    or not a published count at all)."""
    if len(when) != 1:
        return None  # answers to two questions at once: no published count says how many
    [(question_id, options)] = when.items()
    data = published.get("questions", {}).get(question_id, {})
    counts = [data.get("counts", {}).get(option) for option in options]
    if not counts or None in counts:
        return None
    if len(counts) > 1 and data.get("type") == QuestionType.MULTI.value:
        return None  # a respondent may be in several counts: their sum is nobody's count
    return sum(counts)


def drop_off(
    q: Questionnaire,
    asked: Mapping[bytes, bytes],
    raw: Mapping[str, Any],
    published: Mapping[str, Any],
    minimum: int,
) -> tuple[list[FunnelRow], list[FunnelRow]]:
    """The funnel from started through each question to completed, and the reach of the
    questions asked of some respondents only (skip logic), all suppressed."""
    if not asked:
        return [], []
    labels = ["Started"]
    values = [int(raw.get("started", 0))]
    conditional = []
    for question in q.questions:
        reached = _int(asked, question.id)
        title = f"{question.id}: {_question_title(q, question.id)}"
        if question.when:
            whom = "; ".join(
                f"{_short_title(k)} = {', '.join(category_label(q, k, o) for o in v)}"
                for k, v in question.when.items()
            )
            # Who reached it is about how many met the condition: hidden when that is hidden.
            hidden = condition_count(published, question.when) is None
            shown = None if hidden else primary(reached, minimum)
            conditional.append(
                FunnelRow(
                    title,
                    shown,
                    whole_percent(shown, published.get("started")),
                    conditional=whom,
                )
            )
            continue
        labels.append(title)
        values.append(reached)
    labels.append("Completed")
    values.append(int(raw.get("completed", 0)))
    keep = (published.get("started") is not None, published.get("completed") is not None)
    shown = chain_shown(values, minimum, keep=keep)
    started = values[0] if shown[0] else None
    rows = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        if not shown[i]:
            rows.append(FunnelRow(label, None, None))
            continue
        following = next((j for j in range(i + 1, len(values)) if shown[j]), None)
        stopped = None if following is None else max(0, value - values[following])
        span = 1 if following is None else following - i
        rows.append(FunnelRow(label, value, whole_percent(value, started), stopped, span))
    return rows, conditional


INVITATION_LABELS = (
    ("queued", "Queued"),
    ("pending", "Waiting to be sent"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("failed", "Failed or undelivered"),
    ("opted_out", "Not sent: opted out"),
    ("skipped", "Not sent: already invited, or the wave closed"),
)


def wave_figures(settings, redis, q: Questionnaire, wave: str, asked_q: Questionnaire) -> WavePage:  # noqa: ANN001
    """The wave page's published figures: report, counters, invitations and drop-off."""
    from bot.releases.report import load_raw_report, publish

    minimum = settings.SMALL_CELL_MIN
    raw = load_raw_report(settings, redis, wave=wave, week=None)
    published = publish(raw)
    stats = redis.hgetall(keys.wave_stats(wave))
    asked = redis.hgetall(keys.asked_stats(wave))
    progress = invitation_progress(redis, wave)
    invitations = None
    if progress.queued:
        invitations = [
            (label, primary(getattr(progress, name), minimum)) for name, label in INVITATION_LABELS
        ]
    funnel, conditional = drop_off(asked_q, asked, raw, published, minimum)
    return WavePage(
        started=published.get("started"),
        completed=published.get("completed"),
        completion_rate=whole_percent(published.get("completed"), published.get("started")),
        events=[
            ("Declined at the consent message", primary(_int(stats, "declined"), minimum)),
            ("Opted out (STOP)", primary(_int(stats, "opted_out"), minimum)),
        ],
        invitations=invitations,
        languages=language_rows(published, stats, q, minimum),
        funnel=funnel,
        conditional=conditional,
        charts=question_charts(published, q),
        crosstabs=crosstab_tables(published, q),
    )


# ---------------------------------------------------------------------------------- CSV


def _csv_cell(value: Any) -> str:
    # A cell starting with = + - @ runs as a formula in spreadsheets; ours are ids and counts,
    # but quote defensively.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_response(rows: Iterable[Iterable[Any]], filename: str) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    response = Response(buffer.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def aggregate_rows(published: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The published report as (table, group, option, count, suppressed) rows."""
    rows: list[tuple[Any, ...]] = [("table", "group", "option", "count", "suppressed")]

    def add(table: str, group: str, option: str, value: int | None) -> None:
        rows.append(
            (table, group, option, "" if value is None else value, "yes" if value is None else "no")
        )

    for name in ("started", "completed"):
        if name in published:
            add("summary", "", name, published[name])
    for lang, value in published.get("by_language", {}).items():
        add("by_language", "", lang, value)
    for question_id, data in published.get("questions", {}).items():
        add(question_id, "", "answered", data.get("answered"))
        for option, value in data.get("counts", {}).items():
            add(question_id, "", option, value)
    for key, groups in published.get("crosstabs", {}).items():
        for group, cell in groups.items():
            add(key, group, "answered", cell.get("answered"))
            for option, value in cell.get("counts", {}).items():
                add(key, group, option, value)
    return rows


def export_rows(session, q: Questionnaire, wave: str) -> list[list[Any]]:  # noqa: ANN001
    """A wave's responses, one row each, with nothing that leads back to a respondent: a
    fresh row number (shuffled order, not the response id), language, ISO week, answers."""
    responses = session.exec(
        select(ResponseRow.id, ResponseRow.language, ResponseRow.completed_week).where(
            ResponseRow.wave == wave
        )
    ).all()
    answers: dict[Any, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    query = (
        select(
            Answer.response_id, Answer.question_id, Answer.option_id, Answer.number, Answer.skipped
        )
        .join(ResponseRow, ResponseRow.id == Answer.response_id)
        .where(ResponseRow.wave == wave)
    )
    for response_id, question_id, option_id, number, skipped in session.exec(query):
        if skipped:
            value = "skipped"
        elif option_id is not None:
            value = option_id
        else:
            value = "" if number is None else str(number)
        answers[response_id][question_id].append(value)
    question_ids = [question.id for question in q.questions]
    extra = sorted({qid for given in answers.values() for qid in given} - set(question_ids))
    columns = question_ids + extra
    rows = []
    for response_id, language, week in responses:
        given = answers.get(response_id, {})
        rows.append([wave, language, week, *(";".join(sorted(given.get(c, []))) for c in columns)])
    # Storage order follows completion time; a shuffle leaves no order to join on.
    random.SystemRandom().shuffle(rows)
    header = ["row", "wave", "language", "week", *columns]
    return [header, *([i, *row] for i, row in enumerate(rows, start=1))]


# ---------------------------------------------------------------------------------- helpers


def _wave_or_404(name: str):  # noqa: ANN202
    try:
        return get_wave(db(), name)
    except WaveError:
        abort(404, description=f"There is no wave named {name!r}.")


@lru_cache(maxsize=16)
def _parsed(source: str) -> Questionnaire:
    return parse_questionnaire(source)


def _wave_questionnaire(wave) -> Questionnaire:  # noqa: ANN001
    """The questionnaire the wave asks (its snapshot once open), for drop-off labels."""
    if wave.questionnaire_yaml:
        try:
            return _parsed(wave.questionnaire_yaml)
        except SurveybotError:
            pass
    return state().questionnaire


def _flash_error(error: Exception | str) -> None:
    """Undo this request's database changes and tell the user why, as an error."""
    db().rollback()
    flash(str(error), "error")


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/dashboard") and not target.startswith("//"):
        return target
    return url_for("dashboard.waves")


def _keywords_from_form(q: Questionnaire) -> dict[str, list[str]] | None:
    chosen = {}
    for lang in q.languages:
        words = [w.strip() for w in request.form.get(f"keywords_{lang}", "").split(",")]
        if any(words):
            chosen[lang] = [w for w in words if w]
    return chosen or None


def _file_digest(data: bytes) -> str:
    # Keyed: a file of one phone number must not be recoverable from its digest.
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"invitations\x00" + data, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------------- sign-in


@bp.route("/sign-in", methods=["GET", "POST"])
@public
def sign_in():
    """The sign-in form: email and password."""
    target = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user() is not None:
            return redirect(target)
        # The form needs neither, but signing in needs both: an outage shows now, before
        # someone types a password, not after.
        state().redis.ping()
        db().connection()
        return render_template("dashboard/sign_in.html", next=target, email="")
    email = request.form.get("email", "")
    password = request.form.get("password", "")
    throttle = auth.Throttle(state().redis, current_app.config["SECRET_KEY"])
    address = request.remote_addr or "unknown"
    if throttle.locked(email, address):
        log.warning("dashboard sign-in refused: too many failures")
        error = (
            "Too many failed sign-in attempts. Wait "
            f"{auth.LOCKOUT_SECONDS // 60} minutes, then try again."
        )
        return render_template("dashboard/sign_in.html", next=target, email=email, error=error), 429
    user = auth.authenticate(db(), email, password)
    if user is None:
        throttle.failed(email, address)
        log.warning("dashboard sign-in failed")  # never the typed email: it may be a password
        error = "That email and password do not match an account."
        return render_template("dashboard/sign_in.html", next=target, email=email, error=error), 401
    throttle.succeeded(email)
    auth.sign_in(user)
    log.info("dashboard sign-in: account %s", user.id)
    return redirect(target)


@bp.post("/sign-out")
@require_role(Role.VIEWER)
def sign_out():
    """End this session."""
    auth.sign_out()
    flash("You are signed out.")
    return redirect(url_for("dashboard.sign_in"))


@bp.route("/account", methods=["GET", "POST"])
@require_role(Role.VIEWER)
def account():
    """Change your own password."""
    if request.method == "POST":
        user = current_user()
        current = request.form.get("current_password", "")
        new = request.form.get("new_password", "")
        throttle = auth.Throttle(state().redis, current_app.config["SECRET_KEY"])
        address = request.remote_addr or "unknown"
        if throttle.locked(user.email, address):
            flash("Too many wrong passwords. Wait a while, then try again.", "error")
        elif auth.authenticate(db(), user.email, current) is None:
            throttle.failed(user.email, address)
            flash("Your current password is not right.", "error")
        elif new != request.form.get("confirm_password", ""):
            flash("The two new passwords are not the same.", "error")
        else:
            try:
                user = auth.set_password(db(), user, new)
            except auth.AccountError as exc:
                flash(f"The password was not changed: {exc}.", "error")
            else:
                auth.sign_in(user)  # the old session ended with the old password
                flash("Your password is changed; other sessions are signed out.")
                return redirect(url_for("dashboard.account"))
    return render_template("dashboard/account.html", min_length=auth.MIN_PASSWORD_LENGTH)


# ---------------------------------------------------------------------------------- waves


@bp.get("")
@bp.get("/")
@require_role(Role.VIEWER)
def waves():
    """Every wave, newest first, and (for organizers) the form to create one."""
    return render_template("dashboard/waves.html", waves=list_waves(db()), q=state().questionnaire)


@bp.post("/waves")
@require_role(Role.ORGANIZER)
def create():
    """Create a draft wave."""
    q = state().questionnaire
    name = request.form.get("name", "").strip()
    try:
        create_wave(
            db(),
            name=name,
            title=request.form.get("title", "").strip(),
            start_keywords=_keywords_from_form(q),
            default=bool(request.form.get("default")),
        )
    except WaveError as exc:
        _flash_error(exc)
        return redirect(url_for("dashboard.waves"))
    log.info("wave %s created from the dashboard by account %s", name, current_user().id)
    flash(f"Wave {name} created as a draft. Open it when you are ready.")
    return redirect(url_for("dashboard.wave", name=name))


@bp.get("/waves/<name>")
@require_role(Role.VIEWER)
def wave(name: str):
    """A wave: status, progress, drop-off, languages and the published aggregates."""
    record = _wave_or_404(name)
    app_state = state()
    figures = wave_figures(
        app_state.settings,
        app_state.redis,
        app_state.questionnaire,
        record.name,
        _wave_questionnaire(record),
    )
    return render_template("dashboard/wave.html", wave=record, f=figures, WaveStatus=WaveStatus)


@bp.post("/waves/<name>/open")
@require_role(Role.ORGANIZER)
def open_wave(name: str):
    """Open a draft wave."""
    _wave_or_404(name)
    try:
        open_wave_record(
            db(),
            state().redis,
            name,
            allow_placeholders=state().settings.allows_placeholders,
        )
    except WaveError as exc:
        _flash_error(exc)
    else:
        log.info("wave %s opened from the dashboard by account %s", name, current_user().id)
        flash(f"Wave {name} is open.")
    return redirect(url_for("dashboard.wave", name=name))


@bp.post("/waves/<name>/close")
@require_role(Role.ORGANIZER)
def close(name: str):
    """Close an open wave (final: it cannot be opened again)."""
    _wave_or_404(name)
    if not request.form.get("confirm"):
        flash("Tick the box to confirm: a closed wave cannot be opened again.", "error")
        return redirect(url_for("dashboard.wave", name=name))
    try:
        close_wave(db(), state().redis, name)
    except WaveError as exc:
        _flash_error(exc)
    else:
        log.info("wave %s closed from the dashboard by account %s", name, current_user().id)
        flash(f"Wave {name} is closed.")
    return redirect(url_for("dashboard.wave", name=name))


# ---------------------------------------------------------------------------------- report


def _weeks(name: str) -> list[str]:
    query = (
        select(AggregateProfile.week)
        .where(AggregateProfile.wave == name)
        .distinct()
        .order_by(AggregateProfile.week.desc())
    )
    return list(db().exec(query))


def _week_choice(name: str) -> tuple[str | None, list[str]]:
    """The week asked for (None: the whole wave; 404 if it has no answers) and every week."""
    weeks = _weeks(name)
    week = request.args.get("week") or None
    if week is not None and week not in weeks:
        abort(404, description="There are no answers for that week.")
    return week, weeks


def _report_choice(name: str) -> tuple[str | None, str, list[str]]:
    """The week (None: the whole wave) and the email language asked for, and every week."""
    week, weeks = _week_choice(name)
    language = request.args.get("language", state().settings.REPORT_LANGUAGE)
    if language not in EMAIL_LANGUAGES:
        language = "en"
    return week, language, weeks


@bp.get("/waves/<name>/report")
@require_role(Role.VIEWER)
def report(name: str):
    """The coalition's email for this wave, as it would be sent (published numbers only)."""
    record = _wave_or_404(name)
    week, language, weeks = _report_choice(name)
    return render_template(
        "dashboard/report.html",
        wave=record,
        weeks=weeks,
        week=week,
        language=language,
        languages=sorted(EMAIL_LANGUAGES),
    )


@bp.get("/waves/<name>/report/email")
@require_role(Role.VIEWER)
def report_email(name: str):
    """The email's HTML alone, for the preview frame (its own, looser CSP)."""
    from bot.releases.email_report import render_report
    from bot.releases.report import load_raw_report, publish, published_reports, questionnaire_of

    record = _wave_or_404(name)
    week, language, _ = _report_choice(name)
    app_state = state()
    q = questionnaire_of(app_state.settings, record.name)  # the wave's own snapshot
    if week is None:
        raw = load_raw_report(app_state.settings, app_state.redis, wave=record.name, week=None, q=q)
        current, previous = publish(raw), None
    else:
        current, previous = published_reports(
            app_state.settings, app_state.redis, wave=record.name, week=week, q=q
        )
    html = render_report(current, previous, q, language=language).html
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


# ---------------------------------------------------------------------------------- downloads


@bp.get("/waves/<name>/aggregates.csv")
@require_role(Role.VIEWER)
def aggregates_csv(name: str):
    """The published aggregate tables as CSV (suppressed counts empty and flagged)."""
    from bot.releases.report import load_raw_report, publish

    record = _wave_or_404(name)
    week, _ = _week_choice(name)
    app_state = state()
    published = publish(
        load_raw_report(app_state.settings, app_state.redis, wave=record.name, week=week)
    )
    suffix = f"-{week}" if week else ""
    return _csv_response(aggregate_rows(published), f"{record.name}{suffix}-aggregates.csv")


@bp.get("/waves/<name>/export")
@require_role(Role.ADMIN)
def export(name: str):
    """The warning before the row-level export."""
    record = _wave_or_404(name)
    query = select(func.count()).select_from(ResponseRow).where(ResponseRow.wave == name)
    count = db().exec(query).one()
    return render_template("dashboard/export.html", wave=record, count=count)


@bp.post("/waves/<name>/export")
@require_role(Role.ADMIN)
def export_csv(name: str):
    """The anonymized responses of a wave, one row each, once the admin has confirmed."""
    record = _wave_or_404(name)
    if request.form.get("confirm") != "yes":
        flash("Tick the box to confirm you have read the warning.", "error")
        return redirect(url_for("dashboard.export", name=name))
    rows = export_rows(db(), state().questionnaire, record.name)
    log.info(
        "row-level export of wave %s by account %s: %d rows",
        record.name,
        current_user().id,
        len(rows) - 1,
    )
    return _csv_response(rows, f"{record.name}-responses-anonymized.csv")


# ---------------------------------------------------------------------------------- invitations


@bp.route("/waves/<name>/invitations", methods=["GET", "POST"])
@require_role(Role.ORGANIZER)
def invitations(name: str):
    """Upload a CSV of phone numbers: check it and show the exact invitation, then send (the
    file is uploaded again to send, so the numbers are never kept between the two steps)."""
    record = _wave_or_404(name)
    app_state = state()
    q = _wave_questionnaire(record)  # its languages; the preview reads the snapshot itself
    default_region = app_state.settings.DEFAULT_PHONE_REGION
    context = {"wave": record, "languages": q.languages, "language_names": q.language_names}
    if request.method == "GET":
        return render_template(
            "dashboard/invitations.html", default_region=default_region, **context
        )
    if record.status != WaveStatus.OPEN:
        flash("Invitations can only be sent for an open wave.", "error")
        return redirect(url_for("dashboard.invitations", name=name))
    upload = request.files.get("file")
    data = upload.read() if upload else b""
    language = request.form.get("language", "")
    region = (request.form.get("region", "") or default_region).strip().upper()[:2]
    if not data or language not in q.languages:
        flash("Choose a CSV file and the language of the invitation.", "error")
        return redirect(url_for("dashboard.invitations", name=name))
    try:
        check = parse_invitation_csv(
            data,
            default_region=region,
            opted_out=opted_out_checker(app_state.settings, app_state.redis),
        )
    except SurveybotError as exc:
        flash(f"The file was not checked: {exc}", "error")
        return redirect(url_for("dashboard.invitations", name=name))
    digest = _file_digest(data)
    if request.form.get("step") != "send":
        try:
            previews = _invitation_previews(record, [language])
        except SurveybotError as exc:
            flash(f"The invitation cannot be sent: {exc}", "error")
            return redirect(url_for("dashboard.invitations", name=name))
        return render_template(
            "dashboard/invitations_check.html",
            check=check,
            invalid=check.invalid[:MAX_INVALID_SHOWN],
            digest=digest,
            language=language,
            region=region,
            previews=previews,
            **context,
        )
    if not hmac.compare_digest(digest, request.form.get("digest", "")):
        flash("That is not the file you checked. Check it again before sending.", "error")
        return redirect(url_for("dashboard.invitations", name=name))
    try:
        queued = queue_invitations(
            app_state.settings,
            app_state.redis,
            app_state.queue,
            wave=record.name,
            numbers=check.valid,
            language=language,
        )
    except SurveybotError as exc:
        flash(f"The invitations were not sent: {exc}", "error")
        return redirect(url_for("dashboard.invitations", name=name))
    log.info("%d invitations queued for wave %s by account %s", queued, name, current_user().id)
    flash(f"{queued} invitations queued. They go out at the sending rate; progress shows below.")
    return redirect(url_for("dashboard.wave", name=name))


def _invitation_previews(wave, languages: list[str]) -> list[InvitationPreview]:  # noqa: ANN001
    """The exact text each language of an upload will receive, read with the wave's frozen
    questionnaire and start keywords, as the send jobs' text is. An upload sends one language
    (its rows carry none of their own), so `languages` is the one chosen."""
    q = wave_questionnaire(db(), wave.name, state().settings)
    return preview_invitations(q, languages, keywords=wave.start_keywords)


# ---------------------------------------------------------------------------------- users


@bp.get("/users")
@require_role(Role.ADMIN)
def users():
    """Every account, and the form to create one."""
    return render_template(
        "dashboard/users.html",
        users=auth.list_users(db()),
        roles=list(Role),
        min_length=auth.MIN_PASSWORD_LENGTH,
    )


@bp.post("/users")
@require_role(Role.ADMIN)
def create_user():
    """Create an account with a first password (to hand over safely)."""
    try:
        created = auth.create_user(
            db(),
            email=request.form.get("email", ""),
            role=request.form.get("role", ""),
            password=request.form.get("password", ""),
        )
    except auth.AccountError as exc:
        _flash_error(f"The account was not created: {exc}.")
    else:
        log.info("account %s created by account %s", created.id, current_user().id)
        flash(f"Account {created.email} created as {created.role}.")
    return redirect(url_for("dashboard.users"))


@bp.post("/users/<int:user_id>")
@require_role(Role.ADMIN)
def change_user(user_id: int):
    """Change another account's role, or disable or enable it."""
    target = db().get(User, user_id)
    if target is None:
        abort(404, description="There is no such account.")
    if target.id == current_user().id:
        flash("You cannot change your own account here (ask another admin).", "error")
        return redirect(url_for("dashboard.users"))
    action = request.form.get("action")
    try:
        if action == "role":
            auth.set_role(db(), target, request.form.get("role", ""))
            flash(f"{target.email} is now {target.role}.")
        elif action in ("disable", "enable"):
            auth.set_disabled(db(), target, action == "disable")
            flash(f"{target.email} is {action}d.")
        else:
            abort(400, description="Unknown action.")
    except auth.AccountError as exc:
        _flash_error(exc)
    else:
        log.info("account %s: %s by account %s", target.id, action, current_user().id)
    return redirect(url_for("dashboard.users"))
