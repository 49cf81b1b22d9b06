"""One raw e-mail message → one incoming courrier (channel e-mail), exactly once.

Documents of the courrier, in order: the raw ``.eml`` (the immutable original, byte for byte), the body
rendered as a PDF that reads like a letter (``courriel.pdf``), then each attachment that passes the intake
checks. An attachment the platform refuses (an archive, a program, an unsupported type) is not registered,
and the message is: the agent sees why in the warnings (returned, printed in the rendition's
« Avertissements » box, and journaled on the courrier). Only a message whose original itself is refused
(a virus found by clamd, the antivirus unreachable, a message over the size limit) registers nothing.

Idempotency: the caller's key (the IMAP side passes ``("imap", "<mailbox>:<uidvalidity>:<uid>")``) and the
message's Message-ID are both remembered as ``IntakeKey`` rows in the registering transaction; a message
seen again under either returns ``duplicate`` with the courrier already registered.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from mairie.audit.services import record
from mairie.courrier.models import Channel, Contact, Courrier, IntakeKey
from mairie.courrier.services import find_or_create_contact, register_courrier
from mairie.documents import store
from mairie.documents.checks import EML, CheckedFile, FileRefused, check_file, sha256_of
from mairie.mail.parsing import ParsedMessage, parse_message, printable
from mairie.mail.rendering import render_pdf
from mairie.organisations.models import Organisation, Service

logger = logging.getLogger("mairie.mail")

MESSAGE_ID_SOURCE = "message-id"
ORIGINAL_NAME = "courriel.eml"
RENDITION_NAME = "courriel.pdf"
# Refusals that say nothing about the message: try it again later rather than quarantine it.
TEMPORARY_REFUSALS = {"antivirus_unavailable"}
# A Date header outside this window is not believed (a clock at 1970, a typo in the year).
EARLIEST_PLAUSIBLE = dt.datetime(1995, 1, 1, tzinfo=dt.UTC)
FUTURE_TOLERANCE = dt.timedelta(days=1)


@dataclass
class MessageResult:
    status: str  # "registered" | "warning" | "duplicate" | "refused"
    courrier: Courrier | None
    message_id: str
    warnings: list[str] = field(default_factory=list)
    attachments: int = 0  # attachment documents registered (not counting the .eml and the body PDF)
    reason: str = ""  # why a refused message was refused (French)
    refusal_code: str = ""  # FileRefused.code: "virus", "too_large", "antivirus_unavailable"…

    @property
    def chrono(self) -> str | None:
        return self.courrier.chrono if self.courrier is not None else None

    @property
    def temporary(self) -> bool:
        """A refusal worth retrying later (leave the message where it is), not a quarantine."""
        return self.status == "refused" and self.refusal_code in TEMPORARY_REFUSALS

    def as_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "status": self.status,
            "chrono": self.chrono,
            "attachments": self.attachments,
        }


def _known(organisation: Organisation, *keys: tuple[str, str] | None) -> Courrier | None:
    for key in keys:
        if key is None:
            continue
        found = (
            IntakeKey.objects.for_org(organisation)
            .filter(source=key[0], key=key[1])
            .select_related("courrier")
            .first()
        )
        if found is not None:
            return found.courrier
    return None


def _remember(organisation: Organisation, courrier: Courrier, *keys: tuple[str, str] | None) -> None:
    """Record keys not yet known for a courrier already registered (a copy in another mailbox…)."""
    for key in keys:
        if key is None:
            continue
        try:
            with transaction.atomic():
                IntakeKey.objects.get_or_create(
                    organisation=organisation, source=key[0], key=key[1], defaults={"courrier": courrier}
                )
        except IntegrityError:  # recorded at the same instant by another worker
            continue


def check_message_file(path: Path, name: str) -> CheckedFile:
    """``check_file`` for a file known to be an e-mail message by where it comes from.

    The checks recognise an e-mail by its first headers; a real message can lack them (no From, no
    Received, garbage before the headers) and must still be registered. A type refusal comes after the
    size and antivirus checks (see ``check_file``), so such a message was scanned: it is accepted as a
    message. Every other refusal stands.
    """
    try:
        return check_file(path, name)
    except FileRefused as exc:
        if exc.code != "type":
            raise
    return CheckedFile(path, name, EML, path.stat().st_size, sha256_of(path), None)


def plausible_date(value: dt.datetime | None, now: dt.datetime) -> bool:
    return value is not None and EARLIEST_PLAUSIBLE <= value <= now + FUTURE_TOLERANCE


def register_message(
    *,
    organisation: Organisation,
    raw: bytes,
    actor: Any = None,
    service: Service | None = None,
    intake_key: tuple[str, str] | None = None,
    received_at: dt.datetime | None = None,
) -> MessageResult:
    """Register one raw message as an incoming courrier; see the module's docstring.

    Commits before returning (unless called inside the caller's own transaction): a ``registered``,
    ``warning`` or ``duplicate`` result means the message may be moved out of the mailbox.
    """
    parsed = parse_message(raw)
    message_key = (MESSAGE_ID_SOURCE, parsed.message_id) if parsed.message_id else None
    existing = _known(organisation, intake_key, message_key)
    if existing is not None:
        _remember(organisation, existing, intake_key, message_key)
        return MessageResult("duplicate", existing, parsed.message_id)

    now = timezone.now()
    warnings = [printable(w) for w in parsed.warnings]
    if received_at is None:
        if parsed.date is not None and plausible_date(parsed.date, now):
            received_at = parsed.date
        else:
            if parsed.date is not None:
                warnings.append(
                    f"Date du courriel invraisemblable ({parsed.date:%d/%m/%Y %H:%M}) : date de réception utilisée."
                )
            received_at = now
    if not parsed.subject:
        warnings.append("Courriel sans objet : objet à compléter.")

    with tempfile.TemporaryDirectory(prefix="mairie-mail-") as tmp:
        workdir = Path(tmp)
        original = workdir / "original.eml"
        original.write_bytes(raw)
        try:
            checked_original = check_message_file(original, ORIGINAL_NAME)
        except FileRefused as exc:
            return _refuse(organisation, actor, parsed, warnings, exc)

        accepted: list[CheckedFile] = []
        refused: dict[str, str] = {}
        for index, attachment in enumerate(parsed.attachments):
            path = workdir / f"piece-{index:04d}"
            path.write_bytes(attachment.content)
            try:
                if attachment.content_type == "message/rfc822":
                    accepted.append(check_message_file(path, attachment.filename))
                else:
                    accepted.append(check_file(path, attachment.filename))
            except FileRefused as exc:
                if exc.code == "virus" or exc.code in TEMPORARY_REFUSALS:
                    # Found inside a part clamd did not see in the original (e.g. extracted from winmail.dat).
                    return _refuse(organisation, actor, parsed, warnings, exc)
                refused[attachment.filename] = _short_reason(exc)
                warnings.append(
                    printable(f"Pièce jointe « {attachment.filename} » non enregistrée : {exc.message}")
                )

        checked = [checked_original]
        rendition = workdir / RENDITION_NAME
        try:
            rendition.write_bytes(
                render_pdf(parsed, received_at=received_at, warnings=warnings, refused=refused)
            )
            checked.append(check_file(rendition, RENDITION_NAME))
        except FileRefused as exc:
            logger.error("Rendu PDF du courriel refusé : %s", exc.message)
            warnings.append(f"Le texte du courriel n'a pas pu être mis en page : {exc.message}")
        except Exception as exc:
            logger.exception("Rendu PDF du courriel impossible")
            warnings.append(f"Le texte du courriel n'a pas pu être mis en page ({type(exc).__name__}).")
        checked.extend(accepted)

        try:
            courrier = _register(
                organisation=organisation,
                parsed=parsed,
                checked=checked,
                actor=actor,
                service=service,
                received_at=received_at,
                keys=[intake_key, message_key],
                warnings=warnings,
            )
        except IntegrityError:
            # Another worker registered the same message (same key) at the same time: its courrier stands.
            store.discard_unreferenced([c.sha256 for c in checked])
            existing = _known(organisation, intake_key, message_key)
            if existing is None:
                raise
            _remember(organisation, existing, intake_key, message_key)
            return MessageResult("duplicate", existing, parsed.message_id)

    status = "warning" if warnings else "registered"
    return MessageResult(status, courrier, parsed.message_id, warnings, attachments=len(accepted))


def _refuse(
    organisation: Organisation, actor: Any, parsed: ParsedMessage, warnings: list[str], exc: FileRefused
) -> MessageResult:
    """Nothing registered; the refusal is journaled (as ``register_courrier`` does for refused files) with
    what identifies the message, for the administrator who finds it in the quarantine folder."""
    sender = parsed.sender.address or parsed.sender.name or "expéditeur inconnu"
    ident = f" <{parsed.message_id[:200]}>" if parsed.message_id else ""
    record(
        organisation=organisation,
        actor=actor,
        action=f"intake.refused.{exc.code}",
        summary=f"Courriel de {sender[:200]} « {parsed.subject[:200]} »{ident} refusé : {exc.message}",
    )
    return MessageResult(
        "refused", None, parsed.message_id, warnings, reason=exc.message, refusal_code=exc.code
    )


def _short_reason(exc: FileRefused) -> str:
    return {
        "type": "type de fichier non accepté",
        "empty": "fichier vide",
        "too_large": "fichier trop volumineux",
        "encrypted": "PDF protégé",
        "corrupt": "fichier endommagé",
        "bomb": "image démesurée",
        "antivirus_too_large": "trop grand pour l'antivirus",
    }.get(exc.code, "refusée")


def _register(
    *,
    organisation: Organisation,
    parsed: ParsedMessage,
    checked: list[CheckedFile],
    actor: Any,
    service: Service | None,
    received_at: dt.datetime,
    keys: list[tuple[str, str] | None],
    warnings: list[str],
) -> Courrier:
    with transaction.atomic():
        sender = parsed.sender
        email_address = sender.address if 3 <= len(sender.address) <= 190 and "@" in sender.address else ""
        name = sender.name[:200]
        contact = find_or_create_contact(organisation=organisation, name=name, email=email_address)
        if contact is not None and name and contact.name == contact.email:
            # Known so far by its address only (an earlier message had no display name): now it has one.
            Contact.objects.filter(pk=contact.pk).update(name=name)
            contact.name = name
        # The keys are written here rather than by register_courrier: a key another worker wrote meanwhile
        # fails this transaction (IntegrityError), it never returns the other courrier as if it were ours.
        courrier = register_courrier(
            organisation=organisation,
            actor=actor,
            checked=checked,
            channel=Channel.EMAIL,
            subject=parsed.subject[:500],
            contact=contact,
            service=service,
            received_at=received_at,
            warnings=warnings,
        )
        for key in dict.fromkeys(k for k in keys if k is not None):
            IntakeKey.objects.create(organisation=organisation, source=key[0], key=key[1], courrier=courrier)
        if warnings:
            record(
                organisation=organisation,
                actor=actor,
                action="mail.warnings",
                summary=f"{courrier.chrono} : courriel lu avec des avertissements — "
                + " ; ".join(warnings)[:4000],
                obj=courrier,
            )
    return courrier
