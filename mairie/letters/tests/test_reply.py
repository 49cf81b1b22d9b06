"""Replying to a courrier through the agent's pages, down to the e-mail the SMTP server receives."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from mairie.audit.models import AuditEntry
from mairie.core.models import OutgoingMail
from mairie.courrier.models import Channel, Courrier, CourrierLink, Direction, IntakeKey, Status
from mairie.courrier.services import find_or_create_contact
from mairie.documents.models import Document
from mairie.letters.models import LetterTemplate, Reply
from mairie.organisations.models import Role
from mairie.organisations.services import add_member
from mairie.testing.factories import courrier_with_document
from mairie.testing.personas import PASSWORD

from .conftest import pdf_text

MESSAGE_ID = "<CAF-42.1234@mail.example.org>"


@pytest.fixture
def incoming(world):
    contact = find_or_create_contact(
        organisation=world.commune,
        name="Dupont",
        first_name="Jeanne",
        email="jeanne.dupont@example.org",
        address_line1="3 chemin des Vignes",
        postal_code="34980",
        city="Saint-Aubin-les-Vignes",
    )
    courrier, _ = courrier_with_document(
        organisation=world.commune,
        actor=world.secretary,
        text="Bonjour, je souhaite un acte de naissance.",
        subject="Demande d'acte de naissance",
        contact=contact,
        channel=Channel.EMAIL,
        received_at=timezone.now() - dt.timedelta(days=2),
        process=False,
    )
    # What the e-mail intake records for a courrier that came by e-mail.
    IntakeKey.objects.create(
        organisation=world.commune, source="message-id", key=MESSAGE_ID, courrier=courrier
    )
    return courrier


def _url(courrier, name="letters:reply"):
    return reverse(name, kwargs={"slug": courrier.organisation.slug, "chrono": courrier.chrono})


def _form(response) -> dict[str, str]:
    """The reply form's fields as the browser would post them."""
    form = response.context["form"]
    data = {name: form[name].value() for name in ("subject", "body", "delivery", "recipient_email", "token")}
    data["template"] = form["template"].value() or ""
    return {k: "" if v is None else str(v) for k, v in data.items()}


def test_reply_form_is_prefilled_by_the_merge(world, incoming, as_user):
    client = as_user(world.secretary)
    response = client.get(_url(incoming))
    assert response.status_code == 200
    data = _form(response)
    assert data["subject"] == f"Votre courrier du {_long_date(incoming)} — Demande d'acte de naissance"
    assert data["body"].startswith("Madame, Monsieur,\n\nPar votre courrier reçu le ")
    assert incoming.chrono in data["body"]
    assert data["recipient_email"] == "jeanne.dupont@example.org"
    assert data["delivery"] == "email" and len(data["token"]) > 20
    html = response.content.decode()
    assert '<label for="id_subject">Objet' in html and 'name="token"' in html

    # Another template: its merge replaces subject and body, the rest stays.
    accuse = LetterTemplate.objects.get(organisation=world.commune, key="accuse-reception")
    response = client.post(
        _url(incoming), {**data, "template": accuse.pk, "action": "load", "recipient_email": "x@example.org"}
    )
    loaded = _form(response)
    assert loaded["subject"] == "Accusé de réception — Demande d'acte de naissance"
    assert "Nous accusons réception de votre courrier" in loaded["body"]
    assert loaded["recipient_email"] == "x@example.org" and loaded["token"] == data["token"]


def _long_date(courrier) -> str:
    from mairie.letters.merge import french_date

    return french_date(courrier.received_at)


def test_preview_is_the_letter_as_pdf(world, incoming, as_user):
    client = as_user(world.secretary)
    data = _form(client.get(_url(incoming)))
    response = client.post(_url(incoming), {**data, "action": "preview"})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    assert "Jeanne Dupont" in text and incoming.chrono in text
    assert not Courrier.objects.filter(direction=Direction.DEPART).exists()


@pytest.mark.django_db(transaction=True)
def test_reply_by_email_is_registered_linked_and_received_with_its_pdf(
    world, incoming, as_user, settings, smtp_server, run_jobs
):
    settings.SMTP_URL = f"smtp://127.0.0.1:{smtp_server.port}"
    client = as_user(world.secretary)
    data = _form(client.get(_url(incoming)))
    data["body"] = data["body"].replace("[Écrivez ici la réponse.]", "Votre acte de naissance est joint.")
    response = client.post(_url(incoming), {**data, "action": "send"})
    assert response.status_code == 302

    outgoing = Courrier.objects.get(organisation=world.commune, direction=Direction.DEPART)
    assert response["Location"] == _url(outgoing, "courrier:detail")
    assert re.fullmatch(r"\d{4}-D-000001", outgoing.chrono)
    assert outgoing.channel == Channel.EMAIL and outgoing.contact == incoming.contact
    assert outgoing.subject == data["subject"] and outgoing.status == Status.TRAITE
    assert CourrierLink.objects.filter(
        source=outgoing, target=incoming, kind=CourrierLink.Kind.REPLY_TO
    ).exists()
    [document] = Document.objects.filter(courrier=outgoing)
    assert (
        document.mime_type == "application/pdf" and document.original_name == f"reponse-{incoming.chrono}.pdf"
    )
    actions = set(AuditEntry.objects.filter(organisation=world.commune).values_list("action", flat=True))
    assert {"courrier.registered", "courrier.linked", "mail.queued", "letters.reply"} <= actions

    # The same form posted again (a double click, the browser's "resend"): still one reply.
    again = client.post(_url(incoming), {**data, "action": "send"})
    assert again.status_code == 302 and again["Location"] == response["Location"]
    assert Courrier.objects.filter(direction=Direction.DEPART).count() == 1
    assert Reply.objects.count() == 1 and OutgoingMail.objects.count() == 1

    run_jobs()
    [received] = smtp_server.received
    assert received.rcpt_tos == ["jeanne.dupont@example.org"]
    message = received.message
    assert message["Subject"] == data["subject"]
    assert message["In-Reply-To"] == MESSAGE_ID and message["References"] == MESSAGE_ID
    assert message["Reply-To"] == "mairie@saint-aubin.example"
    body = message.get_body(("plain",)).get_content()
    assert "Votre acte de naissance est joint." in body and outgoing.chrono in body
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == f"{outgoing.chrono}.pdf"
    text = pdf_text(attachment.get_content())
    assert (
        incoming.chrono in text and "Jeanne Dupont" in text and "Votre acte de naissance est joint." in text
    )
    document.refresh_from_db()
    assert document.status == "done" and incoming.chrono in document.text  # the letter is searchable

    # Both pages tell what happened.
    page = client.get(_url(incoming, "courrier:detail")).content.decode()
    assert outgoing.chrono in page and "Envoyé à jeanne.dupont@example.org le " in page
    page = client.get(_url(outgoing, "courrier:detail")).content.decode()
    assert "Envoyé à jeanne.dupont@example.org le " in page
    assert "Répondre</a>" not in page  # an outgoing courrier is not answered


def test_print_only_reply_registers_the_letter_without_mail(world, incoming, as_user):
    client = as_user(world.secretary)
    data = _form(client.get(_url(incoming)))
    response = client.post(
        _url(incoming), {**data, "delivery": "print", "recipient_email": "", "action": "send"}
    )
    assert response.status_code == 302
    outgoing = Courrier.objects.get(direction=Direction.DEPART)
    assert outgoing.channel == Channel.POST
    assert not OutgoingMail.objects.exists()
    page = client.get(_url(incoming, "courrier:detail")).content.decode()
    assert "Lettre à imprimer" in page


def test_email_reply_without_address_is_refused_next_to_the_field(world, incoming, as_user):
    client = as_user(world.secretary)
    data = _form(client.get(_url(incoming)))
    response = client.post(_url(incoming), {**data, "recipient_email": "", "action": "send"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Indiquez l&#x27;adresse électronique du destinataire" in html
    assert re.search(r'<input[^>]*name="recipient_email"[^>]*aria-invalid="true"', html)
    assert not Courrier.objects.filter(direction=Direction.DEPART).exists()


@pytest.mark.django_db(transaction=True)
def test_smtp_down_the_courrier_shows_the_pending_retry(
    world, incoming, as_user, settings, smtp_down, run_jobs
):
    settings.SMTP_URL = f"smtp://127.0.0.1:{smtp_down.port}"
    client = as_user(world.secretary)
    data = _form(client.get(_url(incoming)))
    client.post(_url(incoming), {**data, "action": "send"})
    run_jobs()
    outgoing = Courrier.objects.get(direction=Direction.DEPART)
    page = client.get(_url(outgoing, "courrier:detail")).content.decode()
    assert "Envoi en attente (nouvel essai à " in page and "ne répond pas (connexion refusée)" in page

    smtp_down.start()
    past = timezone.now() - dt.timedelta(seconds=1)
    OutgoingMail.objects.update(next_attempt_at=past)
    DBTaskResult.objects.filter(status="READY").update(run_after=past)
    run_jobs()
    assert len(smtp_down.received) == 1
    page = client.get(_url(outgoing, "courrier:detail")).content.decode()
    assert "Envoyé à jeanne.dupont@example.org" in page


@pytest.mark.django_db(transaction=True)
def test_without_smtp_url_the_reply_lands_in_the_outbox(
    world, incoming, as_user, settings, run_jobs, tmp_path
):
    from mairie.core.mailer import outbox_dir

    settings.SMTP_URL = ""
    settings.DATA_DIR = tmp_path
    client = as_user(world.secretary)
    data = _form(client.get(_url(incoming)))
    client.post(_url(incoming), {**data, "action": "send"})
    run_jobs()
    [eml] = list(outbox_dir().glob("*.eml"))
    assert eml.read_bytes() == OutgoingMail.objects.get().raw_bytes
    outgoing = Courrier.objects.get(direction=Direction.DEPART)
    page = client.get(_url(outgoing, "courrier:detail")).content.decode()
    assert "boîte d&#x27;envoi locale" in page


def test_who_may_reply(world, incoming, as_user, client):
    add_member(
        actor=None, organisation=world.commune, username="lecteur", roles=[Role.LECTURE], password=PASSWORD
    )
    reader = get_user_model().objects.get(username="lecteur")
    for user in (reader, world.mayor):  # read-only, élu: no courrier.edit
        as_user(user)
        assert client.get(_url(incoming)).status_code == 403
        assert client.post(_url(incoming), {"action": "send"}).status_code == 403
        assert "Répondre</a>" not in client.get(_url(incoming, "courrier:detail")).content.decode()
    # An agent of another service than the courrier's cannot edit it, hence not reply.
    incoming.service = world.service("Accueil et secrétariat")
    incoming.save(update_fields=["service"])
    as_user(world.agent)
    assert client.get(_url(incoming)).status_code == 403
    as_user(world.other_agent)
    assert client.get(_url(incoming)).status_code == 404
    as_user(world.secretary)
    assert "Répondre</a>" in client.get(_url(incoming, "courrier:detail")).content.decode()
    assert not Courrier.objects.filter(direction=Direction.DEPART).exists()


def test_an_outgoing_courrier_has_no_reply_page(world, as_user):
    outgoing, _ = courrier_with_document(
        organisation=world.commune,
        actor=world.secretary,
        direction=Direction.DEPART,
        subject="Envoi",
        process=False,
    )
    assert as_user(world.secretary).get(_url(outgoing)).status_code == 404


# --- Template pages -------------------------------------------------------------------------------------


def test_administrator_manages_templates(world, as_user, client):
    slug = world.commune.slug
    as_user(world.commune_admin)
    page = client.get(reverse("letters:templates", kwargs={"slug": slug}))
    assert page.status_code == 200
    assert "Accusé de réception" in page.content.decode() and "Réponse simple" in page.content.decode()

    add_url = reverse("letters:template_add", kwargs={"slug": slug})
    bad = {
        "name": "Refus",
        "subject_template": "Refus",
        "body_template": "Bonjour {{ contact.age }}",
        "is_active": "on",
    }
    response = client.post(add_url, {**bad, "action": "save"})
    assert response.status_code == 400
    assert (
        "Champ inconnu : {{ contact.age }}. Champs disponibles : {{ contact.civilite_complete }}"
        in response.content.decode()
    )
    assert not LetterTemplate.objects.filter(name="Refus").exists()

    good = {**bad, "body_template": "{{ contact.civilite_complete }},\n\nNous ne pouvons donner suite."}
    preview = client.post(add_url, {**good, "action": "preview"})
    assert preview["Content-Type"] == "application/pdf"
    assert "Nous ne pouvons donner suite." in pdf_text(preview.content)
    assert client.post(add_url, {**good, "action": "save"}).status_code == 302
    template = LetterTemplate.objects.get(organisation=world.commune, name="Refus")

    edit_url = reverse("letters:template_edit", kwargs={"slug": slug, "template_id": template.pk})
    assert "Nous ne pouvons donner suite." in client.get(edit_url).content.decode()
    assert client.post(edit_url, {**good, "name": "Refus motivé", "action": "save"}).status_code == 302
    template.refresh_from_db()
    assert template.name == "Refus motivé" and template.is_active
    preview_url = reverse("letters:template_preview", kwargs={"slug": slug, "template_id": template.pk})
    assert "Jeanne Exemple" in pdf_text(client.get(preview_url).content)
    assert AuditEntry.objects.filter(organisation=world.commune, action="letters.template.saved").count() == 2

    as_user(world.secretary)  # not an administrator
    assert client.get(reverse("letters:templates", kwargs={"slug": slug})).status_code == 403
    assert client.post(edit_url, {**good, "action": "save"}).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_the_same_form_posted_at_the_same_moment_gives_one_reply(world, incoming, settings, tmp_path):
    """Three posts of one form race (three web processes): one reply, one number, one e-mail."""
    import threading

    from django.db import connection

    from mairie.courrier.models import ChronoCounter
    from mairie.letters import services
    from mairie.organisations.models import Membership

    settings.SMTP_URL = ""
    token = services.new_reply_token()
    barrier = threading.Barrier(3)
    results: list[int] = []
    errors: list[BaseException] = []

    def post() -> None:
        try:
            membership = Membership.objects.select_related("organisation", "user").get(
                user=world.secretary, organisation=world.commune
            )
            courrier = Courrier.objects.select_related("contact", "organisation").get(pk=incoming.pk)
            barrier.wait(timeout=30)
            reply = services.send_reply(
                membership=membership,
                incoming=courrier,
                token=token,
                subject="Votre demande",
                body="Madame, Monsieur,\n\nVoici notre réponse.",
                by_email=True,
                recipient_email="jeanne.dupont@example.org",
            )
            results.append(reply.outgoing_id)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(results) == 3 and len(set(results)) == 1
    assert Courrier.objects.filter(direction=Direction.DEPART).count() == 1
    assert Reply.objects.count() == 1 and OutgoingMail.objects.count() == 1
    counter = ChronoCounter.objects.get(organisation=world.commune, direction=Direction.DEPART)
    assert counter.last == 1  # no number burnt by the posts that lost the race
