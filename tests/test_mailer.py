"""SMTP sending against a real local SMTP server (aiosmtpd): plain, STARTTLS, TLS, AUTH, retries."""

from __future__ import annotations

import email
import socket
import ssl
import subprocess
from email import policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from bot.core.questionnaire import load_questionnaire
from bot.infra.exceptions import ConfigError, MailError
from bot.infra.mailer import Security, parse_smtp_url, send_message
from bot.releases.email_report import build_message, render_report
from tests.test_email_report import published

USER, PASSWORD = "reports@coalition", "p@ss:w/rd"  # percent-encoded in URLs
URL_USER, URL_PASSWORD = "reports%40coalition", "p%40ss%3Aw%2Frd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    """An SMTP handler that records what it accepts and can refuse on demand."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []
        self.rcpt_calls = 0
        self.data_calls = 0
        self.temporary_failures = 0  # answer DATA with 451 this many times
        self.rcpt_reply: str | None = None  # answer RCPT with this instead of 250

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        self.rcpt_calls += 1
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.data_calls += 1
        if self.temporary_failures > 0:
            self.temporary_failures -= 1
            return "451 4.3.0 try again"
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


class Authenticator:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.seen.append((mechanism, login, password))
        # handled=False: aiosmtpd answers a refusal with 535 itself
        return AuthResult(success=(login, password) == (USER, PASSWORD), handled=False)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for localhost/127.0.0.1, made now; (cert path, key path)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "1",
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def server_tls(certificate) -> ssl.SSLContext:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
def start_server():
    """Start aiosmtpd controllers on free local ports; all stopped at teardown."""
    controllers: list[Controller] = []

    def start(handler: Recorder, **kwargs) -> int:
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def message() -> EmailMessage:
    rendered = render_report(published(), None, load_questionnaire())
    return build_message(
        rendered,
        sender="Survey <survey@coalition.example.org>",
        recipients=["staff@partner.example.org", "lead@coalition.example.org"],
    )


def received_message(handler: Recorder, index: int = 0) -> email.message.EmailMessage:
    return email.message_from_bytes(handler.received[index][2], policy=policy.default)


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


# ------------------------------------------------------------------------- URL parsing


def test_parse_smtp_urls():
    plain = parse_smtp_url("smtp://localhost:2525")
    assert (plain.host, plain.port, plain.security, plain.username) == (
        "localhost",
        2525,
        Security.PLAIN,
        "",
    )
    assert parse_smtp_url("smtp://relay").port == 25
    submission = parse_smtp_url(f"smtp://{URL_USER}:{URL_PASSWORD}@smtp.example.org:587")
    assert submission.security is Security.STARTTLS
    assert (submission.username, submission.password) == (USER, PASSWORD)
    assert PASSWORD not in repr(submission)
    assert parse_smtp_url("smtp://h:2525?starttls=1").security is Security.STARTTLS
    assert parse_smtp_url("smtp://h:587?starttls=0").security is Security.PLAIN
    implicit = parse_smtp_url("smtps://u:p@smtp.example.org")
    assert (implicit.port, implicit.security) == (465, Security.TLS)
    options = parse_smtp_url("smtps://h:4650?cafile=/etc/ca.pem&timeout=2.5")
    assert (options.cafile, options.timeout) == ("/etc/ca.pem", 2.5)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "http://example.org",
        "smtp://",
        "smtp://h:notaport",
        "smtp://h?starttls=maybe",
        "smtp://h?timeout=soon",
        "smtp://h?verify=0",
    ],
)
def test_bad_smtp_urls_are_config_errors(url):
    with pytest.raises(ConfigError):
        parse_smtp_url(url)


# ------------------------------------------------------------------------- delivery


def test_plain_send_delivers_both_parts(start_server, message):
    handler = Recorder()
    port = start_server(handler)
    send_message(message, f"smtp://127.0.0.1:{port}", sleep=Sleeps())
    assert len(handler.received) == 1
    mail_from, rcpt_tos, _ = handler.received[0]
    assert mail_from == "survey@coalition.example.org"
    assert rcpt_tos == ["staff@partner.example.org", "lead@coalition.example.org"]
    got = received_message(handler)
    assert got["Subject"] == "Community safety survey — week of Nov 16–22, 2026"
    assert got["From"] == "Survey <survey@coalition.example.org>"
    assert got["To"] == "staff@partner.example.org, lead@coalition.example.org"
    assert got.get_content_type() == "multipart/alternative"
    plain, html = got.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert "56% of respondents said they are afraid" in plain.get_content()
    assert html.get_content_type() == "text/html"
    assert 'role="img"' in html.get_content()


def test_starttls_with_a_private_ca_and_auth(start_server, message, certificate, server_tls):
    handler, authenticator = Recorder(), Authenticator()
    port = start_server(
        handler, tls_context=server_tls, require_starttls=True, authenticator=authenticator
    )
    cert, _ = certificate
    url = f"smtp://{URL_USER}:{URL_PASSWORD}@127.0.0.1:{port}?starttls=1&cafile={cert}"
    send_message(message, url, sleep=Sleeps())
    assert authenticator.seen and authenticator.seen[-1][1:] == (USER, PASSWORD)
    assert received_message(handler)["Subject"].startswith("Community safety survey")


def test_starttls_refuses_an_untrusted_certificate_at_once(start_server, message, server_tls):
    handler = Recorder()
    port = start_server(handler, tls_context=server_tls, require_starttls=True)
    sleeps = Sleeps()
    with pytest.raises(MailError, match="certificate"):
        send_message(message, f"smtp://127.0.0.1:{port}?starttls=1", sleep=sleeps)
    assert sleeps == []
    assert handler.received == []


def test_implicit_tls(start_server, message, certificate, server_tls):
    handler, authenticator = Recorder(), Authenticator()
    # aiosmtpd only counts STARTTLS as TLS for AUTH; this whole connection is TLS.
    port = start_server(
        handler, ssl_context=server_tls, authenticator=authenticator, auth_require_tls=False
    )
    cert, _ = certificate
    send_message(
        message,
        f"smtps://{URL_USER}:{URL_PASSWORD}@127.0.0.1:{port}?cafile={cert}",
        sleep=Sleeps(),
    )
    assert authenticator.seen[-1][1:] == (USER, PASSWORD)
    assert len(handler.received) == 1
    plain, html = received_message(handler).iter_parts()
    assert "not shown" in plain.get_content()


def test_auth_without_tls_and_a_wrong_password(start_server, message):
    handler, authenticator = Recorder(), Authenticator()
    port = start_server(handler, authenticator=authenticator, auth_require_tls=False)
    send_message(message, f"smtp://{URL_USER}:{URL_PASSWORD}@127.0.0.1:{port}", sleep=Sleeps())
    assert len(handler.received) == 1

    sleeps = Sleeps()
    with pytest.raises(MailError) as caught:
        send_message(message, f"smtp://{URL_USER}:wrong@127.0.0.1:{port}", sleep=sleeps)
    assert "authentication failed: 535" in str(caught.value)
    assert "wrong" not in str(caught.value)
    assert sleeps == []
    assert len(handler.received) == 1


def test_temporary_failures_are_retried_with_backoff(start_server, message, caplog):
    handler = Recorder()
    handler.temporary_failures = 3
    port = start_server(handler)
    sleeps = Sleeps()
    with caplog.at_level("WARNING", logger="bot.infra.mailer"):
        send_message(message, f"smtp://127.0.0.1:{port}", sleep=sleeps)
    assert sleeps == [1, 5, 30]
    assert handler.data_calls == 4
    assert len(handler.received) == 1
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 3
    assert all("451 4.3.0 try again" in line for line in failures)
    # nothing of the message or its recipients in the logs
    for line in failures:
        assert "staff@partner" not in line and "respondents" not in line


def test_temporary_failures_that_outlast_every_attempt(start_server, message):
    handler = Recorder()
    handler.temporary_failures = 10
    port = start_server(handler)
    sleeps = Sleeps()
    with pytest.raises(MailError, match=r"after 3 attempts: message refused: 451 4\.3\.0"):
        send_message(message, f"smtp://127.0.0.1:{port}", attempts=3, sleep=sleeps)
    assert sleeps == [1, 5]
    assert handler.data_calls == 3


def test_a_permanent_refusal_fails_at_once(start_server, message):
    handler = Recorder()
    handler.rcpt_reply = "550 5.1.1 no such user"
    port = start_server(handler)
    sleeps = Sleeps()
    with pytest.raises(MailError) as caught:
        send_message(message, f"smtp://127.0.0.1:{port}", sleep=sleeps)
    text = str(caught.value)
    assert "550 5.1.1 no such user" in text
    assert "\n" not in text
    assert "respondents" not in text and "Community safety" not in text  # no content
    assert sleeps == []
    assert handler.rcpt_calls == 2  # one attempt: both recipients tried once
    assert handler.received == []


def test_connection_refused_is_retried_then_fails(message):
    port = free_port()  # nothing listens there any more
    sleeps = Sleeps()
    with pytest.raises(MailError, match="after 4 attempts"):
        send_message(
            message, f"smtp://127.0.0.1:{port}?timeout=5", attempts=4, backoff=(2, 7), sleep=sleeps
        )
    assert sleeps == [2, 7, 7]


def test_a_message_without_recipients_is_refused_before_connecting(message):
    del message["To"]
    sleeps = Sleeps()
    with pytest.raises(MailError, match="no recipients"):
        send_message(message, "smtp://127.0.0.1:9", sleep=sleeps)
    assert sleeps == []
