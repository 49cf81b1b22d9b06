"""Small builders for tests: courriers with real, processed documents (no mocks, no fixtures files)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from mairie.courrier.models import Courrier
from mairie.courrier.services import IncomingFile, register_courrier
from mairie.documents.models import Document
from mairie.documents.services import process_document
from mairie.organisations.models import Organisation


def text_pdf_bytes(text: str) -> bytes:
    """A PDF with a real text layer (WeasyPrint): it takes the pipeline's fast path, no OCR."""
    from weasyprint import HTML

    paragraphs = "".join(f"<p>{line}</p>" for line in text.split("\n"))
    return HTML(string=f"<html lang='fr'><body>{paragraphs}</body></html>").write_pdf()


def courrier_with_document(
    *,
    organisation: Organisation,
    actor: Any,
    text: str = "Objet : demande de renseignements",
    process: bool = True,
    file_name: str = "lettre.pdf",
    **fields: Any,
) -> tuple[Courrier, Document]:
    """Register a courrier carrying one text PDF and, by default, process it as the worker would."""
    with tempfile.TemporaryDirectory(prefix="mairie-factory-") as tmp:
        path = Path(tmp) / file_name
        path.write_bytes(text_pdf_bytes(text))
        courrier = register_courrier(
            organisation=organisation, actor=actor, files=[IncomingFile(path, file_name)], **fields
        )
    document = Document.objects.get(courrier=courrier)
    if process:
        assert process_document(document.pk) == "done"
        document.refresh_from_db()
    return courrier, document
