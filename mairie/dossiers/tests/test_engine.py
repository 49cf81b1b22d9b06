"""The engine: one function applies a transition — rights, state, condition, actions, timeline, journal."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from mairie.audit.models import AuditEntry
from mairie.dossiers import services
from mairie.dossiers.engine import TransitionRefused, apply_transition, available_transitions
from mairie.dossiers.models import Dossier, DossierEvent, Task, WorkflowTimer
from mairie.dossiers.tasks import fire_timers
from mairie.workflows.services import save_definition

from .conftest import SIMPLE

pytestmark = pytest.mark.django_db


def _dossier(world, workflow, **data):
    return services.create_dossier(
        organisation=world.commune,
        actor=world.secretary,
        subject="Platane dangereux",
        workflow=workflow,
        data=data,
    )


def test_creation_numbers_the_dossier_and_runs_the_initial_status_actions(world, simple_workflow):
    first = _dossier(world, simple_workflow)
    second = _dossier(world, simple_workflow)
    year = timezone.localdate().year
    assert (first.reference, second.reference) == (f"DOS-{year}-00001", f"DOS-{year}-00002")
    assert first.status == "recue"
    first.refresh_from_db()
    assert first.service.name == "Accueil et secrétariat"
    kinds = list(first.events.values_list("kind", flat=True))
    assert kinds == ["created", "assigned"]
    assert AuditEntry.objects.filter(organisation=world.commune, action="dossier.created").count() == 2


def test_transition_moves_the_dossier_runs_its_actions_and_writes_timeline_and_journal(
    world, simple_workflow
):
    dossier = _dossier(world, simple_workflow)
    apply_transition(dossier=dossier, transition="instruire", actor=world.secretary, comment="Vu en mairie")
    dossier.refresh_from_db()
    assert dossier.status == "instruction"
    task = Task.objects.get(dossier=dossier)
    assert task.service.name == "Services techniques"
    assert task.due_at is not None and task.due_at > timezone.now() + dt.timedelta(days=4)
    event = dossier.events.get(kind="transition")
    assert event.actor == world.secretary
    assert "Instruire : Reçue → En instruction" in event.summary and "Vu en mairie" in event.summary
    assert AuditEntry.objects.filter(organisation=world.commune, action="dossier.transition").exists()


def test_transition_from_the_wrong_status_is_refused_and_changes_nothing(world, simple_workflow):
    dossier = _dossier(world, simple_workflow)
    events = dossier.events.count()
    with pytest.raises(TransitionRefused) as refused:
        apply_transition(dossier=dossier, transition="gros", actor=world.agent)
    assert refused.value.code == "state"
    assert "n'est pas possible à l'étape « Reçue »" in refused.value.message
    dossier.refresh_from_db()
    assert dossier.status == "recue" and dossier.events.count() == events


def test_rights_roles_and_services(world, simple_workflow):
    dossier = _dossier(world, simple_workflow, montant=9000)
    with pytest.raises(TransitionRefused) as refused:  # the technical agent is not « courrier »
        apply_transition(dossier=dossier, transition="instruire", actor=world.agent)
    assert refused.value.code == "rights"
    apply_transition(dossier=dossier, transition="instruire", actor=world.secretary)
    with pytest.raises(TransitionRefused):  # the secretary is not in the technical service
        apply_transition(dossier=dossier, transition="gros", actor=world.secretary)
    apply_transition(dossier=dossier, transition="gros", actor=world.agent)
    dossier.refresh_from_db()
    assert dossier.status == "gros_travaux"


def test_agent_of_another_commune_may_not_move_the_dossier(world, simple_workflow):
    dossier = _dossier(world, simple_workflow)
    with pytest.raises(TransitionRefused) as refused:
        apply_transition(dossier=dossier, transition="clore", actor=world.other_agent)
    assert refused.value.code == "rights"


def test_condition_is_evaluated_on_the_dossier_data(world, simple_workflow):
    dossier = _dossier(world, simple_workflow, montant=800)
    apply_transition(dossier=dossier, transition="instruire", actor=world.secretary)
    with pytest.raises(TransitionRefused) as refused:
        apply_transition(dossier=dossier, transition="gros", actor=world.agent)
    assert refused.value.code == "condition"
    assert [t.id for t in available_transitions(dossier, actor=world.agent)] == ["attendre"]


def test_automatic_transitions_are_not_for_people(world, simple_workflow):
    dossier = _dossier(world, simple_workflow)
    apply_transition(dossier=dossier, transition="instruire", actor=world.secretary)
    apply_transition(dossier=dossier, transition="attendre", actor=world.secretary)
    with pytest.raises(TransitionRefused) as refused:
        apply_transition(dossier=dossier, transition="relance", actor=world.commune_admin)
    assert refused.value.code == "automatic"


def test_a_failing_action_undoes_the_whole_transition(world):
    broken = {**SIMPLE, "name": "casse"}
    broken["transitions"] = [
        {**t, "actions": [{"action": "assign", "service": "Service qui n'existe pas"}]}
        if t["id"] == "instruire"
        else t
        for t in SIMPLE["transitions"]
    ]
    workflow = save_definition(organisation=world.commune, actor=None, data=broken)
    dossier = _dossier(world, workflow)
    events = dossier.events.count()
    with pytest.raises(TransitionRefused) as refused:
        apply_transition(dossier=dossier, transition="instruire", actor=world.secretary)
    assert refused.value.code == "action"
    assert "n'a pas de service « Service qui n'existe pas »" in refused.value.message
    dossier.refresh_from_db()
    assert dossier.status == "recue"
    assert dossier.events.count() == events


def test_final_status_closes_the_dossier_and_cancels_open_work(world, simple_workflow):
    dossier = _dossier(world, simple_workflow)
    apply_transition(dossier=dossier, transition="instruire", actor=world.secretary)
    apply_transition(dossier=dossier, transition="clore", actor=world.mayor)
    dossier.refresh_from_db()
    assert dossier.closed_at is not None
    assert Task.objects.get(dossier=dossier).status == Task.Status.CANCELLED
    with pytest.raises(TransitionRefused) as refused:
        apply_transition(dossier=dossier, transition="clore", actor=world.mayor)
    assert refused.value.code == "closed"


def test_a_running_dossier_keeps_its_workflow_version(world, simple_workflow):
    dossier = _dossier(world, simple_workflow)
    changed = {**SIMPLE, "title": "Demande simple (révisée)"}
    changed["transitions"] = [t for t in SIMPLE["transitions"] if t["id"] != "gros"]
    changed["statuses"] = [s for s in SIMPLE["statuses"] if s["id"] != "gros_travaux"]
    v2 = save_definition(organisation=world.commune, actor=None, data=changed)
    assert v2.version == 2
    newer = _dossier(world, "simple")
    assert newer.workflow == v2
    dossier.refresh_from_db()
    assert dossier.workflow == simple_workflow  # version 1, with « gros »
    assert "gros" in [t["id"] for t in dossier.workflow.definition["transitions"]]


def test_timer_fires_the_transition_once_when_due_and_only_if_the_dossier_has_not_moved(
    world, simple_workflow
):
    waiting = _dossier(world, simple_workflow)
    moved = _dossier(world, simple_workflow)
    for d in (waiting, moved):
        apply_transition(dossier=d, transition="instruire", actor=world.secretary)
        apply_transition(dossier=d, transition="attendre", actor=world.secretary)
    apply_transition(dossier=moved, transition="clore", actor=world.secretary)
    assert fire_timers(now=timezone.now() + dt.timedelta(days=2)) == 0  # not due yet
    assert fire_timers(now=timezone.now() + dt.timedelta(days=3, minutes=1)) == 1
    waiting.refresh_from_db()
    assert waiting.status == "instruction"
    assert waiting.events.filter(kind="transition", data__system=True).count() == 1
    assert fire_timers(now=timezone.now() + dt.timedelta(days=30)) == 0  # fired once
    assert not WorkflowTimer.objects.filter(fired_at__isnull=True).exists()


def test_dossier_from_a_courrier_is_created_once(world, simple_workflow, incoming):
    membership = world.membership(world.secretary)
    dossier = services.create_from_courrier(
        membership=membership, courrier=incoming, workflow=simple_workflow
    )
    again = services.create_from_courrier(membership=membership, courrier=incoming, workflow=simple_workflow)
    assert again.pk == dossier.pk
    assert Dossier.objects.count() == 1
    assert dossier.subject == "Demande d'abattage d'un platane dangereux"
    assert dossier.contact == incoming.contact
    assert DossierEvent.objects.filter(
        dossier=dossier, kind="courrier.added", data__chrono=incoming.chrono
    ).exists()


def test_every_declared_action_has_a_runner():
    from mairie.workflows.actions import ACTIONS, runner_for

    for name in ACTIONS:
        assert callable(runner_for(name)), name
