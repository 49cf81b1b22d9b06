"""Realistic batch scans: demo letters, printed separator sheets and blank pages, all 'scanned'.

Letter pages come from :mod:`mairie.demo.scans` (300 dpi, slight rotation, noise). Separator sheets are the
platform's own PDF rasterised by PDFium as a printer and a scanner would see them (200–300 dpi, rotation,
noise, grey paper). Blank pages carry what a scanner adds to an empty sheet: a lid shadow on one edge,
dust, faint show-through from the back. Shared by the batch tests and benchmark B8.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass, field
from functools import cache

import img2pdf
from PIL import Image, ImageDraw, ImageFont

from mairie.demo.scans import A4_300DPI, scanify


@dataclass
class ScanPage:
    image: Image.Image  # grey
    dpi: int
    label: str  # what the page is, for the tests' own bookkeeping


@dataclass
class Batch:
    pages: list[ScanPage] = field(default_factory=list)

    def add(self, *pages: ScanPage) -> Batch:
        self.pages.extend(pages)
        return self

    def pdf(self, *, quality: int = 80, fmt: str = "JPEG") -> bytes:
        """One JPEG per page at its own resolution, in a PDF: what a scanner's 'scan to PDF' writes.

        ``fmt="PNG"`` gives lossless (Flate) page images instead, as some scanning software writes.
        """
        encoded = []
        for page in self.pages:
            buffer = io.BytesIO()
            options: dict[str, object] = {"quality": quality} if fmt == "JPEG" else {"compress_level": 1}
            page.image.save(buffer, format=fmt, dpi=(page.dpi, page.dpi), **options)
            encoded.append(buffer.getvalue())
        return img2pdf.convert(encoded)

    def tiff(self) -> bytes:
        """The same pages as a multi-page TIFF (deflate), at 200 dpi."""
        frames = [_at_dpi(p, 200) for p in self.pages]
        buffer = io.BytesIO()
        frames[0].save(
            buffer,
            format="TIFF",
            save_all=True,
            append_images=frames[1:],
            compression="tiff_deflate",
            dpi=(200, 200),
        )
        return buffer.getvalue()


def _at_dpi(page: ScanPage, dpi: int) -> Image.Image:
    if page.dpi == dpi:
        return page.image
    size = (round(page.image.width * dpi / page.dpi), round(page.image.height * dpi / page.dpi))
    return page.image.resize(size, Image.Resampling.BILINEAR)


@cache
def _letter_pages(index: int) -> tuple[Image.Image, ...]:
    from mairie.demo.letters import make_letter
    from mairie.demo.scans import letter_images

    _, letter = make_letter(index)
    return tuple(letter_images(letter, seed=index))


def letter(index: int, *, max_pages: int | None = None) -> list[ScanPage]:
    """The scanned pages of demo letter ``index`` (cached: letters are reused across tests)."""
    pages = _letter_pages(index)[:max_pages]
    return [ScanPage(p, 300, f"lettre {index} page {n + 1}") for n, p in enumerate(pages)]


def printed_pdf(pdf: bytes, *, dpi: int = 300, seed: int = 0, rotation: float = 0.8) -> ScanPage:
    """The first page of a PDF, printed then scanned."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    try:
        page = document[0]
        image = page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
        page.close()
    finally:
        document.close()
    # Toner is not pure black and the scanner's noise is per 300-dpi pixel.
    image = image.point(lambda v: max(v, 25))
    return ScanPage(scanify(image, seed=seed, rotation=rotation, noise=0.0008), dpi, "séparateur")


def separator(organisation: object, service: object = None, *, dpi: int = 300, seed: int = 0) -> ScanPage:
    from mairie.courrier.separators import sheets_pdf

    page = printed_pdf(sheets_pdf(organisation=organisation, count=1, service=service), dpi=dpi, seed=seed)  # type: ignore[arg-type]
    page.label = "séparateur" + (f" {service}" if service is not None else "")
    return page


def _paper(size: tuple[int, int] = A4_300DPI) -> Image.Image:
    return Image.new("L", size, 250)


def blank(*, seed: int = 0, show_through: bool = True) -> ScanPage:
    """An empty sheet as a scanner sees it: lid shadow, dust, faint text showing through from the back."""
    rng = random.Random(seed)
    page = _paper()
    draw = ImageDraw.Draw(page)
    width, height = page.size
    draw.rectangle((0, 0, width, 28), fill=95)  # the lid's shadow along the top edge
    draw.rectangle((width - 14, 0, width, height), fill=140)
    for _ in range(12):  # dust
        x, y, r = rng.randrange(200, width - 200), rng.randrange(200, height - 200), rng.choice((1, 2, 3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=rng.randint(30, 120))
    if show_through:
        font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", 40)
        for line in range(12):  # mirrored, very light: the back of a thin sheet
            draw.text(
                (300, 400 + 60 * line),
                "Madame, Monsieur, veuillez agréer mes salutations"[::-1],
                font=font,
                fill=222,
            )
    return ScanPage(scanify(page, seed=seed, rotation=0.4, noise=0.001), 300, "blanche")


def handwritten_note(*, seed: int = 0) -> ScanPage:
    """An almost empty sheet with one short pen line (a few centimetres): not blank."""
    rng = random.Random(seed)
    page = _paper()
    draw = ImageDraw.Draw(page)
    x0, y0 = 900, 1600
    points = []
    for step in range(140):  # a wavy, joined-up 'signature-like' stroke about 4 cm long
        x = x0 + step * 3.3
        y = y0 + 22 * math.sin(step / 5.0) + 10 * math.sin(step / 1.7) + rng.uniform(-1.5, 1.5)
        points.append((x, y))
    draw.line(points, fill=35, width=4, joint="curve")
    return ScanPage(scanify(page, seed=seed, rotation=0.5, noise=0.001), 300, "mention manuscrite")


def page_with_qr(text: str, *, seed: int = 0) -> ScanPage:
    """A letter page carrying some other QR code (an invoice's payment code, a web address)."""
    import segno

    page = _letter_pages(1)[0].copy()
    qr = segno.make(text, error="m")
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=12, border=2)
    code = Image.open(io.BytesIO(buffer.getvalue())).convert("L")
    page.paste(code, (1700, 2900))
    return ScanPage(page, 300, f"page avec code QR {text[:20]}")


def forged_sheet(text: str, *, seed: int = 0) -> ScanPage:
    """A sheet with a QR code that claims to be a separator without the platform's MAC."""
    import segno

    page = _paper()
    qr = segno.make(text, error="m")
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=28, border=4)
    code = Image.open(io.BytesIO(buffer.getvalue())).convert("L")
    page.paste(code, ((page.width - code.width) // 2, 700))
    return ScanPage(scanify(page, seed=seed), 300, "fausse feuille")
