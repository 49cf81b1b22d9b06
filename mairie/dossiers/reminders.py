"""Task reminders and escalation (a periodic duty, every 15 minutes).

- ``MAIRIE_TASK_REMINDER_DAYS`` days before a task's deadline, its assignee (their stand-in when they are
  away; for a service task without assignee, the service's members) gets a reminder: a notification and an
  e-mail whatever their preference — reminders are the point. Once: ``Task.reminded_at``.
- Once the deadline has passed, the task is escalated once (``Task.escalated_at``) to the organisation's
  administrators and, for a service task, to the service's other members: a ``task.overdue`` notification
  each and a ``task.escalated`` event on the dossier's timeline.

Each task is claimed by a conditional update (``… WHERE reminded_at IS NULL``) in the transaction that writes
its notifications: two workers never remind twice, a killed one leaves nothing half-done.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from mairie.dossiers.delegation import resolve_assignee
from mairie.dossiers.models import Task
from mairie.dossiers.timeline import person_label, record_event
from mairie.jobs.services import periodic
from mairie.notifications.services import notify
from mairie.organisations.models import Membership, Role

logger = logging.getLogger("mairie.dossiers")

REMINDERS_EVERY_SECONDS = 15 * 60.0
BATCH = 500


def task_url(task: Task) -> str:
    """The dossier's page, under the organisation that sees the task."""
    try:
        return reverse(
            "dossiers:detail", kwargs={"slug": task.organisation.slug, "dossier_id": task.dossier_id}
        )
    except NoReverseMatch:
        return ""


def _service_members(task: Task) -> list[Any]:
    if task.service_id is None:
        return []
    return [
        m.user
        for m in Membership.objects.filter(
            organisation_id=task.organisation_id,
            services__id=task.service_id,
            is_active=True,
            user__is_active=True,
        )
        .select_related("user")
        .order_by("user__last_name", "user__pk")
    ]


def _admins(task: Task) -> list[Any]:
    # Roles are a JSON list: filtered here rather than by a JSON lookup SQLite does not offer.
    return [
        m.user
        for m in Membership.objects.filter(
            organisation_id=task.organisation_id, is_active=True, user__is_active=True
        )
        .select_related("user")
        .order_by("user__last_name", "user__pk")
        if Role.ADMIN in m.roles
    ]


def _unique(users: list[Any]) -> list[Any]:
    seen: set[int] = set()
    out = []
    for user in users:
        if user is not None and user.pk not in seen:
            seen.add(user.pk)
            out.append(user)
    return out


def _due_text(task: Task) -> str:
    assert task.due_at is not None
    return f"{timezone.localtime(task.due_at):%d/%m/%Y à %H:%M}"


def remind(task: Task, *, now: dt.datetime) -> bool:
    """Send the reminder of one task unless another run did. Returns whether this run sent it."""
    with transaction.atomic():
        claimed = Task.objects.filter(pk=task.pk, status=Task.Status.OPEN, reminded_at__isnull=True).update(
            reminded_at=now
        )
        if not claimed:
            return False
        if task.assignee is not None:
            person, away = resolve_assignee(
                organisation=task.organisation, user=task.assignee, on=timezone.localtime(now).date()
            )
            recipients = [(person, away)]
        else:
            recipients = [(member, None) for member in _service_members(task)]
        url = task_url(task)
        for user, away in recipients:
            text = f"Rappel : la tâche « {task.title} » ({task.dossier.reference}) arrive à échéance le {_due_text(task)}."
            if away is not None:
                text += f" Vous remplacez {person_label(away)}."
            notify(
                user=user,
                organisation=task.organisation,
                kind="task.reminder",
                text=text,
                url=url,
                dossier=task.dossier,
                force_email=True,
            )
    return True


def escalate(task: Task, *, now: dt.datetime) -> bool:
    """Escalate one overdue task unless another run did. Returns whether this run escalated it."""
    with transaction.atomic():
        claimed = Task.objects.filter(pk=task.pk, status=Task.Status.OPEN, escalated_at__isnull=True).update(
            escalated_at=now
        )
        if not claimed:
            return False
        head = task.service.head if task.service_id is not None and task.service else None
        if head is not None and head.pk != task.assignee_id and head.is_active:
            recipients = [head]  # the service head, who sees to the service's work
        else:
            others = [u for u in _service_members(task) if u.pk != task.assignee_id]
            recipients = _unique(_admins(task) + others)
        if not recipients and task.assignee is not None:
            recipients = [task.assignee]  # nobody above them: at least the assignee knows
        who = task.assignee or task.service
        whose = (
            f" (confiée à {person_label(task.assignee) if task.assignee else task.service})" if who else ""
        )
        names = ", ".join(person_label(u) for u in recipients) or "personne (aucun destinataire)"
        record_event(
            dossier=task.dossier,
            kind="task.escalated",
            summary=(
                f"Tâche en retard « {task.title} »{whose}, échéance dépassée le {_due_text(task)}, "
                f"signalée à {names}."
            ),
            acting_organisation=task.organisation,
            data={"task": task.pk, "recipients": [u.pk for u in recipients]},
        )
        url = task_url(task)
        for user in recipients:
            notify(
                user=user,
                organisation=task.organisation,
                kind="task.overdue",
                text=(
                    f"Tâche en retard : « {task.title} »{whose} ({task.dossier.reference}), "
                    f"échéance dépassée le {_due_text(task)}."
                ),
                url=url,
                dossier=task.dossier,
            )
    return True


def run_task_reminders(now: dt.datetime | None = None) -> dict[str, int]:
    """The periodic duty: reminders due, then escalations due. Returns the counts."""
    now = now or timezone.now()
    horizon = now + dt.timedelta(days=settings.TASK_REMINDER_DAYS)
    open_tasks = Task.objects.filter(status=Task.Status.OPEN, due_at__isnull=False).select_related(
        "organisation", "dossier", "assignee", "service"
    )
    counts = {"reminded": 0, "escalated": 0}
    for task in open_tasks.filter(reminded_at__isnull=True, due_at__gt=now, due_at__lte=horizon).order_by(
        "due_at", "pk"
    )[:BATCH]:
        try:
            counts["reminded"] += remind(task, now=now)
        except Exception:
            logger.exception("Rappel de la tâche %s non envoyé", task.pk)
    for task in open_tasks.filter(escalated_at__isnull=True, due_at__lte=now).order_by("due_at", "pk")[
        :BATCH
    ]:
        try:
            counts["escalated"] += escalate(task, now=now)
        except Exception:
            logger.exception("Signalement de la tâche en retard %s impossible", task.pk)
    return counts


periodic("task-reminders", every=REMINDERS_EVERY_SECONDS)(run_task_reminders)
