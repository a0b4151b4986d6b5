"""Signing in under attack: parallel guesses, strangers who know an organizer's email, and
passwords that are easy to guess."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from click.testing import CliRunner
from sqlmodel import Session

from bot.cli import main
from bot.dashboard.accounts import AccountError, check_password_rules, find_user, set_password
from bot.dashboard.throttle import MAX_ACCOUNT_DELAY_SECONDS, MAX_FAILURES_PER_ACCOUNT
from bot.infra.db import get_engine
from tests.dashboard_utils import PASSWORD, csrf_token, make_user, post, sign_in, signed_in

OWNER = "organizer@example.org"
WRONG = "guess guess guess"


@pytest.fixture
def cli_env(app, monkeypatch):
    """The surveybot command pointed at the test database."""
    settings = app.extensions["surveybot"].settings
    monkeypatch.setenv("SURVEYBOT_ENV", "test")
    monkeypatch.setenv("DATABASE_URL", settings.DATABASE_URL)
    monkeypatch.setenv("REDIS_URL", settings.REDIS_URL)
    return CliRunner()


def test_parallel_wrong_passwords_check_no_more_than_the_allowance(app):
    make_user(app, OWNER, "organizer")
    threads = 48
    clients = [app.test_client() for _ in range(threads)]
    tokens = [csrf_token(c) for c in clients]
    start = threading.Barrier(threads)
    statuses: list[int] = []

    def guess(client, token) -> None:  # noqa: ANN001
        start.wait()
        data = {"email": OWNER, "password": WRONG, "csrf_token": token}
        statuses.append(client.post("/dashboard/sign-in", data=data).status_code)

    pairs = zip(clients, tokens, strict=True)
    workers = [threading.Thread(target=guess, args=pair) for pair in pairs]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(statuses) == threads
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= MAX_FAILURES_PER_ACCOUNT  # checked against the database
    assert statuses.count(401) == MAX_FAILURES_PER_ACCOUNT  # the allowance is not lost either


def _at(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def test_a_stranger_cannot_lock_the_organizer_out(app, clock):
    make_user(app, OWNER, "organizer")
    home, cafe = "198.51.100.7", "192.0.2.50"
    assert sign_in(app.test_client(), OWNER, **_at(home)).status_code == 302  # signed in before
    # A stranger who knows the email guesses for most of an hour, from one address and from many.
    stranger = app.test_client()
    for i in range(15):
        sign_in(stranger, OWNER, WRONG, **_at("203.0.113.9"))
        sign_in(app.test_client(), OWNER, WRONG, **_at(f"203.0.113.{100 + i}"))
        clock.set(clock.moment + dt.timedelta(minutes=3))
    refused = sign_in(stranger, OWNER, PASSWORD, **_at("203.0.113.9"))
    assert refused.status_code == 429  # the stranger's own address waits long
    assert int(refused.headers["Retry-After"]) > MAX_ACCOUNT_DELAY_SECONDS
    # The organizer, at home, signs in at once.
    assert sign_in(app.test_client(), OWNER, **_at(home)).status_code == 302
    # From an address never used before, they wait at most a minute after the last guess.
    sign_in(app.test_client(), OWNER, WRONG, **_at("203.0.113.250"))
    first = sign_in(app.test_client(), OWNER, **_at(cafe))
    if first.status_code == 429:
        wait = int(first.headers["Retry-After"])
        assert 0 < wait <= MAX_ACCOUNT_DELAY_SECONDS
        assert "Wait" in first.get_data(as_text=True)
        clock.set(clock.moment + dt.timedelta(seconds=wait))
        first = sign_in(app.test_client(), OWNER, **_at(cafe))
    assert first.status_code == 302


def test_guesses_from_one_address_wait_longer_and_longer(app, clock):
    make_user(app, OWNER, "organizer")
    client = app.test_client()
    waits = []
    for _ in range(MAX_FAILURES_PER_ACCOUNT):
        assert sign_in(client, OWNER, WRONG).status_code == 401
    for _ in range(6):
        refused = sign_in(client, OWNER, WRONG)
        assert refused.status_code == 429
        waits.append(int(refused.headers["Retry-After"]))
        clock.set(clock.moment + dt.timedelta(seconds=waits[-1]))
        assert sign_in(client, OWNER, WRONG).status_code == 401
    assert waits == sorted(waits) and waits[-1] >= 16 * waits[0]


@pytest.mark.parametrize(
    "password",
    [
        "aaaaaaaaaaaa",
        "abababababab",
        "123456789012",
        "abcdefghijkl",
        "qwertyuiop12",
        "password1234",
        "iloveyou2024",
        "organizer@example.org",
    ],
)
def test_common_and_repetitive_passwords_are_refused(password):
    with pytest.raises(AccountError, match="easy to guess"):
        check_password_rules(password, ("organizer@example.org",))


def test_a_good_passphrase_is_accepted():
    check_password_rules(PASSWORD, ("organizer@example.org",))
    check_password_rules("teal lantern under marigold", ())


def test_weak_passwords_are_refused_everywhere_passwords_are_set(app, cli_env, db):
    result = cli_env.invoke(
        main,
        ["user", "create", "a@example.org", "--role", "admin", "--password-stdin"],
        input="aaaaaaaaaaaa\n",
    )
    assert result.exit_code != 0 and "easy to guess" in result.output
    client = signed_in(app, "viewer")
    data = {
        "current_password": PASSWORD,
        "new_password": "qwertyuiop12",
        "confirm_password": "qwertyuiop12",
    }
    page = post(client, "/dashboard/account", data, follow_redirects=True)
    assert "easy to guess" in page.get_data(as_text=True)
    with Session(get_engine(db)) as session:
        user = find_user(session, "viewer@example.org")
        with pytest.raises(AccountError):
            set_password(session, user, "aaaaaaaaaaaa")
