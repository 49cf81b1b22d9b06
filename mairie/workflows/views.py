"""Administrators' pages for workflow definitions: list, write, import, diagram, versions, export."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from mairie.organisations.access import OrgRequest, org_view
from mairie.organisations.models import Organisation
from mairie.workflows import services
from mairie.workflows.definition import Definition, DefinitionError, Problem
from mairie.workflows.diagram import to_svg
from mairie.workflows.forms import DefinitionForm, ImportForm
from mairie.workflows.models import WorkflowDefinition
from mairie.workflows.presentation import describe

EXAMPLE = """\
name: mon-circuit
title: Mon circuit de traitement
initial: recu
statuses:
  - id: recu
    label: Reçu
    on_enter:
      - action: assign
        service: Accueil et secrétariat
  - id: clos
    label: Clos
    final: true
transitions:
  - id: clore
    label: Clore
    from: [recu]
    to: clos
"""


def _dossier_counts(organisation: Organisation) -> dict[int, int]:
    """Dossiers per definition version (one grouped query)."""
    from mairie.dossiers.models import Dossier

    rows = Dossier.objects.for_org(organisation).values("workflow").annotate(n=Count("id"))
    return {row["workflow"]: row["n"] for row in rows}


def _get(request: OrgRequest, workflow_id: int) -> WorkflowDefinition:
    return get_object_or_404(
        WorkflowDefinition.objects.for_org(request.organisation).select_related("created_by"), pk=workflow_id
    )


@org_view("org.admin")
def definition_list(request: OrgRequest) -> HttpResponse:
    org = request.organisation
    counts = _dossier_counts(org)
    names: dict[str, int] = {}
    for wd_id, name in WorkflowDefinition.objects.for_org(org).values_list("pk", "name"):
        names[name] = names.get(name, 0) + counts.get(wd_id, 0)
    rows = [
        {"wd": wd, "current_count": counts.get(wd.pk, 0), "total_count": names.get(wd.name, 0)}
        for wd in services.definitions_for(org)
    ]
    missing = [name for name in services.library_texts() if name not in names]
    return render(request, "workflows/list.html", {"rows": rows, "missing_library": missing})


def _save(request: OrgRequest, text: str) -> tuple[WorkflowDefinition | None, list[Problem]]:
    try:
        saved = services.save_definition(organisation=request.organisation, actor=request.user, text=text)
    except DefinitionError as exc:
        return None, exc.problems
    return saved, []


def _saved_message(request: OrgRequest, saved: WorkflowDefinition, previous_pk: int | None) -> None:
    if previous_pk == saved.pk:
        messages.info(request, f"Circuit « {saved.title} » inchangé : aucune nouvelle version.")
    elif saved.version == 1:
        messages.success(request, f"Circuit « {saved.title} » créé.")
    else:
        messages.success(
            request,
            f"Circuit « {saved.title} » enregistré en version {saved.version} : les nouveaux dossiers la "
            "suivront, les dossiers en cours gardent leur version.",
        )


def _current_pk(request: OrgRequest, text: str) -> int | None:
    from mairie.workflows.definition import parse_text

    try:
        name = parse_text(text).get("name")
    except DefinitionError:
        return None
    if not isinstance(name, str):
        return None
    current = services.current_definition(request.organisation, name)
    return current.pk if current else None


def _form_page(request: OrgRequest, wd: WorkflowDefinition | None) -> HttpResponse:
    problems: list[Problem] = []
    status = 200
    if request.method == "POST":
        form = DefinitionForm(request.POST)
        if form.is_valid():
            text = form.cleaned_data["source"]
            previous = _current_pk(request, text)
            saved, problems = _save(request, text)
            if saved is not None:
                _saved_message(request, saved, previous)
                return redirect("workflows:detail", slug=request.organisation.slug, workflow_id=saved.pk)
        status = 400
    elif wd is not None:
        form = DefinitionForm(initial={"source": services.export_text(wd)})
    else:
        form = DefinitionForm(initial={"source": EXAMPLE})
    return render(
        request, "workflows/form.html", {"form": form, "wd": wd, "problems": problems}, status=status
    )


@org_view("org.admin")
def definition_add(request: OrgRequest) -> HttpResponse:
    return _form_page(request, None)


@org_view("org.admin")
def definition_edit(request: OrgRequest, workflow_id: int) -> HttpResponse:
    return _form_page(request, _get(request, workflow_id))


@org_view("org.admin")
def definition_import(request: OrgRequest) -> HttpResponse:
    problems: list[Problem] = []
    status = 200
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            text = form.cleaned_data["file"]
            previous = _current_pk(request, text)
            saved, problems = _save(request, text)
            if saved is not None:
                _saved_message(request, saved, previous)
                return redirect("workflows:detail", slug=request.organisation.slug, workflow_id=saved.pk)
        status = 400
    else:
        form = ImportForm()
    return render(request, "workflows/import.html", {"form": form, "problems": problems}, status=status)


@org_view("org.admin")
@require_POST
def install_library(request: OrgRequest) -> HttpResponse:
    installed = services.install_library(request.organisation, actor=request.user)
    if installed:
        titles = ", ".join(f"« {wd.title} »" for wd in installed)
        messages.success(request, f"Circuits prêts à l'emploi installés : {titles}.")
    else:
        messages.info(request, "Les circuits prêts à l'emploi sont déjà installés.")
    return redirect("workflows:list", slug=request.organisation.slug)


@org_view("org.admin")
def definition_detail(request: OrgRequest, workflow_id: int) -> HttpResponse:
    wd = _get(request, workflow_id)
    counts = _dossier_counts(request.organisation)
    versions = [
        {"wd": version, "count": counts.get(version.pk, 0)}
        for version in services.versions_of(request.organisation, wd.name).select_related("created_by")
    ]
    context: dict[str, Any] = {"wd": wd, "versions": versions, "count": counts.get(wd.pk, 0)}
    try:
        definition = Definition(wd.definition)
    except (KeyError, TypeError, ValueError):  # a stored row that no longer reads (should not happen)
        context["unreadable"] = True
    else:
        context["description"] = describe(definition)
        context["diagram"] = mark_safe(to_svg(wd.definition))  # noqa: S308 - every text is escaped by to_svg
    return render(request, "workflows/detail.html", context)


@org_view("org.admin")
def definition_export(request: OrgRequest, workflow_id: int) -> HttpResponse:
    wd = _get(request, workflow_id)
    response = HttpResponse(services.export_text(wd), content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{wd.name}-v{wd.version}.yaml"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@org_view("org.admin")
@require_POST
def definition_toggle(request: OrgRequest, workflow_id: int) -> HttpResponse:
    wd = _get(request, workflow_id)
    current = services.current_definition(request.organisation, wd.name)
    assert current is not None
    current = services.set_active(
        organisation=request.organisation, actor=request.user, name=wd.name, active=not current.is_active
    )
    if current.is_active:
        messages.success(request, f"Circuit « {current.title} » proposé pour les nouveaux dossiers.")
    else:
        messages.success(
            request, f"Circuit « {current.title} » n'est plus proposé pour les nouveaux dossiers."
        )
    return redirect("workflows:detail", slug=request.organisation.slug, workflow_id=wd.pk)
