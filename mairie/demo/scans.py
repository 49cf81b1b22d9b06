"""Generate realistic scanned French letters: rendered text, slight rotation, scanner noise, JPEG in a PDF.

Used by the demo, the OCR tests and the benchmarks, so that every OCR figure comes from real images going
through the real pipeline.
"""

from __future__ import annotations

import io
import random
import textwrap
from dataclasses import dataclass
from pathlib import Path

import img2pdf
from PIL import Image, ImageDraw, ImageFilter, ImageFont

A4_300DPI = (2480, 3508)
FONT_CANDIDATES = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
]


def _font(size: int) -> ImageFont.FreeTypeFont:
    for candidate in FONT_CANDIDATES:
        if Path(candidate).exists():
            return ImageFont.truetype(candidate, size)
    raise RuntimeError("Police DejaVu introuvable : installez le paquet Debian fonts-dejavu-core.")


@dataclass
class Letter:
    sender: list[str]  # name and address lines, top left
    recipient: list[str]  # top right
    place_date: str
    subject: str
    paragraphs: list[str]
    signature: str

    @property
    def full_text(self) -> str:
        parts = [
            *self.sender,
            *self.recipient,
            self.place_date,
            f"Objet : {self.subject}",
            *self.paragraphs,
            self.signature,
        ]
        return "\n".join(parts)


def render_page(
    lines: list[tuple[str, int, int]],
    *,
    seed: int = 0,
    rotation: float = 0.6,
    noise: float = 0.001,
    size: int = 40,
) -> Image.Image:
    """Lines of (text, x, y) drawn on an A4 page at 300 dpi, then 'scanned'."""
    rng = random.Random(seed)
    page = Image.new("L", A4_300DPI, 255)
    draw = ImageDraw.Draw(page)
    font = _font(size)
    for text, x, y in lines:
        draw.text((x, y), text, font=font, fill=rng.randint(0, 40))
    return scanify(page, seed=seed, rotation=rotation, noise=noise)


def scanify(page: Image.Image, *, seed: int = 0, rotation: float = 0.6, noise: float = 0.001) -> Image.Image:
    rng = random.Random(seed)
    angle = rotation * (1 if rng.random() < 0.5 else -1)
    page = page.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=250)
    page = page.filter(ImageFilter.GaussianBlur(0.6))
    pixels = page.load()
    width, height = page.size
    for _ in range(int(width * height * noise)):
        x, y = rng.randrange(width), rng.randrange(height)
        pixels[x, y] = rng.choice((0, 60, 120, 200))  # type: ignore[index]
    # A faint grey background like recycled paper.
    return page.point(lambda v: min(v, 246))


def layout_letter(letter: Letter, *, size: int = 40) -> list[list[tuple[str, int, int]]]:
    """Position the letter's lines on as many A4 pages as needed."""
    line_height = int(size * 1.45)
    pages: list[list[tuple[str, int, int]]] = [[]]
    y = 220
    for line in letter.sender:
        pages[0].append((line, 220, y))
        y += line_height
    y2 = 620
    for line in letter.recipient:
        pages[0].append((line, 1380, y2))
        y2 += line_height
    y = max(y, y2) + line_height
    pages[0].append((letter.place_date, 1380, y))
    y += line_height * 2
    wrap = int(2000 / (size * 0.55))
    for line in textwrap.wrap(f"Objet : {letter.subject}", wrap):
        pages[0].append((line, 220, y))
        y += line_height
    y += line_height
    for paragraph in [*letter.paragraphs, "", letter.signature]:
        for line in textwrap.wrap(paragraph, wrap) or [""]:
            if y > A4_300DPI[1] - 300:
                pages.append([])
                y = 260
            pages[-1].append((line, 220 if line != letter.signature else 1500, y))
            y += line_height
        y += line_height // 2
    return pages


def letter_images(
    letter: Letter, *, seed: int = 0, rotation: float = 0.6, noise: float = 0.001
) -> list[Image.Image]:
    return [
        render_page(lines, seed=seed + index, rotation=rotation, noise=noise)
        for index, lines in enumerate(layout_letter(letter))
    ]


def images_to_scanned_pdf(images: list[Image.Image], *, quality: int = 80) -> bytes:
    """What a scanner produces: one JPEG per page at 300 dpi, in a PDF."""
    jpegs = []
    for image in images:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality, dpi=(300, 300))
        jpegs.append(buffer.getvalue())
    layout = img2pdf.get_fixed_dpi_layout_fun((300, 300))
    return img2pdf.convert(jpegs, layout_fun=layout)


def scanned_letter_pdf(
    letter: Letter, *, seed: int = 0, rotation: float = 0.6, noise: float = 0.001
) -> bytes:
    return images_to_scanned_pdf(letter_images(letter, seed=seed, rotation=rotation, noise=noise))
