"""Every incoming file is checked before anything is stored: refusals say why in French, and leave nothing."""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Callable
from typing import Any

import pikepdf
import pytest
from PIL import Image

from mairie.audit.models import AuditEntry
from mairie.courrier.models import ChronoCounter, Courrier
from mairie.courrier.services import IncomingFile, RegistrationRefused, register_courrier
from mairie.documents import checks, pipeline, store
from mairie.documents.checks import FileRefused, check_file
from mairie.documents.models import Document, StoredFile
from mairie.documents.tests import office_samples, samples

# The truncated TIFF case makes Pillow warn before it fails; the warning is expected.
pytestmark = pytest.mark.filterwarnings("ignore:Corrupt EXIF data")


def _scan_page(text: str = "Mairie de Saint-Aubin") -> Image.Image:
    return samples.text_image([text, "Demande de permis de construire"], dpi=100, width_in=4, size=20)


def _pdf_over_limit(text_pdf: Callable[[str], bytes]) -> bytes:
    # A valid PDF (bytes after %%EOF are ignored by readers) of 1.5 MB.
    return text_pdf("Rapport annuel") + b"\n%" + b"x" * (1_500_000) + b"\n"


# name, builder(text_pdf) -> bytes, refusal code, words the French message must contain
BAD_FILES: list[tuple[str, Callable[[Any], bytes], str, list[str]]] = [
    ("vide.pdf", lambda _: b"", "empty", ["est vide"]),
    ("gros.pdf", _pdf_over_limit, "too_large", ["dépasse la taille maximale de 1 Mo"]),
    (
        "facture.pdf",
        lambda _: samples.windows_executable(),
        "type",
        ["n'est pas accepté", "programme exécutable Windows", "Formats acceptés"],
    ),
    (
        "pieces.zip",
        lambda make: samples.zip_archive({"lettre.pdf": make("Lettre")}),
        "type",
        ["archive ZIP"],
    ),
    (
        # A ZIP that stores a PDF uncompressed has "%PDF-" in its first bytes: still a ZIP.
        "lettre.pdf",
        lambda make: samples.zip_archive({"lettre.pdf": make("Lettre")}, stored=True),
        "type",
        ["archive ZIP"],
    ),
    (
        "protege.pdf",
        lambda make: samples.encrypted_pdf(make("Confidentiel"), user="secret"),
        "encrypted",
        ["protégé par un mot de passe", "sans protection"],
    ),
    (
        "restreint.pdf",
        lambda make: samples.encrypted_pdf(make("Copie interdite"), user=""),
        "encrypted",
        ["chiffré ou protégé", "sans protection"],
    ),
    (
        "tronque.pdf",
        lambda _: samples.truncated(samples.rewritten_by_qpdf(samples.scan_pdf([_scan_page()])), 0.5),
        "corrupt",
        ["endommagé", "ne peut pas être lu"],
    ),
    (
        "charabia.pdf",
        lambda _: b"%PDF-1.7\n" + bytes((i * 7919) % 251 for i in range(5000)),
        "corrupt",
        ["endommagé"],
    ),
    ("bombe.png", lambda _: samples.png_bomb(), "bomb", ["démesurée"]),
    ("bombe.pdf", lambda _: samples.pdf_with_huge_image(), "bomb", ["image démesurée", "page 1"]),
    (
        "coupee.png",
        lambda _: samples.truncated(samples.image_bytes(_scan_page(), "PNG"), 0.6),
        "corrupt",
        ["endommagée"],
    ),
    ("brouillee.png", lambda _: samples.png_with_garbled_pixels(), "corrupt", ["endommagée"]),
    (
        "coupee.jpg",
        lambda _: samples.truncated(samples.image_bytes(_scan_page(), "JPEG"), 0.6),
        "corrupt",
        ["endommagée"],
    ),
    (
        "liasse.tif",
        lambda _: samples.truncated(
            samples.multipage_tiff([_scan_page("Un"), _scan_page("Deux"), _scan_page("Trois")]), 0.8
        ),
        "corrupt",
        ["endommagée"],
    ),
    ("notes.txt", lambda _: "Réunion du conseil mardi".encode(), "type", ["type de fichier non reconnu"]),
]


@pytest.fixture
def small_limit(settings: Any) -> None:
    settings.MAX_UPLOAD_MB = 1


@pytest.mark.parametrize(("name", "build", "code", "words"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_file_is_refused_with_a_french_reason(
    name, build, code, words, make_file, text_pdf, small_limit
) -> None:
    path = make_file(name, build(text_pdf))
    with pytest.raises(FileRefused) as refused:
        check_file(path, name)
    assert refused.value.code == code, refused.value.message
    assert f"« {name} »" in refused.value.message
    for word in words:
        assert word in refused.value.message


@pytest.mark.parametrize(("name", "build", "code", "words"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_refused_file_leaves_nothing_and_burns_no_number(
    name, build, code, words, world, make_file, text_pdf, small_limit, storage_dir
) -> None:
    bad = make_file(name, build(text_pdf))
    journal_before = AuditEntry.objects.filter(organisation=world.commune).count()

    with pytest.raises(RegistrationRefused) as refused:
        register_courrier(organisation=world.commune, actor=world.secretary, files=[IncomingFile(bad, name)])

    assert [(n, r.code) for n, r in refused.value.refusals] == [(name, code)]
    assert Courrier.objects.count() == 0
    assert Document.objects.count() == 0
    assert StoredFile.objects.count() == 0
    assert samples.files_under(storage_dir) == []
    assert not ChronoCounter.objects.filter(organisation=world.commune, last__gt=0).exists()
    refusal = AuditEntry.objects.filter(organisation=world.commune).order_by("-seq").first()
    assert AuditEntry.objects.filter(organisation=world.commune).count() == journal_before + 1
    assert refusal.action == f"intake.refused.{code}"
    assert name in refusal.summary

    good = make_file("bon.pdf", text_pdf("Demande de raccordement au réseau d'eau"))
    courrier = register_courrier(
        organisation=world.commune, actor=world.secretary, files=[IncomingFile(good, "bon.pdf")]
    )
    assert courrier.number == 1
    assert courrier.chrono.endswith("-A-000001")


def test_one_bad_file_refuses_the_whole_courrier(world, make_file, text_pdf, storage_dir) -> None:
    good = make_file("lettre.pdf", text_pdf("Lettre de réclamation"))
    bad = make_file("annexe.pdf", b"")
    with pytest.raises(RegistrationRefused) as refused:
        register_courrier(
            organisation=world.commune,
            actor=world.secretary,
            files=[IncomingFile(good, "lettre.pdf"), IncomingFile(bad, "annexe.pdf")],
        )
    assert [name for name, _ in refused.value.refusals] == ["annexe.pdf"]
    assert Courrier.objects.count() == 0
    assert StoredFile.objects.count() == 0
    assert samples.files_under(storage_dir) == []


def test_truncated_pdf_that_qpdf_repairs_is_still_refused(make_file) -> None:
    whole = samples.rewritten_by_qpdf(samples.scan_pdf([_scan_page()]))
    for fraction in (0.1, 0.3, 0.6, 0.9, 0.99):
        path = make_file(f"tronque-{fraction}.pdf", samples.truncated(whole, fraction))
        # qpdf "repairs" the file: it opens with its page (the scanned image is lost)...
        with pikepdf.open(path) as pdf:
            assert len(pdf.pages) == 1
        # ...but it is damaged, and refused.
        with pytest.raises(FileRefused) as refused:
            check_file(path, path.name)
        assert refused.value.code == "corrupt", fraction


def test_pdf_with_junk_before_its_header_is_accepted(make_file, text_pdf) -> None:
    # Some scanners and mail gateways prepend a few bytes; every PDF reader accepts it.
    path = make_file("scanner.pdf", b"\r\n\r\n" + text_pdf("Compte rendu du conseil municipal"))
    assert check_file(path, "scanner.pdf").mime_type == "application/pdf"


def test_accepted_formats_are_stored_as_sent(world, make_file, text_pdf, storage_dir) -> None:
    page = _scan_page()
    files = {
        "lettre.pdf": (text_pdf("Demande de subvention pour le comité des fêtes"), "application/pdf", 1),
        "photo.png": (samples.image_bytes(page, "PNG"), "image/png", 1),
        "photo.jpg": (samples.image_bytes(page, "JPEG"), "image/jpeg", 1),
        "liasse.tif": (
            samples.multipage_tiff([page, _scan_page("Page deux"), _scan_page("Page trois")]),
            "image/tiff",
            3,
        ),
        "message.eml": (samples.email_bytes(), "message/rfc822", None),
        # Office documents: pages known once LibreOffice has converted them (test_office.py).
        "lettre.docx": (office_samples.docx(["Demande de salle pour l'assemblée"]), checks.DOCX, None),
        "budget.ods": (office_samples.ods([["Fournitures scolaires", 420.0]]), checks.ODS, None),
    }
    for name, (content, mime, pages) in files.items():
        path = make_file(name, content)
        courrier = register_courrier(
            organisation=world.commune, actor=world.secretary, files=[IncomingFile(path, name)]
        )
        document = Document.objects.select_related("original").get(courrier=courrier)
        assert document.mime_type == mime, name
        assert document.original.mime_type == mime
        assert document.page_count == pages, name
        assert document.original_name == name
        sha = hashlib.sha256(content).hexdigest()
        assert document.original.sha256 == sha
        assert document.size == len(content)
        with store.open_file(document.original.path) as stored:
            assert stored.read() == content, f"{name} altered in the store"
        assert (storage_dir / store.original_path(sha)).exists()
    assert list(Courrier.objects.order_by("number").values_list("number", flat=True)) == [1, 2, 3, 4, 5, 6, 7]


def test_type_comes_from_the_content_not_the_name(make_file, text_pdf) -> None:
    png = samples.image_bytes(_scan_page(), "PNG")
    assert check_file(make_file("scan.pdf", png), "scan.pdf").mime_type == "image/png"
    assert check_file(make_file("document", text_pdf("Arrêté")), "document").mime_type == "application/pdf"


def test_same_content_twice_is_stored_once(world, make_file, text_pdf, storage_dir) -> None:
    content = text_pdf("Invitation à la cérémonie du 11 novembre")
    first = register_courrier(
        organisation=world.commune,
        actor=world.secretary,
        files=[IncomingFile(make_file("a.pdf", content), "a.pdf")],
    )
    second = register_courrier(
        organisation=world.other_commune,
        actor=world.other_agent,
        files=[IncomingFile(make_file("b.pdf", content), "b.pdf")],
    )
    assert StoredFile.objects.count() == 1
    assert (
        Document.objects.get(courrier=first).original_id == Document.objects.get(courrier=second).original_id
    )
    assert len(samples.files_under(storage_dir)) == 1


def test_png_bomb_of_a_few_hundred_bytes_is_refused_without_decoding(make_file) -> None:
    path = make_file("plan.png", samples.png_bomb(30_000, 30_000))
    assert path.stat().st_size < 1000
    with pytest.raises(FileRefused) as refused:
        check_file(path, "plan.png")
    assert refused.value.code == "bomb"
    assert "démesurée" in refused.value.message


def test_image_under_the_pixel_limit_is_accepted_and_over_it_refused(settings, make_file) -> None:
    settings.MAX_IMAGE_PIXELS = 1_000_000
    small = Image.new("L", (1000, 1000), 255)
    big = Image.new("L", (1001, 1000), 255)
    assert check_file(make_file("ok.png", samples.image_bytes(small, "PNG")), "ok.png").page_count == 1
    with pytest.raises(FileRefused) as refused:
        check_file(make_file("trop.png", samples.image_bytes(big, "PNG")), "trop.png")
    assert "1001 × 1000 pixels" in refused.value.message


def _one_colour_png(width: int, height: int) -> bytes:
    """Many pixels in a few kilobytes: a 1-bit image of a single colour compresses about 1000:1."""
    return samples.image_bytes(Image.new("1", (width, height), 1), "PNG")


def test_pillow_guard_does_not_refuse_in_english_an_image_the_platform_accepts(
    settings, make_file, monkeypatch, tmp_path
) -> None:
    # Scaled down 100 times: Pillow's own guard at its default (warning above 0.9 Mpx, refusal above 1.8 Mpx)
    # while the platform allows 2 Mpx, as Pillow's 89/179 Mpx against the platform's 200 Mpx.
    settings.MAX_IMAGE_PIXELS = 2_000_000
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 894_784)
    within = make_file("plan.png", _one_colour_png(1400, 1400))  # 1.96 Mpx
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert check_file(within, "plan.png").page_count == 1
    assert [w.message for w in caught if issubclass(w.category, Image.DecompressionBombWarning)] == []

    # The OCR job opens it too (in a worker where nothing has aligned Pillow's guard yet).
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 894_784)
    workdir = tmp_path / "travail"
    workdir.mkdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = pipeline.run(within, "image/png", workdir)
    assert result.page_count == 1 and result.thumbnail is not None
    assert [w.message for w in caught if issubclass(w.category, Image.DecompressionBombWarning)] == []

    # Over the platform's limit: refused in French, with the size, for the platform's reason.
    for width, height in ((1500, 1400), (3000, 3000)):  # just over; over twice (Pillow's own refusal first)
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 894_784)
        with pytest.raises(FileRefused) as refused:
            check_file(make_file("trop.png", _one_colour_png(width, height)), "trop.png")
        assert refused.value.code == "bomb"
        assert "« trop.png » est démesurée" in refused.value.message
        assert "dépasse la limite de 2 millions de pixels par page" in refused.value.message
    assert "1500 × 1400 pixels" not in refused.value.message  # the last one, refused by Pillow
    with pytest.raises(FileRefused, match="1500 × 1400 pixels"):
        check_file(make_file("juste.png", _one_colour_png(1500, 1400)), "juste.png")


def test_pillow_guard_follows_the_platform_limit_at_its_real_size(make_file) -> None:
    """The default 200 Mpx: a 190 Mpx page (which Pillow alone refuses) passes, a 203 Mpx one does not."""
    assert check_file(make_file("carte.png", _one_colour_png(14_000, 13_572)), "carte.png").page_count == 1
    with pytest.raises(FileRefused) as refused:
        check_file(make_file("carte.png", _one_colour_png(14_500, 14_000)), "carte.png")
    assert "(14500 × 14000 pixels) : elle dépasse la limite de 200 millions" in refused.value.message


def test_every_page_of_a_multipage_tiff_is_checked(settings, make_file) -> None:
    settings.MAX_IMAGE_PIXELS = 1_000_000
    pages = [_scan_page("Un"), _scan_page("Deux"), _scan_page("Trois")]
    assert check_file(make_file("liasse.tif", samples.multipage_tiff(pages)), "liasse.tif").page_count == 3

    # The middle page declares 9 Mpx (one colour: a few kilobytes), the others are ordinary.
    huge = Image.new("L", (3000, 3000), 255)
    with pytest.raises(FileRefused) as refused:
        check_file(make_file("bombe.tif", samples.multipage_tiff([pages[0], huge, pages[2]])), "bombe.tif")
    assert refused.value.code == "bomb"
    assert "démesurée en page 2 (3000 × 3000 pixels)" in refused.value.message

    # The middle page's pixels are garbled (headers intact): only decoding it tells.
    damaged = samples.tiff_with_damaged_page(pages, 1)
    with pytest.raises(FileRefused) as refused:
        check_file(make_file("abimee.tif", damaged), "abimee.tif")
    assert refused.value.code == "corrupt"
    assert "endommagée" in refused.value.message


def test_sample_png_bomb_is_a_png_pillow_recognises() -> None:
    # Guards the refusal tests above: the bomb must be refused for its size, not as unreadable bytes.
    with Image.open(io.BytesIO(samples.png_bomb(2000, 1000))) as image:
        assert image.format == "PNG"
        assert image.size == (2000, 1000)


def test_truncated_image_is_refused_even_after_weasyprint_relaxed_pillow(make_file) -> None:
    import weasyprint  # noqa: F401 - importing it sets ImageFile.LOAD_TRUNCATED_IMAGES for the process
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES is True
    cut = samples.truncated(samples.image_bytes(_scan_page(), "JPEG"), 0.6)
    with pytest.raises(FileRefused) as refused:
        check_file(make_file("coupee.jpg", cut), "coupee.jpg")
    assert refused.value.code == "corrupt"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # WeasyPrint's own setting is given back
