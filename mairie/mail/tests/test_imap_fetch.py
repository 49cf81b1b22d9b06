"""Mailboxes against a real Dovecot: connecting, fetching, exactly once, losing nothing."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from mairie.audit.models import AuditEntry
from mairie.courrier.models import Channel, Courrier
from mairie.documents.tests.conftest import clamd  # noqa: F401 - fixture
from mairie.jobs.services import PERIODIC
from mairie.mail import fetch as fetch_module
from mairie.mail.fetch import fetch_all, fetch_mailbox, release_lease, take_lease
from mairie.mail.imap import MailboxError, move_messages
from mairie.mail.models import Mailbox
from mairie.mail.services import create_mailbox
from mairie.mail.tests import corpus
from mairie.mail.tests.corpus import CORPUS
from mairie.testing.dovecot import Dovecot
from mairie.testing.platform import console_script

DONE = "Traités"


def message(index: int, *, message_id: str | None = None, subject: str | None = None) -> bytes:
    mail = EmailMessage()
    mail["From"] = f"Habitant {index} <habitant{index}@example.org>"
    mail["To"] = "mairie@saint-aubin.example"
    mail["Subject"] = subject or f"Demande n° {index} : élagage du platane"
    mail["Date"] = "Mon, 23 Nov 2026 09:30:00 +0100"
    mail["Message-ID"] = f"<{message_id or f'demande-{index}'}@example.org>"
    mail.set_content(f"Madame, Monsieur,\n\nJe vous écris au sujet de la demande {index}.\n\nCordialement.")
    return bytes(mail)


def mailbox_for(dovecot: Dovecot, user: str, world: Any, **fields: Any) -> Mailbox:
    values: dict[str, Any] = {
        "host": dovecot.host,
        "port": dovecot.port,
        "security": Mailbox.Security.PLAIN,
        "username": user,
        "password": dovecot.password,
        "label": "Boîte de la mairie",
    }
    values.update(fields)
    return create_mailbox(organisation=world.commune, actor=world.commune_admin, **values)


def run_fetch(*args: str) -> list[dict[str, Any]]:
    out = io.StringIO()
    call_command("mail", "fetch", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def email_courriers(world: Any) -> list[Courrier]:
    return list(Courrier.objects.for_org(world.commune).filter(channel=Channel.EMAIL).order_by("number"))


# --- Connecting ----------------------------------------------------------------------------------------


def test_cli_add_logs_in_first_and_prints_the_id(dovecot, mail_user, world, tmp_path: Path) -> None:
    secret = tmp_path / "mot-de-passe"
    secret.write_text(dovecot.password + "\n")
    out = io.StringIO()
    call_command(
        "mail",
        "add",
        "--org",
        world.commune.slug,
        "--host",
        dovecot.host,
        "--port",
        str(dovecot.port),
        "--user",
        mail_user,
        "--password-file",
        str(secret),
        "--plain",
        "--done-folder",
        "Enregistrés",
        "--service",
        "services-techniques",
        stdout=out,
    )
    created = json.loads(out.getvalue())
    mailbox = Mailbox.objects.get(pk=created["id"])
    assert mailbox.organisation == world.commune
    assert (mailbox.host, mailbox.port, mailbox.username) == (dovecot.host, dovecot.port, mail_user)
    assert mailbox.security == "plain" and mailbox.folder == "INBOX" and mailbox.done_folder == "Enregistrés"
    assert mailbox.password == dovecot.password
    assert mailbox.service == world.service("Services techniques")
    assert AuditEntry.objects.filter(organisation=world.commune, action="mail.mailbox_added").count() == 1


def test_cli_add_refuses_a_wrong_password_with_the_server_answer(dovecot, mail_user, world, tmp_path) -> None:
    secret = tmp_path / "mot-de-passe"
    secret.write_text("pas-le-bon")
    with pytest.raises(CommandError) as refused:
        call_command(
            "mail",
            "add",
            *["--org", world.commune.slug, "--host", dovecot.host, "--port", str(dovecot.port)],
            *["--user", mail_user, "--password-file", str(secret), "--plain"],
            stdout=io.StringIO(),
        )
    text = str(refused.value)
    assert "mot de passe refusé" in text
    assert "AUTHENTICATIONFAILED" in text or "Authentication failed" in text  # Dovecot's own answer
    assert not Mailbox.objects.exists()


def test_cli_add_as_a_real_process_exits_non_zero_on_refusal(
    dovecot, mail_user, transactional_db, tmp_path
) -> None:
    from mairie.testing.personas import build_world

    build_world()
    secret = tmp_path / "mot-de-passe"
    secret.write_text("pas-le-bon")
    base = [*console_script(), "mail", "add", "--org", "saint-aubin", "--host", dovecot.host]
    base += ["--port", str(dovecot.port), "--user", mail_user, "--plain", "--password-file", str(secret)]
    refused = subprocess.run(base, env=_env(), capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0
    assert "Authentication failed" in refused.stderr or "AUTHENTICATIONFAILED" in refused.stderr
    secret.write_text(dovecot.password)
    accepted = subprocess.run(base, env=_env(), capture_output=True, text=True, timeout=120)
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout) == {"id": Mailbox.objects.get().pk}


def test_unreachable_server_is_told_in_french(world) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(MailboxError, match="Connexion refusée"):
        create_mailbox(
            organisation=world.commune,
            actor=None,
            host="127.0.0.1",
            port=port,
            security="plain",
            username="x",
            password="y",
        )


def test_tls_mailbox_checks_the_certificate_and_fetches(dovecot, mail_user, world, monkeypatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.ca_file))  # the test CA, as a real CA would be
    mailbox = mailbox_for(dovecot, mail_user, world, security="tls", port=dovecot.tls_port)
    dovecot.deliver(mail_user, message(1))
    report = fetch_mailbox(mailbox)
    assert report.error == "" and [line.status for line in report.lines] == ["registered"]


def test_starttls_mailbox_upgrades_the_connection(dovecot, mail_user, world, monkeypatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.ca_file))
    mailbox = mailbox_for(dovecot, mail_user, world, security="starttls", port=dovecot.port)
    dovecot.deliver(mail_user, message(1))
    assert [line.status for line in fetch_mailbox(mailbox).lines] == ["registered"]


def test_untrusted_certificate_is_refused_in_french(dovecot, mail_user, world, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "aucune-autorite.pem"))
    with pytest.raises(MailboxError) as tls:
        mailbox_for(dovecot, mail_user, world, security="tls", port=dovecot.tls_port)
    assert str(tls.value).startswith(f"Connexion TLS impossible avec {dovecot.host}:{dovecot.tls_port}")
    assert "CERTIFICATE_VERIFY_FAILED" in str(tls.value)
    with pytest.raises(MailboxError) as starttls:
        mailbox_for(dovecot, mail_user, world, security="starttls", port=dovecot.port)
    assert str(starttls.value).startswith("STARTTLS refusé par") and "CERTIFICATE_VERIFY_FAILED" in str(
        starttls.value
    )
    assert not Mailbox.objects.exists()


def test_missing_folder_is_refused(dovecot, mail_user, world) -> None:
    with pytest.raises(MailboxError, match="Dossier « Inexistant » introuvable"):
        mailbox_for(dovecot, mail_user, world, folder="Inexistant")


# --- Fetching --------------------------------------------------------------------------------------------


def test_fetch_registers_each_message_once_and_moves_it(dovecot, mail_user, world) -> None:
    mailbox = mailbox_for(dovecot, mail_user, world)
    dovecot.deliver(mail_user, message(1), message(2), CORPUS["mixed_alternative"])

    lines = run_fetch("--org", world.commune.slug)

    courriers = email_courriers(world)
    assert len(lines) == 3 and len(courriers) == 3
    assert [line["status"] for line in lines] == ["registered", "registered", lines[2]["status"]]
    assert lines[2]["status"] in {"registered", "warning"}
    assert {line["chrono"] for line in lines} == {c.chrono for c in courriers}
    assert lines[0]["message_id"] == "demande-1@example.org"
    assert set(lines[0]) == {"message_id", "status", "chrono", "attachments"}
    assert lines[0]["attachments"] == 0
    assert dovecot.count(mail_user, "INBOX") == 0
    assert dovecot.count(mail_user, DONE) == 3
    mailbox.refresh_from_db()
    assert mailbox.last_status == Mailbox.LastStatus.OK and mailbox.last_error == ""
    assert mailbox.last_uidvalidity and mailbox.last_fetch_at

    assert run_fetch("--org", world.commune.slug) == []  # a second pass registers nothing
    assert len(email_courriers(world)) == 3


def test_messages_go_to_the_mailbox_service(dovecot, mail_user, world) -> None:
    service = world.service("Services techniques")
    mailbox_for(dovecot, mail_user, world, service=service)
    dovecot.deliver(mail_user, message(1))
    fetch_all(world.commune)
    [courrier] = email_courriers(world)
    assert courrier.service == service
    assert courrier.subject == "Demande n° 1 : élagage du platane"
    # Received when it reached the mailbox (IMAP INTERNALDATE), not when the sender says it wrote it.
    assert abs((timezone.now() - courrier.received_at).total_seconds()) < 120


def test_same_message_delivered_twice_makes_one_courrier(dovecot, mail_user, world) -> None:
    mailbox_for(dovecot, mail_user, world)
    dovecot.deliver(mail_user, message(7), message(7))
    lines = run_fetch()
    assert [line["status"] for line in lines] == ["registered", "duplicate"]
    assert lines[0]["chrono"] == lines[1]["chrono"]
    assert len(email_courriers(world)) == 1
    assert dovecot.count(mail_user, "INBOX") == 0 and dovecot.count(mail_user, DONE) == 2


def test_other_organisation_is_not_fetched_with_org_option(dovecot, mail_user, world) -> None:
    mailbox_for(dovecot, mail_user, world)
    dovecot.deliver(mail_user, message(1))
    assert run_fetch("--org", world.other_commune.slug) == []
    assert dovecot.count(mail_user, "INBOX") == 1


def test_network_cut_between_commit_and_move_loses_nothing(dovecot, mail_user, world) -> None:
    mailbox = mailbox_for(dovecot, mail_user, world)
    dovecot.deliver(mail_user, message(1), message(2))

    def cut(client: Any, line: Any) -> None:  # the connection drops right after the first commit
        client._imap.sock.shutdown(socket.SHUT_RDWR)

    report = fetch_mailbox(mailbox, after_commit=cut)
    assert report.error.startswith("Connexion interrompue")
    assert len(email_courriers(world)) == 1
    assert dovecot.count(mail_user, "INBOX") == 2  # nothing moved, nothing lost
    mailbox.refresh_from_db()
    assert mailbox.last_status == Mailbox.LastStatus.ERROR and "interrompue" in mailbox.last_error
    assert AuditEntry.objects.filter(organisation=world.commune, action="mail.fetch_failed").count() == 1

    again = fetch_mailbox(mailbox)
    assert [line.status for line in again.lines] == ["duplicate", "registered"]
    assert len(email_courriers(world)) == 2
    assert dovecot.count(mail_user, "INBOX") == 0 and dovecot.count(mail_user, DONE) == 2
    mailbox.refresh_from_db()
    assert mailbox.last_status == Mailbox.LastStatus.OK and mailbox.last_error == ""


def test_new_uidvalidity_does_not_register_again(dovecot, mail_user, world) -> None:
    dovecot.deliver(mail_user, message(1), folder="Arrivée")
    mailbox = mailbox_for(dovecot, mail_user, world, folder="Arrivée")

    def cut(client: Any, line: Any) -> None:
        client._imap.sock.shutdown(socket.SHUT_RDWR)

    fetch_mailbox(mailbox, after_commit=cut)
    mailbox.refresh_from_db()
    first_validity = mailbox.last_uidvalidity
    assert len(email_courriers(world)) == 1
    # The folder is deleted and created again (a migration of the server, a user's cleaning): new
    # UIDVALIDITY, the UIDs start over, the same message is there again.
    client = dovecot.client(mail_user)
    client.delete_folder("Arrivée")
    client.create_folder("Arrivée")
    client.append("Arrivée", message(1))
    client.append("Arrivée", message(2))
    client.logout()

    report = fetch_mailbox(mailbox)
    mailbox.refresh_from_db()
    assert mailbox.last_uidvalidity != first_validity
    assert [line.status for line in report.lines] == ["duplicate", "registered"]
    assert len(email_courriers(world)) == 2
    assert dovecot.count(mail_user, "Arrivée") == 0


def test_one_failing_message_does_not_stop_the_others(dovecot, mail_user, world, monkeypatch) -> None:
    mailbox = mailbox_for(dovecot, mail_user, world)
    dovecot.deliver(mail_user, message(1), message(2, subject="PLANTAGE"), message(3))
    real = fetch_module.register_message

    def failing_on_one(**kwargs: Any) -> Any:  # a bug met on one message only
        if b"PLANTAGE" in kwargs["raw"]:
            raise RuntimeError("rendu impossible")
        return real(**kwargs)

    monkeypatch.setattr(fetch_module, "register_message", failing_on_one)
    report = fetch_mailbox(mailbox)
    assert [line.status for line in report.lines] == ["registered", "error", "registered"]
    assert report.lines[1].message_id == "demande-2@example.org"
    assert report.lines[1].as_json()["error"].startswith("Courriel « demande-2@example.org » non enregistré")
    assert len(email_courriers(world)) == 2
    assert dovecot.count(mail_user, "INBOX") == 1  # the failing one waits for the next pass
    mailbox.refresh_from_db()
    assert mailbox.last_status == Mailbox.LastStatus.WARNING
    assert "RuntimeError" in mailbox.last_error and "rendu impossible" in mailbox.last_error
    assert AuditEntry.objects.filter(organisation=world.commune, action="mail.fetch_failed").count() == 1
    fetch_mailbox(mailbox)  # still failing: journaled once, not at every pass
    assert AuditEntry.objects.filter(organisation=world.commune, action="mail.fetch_failed").count() == 1

    monkeypatch.setattr(fetch_module, "register_message", real)
    assert [line.status for line in fetch_mailbox(mailbox).lines] == ["registered"]
    assert len(email_courriers(world)) == 3 and dovecot.count(mail_user, "INBOX") == 0


def test_message_over_the_size_limit_stays_in_the_folder(dovecot, mail_user, world, settings) -> None:
    mailbox = mailbox_for(dovecot, mail_user, world)
    big = message(1, subject="Plans du lotissement") + b"\n" + b"x" * 5000
    dovecot.deliver(mail_user, message(2), big)
    settings.MAIL_MAX_BYTES = 3000
    lines = run_fetch()
    assert [line["status"] for line in lines] == ["registered", "too_large"]
    assert "Plans du lotissement" in lines[1]["error"] and "MAIRIE_MAIL_MAX_BYTES" in lines[1]["error"]
    assert dovecot.count(mail_user, "INBOX") == 1 and len(email_courriers(world)) == 1
    mailbox.refresh_from_db()
    assert mailbox.last_status == Mailbox.LastStatus.WARNING and "Plans du lotissement" in mailbox.last_error


def test_two_passes_never_read_the_same_mailbox_at_once(dovecot, mail_user, world) -> None:
    mailbox = mailbox_for(dovecot, mail_user, world)
    dovecot.deliver(mail_user, message(1))
    assert take_lease(mailbox, "autre-travailleur")
    assert fetch_mailbox(mailbox).skipped
    assert email_courriers(world) == [] and dovecot.count(mail_user, "INBOX") == 1
    release_lease(mailbox, "autre-travailleur")
    assert not fetch_mailbox(mailbox).skipped
    assert len(email_courriers(world)) == 1


def test_inactive_mailbox_is_not_fetched(dovecot, mail_user, world) -> None:
    mailbox = mailbox_for(dovecot, mail_user, world)
    Mailbox.objects.filter(pk=mailbox.pk).update(is_active=False)
    dovecot.deliver(mail_user, message(1))
    assert fetch_all() == []
    assert dovecot.count(mail_user, "INBOX") == 1


def test_wrong_password_later_is_shown_on_the_mailbox(dovecot, mail_user, world) -> None:
    mailbox = mailbox_for(dovecot, mail_user, world)
    mailbox.password = "change-sur-le-serveur"
    mailbox.save()
    report = fetch_mailbox(mailbox)
    assert "mot de passe refusé" in report.error
    mailbox.refresh_from_db()
    assert mailbox.last_status == Mailbox.LastStatus.ERROR and "Authentication failed" in mailbox.last_error


def test_server_without_move_gets_copy_delete_expunge(dovecot, mail_user) -> None:
    dovecot.deliver(mail_user, message(1), message(2), message(3))
    client = dovecot.client(mail_user)
    try:
        # As a server that does not announce MOVE (RFC 6851) would.
        client._cached_capabilities = tuple(c for c in client.capabilities() if c != b"MOVE")
        assert not client.has_capability("MOVE")
        client.create_folder(DONE)
        client.select_folder("INBOX")
        uids = sorted(client.search(["ALL"]))
        move_messages(client, [uids[1]], DONE)
        assert sorted(client.search(["ALL"])) == [uids[0], uids[2]]  # expunged, the others untouched
    finally:
        client.logout()
    assert dovecot.message_ids(mail_user, DONE) == ["demande-2@example.org"]


def test_polling_is_a_periodic_duty_of_the_workers(settings) -> None:
    every, duty = PERIODIC["mail-fetch"]
    assert every == django_settings.MAIL_POLL_SECONDS == 120.0
    assert duty is fetch_module._fetch_duty


def test_cli_list_shows_the_mailboxes_without_secrets(dovecot, mail_user, world) -> None:
    mailbox = mailbox_for(dovecot, mail_user, world)
    out = io.StringIO()
    call_command("mail", "list", "--org", world.commune.slug, stdout=out)
    [listed] = [json.loads(line) for line in out.getvalue().splitlines()]
    assert listed["id"] == mailbox.pk and listed["user"] == mail_user and listed["active"] is True
    assert dovecot.password not in out.getvalue()


@pytest.mark.slow
def test_whole_corpus_goes_through_a_real_mailbox(dovecot, mail_user, world) -> None:
    mailbox_for(dovecot, mail_user, world)
    names = list(CORPUS)
    dovecot.deliver(mail_user, *(CORPUS[name] for name in names))
    lines = run_fetch()
    assert len(lines) == len(names)
    statuses = {line["status"] for line in lines}
    assert statuses <= {"registered", "warning", "duplicate"}, lines
    assert dovecot.count(mail_user, "INBOX") == 0 and dovecot.count(mail_user, DONE) == len(names)
    registered = [line for line in lines if line["status"] != "duplicate"]
    assert len(email_courriers(world)) == len(registered)
    assert run_fetch() == []


# --- Antivirus -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_infected_message_goes_to_quarantine(dovecot, mail_user, world, clamd, settings) -> None:  # noqa: F811
    settings.CLAMD = clamd.socket_path
    mailbox = mailbox_for(dovecot, mail_user, world)
    dovecot.deliver(mail_user, corpus.eicar_attachment(), message(1))
    lines = run_fetch()
    assert [line["status"] for line in lines] == ["refused", "registered"]
    assert lines[0]["chrono"] is None
    assert len(email_courriers(world)) == 1
    assert dovecot.count(mail_user, "Quarantaine") == 1 and dovecot.count(mail_user, DONE) == 1
    assert dovecot.count(mail_user, "INBOX") == 0
    quarantined = AuditEntry.objects.get(organisation=world.commune, action="mail.quarantined")
    assert mailbox.label in quarantined.summary and "Quarantaine" in quarantined.summary


@pytest.mark.slow
def test_message_waits_while_the_antivirus_is_down(dovecot, mail_user, world, settings, tmp_path) -> None:
    settings.CLAMD = str(tmp_path / "clamd-absent.sock")
    mailbox_for(dovecot, mail_user, world)
    dovecot.deliver(mail_user, message(1))
    lines = run_fetch()
    assert [line["status"] for line in lines] == ["deferred"]
    assert dovecot.count(mail_user, "INBOX") == 1 and email_courriers(world) == []


# --- A real process killed between the commit and the move ------------------------------------------------


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": _database_url(),
            "MAIRIE_DATA_DIR": str(django_settings.DATA_DIR),
            "MAIRIE_LOG_LEVEL": "WARNING",
            "OMP_THREAD_LIMIT": "1",
            **extra,
        }
    )
    return env


@pytest.mark.slow
def test_fetch_killed_between_commit_and_move_leaves_exactly_one_courrier(
    dovecot, mail_user, transactional_db
) -> None:
    from mairie.testing.personas import build_world

    world = build_world()
    mailbox_for(dovecot, mail_user, world)
    dovecot.deliver(mail_user, message(1), message(2))
    command = [*console_script(), "mail", "fetch", "--org", "saint-aubin"]

    killed = subprocess.run(
        command, env=_env(MAIRIE_TEST_CRASH_AFTER_COMMIT="1"), capture_output=True, text=True, timeout=180
    )
    assert killed.returncode == 137, killed.stderr  # the process died after committing the first courrier
    assert len(email_courriers(world)) == 1
    assert dovecot.count(mail_user, "INBOX") == 2 and dovecot.count(mail_user, DONE) == 0

    again = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stderr
    lines = [json.loads(line) for line in again.stdout.splitlines()]
    assert [line["status"] for line in lines] == ["duplicate", "registered"]
    courriers = email_courriers(world)
    assert len(courriers) == 2 and lines[0]["chrono"] == courriers[0].chrono
    assert dovecot.message_ids(mail_user, DONE) == ["demande-1@example.org", "demande-2@example.org"]
    assert dovecot.count(mail_user, "INBOX") == 0


# --- XOAUTH2 ----------------------------------------------------------------------------------------------


def test_xoauth2_mailbox_refreshes_its_token_and_logs_in(dovecot, mail_user, world) -> None:
    oauth = dovecot.oauth
    refresh = oauth.grant(mail_user)
    mailbox = mailbox_for(
        dovecot,
        mail_user,
        world,
        auth=Mailbox.Auth.XOAUTH2,
        password="",
        client_id=oauth.client_id,
        client_secret=oauth.client_secret,
        refresh_token=refresh,
        token_url=oauth.token_url,
    )
    dovecot.deliver(mail_user, message(1))
    before = oauth.introspections
    report = fetch_mailbox(mailbox)
    assert report.error == "" and [line.status for line in report.lines] == ["registered"]
    assert oauth.introspections > before  # Dovecot checked the access token with the provider
    assert oauth.token_requests[-1] == {
        "grant_type": "refresh_token",
        "client_id": oauth.client_id,
        "client_secret": oauth.client_secret,
        "refresh_token": refresh,
    }
    assert dovecot.count(mail_user, DONE) == 1


def test_xoauth2_revoked_refresh_token_is_told_with_the_provider_answer(dovecot, mail_user, world) -> None:
    oauth = dovecot.oauth
    with pytest.raises(MailboxError) as refused:
        mailbox_for(
            dovecot,
            mail_user,
            world,
            auth=Mailbox.Auth.XOAUTH2,
            password="",
            client_id=oauth.client_id,
            client_secret=oauth.client_secret,
            refresh_token="revoque",
            token_url=oauth.token_url,
        )
    assert "HTTP 400" in str(refused.value) and "invalid_grant" in str(refused.value)


def test_xoauth2_token_refused_by_the_imap_server(dovecot, mail_user, world) -> None:
    oauth = dovecot.oauth
    mailbox = mailbox_for(
        dovecot,
        mail_user,
        world,
        auth=Mailbox.Auth.XOAUTH2,
        password="",
        client_id=oauth.client_id,
        client_secret=oauth.client_secret,
        refresh_token=oauth.grant(mail_user),
        token_url=oauth.token_url,
    )
    oauth.tokens_accepted = False  # the provider issues tokens the IMAP server does not accept
    try:
        error = fetch_mailbox(mailbox).error
    finally:
        oauth.tokens_accepted = True
    assert error.startswith(f"Connexion OAuth2 refusée par le serveur pour « {mail_user} »")
    assert "AUTHENTICATIONFAILED" in error or "failed" in error.lower()
