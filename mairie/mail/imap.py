"""Connecting to a mailbox: TLS, STARTTLS or plain; password or XOAUTH2; errors told in French.

Every failure surfaces as ``MailboxError`` whose message says what went wrong in French and quotes the
server's own answer, because that answer (« [AUTHENTICATIONFAILED] … ») is what the administrator needs
to fix the configuration.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from mairie.mail.models import Mailbox


class MailboxError(Exception):
    """A mailbox cannot be reached, logged in to or read; the message is in French for the user."""


@dataclass(frozen=True)
class Credentials:
    """What a connection needs, whether the mailbox is saved or still a form being checked."""

    host: str
    port: int
    security: str
    username: str
    auth: str = Mailbox.Auth.PASSWORD
    password: str = ""
    client_id: str = ""
    client_secret: str = ""
    refresh_token: str = ""
    token_url: str = ""

    @classmethod
    def of(cls, mailbox: Mailbox) -> Credentials:
        return cls(
            host=mailbox.host,
            port=mailbox.port,
            security=mailbox.security,
            username=mailbox.username,
            auth=mailbox.auth,
            password=mailbox.password,
            client_id=mailbox.client_id,
            client_secret=mailbox.client_secret,
            refresh_token=mailbox.refresh_token,
            token_url=mailbox.token_url,
        )


def _answer(exc: BaseException) -> str:
    # imaplib puts the server's answer (bytes) in the exception: b'[AUTHENTICATIONFAILED] …'
    text = str(exc).strip().removeprefix("b'").removeprefix('b"').removesuffix("'").removesuffix('"')
    return text or type(exc).__name__


def refresh_access_token(creds: Credentials, *, timeout: float | None = None) -> str:
    """Exchange the refresh token for an access token at the provider's token endpoint (RFC 6749 § 6)."""
    if not (creds.token_url and creds.client_id and creds.refresh_token):
        raise MailboxError(
            "OAuth2 : l'adresse du jeton, l'identifiant client et le jeton de renouvellement sont nécessaires."
        )
    if urllib.parse.urlsplit(creds.token_url).scheme not in {"https", "http"}:
        raise MailboxError(f"OAuth2 : l'adresse du jeton doit commencer par https:// ({creds.token_url}).")
    body = urllib.parse.urlencode(
        {
            "grant_type": "refresh_token",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "refresh_token": creds.refresh_token,
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        creds.token_url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout or settings.MAIL_TIMEOUT_SECONDS) as response:  # noqa: S310
            payload = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:500]
        raise MailboxError(
            f"OAuth2 : le fournisseur refuse de renouveler le jeton (HTTP {exc.code}) : {detail}"
        ) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise MailboxError(f"OAuth2 : adresse du jeton injoignable ({creds.token_url}) : {exc}") from exc
    token = payload.get("access_token") if isinstance(payload, dict) else None
    if not token:
        raise MailboxError(f"OAuth2 : réponse du fournisseur sans jeton d'accès : {str(payload)[:500]}")
    return str(token)


def _ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def open_client(creds: Credentials, *, timeout: float | None = None) -> IMAPClient:
    """Connect and log in; the caller logs out (``connected`` does it)."""
    timeout = timeout or settings.MAIL_TIMEOUT_SECONDS
    where = f"{creds.host}:{creds.port}"
    try:
        client = IMAPClient(
            creds.host,
            port=creds.port,
            ssl=creds.security == Mailbox.Security.TLS,
            ssl_context=_ssl_context() if creds.security == Mailbox.Security.TLS else None,
            timeout=timeout,
        )
    except ssl.SSLError as exc:
        raise MailboxError(f"Connexion TLS impossible avec {where} : {exc}") from exc
    except socket.gaierror as exc:
        raise MailboxError(f"Serveur IMAP introuvable : « {creds.host} » ({exc}).") from exc
    except TimeoutError as exc:
        raise MailboxError(f"Le serveur {where} ne répond pas (délai dépassé).") from exc
    except ConnectionRefusedError as exc:
        raise MailboxError(f"Connexion refusée par {where} : vérifiez le serveur et le port.") from exc
    except (OSError, IMAPClientError) as exc:
        raise MailboxError(f"Connexion impossible avec {where} : {_answer(exc)}") from exc
    try:
        if creds.security == Mailbox.Security.STARTTLS:
            try:
                client.starttls(_ssl_context())
            except (ssl.SSLError, IMAPClientError, OSError) as exc:
                raise MailboxError(f"STARTTLS refusé par {where} : {_answer(exc)}") from exc
        if creds.auth == Mailbox.Auth.XOAUTH2:
            token = refresh_access_token(creds, timeout=timeout)
            try:
                client.oauth2_login(creds.username, token)
            except (LoginError, IMAPClientError) as exc:
                raise MailboxError(
                    f"Connexion OAuth2 refusée par le serveur pour « {creds.username} » : {_answer(exc)}"
                ) from exc
        else:
            try:
                client.login(creds.username, creds.password)
            except (LoginError, IMAPClientError) as exc:
                raise MailboxError(
                    f"Identifiant ou mot de passe refusé par le serveur pour « {creds.username} » : "
                    f"{_answer(exc)}"
                ) from exc
    except MailboxError:
        _close(client)
        raise
    except TimeoutError as exc:
        _close(client)
        raise MailboxError(f"Le serveur {where} ne répond plus (délai dépassé).") from exc
    except OSError as exc:
        _close(client)
        raise MailboxError(f"Connexion interrompue avec {where} : {exc}") from exc
    return client


def _close(client: IMAPClient) -> None:
    with contextlib.suppress(Exception):  # already closed by the server or the network
        client.shutdown()


@contextmanager
def connected(creds: Credentials, *, timeout: float | None = None) -> Iterator[IMAPClient]:
    client = open_client(creds, timeout=timeout)
    try:
        yield client
    finally:
        try:
            client.logout()
        except Exception:  # the connection is gone: nothing more to tell the server
            _close(client)


def check_login(creds: Credentials, folder: str = "INBOX") -> None:
    """Log in and open the folder to read; raise MailboxError with the server's answer otherwise."""
    with connected(creds) as client:
        try:
            client.select_folder(folder, readonly=True)
        except IMAPClientError as exc:
            raise MailboxError(f"Dossier « {folder} » introuvable sur le serveur : {_answer(exc)}") from exc


def ensure_folder(client: IMAPClient, name: str) -> None:
    if not client.folder_exists(name):
        try:
            client.create_folder(name)
        except IMAPClientError as exc:
            if not client.folder_exists(name):  # created by another client meanwhile is fine
                raise MailboxError(f"Impossible de créer le dossier « {name} » : {_answer(exc)}") from exc
        with contextlib.suppress(IMAPClientError):  # subscribing only makes it visible in mail clients
            client.subscribe_folder(name)


def move_messages(client: IMAPClient, uids: list[int], folder: str) -> None:
    """MOVE when the server has it (RFC 6851), else COPY + \\Deleted + UID EXPUNGE (or EXPUNGE)."""
    if not uids:
        return
    if client.has_capability("MOVE"):
        client.move(uids, folder)
        return
    client.copy(uids, folder)
    client.add_flags(uids, [b"\\Deleted"], silent=True)
    if client.has_capability("UIDPLUS"):
        client.uid_expunge(uids)
    else:
        client.expunge()
