from __future__ import annotations

from django_tasks import task

from mairie.documents.services import process_document


@task(queue_name="default")
def process_document_task(document_id: int) -> str:
    outcome = process_document(document_id)
    # Once a courrier's last document is read, its suggestions are computed with the text. Also after
    # "already-done": a worker that died between the two steps leaves no courrier without suggestions.
    from mairie.routing.services import after_document

    after_document(document_id)
    return outcome
