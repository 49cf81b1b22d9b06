"""The browser upload: one or many files, grouped or not, size limit enforced while reading, CSRF checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from mairie.courrier.models import Courrier
from mairie.documents.models import Document, StoredFile
from mairie.documents.tests import samples
from mairie.documents.tests.conftest import storage_dir
from mairie.testing.personas import login

__all__ = ["storage_dir"]  # fixture shared with the document tests

URL = "/o/saint-aubin/courriers/nouveau/"


def _chrono(number: int) -> str:
    return f"{timezone.localdate().year}-A-{number:06d}"


def _pdf(text_pdf: Any, name: str, words: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text_pdf(words), content_type="application/pdf")


def _post(client: Client, files: list[SimpleUploadedFile], **fields: Any) -> Any:
    data = {"grouping": "each", "channel": "scan", "kind": "letter", **fields, "files": files}
    return client.post(URL, data)


@pytest.fixture
def upload_tmp(settings: Any, tmp_path: Path) -> Path:
    """Where Django spools uploads: must be empty after each request (nothing left half-written)."""
    folder = tmp_path / "televersements"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    return folder


def test_upload_page_offers_both_groupings(world, as_user) -> None:
    page = as_user(world.secretary).get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Un courrier par fichier" in html and "Un seul courrier avec toutes les pièces" in html
    assert 'enctype="multipart/form-data"' in html and "multiple" in html
    assert "Taille maximale : 150 Mo par fichier" in html


def test_one_file_redirects_to_its_courrier_with_the_chrono(
    world, as_user, text_pdf, storage_dir, upload_tmp
) -> None:
    client = as_user(world.secretary)
    response = _post(client, [_pdf(text_pdf, "lettre.pdf", "Demande de carte grise")], subject="Carte grise")
    assert response.status_code == 302
    assert response["Location"] == f"/o/saint-aubin/courriers/{_chrono(1)}/"
    courrier = Courrier.objects.get()
    assert courrier.chrono == _chrono(1)
    assert courrier.subject == "Carte grise"
    assert courrier.created_by == world.secretary
    page = client.get(response["Location"])
    assert f"Enregistré : {_chrono(1)}" in page.content.decode()
    assert list(upload_tmp.iterdir()) == []


def test_several_files_make_one_courrier_each(world, as_user, text_pdf, storage_dir, upload_tmp) -> None:
    client = as_user(world.secretary)
    files = [_pdf(text_pdf, f"lettre-{i}.pdf", f"Courrier numéro {i}") for i in (1, 2, 3)]
    response = _post(client, files)
    assert response.status_code == 302 and response["Location"] == URL
    courriers = list(Courrier.objects.order_by("number"))
    assert [c.chrono for c in courriers] == [_chrono(1), _chrono(2), _chrono(3)]
    assert [[d.original_name for d in c.documents.all()] for c in courriers] == [
        ["lettre-1.pdf"],
        ["lettre-2.pdf"],
        ["lettre-3.pdf"],
    ]
    page = client.get(URL).content.decode()
    assert f"Enregistré : {_chrono(1)}, {_chrono(2)}, {_chrono(3)}." in page


def test_several_files_can_make_one_courrier_with_all_pieces(
    world, as_user, text_pdf, storage_dir, upload_tmp
) -> None:
    client = as_user(world.secretary)
    files = [
        _pdf(text_pdf, "lettre.pdf", "Lettre de demande"),
        SimpleUploadedFile("plan.png", samples.image_bytes(samples.text_image(["Plan"]), "PNG")),
        SimpleUploadedFile("message.eml", samples.email_bytes()),
    ]
    response = _post(client, files, grouping="one")
    assert response.status_code == 302
    courrier = Courrier.objects.get()
    assert response["Location"] == f"/o/saint-aubin/courriers/{courrier.chrono}/"
    documents = list(courrier.documents.order_by("position"))
    assert [(d.position, d.original_name, d.mime_type) for d in documents] == [
        (0, "lettre.pdf", "application/pdf"),
        (1, "plan.png", "image/png"),
        (2, "message.eml", "message/rfc822"),
    ]


def test_file_over_the_limit_is_refused_while_the_others_are_registered(
    settings, world, as_user, text_pdf, storage_dir, upload_tmp
) -> None:
    settings.MAX_UPLOAD_MB = 1
    client = as_user(world.secretary)
    big = SimpleUploadedFile("enorme.pdf", text_pdf("Gros fichier") + b"%" + b"x" * 3_000_000)
    files = [_pdf(text_pdf, "a.pdf", "Premier courrier"), big, _pdf(text_pdf, "b.pdf", "Second courrier")]
    response = _post(client, files)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Le fichier « enorme.pdf » dépasse la taille maximale de 1 Mo." in html
    assert _chrono(1) in html and _chrono(2) in html
    assert sorted(Document.objects.values_list("original_name", flat=True)) == ["a.pdf", "b.pdf"]
    assert StoredFile.objects.count() == 2
    assert len(samples.files_under(storage_dir)) == 2
    assert list(upload_tmp.iterdir()) == []  # the skipped file's partial spool was removed


def test_only_file_over_the_limit_gives_a_french_error_and_nothing(
    settings, world, as_user, text_pdf, storage_dir, upload_tmp
) -> None:
    settings.MAX_UPLOAD_MB = 1
    client = as_user(world.secretary)
    big = SimpleUploadedFile("enorme.pdf", text_pdf("Gros fichier") + b"%" + b"x" * 3_000_000)
    response = _post(client, [big], subject="Rapport")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Le fichier « enorme.pdf » dépasse la taille maximale de 1 Mo." in html
    assert 'value="Rapport"' in html  # what was typed is kept
    assert Courrier.objects.count() == 0
    assert samples.files_under(storage_dir) == []
    assert list(upload_tmp.iterdir()) == []


def test_refused_type_and_empty_file_are_reported_and_others_registered(
    world, as_user, text_pdf, storage_dir, upload_tmp
) -> None:
    client = as_user(world.secretary)
    files = [
        SimpleUploadedFile("facture.pdf", samples.windows_executable()),
        _pdf(text_pdf, "bon.pdf", "Courrier valable"),
        SimpleUploadedFile("vide.pdf", b""),
    ]
    response = _post(client, files)
    assert response.status_code == 200
    html = response.content.decode()
    assert "programme exécutable Windows" in html
    assert "Le fichier « vide.pdf » est vide." in html
    assert [c.chrono for c in Courrier.objects.all()] == [_chrono(1)]
    assert _chrono(1) in html


def test_post_without_csrf_token_is_forbidden(world, text_pdf, storage_dir, upload_tmp) -> None:
    client = login(Client(enforce_csrf_checks=True), world.secretary)
    response = _post(client, [_pdf(text_pdf, "lettre.pdf", "Demande")])
    assert response.status_code == 403
    assert Courrier.objects.count() == 0

    client.get(URL)  # sets the CSRF cookie, as the browser does when showing the form
    token = client.cookies["csrftoken"].value
    response = _post(client, [_pdf(text_pdf, "lettre.pdf", "Demande")], csrfmiddlewaretoken=token)
    assert response.status_code == 302
    assert Courrier.objects.get().chrono == _chrono(1)


def test_other_commune_agent_cannot_upload_here(world, as_user, text_pdf, storage_dir) -> None:
    client = as_user(world.other_agent)
    assert client.get(URL).status_code == 404
    assert _post(client, [_pdf(text_pdf, "lettre.pdf", "Intrusion")]).status_code == 404
    assert Courrier.objects.count() == 0


def test_size_limit_handler_stops_a_file_as_soon_as_it_passes_the_limit(settings, rf) -> None:
    from django.core.files.uploadhandler import SkipFile

    from mairie.documents.uploads import SizeLimitUploadHandler

    settings.MAX_UPLOAD_MB = 1
    handler = SizeLimitUploadHandler(rf.post(URL))
    chunk = b"x" * 65536
    handler.new_file("files", "enorme.pdf", "application/pdf", None)
    for index in range(16):  # exactly 1 MB goes through
        assert handler.receive_data_chunk(chunk, index * len(chunk)) == chunk
    with pytest.raises(SkipFile):
        handler.receive_data_chunk(chunk, 16 * len(chunk))
    handler.new_file("files", "petit.pdf", "application/pdf", None)  # the next file starts from zero
    assert handler.receive_data_chunk(chunk, 0) == chunk
    assert handler.too_large == ["enorme.pdf"]


def test_saved_email_dropped_in_the_browser_is_read_like_a_fetched_one(
    world, as_user, storage_dir, upload_tmp
) -> None:
    from mairie.courrier.models import Channel
    from mairie.mail.tests.corpus import CORPUS

    client = as_user(world.secretary)
    raw = CORPUS["mixed_alternative"]
    response = _post(client, [SimpleUploadedFile("transfert.eml", raw)])
    assert response.status_code == 302
    courrier = Courrier.objects.get()
    assert courrier.channel == Channel.EMAIL
    assert courrier.created_by == world.secretary
    names = [d.original_name for d in courrier.documents.order_by("position")]
    assert names[:2] == ["courriel.eml", "courriel.pdf"] and len(names) >= 3  # its attachments too
    assert courrier.contact is not None and courrier.contact.email
    # The same message dropped again is recognised (Message-ID), not registered twice.
    again = _post(client, [SimpleUploadedFile("copie.eml", raw)])
    assert again.status_code == 302 and Courrier.objects.count() == 1
    page = client.get(again["Location"]).content.decode()
    assert f"ce courriel est déjà enregistré sous le numéro {courrier.chrono}" in page


def test_what_the_agent_types_overrides_the_message_for_an_uploaded_email(
    world, as_user, storage_dir, upload_tmp
) -> None:
    from mairie.mail.tests.corpus import CORPUS

    client = as_user(world.secretary)
    response = _post(
        client,
        [SimpleUploadedFile("message.eml", CORPUS["plain_utf8"])],
        subject="Objet saisi par l'agent",
        sender_name="Mme Agent Saisie",
    )
    assert response.status_code == 302
    courrier = Courrier.objects.get()
    assert courrier.subject == "Objet saisi par l'agent"
    assert courrier.contact.display_name == "Mme Agent Saisie"
