from __future__ import annotations

import datetime as dt

from mairie.audit.models import AuditEntry
from mairie.core.models import OutgoingMail
from mairie.dossiers import reminders
from mairie.dossiers.models import Absence, DossierEvent, Task
from mairie.dossiers.reminders import run_task_reminders
from mairie.jobs.services import PERIODIC
from mairie.notifications import services
from mairie.notifications.models import Notification

from .helpers import NOW, make_dossier, make_task


def _run(django_capture_on_commit_callbacks, now=NOW):
    with django_capture_on_commit_callbacks(execute=True):
        return run_task_reminders(now=now)


def test_the_duty_is_registered_every_quarter_of_an_hour():
    assert PERIODIC["task-reminders"] == (900.0, run_task_reminders)
    assert "notification-digest" in PERIODIC


def test_task_due_in_one_day_is_reminded_once(world, django_capture_on_commit_callbacks):
    services.set_preference(user=world.agent, digest="none", daily_hour=8)  # reminders are e-mailed anyway
    dossier = make_dossier(world.commune)
    task = make_task(dossier, due_at=NOW + dt.timedelta(days=1), assignee=world.agent)
    make_task(dossier, due_at=NOW + dt.timedelta(days=5), assignee=world.agent, title="Plus tard")
    make_task(dossier, due_at=None, assignee=world.agent, title="Sans échéance")
    make_task(
        dossier,
        due_at=NOW + dt.timedelta(hours=3),
        assignee=world.agent,
        title="Déjà faite",
        status=Task.Status.DONE,
    )

    assert _run(django_capture_on_commit_callbacks) == {"reminded": 1, "escalated": 0}
    task.refresh_from_db()
    assert task.reminded_at == NOW
    notification = Notification.objects.get()
    assert (notification.user, notification.kind, notification.dossier) == (
        world.agent,
        "task.reminder",
        dossier,
    )
    assert "Rappel : la tâche « Vérifier le dossier » (2026-0001)" in notification.text
    assert "11/03/2026 à 09:00" in notification.text
    assert notification.url == f"/o/saint-aubin/dossiers/{dossier.pk}/"
    mail = OutgoingMail.objects.get()
    assert mail.recipients == ["agent@example.org"]

    assert _run(django_capture_on_commit_callbacks, NOW + dt.timedelta(minutes=15)) == {
        "reminded": 0,
        "escalated": 0,
    }
    assert Notification.objects.count() == 1 and OutgoingMail.objects.count() == 1


def test_a_reminder_already_claimed_by_another_worker_is_not_sent(world, django_capture_on_commit_callbacks):
    dossier = make_dossier(world.commune)
    task = make_task(dossier, due_at=NOW + dt.timedelta(days=1), assignee=world.agent)
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders.remind(task, now=NOW) is True
        # The second worker read the task before the first one's update: its claim finds nothing to take.
        assert reminders.remind(task, now=NOW) is False
    assert Notification.objects.count() == 1


def test_reminder_of_an_absent_assignee_goes_to_the_delegate(world, django_capture_on_commit_callbacks):
    Absence.objects.create(
        organisation=world.commune,
        user=world.agent,
        delegate=world.secretary,
        starts_on=NOW.date(),
        ends_on=NOW.date() + dt.timedelta(days=3),
    )
    task = make_task(make_dossier(world.commune), due_at=NOW + dt.timedelta(days=2), assignee=world.agent)
    _run(django_capture_on_commit_callbacks)
    notification = Notification.objects.get()
    assert notification.user == world.secretary
    assert "Vous remplacez Karim Benali" in notification.text
    task.refresh_from_db()
    assert task.reminded_at is not None


def test_service_task_without_assignee_reminds_the_service(world, django_capture_on_commit_callbacks):
    service = world.service("Services techniques")
    make_task(make_dossier(world.commune), due_at=NOW + dt.timedelta(days=1), service=service)
    _run(django_capture_on_commit_callbacks)
    assert list(Notification.objects.values_list("user__username", flat=True)) == ["agent"]


def test_overdue_task_is_escalated_once(world, django_capture_on_commit_callbacks):
    service = world.service("Services techniques")
    world.membership(world.secretary).services.add(service)
    dossier = make_dossier(world.commune)
    task = make_task(dossier, due_at=NOW - dt.timedelta(hours=1), assignee=world.agent, service=service)
    make_task(
        make_dossier(world.other_commune), due_at=NOW - dt.timedelta(days=1), assignee=world.other_agent
    )

    counts = _run(django_capture_on_commit_callbacks)
    assert counts == {"reminded": 0, "escalated": 2}
    task.refresh_from_db()
    assert task.escalated_at == NOW and task.reminded_at is None

    # The commune's administrator and the service's other member, not the assignee, not Villeneuve's people.
    overdue = Notification.objects.filter(organisation=world.commune, kind="task.overdue")
    assert sorted(overdue.values_list("user__username", flat=True)) == ["admin-commune", "secretaire"]
    assert "Tâche en retard : « Vérifier le dossier » (confiée à Karim Benali) (2026-0001)" in overdue[0].text
    event = DossierEvent.objects.get(dossier=dossier, kind="task.escalated")
    assert event.summary.startswith("Tâche en retard « Vérifier le dossier » (confiée à Karim Benali)")
    assert "signalée à Claire Fabre, Sylvie Marchand" in event.summary
    assert AuditEntry.objects.filter(organisation=world.commune, action="dossier.task.escalated").count() == 1

    assert _run(django_capture_on_commit_callbacks, NOW + dt.timedelta(hours=1)) == {
        "reminded": 0,
        "escalated": 0,
    }
    assert DossierEvent.objects.filter(kind="task.escalated").count() == 2
    # Villeneuve has no administrator and the task no service: its assignee is told.
    assert Notification.objects.get(organisation=world.other_commune).user == world.other_agent
    assert Notification.objects.filter(kind="task.overdue").count() == 3


def test_overdue_task_of_a_service_with_a_head_goes_to_the_head(world, django_capture_on_commit_callbacks):
    from mairie.organisations.services import update_service

    service = world.service("Services techniques")
    update_service(actor=world.commune_admin, service=service, name=service.name, head=world.secretary)
    dossier = make_dossier(world.commune)
    make_task(dossier, due_at=NOW - dt.timedelta(hours=1), assignee=world.agent, service=service)
    assert _run(django_capture_on_commit_callbacks) == {"reminded": 0, "escalated": 1}
    overdue = Notification.objects.filter(kind="task.overdue")
    assert list(overdue.values_list("user__username", flat=True)) == ["secretaire"]
    assert "signalée à Sylvie Marchand." in DossierEvent.objects.get(kind="task.escalated").summary


def test_a_failing_escalation_leaves_the_task_to_the_next_run(
    world, django_capture_on_commit_callbacks, monkeypatch
):
    task = make_task(make_dossier(world.commune), due_at=NOW - dt.timedelta(hours=1), assignee=world.agent)

    def broken(**kwargs):
        raise RuntimeError("panne")

    monkeypatch.setattr(reminders, "record_event", broken)
    assert _run(django_capture_on_commit_callbacks) == {"reminded": 0, "escalated": 0}
    task.refresh_from_db()
    assert task.escalated_at is None and not Notification.objects.exists()
    monkeypatch.undo()
    assert _run(django_capture_on_commit_callbacks)["escalated"] == 1
