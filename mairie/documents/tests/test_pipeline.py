"""The background job turns each original into text, a searchable PDF and a thumbnail, with real OCR."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pikepdf
import pytest
from PIL import Image

from mairie.courrier.services import IncomingFile, register_courrier
from mairie.documents import pipeline, store
from mairie.documents.models import Document, Rendition
from mairie.documents.services import process_document
from mairie.documents.tests import samples

pytestmark = pytest.mark.slow

LETTER = [
    "Monsieur le Maire,",
    "je sollicite un permis de construire",
    "pour un garage au hameau des Vignes.",
]
OTHER = ["Facture numéro 2026-118", "Fourniture de gravier pour le chemin communal"]


def _register(world, make_file, name: str, content: bytes) -> Document:
    path = make_file(name, content)
    courrier = register_courrier(
        organisation=world.commune, actor=world.secretary, files=[IncomingFile(path, name)]
    )
    return Document.objects.get(courrier=courrier)


def _process(document: Document) -> Document:
    assert process_document(document.pk) == "done", Document.objects.get(pk=document.pk).error
    return Document.objects.select_related("original").get(pk=document.pk)


def _read(name: str) -> bytes:
    with store.open_file(name) as handle:
        return handle.read()


def _pdftotext(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "lu.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout


def _words(text: str) -> str:
    return " ".join(text.split())


def _assert_thumbnail(document: Document) -> None:
    thumbnail = document.rendition(Rendition.Kind.THUMBNAIL)
    assert thumbnail is not None
    with Image.open(io.BytesIO(_read(thumbnail.path))) as image:
        assert image.format == "PNG"
        assert image.width == pipeline.THUMBNAIL_WIDTH


def test_pdf_with_a_text_layer_is_not_ocred(settings, world, make_file, text_pdf, storage_dir) -> None:
    # A language Tesseract does not have: any OCR attempt would fail the job (see test_jobs_recovery).
    settings.OCR_LANGUAGE = "langue_inexistante"
    document = _process(
        _register(
            world, make_file, "arrete.pdf", text_pdf("Arrêté municipal portant réglementation du marché")
        )
    )
    assert document.text_source == "text-layer"
    assert "Arrêté municipal portant réglementation du marché" in document.text
    searchable = document.rendition(Rendition.Kind.SEARCHABLE_PDF)
    assert searchable is not None
    assert searchable.path == document.original.path  # the original is its own searchable PDF
    assert _read(document.rendition(Rendition.Kind.TEXT).path).decode() == document.text
    _assert_thumbnail(document)
    assert document.page_count == 1


def test_scanned_pdf_gets_ocr_text_a_searchable_pdf_and_a_thumbnail(
    world, make_file, storage_dir, tmp_path
) -> None:
    scan = samples.scan_pdf([samples.text_image(LETTER)])
    document = _process(_register(world, make_file, "scan.pdf", scan))

    assert document.text_source == "ocr"
    assert "je sollicite un permis de construire" in _words(document.text)
    searchable = document.rendition(Rendition.Kind.SEARCHABLE_PDF)
    assert searchable.path != document.original.path
    pdf_bytes = _read(searchable.path)
    assert "permis de construire" in _words(_pdftotext(pdf_bytes, tmp_path))
    # The page keeps the scanner's JPEG as is (no re-encoding, no loss).
    with pikepdf.open(io.BytesIO(pdf_bytes)) as made, pikepdf.open(io.BytesIO(scan)) as original:
        [made_image] = made.pages[0].get_images().values()
        [original_image] = original.pages[0].get_images().values()
        assert made_image.read_raw_bytes() == original_image.read_raw_bytes()
        assert not str(made.docinfo.get("/Creator", "")).startswith("OCRmyPDF")  # the fast path
    _assert_thumbnail(document)
    assert _read(document.rendition(Rendition.Kind.TEXT).path).decode() == document.text


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_image_is_ocred_into_a_searchable_pdf(fmt, world, make_file, storage_dir, tmp_path) -> None:
    content = samples.image_bytes(samples.text_image(OTHER), fmt)
    document = _process(_register(world, make_file, f"facture.{fmt.lower()}", content))
    assert document.text_source == "ocr"
    assert "Fourniture de gravier pour le chemin communal" in _words(document.text)
    pdf_bytes = _read(document.rendition(Rendition.Kind.SEARCHABLE_PDF).path)
    assert "gravier" in _pdftotext(pdf_bytes, tmp_path)
    _assert_thumbnail(document)
    assert _read(document.original.path) == content  # the original image is kept, unchanged


def test_multipage_tiff_gives_one_searchable_page_per_image(world, make_file, storage_dir, tmp_path) -> None:
    pages = [
        samples.text_image([f"Page {word} du dossier"]) for word in ("première", "deuxième", "troisième")
    ]
    document = _process(_register(world, make_file, "dossier.tif", samples.multipage_tiff(pages)))
    assert document.page_count == 3
    texts = [_words(t) for t in document.text.split("\f")]
    assert texts == ["Page première du dossier", "Page deuxième du dossier", "Page troisième du dossier"]
    pdf_bytes = _read(document.rendition(Rendition.Kind.SEARCHABLE_PDF).path)
    with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
        assert len(pdf.pages) == 3
    assert _words(_pdftotext(pdf_bytes, tmp_path).split("\f")[2]) == "Page troisième du dossier"


def test_mixed_pdf_keeps_the_text_page_and_ocrs_the_scanned_one(
    world, make_file, text_pdf, storage_dir, tmp_path
) -> None:
    typed = text_pdf("Bordereau d'envoi de la sous-préfecture, reçu le 3 février")
    scanned = samples.scan_pdf([samples.text_image(LETTER)])
    document = _process(_register(world, make_file, "envoi.pdf", samples.merge_pdfs(typed, scanned)))
    assert document.text_source == "mixed"
    assert document.page_count == 2
    first, second = document.text.split("\f")
    assert "Bordereau d'envoi de la sous-préfecture, reçu le 3 février" in _words(first)
    assert "je sollicite un permis de construire" in _words(second)
    pages = _pdftotext(_read(document.rendition(Rendition.Kind.SEARCHABLE_PDF).path), tmp_path).split("\f")
    assert "Bordereau d'envoi" in pages[0]
    assert "permis de construire" in _words(pages[1])


def _half_page_image_pdf(tmp_path: Path) -> bytes:
    """A page whose only content is a scan covering half of it: not the scanner layout of the fast path."""
    from weasyprint import HTML

    image = tmp_path / "moitie.png"
    image.write_bytes(samples.image_bytes(samples.text_image(LETTER), "PNG"))
    html = f"<html><body><img src='{image.as_uri()}' style='width: 50%'></body></html>"
    return HTML(string=html).write_pdf()


def test_page_that_is_not_one_full_page_image_goes_through_ocrmypdf(
    world, make_file, storage_dir, tmp_path
) -> None:
    content = _half_page_image_pdf(tmp_path)
    with pikepdf.open(io.BytesIO(content)) as pdf:
        assert pipeline._extract_scan_image(pdf.pages[0], 0, tmp_path) is None  # the fast path declines it
    document = _process(_register(world, make_file, "moitie.pdf", content))
    assert document.text_source == "ocr"
    assert "permis de construire" in _words(document.text)
    pdf_bytes = _read(document.rendition(Rendition.Kind.SEARCHABLE_PDF).path)
    with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
        assert str(pdf.docinfo["/Creator"]).startswith("OCRmyPDF")
    assert "permis de construire" in _words(_pdftotext(pdf_bytes, tmp_path))
    _assert_thumbnail(document)


def test_email_is_kept_as_is_and_its_text_extracted(world, make_file, storage_dir) -> None:
    content = samples.email_bytes(subject="Demande de rendez-vous pour un mariage")
    document = _process(_register(world, make_file, "message.eml", content))
    assert document.text_source == "email"
    assert "Objet : Demande de rendez-vous pour un mariage" in document.text
    assert "je souhaiterais un rendez-vous à la mairie" in document.text
    assert document.rendition(Rendition.Kind.SEARCHABLE_PDF) is None
    assert _read(document.original.path) == content
