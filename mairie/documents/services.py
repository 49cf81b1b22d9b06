"""Use cases of the document store: process a document (OCR, renditions), retry a failed one."""

from __future__ import annotations

import logging
import tempfile
import traceback
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from mairie.audit.services import record
from mairie.documents import pipeline, store
from mairie.documents.models import Document, Rendition

logger = logging.getLogger("mairie.documents")

_RENDITION_FILES: dict[str, tuple[str, str]] = {
    Rendition.Kind.SEARCHABLE_PDF: ("searchable.pdf", "application/pdf"),
    Rendition.Kind.THUMBNAIL: ("thumbnail.png", "image/png"),
    Rendition.Kind.TEXT: ("text.txt", "text/plain; charset=utf-8"),
}


# A document still "processing" when its job starts again was interrupted (worker killed, machine
# restarted). After this many interruptions it is probably what kills the worker (a scan exhausting the
# memory): it is failed, for an administrator to look at, instead of being requeued for ever.
MAX_INTERRUPTED_ATTEMPTS = 3


def process_document(document_id: int) -> str:
    """Produce the renditions and text of one document. Idempotent: safe to run again at any point."""
    document = Document.objects.select_related("original").filter(pk=document_id).first()
    if document is None:
        return "missing"
    if document.status == Document.Status.DONE:
        return "already-done"
    if document.status == Document.Status.PROCESSING and document.attempts >= MAX_INTERRUPTED_ATTEMPTS:
        message = (
            f"Le traitement a été interrompu {document.attempts} fois sans aboutir (travailleur arrêté, "
            "mémoire insuffisante ?). Vérifiez le document avant de le relancer."
        )
        logger.error("Document %s abandonné : %s", document.pk, message)
        Document.objects.filter(pk=document.pk).update(status=Document.Status.FAILED, error=message)
        return "failed"
    Document.objects.filter(pk=document.pk).update(
        status=Document.Status.PROCESSING, attempts=document.attempts + 1, error=""
    )
    try:
        with tempfile.TemporaryDirectory(prefix="mairie-doc-") as tmp:
            workdir = Path(tmp)
            suffix = {"application/pdf": ".pdf"}.get(document.mime_type, "")
            with store.local_copy(document.original.path, suffix=suffix) as source:
                result = pipeline.run(source, document.mime_type, workdir)
            renditions = _write_renditions(document, result, workdir)
            _finish(document, result, renditions)
    except Exception as exc:
        message = str(exc) if isinstance(exc, pipeline.PipelineError) else f"{type(exc).__name__} : {exc}"
        logger.error(
            "Traitement du document %s en échec : %s\n%s", document.pk, message, traceback.format_exc()
        )
        Document.objects.filter(pk=document.pk).update(status=Document.Status.FAILED, error=message)
        return "failed"
    return "done"


def _write_renditions(
    document: Document, result: pipeline.PipelineResult, workdir: Path
) -> list[dict[str, Any]]:
    sha = document.original.sha256
    rows: list[dict[str, Any]] = []
    sources: dict[str, Path | None] = {
        Rendition.Kind.SEARCHABLE_PDF: result.searchable_pdf,
        Rendition.Kind.THUMBNAIL: result.thumbnail,
    }
    if result.text:
        text_path = workdir / "text.txt"
        text_path.write_text(result.text, encoding="utf-8")
        sources[Rendition.Kind.TEXT] = text_path
    for kind, path in sources.items():
        filename, mime = _RENDITION_FILES[kind]
        if path is None:
            if kind == Rendition.Kind.SEARCHABLE_PDF and document.mime_type == "application/pdf":
                # The original already carries its text: it is its own searchable PDF.
                rows.append(
                    {"kind": kind, "path": document.original.path, "mime_type": mime, "size": document.size}
                )
            continue
        name = store.rendition_path(sha, filename)
        store.put(name, path)
        rows.append({"kind": kind, "path": name, "mime_type": mime, "size": path.stat().st_size})
    return rows


def _finish(document: Document, result: pipeline.PipelineResult, renditions: list[dict[str, Any]]) -> None:
    from mairie.search.services import index_courrier

    with transaction.atomic():
        locked = Document.objects.select_for_update().get(pk=document.pk)
        for row in renditions:
            Rendition.objects.update_or_create(
                document=locked,
                kind=row["kind"],
                defaults={
                    "organisation_id": locked.organisation_id,
                    "path": row["path"],
                    "mime_type": row["mime_type"],
                    "size": row["size"],
                },
            )
        locked.text = result.text.replace("\x00", "")  # PostgreSQL text cannot hold NUL
        locked.text_source = result.text_source
        locked.page_count = result.page_count
        locked.status = Document.Status.DONE
        locked.error = "\n".join(result.warnings)
        locked.processed_at = timezone.now()
        locked.save(update_fields=["text", "text_source", "page_count", "status", "error", "processed_at"])
        if locked.courrier is not None:
            index_courrier(locked.courrier)
        how = {
            "ocr": "texte reconnu (OCR)",
            "mixed": "texte reconnu (OCR) et texte d'origine",
            "text-layer": "texte d'origine du PDF",
            "email": "texte du courriel",
            "office": "document bureautique converti en PDF",
        }.get(result.text_source, "sans texte")
        pages = f", {result.page_count} page(s)" if result.page_count else ""
        record(
            organisation=locked.organisation,
            actor=None,
            action="document.processed",
            summary=f"Document « {locked.original_name} » traité : {how}{pages}.",
            obj=locked,
        )


def retry_document(*, document: Document, actor: Any) -> None:
    """Queue a failed document again (an administrator's action)."""
    from mairie.documents.tasks import process_document_task

    with transaction.atomic():
        updated = Document.objects.filter(pk=document.pk, status=Document.Status.FAILED).update(
            status=Document.Status.PENDING, error=""
        )
        if not updated:
            return
        record(
            organisation=document.organisation,
            actor=actor,
            action="document.retry",
            summary=f"Nouveau traitement demandé pour « {document.original_name} ».",
            obj=document,
        )
        process_document_task.enqueue(document.pk)
