"""Dashboard accounts: roles, argon2 passwords and the account records.

There is no default account and no default password: the first admin is made with
`surveybot user create EMAIL --role admin`. The role is read from the database on every
request, never from the cookie. These functions take a database session and plain values, so
the web pages and the `surveybot user` commands share them.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from enum import StrEnum
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from zxcvbn import zxcvbn

from bot.infra import clock
from bot.infra.exceptions import SurveybotError
from bot.infra.models import User

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; a cap keeps a sign-in POST cheap
# zxcvbn's scale: 3 is "safely unguessable" online (about 10^8 guesses), which the sign-in
# throttle (bot/dashboard/throttle.py) keeps far out of an attacker's reach.
MIN_PASSWORD_SCORE = 3
STRENGTH_PREFIX = 72  # zxcvbn refuses longer input; its time grows with the length
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


def normalize_email(email: str) -> str:
    """An email address as accounts are keyed: trimmed and lowercased."""
    return email.strip().lower()


def check_password_rules(password: str, context: tuple[str, ...] = ()) -> None:
    """Refuse passwords that are too short (or absurdly long), common, repetitive, sequences,
    keyboard walks or built from `context` (the account's email): zxcvbn's estimate."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    inputs = [part for item in context for part in re.split(r"[@.+_-]", item.lower()) if part]
    estimate = zxcvbn(password[:STRENGTH_PREFIX], user_inputs=[*context, *inputs])
    if estimate["score"] < MIN_PASSWORD_SCORE:
        why = estimate["feedback"]["warning"] or "it is easy to guess"
        raise AccountError(
            f"that password is too easy to guess ({why.rstrip('.')}); "
            "a few uncommon words together make a good one"
        )


def hash_password(password: str, context: tuple[str, ...] = ()) -> str:
    """The argon2id hash of a password that follows the rules (`context`: the account's email)."""
    check_password_rules(password, context)
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
        password_hash=hash_password(password, (email,)),
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
    user.password_hash = hash_password(password, (user.email,))
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
