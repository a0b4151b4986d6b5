"""Dashboard test helpers: accounts, signing in, and posting forms with the CSRF token."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session

from bot.dashboard.accounts import create_user
from bot.infra.db import get_engine

PASSWORD = "correct horse battery staple"
ROLES = ("viewer", "organizer", "admin")


def make_user(app: Flask, email: str, role: str, password: str = PASSWORD) -> int:
    """Create an account directly in the app's database; returns its id."""
    url = app.extensions["surveybot"].settings.DATABASE_URL
    with Session(get_engine(url)) as session:
        return create_user(session, email=email, role=role, password=password).id


def csrf_token(client: FlaskClient, **kwargs) -> str:  # noqa: ANN003
    """This client's CSRF token, as the sign-in page's form carries it."""
    with client.session_transaction(**kwargs) as session:
        token = session.get("csrf")
    if token:
        return token
    page = client.get("/dashboard/sign-in", **kwargs)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert match, page.data
    return match[1]


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD, **kwargs):  # noqa: ANN003
    """Post the sign-in form; returns the response."""
    token = csrf_token(client, **kwargs)
    return client.post(
        "/dashboard/sign-in",
        data={"email": email, "password": password, "csrf_token": token},
        **kwargs,
    )


def post(client: FlaskClient, path: str, data: dict | None = None, **kwargs):  # noqa: ANN003
    """Post a dashboard form with this client's CSRF token."""
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client)}, **kwargs)


def signed_in(app: Flask, role: str, email: str | None = None) -> FlaskClient:
    """A new client signed in to a new account of this role."""
    email = email or f"{role}@example.org"
    make_user(app, email, role)
    client = app.test_client()
    response = sign_in(client, email)
    assert response.status_code == 302, response.data
    return client
