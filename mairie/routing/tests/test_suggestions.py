"""Suggestions of a fresh organisation (rules), contacts, duplicates, one-click acceptance."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from mairie.audit.models import AuditEntry
from mairie.courrier.models import Contact, Courrier, CourrierLink, Status
from mairie.courrier.services import find_or_create_contact, update_courrier
from mairie.documents.models import Document
from mairie.routing.corpus import ocr_noise
from mairie.routing.models import Suggestion
from mairie.routing.services import accept_suggestions, link_duplicate, suggest_for_courrier
from mairie.routing.tests.conftest import add_commune_services
from mairie.testing.factories import courrier_with_document

pytestmark = pytest.mark.django_db

CLEAR_LETTERS = {
    "État civil": "Objet : copie d'acte\nJe vous prie de m'adresser une copie intégrale de mon acte de naissance "
    "et de mettre à jour mon livret de famille.",
    "Urbanisme": "Objet : projet\nVeuillez trouver ci-joint mon dossier de permis de construire pour la parcelle "
    "cadastrée AB 12, conforme au plan local d'urbanisme.",
    "Services techniques": "Objet : signalement\nLes branches des platanes touchent les fils : un élagage "
    "s'impose, et le trottoir est défoncé par les racines.",
    "Affaires scolaires": "Objet : rentrée\nJe souhaite inscrire mon fils à l'école et à la cantine, ainsi qu'à "
    "la garderie périscolaire du matin.",
    "Finances": "Objet : facture n° 118\nVeuillez trouver notre facture d'un montant de 1 250 euros, à régler "
    "par virement au Trésor public.",
    "Cimetière": "Objet : concession\nJe souhaite acheter une concession au cimetière pour y construire un caveau.",
    "Élections": "Objet : vote\nJe souhaite m'inscrire sur la liste électorale et connaître mon bureau de vote.",
}


def test_rules_of_a_fresh_organisation_pick_the_right_service_on_clear_letters(world, letter):
    add_commune_services(world.commune)
    for expected, text in CLEAR_LETTERS.items():
        _, suggestion = letter(text)
        assert suggestion.source == Suggestion.Source.RULES
        assert suggestion.service is not None and suggestion.service.name == expected, (
            expected,
            suggestion.service_choices,
        )
        assert len(suggestion.service_choices) <= 3
        scores = [c["score"] for c in suggestion.service_choices]
        assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1


def test_rules_fall_back_to_the_services_a_small_commune_has(world, letter):
    # Saint-Aubin only has the four default services: the cemetery goes to État civil, a bill to the secretariat.
    _, cemetery = letter(CLEAR_LETTERS["Cimetière"])
    assert cemetery.service.name == "État civil"
    _, bill = letter(CLEAR_LETTERS["Finances"])
    assert bill.service.name == "Accueil et secrétariat"
    assert bill.kind == "invoice"


@pytest.mark.django_db(transaction=True)  # the worker closes its connection between jobs
def test_registration_and_reading_compute_suggestions_through_jobs(world, run_jobs, make_file, text_pdf):
    from mairie.courrier.services import IncomingFile, register_courrier

    path = make_file(
        "recours.pdf",
        text_pdf(
            "Objet : recours gracieux\nPar la présente, je forme un recours gracieux contre l'arrêté de voirie "
            "du 3 février, qui interdit l'accès à ma propriété. Je vous demande de le retirer."
        ),
    )
    received = timezone.make_aware(dt.datetime(2026, 3, 10, 9, 0))
    courrier = register_courrier(
        organisation=world.commune,
        actor=world.secretary,
        files=[IncomingFile(path, "recours.pdf")],
        received_at=received,
    )
    run_jobs()
    suggestion = Suggestion.objects.get(courrier=courrier)
    assert suggestion.with_text
    assert suggestion.deadline_kind == "recours_gracieux"
    assert suggestion.deadline_date == dt.date(2026, 5, 10) == suggestion.due_date
    assert suggestion.kind == "complaint"
    assert AuditEntry.objects.filter(action="routing.suggested", object_id=str(courrier.pk)).exists()
    # Running the job again changes nothing and journals nothing new.
    entries = AuditEntry.objects.count()
    assert suggest_for_courrier(courrier.pk) == "suggested"
    assert AuditEntry.objects.count() == entries


def test_ordinary_letter_gets_a_default_due_date_and_no_flag(world, letter):
    courrier, suggestion = letter(
        "Objet : salle des fêtes\nJe souhaite réserver la salle des fêtes le samedi 20 juin pour un repas de famille."
    )
    received = timezone.localtime(courrier.received_at).date()
    assert not suggestion.deadline_kind and not suggestion.urgent
    assert suggestion.kind == "request"
    assert suggestion.due_date == received + dt.timedelta(days=30)
    assert suggestion.service.name == "Accueil et secrétariat"


def test_contact_is_found_by_email_then_by_name_and_address(world, letter):
    by_mail = find_or_create_contact(
        organisation=world.commune, name="Paul Durand", email="paul.durand@example.fr"
    )
    _, suggestion = letter("Paul Durand\nObjet : question\nRépondez-moi à paul.durand@example.fr, merci.")
    assert suggestion.contact == by_mail and suggestion.contact_reason == "même adresse électronique"

    known = find_or_create_contact(
        organisation=world.commune,
        name="Élodie Mercier",
        address_line1="4 rue de l'Église",
        postal_code="34980",
        city="Saint-Aubin-les-Vignes",
    )
    text = (
        "ÉLODIE MERCIER\n4 rue de l'Eglise\n34980 Saint-Aubin-les-Vignes\n\nMadame le Maire\nMairie de "
        "Saint-Aubin-les-Vignes\n34980 Saint-Aubin-les-Vignes\n\nObjet : cantine\nJe souhaite inscrire ma fille."
    )
    _, suggestion = letter(text)
    assert suggestion.contact == known and suggestion.contact_reason == "même nom et même adresse"

    _, unknown = letter(text.replace("ÉLODIE MERCIER", "Jules Faure").replace("4 rue", "9 impasse"))
    assert unknown.contact is None
    assert unknown.new_contact == {
        "name": "Jules Faure",
        "address_line1": "9 impasse de l'Eglise",
        "postal_code": "34980",
        "city": "Saint-Aubin-les-Vignes",
    }


def test_same_file_registered_twice_is_a_duplicate_even_before_its_text_is_read(world):
    first, _ = courrier_with_document(
        organisation=world.commune, actor=world.secretary, text="Facture 42 de la SARL Dupont"
    )
    second, _ = courrier_with_document(
        organisation=world.commune, actor=world.secretary, text="Facture 42 de la SARL Dupont", process=False
    )
    assert Document.objects.get(courrier=first).sha256 == Document.objects.get(courrier=second).sha256
    assert suggest_for_courrier(second.pk) == "suggested"
    suggestion = Suggestion.objects.get(courrier=second)
    assert not suggestion.with_text
    assert suggestion.duplicates == [
        {"id": first.pk, "chrono": first.chrono, "reason": "même fichier", "similarity": 1.0}
    ]
    # The same file in another commune is not a duplicate there.
    other, _ = courrier_with_document(
        organisation=world.other_commune,
        actor=world.other_agent,
        text="Facture 42 de la SARL Dupont",
        process=False,
    )
    suggest_for_courrier(other.pk)
    assert Suggestion.objects.get(courrier=other).duplicates == []


LETTER = (
    "Madame le Maire, depuis plusieurs semaines les lampadaires de la rue du Château d'eau restent éteints toute "
    "la nuit. Les enfants qui attendent le car scolaire le matin marchent dans l'obscurité complète et les "
    "automobilistes ne les voient pas. Plusieurs voisins se joignent à cette réclamation et nous avons déjà "
    "prévenu le syndicat d'énergie sans obtenir de réponse. Je vous remercie de faire intervenir les services "
    "techniques pour remplacer les ampoules et vérifier l'armoire électrique du quartier. Je vous prie d'agréer, "
    "Madame le Maire, l'expression de mes salutations distinguées. Bernard Chevalier, 7 rue du Château d'eau."
)


def test_same_letter_received_twice_with_different_ocr_noise_is_a_duplicate(world, letter):
    by_post, _ = letter(ocr_noise(LETTER, 1))
    letter(
        "Madame le Maire, je souhaite réserver la salle des fêtes pour le repas annuel de notre association des "
        "anciens combattants, le samedi 14 novembre, avec une soixantaine de convives, tables et chaises comprises. "
        "Nous nous engageons à respecter le règlement intérieur et à rendre la salle propre."
    )
    _, suggestion = letter(ocr_noise(LETTER, 2))
    assert [d["id"] for d in suggestion.duplicates] == [by_post.pk]
    assert suggestion.duplicates[0]["reason"] == "texte quasi identique"
    assert suggestion.duplicates[0]["similarity"] >= 0.8
    # A different letter on the same subject is not a duplicate.
    _, other = letter(
        "Madame le Maire, l'éclairage public de l'impasse des Lilas ne fonctionne plus depuis l'orage de mardi. "
        "Pourriez-vous envoyer un électricien pour vérifier les lampadaires ? Nous vous remercions par avance "
        "de votre intervention rapide auprès du syndicat d'énergie et des services techniques de la commune."
    )
    assert by_post.pk not in [d["id"] for d in other.duplicates]


def test_one_click_accept_applies_everything_and_journals(world, letter):
    contact = find_or_create_contact(
        organisation=world.commune, name="Paul Durand", email="paul.durand@example.fr"
    )
    courrier, suggestion = letter(
        "Objet : déclaration préalable\nJe dépose une déclaration préalable pour une clôture sur la parcelle AB 12. "
        "Contact : paul.durand@example.fr"
    )
    assert suggestion.service.name == "Urbanisme"
    membership = world.membership(world.secretary)
    updated = accept_suggestions(membership=membership, courrier=courrier)
    assert updated.service == suggestion.service
    assert updated.contact == contact
    assert updated.due_date == suggestion.deadline_date
    assert updated.kind == suggestion.kind == "request"
    suggestion.refresh_from_db()
    assert suggestion.state == Suggestion.State.ACCEPTED and suggestion.decided_by == world.secretary
    actions = set(AuditEntry.objects.filter(object_id=str(courrier.pk)).values_list("action", flat=True))
    assert {"courrier.updated", "routing.accepted"} <= actions
    # Decided: a later job does not overwrite it.
    assert suggest_for_courrier(courrier.pk) == "decided"


def test_picking_another_of_the_three_services_is_a_correction(world, letter):
    add_commune_services(world.commune)
    courrier, suggestion = letter(
        "Objet : décès\nSuite au décès de mon père, je souhaite une copie de l'acte de décès et acquérir une "
        "concession au cimetière."
    )
    second = suggestion.service_choices[1]
    accept_suggestions(
        membership=world.membership(world.secretary), courrier=courrier, service_id=second["id"]
    )
    courrier.refresh_from_db()
    suggestion.refresh_from_db()
    assert courrier.service_id == second["id"]
    assert suggestion.state == Suggestion.State.CORRECTED
    with pytest.raises(ValidationError):
        accept_suggestions(
            membership=world.membership(world.secretary),
            courrier=courrier,
            service_id=world.service("Urbanisme").pk + 10_000,
        )


def test_correcting_the_service_in_the_edit_form_is_recorded(world, letter):
    courrier, suggestion = letter(
        "Objet : élagage\nLes platanes de la place doivent être élagués avant l'hiver."
    )
    assert suggestion.service.name == "Services techniques"
    update_courrier(
        membership=world.membership(world.secretary), courrier=courrier, service=world.service("Urbanisme")
    )
    suggestion.refresh_from_db()
    assert suggestion.state == Suggestion.State.CORRECTED and suggestion.decided_by == world.secretary


def test_duplicate_is_linked_and_closed(world):
    first, _ = courrier_with_document(organisation=world.commune, actor=world.secretary, text="Même lettre")
    second, _ = courrier_with_document(
        organisation=world.commune, actor=world.secretary, text="Même lettre", subject="Doublon"
    )
    suggest_for_courrier(second.pk)
    closed = link_duplicate(
        membership=world.membership(world.secretary), courrier=second, target_id=first.pk, close=True
    )
    assert closed.status == Status.CLASSE
    assert CourrierLink.objects.filter(source=second, target=first, kind="related").exists()
    with pytest.raises(ValidationError):  # only a suggested duplicate
        link_duplicate(membership=world.membership(world.secretary), courrier=first, target_id=second.pk)


def test_outgoing_courriers_get_no_suggestion(world):
    courrier, _ = courrier_with_document(
        organisation=world.commune, actor=world.secretary, direction="depart"
    )
    assert suggest_for_courrier(courrier.pk) == "skipped"
    assert not Suggestion.objects.filter(courrier=courrier).exists()
    assert Courrier.objects.filter(pk=courrier.pk).exists() and not Contact.objects.exists()


def test_a_late_job_without_the_text_never_overwrites_suggestions_made_with_it(world, letter):
    courrier, suggestion = letter("Objet : recours gracieux\nJe forme un recours gracieux contre l'arrêté.")
    assert suggestion.with_text and suggestion.deadline_kind == "recours_gracieux"
    # As the registration's job sees it when it runs after the reading's (documents not read yet):
    Document.objects.filter(courrier=courrier).update(status=Document.Status.PENDING)
    assert suggest_for_courrier(courrier.pk) == "outdated"
    suggestion.refresh_from_db()
    assert suggestion.with_text and suggestion.deadline_kind == "recours_gracieux"


def test_contact_saved_with_a_typographic_apostrophe_matches_a_letter_with_a_plain_one(world) -> None:
    from mairie.courrier.services import find_or_create_contact
    from mairie.routing.contacts import match_contact

    known = find_or_create_contact(organisation=world.commune, name="Jeanne L’Hôte")
    letter = (
        "Jeanne L'Hôte\n12 rue des Écoles\n34980 Saint-Aubin-les-Vignes\n\nMadame le Maire,\nJe vous écris."
    )
    assert match_contact(world.commune, letter).contact == known
