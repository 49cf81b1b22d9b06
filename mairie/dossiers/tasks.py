"""Jobs of the dossiers app: webhooks (after commit, with retries) and the periodic duty that fires timers
and closes opinion rounds whose deadline passed."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import task

from mairie.dossiers.models import DossierEvent, WorkflowTimer
from mairie.dossiers.timeline import record_event
from mairie.jobs.services import periodic

WEBHOOK_ATTEMPTS = 4


def _payload(event: DossierEvent, extra: dict[str, Any]) -> bytes:
    dossier = event.dossier
    body = {
        "dossier": {
            "reference": dossier.reference,
            "objet": dossier.subject,
            "etape": dossier.status,
            "organisation": dossier.organisation.slug,
            "circuit": dossier.workflow.name,
            "version": dossier.workflow.version,
        },
        "evenement": event.pk,
        **extra,
    }
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def post_webhook(event_id: int, url: str, payload: dict[str, Any], attempt: int = 1) -> str:
    """POST the dossier's state as JSON. Idempotent per event: the receiver gets ``Idempotency-Key``."""
    event = DossierEvent.objects.select_related("dossier", "dossier__workflow", "dossier__organisation").get(
        pk=event_id
    )
    if DossierEvent.objects.filter(dossier=event.dossier, kind="webhook.done", data__event=event_id).exists():
        return "already"
    if not url.lower().startswith(("http://", "https://")):
        return _webhook_failed(event, url, payload, WEBHOOK_ATTEMPTS, "adresse non HTTP(S)")
    internal = _internal_address(url)
    if internal and not settings.WEBHOOK_ALLOW_PRIVATE:
        # A hosted platform must not let a commune's workflow reach the servers beside it (database, metadata…).
        return _webhook_failed(
            event, url, payload, WEBHOOK_ATTEMPTS, f"adresse du réseau interne refusée ({internal})"
        )
    request = urllib.request.Request(  # noqa: S310 - scheme checked just above
        url,
        data=_payload(event, payload),
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": f"mairie-{event.organisation_id}-{event_id}",
            "User-Agent": "Mairie",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        return _webhook_failed(event, url, payload, attempt, f"injoignable ({exc})")
    if status >= 400:
        return _webhook_failed(event, url, payload, attempt, f"réponse HTTP {status}")
    with transaction.atomic():
        record_event(
            dossier=event.dossier,
            kind="webhook.done",
            summary=f"Service externe {url} appelé (réponse {status}).",
            data={"event": event_id, "status": status},
        )
    return "done"


def _internal_address(url: str) -> str:
    """The first loopback, private, link-local or reserved address the URL's host resolves to, or ""."""
    import ipaddress
    import socket
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return ""  # unresolvable: the call fails on its own, and is retried
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_loopback or address.is_private or address.is_link_local or address.is_reserved:
            return str(address)
    return ""


def _webhook_failed(event: DossierEvent, url: str, payload: dict[str, Any], attempt: int, why: str) -> str:
    if attempt < WEBHOOK_ATTEMPTS:
        later = timezone.now() + dt.timedelta(seconds=30 * 4 ** (attempt - 1))
        call_webhook.using(run_after=later).enqueue(event.pk, url, payload, attempt + 1)
        return "retry"
    with transaction.atomic():
        record_event(
            dossier=event.dossier,
            kind="webhook.failed",
            summary=f"Appel du service externe {url} abandonné après {attempt} essais : {why}.",
            data={"event": event.pk},
        )
    return "failed"


@task(queue_name="default")
def call_webhook(event_id: int, url: str, payload: dict[str, Any], attempt: int = 1) -> str:
    return post_webhook(event_id, url, payload, attempt)


def fire_timers(now: dt.datetime | None = None) -> int:
    """Fire every due timer once (claimed by a conditional update: two workers never fire one twice)."""
    from mairie.dossiers.engine import try_system_transition

    now = now or timezone.now()
    fired = 0
    for timer in WorkflowTimer.objects.filter(fired_at__isnull=True, due_at__lte=now).select_related(
        "dossier"
    )[:500]:
        # Claim and transition commit together: a worker killed in between leaves the timer to fire again.
        with transaction.atomic():
            if not WorkflowTimer.objects.filter(pk=timer.pk, fired_at__isnull=True).update(fired_at=now):
                continue
            dossier = timer.dossier
            dossier.refresh_from_db()
            if dossier.status != timer.status or dossier.closed_at is not None:
                continue
            try_system_transition(dossier, timer.transition, reason="Délai écoulé")
            fired += 1
    return fired


@periodic("workflow-timers", every=60)
def workflow_duty() -> None:
    from mairie.dossiers.services import expire_opinions

    fire_timers()
    expire_opinions()
