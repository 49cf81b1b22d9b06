"""Checks applied to every incoming file before anything is stored.

The type is sniffed from the content, never from the name. Refusals carry a message in French meant for
the agent or citizen who sent the file.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from django.conf import settings
from PIL import Image, UnidentifiedImageError

logger = logging.getLogger("mairie.documents")

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
TIFF = "image/tiff"
EML = "message/rfc822"
ACCEPTED = {PDF: "PDF", PNG: "image PNG", JPEG: "image JPEG", TIFF: "image TIFF", EML: "courriel (.eml)"}
ACCEPTED_HUMAN = "PDF, PNG, JPEG, TIFF et courriel (.eml)"

# Signatures of frequent formats we refuse, to tell the sender what the file really is.
_KNOWN_REFUSED: list[tuple[bytes, str]] = [
    (b"MZ", "un programme exécutable Windows"),
    (b"\x7fELF", "un programme exécutable Linux"),
    (b"#!", "un script exécutable"),
    (b"PK\x03\x04", "une archive ZIP ou un document bureautique"),
    (b"\xd0\xcf\x11\xe0", "un ancien document Microsoft Office"),
    (b"Rar!", "une archive RAR"),
    (b"7z\xbc\xaf", "une archive 7-Zip"),
    (b"\x1f\x8b", "une archive compressée gzip"),
    (b"GIF8", "une image GIF"),
    (b"{\\rtf", "un document RTF"),
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
    if head.startswith(b"%PDF-") or (b"%PDF-" in head[:1024] and not head.startswith(b"MZ")):
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


def describe_refused(head: bytes) -> str:
    for signature, label in _KNOWN_REFUSED:
        if head.lstrip().startswith(signature):
            return label
    if not head:
        return "un fichier vide"
    return "un type de fichier non reconnu"


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
    with path.open("rb") as handle:
        head = handle.read(4096)
    mime = sniff(head)
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
    _scan_for_viruses(path, label)
    return CheckedFile(path, name, mime, size, sha256_of(path), page_count)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_pdf(path: Path, label: str) -> int:
    try:
        with pikepdf.open(path) as pdf:
            if pdf.is_encrypted:
                raise FileRefused(
                    f"Le PDF {label} est chiffré ou protégé : enregistrez-en une version sans protection.",
                    code="encrypted",
                )
            count = len(pdf.pages)
            if count == 0:
                raise FileRefused(f"Le PDF {label} ne contient aucune page.", code="corrupt")
            for page in pdf.pages:
                page.mediabox  # noqa: B018 - touching each page reveals a broken page tree
    except pikepdf.PasswordError as exc:
        raise FileRefused(
            f"Le PDF {label} est protégé par un mot de passe : enregistrez-en une version sans protection.",
            code="encrypted",
        ) from exc
    except FileRefused:
        raise
    except Exception as exc:  # pikepdf raises PdfError and friends for damaged files
        logger.info("PDF refusé %s: %s", label, exc)
        raise FileRefused(
            f"Le PDF {label} est endommagé et ne peut pas être lu. Essayez de le numériser ou de l'exporter "
            "à nouveau.",
            code="corrupt",
        ) from exc
    return count


def _check_image(path: Path, label: str) -> int:
    limit = settings.MAX_IMAGE_PIXELS
    try:
        with Image.open(path) as image:
            frames = getattr(image, "n_frames", 1)
            for index in range(frames):
                if index:
                    image.seek(index)
                width, height = image.size
                if width * height > limit or width <= 0 or height <= 0:
                    raise FileRefused(
                        f"L'image {label} est démesurée ({width} × {height} pixels) : elle dépasse la limite "
                        f"de {limit // 1_000_000} millions de pixels par page.",
                        code="bomb",
                    )
            if image.format == "PNG":
                image.verify()
            elif frames == 1:
                image.load()
    except FileRefused:
        raise
    except Image.DecompressionBombError as exc:
        raise FileRefused(f"L'image {label} est démesurée et a été refusée.", code="bomb") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise FileRefused(f"L'image {label} est endommagée et ne peut pas être lue.", code="corrupt") from exc
    return frames


def _scan_for_viruses(path: Path, label: str) -> None:
    address = settings.CLAMD
    if not address:
        return
    from clamav_client import get_scanner

    scanner = get_scanner({"backend": "clamd", "address": address, "timeout": 120.0, "stream": True})
    result = scanner.scan(str(path))
    if result.state == "OK":
        return
    if result.state == "FOUND":
        logger.warning("Fichier infecté refusé %s : %s", label, result.details)
        raise FileRefused(
            f"Le fichier {label} contient un virus ({result.details}) : il a été refusé.", code="virus"
        )
    logger.error("Analyse antivirus impossible pour %s : %s", label, result.details)
    raise FileRefused(
        f"Le fichier {label} n'a pas pu être analysé par l'antivirus ; réessayez plus tard ou prévenez "
        "l'administrateur.",
        code="antivirus_unavailable",
    )
