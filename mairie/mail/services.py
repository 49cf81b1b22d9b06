"""Use cases of mailboxes: connect one (after a successful login), change it, deactivate it, fetch now."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from mairie.audit.services import record
from mairie.mail.imap import Credentials, check_login
from mairie.mail.models import Mailbox
from mairie.organisations.models import Organisation, Service

SECRET_FIELDS = ("password", "client_secret", "refresh_token")
CONNECTION_FIELDS = (
    "host",
    "port",
    "security",
    "username",
    "auth",
    "password",
    "client_id",
    "client_secret",
    "refresh_token",
    "token_url",
    "folder",
)
EDITABLE_FIELDS = (*CONNECTION_FIELDS, "label", "service", "done_folder", "quarantine_folder")


def _check_service(organisation: Organisation, service: Service | None) -> None:
    if service is not None and service.organisation_id != organisation.pk:
        raise PermissionDenied("Service d'une autre organisation.")


def credentials_of(fields: dict[str, Any]) -> Credentials:
    return Credentials(
        host=fields["host"],
        port=int(fields["port"]),
        security=fields.get("security", Mailbox.Security.TLS),
        username=fields["username"],
        auth=fields.get("auth", Mailbox.Auth.PASSWORD),
        password=fields.get("password", ""),
        client_id=fields.get("client_id", ""),
        client_secret=fields.get("client_secret", ""),
        refresh_token=fields.get("refresh_token", ""),
        token_url=fields.get("token_url", ""),
    )


def create_mailbox(*, organisation: Organisation, actor: Any, check: bool = True, **fields: Any) -> Mailbox:
    """Connect a mailbox. The login is tried first: a mailbox the platform cannot read is refused
    (``MailboxError`` with the server's answer)."""
    _check_service(organisation, fields.get("service"))
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"Champs inconnus : {sorted(unknown)}")
    fields.setdefault("label", f"{fields['username']}@{fields['host']}")
    if check:
        check_login(credentials_of(fields), fields.get("folder", "INBOX"))
    with transaction.atomic():
        mailbox = Mailbox.objects.create(organisation=organisation, created_by=actor, **fields)
        record(
            organisation=organisation,
            actor=actor,
            action="mail.mailbox_added",
            summary=f"Boîte aux lettres « {mailbox.label} » connectée ({mailbox.address}).",
            obj=mailbox,
        )
    return mailbox


def update_mailbox(*, mailbox: Mailbox, actor: Any, **changes: Any) -> Mailbox:
    """Change a mailbox; a secret left empty keeps the saved one. A changed connection is tried first."""
    _check_service(mailbox.organisation, changes.get("service"))
    for name in SECRET_FIELDS:
        if not changes.get(name):
            changes.pop(name, None)
    changed = [name for name, value in changes.items() if getattr(mailbox, name) != value]
    if not changed:
        return mailbox
    merged = {name: changes.get(name, getattr(mailbox, name)) for name in CONNECTION_FIELDS}
    if any(name in CONNECTION_FIELDS for name in changed):
        check_login(credentials_of(merged), merged["folder"])
    with transaction.atomic():
        for name in changed:
            setattr(mailbox, name, changes[name])
        mailbox.save()
        shown = ", ".join("secret" if name in SECRET_FIELDS else name for name in changed)
        record(
            organisation=mailbox.organisation,
            actor=actor,
            action="mail.mailbox_changed",
            summary=f"Boîte aux lettres « {mailbox.label} » modifiée ({shown}).",
            obj=mailbox,
        )
    return mailbox


def set_active(*, mailbox: Mailbox, actor: Any, active: bool) -> Mailbox:
    if mailbox.is_active == active:
        return mailbox
    with transaction.atomic():
        Mailbox.objects.filter(pk=mailbox.pk).update(is_active=active)
        mailbox.is_active = active
        record(
            organisation=mailbox.organisation,
            actor=actor,
            action="mail.mailbox_activated" if active else "mail.mailbox_deactivated",
            summary=f"Boîte aux lettres « {mailbox.label} » {'réactivée' if active else 'désactivée'}.",
            obj=mailbox,
        )
    return mailbox


def fetch_now(*, mailbox: Mailbox, actor: Any) -> None:
    """« Relever maintenant »: a job, so that the page answers at once."""
    from mairie.mail.tasks import fetch_mailbox_task

    with transaction.atomic():
        fetch_mailbox_task.enqueue(mailbox.pk)
        record(
            organisation=mailbox.organisation,
            actor=actor,
            action="mail.fetch_requested",
            summary=f"Relevé de la boîte « {mailbox.label} » demandé.",
            obj=mailbox,
        )
