"""Separator sheets: the printed pages with a QR code that split a batch scan into courriers.

The QR code carries ``MAIRIE-SEP:1:<organisation slug>[:<service id>]:<mac>``. The MAC is an HMAC derived
from ``SECRET_KEY`` (Django's ``salted_hmac``) over everything before it, cut to 16 hex digits: a QR code
printed on a letter (an invoice, a parcel label) is never taken for a separator, and a sheet cannot be forged
for another organisation or another service. Changing ``MAIRIE_SECRET_KEY`` makes the sheets already
printed unreadable as separators (they then stay in the courrier as an ordinary page, with a warning).
"""

from __future__ import annotations

import hmac
import io
from dataclasses import dataclass
from html import escape

import pikepdf
import segno
from django.utils.crypto import salted_hmac

from mairie.organisations.models import Organisation, Service

PREFIX = "MAIRIE-SEP"
VERSION = "1"
_SALT = "mairie.courrier.separators"
MAC_LENGTH = 16
MAX_SHEETS = 200


def _mac(body: str) -> str:
    return salted_hmac(_SALT, body, algorithm="sha256").hexdigest()[:MAC_LENGTH]


def payload(organisation: Organisation, service: Service | None = None) -> str:
    """The text of a separator sheet's QR code."""
    body = f"{PREFIX}:{VERSION}:{organisation.slug}"
    if service is not None:
        body += f":{service.pk}"
    return f"{body}:{_mac(body)}"


@dataclass(frozen=True)
class Mark:
    """What a QR code said, once recognised as one of our separator sheets (MAC checked)."""

    slug: str
    service_id: int | None


class ForgedMark(ValueError):
    """A QR code that looks like a separator sheet but whose MAC does not check out."""


def parse(text: str) -> Mark | None:
    """The separator mark of a decoded QR code; None when it is not a separator; ForgedMark when forged."""
    if not text.startswith(PREFIX + ":"):
        return None
    parts = text.strip().split(":")
    if len(parts) not in (4, 5) or parts[1] != VERSION:
        raise ForgedMark(text)
    body, mac = ":".join(parts[:-1]), parts[-1]
    if not hmac.compare_digest(_mac(body), mac):
        raise ForgedMark(text)
    service_id: int | None = None
    if len(parts) == 5:
        if not parts[3].isdigit():
            raise ForgedMark(text)
        service_id = int(parts[3])
    return Mark(slug=parts[2], service_id=service_id)


def _title(organisation: Organisation) -> str:
    if organisation.kind == "commune":
        return f"Mairie de {organisation.name}"
    return organisation.name


def _sheet_html(organisation: Organisation, service: Service | None) -> str:
    qr = segno.make(payload(organisation, service), error="m", micro=False)
    image = qr.svg_data_uri(scale=10, border=4)
    target = ""
    if service is not None:
        target = f'<p class="to">Service destinataire</p><p class="service">{escape(service.name)}</p>'
    return f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Feuille de séparation</title><style>
@page {{ size: A4; margin: 18mm 18mm; }}
body {{ font-family: "DejaVu Sans", sans-serif; color: #000; text-align: center; }}
h1 {{ font-size: 26pt; margin: 0 0 10mm; }}
.qr {{ width: 95mm; height: 95mm; margin: 4mm auto; display: block; }}
.to {{ font-size: 14pt; margin: 8mm 0 0; }}
.service {{ font-size: 30pt; font-weight: bold; margin: 2mm 0 0; }}
.help {{ font-size: 12pt; text-align: left; margin: 12mm 6mm 0; line-height: 1.45; }}
</style></head><body>
<h1>Feuille de séparation — {escape(_title(organisation))}</h1>
<img class="qr" src="{image}" alt="Code QR de séparation">
{target}
<div class="help">
<p>Placez cette feuille devant chaque courrier, puis numérisez tout le paquet en une seule fois.
La plateforme découpe le fichier à chaque feuille de séparation : chaque courrier reçoit son propre
numéro chrono{" et est attribué au service indiqué ci-dessus" if service is not None else ""}.</p>
<p>Cette feuille n'est pas conservée dans le courrier. Elle peut être réutilisée tant qu'elle reste
lisible (ni pliée, ni tachée sur le code).</p>
</div>
</body></html>"""


def sheets_pdf(*, organisation: Organisation, count: int, service: Service | None = None) -> bytes:
    """A PDF of ``count`` identical separator sheets (A4), optionally pre-filled with a service.

    One page is drawn by WeasyPrint; the others are the same page object repeated, so a hundred sheets
    cost the time and the size of one.
    """
    if service is not None and service.organisation_id != organisation.pk:
        raise ValueError("Service d'une autre organisation.")
    count = max(1, min(int(count), MAX_SHEETS))
    from weasyprint import HTML

    one = HTML(string=_sheet_html(organisation, service)).write_pdf()
    with pikepdf.open(io.BytesIO(one)) as pdf:
        first = pdf.pages[0]
        for _ in range(count - 1):
            pdf.pages.append(first)
        buffer = io.BytesIO()
        pdf.save(buffer, deterministic_id=True)
    return buffer.getvalue()
