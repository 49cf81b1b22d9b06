"""Checks applied to every incoming file before anything is stored.

The type is sniffed from the content, never from the name. Refusals carry a message in French meant for
the agent or citizen who sent the file.
"""

from __future__ import annotations

import hashlib
import logging
import re
import socket
import struct
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pikepdf
from django.conf import settings
from PIL import Image, ImageFile

logger = logging.getLogger("mairie.documents")

# PDFium is not thread-safe: every call into it in this process goes through this lock.
PDFIUM_LOCK = threading.Lock()

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
TIFF = "image/tiff"
EML = "message/rfc822"
# Office documents, converted to PDF by LibreOffice (mairie.documents.office).
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
DOC = "application/msword"
XLS = "application/vnd.ms-excel"
RTF = "application/rtf"
ACCEPTED = {
    PDF: "PDF",
    PNG: "image PNG",
    JPEG: "image JPEG",
    TIFF: "image TIFF",
    EML: "courriel (.eml)",
    DOCX: "document Word (.docx)",
    ODT: "document texte OpenDocument (.odt)",
    DOC: "document Word 97-2003 (.doc)",
    RTF: "document RTF (.rtf)",
    XLSX: "classeur Excel (.xlsx)",
    ODS: "classeur OpenDocument (.ods)",
    XLS: "classeur Excel 97-2003 (.xls)",
}
ACCEPTED_HUMAN = (
    "PDF, PNG, JPEG, TIFF, courriel (.eml) et documents bureautiques "
    "(.docx, .odt, .doc, .rtf, .xlsx, .ods, .xls)"
)
# For the browser's file picker (the content decides, whatever the name).
ACCEPT_ATTRIBUTE = ".pdf,.png,.jpg,.jpeg,.tif,.tiff,.eml,.docx,.odt,.doc,.rtf,.xlsx,.ods,.xls"

# Signatures of frequent formats we refuse, to tell the sender what the file really is.
_KNOWN_REFUSED: list[tuple[bytes, str]] = [
    (b"MZ", "un programme exécutable Windows"),
    (b"\x7fELF", "un programme exécutable Linux"),
    (b"#!", "un script exécutable"),
    # Office documents (ZIP, OLE2, RTF) are recognised by mairie.documents.office; what remains is this.
    (b"PK\x03\x04", "une archive ZIP"),
    (b"\xd0\xcf\x11\xe0", "un document Microsoft Office d'un type non pris en charge"),
    (b"Rar!", "une archive RAR"),
    (b"7z\xbc\xaf", "une archive 7-Zip"),
    (b"\x1f\x8b", "une archive compressée gzip"),
    (b"GIF8", "une image GIF"),
    (b"<!DOCTYPE html", "une page web HTML"),
    (b"<html", "une page web HTML"),
    (b"<?xml", "un fichier XML"),
]

_HEADER_RE = re.compile(rb"^([A-Za-z][A-Za-z0-9-]{0,60}):[ \t]?", re.MULTILINE)
_MAIL_HEADERS = {
    b"from",
    b"to",
    b"date",
    b"subject",
    b"message-id",
    b"received",
    b"mime-version",
    b"return-path",
    b"content-type",
    b"delivered-to",
}


class FileRefused(Exception):
    def __init__(self, message: str, *, code: str = "refused") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class CheckedFile:
    path: Path
    name: str
    mime_type: str
    size: int
    sha256: str
    page_count: int | None


def sniff(head: bytes) -> str | None:
    """The accepted MIME type of content starting with ``head``, or None."""
    if head.startswith(b"%PDF-"):
        return PDF
    if b"%PDF-" in head[:1024] and not _known_refused(head) and not head.lstrip().startswith(b"{\\rtf"):
        # PDF readers accept a little junk before the header; an archive or a program holding a PDF
        # near its start is not a PDF (a ZIP storing a PDF uncompressed would otherwise pass).
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return TIFF
    if _looks_like_email(head):
        return EML
    return None


def _looks_like_email(head: bytes) -> bool:
    text = head.lstrip(b"\r\n")
    if text.startswith(b"From "):  # mbox separator line
        text = text.split(b"\n", 1)[-1]
    if not _HEADER_RE.match(text):
        return False
    block = re.split(rb"\r?\n\r?\n", text, maxsplit=1)[0]
    names = {m.group(1).lower() for m in _HEADER_RE.finditer(block)}
    return len(names & _MAIL_HEADERS) >= 2 and (b"from" in names or b"received" in names)


def _known_refused(head: bytes) -> str | None:
    for signature, label in _KNOWN_REFUSED:
        if head.lstrip().startswith(signature):
            return label
    return None


def describe_refused(head: bytes) -> str:
    if not head:
        return "un fichier vide"
    return _known_refused(head) or "un type de fichier non reconnu"


def check_file(path: Path, name: str) -> CheckedFile:
    """Validate one file on disk; raise FileRefused with a French message, or return what was learnt."""
    size = path.stat().st_size
    label = f"« {name} »"
    if size == 0:
        raise FileRefused(f"Le fichier {label} est vide.", code="empty")
    limit = settings.MAX_UPLOAD_MB * 1024 * 1024
    if size > limit:
        raise FileRefused(
            f"Le fichier {label} dépasse la taille maximale de {settings.MAX_UPLOAD_MB} Mo "
            f"({size / 1024 / 1024:.1f} Mo).",
            code="too_large",
        )
    # The antivirus comes before the type: an infected program is reported (and journaled) as a virus,
    # not merely as an unknown type.
    _scan_for_viruses(path, label)
    with path.open("rb") as handle:
        head = handle.read(4096)
    mime = sniff(head)
    if mime is None:
        from mairie.documents import office  # imports this module

        if office.is_candidate(head):
            mime = office.identify(path, label)  # refuses encrypted, macro-carrying, bomb-like documents
    if mime is None:
        raise FileRefused(
            f"Le fichier {label} n'est pas accepté : son contenu est {describe_refused(head)}. "
            f"Formats acceptés : {ACCEPTED_HUMAN}.",
            code="type",
        )
    page_count: int | None = None
    if mime == PDF:
        page_count = _check_pdf(path, label)
    elif mime in (PNG, JPEG, TIFF):
        page_count = _check_image(path, label)
    return CheckedFile(path, name, mime, size, sha256_of(path), page_count)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _corrupt_pdf(label: str) -> FileRefused:
    return FileRefused(
        f"Le PDF {label} est endommagé et ne peut pas être lu. Essayez de le numériser ou de l'exporter "
        "à nouveau.",
        code="corrupt",
    )


def _check_pdf(path: Path, label: str) -> int:
    try:
        with pikepdf.open(path) as pdf:
            if pdf.is_encrypted:
                # Also a PDF with an empty user password (an "owner" password only): its content may not
                # be copied or changed, so the platform could not make the searchable rendition.
                raise FileRefused(
                    f"Le PDF {label} est chiffré ou protégé : enregistrez-en une version sans protection.",
                    code="encrypted",
                )
            count = len(pdf.pages)
            if count == 0:
                raise FileRefused(f"Le PDF {label} ne contient aucune page.", code="corrupt")
            for index, page in enumerate(pdf.pages):
                page.mediabox  # noqa: B018 - touching each page reveals a broken page tree
                _check_pdf_images(page, index, label)
    except pikepdf.PasswordError as exc:
        raise FileRefused(
            f"Le PDF {label} est protégé par un mot de passe : enregistrez-en une version sans protection.",
            code="encrypted",
        ) from exc
    except FileRefused:
        raise
    except Exception as exc:  # pikepdf raises PdfError and friends for damaged files
        logger.info("PDF refusé %s: %s", label, exc)
        raise _corrupt_pdf(label) from exc
    _check_pdf_loads(path, label, count)
    return count


def _megapixels(limit: int) -> str:
    """200000000 → "200", 1500000 → "1,5" (French decimal comma)."""
    return f"{limit / 1_000_000:g}".replace(".", ",")


def _check_pdf_images(page: pikepdf.Page, index: int, label: str) -> None:
    """Refuse an image that declares an absurd size (a few bytes of Flate can claim gigapixels)."""
    limit = settings.MAX_IMAGE_PIXELS
    for image in page.get_images().values():
        width, height = int(image.get("/Width", 0)), int(image.get("/Height", 0))
        if width * height > limit:
            raise FileRefused(
                f"Le PDF {label} contient en page {index + 1} une image démesurée ({width} × {height} "
                f"pixels) : elle dépasse la limite de {_megapixels(limit)} millions de pixels.",
                code="bomb",
            )


def _check_pdf_loads(path: Path, label: str, count: int) -> None:
    """Open the PDF with a second, independent reader and parse every page.

    qpdf (behind pikepdf) reconstructs damaged files eagerly: a truncated scan opens with its pages
    but without their images. PDFium (the engine of Chromium's viewer, used for the thumbnails and page
    images) is stricter; a file it cannot open or whose pages it cannot parse is damaged for our users.
    Loading a page parses its content stream without decoding images, so this stays fast (a few ms for
    a hundred pages).
    """
    import pypdfium2 as pdfium

    with PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError as exc:
            logger.info("PDF refusé %s (PDFium) : %s", label, exc)
            raise _corrupt_pdf(label) from exc
        index = 0
        try:
            if len(document) != count:
                logger.info("PDF refusé %s : %s pages lues au lieu de %s", label, len(document), count)
                raise _corrupt_pdf(label)
            for index in range(count):
                document[index].close()
        except pdfium.PdfiumError as exc:
            logger.info("PDF refusé %s (PDFium, page %s) : %s", label, index + 1, exc)
            raise _corrupt_pdf(label) from exc
        finally:
            document.close()


def align_pillow_limit() -> int:
    """Make Pillow's own decompression-bomb guard agree with ``MAIRIE_MAX_IMAGE_PIXELS``; return that limit.

    Pillow warns (in English) above ``Image.MAX_IMAGE_PIXELS`` (89 million pixels unless set) and refuses
    above twice that, whatever the platform's limit. Set to the platform's limit, it never stands in the way
    of an image the checks accept, neither here nor in the pipeline; an image over the limit is refused by
    the checks with a French message naming its size (beyond twice the limit, Pillow's refusal comes first
    and is turned into the same French message). Called at start-up, whenever the setting changes (tests),
    and before each check and each pipeline run (nothing else may have moved it meanwhile).
    """
    limit = int(settings.MAX_IMAGE_PIXELS)
    Image.MAX_IMAGE_PIXELS = limit
    return limit


def on_setting_changed(*, setting: str, **kwargs: object) -> None:
    """``setting_changed`` receiver: a test overriding the limit overrides Pillow's too."""
    if setting == "MAX_IMAGE_PIXELS":
        align_pillow_limit()


_PIL_CHECK_LOCK = threading.Lock()


@contextmanager
def strict_image_checking() -> Iterator[None]:
    """Make PIL fail on truncated or undecodable pixel data, and keep its bomb warnings quiet, during a check.

    Importing WeasyPrint sets ``ImageFile.LOAD_TRUNCATED_IMAGES`` for the whole process, after which PIL
    silently accepts a cut or garbled image. The flag is process-wide, so it is switched off only for
    the duration of a check, one check at a time. Pillow's ``DecompressionBombWarning`` (an image over the
    limit but under twice the limit) is ignored: the check refuses that image itself, with a French message.
    """
    with _PIL_CHECK_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _image_too_large(
    label: str, limit: int, size: tuple[int, int] | None, page: int, pages: int
) -> FileRefused:
    where = f" en page {page}" if pages > 1 else ""
    dimensions = f" ({size[0]} × {size[1]} pixels)" if size else ""
    return FileRefused(
        f"L'image {label} est démesurée{where}{dimensions} : elle dépasse la limite de "
        f"{_megapixels(limit)} millions de pixels par page.",
        code="bomb",
    )


def _check_image(path: Path, label: str) -> int:
    """Every page (frame) of the image: its size first (headers only), then all its pixels decoded."""
    limit = align_pillow_limit()
    frames, index = 1, 0
    try:
        with strict_image_checking():
            with Image.open(path) as image:  # Pillow refuses here beyond twice the limit (first page)
                frames = getattr(image, "n_frames", 1)
                for index in range(frames):
                    if index:
                        image.seek(index)
                    width, height = image.size
                    if width * height > limit or width <= 0 or height <= 0:
                        raise _image_too_large(label, limit, (width, height), index + 1, frames)
                if image.format == "PNG":
                    image.verify()  # chunk checksums
            # Decode the pixels of every page (PIL reads headers lazily): a truncated or garbled page fails
            # here, not in the background job. About 25 ms for an A4 page at 200 dpi.
            with Image.open(path) as image:
                for index in range(frames):
                    if index:
                        image.seek(index)
                    image.load()
    except FileRefused:
        raise
    except Image.DecompressionBombError as exc:
        raise _image_too_large(label, limit, None, index + 1, frames) from exc
    except Exception as exc:  # Pillow raises OSError, but also TypeError, KeyError… on damaged headers
        logger.info("Image refusée %s (page %s) : %s : %s", label, index + 1, type(exc).__name__, exc)
        raise FileRefused(f"L'image {label} est endommagée et ne peut pas être lue.", code="corrupt") from exc
    return frames


CLAMD_TIMEOUT = 120.0
_CLAMD_CHUNK = 64 * 1024


def clamd_instream(address: str, path: Path) -> str:
    """clamd's answer for a file sent with INSTREAM (« stream: OK », « stream: X FOUND », « … ERROR »).

    Our own few lines of the protocol rather than a client library's: when a file exceeds clamd's
    StreamMaxLength, clamd answers « INSTREAM size limit exceeded » and closes the connection while we are
    still sending; the answer is still there to be read, and it tells a file too large to be scanned from
    an antivirus that is down.
    """
    if address.startswith("/") or ":" not in address:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(CLAMD_TIMEOUT)
        target: Any = address
    else:
        host, port = address.rsplit(":", 1)
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(CLAMD_TIMEOUT)
        target = (host.strip("[]"), int(port))
    with sock:
        sock.connect(target)
        sock.sendall(b"zINSTREAM\0")
        try:
            with path.open("rb") as handle:
                while chunk := handle.read(_CLAMD_CHUNK):
                    sock.sendall(struct.pack("!L", len(chunk)) + chunk)
            sock.sendall(struct.pack("!L", 0))
        except (BrokenPipeError, ConnectionResetError):
            pass  # clamd stopped reading: its answer says why
        answer = b""
        while not answer.endswith(b"\0"):
            data = sock.recv(4096)
            if not data:
                break
            answer += data
    return answer.rstrip(b"\0").decode("utf-8", "replace").strip()


def _scan_for_viruses(path: Path, label: str) -> None:
    address = settings.CLAMD
    if not address:
        return
    try:
        answer = clamd_instream(address, path)
    except OSError as exc:  # unreachable daemon, timeout
        answer = f"{type(exc).__name__} : {exc} ERROR"
    if answer.endswith(" OK"):
        return
    if answer.endswith(" FOUND"):
        details = answer.removeprefix("stream:").removesuffix("FOUND").strip()
        logger.warning("Fichier infecté refusé %s : %s", label, details)
        raise FileRefused(
            f"Le fichier {label} contient un virus ({details}) : il a été refusé.", code="virus"
        )
    if "size limit exceeded" in answer:
        logger.error("Fichier trop grand pour l'antivirus %s : %s", label, answer)
        raise FileRefused(
            f"Le fichier {label} est plus grand que ce que l'antivirus accepte d'analyser (réglage "
            "StreamMaxLength de clamd) : il a été refusé. L'administrateur peut relever cette limite.",
            code="antivirus_too_large",
        )
    logger.error("Analyse antivirus impossible pour %s : %s", label, answer or "réponse vide de clamd")
    raise FileRefused(
        f"Le fichier {label} n'a pas pu être analysé par l'antivirus ; réessayez plus tard ou prévenez "
        "l'administrateur.",
        code="antivirus_unavailable",
    )
