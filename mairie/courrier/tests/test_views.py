"""The agent's pages with the Django test client: inbox, register, courrier page, actions, files, export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image

from mairie.audit.models import AuditEntry
from mairie.courrier.models import Courrier, CourrierLink, Direction, Kind, Status
from mairie.courrier.services import register_courrier
from mairie.organisations.models import Role
from mairie.organisations.services import add_member
from mairie.testing.factories import courrier_with_document
from mairie.testing.personas import PASSWORD


def rows_of(html: str) -> list[str]:
    """Chrono numbers listed in the table of a page."""
    return re.findall(r'<td class="chrono"><a href="[^"]+">(\d{4}-[AD]-\d{6})</a>', html)


def paris(year: int, month: int, day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=timezone.get_current_timezone())


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- Inbox -------------------------------------------------------------------------------------------


@pytest.fixture
def inbox_world(world: Any) -> dict[str, Courrier]:
    techniques = world.service("Services techniques")
    urbanisme = world.service("Urbanisme")
    past = timezone.localdate() - dt.timedelta(days=3)

    def reg(**kwargs: Any) -> Courrier:
        return register_courrier(organisation=world.commune, actor=world.secretary, **kwargs)

    made = {
        "mine": reg(subject="Nid-de-poule rue des Écoles", assigned_to=world.agent, service=urbanisme),
        "service": reg(subject="Éclairage du stade", service=techniques),
        "to_register": reg(subject=""),
        "overdue": reg(subject="Demande de subvention", service=urbanisme, due_date=past),
        "other_service": reg(subject="Permis d'aménager", service=urbanisme),
        "closed_mine": reg(subject="Ancien dossier", assigned_to=world.agent, status=Status.CLASSE),
    }
    assert made["to_register"].status == Status.A_ENREGISTRER
    register_courrier(organisation=world.other_commune, actor=None, subject="Autre commune", service=None)
    return made


@pytest.mark.parametrize(
    ("tab", "expected"),
    [
        ("mine", {"mine"}),
        ("service", {"service"}),
        ("a_enregistrer", {"to_register"}),
        ("overdue", {"overdue"}),
    ],
)
def test_inbox_tabs_show_the_right_courriers(world, as_user, inbox_world, tab, expected):
    client = as_user(world.agent)
    response = client.get("/o/saint-aubin/", {"onglet": tab})
    assert response.status_code == 200
    assert set(rows_of(response.content.decode())) == {inbox_world[k].chrono for k in expected}


def test_inbox_counts_each_tab_and_opens_on_mine(world, as_user, inbox_world):
    client = as_user(world.agent)
    response = client.get("/o/saint-aubin/")
    assert response.context["tab"] == "mine"
    assert response.context["counts"] == {"mine": 1, "service": 1, "a_enregistrer": 1, "overdue": 1}
    html = response.content.decode()
    assert 'aria-current="page">Mes courriers' in html
    assert "en retard" not in html  # the courrier assigned to the agent is not overdue
    # Someone with nothing assigned lands on the courriers to register.
    assert as_user(world.mayor).get("/o/saint-aubin/").context["tab"] == "a_enregistrer"


def _fill_inbox(world: Any, count: int) -> None:
    for index in range(count):
        register_courrier(
            organisation=world.commune,
            actor=world.secretary,
            subject=f"Courrier numéro {index}",
            assigned_to=world.secretary,
            service=world.service("Accueil et secrétariat"),
            due_date=timezone.localdate() + dt.timedelta(days=index),
        )


def test_inbox_runs_a_constant_small_number_of_queries(world, as_user, django_assert_max_num_queries):
    client = as_user(world.secretary)
    client.get("/o/saint-aubin/")  # the first visit stores the current organisation in the session
    counts = []
    for total in (5, 20):
        _fill_inbox(world, total - (len(counts) and 5))
        with django_assert_max_num_queries(8), CaptureQueriesContext(connection) as queries:
            response = client.get("/o/saint-aubin/", {"onglet": "mine"})
        assert len(rows_of(response.content.decode())) == total
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    # Every tab, a second page too.
    _fill_inbox(world, 5)
    for params in ({"onglet": "service"}, {"onglet": "overdue"}, {"onglet": "mine", "page": "2"}):
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/o/saint-aubin/", params).status_code == 200
        assert len(queries) == counts[0], params


def test_inbox_paginates(world, as_user):
    _fill_inbox(world, 23)
    client = as_user(world.secretary)
    first = client.get("/o/saint-aubin/", {"onglet": "mine"}).content.decode()
    second = client.get("/o/saint-aubin/", {"onglet": "mine", "page": "2"}).content.decode()
    assert len(rows_of(first)) == 20
    assert len(rows_of(second)) == 3
    assert not set(rows_of(first)) & set(rows_of(second))
    assert "Page 2 sur 2" in second


# --- Register ----------------------------------------------------------------------------------------


@pytest.fixture
def register_world(world: Any) -> dict[str, Courrier]:
    techniques = world.service("Services techniques")

    def reg(**kwargs: Any) -> Courrier:
        return register_courrier(organisation=world.commune, actor=world.secretary, **kwargs)

    made = {
        "march_invoice": reg(subject="Facture d'eau", kind=Kind.INVOICE, received_at=paris(2025, 3, 10)),
        "april_letter": reg(subject="Lettre du SDIS", service=techniques, received_at=paris(2025, 4, 2)),
        "april_depart": reg(
            subject="Réponse au SDIS", direction=Direction.DEPART, received_at=paris(2025, 4, 20)
        ),
        "may_closed": reg(subject="Vieux dossier", status=Status.CLASSE, received_at=paris(2025, 5, 5)),
    }
    for index in range(21):
        reg(subject=f"Courrier de juin {index}", received_at=paris(2025, 6, 1 + index))
    return made


def test_register_filters(world, as_user, register_world):
    client = as_user(world.mayor)  # read access is enough
    url = "/o/saint-aubin/registre/"

    def listed(**params: str) -> set[str]:
        response = client.get(url, params)
        assert response.status_code == 200
        return set(rows_of(response.content.decode()))

    chrono = {k: c.chrono for k, c in register_world.items()}
    assert listed(kind="invoice") == {chrono["march_invoice"]}
    assert listed(direction="depart") == {chrono["april_depart"]}
    assert listed(status="classe") == {chrono["may_closed"]}
    assert listed(service=str(world.service("Services techniques").pk)) == {chrono["april_letter"]}
    assert listed(date_from="2025-04-01", date_to="2025-04-30") == {
        chrono["april_letter"],
        chrono["april_depart"],
    }
    assert listed(date_from="2025-04-01", date_to="2025-04-30", direction="arrivee") == {
        chrono["april_letter"]
    }
    # A service of another organisation is not a valid choice: the filter is ignored, nothing leaks.
    foreign = world.service("État civil", world.other_commune)
    assert client.get(url, {"service": foreign.pk}).context["form"].errors


def test_register_paginates_and_keeps_filters(world, as_user, register_world):
    client = as_user(world.secretary)
    first = client.get("/o/saint-aubin/registre/", {"direction": "arrivee"})
    html = first.content.decode()
    assert "24 courriers" in html
    assert len(rows_of(html)) == 20
    assert "Page 1 sur 2" in html
    assert "direction=arrivee&amp;page=2" in html
    second = client.get("/o/saint-aubin/registre/", {"direction": "arrivee", "page": "2"}).content.decode()
    assert len(rows_of(second)) == 4
    assert register_world["march_invoice"].chrono in rows_of(second)  # the oldest comes last
    # A page past the end shows the last one rather than an error.
    assert rows_of(client.get("/o/saint-aubin/registre/", {"page": "99"}).content.decode())


def test_register_query_with_a_chrono_opens_the_courrier_and_words_go_to_search(
    world, as_user, register_world
):
    client = as_user(world.secretary)
    chrono = register_world["april_letter"].chrono
    response = client.get("/o/saint-aubin/registre/", {"q": chrono.lower()})
    assert response.status_code == 302
    assert response["Location"] == f"/o/saint-aubin/courriers/{chrono}/"
    response = client.get("/o/saint-aubin/registre/", {"q": "SDIS"})
    assert response.status_code == 302
    assert response["Location"].startswith("/o/saint-aubin/recherche/?")


def test_register_runs_a_constant_number_of_queries(world, as_user):
    client = as_user(world.secretary)
    client.get("/o/saint-aubin/registre/")
    counts = []
    for total in (5, 20):
        _fill_inbox(world, total - (len(counts) and 5))
        with CaptureQueriesContext(connection) as queries:
            client.get("/o/saint-aubin/registre/")
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 8, counts


# --- The courrier page -------------------------------------------------------------------------------


@pytest.fixture
def letter(world: Any) -> Courrier:
    courrier, _ = courrier_with_document(
        organisation=world.commune,
        actor=world.secretary,
        text="Madame le Maire,\nJe sollicite l'autorisation d'occuper le domaine public pour un échafaudage.",
        file_name="demande-echafaudage.pdf",
        subject="Échafaudage rue Haute",
        service=world.service("Services techniques"),
    )
    return courrier


def test_courrier_page_shows_documents_text_history_and_comments(world, as_user, letter):
    client = as_user(world.secretary)
    client.post(f"/o/saint-aubin/courriers/{letter.chrono}/commentaires/", {"body": "Voir avec la voirie."})
    response = client.get(f"/o/saint-aubin/courriers/{letter.chrono}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Échafaudage rue Haute" in html
    assert "demande-echafaudage.pdf" in html
    assert re.search(r">PDF · [\d,]+\sKo · 1 page", html)  # the type and units in French
    assert "sollicite l&#x27;autorisation d&#x27;occuper le domaine public" in html  # the document's text
    document = letter.documents.get()
    assert f"/pieces/{document.pk}/pages/1/" in html  # the page viewer
    assert f"/pieces/{document.pk}/pdf/" in html and f"/pieces/{document.pk}/original/" in html
    assert "Voir avec la voirie." in html
    assert f"Courrier {letter.chrono} enregistré" in html  # history
    assert "traité : texte d&#x27;origine du PDF" in html


def test_edit_metadata_is_saved_and_journaled(world, as_user, letter):
    client = as_user(world.secretary)
    urbanisme = world.service("Urbanisme")
    response = client.post(
        f"/o/saint-aubin/courriers/{letter.chrono}/modifier/",
        {
            "subject": "Occupation du domaine public",
            "kind": Kind.REQUEST,
            "channel": "counter",
            "sender_name": "Entreprise Martin BTP",
            "sender_email": "contact@martin-btp.example",
            "service": urbanisme.pk,
            "assigned_to": world.agent.pk,
            "due_date": "2031-02-15",
        },
        follow=True,
    )
    assert "Courrier mis à jour." in messages_of(response)
    letter.refresh_from_db()
    assert letter.subject == "Occupation du domaine public"
    assert letter.contact.name == "Entreprise Martin BTP"
    assert letter.service == urbanisme
    assert letter.assigned_to == world.agent
    assert letter.due_date == dt.date(2031, 2, 15)
    entry = AuditEntry.objects.for_org(world.commune).filter(action="courrier.updated").get()
    for expected in (
        "objet : Occupation du domaine public",
        "service : Urbanisme",
        "15/02/2031",
        "Karim Benali",
    ):
        assert expected in entry.summary, entry.summary
    assert entry.actor == world.secretary
    assert entry.summary in response.content.decode()  # shown in the history


def test_edit_refuses_an_agent_of_another_organisation(world, as_user, letter):
    client = as_user(world.secretary)
    response = client.post(
        f"/o/saint-aubin/courriers/{letter.chrono}/modifier/",
        {"subject": "x", "kind": "letter", "channel": "scan", "assigned_to": world.other_agent.pk},
        follow=True,
    )
    assert any("Sélectionnez un choix valide" in m for m in messages_of(response))
    letter.refresh_from_db()
    assert letter.assigned_to is None


def test_allowed_status_change_is_applied_and_forbidden_one_refused_in_french(world, as_user, letter):
    client = as_user(world.secretary)
    url = f"/o/saint-aubin/courriers/{letter.chrono}/statut/"
    page = client.get(f"/o/saint-aubin/courriers/{letter.chrono}/").content.decode()
    offered = re.findall(r'<option value="(\w+)"', page.split('name="status"')[1].split("</select>")[0])
    assert set(offered) == {"en_cours", "traite", "classe"}  # from "à traiter"

    response = client.post(url, {"status": "en_cours", "reason": "pris en charge"}, follow=True)
    assert "Statut : En cours." in messages_of(response)
    letter.refresh_from_db()
    assert letter.status == Status.EN_COURS
    assert (
        AuditEntry.objects.for_org(world.commune)
        .filter(action="courrier.status", summary__contains="À traiter → En cours (pris en charge)")
        .exists()
    )

    response = client.post(url, {"status": "a_enregistrer"}, follow=True)
    assert "Passage impossible de « En cours » à « À enregistrer »." in messages_of(response)
    letter.refresh_from_db()
    assert letter.status == Status.EN_COURS
    assert client.post(url, {"status": "n-importe-quoi"}).status_code == 302
    letter.refresh_from_db()
    assert letter.status == Status.EN_COURS


def test_comment_is_added(world, as_user, letter):
    response = as_user(world.mayor).post(
        f"/o/saint-aubin/courriers/{letter.chrono}/commentaires/", {"body": "À voir en conseil."}, follow=True
    )
    assert "Commentaire ajouté." in messages_of(response)
    assert letter.comments.get().author == world.mayor
    assert "À voir en conseil." in response.content.decode()


def test_reply_is_linked_to_the_courrier_it_answers(world, as_user, letter):
    reply = register_courrier(
        organisation=world.commune, actor=world.secretary, subject="Autorisation accordée", direction="depart"
    )
    client = as_user(world.secretary)
    response = client.post(
        f"/o/saint-aubin/courriers/{reply.chrono}/liens/",
        {"target": letter.chrono.lower(), "kind": "reply_to"},
        follow=True,
    )
    assert f"Lien ajouté vers {letter.chrono}." in messages_of(response)
    link = CourrierLink.objects.for_org(world.commune).get()
    assert (link.source, link.target, link.kind) == (reply, letter, "reply_to")
    assert f'href="/o/saint-aubin/courriers/{letter.chrono}/"' in response.content.decode()
    original_page = client.get(f"/o/saint-aubin/courriers/{letter.chrono}/").content.decode()
    assert f'Réponse : <a href="/o/saint-aubin/courriers/{reply.chrono}/"' in original_page

    # A chrono that exists only in another commune's register is unknown here.
    for subject in ("Ailleurs 1", "Ailleurs 2"):
        foreign = register_courrier(organisation=world.other_commune, actor=None, subject=subject)
    assert not Courrier.objects.for_org(world.commune).filter(chrono=foreign.chrono).exists()
    response = client.post(
        f"/o/saint-aubin/courriers/{letter.chrono}/liens/",
        {"target": foreign.chrono, "kind": "related"},
        follow=True,
    )
    assert f"Aucun courrier « {foreign.chrono} » dans votre registre." in messages_of(response)
    assert CourrierLink.objects.count() == 1


# --- Roles -------------------------------------------------------------------------------------------


def _edit(client: Any, courrier: Courrier, subject: str) -> Any:
    return client.post(
        f"/o/saint-aubin/courriers/{courrier.chrono}/modifier/",
        {"subject": subject, "kind": courrier.kind, "channel": courrier.channel},
    )


def _shows_edit_form(client: Any, courrier: Courrier) -> bool:
    html = client.get(f"/o/saint-aubin/courriers/{courrier.chrono}/").content.decode()
    return f"/courriers/{courrier.chrono}/modifier/" in html


@pytest.fixture
def reader(world: Any) -> Any:
    add_member(
        actor=None, organisation=world.commune, username="lecteur", roles=[Role.LECTURE], password=PASSWORD
    )
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="lecteur")


@pytest.mark.parametrize("persona", ["reader", "mayor"])
def test_read_only_and_elected_member_cannot_edit(world, as_user, letter, reader, persona):
    user = reader if persona == "reader" else world.mayor
    client = as_user(user)
    assert not _shows_edit_form(client, letter)
    html = client.get(f"/o/saint-aubin/courriers/{letter.chrono}/").content.decode()
    assert "/statut/" not in html and "/liens/" not in html
    assert _edit(client, letter, "Modifié").status_code == 403
    base = f"/o/saint-aubin/courriers/{letter.chrono}"
    assert client.post(f"{base}/statut/", {"status": "classe"}).status_code == 403
    assert client.post(f"{base}/liens/", {"target": letter.chrono, "kind": "related"}).status_code == 403
    assert client.get("/o/saint-aubin/courriers/nouveau/").status_code == 403
    letter.refresh_from_db()
    assert (letter.subject, letter.status) == ("Échafaudage rue Haute", Status.A_TRAITER)
    # The élu may comment; the read-only account may not.
    comment = client.post(f"{base}/commentaires/", {"body": "Mon avis"})
    assert comment.status_code == (403 if persona == "reader" else 302)
    assert ("/commentaires/" in html) == (persona == "mayor")


def test_agent_edits_courriers_of_their_service_or_assigned_to_them_only(world, as_user, letter):
    client = as_user(world.agent)  # Services techniques
    urbanisme = world.service("Urbanisme")
    other_service = register_courrier(
        organisation=world.commune, actor=world.secretary, subject="PLU", service=urbanisme
    )
    assigned = register_courrier(
        organisation=world.commune,
        actor=world.secretary,
        subject="Clôture",
        service=urbanisme,
        assigned_to=world.agent,
    )
    assert _shows_edit_form(client, letter)
    assert _edit(client, letter, "Échafaudage : vu").status_code == 302
    assert _edit(client, assigned, "Clôture : vu").status_code == 302
    assert not _shows_edit_form(client, other_service)
    response = _edit(client, other_service, "Pris par erreur")
    assert response.status_code == 403
    assert "Vous ne pouvez pas modifier ce courrier." in response.content.decode()
    assert (
        client.post(
            f"/o/saint-aubin/courriers/{other_service.chrono}/statut/", {"status": "classe"}
        ).status_code
        == 403
    )
    for courrier, subject in (
        (letter, "Échafaudage : vu"),
        (assigned, "Clôture : vu"),
        (other_service, "PLU"),
    ):
        courrier.refresh_from_db()
        assert courrier.subject == subject
    assert other_service.status == Status.A_TRAITER


def test_courrier_manager_edits_every_courrier(world, as_user):
    client = as_user(world.secretary)
    for service in ("Urbanisme", "Services techniques", "État civil"):
        courrier = register_courrier(
            organisation=world.commune, actor=None, subject="Avant", service=world.service(service)
        )
        assert _shows_edit_form(client, courrier)
        assert _edit(client, courrier, "Après").status_code == 302
        courrier.refresh_from_db()
        assert courrier.subject == "Après"


# --- Files -------------------------------------------------------------------------------------------


def test_file_endpoints_serve_the_right_content(world, as_user, letter):
    client = as_user(world.agent)
    document = letter.documents.get()
    base = f"/o/saint-aubin/courriers/{letter.chrono}/pieces/{document.pk}"

    original = client.get(f"{base}/original/")
    assert original["Content-Type"] == "application/pdf"
    body = b"".join(original.streaming_content)
    import hashlib

    assert hashlib.sha256(body).hexdigest() == document.original.sha256
    assert original["X-Content-Type-Options"] == "nosniff"

    pdf = client.get(f"{base}/pdf/")
    assert pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")

    thumbnail = client.get(f"{base}/thumbnail/")
    assert thumbnail["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(b"".join(thumbnail.streaming_content))).format == "PNG"

    text = client.get(f"{base}/text/")
    assert text["Content-Type"].startswith("text/plain")
    assert "domaine public" in b"".join(text.streaming_content).decode()

    page = client.get(f"{base}/pages/1/", {"l": "480"})
    assert page["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(page.content))
    assert image.format == "PNG" and image.width == 480

    assert client.get(f"{base}/pages/2/").status_code == 404
    assert client.get(f"{base}/inconnu/").status_code == 404


def test_original_image_is_served_with_its_sniffed_type(world, as_user, make_file, png_bytes):
    from mairie.courrier.services import IncomingFile

    path = make_file("photo.pdf", png_bytes())  # the name lies; the content decides
    courrier = register_courrier(
        organisation=world.commune, actor=world.secretary, files=[IncomingFile(path, "photo.pdf")]
    )
    document = courrier.documents.get()
    response = as_user(world.secretary).get(
        f"/o/saint-aubin/courriers/{courrier.chrono}/pieces/{document.pk}/original/"
    )
    assert response["Content-Type"] == "image/png"


# --- Export ------------------------------------------------------------------------------------------


def test_export_page_csv_and_pdf(world, as_user, register_world):
    client = as_user(world.secretary)
    page = client.get("/o/saint-aubin/registre/export/")
    assert page.status_code == 200
    assert "Exporter le registre" in page.content.decode()

    params = {"date_from": "2025-04-01", "date_to": "2025-04-30", "format": "csv"}
    response = client.get("/o/saint-aubin/registre/export/", params)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="registre-saint-aubin-20250401-20250430.csv"' in response["Content-Disposition"]
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][0] == "Numéro chrono"
    assert sorted(r[0] for r in rows[1:]) == sorted(
        [register_world["april_letter"].chrono, register_world["april_depart"].chrono]
    )
    assert "Lettre du SDIS" in text

    response = client.get("/o/saint-aubin/registre/export/", {**params, "format": "pdf"})
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")

    bad = client.get("/o/saint-aubin/registre/export/", {**params, "date_from": "2025-05-01"})
    assert bad.status_code == 200
    assert "La date de début doit précéder la date de fin." in bad.content.decode()

    assert as_user(world.agent).get("/o/saint-aubin/registre/export/").status_code == 403
