from __future__ import annotations

from django_tasks import task

from mairie.mail.fetch import fetch_mailbox
from mairie.mail.models import Mailbox


@task(queue_name="default")
def fetch_mailbox_task(mailbox_id: int) -> str:
    """« Relever maintenant »: one pass (idempotent; a pass already running elsewhere makes this one skip)."""
    mailbox = Mailbox.objects.select_related("organisation", "service").filter(pk=mailbox_id).first()
    if mailbox is None or not mailbox.is_active:
        return "inactive"
    report = fetch_mailbox(mailbox)
    if report.skipped:
        return "busy"
    return "error" if report.error else f"{len(report.lines)} courriel(s)"
