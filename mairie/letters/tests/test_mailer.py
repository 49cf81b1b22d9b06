"""Outgoing mail (mairie.core.mailer) against a real SMTP server (aiosmtpd on the loopback)."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes, policy

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from mairie.audit.models import AuditEntry
from mairie.core import mailer
from mairie.core.models import OutgoingMail

from .conftest import Recorder, SmtpServer, free_port, password_checker, pdf_text

SUBJECT = "Réponse à votre demande — état civil, année 2026"


def _queue(world, text_pdf, **kwargs):
    defaults = {
        "organisation": world.commune,
        "to": ["jeanne.dupont@example.org"],
        "subject": SUBJECT,
        "body": "Madame,\n\nVeuillez trouver ci-joint notre réponse.\n",
        "attachments": [mailer.Attachment("réponse.pdf", text_pdf("Lettre de réponse"), "application/pdf")],
        "actor": world.secretary,
    }
    defaults.update(kwargs)
    return mailer.queue_mail(**defaults)


# --- Configuration -------------------------------------------------------------------------------------


def test_smtp_url_gives_host_port_security_and_decoded_credentials():
    plain = mailer.parse_smtp_url("smtp://mairie%40example.org:p%40ss%3Aw%2Frd@127.0.0.1:2525")
    assert (plain.host, plain.port, plain.security) == ("127.0.0.1", 2525, "plain")
    assert (plain.user, plain.password) == ("mairie@example.org", "p@ss:w/rd")
    starttls = mailer.parse_smtp_url("smtp://relay.example.org?starttls=1")
    assert (starttls.port, starttls.security, starttls.verify) == (25, "starttls", True)
    implicit = mailer.parse_smtp_url("smtps://u:p@smtp.example.org?verify=0&timeout=5")
    assert (implicit.port, implicit.security, implicit.verify, implicit.timeout) == (465, "tls", False, 5.0)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.org", "doit commencer par smtp:// ou smtps://"),
        ("smtp://", "ne donne pas le nom du serveur"),
        ("smtp://h?tls=1", "option inconnue"),
        ("smtps://h?starttls=1", "déjà chiffré"),
        ("smtp://h?starttls=peut-etre", "doit valoir 1 ou 0"),
    ],
)
def test_invalid_smtp_url_is_explained_in_french(url, message):
    with pytest.raises(mailer.SmtpUrlInvalid, match=message):
        mailer.parse_smtp_url(url)


# --- Sending -------------------------------------------------------------------------------------------


def test_message_reaches_the_server_with_its_headers_and_pdf(world, settings, smtp_server, text_pdf):
    settings.SMTP_URL = f"smtp://127.0.0.1:{smtp_server.port}"
    mail = _queue(world, text_pdf)
    assert mail.status == OutgoingMail.Status.PENDING
    assert mailer.deliver(mail.pk) == "sent"

    [received] = smtp_server.received
    assert received.mail_from == "ne-pas-repondre@localhost"
    assert received.rcpt_tos == ["jeanne.dupont@example.org"]
    raw_headers = received.data.split(b"\r\n\r\n", 1)[0].decode("ascii")  # every header is ASCII on the wire
    assert "=?utf-8?" in raw_headers.lower()  # accents encoded (RFC 2047)
    message = received.message
    assert message["Subject"] == SUBJECT
    assert message["From"].addresses[0].display_name == "Saint-Aubin-les-Vignes"
    assert message["From"].addresses[0].addr_spec == "ne-pas-repondre@localhost"
    assert message["Reply-To"] == "mairie@saint-aubin.example"
    assert message["To"] == "jeanne.dupont@example.org"
    assert message["Message-ID"] == mail.message_id
    assert message["In-Reply-To"] is None and message["References"] is None
    assert message["Date"]
    assert "Veuillez trouver ci-joint" in message.get_body(("plain",)).get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "réponse.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert "Lettre de réponse" in pdf_text(attachment.get_content())

    mail.refresh_from_db()
    assert mail.status == OutgoingMail.Status.SENT and mail.sent_at and mail.attempts == 1
    assert mailer.status_text(mail).startswith("Envoyé à jeanne.dupont@example.org le ")
    assert AuditEntry.objects.filter(organisation=world.commune, action="mail.sent").count() == 1
    # The same job again (a worker restarted after the send) sends nothing.
    assert mailer.deliver(mail.pk) == "already-sent"
    assert len(smtp_server.received) == 1


def test_reply_to_an_email_carries_in_reply_to_and_references(world, settings, smtp_server, text_pdf):
    settings.SMTP_URL = f"smtp://127.0.0.1:{smtp_server.port}"
    mail = _queue(world, text_pdf, in_reply_to="CAF1234.5678@mail.example.org")
    assert mailer.deliver(mail.pk) == "sent"
    message = smtp_server.received[0].message
    assert message["In-Reply-To"] == "<CAF1234.5678@mail.example.org>"
    assert message["References"] == "<CAF1234.5678@mail.example.org>"


def test_organisation_without_email_has_no_reply_to(world, settings, smtp_server, text_pdf):
    settings.SMTP_URL = f"smtp://127.0.0.1:{smtp_server.port}"
    settings.MAIL_FROM = "Plateforme des communes <courrier@numerique34.example>"
    mail = _queue(world, text_pdf, organisation=world.other_commune)
    assert mailer.deliver(mail.pk) == "sent"
    message = smtp_server.received[0].message
    assert message["Reply-To"] is None
    assert str(message["From"]) == "Villeneuve-sur-Lergue <courrier@numerique34.example>"
    assert mail.message_id.endswith("@numerique34.example>")


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_authentication_with_encoded_credentials(world, settings, text_pdf):
    server = SmtpServer(port=free_port(), recorder=Recorder())
    server.start(
        auth_required=True,
        auth_require_tls=False,
        authenticator=password_checker("mairie@example.org", "p@ss:wd"),
    )
    try:
        settings.SMTP_URL = f"smtp://mairie%40example.org:wrong@127.0.0.1:{server.port}"
        refused = _queue(world, text_pdf)
        assert mailer.deliver(refused.pk) == "retry"
        refused.refresh_from_db()
        assert "Identifiant ou mot de passe refusé par le serveur d'envoi" in refused.last_error
        assert server.received == []

        settings.SMTP_URL = f"smtp://mairie%40example.org:p%40ss%3Awd@127.0.0.1:{server.port}"
        mail = _queue(world, text_pdf)
        assert mailer.deliver(mail.pk) == "sent"
        [received] = server.received
        assert received.login == "mairie@example.org"
    finally:
        server.stop()


class _RefusingRecorder(Recorder):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 5.1.1 Mailbox unknown"


def test_recipient_refused_for_good_is_given_up_at_once(world, settings, text_pdf):
    server = SmtpServer(port=free_port(), recorder=_RefusingRecorder())
    server.start()
    try:
        settings.SMTP_URL = f"smtp://127.0.0.1:{server.port}"
        mail = _queue(world, text_pdf)
        assert mailer.deliver(mail.pk) == "failed"
    finally:
        server.stop()
    mail.refresh_from_db()
    assert mail.status == OutgoingMail.Status.FAILED
    assert "jeanne.dupont@example.org (550" in mail.last_error
    assert mailer.status_text(mail).startswith("Envoi abandonné après 1 essai(s) : Adresse refusée")


def test_without_smtp_url_the_message_is_written_to_the_outbox(world, settings, text_pdf, tmp_path):
    settings.SMTP_URL = ""
    settings.DATA_DIR = tmp_path
    mail = _queue(world, text_pdf)
    assert mailer.deliver(mail.pk) == "filed"
    mail.refresh_from_db()
    assert mail.status == OutgoingMail.Status.FILED
    files = list(mailer.outbox_dir().glob("*.eml"))
    assert [str(f) for f in files] == [mail.outbox_path]
    assert files[0].read_bytes() == mail.raw_bytes
    written = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert written["Subject"] == SUBJECT and written["Message-ID"] == mail.message_id
    assert "boîte d'envoi locale" in mailer.status_text(mail)
    assert mailer.deliver(mail.pk) == "already-filed"
    assert len(list(mailer.outbox_dir().glob("*.eml"))) == 1


def test_a_message_being_sent_by_another_job_is_not_sent_again(world, settings, smtp_server, text_pdf):
    settings.SMTP_URL = f"smtp://127.0.0.1:{smtp_server.port}"
    mail = _queue(world, text_pdf)
    now = timezone.now()
    OutgoingMail.objects.filter(pk=mail.pk).update(claimed_at=now, attempts=1)
    assert mailer.deliver(mail.pk) == "busy"
    assert smtp_server.received == []
    # That job died without a word: once its claim is stale, the message goes (with the same Message-ID).
    OutgoingMail.objects.filter(pk=mail.pk).update(claimed_at=now - dt.timedelta(hours=1))
    assert mailer.deliver(mail.pk) == "sent"
    assert [r.message["Message-ID"] for r in smtp_server.received] == [mail.message_id]
    assert mailer.deliver(mail.pk) == "already-sent"
    assert len(smtp_server.received) == 1


def _clock_moves_on() -> None:
    """The retry's time has come: what waiting for it would do, without waiting."""
    past = timezone.now() - dt.timedelta(seconds=1)
    OutgoingMail.objects.filter(status=OutgoingMail.Status.PENDING).update(next_attempt_at=past)
    DBTaskResult.objects.filter(status="READY").update(run_after=past)


@pytest.mark.django_db(transaction=True)
def test_server_down_then_up_the_message_is_sent_once_after_a_retry(
    world, settings, smtp_down, text_pdf, run_jobs
):
    settings.SMTP_URL = f"smtp://127.0.0.1:{smtp_down.port}"
    mail = _queue(world, text_pdf)
    run_jobs()  # first try: connection refused

    mail.refresh_from_db()
    assert mail.status == OutgoingMail.Status.PENDING and mail.attempts == 1
    assert "ne répond pas (connexion refusée)" in mail.last_error
    assert mail.next_attempt_at > timezone.now()
    assert mailer.status_text(mail).startswith("Envoi en attente (nouvel essai à ")
    waiting = DBTaskResult.objects.filter(status="READY", task_path__endswith="send_mail_task")
    assert waiting.count() == 1 and waiting.get().run_after == mail.next_attempt_at

    run_jobs()  # too early: nothing happens
    mail.refresh_from_db()
    assert mail.attempts == 1

    _clock_moves_on()
    run_jobs()  # still down: the next retry waits twice as long
    mail.refresh_from_db()
    assert mail.attempts == 2
    assert mail.next_attempt_at - timezone.now() > dt.timedelta(seconds=100)

    smtp_down.start()
    _clock_moves_on()
    run_jobs()
    mail.refresh_from_db()
    assert mail.status == OutgoingMail.Status.SENT and mail.attempts == 3 and mail.last_error == ""
    assert len(smtp_down.received) == 1
    assert smtp_down.received[0].message["Message-ID"] == mail.message_id

    _clock_moves_on()
    run_jobs()
    assert mailer.deliver(mail.pk) == "already-sent"
    assert len(smtp_down.received) == 1


def test_a_pending_message_whose_job_was_lost_is_queued_again(world, settings, smtp_server, text_pdf):
    settings.SMTP_URL = f"smtp://127.0.0.1:{smtp_server.port}"
    mail = _queue(world, text_pdf)
    assert mailer.queue_orphans() == 0  # its job waits
    DBTaskResult.objects.filter(task_path="mairie.core.mailer.send_mail_task").delete()
    assert mailer.queue_orphans() == 0  # too recent: its job may still be on its way
    OutgoingMail.objects.filter(pk=mail.pk).update(created_at=timezone.now() - dt.timedelta(minutes=6))
    assert mailer.queue_orphans() == 1
    assert mailer.queue_orphans() == 0  # now it has one
    [job] = DBTaskResult.objects.filter(task_path="mairie.core.mailer.send_mail_task")
    assert job.args_kwargs["args"] == [mail.pk]
    assert mailer.deliver(mail.pk) == "sent"
    assert mailer.queue_orphans() == 0


def _server_tls_context(tmp_path):
    import ssl

    from .conftest import self_signed_certificate

    cert, key = self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context, cert


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_starttls_with_a_verified_certificate_and_login(world, settings, text_pdf, tmp_path, monkeypatch):
    context, cert = _server_tls_context(tmp_path)
    server = SmtpServer(port=free_port(), recorder=Recorder())
    server.start(
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        authenticator=password_checker("mairie", "secret"),
    )
    try:
        settings.SMTP_URL = f"smtp://mairie:secret@127.0.0.1:{server.port}"
        plain = _queue(world, text_pdf)
        assert mailer.deliver(plain.pk) == "retry"  # the server wants STARTTLS first
        plain.refresh_from_db()
        assert plain.last_error.startswith("Le serveur d'envoi 127.0.0.1:")

        settings.SMTP_URL = f"smtp://mairie:secret@127.0.0.1:{server.port}?starttls=1"
        unknown_ca = _queue(world, text_pdf)
        assert mailer.deliver(unknown_ca.pk) == "retry"  # its certificate is signed by nobody we trust
        unknown_ca.refresh_from_db()
        assert "Échec de la connexion chiffrée (TLS)" in unknown_ca.last_error

        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # now trusted, as a CA installed on the machine
        mail = _queue(world, text_pdf)
        assert mailer.deliver(mail.pk) == "sent"
        assert [r.login for r in server.received] == ["mairie"]
    finally:
        server.stop()


def test_smtps_implicit_tls(world, settings, text_pdf, tmp_path):
    context, _ = _server_tls_context(tmp_path)
    server = SmtpServer(port=free_port(), recorder=Recorder())
    server.start(ssl_context=context)
    try:
        settings.SMTP_URL = f"smtps://127.0.0.1:{server.port}?verify=0"
        mail = _queue(world, text_pdf)
        assert mailer.deliver(mail.pk) == "sent"
        assert server.received[0].message["Message-ID"] == mail.message_id
    finally:
        server.stop()
