"""The letter as a PDF: the organisation's letterhead, the recipient, place and date, reference, object, text
and signature, on A4 with French hyphenation (WeasyPrint; the PDF keeps its text, so it is searchable)."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string

from mairie.letters.merge import Signer, french_date

logger = logging.getLogger("mairie.letters")


@dataclass(frozen=True)
class Letter:
    organisation: Any
    recipient_name: str
    recipient_address: str
    subject: str
    body: str
    signer: Signer
    date: Any  # a date
    # The courrier answered: « Votre courrier n° 2026-A-000042 reçu le 12 novembre 2026 ».
    reference_chrono: str = ""
    reference_date: Any = None
    # An HTML template's merged and cleaned body (``merge.render_html``) and its checked CSS (``merge.check_css``);
    # empty for a plain-text letter, whose ``body`` is laid out in paragraphs.
    html_body: str = ""
    css: str = ""

    @property
    def place_and_date(self) -> str:
        place = self.organisation.city or self.organisation.name
        return f"{place}, le {french_date(self.date)}"

    @property
    def reference_date_text(self) -> str:
        return french_date(self.reference_date) if self.reference_date else ""

    @property
    def paragraphs(self) -> list[str]:
        text = self.body.replace("\r\n", "\n").strip()
        return [p.strip("\n") for p in text.split("\n\n") if p.strip()]


def logo_data_uri(organisation: Any) -> str:
    """The logo inlined in the HTML (WeasyPrint then needs no URL and no access to the storage's paths)."""
    if not organisation.logo:
        return ""
    try:
        with organisation.logo.open("rb") as handle:
            data = handle.read()
    except (FileNotFoundError, OSError):
        logger.warning("Logo de %s introuvable dans le stockage : lettre sans logo.", organisation.slug)
        return ""
    mime = "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def render_html(letter: Letter) -> str:
    organisation = letter.organisation
    return render_to_string(
        "letters/letter_pdf.html",
        {
            "letter": letter,
            "organisation": organisation,
            "logo": logo_data_uri(organisation),
            "address_lines": [line for line in organisation.postal_address.split("\n") if line],
            "recipient_lines": [
                line
                for line in [letter.recipient_name, *letter.recipient_address.split("\n")]
                if line.strip()
            ],
        },
    )


def render_pdf(letter: Letter) -> bytes:
    from weasyprint import HTML

    from mairie.mail.rendering import data_only_fetcher

    # Only data: URLs (the logo) are fetched: a template can name no file or server.
    html = HTML(string=render_html(letter), base_url=None, url_fetcher=data_only_fetcher())
    return bytes(html.write_pdf(pdf_variant="pdf/a-3b"))
