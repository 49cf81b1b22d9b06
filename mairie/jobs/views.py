from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from mairie.audit.models import AuditEntry
from mairie.audit.services import verify_chain
from mairie.documents.models import Document
from mairie.documents.services import retry_document
from mairie.jobs.services import last_heartbeat
from mairie.organisations.access import OrgRequest, org_view


@org_view("jobs.admin")
def processing(request: OrgRequest) -> HttpResponse:
    """Documents whose processing failed or waits, for the organisation's administrators."""
    org = request.organisation
    documents = Document.objects.for_org(org).select_related("courrier")
    failed = documents.filter(status=Document.Status.FAILED).order_by("-created_at")[:200]
    waiting = documents.filter(status__in=[Document.Status.PENDING, Document.Status.PROCESSING]).order_by(
        "created_at"
    )[:200]
    return render(
        request,
        "jobs/processing.html",
        {"failed": failed, "waiting": waiting, "heartbeat": last_heartbeat()},
    )


@org_view("jobs.admin")
@require_POST
def retry(request: OrgRequest, document_id: int) -> HttpResponse:
    org = request.organisation
    document = get_object_or_404(Document.objects.for_org(org), pk=document_id)
    retry_document(document=document, actor=request.user)
    messages.success(request, f"Nouveau traitement demandé pour « {document.original_name} ».")
    return redirect("jobs:processing", slug=org.slug)


@org_view("org.admin")
def journal(request: OrgRequest) -> HttpResponse:
    org = request.organisation
    entries = AuditEntry.objects.for_org(org).order_by("-seq")[:200]
    report = verify_chain(org) if request.GET.get("verifier") else None
    return render(request, "jobs/journal.html", {"entries": entries, "report": report})
