"""Outgoing e-mail: queued with what caused it, sent by a job, retried, never lost, never sent twice.

``queue_mail`` is called inside the caller's transaction: the ``OutgoingMail`` row (the whole .eml, with a
Message-ID chosen once) and its job commit together with the courrier that caused them, or not at all.
The job (``deliver``) then hands the message to the SMTP server of ``MAIRIE_SMTP_URL``, or, without one,
writes it as a ``.eml`` file under ``<data dir>/outbox/``.

Sending twice is avoided in the database: a job first *claims* the message (a conditional update, so two
jobs never talk to the server at once), sends, then marks it sent. A worker that dies between the server's
acceptance and the mark leaves a claim that goes stale; the message is then sent again with the same
Message-ID, which lets the recipient's software (and a person) see it is the same message. Holding a row
lock instead during the SMTP conversation would block every writer on SQLite for as long as the server
takes to answer.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import logging
import os
import smtplib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from mairie.audit.services import record
from mairie.core.models import OutgoingMail

logger = logging.getLogger("mairie.mail")

# Retries: 1, 2, 4, 8… minutes, at most one hour apart, then the message is given up (about 15 hours).
MAX_ATTEMPTS = 20
FIRST_RETRY_SECONDS = 60
LONGEST_RETRY_SECONDS = 3600
# A claim older than this belongs to a job that died: its message may be sent again (same Message-ID).
CLAIM_STALE_SECONDS = 600


class SmtpUrlInvalid(ValueError):
    pass


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    user: str = ""
    password: str = ""
    security: str = "plain"  # "plain", "starttls" or "tls" (implicit TLS, smtps://)
    verify: bool = True
    timeout: float = 30.0

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


_TRUE = {"1", "true", "yes", "oui", "on"}
_FALSE = {"0", "false", "no", "non", "off"}


def _flag(query: dict[str, list[str]], name: str, default: bool) -> bool:
    if name not in query:
        return default
    value = query[name][-1].strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SmtpUrlInvalid(f"MAIRIE_SMTP_URL : « {name} » doit valoir 1 ou 0 (reçu « {value} »).")


def parse_smtp_url(url: str) -> SmtpConfig:
    """``smtp://user:pass@host:port[?starttls=1]`` or ``smtps://…`` (implicit TLS); user and password URL-encoded."""
    parts = urlsplit(url.strip())
    if parts.scheme not in {"smtp", "smtps"}:
        raise SmtpUrlInvalid("MAIRIE_SMTP_URL doit commencer par smtp:// ou smtps://.")
    if not parts.hostname:
        raise SmtpUrlInvalid("MAIRIE_SMTP_URL ne donne pas le nom du serveur.")
    try:
        port = parts.port
    except ValueError as exc:
        raise SmtpUrlInvalid("MAIRIE_SMTP_URL : numéro de port invalide.") from exc
    query = parse_qs(parts.query)
    unknown = set(query) - {"starttls", "verify", "timeout"}
    if unknown:
        raise SmtpUrlInvalid(f"MAIRIE_SMTP_URL : option inconnue « {', '.join(sorted(unknown))} ».")
    implicit = parts.scheme == "smtps"
    starttls = _flag(query, "starttls", False)
    if implicit and starttls:
        raise SmtpUrlInvalid("MAIRIE_SMTP_URL : smtps:// est déjà chiffré, starttls=1 ne s'y ajoute pas.")
    try:
        timeout = float(query.get("timeout", ["30"])[-1])
    except ValueError as exc:
        raise SmtpUrlInvalid("MAIRIE_SMTP_URL : « timeout » doit être un nombre de secondes.") from exc
    return SmtpConfig(
        host=parts.hostname,
        port=port or (465 if implicit else 25),
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        security="tls" if implicit else ("starttls" if starttls else "plain"),
        verify=_flag(query, "verify", True),
        timeout=timeout,
    )


def smtp_config() -> SmtpConfig | None:
    """The configured SMTP server, or None: messages then go to the local outbox directory."""
    url = getattr(settings, "SMTP_URL", "")
    return parse_smtp_url(url) if url else None


def outbox_dir() -> Path:
    return Path(settings.DATA_DIR) / "outbox"


# --- Building messages --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime_type: str = "application/pdf"


def platform_sender() -> Address:
    name, addr = parseaddr(settings.MAIL_FROM)
    if "@" not in addr:
        raise SmtpUrlInvalid(
            f"MAIRIE_MAIL_FROM n'est pas une adresse électronique : « {settings.MAIL_FROM} »."
        )
    return Address(display_name=name, addr_spec=addr)


def sender_for(organisation: Any) -> tuple[Address, str]:
    """(From, Reply-To) for an organisation's messages.

    From keeps the platform's address (the one its mail server may send for: SPF, DKIM, DMARC) with the
    organisation's name; replies go to the organisation's own address when it has one.
    """
    platform = platform_sender()
    name = getattr(organisation, "name", "") or platform.display_name
    return Address(display_name=name, addr_spec=platform.addr_spec), getattr(organisation, "email", "") or ""


def _one_line(value: str) -> str:
    return " ".join(value.split())


def angle(message_id: str) -> str:
    """A Message-ID in its canonical ``<…>`` form (stored with or without the brackets)."""
    value = message_id.strip()
    if not value:
        return ""
    return value if value.startswith("<") else f"<{value.strip('<>')}>"


def build_message(
    *,
    sender: Address,
    to: Sequence[str],
    subject: str,
    body: str,
    message_id: str,
    reply_to: str = "",
    in_reply_to: str = "",
    attachments: Sequence[Attachment] = (),
    date: dt.datetime | None = None,
) -> EmailMessage:
    # The SMTP policy ends lines with CRLF and encodes non-ASCII headers (RFC 2047) and file names (RFC 2231).
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = ", ".join(_one_line(a) for a in to)
    if reply_to:
        message["Reply-To"] = _one_line(reply_to)
    message["Subject"] = _one_line(subject)
    message["Date"] = format_datetime(timezone.localtime(date or timezone.now()))
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = angle(in_reply_to)
        message["References"] = angle(in_reply_to)
    message.set_content(body.replace("\r\n", "\n"), charset="utf-8")
    for attachment in attachments:
        maintype, _, subtype = attachment.mime_type.partition("/")
        message.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return message


def queue_mail(
    *,
    organisation: Any,
    to: Sequence[str],
    subject: str,
    body: str,
    attachments: Sequence[Attachment] = (),
    courrier: Any = None,
    in_reply_to: str = "",
    actor: Any = None,
) -> OutgoingMail:
    """Keep a message and queue its sending, in the caller's transaction (both commit with the caller's work)."""
    recipients = [_one_line(a) for a in to if a.strip()]
    if not recipients:
        raise ValueError("Aucun destinataire.")
    sender, reply_to = sender_for(organisation)
    message_id = make_msgid(domain=sender.domain or "mairie.invalid")
    message = build_message(
        sender=sender,
        to=recipients,
        subject=subject,
        body=body,
        message_id=message_id,
        reply_to=reply_to,
        in_reply_to=in_reply_to,
        attachments=attachments,
    )
    with transaction.atomic():
        mail = OutgoingMail.objects.create(
            organisation=organisation,
            courrier=courrier,
            message_id=message_id,
            sender=str(sender),
            recipients=recipients,
            subject=_one_line(subject)[:500],
            raw=message.as_bytes(),
            created_by=actor,
        )
        send_mail_task.enqueue(mail.pk)
        record(
            organisation=organisation,
            actor=actor,
            action="mail.queued",
            summary=f"Courriel « {mail.subject} » à {', '.join(recipients)} mis en file d'envoi.",
            obj=courrier,
        )
    return mail


# --- Sending ------------------------------------------------------------------------------------------


class SendFailed(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


def _local_hostname() -> str:
    # Without it smtplib asks the DNS for this machine's full name at every connection (slow when offline).
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def _tls_context(config: SmtpConfig) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not config.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _smtp_code(exc: smtplib.SMTPResponseException) -> str:
    text = (
        exc.smtp_error.decode("utf-8", "replace")
        if isinstance(exc.smtp_error, bytes)
        else str(exc.smtp_error)
    )
    return f"{exc.smtp_code} {' '.join(text.split())}".strip()


def send_smtp(
    config: SmtpConfig, *, envelope_from: str, recipients: Sequence[str], raw: bytes
) -> dict[str, Any]:
    """One SMTP conversation; French errors in SendFailed. Returns the recipients the server refused."""
    where = config.label
    try:
        smtp: smtplib.SMTP
        if config.security == "tls":
            smtp = smtplib.SMTP_SSL(
                config.host,
                config.port,
                local_hostname=_local_hostname(),
                timeout=config.timeout,
                context=_tls_context(config),
            )
        else:
            smtp = smtplib.SMTP(
                config.host, config.port, local_hostname=_local_hostname(), timeout=config.timeout
            )
        with smtp:
            smtp.ehlo()
            if config.security == "starttls":
                smtp.starttls(context=_tls_context(config))
                smtp.ehlo()
            if config.user:
                smtp.login(config.user, config.password)
            refused = smtp.sendmail(envelope_from, list(recipients), raw)
            return dict(refused)
    except smtplib.SMTPRecipientsRefused as exc:
        detail = " ; ".join(
            f"{addr} ({code} {msg.decode('utf-8', 'replace') if isinstance(msg, bytes) else msg})"
            for addr, (code, msg) in exc.recipients.items()
        )
        permanent = all(code >= 500 for code, _ in exc.recipients.values())
        raise SendFailed(f"Adresse refusée par le serveur d'envoi : {detail}", permanent=permanent) from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise SendFailed(
            f"Identifiant ou mot de passe refusé par le serveur d'envoi {where} ({_smtp_code(exc)})."
        ) from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise SendFailed(f"Le serveur d'envoi {where} ne propose pas ce qui est demandé : {exc}.") from exc
    except smtplib.SMTPSenderRefused as exc:
        raise SendFailed(f"Expéditeur refusé par le serveur d'envoi {where} ({_smtp_code(exc)}).") from exc
    except smtplib.SMTPResponseException as exc:
        raise SendFailed(f"Le serveur d'envoi {where} a répondu : {_smtp_code(exc)}.") from exc
    except smtplib.SMTPServerDisconnected as exc:
        raise SendFailed(f"Le serveur d'envoi {where} a coupé la connexion ({exc}).") from exc
    except ssl.SSLError as exc:
        raise SendFailed(f"Échec de la connexion chiffrée (TLS) avec {where} : {exc.reason or exc}.") from exc
    except socket.gaierror as exc:
        raise SendFailed(f"Serveur d'envoi introuvable : {config.host}.") from exc
    except ConnectionRefusedError as exc:
        raise SendFailed(f"Le serveur d'envoi {where} ne répond pas (connexion refusée).") from exc
    except TimeoutError as exc:
        raise SendFailed(f"Le serveur d'envoi {where} n'a pas répondu à temps.") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise SendFailed(f"Envoi impossible par {where} : {exc}.") from exc


def file_in_outbox(mail: OutgoingMail) -> Path:
    """Write the message as a .eml file (same name every time: writing it twice leaves one file)."""
    folder = outbox_dir()
    folder.mkdir(parents=True, exist_ok=True)
    created = timezone.localtime(mail.created_at)
    path = folder / f"{created:%Y%m%d-%H%M%S}-{mail.organisation_id}-{mail.pk}.eml"
    partial = path.with_suffix(".eml.part")
    with open(partial, "wb") as handle:
        handle.write(mail.raw_bytes)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    return path


def retry_delay(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), LONGEST_RETRY_SECONDS))


def _claim(mail_id: int, now: dt.datetime) -> bool:
    stale = now - dt.timedelta(seconds=CLAIM_STALE_SECONDS)
    from django.db.models import F

    return bool(
        OutgoingMail.objects.filter(pk=mail_id, status=OutgoingMail.Status.PENDING)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=stale))
        .update(claimed_at=now, attempts=F("attempts") + 1)
    )


def deliver(mail_id: int) -> str:
    """Send one queued message (the job's body). Idempotent: a sent message is never sent again."""
    now = timezone.now()
    mail = OutgoingMail.objects.filter(pk=mail_id).first()
    if mail is None:
        return "missing"
    if mail.status != OutgoingMail.Status.PENDING:
        return f"already-{mail.status}"
    if mail.next_attempt_at is not None and mail.next_attempt_at > now:
        return "not-due"  # a job for that time is already queued
    if not _claim(mail_id, now):
        # Another job is talking to the server. Look again once its claim would be stale, in case it died.
        assert mail.claimed_at is not None
        later = max(mail.claimed_at + dt.timedelta(seconds=CLAIM_STALE_SECONDS), now) + dt.timedelta(
            seconds=1
        )
        send_mail_task.using(run_after=later).enqueue(mail_id)
        return "busy"
    mail.refresh_from_db()
    outcome = OutgoingMail.Status.SENT
    error = ""
    permanent = False
    path = ""
    try:
        config = smtp_config()
        if config is None:
            path = str(file_in_outbox(mail))
            outcome = OutgoingMail.Status.FILED
        else:
            refused = send_smtp(
                config,
                envelope_from=platform_sender().addr_spec,
                recipients=mail.recipients,
                raw=mail.raw_bytes,
            )
            if refused:
                error = "Adresses refusées par le serveur d'envoi : " + ", ".join(sorted(refused))
    except SendFailed as exc:
        outcome, error, permanent = OutgoingMail.Status.PENDING, exc.message, exc.permanent
    except SmtpUrlInvalid as exc:
        outcome, error = OutgoingMail.Status.PENDING, str(exc)
    except OSError as exc:  # the outbox directory cannot be written
        outcome, error = OutgoingMail.Status.PENDING, f"Écriture dans la boîte d'envoi impossible : {exc}."
    return _record_outcome(mail, outcome=outcome, error=error, permanent=permanent, path=path)


def _record_outcome(mail: OutgoingMail, *, outcome: str, error: str, permanent: bool, path: str) -> str:
    now = timezone.now()
    with transaction.atomic():
        current = OutgoingMail.objects.select_for_update().get(pk=mail.pk)
        current.claimed_at = None
        current.last_error = error
        who = ", ".join(current.recipients)
        if outcome == OutgoingMail.Status.SENT:
            current.status, current.sent_at, current.next_attempt_at = outcome, now, None
            action, summary = "mail.sent", f"Courriel « {current.subject} » envoyé à {who}."
        elif outcome == OutgoingMail.Status.FILED:
            current.status, current.sent_at, current.next_attempt_at = outcome, now, None
            current.outbox_path = path
            action = "mail.filed"
            summary = (
                f"Courriel « {current.subject} » pour {who} déposé dans la boîte d'envoi locale "
                "(aucun serveur d'envoi configuré)."
            )
        elif permanent or current.attempts >= MAX_ATTEMPTS:
            current.status, current.next_attempt_at = OutgoingMail.Status.FAILED, None
            action = "mail.failed"
            summary = f"Envoi du courriel « {current.subject} » à {who} abandonné après {current.attempts} essai(s) : {error}"
        else:
            current.next_attempt_at = now + retry_delay(current.attempts)
            current.save()
            send_mail_task.using(run_after=current.next_attempt_at).enqueue(current.pk)
            logger.warning(
                "Courriel %s non envoyé (essai %s) : %s", current.message_id, current.attempts, error
            )
            return "retry"
        current.save()
        record(
            organisation=current.organisation,
            actor=None,
            action=action,
            summary=summary,
            obj=current.courrier,
        )
    return str(current.status)


@task(queue_name="default")
def send_mail_task(mail_id: int) -> str:
    return deliver(mail_id)


# Messages whose job is lost (it failed on an unexpected error, or its row was removed) are queued again.
SWEEP_EVERY_SECONDS = 300.0
SWEEP_GRACE = dt.timedelta(minutes=5)


def queue_orphans() -> int:
    """Queue a job for every message still pending, due for a while, that no job waits to send."""
    from django_tasks_db.compat import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    now = timezone.now()
    late = now - SWEEP_GRACE
    stale = now - dt.timedelta(seconds=CLAIM_STALE_SECONDS)
    candidates = (
        OutgoingMail.objects.filter(status=OutgoingMail.Status.PENDING)
        .filter(Q(next_attempt_at__lt=late) | Q(next_attempt_at__isnull=True, created_at__lt=late))
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=stale))
        .values_list("pk", flat=True)[:500]
    )
    waiting: set[Any] = set()
    for args_kwargs in DBTaskResult.objects.filter(
        task_path=send_mail_task.module_path,
        status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
    ).values_list("args_kwargs", flat=True):
        waiting.update((args_kwargs or {}).get("args", [])[:1])
    queued = 0
    for mail_id in candidates:
        if mail_id not in waiting:
            send_mail_task.enqueue(mail_id)
            queued += 1
    if queued:
        logger.warning("%s courriel(s) en attente sans tâche d'envoi : remis en file.", queued)
    return queued


def _register_sweep() -> None:
    from mairie.jobs.services import periodic

    periodic("mail-orphans", every=SWEEP_EVERY_SECONDS)(queue_orphans)


_register_sweep()


# --- Showing the state --------------------------------------------------------------------------------


def status_text(mail: OutgoingMail) -> str:
    """The state of a message in one French sentence, as an agent reads it on the courrier's page."""
    who = ", ".join(mail.recipients)
    if mail.status == OutgoingMail.Status.SENT:
        when = timezone.localtime(mail.sent_at or mail.created_at)
        text = f"Envoyé à {who} le {when:%d/%m/%Y à %H:%M}."
        return f"{text} {mail.last_error}" if mail.last_error else text
    if mail.status == OutgoingMail.Status.FILED:
        return (
            f"Aucun serveur d'envoi n'est configuré : le message pour {who} a été déposé dans la boîte "
            "d'envoi locale du serveur (dossier outbox), il n'est pas parti."
        )
    if mail.status == OutgoingMail.Status.FAILED:
        return f"Envoi abandonné après {mail.attempts} essai(s) : {mail.last_error}"
    if mail.attempts and mail.next_attempt_at:
        when = timezone.localtime(mail.next_attempt_at)
        at = f"{when:%H:%M}" if when.date() == timezone.localdate() else f"{when:%H:%M} le {when:%d/%m/%Y}"
        return f"Envoi en attente (nouvel essai à {at}) : {mail.last_error}"
    return f"Envoi à {who} en cours."
