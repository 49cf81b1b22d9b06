"""Batch scans: one file holding many letters, split into courriers on separator sheets or blank pages.

Detection looks at each page at low resolution (about 100–150 dpi, grey): a scanned page that is one
JPEG is decoded straight from the PDF at a reduced scale (JPEG's DCT scaling: no full decode, no
rasterisation); any other page is rendered by PDFium. QR codes are read by zxing-cpp and checked by
:mod:`mairie.courrier.separators`. No OCR here: each part's text is read later by its own document job.

Each part becomes a PDF made by copying the batch's page objects with pikepdf (the scanner's images are
kept byte for byte, never re-encoded) and its own courrier through ``register_courrier``. All parts are
registered in one outer transaction: ``register_courrier`` nests (its atomic block becomes a savepoint,
its chrono counter and journal head locks are held until the outer commit), so a failure on any part
registers none and burns no number. The batch itself is stored as a content-addressed original (a
``StoredFile`` kept by the same transaction) and named by its SHA-256 in the journal entry of the split:
the separator sheets and blank pages that were left out are never lost.

Idempotence: each part is registered with the intake key ``("batch", "<sha256 of the batch>:<part>")``.
The same file submitted again, by any channel, returns the courriers already registered.
"""

from __future__ import annotations

import io
import logging
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pikepdf
from django.db import IntegrityError, connection, transaction

from mairie.audit.services import record
from mairie.courrier import separators
from mairie.courrier.models import Channel, Courrier, IntakeKey
from mairie.courrier.services import (
    IncomingFile,
    RegistrationRefused,
    check_files,
    log_refusals,
    register_courrier,
)
from mairie.documents import store
from mairie.documents.checks import PDF, PDFIUM_LOCK, TIFF, CheckedFile, FileRefused
from mairie.organisations.models import Organisation, Service

logger = logging.getLogger("mairie.courrier")

INTAKE_SOURCE = "batch"
SPLIT_MODES = ("separators", "blank", "both")
SPLITTABLE = {PDF, TIFF}

# Detection resolution: enough for a QR code of the printed size (95 mm, ~10 px per module) and for a
# pen stroke; low enough to stay a small fraction of the OCR that follows.
DETECTION_DPI = 100
# Blank pages: the borders (scanner lid shadow, punch holes, torn edges) are not looked at.
BLANK_MARGIN_MM = 12.0
# A pixel is ink when clearly darker than the paper (show-through from the back stays lighter).
INK_CONTRAST = 80
# Ink is counted by cells of 2.5 mm: a dust speck darkens a few pixels of one cell, a pen stroke many cells.
CELL_MM = 2.5
CELL_MIN_INK = 0.06
# A page is blank when fewer than this many cells hold ink, and under 0.3 % of its area is ink.
BLANK_MAX_CELLS = 4
BLANK_MAX_INK = 0.003


class PageKind:
    CONTENT = "content"
    SEPARATOR = "separator"
    BLANK = "blank"


@dataclass
class PageVerdict:
    index: int  # 0-based in the batch
    kind: str = PageKind.CONTENT
    service_id: int | None = None


@dataclass
class Part:
    pages: list[int]  # 0-based page indices in the batch
    service_id: int | None = None

    def describe(self) -> str:
        first, last = self.pages[0] + 1, self.pages[-1] + 1
        return f"page {first}" if first == last else f"pages {first} à {last}"


@dataclass
class Analysis:
    pages: list[PageVerdict]
    warnings: list[str] = field(default_factory=list)

    @property
    def separators(self) -> int:
        return sum(1 for p in self.pages if p.kind == PageKind.SEPARATOR)

    @property
    def parts(self) -> list[Part]:
        """Runs of content pages between separators and blank pages; empty runs are dropped."""
        parts: list[Part] = []
        current = Part(pages=[])
        for page in self.pages:
            if page.kind == PageKind.CONTENT:
                current.pages.append(page.index)
                continue
            if current.pages:
                parts.append(current)
            # A separator names the service of what follows it; a blank page keeps the running one.
            service_id = page.service_id if page.kind == PageKind.SEPARATOR else current.service_id
            current = Part(pages=[], service_id=service_id)
        if current.pages:
            parts.append(current)
        return parts


# --- Looking at the pages ----------------------------------------------------------------------------


@dataclass
class PageImage:
    pixels: np.ndarray  # 2-D uint8, grey
    dpi: float


def _jpeg_page(page: pikepdf.Page) -> bytes | None:
    """The JPEG bytes of a page that is nothing but one JPEG image (a scanner's page), or None."""
    resources = page.obj.get("/Resources")
    if resources is None or "/Font" in resources:
        return None
    xobjects = resources.get("/XObject")
    if xobjects is None or len(xobjects.keys()) != 1:
        return None
    image = xobjects[next(iter(xobjects.keys()))]
    if image.get("/Subtype") != "/Image" or image.get("/Filter") != "/DCTDecode" or "/SMask" in image:
        return None
    if image.get("/Decode") is not None:  # an inverted image: let PDFium apply it
        return None
    return bytes(image.read_raw_bytes())


def _reduced_jpeg(data: bytes, page_width_pt: float) -> PageImage | None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            full_width = image.width
            dpi = full_width / (page_width_pt / 72)
            factor = max(1, int(dpi / DETECTION_DPI + 0.05))
            image.draft("L", (full_width // factor, image.height // factor))
            grey = image.convert("L")
            return PageImage(np.asarray(grey), dpi * grey.width / full_width)
    except OSError:
        return None


def _pdf_pages(path: Path) -> Iterator[PageImage]:
    import pypdfium2 as pdfium

    with pikepdf.open(path) as pdf:
        rendered: pdfium.PdfDocument | None = None
        try:
            for index, page in enumerate(pdf.pages):
                width_pt = float(page.mediabox[2]) - float(page.mediabox[0])
                data = _jpeg_page(page)
                found = _reduced_jpeg(data, width_pt) if data is not None else None
                if found is not None:
                    yield found
                    continue
                with PDFIUM_LOCK:
                    if rendered is None:
                        rendered = pdfium.PdfDocument(str(path))
                    rpage = rendered[index]
                    bitmap = rpage.render(scale=DETECTION_DPI / 72, grayscale=True)
                    pixels = bitmap.to_numpy()
                    rpage.close()
                if pixels.ndim == 3:
                    pixels = pixels[:, :, 0]
                yield PageImage(np.ascontiguousarray(pixels), DETECTION_DPI)
        finally:
            if rendered is not None:
                with PDFIUM_LOCK:
                    rendered.close()


def _tiff_pages(path: Path) -> Iterator[PageImage]:
    from PIL import Image, ImageSequence

    with Image.open(path) as image:
        for frame in ImageSequence.Iterator(image):
            dpi = float((frame.info.get("dpi") or (200, 200))[0]) or 200.0
            factor = max(1, int(dpi / DETECTION_DPI + 0.05))
            grey = frame.convert("L")
            if factor > 1:
                grey = grey.reduce(factor)
            yield PageImage(np.asarray(grey), dpi / factor)


def page_images(path: Path, mime: str) -> Iterator[PageImage]:
    if mime == PDF:
        return _pdf_pages(path)
    if mime == TIFF:
        return _tiff_pages(path)
    raise ValueError(f"Type non découpable : {mime}")


def is_blank(image: PageImage) -> bool:
    """Near-uniform paper once the borders are left aside and scanner noise discounted."""
    pixels = image.pixels
    margin = int(BLANK_MARGIN_MM / 25.4 * image.dpi)
    inner = pixels[margin : pixels.shape[0] - margin, margin : pixels.shape[1] - margin]
    if inner.size == 0:
        return True
    paper = int(np.median(inner))
    ink = inner < min(paper - INK_CONTRAST, 170)
    if ink.mean() >= BLANK_MAX_INK:
        return False
    cell = max(2, round(CELL_MM / 25.4 * image.dpi))
    rows, cols = ink.shape[0] // cell, ink.shape[1] // cell
    counts = ink[: rows * cell, : cols * cell].reshape(rows, cell, cols, cell).sum(axis=(1, 3))
    inked_cells = int((counts >= max(3, CELL_MIN_INK * cell * cell)).sum())
    return inked_cells < BLANK_MAX_CELLS


def _qr_texts(image: PageImage) -> list[str]:
    import zxingcpp

    found = zxingcpp.read_barcodes(
        image.pixels, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    return [b.text for b in found if b.valid]


def analyse(
    path: Path, mime: str, *, organisation: Organisation, separators_on: bool = True, blank_on: bool = False
) -> Analysis:
    """Say for each page whether it is content, one of our separator sheets or (when asked) blank."""
    services = {s.pk for s in Service.objects.for_org(organisation).filter(is_active=True)}
    analysis = Analysis(pages=[])
    for index, image in enumerate(page_images(path, mime)):
        verdict = PageVerdict(index=index)
        analysis.pages.append(verdict)
        if separators_on:
            for text in _qr_texts(image):
                try:
                    mark = separators.parse(text)
                except separators.ForgedMark:
                    analysis.warnings.append(
                        f"Page {index + 1} : code QR de séparation non reconnu (feuille d'une autre plateforme "
                        "ou altérée) ; la page est gardée dans le courrier."
                    )
                    continue
                if mark is None:
                    continue  # a QR code printed on the letter itself
                if mark.slug != organisation.slug:
                    analysis.warnings.append(
                        f"Page {index + 1} : feuille de séparation d'une autre organisation (« {mark.slug} ») "
                        "ignorée ; la page est gardée dans le courrier."
                    )
                    continue
                verdict.kind = PageKind.SEPARATOR
                if mark.service_id is not None and mark.service_id not in services:
                    analysis.warnings.append(
                        f"Page {index + 1} : le service de la feuille de séparation n'existe plus ou est "
                        "inactif ; le courrier suivant n'est attribué à aucun service."
                    )
                else:
                    verdict.service_id = mark.service_id
                break
        if blank_on and verdict.kind == PageKind.CONTENT and is_blank(image):
            verdict.kind = PageKind.BLANK
    return analysis


# --- Splitting ---------------------------------------------------------------------------------------


def _as_pdf(checked: CheckedFile, workdir: Path) -> Path:
    """The batch as a PDF: itself, or a multi-page TIFF put losslessly into a PDF (img2pdf)."""
    if checked.mime_type == PDF:
        return checked.path
    import img2pdf
    from PIL import Image, ImageSequence

    target = workdir / "lot.pdf"
    try:
        target.write_bytes(img2pdf.convert(str(checked.path)))
    except Exception:  # a TIFF img2pdf cannot embed as is (alpha, odd compression): lossless PNG pages
        pages: list[bytes] = []
        with Image.open(checked.path) as image:
            for frame in ImageSequence.Iterator(image):
                buffer = io.BytesIO()
                frame.convert("L" if frame.mode in ("1", "L", "LA", "I;16") else "RGB").save(
                    buffer, format="PNG", dpi=frame.info.get("dpi", (200, 200))
                )
                pages.append(buffer.getvalue())
        target.write_bytes(img2pdf.convert(pages))
    return target


def write_parts(source: Path, parts: Sequence[Part], workdir: Path, stem: str) -> list[Path]:
    """One PDF per part, made of the batch's own page objects (images copied, not re-encoded)."""
    written: list[Path] = []
    with pikepdf.open(source) as pdf:
        for number, part in enumerate(parts, start=1):
            out = pikepdf.new()
            out.pages.extend(pdf.pages[i] for i in part.pages)
            target = workdir / f"{stem}-{number:03d}.pdf"
            # Deterministic: the same batch always gives byte-identical parts (same SHA-256).
            out.save(target, deterministic_id=True)
            out.close()
            written.append(target)
    return written


# --- Registering -------------------------------------------------------------------------------------


@dataclass
class Registered:
    courrier: Courrier
    pages: str  # "pages 2 à 4" of the batch ("" for a file that was not split)


@dataclass
class BatchResult:
    registered: list[Registered]
    duplicate: bool = False
    split: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def courriers(self) -> list[Courrier]:
        return [r.courrier for r in self.registered]


def known_batch(organisation: Organisation, sha256: str) -> list[Courrier]:
    """The courriers already registered from this batch, in the order of its parts."""
    keys = IntakeKey.objects.for_org(organisation).filter(source=INTAKE_SOURCE, key__startswith=f"{sha256}:")
    found = sorted(keys.select_related("courrier"), key=lambda k: int(k.key.rsplit(":", 1)[1]))
    return [k.courrier for k in found]


def _check_one(organisation: Organisation, actor: Any, incoming: IncomingFile) -> CheckedFile:
    accepted, refused = check_files([incoming])
    if refused:
        log_refusals(organisation=organisation, actor=actor, refusals=refused)
        raise RegistrationRefused(refused)
    return accepted[0]


class _AlreadyRegistered(Exception):
    pass


def _lock_batch(sha256: str) -> None:
    """Serialise the registrations of one batch file until the transaction ends.

    Two requests sending the same file at once must not both register it: the second waits here for the
    first's commit, then finds its intake keys. SQLite needs nothing (``BEGIN IMMEDIATE`` already lets one
    writer in at a time); PostgreSQL takes a transaction-level advisory lock named by the file's hash, which
    keeps other registrations of the organisation free to go on.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int(sha256[:15], 16)])


def register_batch(
    *,
    organisation: Organisation,
    actor: Any,
    incoming: IncomingFile | None = None,
    checked: CheckedFile | None = None,
    split: str = "separators",
    single_intake_key: tuple[str, str] | None = None,
    channel: str = Channel.SCAN,
    service: Service | None = None,
    **common: Any,
) -> BatchResult:
    """Register a batch scan as one courrier per part; a file with nothing to split stays one courrier.

    ``split`` is ``separators``, ``blank`` or ``both``. ``common`` goes to every ``register_courrier``
    (subject, contact, kind, due date, status…); a part after a pre-filled separator sheet takes that
    sheet's service instead of ``service``. ``single_intake_key`` is the intake key used when the file
    is not split (the scan folder keeps its own), by default the batch key of part 0.
    Must run outside any transaction (see register_courrier); the parts commit together or not at all.
    """
    if split not in SPLIT_MODES:
        raise ValueError(f"Mode de découpage inconnu : {split}")
    if checked is None:
        if incoming is None:
            raise ValueError("incoming or checked is required")
        checked = _check_one(organisation, actor, incoming)
    already = known_batch(organisation, checked.sha256)
    if already:
        return BatchResult([Registered(c, "") for c in already], duplicate=True, split=len(already) > 1)
    single_key = single_intake_key or (INTAKE_SOURCE, f"{checked.sha256}:0")

    def single(warnings: list[str]) -> BatchResult:
        known = (
            IntakeKey.objects.for_org(organisation).filter(source=single_key[0], key=single_key[1]).exists()
        )
        courrier = register_courrier(
            organisation=organisation,
            actor=actor,
            checked=[checked],
            channel=channel,
            service=service,
            intake_key=single_key,
            **common,
        )
        return BatchResult([Registered(courrier, "")], duplicate=known, warnings=warnings)

    if checked.mime_type not in SPLITTABLE or (checked.page_count or 0) < 2:
        return single([])
    analysis = analyse(
        checked.path,
        checked.mime_type,
        organisation=organisation,
        separators_on=split in ("separators", "both"),
        blank_on=split in ("blank", "both"),
    )
    for warning in analysis.warnings:
        logger.warning("Lot « %s » : %s", checked.name, warning)
    parts = analysis.parts
    if not parts:
        refusal = FileRefused(
            f"Le fichier « {checked.name} » ne contient que des feuilles de séparation ou des pages blanches.",
            code="empty_batch",
        )
        log_refusals(organisation=organisation, actor=actor, refusals=[(checked.name, refusal)])
        raise RegistrationRefused([(checked.name, refusal)])
    if len(parts) == 1 and len(parts[0].pages) == len(analysis.pages):
        return single(analysis.warnings)  # nothing to leave out: the file itself, as scanned

    services = {
        s.pk: s for s in Service.objects.for_org(organisation).filter(pk__in=[p.service_id for p in parts])
    }
    stem = Path(checked.name).stem[:80] or "lot"
    with tempfile.TemporaryDirectory(prefix="mairie-lot-") as tmp:
        workdir = Path(tmp)
        files = write_parts(_as_pdf(checked, workdir), parts, workdir, stem)
        part_checked, refused = check_files([IncomingFile(path, path.name) for path in files])
        if refused:
            log_refusals(organisation=organisation, actor=actor, refusals=refused)
            raise RegistrationRefused(refused)
        written = [checked.sha256] if store.write_original(checked) else []
        registered: list[Registered] = []
        try:
            with transaction.atomic():
                _lock_batch(checked.sha256)
                if known_batch(organisation, checked.sha256):
                    raise _AlreadyRegistered  # committed by another request while we were splitting
                store.stored_file_for(checked)  # the whole batch, kept (content-addressed)
                for number, (part, item) in enumerate(zip(parts, part_checked, strict=True)):
                    courrier = register_courrier(
                        organisation=organisation,
                        actor=actor,
                        checked=[item],
                        channel=channel,
                        service=services.get(part.service_id) if part.service_id else service,
                        intake_key=(INTAKE_SOURCE, f"{checked.sha256}:{number}"),
                        **common,
                    )
                    registered.append(Registered(courrier, part.describe()))
                left_out = len(analysis.pages) - sum(len(p.pages) for p in parts)
                listing = ", ".join(f"{r.courrier.chrono} ({r.pages})" for r in registered)
                record(
                    organisation=organisation,
                    actor=actor,
                    action="courrier.batch_split",
                    summary=(
                        f"Lot « {checked.name[:200]} » ({len(analysis.pages)} pages, SHA-256 {checked.sha256}) "
                        f"découpé en {len(registered)} courriers : {listing} ; {left_out} page(s) de "
                        "séparation ou blanche(s) écartée(s), conservées dans le lot."
                    ),
                    obj=registered[0].courrier,
                )
        except (IntegrityError, _AlreadyRegistered):
            # The same batch registered at the same instant by another request (on PostgreSQL, our part's
            # intake key waited for its commit, then collided): it won, we return its work.
            store.discard_unreferenced(written + [c.sha256 for c in part_checked])
            already = known_batch(organisation, checked.sha256)
            if not already:
                raise
            return BatchResult([Registered(c, "") for c in already], duplicate=True, split=True)
        except BaseException:
            store.discard_unreferenced(written + [c.sha256 for c in part_checked])
            raise
    return BatchResult(registered, split=True, warnings=analysis.warnings)


def summary_line(name: str, result: BatchResult) -> str:
    """What the agent reads after an upload: the chronos and which pages of the batch each holds."""
    if result.duplicate:
        chronos = ", ".join(c.chrono or "" for c in result.courriers)
        return f"« {name} » était déjà enregistré : {chronos}."
    if not result.split:
        return f"« {name} » : aucune séparation trouvée, un seul courrier {result.courriers[0].chrono}."
    listing = " ; ".join(f"{r.courrier.chrono} ({r.pages})" for r in result.registered)
    return f"« {name} » découpé en {len(result.registered)} courriers : {listing}."
