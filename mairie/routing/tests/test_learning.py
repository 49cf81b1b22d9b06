"""The classifier of an organisation learns from its agents' corrections, and from nobody else's."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from mairie.courrier.services import update_courrier
from mairie.organisations.services import add_service
from mairie.routing.models import RoutingModel, Suggestion
from mairie.routing.services import (
    fitted_model,
    needs_training,
    queue_due_trainings,
    suggestion_for,
    train_organisation,
)
from mairie.routing.tasks import train_task

pytestmark = pytest.mark.django_db

ELAGAGE = [
    "Les branches des platanes du {} touchent les fils électriques : un élagage est nécessaire.",
    "Je vous demande de faire élaguer les arbres communaux qui surplombent mon jardin, {}.",
    "Les tilleuls de la place masquent le panneau ; merci de prévoir l'élagage, {}.",
    "Un chêne de l'espace vert perd ses branches au moindre vent près du {} : il faut l'élaguer.",
]
OTHERS = {
    "État civil": [
        "Je vous prie de m'adresser une copie intégrale de mon acte de naissance, {}.",
        "Nous souhaitons nous marier en mairie cet été ; quelles pièces fournir ? {}",
        "Suite au décès de ma mère, merci de m'adresser trois copies de l'acte de décès, {}.",
    ],
    "Urbanisme": [
        "Veuillez trouver mon dossier de permis de construire pour la parcelle AB 12, {}.",
        "Je dépose une déclaration préalable pour une clôture en limite de propriété, {}.",
        "Notre étude sollicite un certificat d'urbanisme pour le terrain situé {}.",
    ],
    "Services techniques": [
        "La chaussée du {} est pleine de nids-de-poule depuis les pluies.",
        "Le lampadaire devant le {} ne s'allume plus depuis des semaines.",
    ],
}
PLACES = ["chemin des Écoliers", "rue de l'Église", "route de Saint-Gély", "impasse des Lilas"]


def _label(world, letter, text, service):
    courrier, _ = letter(text)
    update_courrier(membership=world.membership(world.secretary), courrier=courrier, service=service)
    return courrier


@pytest.fixture
def trained_history(world, letter):
    """Saint-Aubin's agents always send pruning to their « Environnement » service, never to the technical one."""
    environment = add_service(actor=None, organisation=world.commune, name="Environnement")
    for round_number in range(2):
        for index, template in enumerate(ELAGAGE):
            _label(world, letter, template.format(PLACES[(index + round_number) % 4]), environment)
    for name, templates in OTHERS.items():
        for round_number in range(2):
            for index, template in enumerate(templates):
                _label(
                    world, letter, template.format(PLACES[(index + round_number) % 4]), world.service(name)
                )
    return environment


def test_rules_first_then_the_model_learns_the_agents_corrections(world, letter, trained_history):
    environment = trained_history
    corrected = Suggestion.objects.for_org(world.commune).filter(state=Suggestion.State.CORRECTED)
    assert corrected.count() >= 8  # every pruning letter was corrected from « Services techniques »
    assert set(corrected.values_list("service__name", flat=True)) >= {"Services techniques"}
    assert needs_training(world.commune)

    outcome = train_organisation(world.commune)
    assert outcome.status == "trained" and outcome.samples == 24 and outcome.classes == 4
    model = RoutingModel.objects.get(organisation=world.commune)
    assert {c["name"] for c in model.classes} == {
        "Environnement",
        "État civil",
        "Urbanisme",
        "Services techniques",
    }

    _, suggestion = letter(
        "Bonjour, les haies et les branches des arbres de la route de Fabrègues doivent être élaguées."
    )
    assert suggestion.source == Suggestion.Source.MODEL and suggestion.model_samples == 24
    assert suggestion.source_label == "modèle appris sur 24 courriers"
    assert suggestion.service == environment
    # What it knew before still works.
    _, civil = letter("Merci de m'envoyer une copie de mon acte de naissance pour mon passeport.")
    assert civil.service == world.service("État civil")


def test_the_model_of_one_commune_is_never_used_for_another(world, letter, trained_history):
    train_organisation(world.commune)
    assert fitted_model(world.commune) is not None
    assert fitted_model(world.other_commune) is None
    courrier, suggestion = letter(
        "Les branches des platanes touchent les fils : un élagage est nécessaire.",
        org=world.other_commune,
        actor=world.other_agent,
    )
    assert suggestion.source == Suggestion.Source.RULES
    assert suggestion.service.organisation == world.other_commune
    own = set(world.other_commune.services.values_list("pk", flat=True))
    assert {c["id"] for c in suggestion.service_choices} <= own
    # Nor are suggestions of one commune visible from another.
    assert suggestion_for(world.membership(world.secretary), courrier) is None


def test_too_little_history_keeps_the_rules(world, letter):
    for index in range(3):
        _label(
            world, letter, OTHERS["Urbanisme"][index].format("rue de l'Église"), world.service("Urbanisme")
        )
    assert not needs_training(world.commune)
    assert train_organisation(world.commune).status == "not-enough-data"
    assert not RoutingModel.objects.exists()


def test_periodic_duty_queues_training_when_enough_has_changed(world, letter, trained_history, settings):
    def queued() -> int:
        return DBTaskResult.objects.filter(task_path__endswith="train_task").count()

    assert queue_due_trainings() == 1 and queued() == 1
    assert train_task.func(world.commune.pk) == "trained"  # type: ignore[attr-defined]
    assert queue_due_trainings() == 0
    assert train_task.func(world.commune.pk) == "up-to-date"  # type: ignore[attr-defined]
    settings.ROUTING_RETRAIN_EVERY = 2
    for index in range(2):
        _label(
            world, letter, OTHERS["Urbanisme"][index].format("impasse des Lilas"), world.service("État civil")
        )
    assert needs_training(world.commune)
    assert queue_due_trainings() == 1


def test_train_command_prints_one_json_line_per_organisation(world, letter, trained_history):
    out = io.StringIO()
    call_command("routing", "train", "--org", "saint-aubin", stdout=out)
    line = json.loads(out.getvalue().strip())
    assert line == {"org": "saint-aubin", "status": "trained", "samples": 24, "classes": 4}
    out = io.StringIO()
    call_command("routing", "train", stdout=out)
    assert [json.loads(x)["org"] for x in out.getvalue().split("\n") if x] == ["saint-aubin"]


def test_suggest_command_computes_a_courrier_again(world, letter):
    courrier, _ = letter("Objet : élagage\nLes platanes doivent être élagués.")
    out = io.StringIO()
    call_command("routing", "suggest", "--org", "saint-aubin", courrier.chrono, stdout=out)
    assert json.loads(out.getvalue()) == {"chrono": courrier.chrono, "status": "suggested"}
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Courrier inconnu"):
        call_command("routing", "suggest", "--org", "villeneuve", courrier.chrono, stdout=io.StringIO())
