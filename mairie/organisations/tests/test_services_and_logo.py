"""An organisation's administrator manages its services and its logo from the organisation page."""

from __future__ import annotations

import html
import io

from django.core.files.uploadedfile import SimpleUploadedFile

from mairie.audit.models import AuditEntry
from mairie.courrier.forms import CourrierEditForm, RegisterFilterForm, UploadForm
from mairie.courrier.services import register_courrier
from mairie.organisations.models import Organisation, Service

SETTINGS = "/o/saint-aubin/organisation/"


def services_of(org: Organisation) -> dict[str, bool]:
    return dict(Service.objects.for_org(org).values_list("name", "is_active"))


def test_admin_adds_renames_and_deactivates_a_service(world, as_user):
    client = as_user(world.commune_admin)
    response = client.post(
        f"{SETTINGS}services/ajouter/", {"name": "  Cimetière ", "email": "cimetiere@example.org"}
    )
    assert response.status_code == 302
    service = Service.objects.for_org(world.commune).get(name="Cimetière")
    assert service.email == "cimetiere@example.org" and service.is_active
    page = client.get(SETTINGS).content.decode()
    assert "Cimetière" in page

    url = f"{SETTINGS}services/{service.pk}/"
    assert client.get(url).status_code == 200
    response = client.post(url, {"name": "Cimetière et concessions", "email": "", "is_active": ""})
    assert response.status_code == 302
    service.refresh_from_db()
    assert (service.name, service.email, service.is_active) == ("Cimetière et concessions", "", False)
    summaries = list(
        AuditEntry.objects.for_org(world.commune)
        .filter(action__startswith="service.")
        .values_list("summary", flat=True)
    )
    assert summaries == [
        "Service « Cimetière » créé.",
        "Service « Cimetière et concessions » : renommé « Cimetière » → « Cimetière et concessions », "
        "adresse électronique modifiée, désactivé.",
    ]
    assert "inactif" in client.get(SETTINGS).content.decode()

    client.post(url, {"name": "Cimetière et concessions", "is_active": "on"})
    service.refresh_from_db()
    assert service.is_active

    # The service head (overdue tasks are escalated to them): a member of the organisation only.
    client.post(url, {"name": "Cimetière et concessions", "is_active": "on", "head": world.agent.pk})
    service.refresh_from_db()
    assert service.head == world.agent
    response = client.post(
        url, {"name": "Cimetière et concessions", "is_active": "on", "head": world.other_agent.pk}
    )
    assert response.status_code == 200 and "Sélectionnez un choix valide" in response.content.decode()
    service.refresh_from_db()
    assert service.head == world.agent


def test_a_duplicate_service_name_is_refused_in_french(world, as_user):
    client = as_user(world.commune_admin)
    existing = Service.objects.for_org(world.commune).first()
    before = services_of(world.commune)
    response = client.post(f"{SETTINGS}services/ajouter/", {"name": existing.name.upper()})
    assert response.status_code == 200
    assert (
        f"Un service « {existing.name.upper()} » existe déjà dans cette organisation."
        in response.content.decode()
    )
    other = Service.objects.for_org(world.commune).exclude(pk=existing.pk).first()
    response = client.post(f"{SETTINGS}services/{other.pk}/", {"name": existing.name, "is_active": "on"})
    assert "existe déjà" in response.content.decode()
    assert services_of(world.commune) == before


def test_a_deactivated_service_takes_no_new_courrier_but_keeps_its_own(world, as_user):
    service = Service.objects.for_org(world.commune).get(name="Urbanisme")
    courrier = register_courrier(
        organisation=world.commune, actor=world.secretary, subject="PC", service=service
    )
    as_user(world.commune_admin).post(f"{SETTINGS}services/{service.pk}/", {"name": "Urbanisme"})
    service.refresh_from_db()
    assert not service.is_active

    def offered(form) -> set[str]:
        return {s.name for s in form.fields["service"].queryset}

    assert "Urbanisme" not in offered(UploadForm(organisation=world.commune))
    assert "Urbanisme" not in offered(CourrierEditForm(organisation=world.commune))
    # The courrier that has it keeps it when its other fields are edited, and the register still filters by it.
    assert "Urbanisme" in offered(CourrierEditForm(organisation=world.commune, current_service_id=service.pk))
    assert "Urbanisme" in offered(RegisterFilterForm(organisation=world.commune))
    page = as_user(world.secretary).get(f"/o/saint-aubin/courriers/{courrier.chrono}/").content.decode()
    assert "Urbanisme (inactif)" in page


def test_only_administrators_manage_services_and_logo(world, as_user, png_bytes):
    client = as_user(world.secretary)
    service = Service.objects.for_org(world.commune).first()
    assert client.get(SETTINGS).status_code == 403
    assert client.post(f"{SETTINGS}services/ajouter/", {"name": "Fantôme"}).status_code == 403
    assert client.post(f"{SETTINGS}services/{service.pk}/", {"name": "Fantôme"}).status_code == 403
    upload = SimpleUploadedFile("logo.png", png_bytes(), content_type="image/png")
    assert client.post(f"{SETTINGS}logo/changer/", {"logo": upload}).status_code == 403
    assert not Service.objects.filter(name="Fantôme").exists()
    world.commune.refresh_from_db()
    assert not world.commune.logo


def _png(size: tuple[int, int]) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (0, 70, 140)).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_png_logo_is_stored_served_replaced_and_removed(world, as_user, django_capture_on_commit_callbacks):
    from django.core.files.storage import default_storage

    client = as_user(world.commune_admin)
    data = _png((300, 120))
    response = client.post(f"{SETTINGS}logo/changer/", {"logo": SimpleUploadedFile("logo.PNG", data)})
    assert response.status_code == 302
    world.commune.refresh_from_db()
    first = world.commune.logo.name
    assert first.startswith("logos/saint-aubin-") and first.endswith(".png")
    served = client.get(f"{SETTINGS}logo/")
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content) == data
    assert 'alt="Logo actuel de' in client.get(SETTINGS).content.decode()
    # Any member sees it (it is printed on the commune's documents); a member of another commune does not.
    assert as_user(world.secretary).get(f"{SETTINGS}logo/").status_code == 200
    assert as_user(world.other_agent).get(f"{SETTINGS}logo/").status_code == 404

    client = as_user(world.commune_admin)
    jpeg = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (200, 200), (200, 10, 10)).save(jpeg, "JPEG")
    with django_capture_on_commit_callbacks(execute=True):  # the old file is deleted once the change commits
        client.post(f"{SETTINGS}logo/changer/", {"logo": SimpleUploadedFile("logo.png", jpeg.getvalue())})
    world.commune.refresh_from_db()
    assert world.commune.logo.name.endswith(".jpg")  # named after its content, not after the file name
    assert client.get(f"{SETTINGS}logo/")["Content-Type"] == "image/jpeg"
    assert not default_storage.exists(first)  # the replaced file is gone

    client.post(f"{SETTINGS}logo/retirer/")
    world.commune.refresh_from_db()
    assert not world.commune.logo
    assert client.get(f"{SETTINGS}logo/").status_code == 404
    actions = AuditEntry.objects.for_org(world.commune).filter(action="organisation.logo")
    assert list(actions.values_list("summary", flat=True)) == [
        "Logo remplacé.",
        "Logo remplacé.",
        "Logo retiré.",
    ]


def test_bad_logos_are_refused_in_french_and_nothing_changes(world, as_user):
    client = as_user(world.commune_admin)
    cases = {
        "pas-une-image.png": (b"MZ\x90\x00 ceci est un programme", "n'est pas une image PNG ou JPEG"),
        "vide.png": (b"", "Le logo doit être une image PNG ou JPEG de 2 Mo au plus."),
        "immense.png": (_png((4100, 50)), "4100 × 50 pixels"),
        "tronque.png": (_png((400, 400))[:200], "endommagée ou illisible"),
        "lourd.png": (b"\x89PNG\r\n\x1a\n" + b"\x00" * (2 * 1024 * 1024 + 1), "2 Mo au plus"),
    }
    for name, (data, message) in cases.items():
        response = client.post(f"{SETTINGS}logo/changer/", {"logo": SimpleUploadedFile(name, data)})
        assert response.status_code == 200, name
        assert message in html.unescape(response.content.decode()), name
    world.commune.refresh_from_db()
    assert not world.commune.logo
    assert not AuditEntry.objects.for_org(world.commune).filter(action="organisation.logo").exists()


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header announces a huge image (the pixels are never there: Pillow must not decode it)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def test_a_text_file_named_logo_png_and_an_image_bomb_are_refused(world, as_user):
    client = as_user(world.commune_admin)
    text = SimpleUploadedFile("logo.png", "Compte rendu de la réunion.\n".encode(), content_type="image/png")
    response = client.post(f"{SETTINGS}logo/changer/", {"logo": text})
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert "Ce fichier n'est pas une image PNG ou JPEG." in page
    assert "Le logo doit être une image PNG ou JPEG de 2 Mo au plus." in page

    bomb = SimpleUploadedFile("logo.png", _png_header(30_000, 30_000))
    response = client.post(f"{SETTINGS}logo/changer/", {"logo": bomb})
    assert response.status_code == 200
    assert "ne doit pas dépasser 4000 × 4000 pixels" in html.unescape(response.content.decode())
    world.commune.refresh_from_db()
    assert not world.commune.logo


def test_agent_of_another_commune_gets_404_on_every_service_and_logo_url(world, as_user, png_bytes):
    from mairie.organisations.services import set_logo

    set_logo(actor=None, organisation=world.commune, data=png_bytes())
    world.commune.refresh_from_db()
    logo_before = world.commune.logo.name
    service = Service.objects.for_org(world.commune).first()
    before = services_of(world.commune)
    client = as_user(world.other_agent)
    urls = [
        f"{SETTINGS}services/ajouter/",
        f"{SETTINGS}services/{service.pk}/",
        f"{SETTINGS}logo/",
        f"{SETTINGS}logo/changer/",
        f"{SETTINGS}logo/retirer/",
    ]
    upload = SimpleUploadedFile("logo.png", png_bytes(), content_type="image/png")
    for url in urls:
        assert client.get(url).status_code == 404, url
        data = {"name": "Piraté", "email": "", "is_active": "", "logo": upload}
        assert client.post(url, data).status_code == 404, url
        upload.seek(0)
    assert services_of(world.commune) == before
    world.commune.refresh_from_db()
    assert world.commune.logo.name == logo_before


def test_non_administrators_get_403_on_the_other_service_and_logo_urls(world, as_user, png_bytes):
    from mairie.organisations.services import set_logo

    set_logo(actor=None, organisation=world.commune, data=png_bytes())
    service = Service.objects.for_org(world.commune).first()
    client = as_user(world.secretary)
    assert client.get(f"{SETTINGS}services/{service.pk}/").status_code == 403
    assert client.post(f"{SETTINGS}logo/retirer/").status_code == 403
    world.commune.refresh_from_db()
    assert world.commune.logo
    # A GET on a POST-only URL, by an administrator, is 405.
    admin = as_user(world.commune_admin)
    for url in ("services/ajouter/", "logo/changer/", "logo/retirer/"):
        assert admin.get(f"{SETTINGS}{url}").status_code == 405, url


def test_service_and_logo_forms_need_the_csrf_token(world, png_bytes):
    from django.test import Client

    from mairie.testing.personas import login

    client = login(Client(enforce_csrf_checks=True), world.commune_admin)
    service = Service.objects.for_org(world.commune).first()
    before = services_of(world.commune)
    upload = SimpleUploadedFile("logo.png", png_bytes(), content_type="image/png")
    posts = {
        f"{SETTINGS}services/ajouter/": {"name": "Sans jeton"},
        f"{SETTINGS}services/{service.pk}/": {"name": "Sans jeton", "is_active": "on"},
        f"{SETTINGS}logo/changer/": {"logo": upload},
        f"{SETTINGS}logo/retirer/": {},
    }
    for url, data in posts.items():
        assert client.post(url, data).status_code == 403, url
    assert services_of(world.commune) == before
    world.commune.refresh_from_db()
    assert not world.commune.logo

    client.get(SETTINGS)
    token = client.cookies["csrftoken"].value
    response = client.post(
        f"{SETTINGS}services/ajouter/", {"name": "Avec jeton", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    assert Service.objects.for_org(world.commune).filter(name="Avec jeton").exists()


def test_a_logo_missing_from_storage_answers_404(world, as_user, png_bytes):
    from django.core.files.storage import default_storage

    from mairie.organisations.services import set_logo

    org = set_logo(actor=None, organisation=world.commune, data=png_bytes())
    default_storage.delete(org.logo.name)
    assert as_user(world.secretary).get(f"{SETTINGS}logo/").status_code == 404
