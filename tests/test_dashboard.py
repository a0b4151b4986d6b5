"""The organizers' dashboard: accounts, sign-in, throttling, CSRF, cookies, headers, roles,
waves, published figures only, and the admins' row-level export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re

import pytest
import yaml
from click.testing import CliRunner
from markupsafe import escape
from sqlmodel import Session, select

from bot import create_app
from bot.cli import main
from bot.core.smsencoding import describe, summary
from bot.dashboard.accounts import Role, find_user
from bot.dashboard.throttle import MAX_FAILURES_PER_ACCOUNT, MAX_FAILURES_PER_ADDRESS
from bot.infra import keys
from bot.infra.db import get_engine
from bot.infra.models import User, Wave
from bot.infra.privacy import pseudonym
from bot.outreach.invitations import wave_invitation
from bot.outreach.waves import open_wave
from bot.releases.aggregates import refresh_wave
from bot.releases.funnel import chain_shown, primary
from tests.dashboard_utils import (
    PASSWORD,
    csrf_token,
    make_user,
    post,
    sign_in,
    signed_in,
)
from tests.factories import REAL_RESOURCES, finished_survey, random_answers, response_payload
from tests.test_config import GOOD
from tests.test_privacy import formats
from workers.storage import store_response

SIGN_IN = "/dashboard/sign-in"


def users(db):
    with Session(get_engine(db)) as session:
        return list(session.exec(select(User)))


def make_wave(app, name="w1", **kwargs):
    from bot.outreach.waves import create_wave

    with Session(get_engine(app.extensions["surveybot"].settings.DATABASE_URL)) as session:
        create_wave(session, name=name, **kwargs)


def wave_status(db, name):
    with Session(get_engine(db)) as session:
        return session.get(Wave, name).status


def store_responses(app, wave="w1", count=60, seed=5, languages=("en", "es", "es")):
    q = app.extensions["surveybot"].questionnaire
    rng = random.Random(seed)
    for _ in range(count):
        store_response(
            response_payload(
                q,
                random_answers(q, rng, skip_rate=0.05),
                language=rng.choice(languages),
                day=dt.date(2026, 11, 18),
                wave=wave,
            )
        )


def refresh(app, wave="w1"):
    """Bring the aggregates up to date and make a release of them: every page reads releases."""
    from bot.releases.releases import make_release

    s = app.extensions["surveybot"]
    refresh_wave(s.redis, s.settings.DATABASE_URL, s.questionnaire, wave)
    make_release(s.settings, s.redis, wave, min_new=1)


def csv_rows(response):
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


# ---------------------------------------------------------------------------------- accounts


@pytest.fixture
def cli_env(app, monkeypatch):
    """The surveybot command pointed at the test database."""
    settings = app.extensions["surveybot"].settings
    monkeypatch.setenv("SURVEYBOT_ENV", "test")
    monkeypatch.setenv("DATABASE_URL", settings.DATABASE_URL)
    monkeypatch.setenv("REDIS_URL", settings.REDIS_URL)
    return CliRunner()


def test_a_fresh_installation_has_no_account_and_asks_to_sign_in(app, client, db):
    assert users(db) == []
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(SIGN_IN)
    # No well-known credentials work.
    for email, password in [("admin", "admin"), ("admin@example.org", "password")]:
        assert sign_in(client, email, password).status_code == 401


def test_user_create_from_the_command_line(cli_env, app, db):
    result = cli_env.invoke(
        main,
        ["user", "create", "Admin@Example.org", "--role", "admin", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    [user] = users(db)
    assert (user.email, user.role, user.disabled) == ("admin@example.org", "admin", False)
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash

    # Prompted twice when not from stdin; a mismatch asks again.
    result = cli_env.invoke(
        main,
        ["user", "create", "viewer@example.org", "--role", "viewer"],
        input=f"{PASSWORD}\nsomething else!!\n{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output  # hidden input is not echoed

    listed = cli_env.invoke(main, ["user", "list"])
    assert "admin@example.org  admin" in listed.output
    assert "viewer@example.org  viewer" in listed.output

    assert (
        cli_env.invoke(main, ["user", "set-role", "viewer@example.org", "organizer"]).exit_code == 0
    )
    assert cli_env.invoke(main, ["user", "disable", "viewer@example.org"]).exit_code == 0
    with Session(get_engine(db)) as session:
        user = find_user(session, "viewer@example.org")
        assert (user.role, user.disabled) == ("organizer", True)


def test_user_create_refuses_short_passwords_duplicates_and_unknown_roles(cli_env, db):
    short = cli_env.invoke(
        main,
        ["user", "create", "a@example.org", "--role", "admin", "--password-stdin"],
        input="short\n",
    )
    assert short.exit_code != 0 and "12 characters" in short.output
    ok = cli_env.invoke(
        main,
        ["user", "create", "a@example.org", "--role", "admin", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert ok.exit_code == 0, ok.output
    again = cli_env.invoke(
        main,
        ["user", "create", "A@example.org", "--role", "viewer", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert again.exit_code != 0 and "already exists" in again.output
    role = cli_env.invoke(
        main,
        ["user", "create", "b@example.org", "--role", "root", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert role.exit_code != 0
    assert [u.email for u in users(db)] == ["a@example.org"]


# ---------------------------------------------------------------------------------- sign-in


def test_sign_in_and_out(app, client):
    make_user(app, "org@example.org", "organizer")
    response = sign_in(client, "ORG@example.org ", PASSWORD)
    assert response.status_code == 302
    page = client.get("/dashboard/")
    assert page.status_code == 200
    assert "org@example.org" in page.get_data(as_text=True)

    with client.session_transaction() as session:
        stolen = dict(session)
    # Redis holds a digest of the session id, never the id a browser presents.
    redis = app.extensions["surveybot"].redis
    held = [key for key in redis.scan_iter("sb:dash:session:*")]
    assert len(held) == 1
    assert stolen["sid"].encode() not in held[0] + (redis.get(held[0]) or b"")
    out = post(client, "/dashboard/sign-out")
    assert out.status_code == 302 and out.headers["Location"].startswith(SIGN_IN)
    assert client.get("/dashboard/").status_code == 302
    # A copy of the old cookie is worthless: the session ended on the server.
    with client.session_transaction() as session:
        session.update(stolen)
    assert client.get("/dashboard/").status_code == 302


def test_sign_in_goes_back_to_the_page_asked_for_but_never_off_site(app, client):
    make_user(app, "v@example.org", "viewer")
    first = client.get("/dashboard/account")
    assert first.headers["Location"] == f"{SIGN_IN}?next=/dashboard/account"
    token = csrf_token(client)
    response = client.post(
        SIGN_IN,
        data={
            "email": "v@example.org",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/dashboard/account",
        },
    )
    assert response.headers["Location"] == "/dashboard/account"
    post(client, "/dashboard/sign-out")
    token = csrf_token(client)
    response = client.post(
        SIGN_IN,
        data={
            "email": "v@example.org",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "https://evil.example/",
        },
    )
    assert response.headers["Location"].startswith("/dashboard")


def test_wrong_password_and_unknown_account_read_the_same(app, client):
    make_user(app, "v@example.org", "viewer")
    wrong = sign_in(client, "v@example.org", "not the password at all")
    unknown = sign_in(client, "nobody@example.org", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    message = "That email and password do not match an account."
    assert message in wrong.get_data(as_text=True)
    assert message in unknown.get_data(as_text=True)
    assert client.get("/dashboard/").status_code == 302


def test_a_disabled_account_cannot_sign_in_and_its_sessions_end(app, db):
    client = signed_in(app, "viewer")
    assert client.get("/dashboard/").status_code == 200
    with Session(get_engine(db)) as session:
        user = find_user(session, "viewer@example.org")
        user.disabled = True
        session.add(user)
        session.commit()
    assert client.get("/dashboard/").status_code == 302
    assert sign_in(app.test_client(), "viewer@example.org").status_code == 401


def test_a_new_password_ends_the_other_sessions(app, cli_env):
    client = signed_in(app, "viewer")
    result = cli_env.invoke(
        main,
        ["user", "set-password", "viewer@example.org", "--password-stdin"],
        input="a brand new passphrase\n",
    )
    assert result.exit_code == 0, result.output
    assert client.get("/dashboard/").status_code == 302
    assert sign_in(client, "viewer@example.org", "a brand new passphrase").status_code == 302


def test_changing_your_own_password(app):
    client = signed_in(app, "viewer")
    data = {
        "current_password": "wrong wrong wrong",
        "new_password": "another long passphrase",
        "confirm_password": "another long passphrase",
    }
    page = post(client, "/dashboard/account", data, follow_redirects=True)
    assert "not right" in page.get_data(as_text=True)
    data["current_password"] = PASSWORD
    page = post(client, "/dashboard/account", data, follow_redirects=True)
    assert "password is changed" in page.get_data(as_text=True)
    assert client.get("/dashboard/").status_code == 200  # this session carries on
    assert sign_in(app.test_client(), "viewer@example.org", PASSWORD).status_code == 401


def test_sign_in_is_throttled_per_account(app, client, redis):
    make_user(app, "v@example.org", "viewer")
    make_user(app, "w@example.org", "viewer")
    for _ in range(MAX_FAILURES_PER_ACCOUNT):
        assert sign_in(client, "v@example.org", "guess guess guess").status_code == 401
    locked = sign_in(client, "v@example.org", PASSWORD)  # even the right password
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts" in locked.get_data(as_text=True)
    assert client.get("/dashboard/").status_code == 302
    # Another account from the same address is not locked out by these failures.
    assert sign_in(app.test_client(), "w@example.org").status_code == 302
    # Redis holds neither the email nor the address in the clear, and the lock expires.
    names = [key.decode() for key in redis.scan_iter("sb:dash:fail:*")]
    assert names and not any("example.org" in n or "127.0.0.1" in n for n in names)
    assert all(0 < redis.ttl(n) <= 15 * 60 for n in names)
    for name in names:
        redis.delete(name)
    assert sign_in(app.test_client(), "v@example.org").status_code == 302


def test_sign_in_is_throttled_per_address(app):
    make_user(app, "v@example.org", "viewer")
    attacker = {"environ_base": {"REMOTE_ADDR": "203.0.113.9"}}
    client = app.test_client()
    for i in range(MAX_FAILURES_PER_ADDRESS):
        response = sign_in(client, f"guess{i}@example.org", "guess guess guess", **attacker)
        assert response.status_code == 401
    assert sign_in(client, "v@example.org", PASSWORD, **attacker).status_code == 429
    other = {"environ_base": {"REMOTE_ADDR": "198.51.100.7"}}
    assert sign_in(app.test_client(), "v@example.org", PASSWORD, **other).status_code == 302


# ------------------------------------------------------------------------ CSRF, cookies, headers


def test_every_post_needs_the_csrf_token(app):
    client = signed_in(app, "admin")
    make_wave(app)
    for path in (
        "/dashboard/waves",
        "/dashboard/waves/w1/open",
        "/dashboard/sign-out",
        "/dashboard/users",
    ):
        assert client.post(path, data={"name": "x2"}).status_code == 400
        assert client.post(path, data={"name": "x2", "csrf_token": "forged"}).status_code == 400
    assert wave_status(app.extensions["surveybot"].settings.DATABASE_URL, "w1") == "draft"
    # Sign-in too (no logging people in to an attacker's account).
    fresh = app.test_client()
    response = fresh.post(SIGN_IN, data={"email": "admin@example.org", "password": PASSWORD})
    assert response.status_code == 400


def test_cookie_flags_in_test(app, client):
    make_user(app, "v@example.org", "viewer")
    response = sign_in(client, "v@example.org")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http in development and tests


def test_production_cookies_are_secure(redis_url, db):
    app = create_app({**GOOD, "REDIS_URL": redis_url, "DATABASE_URL": db})
    try:
        make_user(app, "v@example.org", "viewer")
        client = app.test_client()
        https = {"base_url": "https://survey.example.org"}
        response = sign_in(client, "v@example.org", **https)
        assert response.status_code == 302, response.data
        cookie = response.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        page = client.get("/dashboard/", **https)
        assert page.status_code == 200
        assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        app.extensions["surveybot"].redis.flushdb()
        app.extensions["surveybot"].redis.close()


def test_security_headers(app, client):
    make_wave(app)
    for page in (client.get(SIGN_IN), signed_in(app, "viewer").get("/dashboard/waves/w1")):
        headers = page.headers
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["X-Frame-Options"] == "DENY"
        assert "camera=()" in headers["Permissions-Policy"]
        assert headers["Cache-Control"] == "no-store"
        assert "<script" not in page.get_data(as_text=True)
        assert ' style="' not in page.get_data(as_text=True)  # the CSP would block it


def test_the_email_preview_frame_has_its_own_policy(app):
    make_wave(app)
    client = signed_in(app, "viewer")
    page = client.get("/dashboard/waves/w1/report")
    assert page.status_code == 200
    assert "<iframe" in page.get_data(as_text=True)
    frame = client.get("/dashboard/waves/w1/report/email")
    assert frame.status_code == 200 and frame.mimetype == "text/html"
    assert frame.headers["X-Frame-Options"] == "SAMEORIGIN"
    csp = frame.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in csp and "sandbox" in csp and "script-src" not in csp
    assert "default-src 'none'" in csp


# ---------------------------------------------------------------------------------- roles

VIEWER, ORGANIZER, ADMIN = Role.VIEWER, Role.ORGANIZER, Role.ADMIN

# Every dashboard route: (method, path, form, the least role allowed, status when allowed).
ROUTES = [
    ("GET", "/dashboard", None, VIEWER, 200),
    ("GET", "/dashboard/", None, VIEWER, 200),
    ("GET", "/dashboard/account", None, VIEWER, 200),
    ("POST", "/dashboard/account", {}, VIEWER, 200),
    ("GET", "/dashboard/waves/w1", None, VIEWER, 200),
    ("GET", "/dashboard/waves/w1/report", None, VIEWER, 200),
    ("GET", "/dashboard/waves/w1/report/email", None, VIEWER, 200),
    ("GET", "/dashboard/waves/w1/aggregates.csv", None, VIEWER, 200),
    ("POST", "/dashboard/waves", {"name": "Not A Name"}, ORGANIZER, 302),
    ("POST", "/dashboard/waves/nope/open", {}, ORGANIZER, 404),
    ("POST", "/dashboard/waves/w1/close", {}, ORGANIZER, 302),  # not confirmed
    ("GET", "/dashboard/waves/w1/invitations", None, ORGANIZER, 200),
    ("POST", "/dashboard/waves/nope/invitations", {}, ORGANIZER, 404),
    ("GET", "/dashboard/waves/w1/export", None, ADMIN, 200),
    ("POST", "/dashboard/waves/w1/export", {}, ADMIN, 302),  # not confirmed
    ("GET", "/dashboard/users", None, ADMIN, 200),
    ("POST", "/dashboard/users", {}, ADMIN, 302),
    ("POST", "/dashboard/users/999999", {}, ADMIN, 404),
]
TESTED_ELSEWHERE = {"dashboard.sign_in", "dashboard.sign_out"}


def test_the_role_table_covers_every_dashboard_route(app):
    adapter = app.url_map.bind("localhost")
    covered = {adapter.match(path, method)[0] for method, path, *_ in ROUTES}
    endpoints = {
        rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("dashboard.")
    }
    assert endpoints - TESTED_ELSEWHERE == covered
    for endpoint in endpoints:
        view = app.view_functions[endpoint]
        assert hasattr(view, "required_role"), f"{endpoint} does not check the role"


@pytest.mark.parametrize("role", [None, *Role])
def test_every_route_checks_the_role(app, role):
    make_wave(app)
    client = app.test_client() if role is None else signed_in(app, role.value)
    rank = {VIEWER: 0, ORGANIZER: 1, ADMIN: 2}
    for method, path, form, least, allowed_status in ROUTES:
        if method == "GET":
            response = client.get(path)
        else:
            response = post(client, path, form)
        where = f"{role} {method} {path}"
        if role is None:
            assert response.status_code == 302, where
            assert response.headers["Location"].startswith(SIGN_IN), where
        elif rank[role] < rank[least]:
            assert response.status_code == 403, where
        else:
            assert response.status_code == allowed_status, where
            if response.status_code == 302:
                assert not response.headers["Location"].startswith(SIGN_IN), where
    # Nothing a refused request asked for happened.
    assert wave_status(app.extensions["surveybot"].settings.DATABASE_URL, "w1") == "draft"


# ---------------------------------------------------------------------------------- waves


def test_organizers_create_open_and_close_a_wave(app, db, redis):
    client = signed_in(app, "organizer")
    created = post(
        client,
        "/dashboard/waves",
        {
            "name": "summer-2026",
            "title": "Summer 2026",
            "keywords_en": "SUMMER, SAFE",
            "keywords_es": "VERANO",
            "default": "1",
        },
    )
    assert created.status_code == 302
    assert created.headers["Location"] == "/dashboard/waves/summer-2026"
    with Session(get_engine(db)) as session:
        wave = session.get(Wave, "summer-2026")
        assert wave.title == "Summer 2026" and wave.status == "draft" and wave.is_default
        assert wave.start_keywords == {"en": ["SUMMER", "SAFE"], "es": ["VERANO"]}
    page = client.get("/dashboard/waves/summer-2026").get_data(as_text=True)
    assert "Open the wave" in page and "SUMMER, SAFE" in page

    again = post(client, "/dashboard/waves", {"name": "summer-2026"}, follow_redirects=True)
    assert "already exists" in again.get_data(as_text=True)

    opened = post(client, "/dashboard/waves/summer-2026/open", follow_redirects=True)
    assert "Wave summer-2026 is open." in opened.get_data(as_text=True)
    assert wave_status(db, "summer-2026") == "open"
    assert redis.hexists(keys.WAVES_OPEN, "summer-2026")
    assert "Close the wave" in opened.get_data(as_text=True)

    twice = post(client, "/dashboard/waves/summer-2026/open", follow_redirects=True)
    assert "only a draft can be opened" in twice.get_data(as_text=True)

    unconfirmed = post(client, "/dashboard/waves/summer-2026/close", follow_redirects=True)
    assert "Tick the box" in unconfirmed.get_data(as_text=True)
    assert wave_status(db, "summer-2026") == "open"
    closed = post(
        client, "/dashboard/waves/summer-2026/close", {"confirm": "yes"}, follow_redirects=True
    )
    assert "Wave summer-2026 is closed." in closed.get_data(as_text=True)
    assert wave_status(db, "summer-2026") == "closed"
    assert not redis.hexists(keys.WAVES_OPEN, "summer-2026")


def test_opening_a_wave_whose_file_broke_shows_why(app, db, redis, tmp_path, repo_root):
    survey = tmp_path / "survey.yaml"
    survey.write_text((repo_root / "bot/surveys/community_safety.yaml").read_text())
    make_wave(app, survey_file=str(survey))
    survey.write_text("questions: [")  # edited after the wave was created
    client = signed_in(app, "organizer")
    response = post(client, "/dashboard/waves/w1/open")
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard/waves/w1"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "flash-error" in page and "is not valid: not valid YAML" in page
    assert wave_status(db, "w1") == "draft" and not redis.exists(keys.WAVES_OPEN)


def test_production_refuses_to_open_a_wave_with_placeholders(redis_url, db, redis, tmp_path):
    app = create_app({**GOOD, "REDIS_URL": redis_url, "DATABASE_URL": db})
    https = {"base_url": "https://survey.example.org"}
    try:
        make_user(app, "o@example.org", "organizer")
        client = app.test_client()
        assert sign_in(client, "o@example.org", **https).status_code == 302
        token = csrf_token(client, **https)
        make_wave(app, name="shipped")
        response = client.post("/dashboard/waves/shipped/open", data={"csrf_token": token}, **https)
        assert response.headers["Location"] == "/dashboard/waves/shipped"
        page = client.get("/dashboard/waves/shipped", **https).get_data(as_text=True)
        refusal = re.search(r'<p class="flash flash-error">([^<]*)</p>', page)
        assert refusal, page
        assert refusal[1].startswith(
            "wave &#39;shipped&#39; was not opened: its questionnaire still has placeholders"
        )
        assert "resources.org is &#34;the coalition&#34;" in refusal[1]
        assert "resources.hotline is &#34;1-888-000-0000&#34;" in refusal[1]
        assert wave_status(db, "shipped") == "draft" and not redis.exists(keys.WAVES_OPEN)

        make_wave(app, name="finished", survey_file=str(finished_survey(tmp_path)))
        response = client.post(
            "/dashboard/waves/finished/open",
            data={"csrf_token": token},
            follow_redirects=True,
            **https,
        )
        assert "Wave finished is open." in response.get_data(as_text=True)
        assert wave_status(db, "finished") == "open"
    finally:
        app.extensions["surveybot"].redis.close()


def test_viewers_see_waves_but_no_controls(app):
    make_wave(app, title="The first wave")
    client = signed_in(app, "viewer")
    listing = client.get("/dashboard/").get_data(as_text=True)
    assert "The first wave" in listing and "New wave" not in listing
    page = client.get("/dashboard/waves/w1").get_data(as_text=True)
    assert "Open the wave" not in page and "Row-level export" not in page
    assert client.get("/dashboard/waves/unknown").status_code == 404


# ---------------------------------------------------------------------------------- figures


def test_primary_suppression_and_the_funnel_chain():
    assert [primary(v, 5) for v in (0, 1, 4, 5, 100)] == [0, None, None, 5, 100]
    values = [100, 98, 90, 90, 87, 60, 58]
    shown = chain_shown(values, 5, keep=(True, True))
    assert shown[0] and shown[-1]
    kept = [v for v, s in zip(values, shown, strict=True) if s]
    gaps = [a - b for a, b in zip(kept, kept[1:], strict=False)]
    assert all(g == 0 or g >= 5 for g in gaps[:-1])  # the last gap may be published anyway
    assert all(v == 0 or v >= 5 for v in kept)
    # Only a start and an end already published elsewhere may be 1..4 apart.
    assert chain_shown([20, 19, 18, 17], 5, keep=(True, True)) == [True, False, False, True]
    assert chain_shown([3, 2, 0], 5, keep=(False, True)) == [False, False, True]
    # Property: on random chains, no shown count and no gap between shown neighbours is 1..4.
    rng = random.Random(3)
    for _ in range(500):
        chain = sorted((rng.randint(0, 40) for _ in range(rng.randint(1, 8))), reverse=True)
        shown = chain_shown(chain, 5, keep=(False, False))
        kept = [v for v, s in zip(chain, shown, strict=True) if s]
        assert all(v == 0 or v >= 5 for v in kept)
        assert all(a - b == 0 or a - b >= 5 for a, b in zip(kept, kept[1:], strict=False))


def visible_numbers(html: str) -> list[int]:
    text = re.sub(r"<[^>]+>", " ", html)
    return [int(n.replace(",", "")) for n in re.findall(r"(?<![\w-])\d[\d,]*(?![\w%-])", text)]


def test_the_wave_page_shows_only_published_figures(app, redis):
    make_wave(app)
    store_responses(app, count=60)
    store_responses(app, count=3, seed=9, languages=("ht",))  # a small group
    q = app.extensions["surveybot"].questionnaire
    redis.hset(
        keys.wave_stats("w1"),
        mapping={
            "started": 80,
            "completed": 63,
            "declined": 3,
            "opted_out": 6,
            "started:en": 25,
            "started:es": 52,
            "started:ht": 3,
        },
    )
    asked = {
        "status": 78,
        "years_in_us": 76,
        "afraid_to_seek_help": 70,
        "fear_reasons": 2,
        "knows_deported": 66,
        "would_report_crime": 65,
    }
    redis.hset("sb:stats:asked:w1", mapping={k: v for k, v in asked.items() if q.index(k) >= 0})
    redis.hset(
        "sb:stats:invites:w1",
        mapping={"queued": 120, "sent": 110, "delivered": 100, "failed": 2, "opted_out": 0},
    )
    refresh(app)  # the counters go into the release the page shows
    client = signed_in(app, "viewer")
    page = client.get("/dashboard/waves/w1")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for heading in (
        "Progress",
        "Invitations",
        "Where people stop",
        "By language",
        "Answers so far",
    ):
        assert heading in html
    assert "fewer than 5" in html  # declined (3), failed invitations (2)
    assert "not shown" in html  # Haitian Creole: 3 started, 3 completed
    # The body of the page (not the explanation of the rule) has no count from 1 to 4.
    body = html.split('<aside class="note">')[0].split('<main id="main"', 1)[1]
    body = re.sub(r"<code>[^<]*</code>|<span class=\"q-id\">[^<]*</span>", " ", body)
    for question in q.questions:  # question texts have digits ("e.g. 1 3")
        body = body.replace(str(escape(question.text["en"])), " ")
    body = re.sub(r"\d+%|over the next \d+ steps|W\d\d|\d{4}-\d\d-\d\d|w1|release \d+", " ", body)
    small = [n for n in visible_numbers(body) if 1 <= n <= 4]
    assert small == [], small


def store_afraid(app, yes, no, wave="w1"):
    """Completed responses: `yes` afraid to seek help (who then give reasons), `no` not."""
    q = app.extensions["surveybot"].questionnaire
    rng = random.Random(7)
    for i in range(yes + no):
        answers = random_answers(q, rng, skip_rate=0)
        answers["afraid_to_seek_help"] = "yes" if i < yes else "no"
        answers.pop("fear_reasons", None)
        if i < yes:
            answers["fear_reasons"] = ["deportation"]
        store_response(response_payload(q, answers, wave=wave))


def conditional_reached(html, question_id):
    """The "Reached" cell of a question asked of some respondents only, as text."""
    row = re.search(rf'<th scope="row">{question_id}: .*?</tr>', html, re.S)[0]
    return re.sub(r"<[^>]+>", "", re.findall(r'<td class="num">(.*?)</td>', row)[-1]).strip()


@pytest.mark.parametrize(("yes", "shown"), [(3, "not shown"), (8, range(9 - 3, 9 + 4))])
def test_a_conditional_question_is_reached_only_as_often_as_its_condition_is_shown(
    app, redis, yes, shown
):
    """fear_reasons is asked after afraid_to_seek_help = yes: how many reached it says about
    how many said yes, so it is hidden whenever the published report hides the yes count."""
    make_wave(app)
    store_afraid(app, yes=yes, no=40)
    redis.hset(keys.wave_stats("w1"), mapping={"started": 60, "completed": 40 + yes})
    # In flight: one more (or two) said yes and reached the reasons, but has not finished yet.
    redis.hset("sb:stats:asked:w1", mapping={"status": 60, "fear_reasons": yes + 1 + (yes < 5)})
    refresh(app)
    page = signed_in(app, "viewer").get("/dashboard/waves/w1").get_data(as_text=True)
    reached = conditional_reached(page, "fear_reasons")
    if isinstance(shown, str):
        assert reached == shown
    else:  # shown: 9 reached it, perturbed by its cell key like every published count
        assert int(reached) in shown


def _conditional_row(asked, raw, published):
    from bot.core.questionnaire import load_questionnaire
    from bot.releases.figures import drop_off
    from bot.releases.funnel import protect_funnel, raw_funnel

    q = load_questionnaire(None)
    funnel = protect_funnel(raw_funnel(q, {}, asked), raw, published, 5)
    _, [row] = drop_off(q, funnel, published)
    return row


def test_a_conditional_percentage_needs_a_published_start():
    asked = {b"status": b"80", b"fear_reasons": b"30"}
    raw = {"started": 80, "completed": 70}
    yes = {"afraid_to_seek_help": {"type": "choice", "counts": {"yes": 30, "no": 40}}}
    published = {"started": 80, "completed": 70, "questions": yes}
    row = _conditional_row(asked, raw, published)
    assert (row.reached, row.pct) == (30, 38)
    # Were the start hidden, no percentage may be worked out over it (nor over the raw count).
    row = _conditional_row(asked, raw, {**published, "started": None})
    assert (row.reached, row.pct) == (30, None)
    hidden = {"afraid_to_seek_help": {"type": "choice", "counts": {"yes": None, "no": None}}}
    row = _conditional_row(asked, raw, {**published, "questions": hidden})
    assert (row.reached, row.pct) == (None, None)


def test_a_condition_count_is_a_published_count_or_none():
    from bot.releases.funnel import condition_count

    a = {"type": "choice", "counts": {"x": 10, "y": 6, "z": None}}
    m = {"type": "multi", "counts": {"p": 7, "q": 9}}
    published = {"questions": {"a": a, "m": m}}
    assert condition_count(published, {"a": ["x", "y"]}) == 16
    assert condition_count(published, {"a": ["x", "z"]}) is None
    assert condition_count(published, {"m": ["p"]}) == 7
    assert condition_count(published, {"m": ["p", "q"]}) is None  # p and q overlap
    assert condition_count(published, {"a": ["x"], "m": ["p"]}) is None  # nowhere published
    assert condition_count(published, {"gone": ["x"]}) is None
    assert condition_count({}, {"a": ["x"]}) is None


def test_the_aggregate_csv_has_no_small_counts(app):
    make_wave(app)
    store_responses(app, count=60)
    store_responses(app, count=3, seed=9, languages=("ht",))
    refresh(app)
    client = signed_in(app, "viewer")
    rows = csv_rows(client.get("/dashboard/waves/w1/aggregates.csv"))
    assert rows[0] == ["table", "group", "option", "count", "suppressed"]
    body = rows[1:]
    assert ["summary", "", "completed", "63", "no"] in body
    assert ["by_language", "", "ht", "", "yes"] in body
    for table, _group, _option, count, suppressed in body:
        assert suppressed in ("yes", "no")
        if suppressed == "yes":
            assert count == ""
        else:
            assert not 1 <= int(count) <= 4, (table, count)
    assert any(r[0] == "afraid_to_seek_help|status" for r in body)
    week = client.get("/dashboard/waves/w1/aggregates.csv?week=2026-W47")
    assert (
        csv_rows(week)[1:]
        and client.get("/dashboard/waves/w1/aggregates.csv?week=2020-W01").status_code == 404
    )


def test_the_report_preview_shows_the_email(app):
    make_wave(app)
    store_responses(app, count=40)
    refresh(app)
    client = signed_in(app, "viewer")
    page = client.get("/dashboard/waves/w1/report?week=2026-W47&language=es")
    assert page.status_code == 200
    assert "2026-W47" in page.get_data(as_text=True)
    assert client.get("/dashboard/waves/w1/report?week=2020-W01").status_code == 404
    email = client.get("/dashboard/waves/w1/report/email?week=2026-W47&language=es")
    assert "Encuesta de seguridad comunitaria" in email.get_data(as_text=True)
    whole = client.get("/dashboard/waves/w1/report/email").get_data(as_text=True)
    assert "Community safety survey" in whole


# ---------------------------------------------------------------------------------- export


def test_row_level_export_is_for_admins_after_a_warning_and_a_confirm(app, db):
    make_wave(app)
    store_responses(app, count=12)
    organizer = signed_in(app, "organizer")
    assert organizer.get("/dashboard/waves/w1/export").status_code == 403
    assert post(organizer, "/dashboard/waves/w1/export", {"confirm": "yes"}).status_code == 403

    admin = signed_in(app, "admin")
    warning = admin.get("/dashboard/waves/w1/export")
    assert warning.status_code == 200
    text = warning.get_data(as_text=True)
    assert "Small groups may still be identifiable" in text and "12 rows" in text
    assert admin.get("/dashboard/waves/w1/export.csv").status_code == 404
    unconfirmed = post(admin, "/dashboard/waves/w1/export")
    assert unconfirmed.status_code == 302 and unconfirmed.mimetype != "text/csv"

    rows = csv_rows(post(admin, "/dashboard/waves/w1/export", {"confirm": "yes"}))
    header, body = rows[0], rows[1:]
    q = app.extensions["surveybot"].questionnaire
    assert header[:4] == ["row", "wave", "language", "week"]
    assert header[4:] == [question.id for question in q.questions]
    assert len(body) == 12
    assert sorted(int(r[0]) for r in body) == list(range(1, 13))
    assert all(re.fullmatch(r"\d{4}-W\d\d", r[3]) for r in body)
    raw = "\n".join(",".join(r) for r in rows)
    with Session(get_engine(db)) as session:
        from bot.infra.models import Response

        ids = [str(r.id) for r in session.exec(select(Response))]
    assert ids and not any(i in raw or i.replace("-", "") in raw for i in ids)
    assert not re.search(r"[0-9a-f]{8}-?[0-9a-f]{4}", raw)  # no uuid of any kind
    assert not re.search(r"\d{4}-\d\d-\d\d", raw)  # no date finer than the week
    statuses = {r[header.index("status")] for r in body}
    assert statuses <= {o.id for o in q.question("status").options} | {"skipped", ""}


# ---------------------------------------------------------------------------------- invitations


def upload(client, path, content, follow_redirects=False, **form):
    data = {"csrf_token": csrf_token(client), "file": (io.BytesIO(content), "members.csv"), **form}
    return client.post(
        path, data=data, content_type="multipart/form-data", follow_redirects=follow_redirects
    )


def open_w1(app, redis):
    make_wave(app, name="w1")
    with Session(get_engine(app.extensions["surveybot"].settings.DATABASE_URL)) as session:
        open_wave(session, redis, "w1", allow_placeholders=True)


def everything_in_redis(redis) -> bytes:
    """Every key and value in Redis, as one blob to search."""
    blob = []
    for key in redis.scan_iter("*"):
        blob.append(key)
        kind = redis.type(key)
        if kind == b"string":
            blob.append(redis.get(key))
        elif kind == b"hash":
            blob += [b for pair in redis.hgetall(key).items() for b in pair]
        elif kind in (b"set", b"zset", b"list"):
            blob += [redis.dump(key) or b""]
    return b"\n".join(blob)


def test_invitations_are_checked_then_sent_without_keeping_the_numbers(app, redis):
    open_w1(app, redis)
    client = signed_in(app, "organizer")
    content = b"phone\n+16175550101\n(617) 555-0102\nnot a number\n+16175550101\n"
    path = "/dashboard/waves/w1/invitations"
    assert "Check the file" in client.get(path).get_data(as_text=True)

    before = everything_in_redis(redis)
    check = upload(client, path, content, language="es", region="us", step="check")
    assert check.status_code == 200
    html = check.get_data(as_text=True)
    assert "Send 2 invitations" in html and "not a phone number" in html
    # The exact text the send jobs get (from the registry of open waves), with its cost.
    sent_text = wave_invitation(redis, "w1", "es")
    assert f'<p class="sms-text" lang="es">{escape(sent_text)}</p>' in html
    assert "Responda ENCUESTA" in sent_text
    cost = summary(describe(sent_text))
    assert f"{cost}; {2 * describe(sent_text).segments} segments for 2 invitations" in html
    for number in ("+16175550101", "+16175550102"):
        for shape in formats(number):
            assert shape not in html, shape
    # Nothing of the file is kept: not in Redis, not in the session cookie, nothing queued.
    assert everything_in_redis(redis) == before
    assert b"6175550101" not in before
    cookies = " ".join(check.headers.getlist("Set-Cookie"))
    assert "6175550101" not in cookies
    digest = re.search(r'name="digest" value="([0-9a-f]+)"', html)[1]

    other = upload(
        client, path, b"+16175550199\n", language="es", region="US", step="send", digest=digest
    )
    assert other.status_code == 302 and not redis.exists("sb:stats:invites:w1")

    sent = upload(client, path, content, language="es", region="US", step="send", digest=digest)
    assert sent.status_code == 302 and sent.headers["Location"] == "/dashboard/waves/w1"
    assert int(redis.hget("sb:stats:invites:w1", "queued")) == 2
    page = client.get("/dashboard/waves/w1").get_data(as_text=True)
    assert "2 invitations queued" in page
    assert "Waiting to be sent" in page and "fewer than 5" in page  # 2 is a small count
    redis.hset("sb:stats:invites:w1", "queued", 0)  # a hash, but nothing queued
    page = client.get("/dashboard/waves/w1").get_data(as_text=True)
    assert "No invitations have been sent" in page and "Waiting to be sent" not in page


def test_the_invitation_check_is_no_opt_out_oracle(app, redis):
    """Uploading one number shows the same page whether or not that person texted STOP."""
    open_w1(app, redis)
    settings = app.extensions["surveybot"].settings
    redis.set(keys.opted_out(pseudonym(settings.PSEUDONYM_KEY, "+16175550101")), "1")
    client = signed_in(app, "organizer")
    path = "/dashboard/waves/w1/invitations"
    pages = []
    for number in (b"+16175550101\n", b"+16175550102\n"):  # opted out, then not
        html = upload(client, path, number, language="es", step="check").get_data(as_text=True)
        html = re.sub(r'name="(digest|csrf_token)" value="[^"]*"', "", html)
        pages.append(html)
    assert "Send 1 invitations" in pages[0]
    assert pages[0] == pages[1]


def test_the_invitation_preview_is_the_wave_snapshot_with_its_encoding(app, redis, tmp_path):
    survey = finished_survey(tmp_path)
    raw = yaml.safe_load(survey.read_text(encoding="utf-8"))
    raw["messages"]["invitation"] = {
        "en": "{org} wants your opinion: reply SURVEY.",
        "es": "{org} quiere su opinión: responda ENCUESTA.",
        "ht": "{org} vle konnen sa w panse: reponn SONDAJ.",
    }
    survey.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    make_wave(app, name="w1", survey_file=str(survey))
    with Session(get_engine(app.extensions["surveybot"].settings.DATABASE_URL)) as session:
        open_wave(session, redis, "w1", allow_placeholders=False)
    # Edited after the wave opened: invitations still say what the wave froze.
    raw["messages"]["invitation"]["es"] = "EDITADO {org}"
    survey.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    client = signed_in(app, "organizer")
    path = "/dashboard/waves/w1/invitations"
    html = upload(client, path, b"+16175550101\n", language="es", step="check").get_data(
        as_text=True
    )
    frozen = f"{REAL_RESOURCES['org']} quiere su opinión: responda ENCUESTA."
    assert wave_invitation(redis, "w1", "es") == frozen
    assert f'<p class="sms-text" lang="es">{escape(frozen)}</p>' in html
    assert "UCS-2, 1 segment (" in html and "UCS-2 because of ó" in html
    assert "EDITADO" not in html and "The invitation, exactly as it will be sent" in html
    assert 'lang="en"' not in html.split("exactly as it will be sent", 1)[1]  # es only

    html = upload(client, path, b"+16175550101\n", language="en", step="check").get_data(
        as_text=True
    )
    text = f"{REAL_RESOURCES['org']} wants your opinion: reply SURVEY."
    assert f'<p class="sms-text" lang="en">{escape(text)}</p>' in html
    assert f"GSM-7, 1 segment ({len(text)} septets)" in html


def test_invitations_need_an_open_wave_and_a_known_region(app, redis):
    make_wave(app, name="draft")
    client = signed_in(app, "organizer")
    response = upload(
        client,
        "/dashboard/waves/draft/invitations",
        b"+16175550101\n",
        language="en",
        step="check",
    )
    assert response.status_code == 302
    open_w1(app, redis)
    response = upload(
        client,
        "/dashboard/waves/w1/invitations",
        b"+16175550101\n",
        language="en",
        region="ZZ",
        step="check",
        follow_redirects=True,
    )
    assert "not a known region" in response.get_data(as_text=True)
    assert not redis.exists("sb:stats:invites:w1")


def test_an_upload_too_large_is_refused(app, redis):
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    open_w1(app, redis)
    client = signed_in(app, "organizer")
    big = b"+16175550101\n" * (3 * 1024 * 1024 // 13)
    # Encoded in memory: the test client would spool a large body to a file it never closes.
    boundary, body = encode_multipart(
        {
            "csrf_token": csrf_token(client),
            "language": "en",
            "step": "check",
            "file": FileStorage(io.BytesIO(big), filename="members.csv"),
        }
    )
    assert len(body) > len(big)
    response = client.post(
        "/dashboard/waves/w1/invitations",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)


def test_numbers_without_a_country_code_are_read_in_the_default_region(settings_overrides, redis):
    app = create_app({**settings_overrides, "DEFAULT_PHONE_REGION": "HT"})
    try:
        open_w1(app, redis)
        client = signed_in(app, "organizer")
        path = "/dashboard/waves/w1/invitations"
        assert 'name="region" value="HT"' in client.get(path).get_data(as_text=True)
        check = upload(client, path, b"3412 3456\n", language="ht", step="check")
        html = check.get_data(as_text=True)
        assert "Send 1 invitations" in html and 'name="region" value="HT"' in html
    finally:
        app.extensions["surveybot"].redis.close()


# ---------------------------------------------------------------------------------- users


def test_admins_manage_accounts(app, db):
    admin = signed_in(app, "admin")
    created = post(
        admin,
        "/dashboard/users",
        {"email": "New@Example.org", "role": "organizer", "password": PASSWORD},
        follow_redirects=True,
    )
    assert "Account new@example.org created as organizer." in created.get_data(as_text=True)
    short = post(
        admin,
        "/dashboard/users",
        {"email": "s@example.org", "role": "viewer", "password": "short"},
        follow_redirects=True,
    )
    assert "12 characters" in short.get_data(as_text=True)

    member = app.test_client()
    assert sign_in(member, "new@example.org").status_code == 302
    assert member.get("/dashboard/users").status_code == 403

    with Session(get_engine(db)) as session:
        new_id = find_user(session, "new@example.org").id
        admin_id = find_user(session, "admin@example.org").id
    post(admin, f"/dashboard/users/{new_id}", {"action": "role", "role": "admin"})
    assert member.get("/dashboard/users").status_code == 200  # the role is read every request
    post(admin, f"/dashboard/users/{new_id}", {"action": "disable"})
    assert member.get("/dashboard/").status_code == 302
    own = post(admin, f"/dashboard/users/{admin_id}", {"action": "disable"}, follow_redirects=True)
    assert "cannot change your own account" in own.get_data(as_text=True)
    with Session(get_engine(db)) as session:
        assert not find_user(session, "admin@example.org").disabled
        assert find_user(session, "new@example.org").disabled


def test_an_uploaded_list_of_numbers_never_touches_the_disk(app):
    """Werkzeug spools uploads over 500 KB to a temporary file; the app keeps them in memory."""
    import io

    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    big = b"phone\n" + b"+13055550100\n" * 60_000  # ~780 KB
    boundary, body = encode_multipart(
        {"file": FileStorage(io.BytesIO(big), "numbers.csv", content_type="text/csv")}
    )
    with app.test_request_context(
        "/dashboard/waves/w/invitations",
        method="POST",
        input_stream=io.BytesIO(body),
        content_length=len(body),
        content_type=f"multipart/form-data; boundary={boundary}",
    ) as context:
        context.request.max_content_length = 2 * 1024 * 1024  # as the invitations page allows
        upload = context.request.files["file"]
        assert isinstance(upload.stream, io.BytesIO)
        assert upload.read() == big
