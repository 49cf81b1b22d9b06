"""A real Dovecot IMAP server for tests and benchmarks, on loopback with a throw-away configuration.

Plain IMAP (with STARTTLS offered) on ``port``, IMAPS on ``tls_port``, with a certificate for 127.0.0.1 signed
by a test CA (``ca_file``: point ``SSL_CERT_FILE`` at it to trust it). Any user name logs in with ``PASSWORD`` (each test takes its own user, hence its own empty maildir).
XOAUTH2 works too: Dovecot asks a small OAuth2 server run here (``OAuthServer``) whether an access token
is valid (introspection, RFC 7662), and that server also issues access tokens for a refresh token, as
Google's or Microsoft's token endpoints do.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

PASSWORD = "Mot-de-passe-IMAP-42"
MAIL_UID = 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class OAuthServer:
    """Token endpoint (refresh_token grant) and introspection endpoint, in a thread."""

    client_id: str = "mairie-test"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # refresh token → user name
    access_tokens: dict[str, str] = field(default_factory=dict)  # access token → user name
    token_requests: list[dict[str, str]] = field(default_factory=list)
    introspections: int = 0
    tokens_accepted: bool = True  # False: introspection says every token is inactive
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    @property
    def introspection_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/introspect"

    def grant(self, user: str) -> str:
        """A refresh token for a user, as the provider's consent screen would give."""
        token = secrets.token_urlsafe(24)
        self.refresh_tokens[token] = user
        return token

    def start(self) -> None:
        oauth = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _form(self) -> dict[str, str]:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length).decode() if length else ""
                return dict(urllib.parse.parse_qsl(data))

            def do_POST(self) -> None:
                form = self._form()
                if self.path.startswith("/token"):
                    oauth.token_requests.append(form)
                    user = oauth.refresh_tokens.get(form.get("refresh_token", ""))
                    if (
                        form.get("grant_type") != "refresh_token"
                        or form.get("client_id") != oauth.client_id
                        or form.get("client_secret") != oauth.client_secret
                        or user is None
                    ):
                        self._reply(400, {"error": "invalid_grant", "error_description": "Bad Request"})
                        return
                    access = secrets.token_urlsafe(24)
                    oauth.access_tokens[access] = user
                    self._reply(200, {"access_token": access, "token_type": "Bearer", "expires_in": 3600})
                    return
                if self.path.startswith("/introspect"):
                    oauth.introspections += 1
                    token = form.get("token", "")
                    user = oauth.access_tokens.get(token)
                    if user is None or not oauth.tokens_accepted:
                        self._reply(200, {"active": False})
                    else:
                        self._reply(200, {"active": True, "username": user})
                    return
                self._reply(404, {"error": "not_found"})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True, name="oauth-test").start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def write_test_pki(folder: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for 127.0.0.1 / localhost: (ca.pem, cert.pem, key.pem)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Mairie test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    paths[2].chmod(0o600)
    return paths


@dataclass
class Dovecot:
    """``port``: IMAP (plain, STARTTLS offered); ``tls_port``: IMAPS; certificates signed by ``ca_file``."""

    root: Path
    port: int
    oauth: OAuthServer
    tls_port: int = 0
    binary: str = "/usr/sbin/dovecot"
    host: str = "127.0.0.1"
    password: str = PASSWORD

    @property
    def config(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def ca_file(self) -> Path:
        return self.root / "ca.pem"

    def write_config(self) -> None:
        run = self.root / "run"
        state = self.root / "state"
        mail = self.root / "mail"
        for folder in (run, state, mail):
            folder.mkdir(parents=True, exist_ok=True)
        os.chown(mail, MAIL_UID, MAIL_UID) if os.geteuid() == 0 else None
        _, cert, key = write_test_pki(self.root)
        oauth_conf = self.root / "dovecot-oauth2.conf.ext"
        oauth_conf.write_text(
            "\n".join(
                [
                    f"introspection_url = {self.oauth.introspection_url}",
                    "introspection_mode = post",
                    "force_introspection = yes",
                    "username_attribute = username",
                    "active_attribute = active",
                    "active_value = true",
                    "",
                ]
            )
        )
        user = "root" if os.geteuid() == 0 else getpass.getuser()
        lines = [
            "protocols = imap",
            "listen = 127.0.0.1",
            f"base_dir = {run}",
            f"state_dir = {state}",
            f"log_path = {self.log}",
            f"info_log_path = {self.log}",
            "ssl = yes",
            f"ssl_cert = <{cert}",
            f"ssl_key = <{key}",
            "disable_plaintext_auth = no",
            "auth_mechanisms = plain login xoauth2 oauthbearer",
            f"mail_location = maildir:{mail}/%u",
            f"mail_uid = {MAIL_UID}",
            f"mail_gid = {MAIL_UID}",
            f"first_valid_uid = {MAIL_UID}",
            "mail_max_userip_connections = 100",
            "service imap-login {",
            "  inet_listener imap {",
            "    address = 127.0.0.1",
            f"    port = {self.port}",
            "  }",
            "  inet_listener imaps {",
            "    address = 127.0.0.1",
            f"    port = {self.tls_port}",
            "  }",
            "}",
            "passdb {",
            "  driver = static",
            f"  args = password={self.password}",
            "  mechanisms = plain login",
            "}",
            "passdb {",
            "  driver = oauth2",
            "  mechanisms = xoauth2 oauthbearer",
            f"  args = {oauth_conf}",
            "}",
            "userdb {",
            "  driver = static",
            f"  args = uid={MAIL_UID} gid={MAIL_UID} home={mail}/%u",
            "}",
            "",
        ]
        if user != "root":  # pragma: no cover - a developer's machine without root
            lines.insert(0, f"default_internal_user = {user}\ndefault_login_user = {user}")
        self.config.write_text("\n".join(lines))

    def start(self) -> None:
        # Dovecot forks into the background: its output goes to a file, not to a pipe nobody would close.
        with open(self.root / "dovecot.stderr", "wb") as errors:
            started = subprocess.run(
                [self.binary, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=errors, timeout=30
            )
        if started.returncode != 0:
            raise RuntimeError(
                f"Dovecot refuse de démarrer : {(self.root / 'dovecot.stderr').read_text()[-3000:]}"
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as conn:
                    if conn.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                log = self.log.read_text() if self.log.exists() else ""
                raise RuntimeError(f"Dovecot ne répond pas sur le port {self.port} :\n{log[-3000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        pid_file = self.root / "run" / "master.pid"
        if not pid_file.exists():
            return
        pid = int(pid_file.read_text().strip())
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)

    # --- Helpers for tests -----------------------------------------------------------------------------

    def client(self, user: str) -> IMAPClient:
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(user, self.password)
        return client

    def deliver(self, user: str, *messages: bytes, folder: str = "INBOX") -> None:
        """Put messages in a user's folder with IMAP APPEND (as a mail server's delivery would)."""
        client = self.client(user)
        try:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for raw in messages:
                client.append(folder, raw)
        finally:
            client.logout()

    def count(self, user: str, folder: str) -> int:
        client = self.client(user)
        try:
            if not client.folder_exists(folder):
                return 0
            return int(client.select_folder(folder, readonly=True)[b"EXISTS"])
        finally:
            client.logout()

    def message_ids(self, user: str, folder: str) -> list[str]:
        client = self.client(user)
        try:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            data = client.fetch(uids, ["ENVELOPE"]) if uids else {}
            return sorted((d[b"ENVELOPE"].message_id or b"").decode().strip("<>") for d in data.values())
        finally:
            client.logout()


def start_dovecot(root: Path) -> Dovecot:
    """Start a Dovecot (and its OAuth2 test provider) under ``root``; stop it with ``stop_dovecot``."""
    if shutil.which("dovecot") is None and not Path("/usr/sbin/dovecot").exists():
        raise RuntimeError(
            "dovecot est introuvable : installez le paquet Debian dovecot-imapd (scripts/system-deps.sh test)."
        )
    oauth = OAuthServer()
    oauth.start()
    server = Dovecot(root=root, port=free_port(), oauth=oauth, tls_port=free_port())
    server.write_config()
    server.start()
    return server


def stop_dovecot(server: Dovecot) -> None:
    server.stop()
    server.oauth.stop()
