"""Turn an original into renditions: searchable PDF, first-page thumbnail, extracted text.

- A PDF page that already carries text keeps it (no OCR).
- A scanned page (one image covering the page, as scanners produce) goes the fast way: its image is
  taken out of the PDF as is (JPEG bytes are not re-encoded), all pages go through one Tesseract run
  that writes a text-only PDF and the text, and each text page is laid over its original page. This is
  the approach of OCRmyPDF's "sandwich" renderer without re-rasterising the page: the whole pipeline costs
  little more than Tesseract itself (benchmark B1).
- Anything else (pages mixing drawings and images, rotated placements) goes through OCRmyPDF, which
  rasterises and OCRs the pages that have no text.
"""

from __future__ import annotations

import ctypes
import email
import email.policy
import html
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import img2pdf
import pikepdf
from django.conf import settings
from PIL import Image

from mairie.documents import office
from mairie.documents.checks import EML, JPEG, PDF, PDFIUM_LOCK, PNG, TIFF, align_pillow_limit

logger = logging.getLogger("mairie.documents")

THUMBNAIL_WIDTH = 320
_WORD_CHAR = re.compile(r"\w")
# A page with fewer letters than this in its text layer is treated as a scan (scanner stamps, headers).
MIN_TEXT_CHARS = 40


class PipelineError(Exception):
    """A document could not be processed; the message is shown to administrators."""


@dataclass
class PipelineResult:
    text: str
    text_source: str  # "text-layer", "ocr", "mixed", "email", "office", "none"
    page_count: int | None
    searchable_pdf: Path | None = None  # None: the original already is the searchable PDF (or not a PDF)
    thumbnail: Path | None = None
    warnings: list[str] = field(default_factory=list)


def ocr_env() -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_THREAD_LIMIT"] = "1"
    return env


# --- Child processes die with the worker ---------------------------------------------------------------

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_prctl: Callable[..., int] | None = None
if sys.platform.startswith("linux"):
    try:
        _prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child only calls it
    except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
        _prctl = None


def _die_with(parent_pid: int) -> None:
    """In the child, between fork and exec: be killed when the thread that started us dies."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl: nobody would kill us any more
        os._exit(1)


def dies_with_worker() -> Callable[[], None] | None:
    """``preexec_fn`` making a child (Tesseract) die with the process that runs the job.

    A worker killed with SIGKILL (OOM killer, ``systemctl kill``, a crash) runs no clean-up: its Tesseract
    would go on, orphaned, until its next progress line meets the closed pipe (SIGPIPE), or to the end of a
    long page, eating the CPU the next worker needs for the same job. The kernel's parent-death signal
    (``PR_SET_PDEATHSIG``, kept across exec) kills it at once instead. It fires when the *thread* that
    started the child ends: the pipeline waits for its children in that very thread. Linux only (elsewhere:
    nothing). Cost: a fork instead of a vfork, about 5 ms once per document (0.7 % of a light page's OCR).
    pdftotext does not need it: it writes its output to the pipe as it goes, SIGPIPE stops it. OCRmyPDF
    (the fallback for pages that are not plain scans) starts its Tesseract itself, in-process: those
    children are not covered (see ``_process_pdf_with_ocrmypdf``).
    """
    if _prctl is None:
        return None
    parent = os.getpid()
    return lambda: _die_with(parent)


def run(source: Path, mime_type: str, workdir: Path) -> PipelineResult:
    align_pillow_limit()  # an image the checks accepted opens here too, without Pillow's warning
    if mime_type == PDF:
        return _process_pdf(source, workdir)
    if mime_type in (PNG, JPEG, TIFF):
        return _process_image(source, workdir)
    if mime_type == EML:
        return _process_email(source)
    if mime_type in office.OFFICE_TYPES:
        return _process_office(source, mime_type, workdir)
    raise PipelineError(f"Type de document non pris en charge : {mime_type}")


# --- PDF ---------------------------------------------------------------------------------------------


def pdf_page_texts(path: Path) -> list[str]:
    try:
        out = subprocess.run(
            ["pdftotext", "-enc", "UTF-8", str(path), "-"],
            check=True,
            capture_output=True,
            timeout=settings.OCR_TIMEOUT,
        ).stdout.decode("utf-8", "replace")
    except FileNotFoundError as exc:
        raise PipelineError("pdftotext est introuvable : installez le paquet poppler-utils.") from exc
    except subprocess.CalledProcessError as exc:
        raise PipelineError(
            f"Lecture du texte du PDF impossible : {exc.stderr.decode(errors='replace')}"
        ) from exc
    pages = out.split("\f")
    if pages and not pages[-1].strip():
        pages = pages[:-1]
    return pages


def _has_text(text: str) -> bool:
    return len(_WORD_CHAR.findall(text)) >= MIN_TEXT_CHARS


@dataclass
class _ScanPage:
    index: int
    image_path: Path
    dpi: int


def _extract_scan_image(page: pikepdf.Page, index: int, workdir: Path) -> _ScanPage | None:
    """The page's image as a file Tesseract reads, when the page is one image covering the page."""
    if int(page.obj.get("/Rotate", 0)) % 360 != 0:
        return None
    images = list(page.get_images().values()) if hasattr(page, "get_images") else list(page.images.values())
    if len(images) != 1:
        return None
    image = pikepdf.PdfImage(images[0])  # type: ignore[arg-type]
    box = page.mediabox
    width_pt = float(box[2]) - float(box[0])
    height_pt = float(box[3]) - float(box[1])
    if width_pt <= 0 or height_pt <= 0 or image.width <= 0 or image.height <= 0:
        return None
    if abs(image.width / image.height - width_pt / height_pt) > 0.02 * (width_pt / height_pt):
        return None
    if image.width * image.height > settings.MAX_IMAGE_PIXELS:
        raise PipelineError(
            f"La page {index + 1} contient une image démesurée ({image.width} × {image.height})."
        )
    dpi = round(image.width / (width_pt / 72))
    if dpi < 50 or dpi > 1200:
        return None
    prefix = workdir / f"page-{index:05d}"
    filters = image.filters
    if filters == ["/DCTDecode"] and image.mode in ("L", "RGB"):
        path = Path(image.extract_to(fileprefix=str(prefix)))
    else:
        pil = image.as_pil_image()
        if pil.mode not in ("1", "L", "RGB"):
            pil = pil.convert("RGB")
        path = prefix.with_suffix(".pnm")
        pil.save(path, format="PPM")
    return _ScanPage(index, path, dpi)


def _tesseract(inputs: list[Path], dpi: int, out_base: Path) -> tuple[Path, list[str]]:
    """One Tesseract run over several page images: a text-only PDF and the text of each page."""
    if len(inputs) == 1:
        source = str(inputs[0])
    else:
        listing = out_base.with_suffix(".list")
        listing.write_text("\n".join(str(p) for p in inputs) + "\n")
        source = str(listing)
    cmd = [
        "tesseract",
        source,
        str(out_base),
        "-l",
        settings.OCR_LANGUAGE,
        "--dpi",
        str(dpi),
        "-c",
        "textonly_pdf=1",
        "pdf",
        "txt",
    ]
    try:
        subprocess.run(
            cmd,
            check=True,
            capture_output=True,
            env=ocr_env(),
            timeout=settings.OCR_TIMEOUT * len(inputs),
            preexec_fn=dies_with_worker(),
        )
    except FileNotFoundError as exc:
        raise PipelineError(
            "Tesseract est introuvable : installez tesseract-ocr et tesseract-ocr-fra."
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise PipelineError("La reconnaissance de texte a dépassé le temps autorisé.") from exc
    except subprocess.CalledProcessError as exc:
        raise PipelineError(
            f"La reconnaissance de texte a échoué : {exc.stderr.decode(errors='replace')[-500:]}"
        ) from exc
    texts = out_base.with_suffix(".txt").read_text(encoding="utf-8", errors="replace").split("\f")
    texts = (texts + [""] * len(inputs))[: len(inputs)]
    return out_base.with_suffix(".pdf"), [t.strip() for t in texts]


def _ocr_pages(pages: list[_ScanPage], workdir: Path) -> dict[int, tuple[pikepdf.Pdf, int, str]]:
    """OCR scan pages, grouped by resolution: page index → (text-only PDF, page in it, text)."""
    by_dpi: dict[int, list[_ScanPage]] = {}
    for page in pages:
        by_dpi.setdefault(page.dpi, []).append(page)
    result: dict[int, tuple[pikepdf.Pdf, int, str]] = {}
    for dpi, group in by_dpi.items():
        text_pdf_path, texts = _tesseract([p.image_path for p in group], dpi, workdir / f"ocr-{dpi}")
        text_pdf = pikepdf.open(text_pdf_path)
        for position, page in enumerate(group):
            result[page.index] = (text_pdf, position, texts[position])
    return result


def _process_pdf(source: Path, workdir: Path) -> PipelineResult:
    texts = pdf_page_texts(source)
    with pikepdf.open(source) as pdf:
        count = len(pdf.pages)
        texts = (texts + [""] * count)[:count]
        to_ocr = [i for i in range(count) if not _has_text(texts[i])]
        if not to_ocr:
            thumb = _thumbnail_from_pdf(source, workdir)
            return PipelineResult("\f".join(t.strip() for t in texts), "text-layer", count, None, thumb)
        scans: list[_ScanPage] = []
        for index in to_ocr:
            scan = _extract_scan_image(pdf.pages[index], index, workdir)
            if scan is None:
                break
            scans.append(scan)
        if len(scans) != len(to_ocr):
            pdf.close()
            return _process_pdf_with_ocrmypdf(source, workdir, count, len(to_ocr))
        ocr = _ocr_pages(scans, workdir)
        for index, (text_pdf, position, text) in ocr.items():
            pdf.pages[index].add_overlay(text_pdf.pages[position])  # type: ignore[call-arg]
            texts[index] = text
        out = workdir / "searchable.pdf"
        pdf.save(out)
        for text_pdf, _, _ in ocr.values():
            text_pdf.close()
    source_kind = "ocr" if len(to_ocr) == count else "mixed"
    first = next((s for s in scans if s.index == 0), None)
    thumb = _thumbnail_from_image(first.image_path, workdir) if first else _thumbnail_from_pdf(out, workdir)
    return PipelineResult("\f".join(t.strip() for t in texts), source_kind, count, out, thumb)


def _process_pdf_with_ocrmypdf(source: Path, workdir: Path, count: int, ocr_pages: int) -> PipelineResult:
    """OCRmyPDF, in this process: it starts one Tesseract per page itself, without ``dies_with_worker``.

    Known limitation: if the worker is killed meanwhile, the Tesseract of the page under way is orphaned
    and runs on to the end of that page. Running OCRmyPDF in a child process of its own would not be
    enough (its Tesseract would be orphaned in turn) and costs its start-up: measured 1.65 s instead of
    1.17 s CPU for a one-page document (+40 %), to save at most one page of OCR.
    """
    import ocrmypdf

    os.environ["OMP_THREAD_LIMIT"] = "1"
    out = workdir / "searchable-ocrmypdf.pdf"
    try:
        ocrmypdf.ocr(
            source,
            out,
            language=[settings.OCR_LANGUAGE],
            skip_text=True,
            output_type="pdf",
            optimize=0,
            jobs=1,
            progress_bar=False,
            rasterizer="pypdfium",
            pdf_renderer="sandwich",
            tesseract_timeout=settings.OCR_TIMEOUT,
        )
    except Exception as exc:
        raise PipelineError(f"OCRmyPDF n'a pas pu traiter le document : {exc}") from exc
    texts = pdf_page_texts(out)
    kind = "ocr" if ocr_pages == count else "mixed"
    return PipelineResult(
        "\f".join(t.strip() for t in texts), kind, count, out, _thumbnail_from_pdf(out, workdir)
    )


# --- Office documents --------------------------------------------------------------------------------


def _process_office(source: Path, mime_type: str, workdir: Path) -> PipelineResult:
    """LibreOffice's PDF is the searchable PDF: its text layer is the document's own text, never OCRed.

    Images pasted into a document (a scan in a Word file) are shown but not read: OCR of office documents
    would cost seconds for every short letter whose pages carry little text.
    """
    try:
        pdf_path = office.convert_to_pdf(source, mime_type, workdir)
    except office.ConversionError as exc:
        raise PipelineError(str(exc)) from exc
    try:
        with pikepdf.open(pdf_path) as pdf:
            count = len(pdf.pages)
    except pikepdf.PdfError as exc:
        raise PipelineError(f"La conversion du document en PDF a échoué : PDF illisible ({exc}).") from exc
    if count == 0:
        raise PipelineError("La conversion du document en PDF a échoué : le PDF obtenu n'a aucune page.")
    texts = (pdf_page_texts(pdf_path) + [""] * count)[:count]
    text = "\f".join(t.strip() for t in texts)
    return PipelineResult(text, "office", count, pdf_path, _thumbnail_from_pdf(pdf_path, workdir))


# --- Images ------------------------------------------------------------------------------------------


def _image_dpi(image: Image.Image) -> int:
    dpi = image.info.get("dpi")
    if dpi:
        try:
            value = round(float(dpi[0]))
        except (TypeError, ValueError, IndexError):
            value = 0
        if 50 <= value <= 1200:
            return value
    # Scanners that forget the resolution: guess from the width of an A4 page.
    return 300 if image.size[0] >= 2000 else 150


def _process_image(source: Path, workdir: Path) -> PipelineResult:
    frames: list[Path] = []
    with Image.open(source) as image:
        count = getattr(image, "n_frames", 1)
        dpi = _image_dpi(image)
        simple = count == 1 and image.mode in ("1", "L", "RGB") and image.format in ("JPEG", "PNG")
        if simple:
            frames = [source]
        else:
            for index in range(count):
                image.seek(index)
                frame = image.convert("RGB") if image.mode not in ("1", "L", "RGB") else image.copy()
                path = workdir / f"frame-{index:05d}.pnm"
                frame.save(path, format="PPM")
                frames.append(path)
    layout = img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))
    base = workdir / "base.pdf"
    try:
        base.write_bytes(
            img2pdf.convert([str(f) for f in frames], layout_fun=layout, rotation=img2pdf.Rotation.ifvalid)
        )
    except Exception as exc:
        raise PipelineError(f"Conversion de l'image en PDF impossible : {exc}") from exc
    text_pdf_path, texts = _tesseract(frames, dpi, workdir / "ocr")
    out = workdir / "searchable.pdf"
    with pikepdf.open(base) as pdf, pikepdf.open(text_pdf_path) as text_pdf:
        for index, page in enumerate(pdf.pages):
            if index < len(text_pdf.pages):
                page.add_overlay(text_pdf.pages[index])  # type: ignore[call-arg]
        pdf.save(out)
    thumb = _thumbnail_from_image(frames[0], workdir)
    return PipelineResult("\f".join(texts), "ocr", count, out, thumb)


# --- E-mail (kept as is; full e-mail intake comes with the mail issue) -----------------------------------


_TAG_RE = re.compile(r"<[^>]+>")


def _process_email(source: Path) -> PipelineResult:
    warnings: list[str] = []
    try:
        message = email.message_from_bytes(source.read_bytes(), policy=email.policy.default)
        parts = [
            f"De : {message.get('From', '')}",
            f"À : {message.get('To', '')}",
            f"Objet : {message.get('Subject', '')}",
        ]
        body = message.get_body(preferencelist=("plain", "html"))  # type: ignore[attr-defined]
        if body is not None:
            content = body.get_content()
            if body.get_content_subtype() == "html":
                content = html.unescape(_TAG_RE.sub(" ", content))
            parts.append(content)
        text = "\n".join(parts)
    except Exception as exc:
        logger.warning("Courriel illisible : %s", exc)
        warnings.append("Le courriel n'a pas pu être entièrement lu ; l'original est conservé tel quel.")
        text = ""
    return PipelineResult(text, "email", None, None, None, warnings)


# --- Thumbnails --------------------------------------------------------------------------------------


def _thumbnail_from_image(path: Path, workdir: Path) -> Path:
    out = workdir / "thumbnail.png"
    with Image.open(path) as image:
        if image.format == "JPEG":
            image.draft("L" if image.mode == "L" else "RGB", (THUMBNAIL_WIDTH * 2, THUMBNAIL_WIDTH * 3))
        thumb = image.convert("L") if image.mode in ("1", "L") else image.convert("RGB")
        thumb.thumbnail((THUMBNAIL_WIDTH, THUMBNAIL_WIDTH * 2))
        thumb.save(out, format="PNG", optimize=False)
    return out


def _thumbnail_from_pdf(path: Path, workdir: Path) -> Path | None:
    import pypdfium2 as pdfium

    out = workdir / "thumbnail.png"
    with PDFIUM_LOCK:
        document = pdfium.PdfDocument(str(path))
        try:
            page = document[0]
            width, _ = page.get_size()
            bitmap = page.render(scale=THUMBNAIL_WIDTH / max(width, 1))
            bitmap.to_pil().save(out, format="PNG")
            page.close()
        except Exception as exc:  # a thumbnail is a convenience: never fail the document for it
            logger.warning("Vignette impossible pour %s : %s", path.name, exc)
            return None
        finally:
            document.close()
    return out
