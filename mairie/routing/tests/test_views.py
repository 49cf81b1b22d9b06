"""The « Suggestions » box of the courrier page, its buttons, and the inbox badges."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mairie.courrier.models import CourrierLink, Status
from mairie.routing.models import Suggestion
from mairie.routing.tests.conftest import add_commune_services
from mairie.testing.factories import courrier_with_document

pytestmark = pytest.mark.django_db

RECOURS = (
    "Objet : recours gracieux\nPar la présente, je forme un recours gracieux contre l'arrêté de voirie du "
    "3 février. C'est urgent : le chemin est fermé."
)


def _detail(courrier):
    return reverse("courrier:detail", kwargs={"slug": courrier.organisation.slug, "chrono": courrier.chrono})


def _accept(courrier):
    return reverse("routing:accept", kwargs={"slug": courrier.organisation.slug, "chrono": courrier.chrono})


def test_courrier_page_shows_the_suggestions_with_their_explanation(world, letter, as_user):
    courrier, suggestion = letter(RECOURS)
    page = as_user(world.secretary).get(_detail(courrier)).content.decode()
    assert 'id="suggestions-title">Suggestions</h2>' in page
    assert "Accepter les suggestions" in page
    assert "Délai légal" in page and "rejet implicite" in page
    assert '<span class="badge late">Urgent</span>' in page
    assert suggestion.service.name in page and "D'après les règles" in page
    for choice in suggestion.service_choices[1:]:
        assert f"Accepter avec le service {choice['name']}" in page


def test_one_click_accept_from_the_page(world, letter, as_user):
    courrier, suggestion = letter(RECOURS)
    response = as_user(world.secretary).post(_accept(courrier))
    assert response.status_code == 302 and response["Location"] == _detail(courrier)
    courrier.refresh_from_db()
    assert courrier.service == suggestion.service and courrier.due_date == suggestion.deadline_date
    assert Suggestion.objects.get(pk=suggestion.pk).state == Suggestion.State.ACCEPTED
    page = as_user(world.secretary).get(_detail(courrier)).content.decode()
    assert "Acceptées" in page and "Accepter les suggestions" not in page


def test_picking_the_second_service_from_the_page(world, letter, as_user):
    add_commune_services(world.commune)
    courrier, suggestion = letter(
        "Objet : décès\nSuite au décès de mon père, je souhaite une copie de l'acte de décès et une concession."
    )
    second = suggestion.service_choices[1]["id"]
    as_user(world.secretary).post(_accept(courrier), {"service": second})
    courrier.refresh_from_db()
    assert courrier.service_id == second
    assert Suggestion.objects.get(pk=suggestion.pk).state == Suggestion.State.CORRECTED


def test_who_cannot_edit_sees_no_box_and_cannot_accept(world, letter, as_user):
    courrier, _ = letter(RECOURS)
    client = as_user(world.mayor)  # an élu reads the register but does not edit it
    assert "suggestions-title" not in client.get(_detail(courrier)).content.decode()
    assert client.post(_accept(courrier)).status_code == 403
    courrier.refresh_from_db()
    assert courrier.service is None


def test_agent_of_another_commune_gets_404(world, letter, as_user):
    courrier, _ = letter(RECOURS)
    client = as_user(world.other_agent)
    assert client.post(_accept(courrier)).status_code == 404
    url = reverse("routing:duplicate", kwargs={"slug": courrier.organisation.slug, "chrono": courrier.chrono})
    assert client.post(url, {"target": courrier.pk}).status_code == 404
    # Through their own commune's URL, Saint-Aubin's chrono does not exist.
    own = reverse("routing:accept", kwargs={"slug": world.other_commune.slug, "chrono": courrier.chrono})
    assert client.post(own).status_code == 404
    courrier.refresh_from_db()
    assert courrier.service is None


def test_duplicate_buttons_link_and_close(world, as_user):
    first, _ = courrier_with_document(
        organisation=world.commune, actor=world.secretary, text="Même lettre deux fois"
    )
    second, _ = courrier_with_document(
        organisation=world.commune, actor=world.secretary, text="Même lettre deux fois"
    )
    from mairie.routing.services import suggest_for_courrier

    suggest_for_courrier(second.pk)
    client = as_user(world.secretary)
    page = client.get(_detail(second)).content.decode()
    assert f"Lier à {first.chrono} et classer ce courrier" in page and "même fichier" in page
    url = reverse("routing:duplicate", kwargs={"slug": "saint-aubin", "chrono": second.chrono})
    assert client.post(url, {"target": first.pk, "action": "classer"}).status_code == 302
    second.refresh_from_db()
    assert second.status == Status.CLASSE
    assert CourrierLink.objects.filter(source=second, target=first).exists()
    page = client.get(_detail(second)).content.decode()
    assert "(déjà lié)" in page and f"Lier à {first.chrono}" not in page


def test_inbox_shows_deadline_and_urgent_badges_without_extra_queries(world, letter, as_user):
    client = as_user(world.secretary)
    url = reverse("courrier:inbox", kwargs={"slug": "saint-aubin"}) + "?onglet=a_enregistrer"
    courrier, _ = letter(RECOURS)
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        page = client.get(url).content.decode()
    row = re.search(rf"{courrier.chrono}.*?</tr>", page, re.S).group(0)  # type: ignore[union-attr]
    assert "délai légal" in row and ">urgent</span>" in row
    for _ in range(3):
        letter("Objet : salle\nJe souhaite réserver la salle des fêtes.")
    with CaptureQueriesContext(connection) as four:
        page = client.get(url).content.decode()
    assert page.count("délai légal") == 1
    assert len(four) == len(one)


def test_counter_courrier_without_documents_gets_suggestions_on_its_page(world, as_user):
    from django_tasks_db.models import DBTaskResult

    from mairie.courrier.services import register_courrier

    courrier = register_courrier(
        organisation=world.commune,
        actor=world.secretary,
        channel="counter",
        subject="Demande de copie intégrale d'acte de naissance",
    )
    # Registering at the counter stays a few statements: no job (benchmark B6).
    assert not DBTaskResult.objects.exists()
    client = as_user(world.secretary)
    page = client.get(_detail(courrier)).content.decode()
    assert "Accepter les suggestions" in page and "État civil" in page
    assert not Suggestion.objects.exists()  # shown, not stored, by a page view
    assert client.post(_accept(courrier)).status_code == 302
    courrier.refresh_from_db()
    assert courrier.service == world.service("État civil") and courrier.kind == "request"
    assert Suggestion.objects.get(courrier=courrier).state == Suggestion.State.ACCEPTED
