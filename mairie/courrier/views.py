from __future__ import annotations

import datetime as dt
import io
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from mairie.audit.models import AuditEntry
from mairie.courrier import export, services
from mairie.courrier.forms import (
    CommentForm,
    CourrierEditForm,
    ExportForm,
    LinkForm,
    RegisterFilterForm,
    StatusForm,
    UploadForm,
)
from mairie.courrier.models import OPEN_STATUSES, TRANSITIONS, Courrier, CourrierLink, Direction, Status
from mairie.documents import store
from mairie.documents.models import Document
from mairie.documents.uploads import install_upload_handlers
from mairie.organisations.access import OrgRequest, org_view
from mairie.search.backends import Filters
from mairie.search.services import search_courriers

PAGE_SIZE = 20


class Page:
    """Pagination when the total is already known (saves the COUNT query Django's Paginator runs)."""

    def __init__(self, number: int, total: int, size: int = PAGE_SIZE) -> None:
        self.size = size
        self.total = total
        self.count = max(1, -(-total // size))
        self.number = min(max(1, number), self.count)
        self.offset = (self.number - 1) * size

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.count


def _page_number(request: OrgRequest) -> int:
    try:
        return int(request.GET.get("page", "1"))
    except ValueError:
        return 1


def _get_courrier(request: OrgRequest, chrono: str) -> Courrier:
    return get_object_or_404(
        Courrier.objects.for_org(request.organisation).select_related(
            "contact", "service", "assigned_to", "created_by"
        ),
        chrono=chrono,
    )


# --- Inbox -------------------------------------------------------------------------------------------

INBOX_TABS = {
    "mine": "Mes courriers",
    "service": "Mon service",
    "a_enregistrer": "À enregistrer",
    "overdue": "En retard",
}


@org_view()
def inbox(request: OrgRequest) -> HttpResponse:
    org = request.organisation
    membership = request.membership
    today = timezone.localdate()
    conditions = {
        "mine": Q(assigned_to=request.user, status__in=OPEN_STATUSES),
        "service": Q(service__members=membership, status__in=OPEN_STATUSES),
        "a_enregistrer": Q(status=Status.A_ENREGISTRER),
        "overdue": Q(due_date__lt=today, status__in=OPEN_STATUSES),
    }
    base = Courrier.objects.for_org(org)
    counts = base.aggregate(
        **{name: Count("pk", filter=cond, distinct=True) for name, cond in conditions.items()}
    )
    tab = request.GET.get("onglet") or ("mine" if counts["mine"] else "a_enregistrer")
    if tab not in conditions:
        tab = "mine"
    page = Page(_page_number(request), counts[tab])
    rows = (
        base.filter(conditions[tab])
        .select_related("contact", "service", "assigned_to", "routing_suggestion")
        .order_by("due_date" if tab == "overdue" else "-received_at", "-id")[
            page.offset : page.offset + PAGE_SIZE
        ]
    )
    return render(
        request,
        "courrier/inbox.html",
        {"tabs": INBOX_TABS, "tab": tab, "counts": counts, "rows": rows, "page": page, "today": today},
    )


# --- Register ----------------------------------------------------------------------------------------


def _filters_from(form: RegisterFilterForm) -> tuple[Filters, dict[str, Any]]:
    data = form.cleaned_data if form.is_valid() else {}
    tz = timezone.get_current_timezone()
    date_from = data.get("date_from")
    date_to = data.get("date_to")
    filters = Filters(
        date_from=dt.datetime.combine(date_from, dt.time.min, tzinfo=tz) if date_from else None,
        date_to=dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        if date_to
        else None,
        service_id=data["service"].pk if data.get("service") else None,
        status=data.get("status") or None,
        channel=data.get("channel") or None,
        kind=data.get("kind") or None,
        direction=data.get("direction") or None,
    )
    return filters, data


def _querystring(request: OrgRequest, **overrides: Any) -> str:
    params = request.GET.copy()
    for key, value in overrides.items():
        params[key] = value
    return params.urlencode()


@org_view()
def register(request: OrgRequest) -> HttpResponse:
    org = request.organisation
    form = RegisterFilterForm(request.GET or None, organisation=org)
    filters, data = _filters_from(form)
    query = (data.get("q") or "").strip()
    if query:
        match = services.CHRONO_RE.match(query)
        if match:
            found = (
                Courrier.objects.for_org(org)
                .filter(
                    year=int(match.group(1)),
                    direction=Direction.ARRIVEE if match.group(2).upper() == "A" else Direction.DEPART,
                    number=int(match.group(3)),
                )
                .first()
            )
            if found:
                return redirect("courrier:detail", slug=org.slug, chrono=found.chrono)
        return redirect(f"{reverse('courrier:search', kwargs={'slug': org.slug})}?{request.GET.urlencode()}")
    rows_qs = Courrier.objects.for_org(org)
    for field, value in (
        ("direction", filters.direction),
        ("status", filters.status),
        ("channel", filters.channel),
        ("kind", filters.kind),
        ("service_id", filters.service_id),
    ):
        if value:
            rows_qs = rows_qs.filter(**{field: value})
    if filters.date_from:
        rows_qs = rows_qs.filter(received_at__gte=filters.date_from)
    if filters.date_to:
        rows_qs = rows_qs.filter(received_at__lt=filters.date_to)
    page = Page(_page_number(request), rows_qs.count())
    rows = rows_qs.select_related("contact", "service", "assigned_to").order_by("-received_at", "-id")[
        page.offset : page.offset + PAGE_SIZE
    ]
    return render(
        request,
        "courrier/register.html",
        {
            "form": form,
            "rows": rows,
            "page": page,
            "today": timezone.localdate(),
            "qs_prev": _querystring(request, page=page.number - 1),
            "qs_next": _querystring(request, page=page.number + 1),
        },
    )


@org_view("courrier.export")
def register_export(request: OrgRequest) -> HttpResponse:
    org = request.organisation
    today = timezone.localdate()
    form = ExportForm(request.GET or None, initial={"date_from": today.replace(day=1), "date_to": today})
    if request.GET and form.is_valid():
        data = form.cleaned_data
        stem = f"registre-{org.slug}-{data['date_from']:%Y%m%d}-{data['date_to']:%Y%m%d}"
        direction = data.get("direction") or None
        if data["format"] == "csv":
            buffer = io.StringIO()
            buffer.write("\ufeff")  # lets spreadsheet software read the accents
            export.write_csv(buffer, org, data["date_from"], data["date_to"], direction)
            response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="{stem}.csv"'
            return response
        pdf = export.render_pdf(org, data["date_from"], data["date_to"], direction)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{stem}.pdf"'
        return response
    return render(request, "courrier/export.html", {"form": form})


# --- Search ------------------------------------------------------------------------------------------


@org_view()
def search(request: OrgRequest) -> HttpResponse:
    org = request.organisation
    form = RegisterFilterForm(request.GET or None, organisation=org)
    filters, data = _filters_from(form)
    query = (data.get("q") or "").strip()
    page_number = _page_number(request)
    result = None
    page = None
    if query:
        result = search_courriers(
            organisation=org,
            query=query,
            filters=filters,
            limit=PAGE_SIZE,
            offset=(page_number - 1) * PAGE_SIZE,
        )
        page = Page(page_number, result.reachable)
    # htmx asks for the whole page when it restores a history entry it no longer has in cache.
    partial = request.headers.get("HX-Request") and not request.headers.get("HX-History-Restore-Request")
    response = render(
        request,
        "courrier/_search_results.html" if partial else "courrier/search.html",
        {
            "form": form,
            "query": query,
            "result": result,
            "page": page,
            "qs_prev": _querystring(request, page=page_number - 1),
            "qs_next": _querystring(request, page=page_number + 1),
        },
    )
    # The same URL gives a fragment or a page: caches (the browser's back button) must keep them apart.
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- Upload ------------------------------------------------------------------------------------------


@csrf_exempt
@org_view("courrier.register")
def upload(request: OrgRequest) -> HttpResponse:
    limiter = install_upload_handlers(request) if request.method == "POST" else None
    return _upload(request, limiter)


@csrf_protect
def _upload(request: OrgRequest, limiter: Any) -> HttpResponse:
    org = request.organisation
    registered: list[Courrier] = []
    refused: list[tuple[str, str]] = []
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES, organisation=org)
        too_large = limiter.too_large if limiter else []
        refused += [
            (name, f"Le fichier « {name} » dépasse la taille maximale de {_limit_mb()} Mo.")
            for name in too_large
        ]
        if form.is_valid():
            registered, more_refused = _register_uploads(request, form)
            refused += more_refused
        elif too_large:
            form = UploadForm(initial=request.POST.dict(), organisation=org)
        if not refused and registered:
            numbers = ", ".join(c.chrono or "" for c in registered)
            messages.success(
                request, f"Enregistré : {numbers}. La lecture du texte se poursuit en arrière-plan."
            )
            if len(registered) == 1:
                return redirect("courrier:detail", slug=org.slug, chrono=registered[0].chrono)
            return redirect("courrier:upload", slug=org.slug)
        status = 400 if refused and not registered else 200
    else:
        form = UploadForm(organisation=org)
        status = 200
    return render(
        request,
        "courrier/upload.html",
        {"form": form, "registered": registered, "refused": refused, "max_mb": _limit_mb()},
        status=status,
    )


def _limit_mb() -> int:
    from django.conf import settings

    return int(settings.MAX_UPLOAD_MB)


def _register_uploads(request: OrgRequest, form: UploadForm) -> tuple[list[Courrier], list[tuple[str, str]]]:
    org = request.organisation
    data = form.cleaned_data
    uploads = data["files"]
    incoming = [services.IncomingFile(_temp_path(f), f.name or "fichier") for f in uploads]
    contact = services.find_or_create_contact(
        organisation=org, name=data.get("sender_name", ""), email=data.get("sender_email", "")
    )
    common = {
        "organisation": org,
        "actor": request.user,
        "channel": data["channel"],
        "subject": data.get("subject", ""),
        "contact": contact,
        "kind": data["kind"],
        "service": data.get("service"),
        "due_date": data.get("due_date"),
    }
    split = {(True, False): "separators", (False, True): "blank", (True, True): "both"}.get(
        (bool(data.get("split_separators")), bool(data.get("split_blank")))
    )
    if split is not None:  # batch scans: each file is split into courriers (see courrier/batch.py)
        return _register_batches(request, incoming, split, common)
    groups = [incoming] if data["grouping"] == "one" else [[f] for f in incoming]
    registered: list[Courrier] = []
    refused: list[tuple[str, str]] = []
    for group in groups:
        if len(group) == 1 and _is_email(group[0]):
            _register_email_upload(request, group[0], data, registered, refused)
            continue
        try:
            registered.append(services.register_courrier(files=group, **common))
        except services.RegistrationRefused as exc:
            refused += [(name, r.message) for name, r in exc.refusals]
    return registered, refused


def _is_email(item: services.IncomingFile) -> bool:
    from mairie.documents.checks import EML, sniff

    with open(item.path, "rb") as handle:
        return sniff(handle.read(8192)) == EML


def _register_email_upload(
    request: OrgRequest,
    item: services.IncomingFile,
    data: dict[str, Any],
    registered: list[Courrier],
    refused: list[tuple[str, str]],
) -> None:
    """A saved e-mail (.eml) dropped in the browser is read like one fetched from a mailbox: its body as a
    letter, its attachments as documents, its sender as the contact (mail/intake.py). What the agent
    typed in the form (subject, sender, type, due date) then takes precedence over what the message says."""
    from pathlib import Path

    from mairie.mail.intake import register_message

    result = register_message(
        organisation=request.organisation,
        raw=Path(item.path).read_bytes(),
        actor=request.user,
        service=data.get("service"),
    )
    if result.courrier is None:
        refused.append((item.name, result.reason))
        return
    courrier = result.courrier
    if result.status == "duplicate":
        messages.info(
            request, f"« {item.name} » : ce courriel est déjà enregistré sous le numéro {courrier.chrono}."
        )
    for warning in result.warnings:
        messages.warning(request, f"« {item.name} » — {warning}")
    changes: dict[str, Any] = {}
    if data.get("subject", "").strip():
        changes["subject"] = data["subject"]
    if data.get("sender_name") or data.get("sender_email"):
        changes["contact"] = services.find_or_create_contact(
            organisation=request.organisation,
            name=data.get("sender_name", ""),
            email=data.get("sender_email", ""),
        )
    if data.get("due_date"):
        changes["due_date"] = data["due_date"]
    if data.get("kind") and data["kind"] != courrier.kind and result.status != "duplicate":
        changes["kind"] = data["kind"]
    if changes and result.status != "duplicate" and services.can_edit(request.membership, courrier):
        courrier = services.update_courrier(membership=request.membership, courrier=courrier, **changes)
    registered.append(courrier)


def _register_batches(
    request: OrgRequest, incoming: list[services.IncomingFile], split: str, common: dict[str, Any]
) -> tuple[list[Courrier], list[tuple[str, str]]]:
    from mairie.courrier.batch import register_batch, summary_line

    registered: list[Courrier] = []
    refused: list[tuple[str, str]] = []
    for item in incoming:
        try:
            result = register_batch(incoming=item, split=split, **common)
        except services.RegistrationRefused as exc:
            refused += [(name, r.message) for name, r in exc.refusals]
            continue
        registered += result.courriers
        messages.info(request, summary_line(item.name, result))
        for warning in result.warnings:
            messages.warning(request, f"« {item.name} » — {warning}")
    return registered, refused


def _temp_path(uploaded: Any) -> Any:
    from pathlib import Path

    if hasattr(uploaded, "temporary_file_path"):
        return Path(uploaded.temporary_file_path())
    raise ValidationError("Téléversement non enregistré sur disque.")


# --- One courrier ------------------------------------------------------------------------------------


@org_view()
def detail(request: OrgRequest, chrono: str) -> HttpResponse:
    courrier = _get_courrier(request, chrono)
    membership = request.membership
    org = request.organisation
    documents = list(courrier.documents.select_related("original").prefetch_related("renditions"))
    doc_ids = [str(d.pk) for d in documents]
    history = (
        AuditEntry.objects.for_org(org)
        .filter(
            Q(object_type="courrier.courrier", object_id=str(courrier.pk))
            | Q(object_type="documents.document", object_id__in=doc_ids)
        )
        .order_by("-seq")[:100]
    )
    links_out = CourrierLink.objects.for_org(org).filter(source=courrier).select_related("target")
    links_in = CourrierLink.objects.for_org(org).filter(target=courrier).select_related("source")
    can_edit = services.can_edit(membership, courrier)
    edit_form = CourrierEditForm(
        organisation=org,
        current_service_id=courrier.service_id,
        initial={
            "subject": courrier.subject,
            "kind": courrier.kind,
            "channel": courrier.channel,
            "sender_name": courrier.contact.display_name if courrier.contact else "",
            "sender_email": courrier.contact.email if courrier.contact else "",
            "service": courrier.service_id,
            "assigned_to": courrier.assigned_to_id,
            "due_date": courrier.due_date,
        },
    )
    status_form = StatusForm()
    # Only the transitions the state machine allows, and no preselected one: a click never changes the status
    # by accident.
    status_form.fields["status"].choices = [("", "Choisir…")] + [  # type: ignore[attr-defined]
        (value, label) for value, label in Status.choices if value in TRANSITIONS.get(courrier.status, set())
    ]
    return render(
        request,
        "courrier/detail.html",
        {
            "courrier": courrier,
            "documents": documents,
            "history": history,
            "comments": courrier.comments.select_related("author"),
            "links_out": links_out,
            "links_in": links_in,
            "can_edit": can_edit,
            "edit_form": edit_form,
            "status_form": status_form,
            "comment_form": CommentForm(),
            "link_form": LinkForm(),
            "pending": any(
                d.status in (Document.Status.PENDING, Document.Status.PROCESSING) for d in documents
            ),
        },
    )


def _back(request: OrgRequest, courrier: Courrier) -> HttpResponse:
    return redirect("courrier:detail", slug=request.organisation.slug, chrono=courrier.chrono)


def _form_errors(request: OrgRequest, form: Any) -> None:
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, error)


# org_view comes first: a person outside the organisation gets a 404 whatever the method.
@org_view("courrier.edit")
@require_POST
def edit(request: OrgRequest, chrono: str) -> HttpResponse:
    courrier = _get_courrier(request, chrono)
    org = request.organisation
    form = CourrierEditForm(request.POST, organisation=org, current_service_id=courrier.service_id)
    if not form.is_valid():
        _form_errors(request, form)
        return _back(request, courrier)
    data = form.cleaned_data
    contact = services.find_or_create_contact(
        organisation=org, name=data.pop("sender_name", ""), email=data.pop("sender_email", "")
    )
    try:
        services.update_courrier(membership=request.membership, courrier=courrier, contact=contact, **data)
    except ValidationError as exc:
        messages.error(request, _message(exc))
    else:
        messages.success(request, "Courrier mis à jour.")
    return _back(request, courrier)


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc) or "Action non autorisée."


@org_view("courrier.edit")
@require_POST
def change_status(request: OrgRequest, chrono: str) -> HttpResponse:
    courrier = _get_courrier(request, chrono)
    form = StatusForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return _back(request, courrier)
    try:
        services.change_status(
            membership=request.membership,
            courrier=courrier,
            status=form.cleaned_data["status"],
            reason=form.cleaned_data["reason"],
        )
    except ValidationError as exc:
        messages.error(request, _message(exc))
    else:
        messages.success(request, f"Statut : {Status(form.cleaned_data['status']).label}.")
    return _back(request, courrier)


@org_view("courrier.comment")
@require_POST
def comment(request: OrgRequest, chrono: str) -> HttpResponse:
    courrier = _get_courrier(request, chrono)
    form = CommentForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return _back(request, courrier)
    try:
        services.add_comment(membership=request.membership, courrier=courrier, body=form.cleaned_data["body"])
    except ValidationError as exc:
        messages.error(request, _message(exc))
    else:
        messages.success(request, "Commentaire ajouté.")
    return _back(request, courrier)


@org_view("courrier.edit")
@require_POST
def link(request: OrgRequest, chrono: str) -> HttpResponse:
    courrier = _get_courrier(request, chrono)
    form = LinkForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return _back(request, courrier)
    target = (
        Courrier.objects.for_org(request.organisation)
        .filter(chrono=form.cleaned_data["target"].strip().upper())
        .first()
    )
    if target is None:
        messages.error(request, f"Aucun courrier « {form.cleaned_data['target']} » dans votre registre.")
        return _back(request, courrier)
    try:
        services.link_courriers(
            membership=request.membership,
            source=courrier,
            target=target,
            kind=form.cleaned_data["kind"],
        )
    except ValidationError as exc:
        messages.error(request, _message(exc))
    else:
        messages.success(request, f"Lien ajouté vers {target.chrono}.")
    return _back(request, courrier)


# --- Files -------------------------------------------------------------------------------------------

PAGE_WIDTHS = (480, 900, 1400)


@org_view()
def document_page(request: OrgRequest, chrono: str, document_id: int, number: int) -> HttpResponse:
    """One page of a document as a PNG: the viewer works in every browser, phones included."""
    courrier = _get_courrier(request, chrono)
    document = get_object_or_404(
        Document.objects.for_org(request.organisation).select_related("original"),
        pk=document_id,
        courrier=courrier,
    )
    rendition = document.renditions.filter(kind="pdf").first()
    if rendition is None or not document.page_count or not 1 <= number <= document.page_count:
        raise Http404("Page indisponible.")
    try:
        width = int(request.GET.get("l", "900"))
    except ValueError:
        width = 900
    width = min(PAGE_WIDTHS, key=lambda w: abs(w - width))
    png = render_page_png(rendition.path, number - 1, width)
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=86400"
    return response


def render_page_png(path: str, index: int, width: int) -> bytes:
    import pypdfium2 as pdfium

    from mairie.documents.checks import PDFIUM_LOCK

    # PDFium is not thread-safe and `mairie serve` runs threaded web workers.
    with store.local_copy(path, suffix=".pdf") as local, PDFIUM_LOCK:
        pdf = pdfium.PdfDocument(str(local))
        try:
            page = pdf[index]
            page_width, _ = page.get_size()
            image = page.render(scale=width / max(page_width, 1)).to_pil()
            page.close()
        finally:
            pdf.close()
    buffer = io.BytesIO()
    image.convert("L" if image.mode in ("L", "1") else "RGB").save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


FILE_KINDS = {"original", "pdf", "thumbnail", "text"}


@org_view()
def document_file(request: OrgRequest, chrono: str, document_id: int, kind: str) -> FileResponse:
    courrier = _get_courrier(request, chrono)
    document = get_object_or_404(
        Document.objects.for_org(request.organisation).select_related("original"),
        pk=document_id,
        courrier=courrier,
    )
    if kind not in FILE_KINDS:
        raise Http404
    if kind == "original":
        path, mime, name = document.original.path, document.mime_type, document.original_name
    else:
        rendition = document.renditions.filter(
            kind={"pdf": "pdf", "thumbnail": "thumbnail", "text": "text"}[kind]
        ).first()
        if rendition is None:
            raise Http404("Ce rendu n'est pas (encore) disponible.")
        suffix = {"pdf": ".pdf", "thumbnail": ".png", "text": ".txt"}[kind]
        path, mime, name = rendition.path, rendition.mime_type, f"{chrono}-{document.position + 1}{suffix}"
    inline = mime.startswith(("application/pdf", "image/", "text/plain"))
    response = FileResponse(store.open_file(path), content_type=mime, as_attachment=not inline, filename=name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response
