"""Files to feed the intake: good ones, and every kind of bad one, built byte by byte where it matters.

Plain functions (no Django needed) so that the document, courrier and watch-folder tests share them.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from email.message import EmailMessage
from pathlib import Path

import img2pdf
import pikepdf
from PIL import Image, ImageDraw, ImageFont

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


# --- Good files --------------------------------------------------------------------------------------


def text_image(lines: list[str], *, dpi: int = 200, width_in: float = 6.0, size: int = 40) -> Image.Image:
    """A small white page with large black text: cheap to OCR, easy to read back."""
    width = int(width_in * dpi)
    line_height = int(size * 1.6)
    height = line_height * (len(lines) + 2)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, size)
    for index, line in enumerate(lines):
        draw.text((int(0.3 * dpi), line_height * (index + 1)), line, font=font, fill=0)
    return image


def image_bytes(image: Image.Image, fmt: str, *, dpi: int = 200) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, dpi=(dpi, dpi))
    return buffer.getvalue()


def multipage_tiff(pages: list[Image.Image], *, dpi: int = 200) -> bytes:
    buffer = io.BytesIO()
    pages[0].save(
        buffer,
        format="TIFF",
        save_all=True,
        append_images=pages[1:],
        compression="tiff_deflate",
        dpi=(dpi, dpi),
    )
    return buffer.getvalue()


def scan_pdf(pages: list[Image.Image], *, dpi: int = 200) -> bytes:
    """What a scanner writes: each page one JPEG covering the page."""
    layout = img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))
    return img2pdf.convert([image_bytes(p.convert("L"), "JPEG", dpi=dpi) for p in pages], layout_fun=layout)


def merge_pdfs(*parts: bytes) -> bytes:
    out = pikepdf.new()
    opened = [pikepdf.open(io.BytesIO(part)) for part in parts]
    for pdf in opened:
        out.pages.extend(pdf.pages)
    buffer = io.BytesIO()
    out.save(buffer)
    for pdf in opened:
        pdf.close()
    return buffer.getvalue()


def email_bytes(*, subject: str = "Demande de rendez-vous", attachment: bytes | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = "Élodie Lefèvre <elodie.lefevre@example.org>"
    message["To"] = "mairie@saint-aubin.example"
    message["Subject"] = subject
    message["Date"] = "Mon, 05 Jan 2026 09:30:00 +0100"
    message["Message-ID"] = "<demande-42@example.org>"
    message.set_content("Madame, Monsieur,\nje souhaiterais un rendez-vous à la mairie.\nCordialement.")
    if attachment is not None:
        message.add_attachment(
            attachment, maintype="application", subtype="octet-stream", filename="facture.pdf.exe"
        )
    return message.as_bytes()


# --- Bad files ---------------------------------------------------------------------------------------


def windows_executable() -> bytes:
    """A DOS/PE header; a PDF header within the first KB too (a polyglot must not pass as a PDF)."""
    stub = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44 + b"\x80\x00\x00\x00"
    return stub + b"This program cannot be run in DOS mode.\r\r\n$" + b"%PDF-1.4\n" + b"\x00" * 2000


def zip_archive(members: dict[str, bytes], *, stored: bool = False) -> bytes:
    buffer = io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def encrypted_pdf(pdf: bytes, *, user: str, owner: str = "proprietaire") -> bytes:
    buffer = io.BytesIO()
    with pikepdf.open(io.BytesIO(pdf)) as document:
        document.save(
            buffer,
            encryption=pikepdf.Encryption(user=user, owner=owner, allow=pikepdf.Permissions(extract=False)),
        )
    return buffer.getvalue()


def rewritten_by_qpdf(pdf: bytes) -> bytes:
    """The same PDF with objects in qpdf's order (catalog and pages first, images after), no object streams."""
    buffer = io.BytesIO()
    with pikepdf.open(io.BytesIO(pdf)) as document:
        document.save(buffer, object_stream_mode=pikepdf.ObjectStreamMode.disable)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid-looking 1-bit PNG declaring width × height pixels, in a few dozen bytes.

    Decompressed it would take width × height / 8 bytes (1.25 GB for the default); a real bomb would
    carry a long run of zeros, compressed ~1000:1. A few rows are enough to test the refusal.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    rows = zlib.compress((b"\x00" + b"\x00" * (width // 8 + 1)) * 4, 9)
    return PNG_SIGNATURE + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b"")


def png_with_garbled_pixels(width: int = 200, height: int = 100) -> bytes:
    """Well-formed chunks with correct checksums around pixel data that is not zlib: only decoding tells."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    garbage = bytes((i * 37 + 11) % 256 for i in range(3000))
    return PNG_SIGNATURE + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", garbage) + _png_chunk(b"IEND", b"")


def tiff_with_damaged_page(pages: list[Image.Image], damaged: int) -> bytes:
    """A multi-page TIFF whose page ``damaged`` (0-based) has garbled compressed data; its headers are intact."""
    data = bytearray(multipage_tiff(pages))
    with Image.open(io.BytesIO(bytes(data))) as image:
        image.seek(damaged)
        start = image.tag_v2[273][0]  # StripOffsets: where the page's compressed pixels begin
    for offset in range(start, start + 40):
        data[offset] ^= 0x5A  # the deflate stream's header no longer checks out
    return bytes(data)


def truncated(data: bytes, fraction: float) -> bytes:
    return data[: int(len(data) * fraction)]


def pdf_with_huge_image() -> bytes:
    """A one-page PDF whose image claims 100,000 × 100,000 pixels (a few bytes of Flate)."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    data = zlib.compress(b"\x00" * 20000, 9)
    image = pikepdf.Stream(pdf, data)
    image.Type = pikepdf.Name.XObject
    image.Subtype = pikepdf.Name.Image
    image.Width = 100_000
    image.Height = 100_000
    image.ColorSpace = pikepdf.Name.DeviceGray
    image.BitsPerComponent = 1
    image.Filter = pikepdf.Name.FlateDecode
    page = pdf.pages[0]
    page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))
    page.Contents = pikepdf.Stream(pdf, b"q 595 0 0 842 0 0 cm /Im0 Do Q")
    buffer = io.BytesIO()
    pdf.save(buffer)
    return buffer.getvalue()


def files_under(root: Path) -> list[Path]:
    """Every file under ``root`` (the storage directory), temporary ones included."""
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file())
