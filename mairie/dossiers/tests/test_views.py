"""The dossier pages: lists, one dossier, the forms on it; shared and unshared dossiers seen from each side."""

from __future__ import annotations

from html import unescape

import pytest
from django.test import Client
from django.urls import reverse

from mairie.dossiers import services
from mairie.dossiers.engine import apply_transition
from mairie.dossiers.models import DossierFile, DossierShare, Opinion, Task
from mairie.testing.factories import text_pdf_bytes
from mairie.testing.personas import login
from mairie.workflows.services import save_definition

from .test_collaboration import HANDOVER

pytestmark = pytest.mark.django_db


def _client(user):
    return login(Client(), user)


def _url(name, org, dossier, **extra):
    return reverse(f"dossiers:{name}", kwargs={"slug": org.slug, "dossier_id": dossier.pk, **extra})


def test_one_click_dossier_from_the_courrier_page(world, simple_workflow, incoming):
    client = _client(world.secretary)
    page = client.get(reverse("courrier:detail", kwargs={"slug": "saint-aubin", "chrono": incoming.chrono}))
    assert "Créer un dossier à partir de ce courrier" in unescape(page.content.decode())
    url = reverse("dossiers:from_courrier", kwargs={"slug": "saint-aubin", "chrono": incoming.chrono})
    first = client.post(url, {"workflow": simple_workflow.pk})
    second = client.post(url, {"workflow": simple_workflow.pk})  # double click
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    page = client.get(first["Location"])
    html = unescape(page.content.decode())
    assert page.status_code == 200
    assert "Demande d'abattage d'un platane dangereux" in html
    assert incoming.chrono in html and "Reçue" in html
    assert "Instruire" in html  # the button of the transition the secretary may apply
    page = client.get(reverse("courrier:detail", kwargs={"slug": "saint-aubin", "chrono": incoming.chrono}))
    assert "Classé au dossier" in unescape(page.content.decode())


def test_transition_task_opinion_and_comment_through_the_pages(world, simple_workflow):
    dossier = services.create_dossier(
        organisation=world.commune, actor=world.secretary, subject="Banc cassé", workflow=simple_workflow
    )
    secretary, agent = _client(world.secretary), _client(world.agent)
    refused = agent.post(_url("transition", world.commune, dossier), {"transition": "instruire"}, follow=True)
    assert "Votre rôle ne permet pas « Instruire »" in unescape(refused.content.decode())
    secretary.post(
        _url("transition", world.commune, dossier), {"transition": "instruire", "comment": "Urgent"}
    )
    dossier.refresh_from_db()
    assert dossier.status == "instruction"
    task = Task.objects.get(dossier=dossier)
    page = agent.get(reverse("dossiers:tasks", kwargs={"slug": "saint-aubin"}))
    assert "Étudier la demande" in unescape(page.content.decode())  # a task of his service, in his list
    agent.post(_url("task_done", world.commune, dossier, task_id=task.pk), {"comment": "Banc remplacé"})
    task.refresh_from_db()
    assert task.status == Task.Status.DONE and task.done_by == world.agent
    secretary.post(
        _url("opinion_request", world.commune, dossier),
        {"target": [f"s{world.service('Services techniques').pk}"], "delay_days": "10", "question": "Coût ?"},
    )
    opinion = Opinion.objects.get(dossier=dossier)
    response = agent.post(
        _url("opinion", world.commune, dossier, opinion_id=opinion.pk),
        {"verdict": "defavorable", "text": ""},
        follow=True,
    )
    assert "Motivez un avis défavorable" in unescape(response.content.decode())
    agent.post(
        _url("opinion", world.commune, dossier, opinion_id=opinion.pk), {"verdict": "favorable", "text": "OK"}
    )
    opinion.refresh_from_db()
    assert opinion.status == Opinion.Status.GIVEN
    secretary.post(_url("comment", world.commune, dossier), {"text": "Appeler M. Martin"})
    html = unescape(secretary.get(_url("detail", world.commune, dossier)).content.decode())
    for text in (
        "Instruire : Reçue → En instruction",
        "Urgent",
        "Banc remplacé",
        "Avis favorable rendu",
        "Appeler M. Martin",
    ):
        assert text in html


def test_files_checked_by_content_and_documents_generated_from_templates(world, simple_workflow):
    dossier = services.create_dossier(
        organisation=world.commune, actor=world.secretary, subject="Banc cassé", workflow=simple_workflow
    )
    client = _client(world.secretary)
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        _url("file_add", world.commune, dossier),
        {
            "file": SimpleUploadedFile(
                "devis.pdf", b"MZ\x90\x00 not a pdf at all", content_type="application/pdf"
            )
        },
        follow=True,
    )
    assert "n'est pas accepté" in unescape(response.content.decode())
    assert not DossierFile.objects.exists()
    client.post(
        _url("file_add", world.commune, dossier),
        {
            "file": SimpleUploadedFile(
                "devis.pdf", text_pdf_bytes("Devis banc 450 euros"), content_type="application/pdf"
            ),
            "title": "Devis",
        },
    )
    item = DossierFile.objects.get()
    download = client.get(_url("file", world.commune, dossier, file_id=item.pk))
    assert download.status_code == 200 and download.content.startswith(b"%PDF")
    from mairie.letters.services import templates_for

    template = templates_for(world.commune).first()
    preview = client.get(_url("generate", world.commune, dossier), {"template": template.pk})
    assert preview["Content-Type"] == "application/pdf" and preview.content.startswith(b"%PDF")
    assert DossierFile.objects.count() == 1  # a preview stores nothing
    client.post(_url("generate", world.commune, dossier), {"template": template.pk, "title": "Réponse"})
    generated = DossierFile.objects.get(kind=DossierFile.Kind.GENERATED)
    assert generated.title == "Réponse" and generated.mime_type == "application/pdf"
    assert dossier.events.filter(kind="file.generated").exists()


def test_shared_and_unshared_dossiers_on_every_dossier_url(world, epci_agent):
    """The EPCI sees exactly what is shared with it, the other commune nothing; both by every dossier URL."""
    workflow = save_definition(organisation=world.commune, actor=None, data=HANDOVER)
    shared = services.create_dossier(
        organisation=world.commune, actor=world.secretary, subject="Permis AB 12", workflow=workflow
    )
    unshared = services.create_dossier(
        organisation=world.commune, actor=world.secretary, subject="Secret", workflow=workflow
    )
    for d in (shared, unshared):
        services.request_opinions(
            dossier=d, targets=[{"service": "Services techniques"}], actor=world.secretary, delay_days=5
        )
    # The unshared one is shared with someone else (the syndicat): still nothing for the EPCI.
    services.share_dossier(
        dossier=unshared, organisation=world.syndicat, purpose="view", actor=world.secretary
    )
    apply_transition(dossier=shared, transition="transmettre", actor=world.secretary)
    epci, other = _client(epci_agent), _client(world.other_agent)
    listing = epci.get(
        reverse("dossiers:list", kwargs={"slug": "cc-grand-pic"}), {"vue": "partages"}
    ).content.decode()
    assert "Permis AB 12" in listing and "Secret" not in listing
    assert epci.get(_url("detail", world.epci, shared)).status_code == 200
    # The EPCI acts in its own context (its button, its organisation in the timeline).
    assert "Instruction terminée" in epci.get(_url("detail", world.epci, shared)).content.decode()
    epci.post(_url("transition", world.epci, shared), {"transition": "instruire"})
    shared.refresh_from_db()
    assert shared.status == "instruit"
    for d in (shared, unshared):
        task = d.tasks.filter(organisation=world.commune).first()
        opinion = d.opinions.first()
        share = d.shares.first()
        urls = [
            _url("detail", world.epci, d),
            _url("diagram", world.epci, d),
            _url("transition", world.epci, d),
            _url("comment", world.epci, d),
            _url("task_add", world.epci, d),
            _url("task_done", world.epci, d, task_id=task.pk),
            _url("opinion", world.epci, d, opinion_id=opinion.pk),
            _url("opinion_request", world.epci, d),
            _url("file_add", world.epci, d),
            _url("generate", world.epci, d),
            _url("share", world.epci, d),
            _url("share_end", world.epci, d, share_id=share.pk),
            _url("hand_back", world.epci, d),
        ]
        for url in urls:
            for client, slug in ((epci, "cc-grand-pic"), (other, "villeneuve")):
                url_here = url.replace("/o/cc-grand-pic/", f"/o/{slug}/")
                get, post = client.get(url_here), client.post(url_here)
                if d is unshared or slug == "villeneuve":
                    assert get.status_code in (404, 405) and post.status_code == 404, (
                        url_here,
                        get.status_code,
                        post.status_code,
                    )
                elif any(
                    part in url_here for part in ("/generer/", "/partage/", "/taches/", "/avis/")
                ) and not (url_here.endswith("/taches/") or url_here.endswith("/avis/")):
                    # The owner's own tools (generating, sharing) and the commune's own tasks and opinions.
                    assert post.status_code == 404, url_here
                else:
                    assert get.status_code != 404 and post.status_code != 404, url_here
    # The last URL walked for the shared dossier was « Rendre le dossier », posted by the EPCI: it is back.
    shared.refresh_from_db()
    assert shared.holder == world.commune
    assert DossierShare.objects.get(dossier=shared, organisation=world.epci).ended_at is not None
    assert epci.get(_url("detail", world.epci, shared)).status_code == 404
    html = unescape(_client(world.secretary).get(_url("detail", world.commune, shared)).content.decode())
    assert "Communauté de communes du Grand Pic" in html and "Dossier rendu par" in html


def test_the_inbox_shows_my_tasks(world, simple_workflow):
    dossier = services.create_dossier(
        organisation=world.commune, actor=world.secretary, subject="Banc cassé", workflow=simple_workflow
    )
    apply_transition(dossier=dossier, transition="instruire", actor=world.secretary)
    agent_inbox = unescape(_client(world.agent).get("/o/saint-aubin/").content.decode())
    assert "Mes tâches sur les dossiers" in agent_inbox and "Étudier la demande" in agent_inbox
    other_inbox = unescape(_client(world.other_agent).get("/o/villeneuve/").content.decode())
    assert "Étudier la demande" not in other_inbox


def test_agents_fill_the_data_the_conditions_read(world, simple_workflow):
    dossier = services.create_dossier(
        organisation=world.commune, actor=world.secretary, subject="Voirie", workflow=simple_workflow
    )
    apply_transition(dossier=dossier, transition="instruire", actor=world.secretary)
    client = _client(world.agent)
    page = unescape(client.get(_url("detail", world.commune, dossier)).content.decode())
    assert "montant" in page and "(utilisé par le circuit)" in page
    assert 'name="transition" value="gros"' not in page  # the condition data.montant > 5000 does not hold yet
    client.post(
        _url("data", world.commune, dossier), {"name": ["montant", "urgent"], "value": ["12 500", "oui"]}
    )
    dossier.refresh_from_db()
    assert dossier.data == {"montant": 12500, "urgent": True}
    page = unescape(client.get(_url("detail", world.commune, dossier)).content.decode())
    assert "Données du dossier : montant = 12500, urgent = oui." in page
    client.post(_url("transition", world.commune, dossier), {"transition": "gros"})
    dossier.refresh_from_db()
    assert dossier.status == "gros_travaux"
    # Another commune cannot write it.
    assert (
        _client(world.other_agent)
        .post(
            _url("data", world.commune, dossier).replace("saint-aubin", "villeneuve"),
            {"name": "montant", "value": "1"},
        )
        .status_code
        == 404
    )


def test_a_dossier_by_hand_with_its_usager(world, simple_workflow):
    client = _client(world.secretary)
    url = reverse("dossiers:create", kwargs={"slug": "saint-aubin"})
    bad = client.post(
        url,
        {"subject": "Salle des fêtes", "workflow": simple_workflow.pk, "contact_email": "pas-une-adresse"},
    )
    assert bad.status_code == 400
    assert not services.visible_dossiers(world.commune).exists()
    response = client.post(
        url,
        {
            "subject": "Salle des fêtes",
            "workflow": simple_workflow.pk,
            "contact_name": "Jean Roux",
            "contact_email": "jean.roux@example.org",
        },
    )
    assert response.status_code == 302
    dossier = services.visible_dossiers(world.commune).get()
    assert dossier.contact.email == "jean.roux@example.org" and dossier.contact.organisation == world.commune


def test_documents_generated_from_an_html_template_carry_the_dossier_fields(world, simple_workflow, incoming):
    from mairie.dossiers.documents import generate
    from mairie.dossiers.files import read_file
    from mairie.letters.services import save_template
    from mairie.letters.tests.conftest import pdf_text

    dossier = services.create_from_courrier(
        membership=world.membership(world.secretary), courrier=incoming, workflow=simple_workflow
    )
    template = save_template(
        membership=world.membership(world.commune_admin),
        name="Arrêté (HTML)",
        subject_template="Arrêté — {{ dossier.reference }}",
        body_template="<h2>Article 1er</h2><p>Le dossier {{ dossier.reference }} ({{ dossier.objet }}) "
        "est à l'étape « {{ dossier.etape }} ».</p><ul><li>Pour {{ contact.prenom }} {{ contact.nom }}</li></ul>",
        body_format="html",
        css="h2 { text-transform: uppercase; }",
    )
    item = generate(dossier=dossier, template=template, actor=world.secretary)
    text = " ".join(pdf_text(read_file(item)).split())
    assert "ARTICLE 1ER" in text
    assert (
        f"Le dossier {dossier.reference} (Demande d'abattage d'un platane dangereux) est à l'étape « Reçue »."
        in text
    )
    assert "Pour Lucie Martin" in text


def test_a_registered_courrier_is_filed_in_a_dossier_once(world, simple_workflow, incoming):
    dossier = services.create_dossier(
        organisation=world.commune, actor=world.secretary, subject="Platane", workflow=simple_workflow
    )
    client = _client(world.secretary)
    url = _url("courrier_add", world.commune, dossier)
    unknown = unescape(client.post(url, {"chrono": "2026-A-999999"}, follow=True).content.decode())
    assert "Aucun courrier n° « 2026-A-999999 »" in unknown
    client.post(url, {"chrono": incoming.chrono.lower()})
    assert dossier.courrier_links.get().courrier == incoming
    again = unescape(client.post(url, {"chrono": incoming.chrono}, follow=True).content.decode())
    assert f"Le courrier {incoming.chrono} est déjà classé dans un dossier." in again
    # Villeneuve cannot file into Saint-Aubin's dossier, nor reach Saint-Aubin's courrier from its own.
    assert (
        _client(world.other_agent)
        .post(url.replace("saint-aubin", "villeneuve"), {"chrono": incoming.chrono})
        .status_code
        == 404
    )
