"""Small helpers shared by the signature tests."""

from __future__ import annotations

import io
import subprocess
from typing import Any


def signer_of(issued: Any) -> Any:
    """A pyHanko signer straight from a test certificate (no database)."""
    from pyhanko.sign.signers import SimpleSigner

    return SimpleSigner.load_pkcs12_data(issued.p12(), other_certs=[], passphrase=issued.password.encode())


def page_text(pdf: bytes, page: int) -> str:
    """The text of one page (1-based) as poppler's pdftotext reads it, annotations' appearances included."""
    return subprocess.run(
        ["pdftotext", "-f", str(page), "-l", str(page), "-enc", "UTF-8", "-", "-"],
        input=pdf,
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8")


def widget_rects(pdf: bytes) -> dict[str, tuple[int, list[float]]]:
    """Signature field name → (page index, /Rect of its widget)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    pages = {}
    for index in range(int(reader.root["/Pages"]["/Count"])):
        ref = reader.find_page_for_modification(index)[0]
        pages[(ref.idnum, ref.generation)] = index
    found = {}
    for embedded in reader.embedded_regular_signatures:
        field = embedded.sig_field
        page_ref = field.raw_get("/P")
        found[embedded.field_name] = (
            pages[(page_ref.idnum, page_ref.generation)],
            [float(v) for v in field["/Rect"]],
        )
    return found


def flip_byte_in_signed_range(pdf: bytes) -> bytes:
    """One byte changed inside the first signature's signed range (in the page text, not the /Contents)."""
    position = pdf.index(b"stream", 200) + 20
    altered = bytearray(pdf)
    altered[position] ^= 0x01
    return bytes(altered)
