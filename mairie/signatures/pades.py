"""PAdES signatures (pyHanko): baseline B-B, or B-T with an RFC 3161 timestamp when ``MAIRIE_TSA_URL`` is set.

Each signature is an incremental update: the bytes signed before stay untouched, so a document signed for
visa then signed by the mayor carries both signatures, each still valid. Every signature gets a visible
block — name, role, « Signé le 29/11/2026 à 10:15 » — drawn with an embedded OpenType font (French accents
render), on the last page by default, at the lowest free place on the right side (then left, then middle): the page's
text, images, drawings and the blocks of earlier signatures are avoided when the page leaves room.
"""

from __future__ import annotations

import io
import logging
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from mairie.signatures.services import SignatureError, _register_timestamp_types

logger = logging.getLogger("mairie.signatures")

# The visible block, in PDF points (1/72 in): about 7 × 2.2 cm, 1 cm from the page's edges.
BLOCK_WIDTH = 200.0
BLOCK_HEIGHT = 62.0
MARGIN = 28.0
CLEARANCE = 3.0  # free space kept around what the block avoids
STEP = 6.0
FONT_SIZE = 9
FIELD_PREFIX = "Signature"
# Room for the CMS blob beyond the signer's certificates: signature, signed attributes, and a timestamp
# token with its authority's chain. Reserved bytes are written as hex in /Contents and every reader parses
# them: a tight reservation keeps validation fast (a flat 24 kB tripled its time).
CMS_OVERHEAD = 3 * 1024
TIMESTAMP_OVERHEAD = 12 * 1024
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
)


# Characters the block may show (Latin-1, Latin Extended-A for « œ », typographic quotes and dashes).
FONT_UNICODES = [
    *range(0x20, 0x7F),
    *range(0xA0, 0x180),
    *(0x2013, 0x2014, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2026, 0x202F, 0x20AC),
]


def _source_font() -> str:
    """An OpenType font with the French letters: the one OCRmyPDF (a dependency) ships, else the system's."""
    try:
        import ocrmypdf

        bundled = Path(ocrmypdf.__file__).parent / "data" / "NotoSans-Regular.ttf"
        if bundled.exists():
            return str(bundled)
    except ImportError:  # pragma: no cover - ocrmypdf is a dependency of the platform
        pass
    for candidate in FONT_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    try:
        found = subprocess.run(
            ["fc-match", "-f", "%{file}", "sans-serif:lang=fr"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        found = ""
    if found and Path(found).suffix.lower() in {".ttf", ".otf"}:
        return found
    raise SignatureError("Aucune police de caractères disponible pour le bloc de signature visible.")


@lru_cache(maxsize=1)
def font_file() -> str:
    """The block's font, cut down once to the characters above (a file of 25 kB instead of 550).

    pyHanko subsets the font it embeds at every signature; from the whole font that takes 0.3 s, from this
    one 15 ms. Written once per machine in the temporary directory (atomically: processes may race)."""
    import hashlib
    import os
    import tempfile

    source = _source_font()
    stat = os.stat(source)
    tag = hashlib.sha256(
        f"{source}:{stat.st_size}:{stat.st_mtime_ns}:{len(FONT_UNICODES)}".encode()
    ).hexdigest()
    target = Path(tempfile.gettempdir()) / f"mairie-signature-font-{tag[:16]}.ttf"
    if target.exists():
        return str(target)
    try:
        from fontTools import subset
        from fontTools.ttLib import TTFont

        options = subset.Options()
        options.layout_features = ["kern", "liga"]
        options.notdef_outline = True
        font = TTFont(source)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=FONT_UNICODES)
        subsetter.subset(font)
        handle, partial = tempfile.mkstemp(dir=target.parent, prefix=target.stem, suffix=".part")
        with os.fdopen(handle, "wb") as out:
            font.save(out)
        os.replace(partial, target)
    except Exception as exc:  # the whole font works too, only slower
        logger.warning("Réduction de la police du bloc de signature impossible (%s) : police entière.", exc)
        return source
    return str(target)


def block_text(signer_name: str, signer_role: str, when: Any = None) -> str:
    local = timezone.localtime(when or timezone.now())
    lines = [signer_name.strip(), signer_role.strip(), f"Signé le {local:%d/%m/%Y} à {local:%H:%M}"]
    return "\n".join(line for line in lines if line)


def check_pdf_bytes(pdf: bytes) -> None:
    if not isinstance(pdf, bytes | bytearray) or b"%PDF-" not in bytes(pdf[:1024]):
        raise SignatureError("Ce fichier n'est pas un PDF.")


def _timestamper() -> Any:
    if not settings.TSA_URL:
        return None
    _register_timestamp_types()
    from pyhanko.sign.timestamps import HTTPTimeStamper

    return HTTPTimeStamper(settings.TSA_URL, timeout=settings.TSA_TIMEOUT_SECONDS)


def _bytes_reserved(signer: Any, timestamped: bool) -> int:
    try:
        certificates = [signer.signing_cert, *list(signer.cert_registry)]
        size = sum(len(certificate.dump()) for certificate in certificates)
    except Exception:  # a signer without a local certificate list: pyHanko's default room
        size = 16 * 1024
    size += CMS_OVERHEAD + (TIMESTAMP_OVERHEAD if timestamped else 0)
    return -(-size // 512) * 512


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _obstacles(
    pdf: bytes, page_index: int, annotation_rects: list[tuple[float, ...]]
) -> tuple[Any, list[Any]]:
    """The page's box and what the block should not cover: text lines, images, drawings, annotations."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    document = pdfium.PdfDocument(pdf)
    try:
        page = document[page_index]
        box = page.get_cropbox()
        area = (box[2] - box[0]) * (box[3] - box[1])
        found: list[tuple[float, float, float, float]] = []
        textpage = page.get_textpage()
        for index in range(textpage.count_rects()):
            found.append(tuple(textpage.get_rect(index)))  # type: ignore[arg-type]
        kinds = (pdfium_c.FPDF_PAGEOBJ_IMAGE, pdfium_c.FPDF_PAGEOBJ_PATH, pdfium_c.FPDF_PAGEOBJ_SHADING)
        for obj in page.get_objects(filter=kinds, max_depth=3):
            left, bottom, right, top = obj.get_pos()
            # A background or a frame around the whole page is not something the block would hide.
            if (right - left) * (top - bottom) < area * 0.25:
                found.append((left, bottom, right, top))
        for rect in annotation_rects:
            left, bottom, right, top = (float(v) for v in rect[:4])
            found.append((min(left, right), min(bottom, top), max(left, right), max(bottom, top)))
        return box, found
    finally:
        document.close()


def place_block(
    pdf: bytes, page_index: int, annotation_rects: list[tuple[float, ...]]
) -> tuple[int, int, int, int]:
    """Where the block goes: the lowest free place on the right side (where a signature is expected, and
    where the blocks of several signers pile up), else on the left, else in the middle.

    A full page gets the bottom right corner (the block then covers what is there)."""
    try:
        box, obstacles = _obstacles(pdf, page_index, annotation_rects)
    except Exception as exc:  # pdfium cannot read the page: the corner, as a last resort
        logger.warning("Analyse de la page impossible pour placer le bloc de signature : %s", exc)
        return 0, 0, 0, 0
    left, bottom, right, top = (float(v) for v in box)
    width, height = min(BLOCK_WIDTH, right - left - 2 * MARGIN), min(BLOCK_HEIGHT, top - bottom - 2 * MARGIN)
    grown = [(a - CLEARANCE, b - CLEARANCE, c + CLEARANCE, d + CLEARANCE) for a, b, c, d in obstacles]
    xs = [right - MARGIN - width, left + MARGIN, (left + right - width) / 2]
    for x in xs:
        y = bottom + MARGIN
        while y + height <= top - MARGIN:
            candidate = (x, y, x + width, y + height)
            if not any(_overlaps(candidate, other) for other in grown):
                return round(x), round(y), round(x + width), round(y + height)
            y += STEP
    x, y = xs[0], bottom + MARGIN
    return round(x), round(y), round(x + width), round(y + height)


def _annotation_rects(page: Any) -> list[tuple[float, ...]]:
    rects = []
    try:
        annotations = page.get("/Annots")
        for ref in annotations or []:
            annotation = ref.get_object()
            rect = annotation.get("/Rect")
            if rect is not None and len(rect) == 4:
                rects.append(tuple(float(v) for v in rect))
    except Exception:  # an odd annotation array: nothing to avoid
        return []
    return rects


def sign_pdf(
    pdf: bytes,
    *,
    signer: Any,
    signer_name: str,
    signer_role: str,
    reason: str = "",
    location: str = "",
    page: int = -1,
) -> bytes:
    """Sign ``pdf`` (PAdES, incremental update, visible block) with ``signer`` (from ``load_signer``)."""
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.text import TextBoxStyle
    from pyhanko.sign import fields, signers
    from pyhanko.sign.general import SigningError
    from pyhanko.sign.timestamps import TimestampRequestError
    from pyhanko.stamp import TextStampStyle

    check_pdf_bytes(pdf)
    pdf = bytes(pdf)
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise SignatureError(f"PDF illisible ou endommagé : impossible de le signer ({exc}).") from exc
    if writer.prev.encrypted:
        raise SignatureError("Ce PDF est protégé par un mot de passe : il ne peut pas être signé.")
    try:
        count = int(writer.root["/Pages"]["/Count"])
        existing = [name for name, _, _ in fields.enumerate_sig_fields(writer.prev)]
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise SignatureError(f"PDF illisible ou endommagé : impossible de le signer ({exc}).") from exc
    if count < 1:
        raise SignatureError("Ce PDF n'a aucune page.")
    page_index = page if page >= 0 else count + page
    if not 0 <= page_index < count:
        raise SignatureError(
            f"Page {page + 1 if page >= 0 else page} inexistante : ce PDF a {count} page(s)."
        )
    number = len(existing) + 1
    while f"{FIELD_PREFIX}{number}" in existing:
        number += 1
    field_name = f"{FIELD_PREFIX}{number}"
    page_object = writer.prev.find_page_for_modification(page_index)[0].get_object()
    box = place_block(pdf, page_index, _annotation_rects(page_object))
    if box == (0, 0, 0, 0):
        box = (int(MARGIN), int(MARGIN), int(MARGIN + BLOCK_WIDTH), int(MARGIN + BLOCK_HEIGHT))
    now = timezone.now()
    style = TextStampStyle(
        stamp_text="%(bloc)s",
        text_box_style=TextBoxStyle(
            font=GlyphAccumulatorFactory(font_file(), font_size=FONT_SIZE, bcp47_lang_code="fr"),
            font_size=FONT_SIZE,
            leading=FONT_SIZE + 3,
        ),
        border_width=1,
        background=None,
    )
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason or None,
        location=location or None,
        name=signer_name or None,
    )
    timestamper = _timestamper()
    pdf_signer = signers.PdfSigner(
        meta,
        signer=signer,
        timestamper=timestamper,
        stamp_style=style,
        new_field_spec=fields.SigFieldSpec(sig_field_name=field_name, on_page=page_index, box=box),
    )
    try:
        output = pdf_signer.sign_pdf(
            writer,
            bytes_reserved=_bytes_reserved(signer, timestamper is not None),
            appearance_text_params={"bloc": block_text(signer_name, signer_role, now)},
        )
    except TimestampRequestError as exc:
        raise SignatureError(
            f"Horodatage impossible : le service d'horodatage ({settings.TSA_URL}) ne répond pas "
            "correctement. Le document n'a pas été signé ; réessayez plus tard."
        ) from exc
    except SigningError as exc:
        raise SignatureError(f"Signature impossible : {exc}") from exc
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise SignatureError(f"PDF illisible ou endommagé : impossible de le signer ({exc}).") from exc
    return bytes(output.getvalue())
