"""Agent pages of dossiers: list, one dossier (timeline, workflow, tasks, opinions, files, sharing), my tasks."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from mairie.courrier.models import Courrier
from mairie.courrier.services import find_or_create_contact
from mairie.documents.checks import FileRefused
from mairie.dossiers import documents, engine, services
from mairie.dossiers.files import read_file, store_file
from mairie.dossiers.models import Dossier, DossierCourrier, DossierFile, DossierShare, Opinion, Task
from mairie.letters.services import templates_for
from mairie.organisations.access import OrgRequest, org_view
from mairie.organisations.models import Membership, Organisation, Service
from mairie.workflows.models import WorkflowDefinition

MAX_FILE_MB = 50


def _dossier(request: OrgRequest, dossier_id: int) -> Dossier:
    try:
        return services.dossier_for(request.organisation, dossier_id)
    except Dossier.DoesNotExist:
        raise Http404("Dossier introuvable.") from None


def _own_dossier(request: OrgRequest, dossier_id: int) -> Dossier:
    """A dossier of the request's own organisation (the owner's tools: sharing, generating, filing): 404 for
    an organisation it is only shared with."""
    dossier = _dossier(request, dossier_id)
    if dossier.organisation_id != request.organisation.pk:
        raise Http404("Dossier introuvable.")
    return dossier


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _back(request: OrgRequest, dossier: Dossier, anchor: str = "") -> Any:
    return redirect(f"/o/{request.organisation.slug}/dossiers/{dossier.pk}/{anchor}")


def _require_edit(request: OrgRequest, dossier: Dossier) -> None:
    if not services.can_edit(dossier, request.membership):
        raise PermissionDenied("Votre rôle ne permet pas de modifier ce dossier.")


def workflows_offered(organisation: Organisation) -> list[WorkflowDefinition]:
    from mairie.workflows.services import install_library

    install_library(organisation)
    return list(
        WorkflowDefinition.objects.for_org(organisation)
        .filter(is_current=True, is_active=True)
        .order_by("title")
    )


# --- Lists ------------------------------------------------------------------------------------------------

VIEWS = {
    "en_cours": "En cours",
    "partages": "Partagés avec nous",
    "clos": "Clos",
}


@org_view("dossier.view")
def dossier_list(request: OrgRequest) -> HttpResponse:
    view = request.GET.get("vue", "en_cours")
    if view not in VIEWS:
        view = "en_cours"
    org = request.organisation
    dossiers = services.visible_dossiers(org)
    if view == "partages":
        dossiers = dossiers.exclude(organisation=org).filter(closed_at__isnull=True)
    elif view == "clos":
        dossiers = dossiers.filter(organisation=org, closed_at__isnull=False)
    else:
        dossiers = dossiers.filter(organisation=org, closed_at__isnull=True)
    query = request.GET.get("q", "").strip()
    if query:
        dossiers = dossiers.filter(Q(reference__icontains=query) | Q(subject__icontains=query))
    rows = list(dossiers.order_by("-updated_at", "-id")[:100])
    for d in rows:
        d.status_label = d.workflow.parsed.label(d.status)  # type: ignore[attr-defined]
    return render(
        request,
        "dossiers/list.html",
        {"dossiers": rows, "view": view, "views": VIEWS, "query": query, "view_label": VIEWS[view]},
    )


@org_view("dossier.view")
def my_tasks(request: OrgRequest) -> HttpResponse:
    tasks = list(services.tasks_for(request.membership)[:200])
    now = timezone.now()
    for task in tasks:
        task.is_late = bool(task.due_at and task.due_at < now)  # type: ignore[attr-defined]
    return render(request, "dossiers/tasks.html", {"tasks": tasks})


# --- Creating -------------------------------------------------------------------------------------------


@org_view("dossier.edit")
def dossier_create(request: OrgRequest) -> HttpResponse:
    org = request.organisation
    offered = workflows_offered(org)
    service_choices = list(Service.objects.for_org(org).filter(is_active=True))
    values = {"subject": "", "workflow": "", "service": "", "contact_name": "", "contact_email": ""}
    error = ""
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in values}
        workflow = next((w for w in offered if str(w.pk) == values["workflow"]), None)
        service = next((s for s in service_choices if str(s.pk) == values["service"]), None)
        if workflow is None:
            error = "Choisissez un circuit de traitement."
        else:
            try:
                if values["contact_email"]:
                    validate_email(values["contact_email"])
                with transaction.atomic():
                    contact = find_or_create_contact(
                        organisation=org, name=values["contact_name"], email=values["contact_email"]
                    )
                    dossier = services.create_dossier(
                        organisation=org,
                        actor=request.user,
                        subject=values["subject"],
                        workflow=workflow,
                        service=service,
                        contact=contact,
                    )
            except ValidationError as exc:
                error = _errors(exc)
            except engine.TransitionRefused as exc:
                error = exc.message
            else:
                messages.success(request, f"Dossier {dossier.reference} créé.")
                return _back(request, dossier)
    return render(
        request,
        "dossiers/create.html",
        {"workflows": offered, "services": service_choices, "values": values, "error": error},
        status=400 if error else 200,
    )


@org_view("dossier.edit")
@require_POST
def from_courrier(request: OrgRequest, chrono: str) -> HttpResponse:
    courrier = get_object_or_404(Courrier.objects.for_org(request.organisation), chrono=chrono)
    offered = workflows_offered(request.organisation)
    workflow = next((w for w in offered if str(w.pk) == request.POST.get("workflow", "")), None)
    if workflow is None:
        messages.error(request, "Choisissez un circuit de traitement pour le dossier.")
        return redirect("courrier:detail", slug=request.organisation.slug, chrono=chrono)
    try:
        dossier = services.create_from_courrier(
            membership=request.membership, courrier=courrier, workflow=workflow
        )
    except (ValidationError, engine.TransitionRefused) as exc:
        text = exc.message if isinstance(exc, engine.TransitionRefused) else _errors(exc)
        messages.error(request, f"Le dossier n'a pas pu être créé : {text}")
        return redirect("courrier:detail", slug=request.organisation.slug, chrono=chrono)
    messages.success(request, f"Courrier {chrono} classé au dossier {dossier.reference}.")
    return _back(request, dossier)


# --- One dossier ----------------------------------------------------------------------------------------


def related_organisations(organisation: Organisation) -> list[Organisation]:
    """Organisations a dossier is usually shared with: the ones above, beside and below (same tree)."""
    ids: set[int] = {a.pk for a in organisation.ancestors()}
    if organisation.parent_id:
        ids |= set(Organisation.objects.filter(parent_id=organisation.parent_id).values_list("pk", flat=True))
    ids |= set(Organisation.objects.filter(parent=organisation).values_list("pk", flat=True))
    ids.discard(organisation.pk)
    return list(Organisation.objects.filter(pk__in=ids, is_active=True).order_by("name"))


@org_view("dossier.view")
def dossier_detail(request: OrgRequest, dossier_id: int) -> HttpResponse:
    dossier = _dossier(request, dossier_id)
    org = request.organisation
    membership = request.membership
    definition = dossier.workflow.definition
    is_owner = dossier.organisation_id == org.pk
    share = services.share_of(dossier, org)
    can_edit = services.can_edit(dossier, membership)
    actions = engine.available_transitions(dossier, actor=request.user, organisation=org)
    tasks = list(
        Task.objects.filter(dossier=dossier).select_related(
            "assignee", "service", "organisation", "delegated_from"
        )
    )
    for task in tasks:
        task.mine = task.status == Task.Status.OPEN and services.may_do_task(task, membership)  # type: ignore[attr-defined]
    opinions = list(
        Opinion.objects.filter(dossier=dossier).select_related(
            "task", "task__service", "task__assignee", "organisation", "given_by"
        )
    )
    for opinion in opinions:
        mine = opinion.status == Opinion.Status.PENDING and services.may_do_task(opinion.task, membership)
        opinion.mine = mine  # type: ignore[attr-defined]
    files = list(DossierFile.objects.filter(dossier=dossier).select_related("created_by"))
    courriers = [
        link.courrier for link in DossierCourrier.objects.filter(dossier=dossier).select_related("courrier")
    ]
    shares = list(
        DossierShare.objects.filter(dossier=dossier).select_related("organisation").order_by("granted_at")
    )
    events = list(
        dossier.events.select_related("actor", "acting_organisation", "on_behalf_of").order_by("at", "id")
    )
    try:
        from mairie.workflows.diagram import to_svg

        diagram = to_svg(definition, current=dossier.status)
    except Exception:  # a diagram that cannot be drawn must not hide the dossier
        diagram = ""
    members = list(
        Membership.objects.filter(organisation=org, is_active=True)
        .select_related("user")
        .order_by("user__last_name")
    )
    return render(
        request,
        "dossiers/detail.html",
        {
            "dossier": dossier,
            "status_label": dossier.workflow.parsed.label(dossier.status),
            "is_owner": is_owner,
            "share": share,
            "can_edit": can_edit,
            "is_holder": dossier.holder_id == org.pk,
            "actions": actions,
            "tasks": tasks,
            "opinions": opinions,
            "verdicts": Opinion.Verdict.choices,
            "files": files,
            "courriers": courriers,
            "shares": shares,
            "events": events,
            "diagram": diagram,
            "members": members,
            "org_services": list(Service.objects.for_org(org).filter(is_active=True)),
            "templates": list(templates_for(dossier.organisation, active_only=True)) if is_owner else [],
            "share_targets": related_organisations(dossier.organisation) if is_owner else [],
            "purposes": DossierShare.Purpose.choices,
            "today": timezone.localdate(),
            "data_rows": _data_rows(dossier),
        },
    )


def _data_rows(dossier: Dossier) -> list[dict[str, Any]]:
    """The data fields shown on the dossier: those the workflow's conditions read, then the others."""
    data = dossier.data or {}
    used = services.condition_fields(dossier.workflow.definition)
    rows = []
    for name in used + [name for name in data if name not in used]:
        value = data.get(name, "")
        shown = {True: "oui", False: "non"}[value] if isinstance(value, bool) else value
        rows.append({"name": name, "value": shown, "used": name in used})
    return rows


@org_view("dossier.view")
def dossier_diagram(request: OrgRequest, dossier_id: int) -> HttpResponse:
    from mairie.workflows.diagram import to_svg

    dossier = _dossier(request, dossier_id)
    response = HttpResponse(
        to_svg(dossier.workflow.definition, current=dossier.status), content_type="image/svg+xml"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


@org_view("dossier.view")
@require_POST
def transition(request: OrgRequest, dossier_id: int) -> HttpResponse:
    dossier = _dossier(request, dossier_id)
    name = request.POST.get("transition", "")
    try:
        engine.apply_transition(
            dossier=dossier,
            transition=name,
            actor=request.user,
            organisation=request.organisation,
            comment=request.POST.get("comment", ""),
        )
    except engine.TransitionRefused as exc:
        messages.error(request, exc.message)
    else:
        dossier.refresh_from_db()
        messages.success(
            request,
            f"Dossier {dossier.reference} : étape « {dossier.workflow.parsed.label(dossier.status)} ».",
        )
    return _back(request, dossier)


@org_view("dossier.view")
@require_POST
def comment(request: OrgRequest, dossier_id: int) -> HttpResponse:
    dossier = _dossier(request, dossier_id)
    try:
        services.add_comment(
            membership=request.membership, dossier=dossier, text=request.POST.get("text", "")
        )
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    return _back(request, dossier, "#historique")


@org_view("dossier.edit")
@require_POST
def data(request: OrgRequest, dossier_id: int) -> HttpResponse:
    dossier = _dossier(request, dossier_id)
    names = request.POST.getlist("name")
    values = request.POST.getlist("value")
    services.set_data(
        membership=request.membership, dossier=dossier, values=dict(zip(names, values, strict=False))
    )
    messages.success(request, "Données du dossier enregistrées.")
    return _back(request, dossier)


def _due(value: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError({"due": "Date d'échéance invalide (jj/mm/aaaa)."}) from None
    return timezone.make_aware(dt.datetime.combine(day, dt.time(18, 0)))


@org_view("dossier.edit")
@require_POST
def task_add(request: OrgRequest, dossier_id: int) -> HttpResponse:
    dossier = _dossier(request, dossier_id)
    _require_edit(request, dossier)
    org = request.organisation
    title = " ".join(request.POST.get("title", "").split())
    try:
        if not title:
            raise ValidationError({"title": "Indiquez l'intitulé de la tâche."})
        assignee = None
        service = None
        who = request.POST.get("who", "")
        if who.startswith("m"):
            assignee = get_object_or_404(Membership, organisation=org, is_active=True, pk=who[1:]).user
        elif who.startswith("s"):
            service = get_object_or_404(Service, organisation=org, pk=who[1:])
        due = _due(request.POST.get("due", ""))
        services.create_task(
            dossier=dossier,
            title=title,
            actor=request.user,
            organisation=org,
            description=request.POST.get("description", ""),
            assignee=assignee,
            service=service,
            due_at=due,
        )
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, f"Tâche « {title} » créée.")
    return _back(request, dossier, "#taches")


@org_view("dossier.edit")
@require_POST
def task_done(request: OrgRequest, dossier_id: int, task_id: int) -> HttpResponse:
    dossier = _dossier(request, dossier_id)
    task = get_object_or_404(Task.objects.for_org(request.organisation), dossier=dossier, pk=task_id)
    try:
        services.complete_task(
            membership=request.membership, task=task, comment=request.POST.get("comment", "")
        )
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, f"Tâche « {task.title} » faite.")
    if request.POST.get("next") == "taches":
        return redirect("dossiers:tasks", slug=request.organisation.slug)
    return _back(request, dossier, "#taches")


@org_view("dossier.edit")
@require_POST
def opinion(request: OrgRequest, dossier_id: int, opinion_id: int) -> HttpResponse:
    dossier = _dossier(request, dossier_id)
    item = get_object_or_404(
        Opinion.objects.for_org(request.organisation).select_related("task"), dossier=dossier, pk=opinion_id
    )
    try:
        services.give_opinion(
            membership=request.membership,
            opinion=item,
            verdict=request.POST.get("verdict", ""),
            text=request.POST.get("text", ""),
        )
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, "Avis rendu.")
    return _back(request, dossier, "#avis")


@org_view("dossier.edit")
@require_POST
def opinion_request(request: OrgRequest, dossier_id: int) -> HttpResponse:
    dossier = _dossier(request, dossier_id)
    _require_edit(request, dossier)
    if dossier.holder_id != request.organisation.pk:
        raise PermissionDenied
    targets: list[dict[str, Any]] = []
    for value in request.POST.getlist("target"):
        if value.startswith("s"):
            service = get_object_or_404(Service, organisation=request.organisation, pk=value[1:])
            targets.append({"service": service.name})
        elif value.startswith("m"):
            member = get_object_or_404(
                Membership, organisation=request.organisation, is_active=True, pk=value[1:]
            )
            targets.append({"agent": member.user.username})
        elif value.startswith("o"):
            target_org = get_object_or_404(Organisation, pk=value[1:], is_active=True)
            if target_org not in related_organisations(dossier.organisation):
                raise Http404
            targets.append({"organisation": target_org.slug})
    try:
        delay = int(request.POST.get("delay_days", "15"))
    except ValueError:
        delay = 0
    if not targets or delay <= 0:
        messages.error(request, "Choisissez à qui demander l'avis et un délai d'au moins un jour.")
        return _back(request, dossier, "#avis")
    try:
        with transaction.atomic():
            services.request_opinions(
                dossier=dossier,
                targets=targets,
                actor=request.user,
                delay_days=delay,
                question=request.POST.get("question", ""),
            )
    except (ValueError, ValidationError) as exc:
        messages.error(request, str(exc) if isinstance(exc, ValueError) else _errors(exc))
    else:
        messages.success(request, f"{len(targets)} avis demandé{'s' if len(targets) > 1 else ''}.")
    return _back(request, dossier, "#avis")


@org_view("dossier.edit")
@require_POST
def courrier_add(request: OrgRequest, dossier_id: int) -> HttpResponse:
    """File an already registered courrier of the organisation (by its number) in the dossier."""
    dossier = _own_dossier(request, dossier_id)
    chrono = request.POST.get("chrono", "").strip()
    courrier = Courrier.objects.for_org(request.organisation).filter(chrono__iexact=chrono).first()
    if courrier is None:
        messages.error(
            request, f"Aucun courrier n° « {chrono} » dans le registre de {request.organisation.name}."
        )
        return _back(request, dossier, "#documents")
    try:
        services.file_courrier(membership=request.membership, dossier=dossier, courrier=courrier)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, f"Courrier {courrier.chrono} classé au dossier.")
    return _back(request, dossier, "#documents")


@org_view("dossier.edit")
@require_POST
def file_add(request: OrgRequest, dossier_id: int) -> HttpResponse:
    dossier = _dossier(request, dossier_id)
    _require_edit(request, dossier)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choisissez un fichier.")
        return _back(request, dossier, "#documents")
    if upload.size and upload.size > MAX_FILE_MB * 1024 * 1024:
        messages.error(request, f"Le fichier dépasse {MAX_FILE_MB} Mo.")
        return _back(request, dossier, "#documents")
    title = " ".join(request.POST.get("title", "").split()) or upload.name or "Document"
    try:
        store_file(
            dossier=dossier,
            content=upload.read(),
            name=upload.name or "document",
            title=title,
            actor=request.user,
            acting_organisation=request.organisation,
        )
    except FileRefused as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Document « {title} » ajouté.")
    return _back(request, dossier, "#documents")


@org_view("dossier.view")
def file_download(request: OrgRequest, dossier_id: int, file_id: int) -> HttpResponse:
    dossier = _dossier(request, dossier_id)
    item = get_object_or_404(DossierFile, dossier=dossier, pk=file_id)
    response = HttpResponse(read_file(item), content_type=item.mime_type)
    disposition = (
        "inline" if item.mime_type in ("application/pdf", "image/png", "image/jpeg") else "attachment"
    )
    safe_name = item.name.replace('"', "")
    response["Content-Disposition"] = f'{disposition}; filename="{safe_name}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@org_view("dossier.view")
def file_signatures(request: OrgRequest, dossier_id: int, file_id: int) -> HttpResponse:
    """The validation report of a dossier's file: each signature, intact or not, trusted or not."""
    from mairie.signatures.services import SignatureError
    from mairie.signatures.verify import report_context, verify_pdf

    dossier = _dossier(request, dossier_id)
    item = get_object_or_404(DossierFile, dossier=dossier, pk=file_id)
    context: dict[str, Any] = {"dossier": dossier, "item": item}
    try:
        context.update(report_context(verify_pdf(read_file(item))))
    except SignatureError as exc:
        context["error"] = str(exc)
    return render(request, "dossiers/file_signatures.html", context)


@org_view("dossier.edit")
def generate(request: OrgRequest, dossier_id: int) -> HttpResponse:
    dossier = _own_dossier(request, dossier_id)
    _require_edit(request, dossier)
    templates = list(templates_for(dossier.organisation, active_only=True))
    chosen = next(
        (t for t in templates if str(t.pk) == request.POST.get("template", request.GET.get("template", ""))),
        None,
    )
    if chosen is None:
        return render(
            request,
            "dossiers/generate.html",
            {"dossier": dossier, "templates": templates},
            status=400 if request.method == "POST" else 200,
        )
    try:
        if request.method != "POST":
            content = documents.preview(dossier=dossier, template=chosen, actor=request.user)
            response = HttpResponse(content, content_type="application/pdf")
            response["Content-Disposition"] = f'inline; filename="apercu-{dossier.reference}.pdf"'
            response["X-Content-Type-Options"] = "nosniff"
            response["Cache-Control"] = "private, no-store"
            return response
        item = documents.generate(
            dossier=dossier, template=chosen, actor=request.user, title=request.POST.get("title") or None
        )
    except engine.ActionFailed as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Document « {item.title} » généré.")
    return _back(request, dossier, "#documents")


@org_view("dossier.edit")
@require_POST
def share(request: OrgRequest, dossier_id: int) -> HttpResponse:
    dossier = _own_dossier(request, dossier_id)
    _require_edit(request, dossier)
    target = next(
        (
            o
            for o in related_organisations(dossier.organisation)
            if str(o.pk) == request.POST.get("organisation")
        ),
        None,
    )
    if target is None:
        messages.error(request, "Choisissez l'organisation avec qui partager le dossier.")
        return _back(request, dossier, "#partages")
    try:
        services.share_dossier(
            dossier=dossier,
            organisation=target,
            purpose=request.POST.get("purpose", ""),
            actor=request.user,
            note=request.POST.get("note", ""),
        )
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, f"Dossier partagé avec {target.name}.")
    return _back(request, dossier, "#partages")


@org_view("dossier.edit")
@require_POST
def share_end(request: OrgRequest, dossier_id: int, share_id: int) -> HttpResponse:
    dossier = _own_dossier(request, dossier_id)
    item = get_object_or_404(DossierShare, dossier=dossier, pk=share_id)
    try:
        services.end_share(membership=request.membership, share=item)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    return _back(request, dossier, "#partages")


@org_view("dossier.edit")
@require_POST
def give_back(request: OrgRequest, dossier_id: int) -> HttpResponse:
    dossier = _dossier(request, dossier_id)
    if dossier.holder_id != request.organisation.pk or dossier.organisation_id == request.organisation.pk:
        raise PermissionDenied("Seule l'organisation à qui le dossier a été transmis peut le rendre.")
    try:
        services.hand_back(
            dossier=dossier,
            actor=request.user,
            acting=request.organisation,
            note=request.POST.get("note", ""),
        )
    except ValidationError as exc:
        messages.error(request, _errors(exc))
        return _back(request, dossier)
    messages.success(request, f"Dossier rendu à {dossier.organisation.name}.")
    return redirect("dossiers:list", slug=request.organisation.slug)
