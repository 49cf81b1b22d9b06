"""A real SMTP server (aiosmtpd) on the loopback for the tests of outgoing mail."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: str = ""

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


@dataclass
class Recorder:
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        auth = getattr(session, "auth_data", None)
        login = auth.decode() if isinstance(auth, bytes) else ""
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content, login)
        )
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    port: int
    recorder: Recorder
    controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        return self.recorder.received

    def start(self, **kwargs: Any) -> None:
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def password_checker(user: str, password: str) -> Callable[..., AuthResult]:
    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)

    return authenticate


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A started SMTP server without authentication; ``server.stop()``/``start()`` to take it down and up."""
    server = SmtpServer(port=free_port(), recorder=Recorder())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_down() -> Iterator[SmtpServer]:
    """An SMTP server that is not running yet (its port is free): start it when the test wants."""
    server = SmtpServer(port=free_port(), recorder=Recorder())
    yield server
    server.stop()


def pdf_text(content: bytes) -> str:
    """The text layer of a PDF, read by poppler's pdftotext (what a search indexer or a reader gets)."""
    import subprocess
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lettre.pdf"
        path.write_bytes(content)
        return subprocess.run(
            ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
        ).stdout


def self_signed_certificate(directory: Any) -> tuple[Any, Any]:
    """A certificate for 127.0.0.1 and its key (PEM files), made with cryptography for the TLS tests."""
    import datetime as dt
    import ipaddress
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Relais SMTP de test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = Path(directory) / "cert.pem"
    key_path = Path(directory) / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path
