"""Dashboard accounts: roles, argon2 passwords, the sign-in throttle, server-side sessions,
CSRF, and the `surveybot user` commands.

There is no default account and no default password: the first admin is made with
`surveybot user create EMAIL --role admin`. A signed-in browser holds a random session id in
Flask's signed cookie; the session itself lives in Redis with an idle and an absolute expiry,
so signing out, disabling an account or changing its password ends it everywhere. The role is
read from the database on every request, never from the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sys
import time
from collections.abc import Callable
from enum import StrEnum
from functools import lru_cache, wraps
from typing import Any, TypeVar

import click
import flask
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import abort, g, redirect, request, url_for
from redis import Redis
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.infra import clock, keys
from bot.infra.db import get_engine
from bot.infra.exceptions import SurveybotError
from bot.infra.models import User
from bot.web.state import state

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; a cap keeps a sign-in POST cheap
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20  # an office behind one address has several organizers
LOCKOUT_SECONDS = 15 * 60
SESSION_IDLE_SECONDS = 2 * 3600
SESSION_MAX_SECONDS = 12 * 3600
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_hasher = PasswordHasher()


class Role(StrEnum):
    """What an account may do: viewers read, organizers run waves, admins manage accounts."""

    VIEWER = "viewer"
    ORGANIZER = "organizer"
    ADMIN = "admin"


RANK = {Role.VIEWER: 0, Role.ORGANIZER: 1, Role.ADMIN: 2}


class AccountError(SurveybotError):
    """An account operation that cannot be done (with the reason, for the operator)."""


def has_role(user: User, needed: Role | str) -> bool:
    """Whether this account's role is at least `needed`."""
    try:
        return RANK[Role(user.role)] >= RANK[Role(needed)]
    except ValueError:
        return False  # an unknown role in the database grants nothing


# ---------------------------------------------------------------------------------- accounts


def normalize_email(email: str) -> str:
    """An email address as accounts are keyed: trimmed and lowercased."""
    return email.strip().lower()


def check_password_rules(password: str) -> None:
    """Refuse passwords that are too short (or absurdly long)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    """The argon2id hash of a password that follows the rules."""
    check_password_rules(password)
    return _hasher.hash(password)


def find_user(session: Session, email: str) -> User | None:
    """The account with this email, if any."""
    return session.exec(select(User).where(User.email == normalize_email(email))).first()


def get_user(session: Session, email: str) -> User:
    """The account with this email, or AccountError."""
    user = find_user(session, email)
    if user is None:
        raise AccountError(f"no account for {normalize_email(email)}")
    return user


def list_users(session: Session) -> list[User]:
    """Every account, by email."""
    return list(session.exec(select(User).order_by(User.email)))


def check_new_account(session: Session, email: str) -> str:
    """The normalized email of an account that may be created, or AccountError."""
    email = normalize_email(email)
    if not EMAIL.match(email) or len(email) > 254:
        raise AccountError(f"{email!r} is not an email address")
    if find_user(session, email) is not None:
        raise AccountError(f"an account for {email} already exists")
    return email


def create_user(session: Session, *, email: str, role: Role | str, password: str) -> User:
    """A new account (the email must be new, the password long enough)."""
    email = check_new_account(session, email)
    try:
        role = Role(role)
    except ValueError:
        raise AccountError(f"a role is one of: {', '.join(Role)}") from None
    user = User(
        email=email,
        password_hash=hash_password(password),
        role=role.value,
        created_on=clock.today(),
    )
    session.add(user)
    try:
        session.commit()
    except IntegrityError:  # created by someone else a moment ago
        session.rollback()
        raise AccountError(f"an account for {email} already exists") from None
    session.refresh(user)
    return user


def set_role(session: Session, user: User, role: Role | str) -> User:
    """Change an account's role."""
    try:
        user.role = Role(role).value
    except ValueError:
        raise AccountError(f"a role is one of: {', '.join(Role)}") from None
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def set_disabled(session: Session, user: User, disabled: bool) -> User:
    """Disable (or enable again) an account; a disabled account's sessions stop working."""
    user.disabled = disabled
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def set_password(session: Session, user: User, password: str) -> User:
    """Give an account a new password; its other sessions stop working."""
    user.password_hash = hash_password(password)
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def _matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The enabled account whose password this is, else None.

    An unknown email, a disabled account and a wrong password cost the same argon2 check, so
    the time taken does not tell which accounts exist.
    """
    user = find_user(session, email) if len(email) <= 254 else None
    password = password[: MAX_PASSWORD_LENGTH + 1]
    if user is None or user.disabled:
        _matches(_dummy_hash(), password)
        return None
    if not _matches(user.password_hash, password):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        session.add(user)
        session.commit()
        session.refresh(user)
    return user


def password_fingerprint(user: User) -> str:
    """Changes whenever the password does: a session remembers it to end on a change."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:32]


# ---------------------------------------------------------------------------------- throttle


def _digest(secret: str, value: str) -> str:
    # Keyed, so Redis never holds an organizer's email or address in a recoverable form.
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


def failures_key(kind: str, digest: str) -> str:
    """Failed sign-ins of one account ("account") or one client address ("address")."""
    return f"{keys.PREFIX}:dash:fail:{kind}:{digest}"


class Throttle:
    """Counts failed sign-ins per account and per client address, and locks both out.

    Each failure keeps the counter for LOCKOUT_SECONDS more, so failures add up while they come
    less than that apart, and a locked account opens LOCKOUT_SECONDS after the last failure.
    """

    def __init__(self, redis: Redis, secret: str) -> None:
        self.redis = redis
        self.secret = secret

    def _keys(self, email: str, address: str) -> list[tuple[str, int]]:
        return [
            (
                failures_key("account", _digest(self.secret, normalize_email(email))),
                MAX_FAILURES_PER_ACCOUNT,
            ),
            (failures_key("address", _digest(self.secret, address)), MAX_FAILURES_PER_ADDRESS),
        ]

    def locked(self, email: str, address: str) -> bool:
        """Whether this account or this address has too many recent failures."""
        pairs = self._keys(email, address)
        counts = self.redis.mget([key for key, _ in pairs])
        return any(
            int(count or 0) >= limit for count, (_, limit) in zip(counts, pairs, strict=True)
        )

    def failed(self, email: str, address: str) -> None:
        """Count one failed sign-in."""
        with self.redis.pipeline() as pipe:
            for key, _ in self._keys(email, address):
                pipe.incr(key)
                pipe.expire(key, LOCKOUT_SECONDS)
            pipe.execute()

    def succeeded(self, email: str) -> None:
        """Forget the account's failures (the address's decay on their own)."""
        self.redis.delete(self._keys(email, "")[0][0])


# ---------------------------------------------------------------------------------- sessions


def session_key(sid: str) -> str:
    """A signed-in dashboard session (JSON, with an idle TTL), under a digest of its id: what
    Redis holds (or a copy of it leaks) is no session id a browser could present."""
    digest = hashlib.sha256(sid.encode()).hexdigest()
    return f"{keys.PREFIX}:dash:session:{digest}"


def start_session(redis: Redis, user: User) -> str:
    """A new server-side session for this account; returns its random id."""
    sid = secrets.token_urlsafe(32)
    record = {"user": user.id, "pw": password_fingerprint(user), "since": int(time.time())}
    redis.set(session_key(sid), json.dumps(record), ex=SESSION_IDLE_SECONDS)
    return sid


def resume_session(redis: Redis, sid: str) -> dict[str, Any] | None:
    """The session of this id if it has not expired (and extend its idle time), else None."""
    blob = redis.get(session_key(sid))
    if blob is None:
        return None
    record = json.loads(blob)
    age = time.time() - record["since"]
    if age >= SESSION_MAX_SECONDS:
        redis.delete(session_key(sid))
        return None
    redis.expire(session_key(sid), int(min(SESSION_IDLE_SECONDS, SESSION_MAX_SECONDS - age)) + 1)
    return record


def end_session(redis: Redis, sid: str) -> None:
    """Forget a session (sign-out)."""
    redis.delete(session_key(sid))


# ---------------------------------------------------------------------------------- the web


def db() -> Session:
    """The database session of this request (closed by `close_db`)."""
    if "dashboard_db" not in g:
        g.dashboard_db = Session(get_engine(state().settings.DATABASE_URL))
    return g.dashboard_db


def close_db(_exc: BaseException | None = None) -> None:
    """Close the request's database session, if it opened one."""
    session = g.pop("dashboard_db", None)
    if session is not None:
        session.close()


def sign_in(user: User) -> None:
    """Start a fresh session for this account (a new id and CSRF token: no fixation)."""
    flask.session.clear()
    flask.session["sid"] = start_session(state().redis, user)
    flask.session["csrf"] = secrets.token_urlsafe(32)
    g.dashboard_user = user


def sign_out() -> None:
    """End the current session, here and in Redis."""
    sid = flask.session.get("sid")
    if sid:
        end_session(state().redis, sid)
    flask.session.clear()
    g.dashboard_user = None


def current_user() -> User | None:
    """The signed-in account of this request, or None."""
    if "dashboard_user" in g:
        return g.dashboard_user
    user = None
    sid = flask.session.get("sid")
    if isinstance(sid, str):
        redis = state().redis
        record = resume_session(redis, sid)
        if record is not None:
            user = db().get(User, record["user"])
            if user is None or user.disabled or record["pw"] != password_fingerprint(user):
                end_session(redis, sid)
                user = None
        if user is None:
            flask.session.pop("sid", None)
    g.dashboard_user = user
    return user


def csrf_token() -> str:
    """This browser session's CSRF token (made on first use)."""
    token = flask.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = flask.session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Abort with 400 unless a state-changing request carries this session's CSRF token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = flask.session.get("csrf")
    given = request.form.get("csrf_token", "")
    if (
        not isinstance(expected, str)
        or not expected
        or not hmac.compare_digest(expected.encode(), given.encode())
    ):
        abort(400, description="The form expired or did not come from this site. Try again.")


F = TypeVar("F", bound=Callable[..., Any])


def require_role(role: Role | str) -> Callable[[F], F]:
    """Let a view run only for a signed-in account with at least this role.

    Anonymous visitors go to the sign-in page; a signed-in account without the role gets 403.
    """
    needed = Role(role)

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                target = None
                if request.method == "GET":
                    target = request.full_path.rstrip("?")
                return redirect(url_for("dashboard.sign_in", next=target))
            if not has_role(user, needed):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_role = needed  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator


def public(view: F) -> F:
    """Mark a dashboard view as open to anonymous visitors (sign-in only)."""
    view.required_role = None  # type: ignore[attr-defined]
    return view


# ---------------------------------------------------------------------------------- the CLI


def _database() -> Session:
    """A session on the accounts' database (checked before any password is asked)."""
    from bot.cli.settings import command_settings

    settings = command_settings("DATABASE_URL", purpose="accounts live in the database")
    return Session(get_engine(settings.DATABASE_URL))


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        check_password_rules(password)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    return password


_role_choice = click.Choice([r.value for r in Role])
_stdin_option = click.option(
    "--password-stdin", is_flag=True, help="Read the password from one line of standard input."
)


@click.group("user")
def user_group() -> None:
    """Dashboard accounts (there is no default account)."""


@user_group.command("create")
@click.argument("email")
@click.option("--role", required=True, type=_role_choice, help="What the account may do.")
@_stdin_option
def user_create(email: str, role: str, password_stdin: bool) -> None:
    """Create an account; asks for its password twice (12 characters or more)."""
    with _database() as session:
        try:
            check_new_account(session, email)  # before asking for a password
            password = _read_password(password_stdin)
            user = create_user(session, email=email, role=role, password=password)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"created {user.role} account {user.email}")


@user_group.command("list")
def user_list() -> None:
    """List the accounts: email, role, and whether disabled."""
    with _database() as session:
        users = list_users(session)
        if not users:
            from bot.cli.settings import invoked_as

            click.echo(f"no accounts yet: {invoked_as()} user create EMAIL --role admin")
        for user in users:
            flag = "  (disabled)" if user.disabled else ""
            click.echo(f"{user.email}  {user.role}{flag}")


@user_group.command("set-role")
@click.argument("email")
@click.argument("role", type=_role_choice)
def user_set_role(email: str, role: str) -> None:
    """Change an account's role."""
    with _database() as session:
        try:
            user = set_role(session, get_user(session, email), role)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"{user.email} is now {user.role}")


@user_group.command("disable")
@click.argument("email")
def user_disable(email: str) -> None:
    """Disable an account (it cannot sign in; its sessions end)."""
    with _database() as session:
        try:
            user = set_disabled(session, get_user(session, email), True)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"{user.email} is disabled")


@user_group.command("enable")
@click.argument("email")
def user_enable(email: str) -> None:
    """Enable a disabled account again."""
    with _database() as session:
        try:
            user = set_disabled(session, get_user(session, email), False)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"{user.email} is enabled")


@user_group.command("set-password")
@click.argument("email")
@_stdin_option
def user_set_password(email: str, password_stdin: bool) -> None:
    """Give an account a new password (its sessions end)."""
    with _database() as session:
        try:
            user = get_user(session, email)
            password = _read_password(password_stdin)
            set_password(session, user, password)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"new password set for {user.email}")
