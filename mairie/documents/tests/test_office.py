"""Office documents are kept as sent and read through the PDF a real LibreOffice makes of them."""

from __future__ import annotations

import http.server
import io
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from PIL import Image

from mairie.courrier.models import Courrier
from mairie.courrier.services import IncomingFile, RegistrationRefused, register_courrier
from mairie.documents import checks, office, pipeline, store
from mairie.documents.checks import FileRefused, check_file
from mairie.documents.models import Document, Rendition, StoredFile
from mairie.documents.services import process_document
from mairie.documents.tests import office_samples, samples
from mairie.search.services import search_courriers

LETTER = ["Madame la Maire,", "je sollicite l'autorisation d'organiser la fête de l'école à Saint-Aubin."]
SECOND_PAGE = ["Deuxième page : élagage des arbres du préau, été 2026."]
SHEET: list[list[str | float]] = [["Dépenses de voirie", 1250.5], ["Réfection du clocher", 980]]


@pytest.fixture(scope="session")
def office_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every accepted format with French text, the binary and password-protected ones made by LibreOffice."""
    folder = tmp_path_factory.mktemp("bureautique")
    files = {
        "lettre.odt": office_samples.odt(LETTER, second_page=SECOND_PAGE),
        "lettre.docx": office_samples.docx(LETTER, second_page=SECOND_PAGE),
        "lettre.rtf": office_samples.rtf(LETTER),
        "budget.ods": office_samples.ods(SHEET),
        "budget.xlsx": office_samples.xlsx(SHEET),
    }
    paths = {}
    for name, content in files.items():
        paths[name] = folder / name
        paths[name].write_bytes(content)
    made = office_samples.libreoffice_copies(
        {"odt": paths["lettre.odt"], "ods": paths["budget.ods"]},
        [
            ("lettre.doc", "odt", "MS Word 97", ""),
            ("budget.xls", "ods", "MS Excel 97", ""),
            ("protege.odt", "odt", "writer8", "secret"),
            ("protege.doc", "odt", "MS Word 97", "secret"),
            ("protege.xls", "ods", "MS Excel 97", "secret"),
        ],
        folder / "libreoffice",
    )
    return {**paths, **made}


def _register(world: Any, path: Path, name: str | None = None) -> Courrier:
    return register_courrier(
        organisation=world.commune, actor=world.secretary, files=[IncomingFile(path, name or path.name)]
    )


def _read(name: str) -> bytes:
    with store.open_file(name) as handle:
        return handle.read()


def _pdftotext(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "rendu.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout


def _soffice_processes(marker: str) -> list[int]:
    """Processes whose command line mentions ``marker`` (a test's own directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().split(") ", 1)[1][:1]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


# --- Recognition ---------------------------------------------------------------------------------------

FORMATS = [
    ("lettre.odt", checks.ODT),
    ("lettre.docx", checks.DOCX),
    ("lettre.rtf", checks.RTF),
    ("lettre.doc", checks.DOC),
    ("budget.ods", checks.ODS),
    ("budget.xlsx", checks.XLSX),
    ("budget.xls", checks.XLS),
]


@pytest.mark.parametrize(("name", "mime"), FORMATS, ids=[f[0] for f in FORMATS])
def test_office_type_comes_from_the_content_not_the_name(office_files, make_file, name, mime) -> None:
    renamed = make_file("piece-jointe.pdf", office_files[name].read_bytes())
    checked = check_file(renamed, "piece-jointe.pdf")
    assert checked.mime_type == mime
    assert checked.page_count is None  # known once LibreOffice has converted it


def _refusal(path: Path, name: str) -> FileRefused:
    with pytest.raises(FileRefused) as refused:
        check_file(path, name)
    assert f"« {name} »" in refused.value.message
    return refused.value


@pytest.mark.parametrize("name", ["protege.odt", "protege.doc", "protege.xls"])
def test_password_protected_document_made_by_libreoffice_is_refused(office_files, name) -> None:
    refused = _refusal(office_files[name], name)
    assert refused.code == "encrypted"
    assert "est protégé par un mot de passe" in refused.message
    assert "sans mot de passe" in refused.message


def test_password_protected_docx_is_refused(make_file) -> None:
    refused = _refusal(make_file("protege.docx", office_samples.encrypted_ooxml_container()), "protege.docx")
    assert refused.code == "encrypted"
    assert "protégé par un mot de passe" in refused.message


BAD_OFFICE = [
    (
        "macros.docm",
        lambda: office_samples.docx(LETTER, macro_enabled=True),
        "macros",
        ["contient des macros"],
    ),
    (
        "macros.docx",  # a .docx renamed from .docm still carries its VBA project
        lambda: office_samples.docx(LETTER, extra={"word/vbaProject.bin": b"\xd0\xcf\x11\xe0" + bytes(600)}),
        "macros",
        ["contient des macros", ".docx, .xlsx"],
    ),
    (
        "macros.odt",
        lambda: office_samples.odt(LETTER, extra={"Basic/Standard/Module1.xml": b"<script:module/>"}),
        "macros",
        ["contient des macros"],
    ),
    (
        "bombe.docx",
        office_samples.zip_bomb_docx,
        "bomb",
        ["grossit", "fois à la décompression (au plus 100 fois)", "bombe de décompression"],
    ),
    ("menteur.docx", office_samples.lying_zip_docx, "bomb", ["plus grande qu'elle ne le déclare"]),
    ("diapos.pptx", office_samples.pptx, "type", ["présentation PowerPoint", "Formats acceptés"]),
    ("diapos.odp", office_samples.odp, "type", ["présentation OpenDocument", "Formats acceptés"]),
    (
        "pieces.zip",
        lambda: samples.zip_archive({"lettre.txt": "Réunion du conseil".encode()}),
        "type",
        ["une archive ZIP", "Formats acceptés", ".docx"],
    ),
    (
        "tronque.docx",
        lambda: office_samples.docx(LETTER)[:-60],  # the central directory is cut
        "corrupt",
        ["endommagé"],
    ),
]


@pytest.mark.parametrize(("name", "build", "code", "words"), BAD_OFFICE, ids=[b[0] for b in BAD_OFFICE])
def test_bad_office_file_is_refused_in_french_and_leaves_nothing(
    world, make_file, storage_dir, name, build, code, words
) -> None:
    path = make_file(name, build())
    refused = _refusal(path, name)
    assert refused.code == code, refused.message
    for word in words:
        assert word in refused.message
    with pytest.raises(RegistrationRefused):
        _register(world, path, name)
    assert Courrier.objects.count() == 0
    assert StoredFile.objects.count() == 0
    assert samples.files_under(storage_dir) == []


def test_archive_unpacking_beyond_the_limit_is_refused(make_file, monkeypatch) -> None:
    # Scaled down: 2 Mo of varied text (no suspicious ratio) against a limit of 1 Mo instead of 1 Gio.
    monkeypatch.setattr(office, "MAX_UNPACKED_BYTES", 1024 * 1024)
    lines = [f"Ligne {i} du registre des délibérations, séance du {i % 28 + 1} mars" for i in range(40_000)]
    path = make_file("gros.docx", office_samples.docx(lines))
    refused = _refusal(path, "gros.docx")
    assert refused.code == "bomb"
    assert "une fois décompressé il occuperait" in refused.message


# --- Conversion ----------------------------------------------------------------------------------------

CONVERTED = [
    ("lettre.docx", 2, ["fête de l'école à Saint-Aubin", "Deuxième page : élagage des arbres du préau"]),
    ("lettre.odt", 2, ["fête de l'école à Saint-Aubin", "élagage des arbres du préau, été 2026"]),
    ("lettre.doc", 2, ["fête de l'école à Saint-Aubin", "élagage des arbres du préau"]),
    ("lettre.rtf", 1, ["Madame la Maire", "fête de l'école à Saint-Aubin"]),
    ("budget.xlsx", 1, ["Dépenses de voirie", "Réfection du clocher", "1250,5"]),
    ("budget.ods", 1, ["Dépenses de voirie", "Réfection du clocher", "1250,5"]),
    ("budget.xls", 1, ["Dépenses de voirie", "Réfection du clocher", "1250,5"]),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "pages", "phrases"), CONVERTED, ids=[c[0] for c in CONVERTED])
def test_office_document_gets_a_pdf_its_text_and_is_found_by_search(
    world, office_files, storage_dir, tmp_path, name, pages, phrases
) -> None:
    content = office_files[name].read_bytes()
    courrier = _register(world, office_files[name])
    document = Document.objects.get(courrier=courrier)
    assert process_document(document.pk) == "done", Document.objects.get(pk=document.pk).error
    document = Document.objects.select_related("original").get(pk=document.pk)

    assert _read(document.original.path) == content  # the original is kept as sent
    pdf = document.rendition(Rendition.Kind.SEARCHABLE_PDF)
    assert pdf is not None and pdf.mime_type == "application/pdf"
    assert pdf.path != document.original.path
    rendered = " ".join(_pdftotext(_read(pdf.path), tmp_path).split())
    for phrase in phrases:
        assert phrase in rendered
        assert phrase in " ".join(document.text.split())
    assert document.page_count == pages
    assert document.text_source == "office"
    thumbnail = document.rendition(Rendition.Kind.THUMBNAIL)
    assert thumbnail is not None
    with Image.open(io.BytesIO(_read(thumbnail.path))) as image:
        assert image.width == pipeline.THUMBNAIL_WIDTH

    word = "voirie" if name.startswith("budget") else "fete"  # without its accent: search folds them
    hits = search_courriers(organisation=world.commune, query=word).hits
    assert [hit.courrier.pk for hit in hits] == [courrier.pk]
    assert search_courriers(organisation=world.other_commune, query=word).hits == []


@pytest.mark.slow
def test_damaged_docx_fails_with_a_french_error_and_keeps_its_original(world, make_file, storage_dir) -> None:
    # A sound ZIP whose document part is not XML: the checks cannot tell, LibreOffice can.
    content = office_samples.docx([], body_xml="<w:p>")
    courrier = _register(world, make_file("abime.docx", content))
    document = Document.objects.get(courrier=courrier)
    assert process_document(document.pk) == "failed"
    document = Document.objects.select_related("original").get(pk=document.pk)
    assert document.status == Document.Status.FAILED
    assert document.error.startswith("La conversion du document en PDF a échoué")
    assert "LibreOffice" in document.error
    assert _read(document.original.path) == content
    assert not document.renditions.exists()


@pytest.mark.slow
def test_conversion_over_the_time_limit_is_stopped_and_leaves_no_libreoffice(
    world, office_files, settings, tmp_path, monkeypatch
) -> None:
    settings.OFFICE_TIMEOUT = 0.3  # LibreOffice alone takes longer than this to start
    workdir = tmp_path / "conversion-trop-longue"
    workdir.mkdir()
    started = time.monotonic()
    with pytest.raises(office.ConversionError) as failed:
        office.convert_to_pdf(office_files["lettre.docx"], checks.DOCX, workdir)
    assert time.monotonic() - started < 5
    assert "dépassé le temps autorisé (0,3 s)" in failed.value.args[0]
    assert "l'original est conservé" in failed.value.args[0]
    assert _soffice_processes(str(workdir)) == []

    # Through the job: the document is failed with that message, nothing is left running.
    monkeypatch.setattr(
        tempfile, "tempdir", str(tmp_path)
    )  # the job's working directory, to find its processes
    courrier = _register(world, office_files["lettre.odt"])
    document = Document.objects.get(courrier=courrier)
    assert process_document(document.pk) == "failed"
    assert "dépassé le temps autorisé" in Document.objects.get(pk=document.pk).error
    assert _soffice_processes(str(tmp_path)) == []


@pytest.mark.slow
def test_libreoffice_dies_with_the_worker_that_started_it(office_files, tmp_path) -> None:
    workdir = tmp_path / "travailleur-tue"
    workdir.mkdir()
    script = textwrap.dedent(
        f"""
        import django, os
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mairie.settings")
        django.setup()
        from pathlib import Path
        from mairie.documents import office
        office.convert_to_pdf(Path({str(office_files["lettre.docx"])!r}), office.DOCX, Path({str(workdir)!r}))
        """
    )
    worker = subprocess.Popen([sys.executable, "-c", script], env={**os.environ})
    deadline = time.monotonic() + 30
    while not _soffice_processes(str(workdir)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _soffice_processes(str(workdir)), "LibreOffice n'a pas démarré"
    worker.send_signal(signal.SIGKILL)  # no clean-up runs in the worker
    worker.wait()
    deadline = time.monotonic() + 5
    while _soffice_processes(str(workdir)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _soffice_processes(str(workdir)) == []


@pytest.fixture
def web_server() -> Iterator[tuple[str, list[str]]]:
    """A local web server recording the paths it is asked for."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()
    server.server_close()


def _docx_with_remote_image(url: str) -> bytes:
    picture = (
        '<pic:pic><pic:nvPicPr><pic:cNvPr id="1" name="pixel.png"/><pic:cNvPicPr/></pic:nvPicPr>'
        '<pic:blipFill><a:blip r:link="rId9"/><a:stretch><a:fillRect/></a:stretch></pic:blipFill>'
        '<pic:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="952500" cy="952500"/></a:xfrm>'
        '<a:prstGeom prst="rect"><a:avLst/></a:prstGeom></pic:spPr></pic:pic>'
    )
    body = (
        "<w:p><w:r><w:t>Invitation au vernissage</w:t></w:r></w:p><w:p><w:r><w:drawing><wp:inline>"
        '<wp:extent cx="952500" cy="952500"/><wp:docPr id="1" name="Image 1"/><a:graphic>'
        f'<a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture">{picture}'
        "</a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>"
    )
    relationship = (
        '<Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image" '
        f'Target="{url}/pixel.png" TargetMode="External"/>'
    )
    return office_samples.docx([], body_xml=body, relationships=relationship)


@pytest.mark.slow
def test_conversion_fetches_nothing_from_the_network(web_server, make_file, tmp_path) -> None:
    url, requests = web_server
    path = make_file("invitation.docx", _docx_with_remote_image(url))
    # Guard: LibreOffice as installed, left to itself, does fetch the remote image of this document.
    subprocess.run(
        [
            "soffice",
            "--headless",
            f"-env:UserInstallation={(tmp_path / 'profil-ordinaire').as_uri()}",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path / "ordinaire"),
            str(path),
        ],
        capture_output=True,
        timeout=120,
    )
    assert requests, "le document témoin ne déclenche aucune requête : le test ne prouverait rien"
    requests.clear()

    workdir = tmp_path / "conversion"
    workdir.mkdir()
    pdf = office.convert_to_pdf(path, checks.DOCX, workdir)
    assert "Invitation au vernissage" in _pdftotext(pdf.read_bytes(), tmp_path)
    assert requests == []


def test_missing_libreoffice_is_reported_in_french(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a system without LibreOffice
    with pytest.raises(office.ConversionError) as failed:
        office.soffice_binary()
    assert "LibreOffice est introuvable : installez" in failed.value.args[0]


# --- Browser upload ------------------------------------------------------------------------------------


def test_upload_form_offers_office_formats(world, as_user) -> None:
    client = as_user(world.secretary)
    page = client.get(reverse("courrier:upload", args=[world.commune.slug])).content.decode()
    assert ".docx" in page and ".odt" in page and ".xlsx" in page
    assert 'accept=".pdf,' in page
    assert "documents bureautiques" in page


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # the worker closes its connection between jobs
def test_docx_uploaded_in_the_browser_is_registered_and_shown_as_pdf(
    world, as_user, office_files, storage_dir, run_jobs
) -> None:
    client = as_user(world.secretary)
    content = office_files["lettre.docx"].read_bytes()
    upload = io.BytesIO(content)
    upload.name = "demande fête.docx"
    response = client.post(
        reverse("courrier:upload", args=[world.commune.slug]),
        {"files": [upload], "grouping": "each", "channel": "email", "kind": "letter"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    courrier = Courrier.objects.get(organisation=world.commune)
    document = Document.objects.get(courrier=courrier)
    assert document.mime_type == checks.DOCX
    run_jobs()
    document.refresh_from_db()
    assert document.status == Document.Status.DONE, document.error
    assert document.page_count == 2

    slug, chrono = world.commune.slug, courrier.chrono
    page = client.get(reverse("courrier:detail", args=[slug, chrono])).content.decode()
    assert "Page 2 / 2" in page
    assert "document Word (.docx)" in page  # its type in French, not its MIME type
    assert "Ouvrir le PDF consultable" in page
    assert "Télécharger l&#x27;original" in page or "Télécharger l'original" in page
    pdf = client.get(reverse("courrier:document_file", args=[slug, chrono, document.pk, "pdf"]))
    assert pdf["Content-Type"] == "application/pdf"
    original = client.get(reverse("courrier:document_file", args=[slug, chrono, document.pk, "original"]))
    assert b"".join(original.streaming_content) == content
    assert original["Content-Type"] == checks.DOCX
    assert original["Content-Disposition"].startswith("attachment")
    image = client.get(reverse("courrier:document_page", args=[slug, chrono, document.pk, 1]))
    assert image.status_code == 200 and image["Content-Type"] == "image/png"


# --- E-mail attachments --------------------------------------------------------------------------------


@pytest.mark.slow
def test_office_attachments_of_an_email_are_converted_like_uploads(world, office_files, storage_dir) -> None:
    from email.message import EmailMessage

    from mairie.mail.intake import register_message

    message = EmailMessage()
    message["From"] = "Association des parents <ape@ecole.example>"
    message["To"] = "mairie@saint-aubin.example"
    message["Subject"] = "Demande pour la fête de l'école"
    message["Message-ID"] = "<fete-2026@ecole.example>"
    message["Date"] = "Tue, 10 Mar 2026 09:00:00 +0100"
    message.set_content("Bonjour, vous trouverez notre demande et le budget en pièces jointes.\n")
    for name in ("lettre.docx", "budget.ods"):
        mime = checks.DOCX if name.endswith("docx") else checks.ODS
        maintype, subtype = mime.split("/")
        message.add_attachment(
            office_files[name].read_bytes(), maintype=maintype, subtype=subtype, filename=name
        )

    result = register_message(organisation=world.commune, raw=message.as_bytes())
    assert result.status == "registered", result.warnings
    attachments = {
        d.original_name: d
        for d in Document.objects.filter(courrier=result.courrier)
        if d.mime_type != "message/rfc822"
    }
    assert attachments["lettre.docx"].mime_type == checks.DOCX
    assert attachments["budget.ods"].mime_type == checks.ODS
    for document in attachments.values():
        assert process_document(document.pk) == "done", Document.objects.get(pk=document.pk).error
    hits = search_courriers(organisation=world.commune, query="clocher").hits  # only in the spreadsheet
    assert [hit.courrier.pk for hit in hits] == [result.courrier.pk]
