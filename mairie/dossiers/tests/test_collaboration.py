"""Opinions, tasks, e-mail and webhooks, and dossiers shared with or handed over to another organisation."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import http.server
import json
import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from mairie.core.models import OutgoingMail
from mairie.dossiers import services
from mairie.dossiers.engine import TransitionRefused, apply_transition
from mairie.dossiers.models import Dossier, DossierEvent, DossierShare, Opinion, Task
from mairie.workflows.services import save_definition

pytestmark = pytest.mark.django_db

OPINIONS = {
    "name": "avis",
    "title": "Avis en parallèle",
    "initial": "recue",
    "statuses": [
        {"id": "recue", "label": "Reçue"},
        {"id": "avis", "label": "Avis en cours"},
        {"id": "decision", "label": "Décision"},
        {"id": "fin", "label": "Terminé", "final": True},
    ],
    "transitions": [
        {
            "id": "demander",
            "label": "Demander les avis",
            "from": ["recue"],
            "to": "avis",
            "actions": [
                {
                    "action": "request_opinions",
                    "from": [{"service": "Services techniques"}, {"organisation": "@parent"}],
                    "delay_days": 15,
                    "question": "Faut-il abattre ce platane ?",
                    "then": "avis_rendus",
                }
            ],
        },
        {"id": "avis_rendus", "label": "Avis rendus", "from": ["avis"], "to": "decision", "automatic": True},
        {
            "id": "terminer",
            "label": "Terminer",
            "from": ["decision"],
            "to": "fin",
            "actions": [
                {
                    "action": "send_email",
                    "to": "usager",
                    "subject": "Votre demande {{ dossier.reference }}",
                    "body": "Bonjour {{ contact.prenom }}, votre demande « {{ dossier.objet }} » est traitée.",
                },
            ],
        },
    ],
}

HANDOVER = {
    "name": "epci",
    "title": "Instruction par l'EPCI",
    "initial": "recue",
    "statuses": [
        {"id": "recue", "label": "Reçue"},
        {"id": "epci", "label": "Instruction EPCI"},
        {"id": "instruit", "label": "Instruit par l'EPCI"},
        {"id": "decision", "label": "Décision du maire"},
        {"id": "fin", "label": "Terminé", "final": True},
    ],
    "transitions": [
        {
            "id": "transmettre",
            "label": "Transmettre à l'EPCI",
            "from": ["recue"],
            "to": "epci",
            "actions": [
                {
                    "action": "share",
                    "organisation": "@parent",
                    "purpose": "handover",
                    "note": "Pour instruction",
                }
            ],
        },
        {
            "id": "instruire",
            "label": "Instruction terminée",
            "from": ["epci"],
            "to": "instruit",
            "actions": [{"action": "create_task", "title": "Rédiger l'avis de l'ADS", "delay_days": 3}],
        },
        {
            "id": "rendre",
            "label": "Rendre à la commune",
            "from": ["instruit"],
            "to": "decision",
            "actions": [{"action": "hand_back"}],
        },
        {
            "id": "decider",
            "label": "Décider",
            "from": ["decision"],
            "to": "fin",
            "allowed": {"roles": ["elu", "admin"]},
        },
    ],
}


def test_parallel_opinions_then_the_workflow_moves_on_by_itself(world, incoming, epci_agent):
    workflow = save_definition(organisation=world.commune, actor=None, data=OPINIONS)
    dossier = services.create_from_courrier(
        membership=world.membership(world.secretary), courrier=incoming, workflow=workflow
    )
    apply_transition(dossier=dossier, transition="demander", actor=world.secretary)
    opinions = list(Opinion.objects.filter(dossier=dossier).order_by("id"))
    assert [o.organisation for o in opinions] == [world.commune, world.epci]
    assert opinions[0].task.service.name == "Services techniques"
    assert opinions[0].task.description == "Faut-il abattre ce platane ?"
    # The EPCI sees the dossier (shared for an opinion) but cannot move it.
    assert services.dossier_for(world.epci, dossier.pk) == dossier
    with pytest.raises(TransitionRefused):
        apply_transition(dossier=dossier, transition="terminer", actor=epci_agent, organisation=world.epci)
    # An unfavourable opinion must say why.
    with pytest.raises(ValidationError):
        services.give_opinion(
            membership=world.membership(world.agent), opinion=opinions[0], verdict="defavorable", text=""
        )
    # The other commune's agent is not asked.
    with pytest.raises(PermissionDenied):
        services.give_opinion(
            membership=world.membership(world.other_agent, world.other_commune),
            opinion=opinions[0],
            verdict="favorable",
            text="",
        )
    services.give_opinion(
        membership=world.membership(world.agent),
        opinion=opinions[0],
        verdict="reserves",
        text="Élagage d'abord.",
    )
    dossier.refresh_from_db()
    assert dossier.status == "avis"  # one still pending
    services.give_opinion(
        membership=world.membership(epci_agent, world.epci), opinion=opinions[1], verdict="favorable", text=""
    )
    dossier.refresh_from_db()
    assert dossier.status == "decision"
    from mairie.notifications.models import Notification

    replies = Notification.objects.filter(user=world.secretary, kind="opinion.reply")
    assert replies.count() == 2  # the secretary asked: she hears of both opinions
    assert "Communauté de communes du Grand Pic" in replies.order_by("id").last().text
    events = list(dossier.events.values_list("kind", "acting_organisation_id"))
    assert ("opinion.given", world.epci.pk) in events
    assert ("transition", world.commune.pk) in events
    assert Task.objects.filter(dossier=dossier, kind="opinion", status=Task.Status.DONE).count() == 2

    apply_transition(dossier=dossier, transition="terminer", actor=world.secretary)
    mail = OutgoingMail.objects.get()
    assert mail.recipients == ["lucie.martin@example.org"]
    assert dossier.reference in mail.subject
    message = email.message_from_bytes(bytes(mail.raw), policy=email.policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Bonjour Lucie, votre demande « Demande d'abattage d'un platane dangereux » est traitée." in text


def test_opinion_not_given_in_time_expires_and_the_batch_moves_on(world, incoming, epci_agent):
    workflow = save_definition(organisation=world.commune, actor=None, data=OPINIONS)
    dossier = services.create_dossier(
        organisation=world.commune, actor=world.secretary, subject="Platane", workflow=workflow
    )
    apply_transition(dossier=dossier, transition="demander", actor=world.secretary)
    first, second = Opinion.objects.filter(dossier=dossier).order_by("id")
    services.give_opinion(
        membership=world.membership(world.agent), opinion=first, verdict="favorable", text=""
    )
    assert services.expire_opinions(now=timezone.now() + dt.timedelta(days=10)) == 0
    assert services.expire_opinions(now=timezone.now() + dt.timedelta(days=16)) == 1
    second.refresh_from_db()
    dossier.refresh_from_db()
    assert second.status == Opinion.Status.EXPIRED
    assert dossier.status == "decision"
    assert dossier.events.filter(kind="opinion.expired").exists()


def test_dossier_handed_over_to_the_epci_and_back(world, epci_agent):
    workflow = save_definition(organisation=world.commune, actor=None, data=HANDOVER)
    dossier = services.create_dossier(
        organisation=world.commune,
        actor=world.secretary,
        subject="Permis de construire — parcelle AB 12",
        workflow=workflow,
    )
    with pytest.raises(Dossier.DoesNotExist):
        services.dossier_for(world.epci, dossier.pk)
    apply_transition(dossier=dossier, transition="transmettre", actor=world.secretary)
    dossier.refresh_from_db()
    assert dossier.holder == world.epci
    assert services.dossier_for(world.epci, dossier.pk) == dossier
    with pytest.raises(Dossier.DoesNotExist):  # never another commune
        services.dossier_for(world.other_commune, dossier.pk)
    # While the EPCI holds it, the commune cannot move it; the EPCI can.
    with pytest.raises(TransitionRefused) as refused:
        apply_transition(dossier=dossier, transition="instruire", actor=world.secretary)
    assert refused.value.code == "holder"
    apply_transition(dossier=dossier, transition="instruire", actor=epci_agent, organisation=world.epci)
    task = Task.objects.get(dossier=dossier)
    assert task.organisation == world.epci  # the EPCI's own task, in its own context
    assert task in services.tasks_for(world.membership(epci_agent, world.epci))
    assert task not in services.tasks_for(world.membership(world.secretary))
    apply_transition(dossier=dossier, transition="rendre", actor=epci_agent, organisation=world.epci)
    dossier.refresh_from_db()
    assert dossier.holder == world.commune and dossier.status == "decision"
    assert DossierShare.objects.get(dossier=dossier).ended_at is not None
    task.refresh_from_db()
    assert task.status == Task.Status.CANCELLED
    with pytest.raises(Dossier.DoesNotExist):  # the share ended: the EPCI no longer sees it
        services.dossier_for(world.epci, dossier.pk)
    apply_transition(dossier=dossier, transition="decider", actor=world.mayor)
    timeline = list(
        DossierEvent.objects.filter(dossier=dossier).values_list("kind", "acting_organisation__slug")
    )
    assert ("share.handover", "saint-aubin") in timeline
    assert ("transition", "cc-grand-pic") in timeline
    assert ("share.returned", "cc-grand-pic") in timeline
    assert timeline[-1] == ("transition", "saint-aubin")


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict, str]] = []
    fail_first = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Receiver.fail_first > 0:
            _Receiver.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        _Receiver.received.append((json.loads(body), self.headers["Idempotency-Key"]))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver():
    _Receiver.received = []
    _Receiver.fail_first = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_webhook_is_called_after_commit_by_a_job_and_retried(world, receiver, settings):
    from mairie.dossiers.tasks import post_webhook

    settings.WEBHOOK_ALLOW_PRIVATE = True  # the receiver listens on the loopback

    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    data = {
        "name": "hook",
        "title": "Avec webhook",
        "initial": "a",
        "statuses": [{"id": "a", "label": "A"}, {"id": "b", "label": "B", "final": True}],
        "transitions": [
            {
                "id": "go",
                "label": "Go",
                "from": ["a"],
                "to": "b",
                "actions": [{"action": "webhook", "url": url, "payload": {"source": "test"}}],
            }
        ],
    }
    workflow = save_definition(organisation=world.commune, actor=None, data=data)
    dossier = services.create_dossier(
        organisation=world.commune, actor=world.secretary, subject="Hook", workflow=workflow
    )
    apply_transition(dossier=dossier, transition="go", actor=world.secretary)
    assert _Receiver.received == []  # a job, not during the transition
    event = DossierEvent.objects.get(dossier=dossier, kind="webhook.queued")
    _Receiver.fail_first = 1
    assert post_webhook(event.pk, url, {"source": "test"}) == "retry"
    assert post_webhook(event.pk, url, {"source": "test"}, attempt=2) == "done"
    assert post_webhook(event.pk, url, {"source": "test"}, attempt=2) == "already"  # idempotent
    [(body, key)] = _Receiver.received
    assert body["dossier"]["reference"] == dossier.reference and body["dossier"]["etape"] == "b"
    assert body["source"] == "test"
    assert key == f"mairie-{world.commune.pk}-{event.pk}"
    assert DossierEvent.objects.filter(dossier=dossier, kind="webhook.done").count() == 1


def test_webhook_to_the_internal_network_is_refused(world, receiver, settings):
    from mairie.dossiers.tasks import post_webhook

    settings.WEBHOOK_ALLOW_PRIVATE = False
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    data = {
        "name": "interne",
        "title": "Webhook interne",
        "initial": "a",
        "statuses": [{"id": "a", "label": "A"}, {"id": "b", "label": "B", "final": True}],
        "transitions": [
            {
                "id": "go",
                "label": "Go",
                "from": ["a"],
                "to": "b",
                "actions": [{"action": "webhook", "url": url}],
            }
        ],
    }
    workflow = save_definition(organisation=world.commune, actor=None, data=data)
    dossier = services.create_dossier(
        organisation=world.commune, actor=world.secretary, subject="Interne", workflow=workflow
    )
    apply_transition(dossier=dossier, transition="go", actor=world.secretary)
    event = DossierEvent.objects.get(dossier=dossier, kind="webhook.queued")
    assert post_webhook(event.pk, url, {}) == "failed"
    assert _Receiver.received == []
    failed = DossierEvent.objects.get(dossier=dossier, kind="webhook.failed")
    assert "adresse du réseau interne refusée (127.0.0.1)" in failed.summary
