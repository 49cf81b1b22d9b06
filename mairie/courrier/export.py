"""Export of the register for a date range: CSV for spreadsheets, PDF to replace the paper register."""

from __future__ import annotations

import csv
import datetime as dt
from typing import IO

from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from mairie.courrier.models import Courrier, Direction
from mairie.organisations.models import Organisation

CSV_HEADER = [
    "Numéro chrono",
    "Sens",
    "Date de réception",
    "Canal",
    "Expéditeur ou destinataire",
    "Adresse",
    "Objet",
    "Type",
    "Service",
    "Agent",
    "Échéance",
    "Statut",
    "Pièces",
    "Empreintes SHA-256",
]


def _bounds(date_from: dt.date, date_to: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(date_from, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return start, end


def register_rows(
    organisation: Organisation, date_from: dt.date, date_to: dt.date, direction: str | None = None
) -> QuerySet[Courrier]:
    start, end = _bounds(date_from, date_to)
    rows = (
        Courrier.objects.for_org(organisation)
        .filter(received_at__gte=start, received_at__lt=end)
        .select_related("contact", "service", "assigned_to")
        .prefetch_related("documents__original")
        .order_by("direction", "year", "number")
    )
    if direction:
        rows = rows.filter(direction=direction)
    return rows


# A spreadsheet runs a cell starting with one of these as a formula ("CSV injection"); subjects and contact
# names come from outside (e-mails, forms), so such cells are prefixed with an apostrophe, as OWASP advises.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _agent(courrier: Courrier) -> str:
    user = courrier.assigned_to
    return (user.get_full_name() or user.username) if user else ""


def write_csv(
    out: IO[str],
    organisation: Organisation,
    date_from: dt.date,
    date_to: dt.date,
    direction: str | None = None,
) -> int:
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    count = 0
    for c in register_rows(organisation, date_from, date_to, direction).iterator(chunk_size=500):
        documents = list(c.documents.all())
        row = [
            c.chrono,
            c.get_direction_display(),
            timezone.localtime(c.received_at).strftime("%d/%m/%Y %H:%M"),
            c.get_channel_display(),
            c.contact.display_name if c.contact else "",
            c.contact.postal_address.replace("\n", ", ") if c.contact else "",
            c.subject,
            c.get_kind_display(),
            c.service.name if c.service else "",
            _agent(c),
            c.due_date.strftime("%d/%m/%Y") if c.due_date else "",
            c.get_status_display(),
            len(documents),
            " ".join(d.original.sha256 for d in documents),
        ]
        writer.writerow([_cell(value) for value in row])
        count += 1
    return count


def render_pdf(
    organisation: Organisation, date_from: dt.date, date_to: dt.date, direction: str | None = None
) -> bytes:
    from weasyprint import HTML

    from mairie.audit.models import AuditHead

    rows = list(register_rows(organisation, date_from, date_to, direction))
    sections = []
    for value, label in Direction.choices:
        if direction and value != direction:
            continue
        sections.append({"label": label, "rows": [r for r in rows if r.direction == value]})
    html = render_to_string(
        "courrier/register_pdf.html",
        {
            "organisation": organisation,
            "date_from": date_from,
            "date_to": date_to,
            "sections": sections,
            "generated_at": timezone.localtime(),
            "total": len(rows),
            # Printing the head of the audit chain anchors it on paper: a journal rewritten later, even
            # with recomputed hashes, no longer matches the fingerprint printed in the register.
            "audit_head": AuditHead.objects.filter(organisation=organisation).first(),
        },
    )
    return HTML(string=html).write_pdf(pdf_variant="pdf/a-3b")
