"""Batch scans split into courriers: separator sheets (printed, scanned, QR decoded), blank pages, entry points.

Every batch is made of real rasterised pages (demo letters at 300 dpi, the platform's separator PDF printed
at 200–300 dpi, blank sheets with lid shadow, dust and show-through) read back by zxing-cpp.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pikepdf
import pypdfium2 as pdfium
import pytest
import zxingcpp
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from mairie.audit.models import AuditEntry
from mairie.courrier import batch, separators, services
from mairie.courrier.models import Courrier, IntakeKey
from mairie.courrier.services import IncomingFile
from mairie.courrier.tests import batch_scans as bs
from mairie.documents.checks import PDF, TIFF
from mairie.documents.models import Document, StoredFile
from mairie.documents.tests.conftest import storage_dir

__all__ = ["storage_dir"]  # fixture shared with the document tests

UPLOAD_URL = "/o/saint-aubin/courriers/nouveau/"
SHEETS_URL = "/o/saint-aubin/courrier/separateurs/"


def _chrono(number: int) -> str:
    return f"{timezone.localdate().year}-A-{number:06d}"


def _file(tmp_path: Path, name: str, data: bytes) -> IncomingFile:
    path = tmp_path / name
    path.write_bytes(data)
    return IncomingFile(path, name)


def _pages(courrier: Courrier) -> int:
    with pikepdf.open(_stored(courrier.documents.get())) as pdf:
        return len(pdf.pages)


def _stored(document: Document) -> io.BytesIO:
    from mairie.documents import store

    with store.open_file(document.original.path) as handle:
        return io.BytesIO(handle.read())


def _jpegs(pdf_bytes: bytes | io.BytesIO) -> list[bytes]:
    """The raw JPEG stream of every page (to prove parts keep the scanner's bytes)."""
    source = pdf_bytes if isinstance(pdf_bytes, io.BytesIO) else io.BytesIO(pdf_bytes)
    out = []
    with pikepdf.open(source) as pdf:
        for page in pdf.pages:
            (image,) = page.get_images().values()
            out.append(bytes(image.read_raw_bytes()))
    return out


# --- Separator sheets --------------------------------------------------------------------------------


def test_payload_round_trips_and_a_forged_or_foreign_code_is_told_apart(world) -> None:
    service = world.service("Services techniques")
    text = separators.payload(world.commune, service)
    assert text.startswith("MAIRIE-SEP:1:saint-aubin:") and str(service.pk) in text
    assert separators.parse(text) == separators.Mark(slug="saint-aubin", service_id=service.pk)
    assert separators.parse(separators.payload(world.commune)) == separators.Mark("saint-aubin", None)
    assert separators.parse("https://www.service-public.fr/") is None
    with pytest.raises(separators.ForgedMark):
        separators.parse("MAIRIE-SEP:1:saint-aubin:0123456789abcdef")
    # Changing the service (or the organisation) in a real code breaks its MAC.
    with pytest.raises(separators.ForgedMark):
        separators.parse(text.replace(f":{service.pk}:", f":{service.pk + 1}:"))
    foreign = separators.parse(separators.payload(world.other_commune))
    assert foreign is not None and foreign.slug == "villeneuve"


def test_sheets_pdf_has_n_a4_pages_with_title_service_and_a_readable_qr_code(world) -> None:
    service = world.service("Services techniques")
    data = separators.sheets_pdf(organisation=world.commune, count=3, service=service)
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert len(pdf.pages) == 3
        width, height = float(pdf.pages[0].mediabox[2]), float(pdf.pages[0].mediabox[3])
        assert (round(width), round(height)) == (595, 842)
    document = pdfium.PdfDocument(data)
    try:
        page = document[2]
        text = page.get_textpage().get_text_range()
        image = page.render(scale=150 / 72, grayscale=True).to_pil()
    finally:
        document.close()
    assert "Feuille de séparation — Mairie de Saint-Aubin-les-Vignes" in " ".join(text.split())
    assert "Placez cette feuille devant chaque courrier" in " ".join(text.split())
    assert "Services techniques" in text
    (code,) = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert separators.parse(code.text) == separators.Mark("saint-aubin", service.pk)


def test_separator_page_offers_count_and_service_and_downloads_the_pdf(world, as_user) -> None:
    client = as_user(world.secretary)
    upload = client.get(UPLOAD_URL).content.decode()
    assert SHEETS_URL in upload
    assert "séparés par des feuilles de séparation" in upload and "séparés par des pages blanches" in upload
    page = client.get(SHEETS_URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="count"' in html and 'name="service"' in html and "Services techniques" in html
    service = world.service("Services techniques")
    response = client.get(SHEETS_URL, {"pdf": "1", "count": "4", "service": service.pk})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert "attachment" in response["Content-Disposition"]
    with pikepdf.open(io.BytesIO(response.content)) as pdf:
        assert len(pdf.pages) == 4
    # A service of another commune is not a choice.
    foreign = world.service("Services techniques", world.other_commune)
    refused = client.get(SHEETS_URL, {"pdf": "1", "count": "2", "service": foreign.pk})
    assert refused.status_code == 400 and refused["Content-Type"].startswith("text/html")


# --- Detection ---------------------------------------------------------------------------------------


def test_blank_pages_are_found_but_not_a_page_with_one_short_pen_line(tmp_path) -> None:
    scan = bs.Batch().add(
        bs.blank(seed=1),
        bs.handwritten_note(seed=2),
        bs.blank(seed=3, show_through=False),
        *bs.letter(3),
    )
    path = tmp_path / "lot.pdf"
    path.write_bytes(scan.pdf())
    verdicts = [batch.is_blank(image) for image in batch.page_images(path, PDF)]
    assert verdicts == [True, False, True, False]


def test_analysis_reads_own_sheets_and_ignores_foreign_forged_and_other_qr_codes(world, tmp_path) -> None:
    service = world.service("Services techniques")
    scan = bs.Batch().add(
        bs.separator(world.commune, service, dpi=300, seed=1),
        *bs.letter(1),
        bs.separator(world.other_commune, dpi=200, seed=2),  # a sheet of Villeneuve slipped in
        bs.forged_sheet("MAIRIE-SEP:1:saint-aubin:0123456789abcdef", seed=3),
        bs.page_with_qr("https://www.service-public.fr/particuliers/vosdroits/F1234"),
        bs.separator(world.commune, dpi=200, seed=4),
        *bs.letter(2),
    )
    path = tmp_path / "lot.pdf"
    path.write_bytes(scan.pdf())
    analysis = batch.analyse(path, PDF, organisation=world.commune)
    kinds = [p.kind for p in analysis.pages]
    assert kinds == ["separator", "content", "content", "content", "content", "separator", "content"]
    assert analysis.pages[0].service_id == service.pk and analysis.pages[5].service_id is None
    assert [(p.pages, p.service_id) for p in analysis.parts] == [([1, 2, 3, 4], service.pk), ([6], None)]
    assert len(analysis.warnings) == 2
    assert "autre organisation" in analysis.warnings[0] and "villeneuve" in analysis.warnings[0]
    assert "non reconnu" in analysis.warnings[1]


# --- Split and register ------------------------------------------------------------------------------


def _separated_batch(world: Any) -> tuple[bs.Batch, Any]:
    """sheet(technique) · L1 · L2 | sheet · L3 | sheet · sheet (empty part) · L4 — 3 courriers of 2, 1, 1 pages."""
    service = world.service("Services techniques")
    scan = bs.Batch().add(
        bs.separator(world.commune, service, dpi=300, seed=1),
        *bs.letter(1),
        *bs.letter(2),
        bs.separator(world.commune, dpi=200, seed=2),
        *bs.letter(3),
        bs.separator(world.commune, dpi=200, seed=3),
        bs.separator(world.commune, dpi=200, seed=4),
        *bs.letter(4),
    )
    return scan, service


def test_batch_with_separators_becomes_one_courrier_per_part_with_consecutive_chronos(
    world, storage_dir, tmp_path
) -> None:
    scan, service = _separated_batch(world)
    data = scan.pdf()
    incoming = _file(tmp_path, "lot-du-lundi.pdf", data)
    result = batch.register_batch(organisation=world.commune, actor=world.secretary, incoming=incoming)
    assert result.split and not result.duplicate and result.warnings == []
    courriers = result.courriers
    assert [c.chrono for c in courriers] == [_chrono(1), _chrono(2), _chrono(3)]
    assert [r.pages for r in result.registered] == ["pages 2 à 3", "page 5", "page 8"]
    assert [_pages(c) for c in courriers] == [2, 1, 1]
    assert [c.service for c in courriers] == [service, None, None]
    assert all(c.channel == "scan" for c in courriers)
    # The parts hold the scanner's own JPEG streams, byte for byte (no re-encoding).
    original = _jpegs(data)
    parts = [_jpegs(_stored(c.documents.get())) for c in courriers]
    assert parts == [original[1:3], original[4:5], original[7:8]]
    # The whole batch is kept, and the split is journaled with its SHA-256 and the chronos.
    sha = __import__("hashlib").sha256(data).hexdigest()
    assert StoredFile.objects.filter(sha256=sha).exists()
    entry = AuditEntry.objects.filter(organisation=world.commune, action="courrier.batch_split").get()
    assert sha in entry.summary and _chrono(1) in entry.summary and _chrono(3) in entry.summary
    assert "découpé en 3 courriers" in entry.summary
    keys = IntakeKey.objects.filter(organisation=world.commune, source="batch").order_by("key")
    assert [k.key for k in keys] == [f"{sha}:0", f"{sha}:1", f"{sha}:2"]


def test_the_same_batch_twice_registers_nothing_more(world, storage_dir, tmp_path) -> None:
    scan, _ = _separated_batch(world)
    data = scan.pdf()
    first = batch.register_batch(
        organisation=world.commune, actor=world.secretary, incoming=_file(tmp_path, "a.pdf", data)
    )
    again = batch.register_batch(
        organisation=world.commune, actor=world.secretary, incoming=_file(tmp_path, "b.pdf", data)
    )
    assert again.duplicate and [c.pk for c in again.courriers] == [c.pk for c in first.courriers]
    assert Courrier.objects.filter(organisation=world.commune).count() == 3


def test_a_failure_on_a_later_part_registers_none_and_burns_no_number(
    world, storage_dir, tmp_path, monkeypatch
) -> None:
    scan, _ = _separated_batch(world)
    real = services.register_courrier
    calls = {"n": 0}

    def failing_on_third(**kwargs: Any) -> Courrier:  # fault injection: the database refuses part 3
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disque plein")
        return real(**kwargs)

    monkeypatch.setattr(batch, "register_courrier", failing_on_third)
    with pytest.raises(RuntimeError):
        batch.register_batch(
            organisation=world.commune, actor=world.secretary, incoming=_file(tmp_path, "lot.pdf", scan.pdf())
        )
    assert not Courrier.objects.filter(organisation=world.commune).exists()
    assert not StoredFile.objects.exists() and not list(storage_dir.rglob("*.pdf"))
    assert not [p for p in storage_dir.rglob("*") if p.is_file()]
    monkeypatch.setattr(batch, "register_courrier", real)
    retry = batch.register_batch(
        organisation=world.commune, actor=world.secretary, incoming=_file(tmp_path, "lot.pdf", scan.pdf())
    )
    assert [c.chrono for c in retry.courriers] == [_chrono(1), _chrono(2), _chrono(3)]


def test_register_courrier_nests_in_an_outer_transaction_that_rolls_back(world, storage_dir) -> None:
    with pytest.raises(ValueError), transaction.atomic():
        services.register_courrier(organisation=world.commune, actor=None, subject="Premier")
        raise ValueError
    assert services.register_courrier(organisation=world.commune, actor=None).chrono == _chrono(1)


def test_blank_pages_split_only_when_asked(world, storage_dir, tmp_path) -> None:
    scan = bs.Batch().add(
        *bs.letter(1),
        *bs.letter(2),
        bs.blank(seed=1),
        *bs.letter(3),
        bs.handwritten_note(seed=2),
        bs.blank(seed=3),
    )
    data = scan.pdf()
    asked = batch.register_batch(
        organisation=world.commune,
        actor=world.secretary,
        incoming=_file(tmp_path, "blanc.pdf", data),
        split="blank",
    )
    assert [r.pages for r in asked.registered] == ["pages 1 à 2", "pages 4 à 5"]
    assert [_pages(c) for c in asked.courriers] == [2, 2]  # the pen-line page stays with letter 3


def test_blank_pages_are_kept_when_not_asked_and_a_batch_without_separator_is_one_courrier(
    world, storage_dir, tmp_path
) -> None:
    scan = bs.Batch().add(*bs.letter(1), bs.blank(seed=1), *bs.letter(2))
    data = scan.pdf()
    result = batch.register_batch(
        organisation=world.commune, actor=world.secretary, incoming=_file(tmp_path, "lot.pdf", data)
    )
    assert not result.split and [c.chrono for c in result.courriers] == [_chrono(1)]
    document = result.courriers[0].documents.get()
    assert _stored(document).getvalue() == data  # the file itself, as scanned


def test_pages_that_are_not_one_jpeg_are_rendered_by_pdfium_and_split_alike(
    world, storage_dir, tmp_path
) -> None:
    scan = bs.Batch().add(
        bs.separator(world.commune, dpi=200, seed=1), *bs.letter(1), bs.blank(seed=2),
        bs.separator(world.commune, dpi=200, seed=3), *bs.letter(2),
    )  # fmt: skip
    data = scan.pdf(fmt="PNG")
    path = tmp_path / "lot.pdf"
    path.write_bytes(data)
    with pikepdf.open(path) as pdf:
        assert all(batch._jpeg_page(page) is None for page in pdf.pages)
    result = batch.register_batch(
        organisation=world.commune, actor=None, incoming=_file(tmp_path, "lot-png.pdf", data), split="both"
    )
    assert [r.pages for r in result.registered] == ["page 2", "page 5"]


def test_a_tiff_batch_is_split_too(world, storage_dir, tmp_path) -> None:
    scan = bs.Batch().add(
        bs.separator(world.commune, dpi=200, seed=1), *bs.letter(1), bs.separator(world.commune, dpi=200, seed=2),
        *bs.letter(2), *bs.letter(3),
    )  # fmt: skip
    incoming = _file(tmp_path, "lot.tif", scan.tiff())
    result = batch.register_batch(organisation=world.commune, actor=None, incoming=incoming)
    assert [_pages(c) for c in result.courriers] == [1, 2]
    assert result.courriers[0].documents.get().mime_type == PDF
    assert StoredFile.objects.filter(mime_type=TIFF).count() == 1  # the batch, kept


def test_a_batch_of_nothing_but_separators_is_refused_and_registers_nothing(
    world, storage_dir, tmp_path
) -> None:
    scan = bs.Batch().add(bs.separator(world.commune, dpi=200, seed=1), bs.blank(seed=2))
    with pytest.raises(services.RegistrationRefused, match="que des feuilles de séparation"):
        batch.register_batch(
            organisation=world.commune,
            actor=None,
            incoming=_file(tmp_path, "vide.pdf", scan.pdf()),
            split="both",
        )
    assert not Courrier.objects.exists()


# --- Entry points ------------------------------------------------------------------------------------


def test_upload_with_the_separator_option_lists_the_chronos_and_their_pages(
    world, as_user, storage_dir
) -> None:
    scan, service = _separated_batch(world)
    client = as_user(world.secretary)
    upload = SimpleUploadedFile("lot.pdf", scan.pdf(), content_type="application/pdf")
    data = {
        "grouping": "each",
        "channel": "scan",
        "kind": "letter",
        "split_separators": "on",
        "files": [upload],
    }
    response = client.post(UPLOAD_URL, data, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert f"{_chrono(1)} (pages 2 à 3) ; {_chrono(2)} (page 5) ; {_chrono(3)} (page 8)" in html
    assert Courrier.objects.filter(organisation=world.commune).count() == 3
    assert Courrier.objects.get(chrono=_chrono(1)).service == service


def test_upload_without_the_option_keeps_the_batch_as_one_courrier(world, as_user, storage_dir) -> None:
    scan, _ = _separated_batch(world)
    client = as_user(world.secretary)
    upload = SimpleUploadedFile("lot.pdf", scan.pdf(), content_type="application/pdf")
    response = client.post(
        UPLOAD_URL, {"grouping": "each", "channel": "scan", "kind": "letter", "files": [upload]}
    )
    assert response.status_code == 302
    assert Courrier.objects.filter(organisation=world.commune).count() == 1


def test_cli_ingest_split_prints_one_line_per_courrier_and_is_idempotent(
    world, storage_dir, tmp_path
) -> None:
    scan, _ = _separated_batch(world)
    path = tmp_path / "lot.pdf"
    path.write_bytes(scan.pdf())

    def run() -> list[dict[str, Any]]:
        out = io.StringIO()
        call_command("ingest", "--org", "saint-aubin", "--split", "separators", str(path), stdout=out)
        return [json.loads(line) for line in out.getvalue().splitlines()]

    lines = run()
    assert [(x["status"], x["chrono"], x["part"], x["parts"]) for x in lines] == [
        ("registered", _chrono(1), 1, 3),
        ("registered", _chrono(2), 2, 3),
        ("registered", _chrono(3), 3, 3),
    ]
    assert lines[0]["pages"] == "pages 2 à 3" and len(lines[0]["sha256"]) == 64
    assert [x["status"] for x in run()] == ["duplicate"] * 3
    assert Courrier.objects.count() == 3


def test_watch_folder_splits_on_separators_and_keeps_a_plain_multipage_scan_whole(
    world, storage_dir, settings, tmp_path, monkeypatch
) -> None:
    from mairie.courrier import watch

    root = tmp_path / "numerisation"
    folder = root / "saint-aubin"
    folder.mkdir(parents=True)
    settings.WATCH_DIR = str(root)
    monkeypatch.setattr(watch, "SETTLE_SECONDS", 0.0)
    scan, service = _separated_batch(world)
    data = scan.pdf()
    (folder / "lot.pdf").write_bytes(data)
    (folder / "lettre.pdf").write_bytes(bs.Batch().add(*bs.letter(5), *bs.letter(6)).pdf())
    results = watch.scan_watch_dir()
    # Files are taken in name order: lettre.pdf, then lot.pdf.
    assert results == [_chrono(1), f"{_chrono(2)}, {_chrono(3)}, {_chrono(4)}"]
    assert Courrier.objects.filter(organisation=world.commune).count() == 4
    assert Courrier.objects.filter(service=service).count() == 1
    assert not [p for p in folder.iterdir() if p.is_file()]
    assert len(list((folder / watch.DONE_DIR).iterdir())) == 2
    # The same file dropped again (copied back by hand): nothing new.
    (folder / "lot.pdf").write_bytes(data)
    assert watch.scan_watch_dir() == [f"{_chrono(2)}, {_chrono(3)}, {_chrono(4)}"]
    assert Courrier.objects.filter(organisation=world.commune).count() == 4


@pytest.mark.django_db(transaction=True)
def test_the_same_batch_sent_twice_at_the_same_instant_is_registered_once(storage_dir, tmp_path) -> None:
    import threading

    from django.db import connections

    from mairie.organisations.models import Organisation
    from mairie.testing.personas import build_world

    world = build_world()
    scan, _ = _separated_batch(world)
    data = scan.pdf()
    results: list[batch.BatchResult] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def send(name: str) -> None:
        try:
            organisation = Organisation.objects.get(slug="saint-aubin")
            incoming = _file(tmp_path, name, data)
            start.wait()
            results.append(batch.register_batch(organisation=organisation, actor=None, incoming=incoming))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(f"lot-{n}.pdf",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert sorted(r.duplicate for r in results) == [False, True]
    assert [c.pk for c in results[0].courriers] == [c.pk for c in results[1].courriers]
    assert Courrier.objects.filter(organisation=world.commune).count() == 3
    assert AuditEntry.objects.filter(action="courrier.batch_split").count() == 1
    assert [c.chrono for c in results[0].courriers] == [_chrono(1), _chrono(2), _chrono(3)]
