"""One pass over a mailbox: every message in its folder becomes a courrier, then moves to the done folder.

Lossless and exactly once, whatever fails when:
- a message leaves the folder only after ``register_message`` has committed its courrier, together with
  two intake keys (``imap``: mailbox, UIDVALIDITY and UID; ``message-id``). If the process dies or the
  network drops between the commit and the move, the next pass finds a key, gets ``duplicate`` (no second
  courrier) and only moves the message;
- a new UIDVALIDITY (folder recreated, server migrated) makes every UID new, but the Message-ID still
  matches: nothing is registered twice;
- one message that fails (a bug, a rendering crash) stays in the folder with its error on the mailbox and
  in the journal; the others go on. A message larger than ``MAIRIE_MAIL_MAX_BYTES`` is not downloaded: it
  stays in the folder and the mailbox page says so (nothing is lost, the administrator decides);
- an infected message is registered nowhere and goes to the quarantine folder (journaled); a message the
  antivirus could not check (clamd down) stays in place and is tried again at the next pass;
- a lease on the mailbox row (one conditional UPDATE) makes two workers never read the same mailbox at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from mairie.audit.services import record
from mairie.jobs.services import periodic
from mairie.mail.imap import Credentials, MailboxError, connected, ensure_folder, move_messages
from mairie.mail.intake import register_message
from mairie.mail.models import Mailbox
from mairie.organisations.models import Organisation

logger = logging.getLogger("mairie.mail")

IMAP_SOURCE = "imap"
# A pass that takes longer than this without finishing a message is presumed dead; another may start.
LEASE = dt.timedelta(minutes=15)
# Test hook for the kill test: the process exits right after the N-th courrier is committed, before the
# message is moved (a real process death, as if the machine lost power). Never set in production.
CRASH_AFTER_COMMIT_ENV = "MAIRIE_TEST_CRASH_AFTER_COMMIT"


@dataclass
class MessageLine:
    """What happened to one message of the folder (one JSON line of ``mairie mail fetch``)."""

    uid: int
    message_id: str
    status: str  # registered | duplicate | warning | refused | deferred | too_large | error
    chrono: str | None = None
    attachments: int = 0
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "status": self.status,
            "chrono": self.chrono,
            "attachments": self.attachments,
        }
        if self.error:
            data["error"] = self.error
        return data


@dataclass
class PassReport:
    mailbox: Mailbox
    lines: list[MessageLine] = field(default_factory=list)
    skipped: bool = False  # another worker holds the mailbox
    error: str = ""  # the pass itself failed (connection, login, folder)

    @property
    def problems(self) -> list[str]:
        return [line.error for line in self.lines if line.error]


def key_for(mailbox: Mailbox, uidvalidity: int, uid: int) -> tuple[str, str]:
    return (IMAP_SOURCE, f"{mailbox.pk}:{uidvalidity}:{uid}")


# --- Lease -------------------------------------------------------------------------------------------


def take_lease(mailbox: Mailbox, owner: str) -> bool:
    now = timezone.now()
    taken = (
        Mailbox.objects.filter(pk=mailbox.pk, is_active=True)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_owner=owner))
        .update(lease_until=now + LEASE, lease_owner=owner)
    )
    if taken == 1:
        return True
    # A pass whose process died on this machine (killed, crashed) does not hold the mailbox until its
    # lease runs out: its lease is taken over at once, as the job worker does for dead workers.
    holder = (
        Mailbox.objects.filter(pk=mailbox.pk, is_active=True).values_list("lease_owner", flat=True).first()
    )
    if holder and _holder_is_dead(holder):
        taken = Mailbox.objects.filter(pk=mailbox.pk, lease_owner=holder).update(
            lease_until=now + LEASE, lease_owner=owner
        )
    return taken == 1


def _holder_is_dead(holder: str) -> bool:
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    from mairie.jobs.services import _pid_alive

    return not _pid_alive(int(pid_text))


def _renew_lease(mailbox: Mailbox, owner: str) -> None:
    Mailbox.objects.filter(pk=mailbox.pk, lease_owner=owner).update(lease_until=timezone.now() + LEASE)


def release_lease(mailbox: Mailbox, owner: str) -> None:
    Mailbox.objects.filter(pk=mailbox.pk, lease_owner=owner).update(lease_until=None, lease_owner="")


# --- Journal -----------------------------------------------------------------------------------------


def _journal(mailbox: Mailbox, action: str, summary: str, obj: Any = None) -> None:
    try:
        with transaction.atomic():
            record(
                organisation=mailbox.organisation, actor=None, action=action, summary=summary[:4000], obj=obj
            )
    except Exception:  # the journal must not stop the pass (the error is still on the mailbox page)
        logger.exception("Journal impossible pour la boîte %s", mailbox.pk)


# --- The pass ----------------------------------------------------------------------------------------


def _crash_hook(committed: int) -> None:
    limit = os.environ.get(CRASH_AFTER_COMMIT_ENV)
    if limit and committed >= int(limit):
        os._exit(137)


def _envelope_text(client: IMAPClient, uid: int) -> tuple[str, str]:
    """Message-ID and subject of a message not downloaded (for the error shown to the administrator)."""
    try:
        data = client.fetch([uid], ["ENVELOPE"]).get(uid, {})
        envelope = data.get(b"ENVELOPE")
        if envelope is None:
            return "", ""
        message_id = (envelope.message_id or b"").decode("utf-8", "replace").strip("<>")
        subject = (envelope.subject or b"").decode("utf-8", "replace")
        return message_id, subject
    except Exception:
        return "", ""


def _message_id_of(raw: bytes) -> str:
    """The Message-ID of a message that could not be registered (for the JSON line and the error)."""
    try:
        headers = BytesHeaderParser().parsebytes(raw[:65536])
        return str(headers.get("Message-ID", "")).strip().strip("<>")[:300]
    except Exception:  # a message broken enough to fail registration may fail here too
        return ""


def _read_folder(
    mailbox: Mailbox,
    client: IMAPClient,
    report: PassReport,
    owner: str,
    after_commit: Callable[[IMAPClient, MessageLine], None] | None,
) -> None:
    client.normalise_times = False  # aware datetimes from INTERNALDATE
    info = client.select_folder(mailbox.folder)
    uidvalidity = int(info[b"UIDVALIDITY"])
    if mailbox.last_uidvalidity is not None and mailbox.last_uidvalidity != uidvalidity:
        logger.warning(
            "Boîte %s : UIDVALIDITY %s → %s ; les courriels déjà enregistrés sont reconnus à leur Message-ID.",
            mailbox.pk,
            mailbox.last_uidvalidity,
            uidvalidity,
        )
    Mailbox.objects.filter(pk=mailbox.pk).update(last_uidvalidity=uidvalidity)
    uids = sorted(client.search(["NOT", "DELETED"]))
    if not uids:
        return
    meta = client.fetch(uids, ["RFC822.SIZE", "INTERNALDATE"])
    folders_ready: set[str] = set()
    committed = 0
    for uid in uids:
        size = int(meta.get(uid, {}).get(b"RFC822.SIZE", 0))
        if size > settings.MAIL_MAX_BYTES:
            message_id, subject = _envelope_text(client, uid)
            line = MessageLine(
                uid,
                message_id,
                "too_large",
                error=(
                    f"Courriel « {subject or message_id or uid} » de {size / 1e6:.1f} Mo laissé dans le dossier "
                    f"« {mailbox.folder} » : il dépasse la limite de {settings.MAIL_MAX_BYTES / 1e6:.0f} Mo "
                    "(MAIRIE_MAIL_MAX_BYTES). Enregistrez-le à la main ou relevez la limite."
                ),
            )
            report.lines.append(line)
            continue
        try:
            data = client.fetch([uid], ["BODY.PEEK[]"]).get(uid)
        except IMAPClientError as exc:
            report.lines.append(
                MessageLine(uid, "", "error", error=f"Lecture du courriel UID {uid} impossible : {exc}")
            )
            continue
        if not data or b"BODY[]" not in data:  # expunged by another client meanwhile
            continue
        raw = bytes(data[b"BODY[]"])
        received = meta.get(uid, {}).get(b"INTERNALDATE")
        received_at = received if isinstance(received, dt.datetime) and received.tzinfo else None
        try:
            result = register_message(
                organisation=mailbox.organisation,
                raw=raw,
                service=mailbox.service,
                intake_key=key_for(mailbox, uidvalidity, uid),
                received_at=received_at,
            )
        except Exception as exc:
            # One message must not stop the others: it stays in the folder and is tried again next pass.
            logger.exception("Boîte %s : courriel UID %s non enregistré", mailbox.pk, uid)
            message_id = _message_id_of(raw)
            report.lines.append(
                MessageLine(
                    uid,
                    message_id,
                    "error",
                    error=f"Courriel « {message_id or uid} » non enregistré ({type(exc).__name__} : "
                    f"{str(exc)[:300]}) ; il reste dans le dossier et sera repris au prochain relevé.",
                )
            )
            continue
        line = MessageLine(uid, result.message_id, result.status, result.chrono, result.attachments)
        report.lines.append(line)
        if result.status == "refused":
            if result.temporary:
                line.status = "deferred"
                line.error = f"Courriel « {result.message_id} » en attente : {result.reason}"
                continue
            target = mailbox.quarantine_folder
        else:
            committed += 1
            if after_commit is not None:
                after_commit(client, line)
            _crash_hook(committed)
            target = mailbox.done_folder
        if target not in folders_ready:
            ensure_folder(client, target)
            folders_ready.add(target)
        move_messages(client, [uid], target)
        if result.status == "refused":
            _journal(
                mailbox,
                "mail.quarantined",
                f"Courriel « {result.message_id or uid} » de la boîte « {mailbox.label} » placé dans le dossier "
                f"« {target} » : {result.reason}",
                obj=mailbox,
            )
        _renew_lease(mailbox, owner)


def fetch_mailbox(
    mailbox: Mailbox,
    *,
    after_commit: Callable[[IMAPClient, MessageLine], None] | None = None,
) -> PassReport:
    """One pass over one mailbox (outside any transaction: each message commits on its own)."""
    report = PassReport(mailbox)
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    if not take_lease(mailbox, owner):
        report.skipped = True
        return report
    previous_error = mailbox.last_error
    try:
        try:
            with connected(Credentials.of(mailbox)) as client:
                _read_folder(mailbox, client, report, owner, after_commit)
        except MailboxError as exc:
            report.error = str(exc)
        except IMAPClientAbortError as exc:  # the connection died under imaplib
            report.error = f"Connexion interrompue pendant le relevé : {exc}"
        except IMAPClientError as exc:
            report.error = f"Le serveur a refusé une opération sur « {mailbox.folder} » : {exc}"
        except (OSError, EOFError) as exc:  # network cut, server stopped, timeout
            report.error = f"Connexion interrompue pendant le relevé : {exc or type(exc).__name__}"
        _save_outcome(mailbox, report, previous_error)
    finally:
        release_lease(mailbox, owner)
    return report


def _save_outcome(mailbox: Mailbox, report: PassReport, previous_error: str) -> None:
    now = timezone.now()
    problems = ([report.error] if report.error else []) + report.problems
    text = "\n".join(problems)
    status = (
        Mailbox.LastStatus.ERROR
        if report.error
        else (Mailbox.LastStatus.WARNING if problems else Mailbox.LastStatus.OK)
    )
    fields: dict[str, Any] = {"last_fetch_at": now, "last_status": status, "last_error": text}
    if problems:
        fields["last_error_at"] = now
    Mailbox.objects.filter(pk=mailbox.pk).update(**fields)
    for key, value in fields.items():
        setattr(mailbox, key, value)
    # Journaled once when it appears, not at every pass while the server stays down.
    for problem in problems:
        if problem not in previous_error:
            logger.warning("Boîte %s : %s", mailbox.pk, problem)
            _journal(mailbox, "mail.fetch_failed", f"Relevé de « {mailbox.label} » : {problem}", obj=mailbox)


def active_mailboxes(organisation: Organisation | None = None) -> list[Mailbox]:
    queryset = Mailbox.objects.filter(is_active=True, organisation__is_active=True).select_related(
        "organisation", "service"
    )
    if organisation is not None:
        queryset = queryset.filter(organisation=organisation)
    return list(queryset.order_by("organisation_id", "pk"))


def fetch_all(organisation: Organisation | None = None) -> list[PassReport]:
    reports = []
    for mailbox in active_mailboxes(organisation):
        try:
            reports.append(fetch_mailbox(mailbox))
        except Exception:  # one broken mailbox must not stop the others
            logger.exception("Relevé de la boîte %s en échec", mailbox.pk)
    return reports


@periodic("mail-fetch", every=settings.MAIL_POLL_SECONDS)
def _fetch_duty() -> None:
    fetch_all()
