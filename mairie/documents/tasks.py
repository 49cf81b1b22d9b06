from __future__ import annotations

from django_tasks import task

from mairie.documents.services import process_document


@task(queue_name="default")
def process_document_task(document_id: int) -> str:
    return process_document(document_id)
