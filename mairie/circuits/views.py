"""The parapheur's pages: my steps (with batch signature), a circuit or step page, the document, the dossier
panel's form to start a circuit. Every lookup goes through the request's organisation."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from mairie.circuits import services
from mairie.circuits.models import Circuit, CircuitStep
from mairie.dossiers.models import Dossier, DossierFile
from mairie.organisations.access import OrgRequest, org_view
from mairie.organisations.models import Membership, Role, Service

START_ROWS = 5


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(getattr(exc, "message", None) or exc)


def _signature_errors() -> tuple[type[Exception], ...]:
    from mairie.documents.checks import FileRefused
    from mairie.signatures.services import SignatureError

    return (ValidationError, PermissionDenied, SignatureError, FileRefused)


def _has_certificate(request: OrgRequest) -> bool:
    from mairie.signatures.services import current_certificate

    return current_certificate(request.organisation, request.user) is not None


def _seal_available(request: OrgRequest) -> bool:
    from mairie.signatures.services import current_seal

    return services.may_use_seal(request.organisation, request.user) and (
        current_seal(request.organisation) is not None
    )


def _step(request: OrgRequest, step_id: int) -> CircuitStep:
    return get_object_or_404(
        CircuitStep.objects.for_org(request.organisation).select_related(
            "circuit__dossier", "circuit__file", "circuit__signed_file", "circuit__drafter", "organisation"
        ),
        pk=step_id,
    )


def _circuit(request: OrgRequest, circuit_id: int) -> Circuit:
    return get_object_or_404(
        Circuit.objects.for_org(request.organisation).select_related(
            "dossier", "file", "signed_file", "drafter", "organisation"
        ),
        pk=circuit_id,
    )


# --- My parapheur --------------------------------------------------------------------------------------------


@org_view("dossier.view")
def parapheur(request: OrgRequest) -> HttpResponse:
    rows = []
    for step in services.pending_steps_for(organisation=request.organisation, user=request.user):
        may_act, on_behalf_of = services.acting_for(step, request.user)
        if may_act:
            rows.append({"step": step, "on_behalf_of": on_behalf_of, "target": services.target_label(step)})
    has_signature = any(row["step"].kind == CircuitStep.Kind.SIGNATURE for row in rows)
    context = {
        "rows": rows,
        "has_signature": has_signature,
        "has_certificate": has_signature and _has_certificate(request),
        "seal_available": has_signature and _seal_available(request),
    }
    return render(request, "circuits/parapheur.html", context)


@org_view("dossier.view")
@require_POST
def batch_sign(request: OrgRequest) -> HttpResponse:
    ids = [int(v) for v in request.POST.getlist("steps") if v.isdigit()]
    back = redirect("circuits:parapheur", slug=request.organisation.slug)
    if not ids:
        messages.error(request, "Cochez au moins un document à signer.")
        return back
    found = {
        step.pk: step
        for step in CircuitStep.objects.for_org(request.organisation)
        .filter(pk__in=ids)
        .select_related("circuit__file", "circuit__dossier", "organisation")
    }
    steps = [found[i] for i in ids if i in found]
    if not steps:
        raise Http404("Étapes introuvables.")
    results = services.sign_batch(
        steps=steps,
        actor=request.user,
        pin=request.POST.get("pin") or None,
        use_seal=request.POST.get("use_seal") == "1",
    )
    signed = [r for r in results if r.ok]
    if signed:
        count = len(signed)
        messages.success(
            request,
            f"{count} document{'s' * (count > 1)} traité{'s' * (count > 1)} : "
            + " ; ".join(r.message for r in signed),
        )
    for result in results:
        if not result.ok:
            messages.error(request, f"Non signé — {result.message}")
    return back


# --- A circuit, a step ---------------------------------------------------------------------------------------


def _circuit_page(
    request: OrgRequest, circuit: Circuit, chosen: CircuitStep | None, status: int = 200
) -> HttpResponse:
    steps = list(
        circuit.steps.select_related(
            "user", "service", "acted_by", "on_behalf_of", "organisation", "signed_file"
        )
    )
    actionable = None
    on_behalf_of = None
    candidates = [chosen] if chosen is not None else steps
    for step in candidates:
        if step is None or step.status != CircuitStep.Status.PENDING:
            continue
        step.circuit = circuit
        may_act, whom = services.acting_for(step, request.user)
        if may_act:
            actionable, on_behalf_of = step, whom
            break
    rows = services.step_rows(steps, actionable)
    signing = actionable is not None and actionable.kind == CircuitStep.Kind.SIGNATURE
    may_cancel = circuit.status == Circuit.Status.IN_PROGRESS and (
        circuit.drafter_id == request.user.pk or request.membership.can("dossier.edit")
    )
    context: dict[str, Any] = {
        "circuit": circuit,
        "rows": rows,
        "step": actionable,
        "chosen": chosen,
        "on_behalf_of": on_behalf_of,
        "signing": signing,
        "has_certificate": signing and _has_certificate(request),
        "seal_available": signing and _seal_available(request),
        "annotations": circuit.annotations.select_related("author", "step"),
        "may_cancel": may_cancel,
        "current_file": circuit.signed_file or circuit.file,
        "report": _signature_report(circuit),
    }
    return render(request, "circuits/circuit.html", context, status=status)


def _signature_report(circuit: Circuit) -> dict[str, Any] | None:
    """The signed version's verification (integrity, validity, trust), as the signatures app words it."""
    if circuit.signed_file is None:
        return None
    from mairie.dossiers.files import read_file
    from mairie.signatures.services import SignatureError
    from mairie.signatures.verify import report_context, verify_pdf

    try:
        return report_context(verify_pdf(read_file(circuit.signed_file)))
    except SignatureError as exc:
        return {"signatures": [], "verdict": str(exc), "all_ok": False}


@org_view("dossier.view")
def circuit_detail(request: OrgRequest, circuit_id: int) -> HttpResponse:
    return _circuit_page(request, _circuit(request, circuit_id), None)


@org_view("dossier.view")
def step_detail(request: OrgRequest, step_id: int) -> HttpResponse:
    step = _step(request, step_id)
    return _circuit_page(request, _circuit(request, step.circuit_id), step)


@org_view("dossier.view")
@require_POST
def approve(request: OrgRequest, step_id: int) -> HttpResponse:
    step = _step(request, step_id)
    try:
        services.approve_step(
            step=step,
            actor=request.user,
            comment=request.POST.get("comment", ""),
            pin=request.POST.get("pin") or None,
            use_seal=request.POST.get("use_seal") == "1",
        )
    except _signature_errors() as exc:
        messages.error(request, _message(exc))
        return redirect("circuits:step", slug=request.organisation.slug, step_id=step.pk)
    done = "signé" if step.kind == CircuitStep.Kind.SIGNATURE else "visé"
    messages.success(request, f"« {step.circuit.file.title} » {done}.")
    if request.POST.get("next") == "parapheur":
        return redirect("circuits:parapheur", slug=request.organisation.slug)
    return redirect("circuits:circuit", slug=request.organisation.slug, circuit_id=step.circuit_id)


@org_view("dossier.view")
@require_POST
def refuse(request: OrgRequest, step_id: int) -> HttpResponse:
    step = _step(request, step_id)
    try:
        services.refuse_step(step=step, actor=request.user, reason=request.POST.get("reason", ""))
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _message(exc))
        return redirect("circuits:step", slug=request.organisation.slug, step_id=step.pk)
    messages.success(request, f"Refus enregistré : « {step.circuit.file.title} » retourne à son rédacteur.")
    return redirect("circuits:circuit", slug=request.organisation.slug, circuit_id=step.circuit_id)


@org_view("dossier.view")
@require_POST
def annotate(request: OrgRequest, circuit_id: int) -> HttpResponse:
    circuit = _circuit(request, circuit_id)
    target: CircuitStep | Circuit = circuit
    step_id = request.POST.get("step", "")
    if step_id.isdigit():
        target = get_object_or_404(
            CircuitStep.objects.for_org(request.organisation), pk=int(step_id), circuit=circuit
        )
        target.circuit = circuit
    try:
        services.annotate(step_or_circuit=target, actor=request.user, text=request.POST.get("text", ""))
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _message(exc))
    else:
        messages.success(request, "Annotation ajoutée.")
    if isinstance(target, CircuitStep):
        return redirect("circuits:step", slug=request.organisation.slug, step_id=target.pk)
    return redirect("circuits:circuit", slug=request.organisation.slug, circuit_id=circuit.pk)


@org_view("dossier.view")
@require_POST
def cancel(request: OrgRequest, circuit_id: int) -> HttpResponse:
    circuit = _circuit(request, circuit_id)
    try:
        services.cancel_circuit(circuit=circuit, actor=request.user, reason=request.POST.get("reason", ""))
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _message(exc))
    else:
        messages.success(request, "Circuit annulé.")
    return redirect("circuits:circuit", slug=request.organisation.slug, circuit_id=circuit.pk)


@org_view("dossier.view")
@xframe_options_sameorigin
def document(request: OrgRequest, circuit_id: int) -> HttpResponse:
    """The circuit's current document (latest signed version, else the file); ``?version=original``."""
    from mairie.dossiers.files import read_file

    circuit = _circuit(request, circuit_id)
    item = circuit.file if request.GET.get("version") == "original" else (circuit.signed_file or circuit.file)
    # Re-read through the organisation: a file is only ever served through a tenant-scoped lookup.
    item = get_object_or_404(DossierFile.objects.for_org(request.organisation), pk=item.pk)
    response = HttpResponse(read_file(item), content_type=item.mime_type)
    disposition = "inline" if item.mime_type == services.PDF else "attachment"
    safe_name = item.name.replace('"', "").replace("\\", "")
    response["Content-Disposition"] = f'{disposition}; filename="{safe_name}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


# --- Starting a circuit from the dossier ---------------------------------------------------------------------


def target_choices(organisation: Any) -> list[tuple[str, list[tuple[str, str]]]]:
    """Options of the « qui ? » select: people, roles, services (values ``agent:…``, ``role:…``, ``service:…``)."""
    people = [
        (f"agent:{m.user.get_username()}", (m.user.get_full_name() or m.user.get_username()).strip())
        for m in Membership.objects.filter(organisation=organisation, is_active=True, user__is_active=True)
        .select_related("user")
        .order_by("user__last_name", "user__first_name", "user__username")
    ]
    roles = [(f"role:{key}", f"Un membre au rôle « {label} »") for key, label in Role.choices]
    servs = [
        (f"service:{s.pk}", f"Un membre du service « {s.name} »")
        for s in Service.objects.for_org(organisation).filter(is_active=True)
    ]
    return [("Personnes", people), ("Rôles", roles), ("Services", servs)]


def panel_context(request: OrgRequest, dossier: Dossier) -> dict[str, Any]:
    """What ``circuits/_dossier_panel.html`` needs (the dossier page includes it with this context)."""
    organisation = request.organisation
    circuits = list(
        Circuit.objects.for_org(organisation)
        .filter(dossier=dossier)
        .select_related("file", "signed_file", "drafter", "organisation")
        .prefetch_related("steps__user", "steps__service", "steps__acted_by", "steps__on_behalf_of")
    )
    for circuit in circuits:
        circuit.rows = services.step_rows(circuit.steps.all())  # type: ignore[attr-defined]
    may_start = request.membership.can("dossier.edit")
    pdf_files = list(
        DossierFile.objects.for_org(organisation).filter(dossier=dossier, mime_type=services.PDF)
    )
    return {
        "dossier": dossier,
        "circuits": circuits,
        "may_start": may_start and bool(pdf_files),
        "pdf_files": pdf_files,
        "start_rows": range(1, START_ROWS + 1),
        "target_choices": target_choices(organisation) if may_start and pdf_files else [],
    }


def _steps_from_post(data: Any) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for index in range(1, START_ROWS + 1):
        kind = data.get(f"kind_{index}", "")
        target = data.get(f"target_{index}", "")
        if not kind and not target:
            continue
        if not kind or ":" not in target:
            raise services.CircuitError(f"Étape {index} : choisissez le type (visa ou signature) et qui.")
        what, _, value = target.partition(":")
        if what not in {"agent", "role", "service"}:
            raise services.CircuitError(f"Étape {index} : destinataire inconnu.")
        steps.append({"kind": kind, what: value, "parallel": data.get(f"parallel_{index}") == "1"})
    return steps


@org_view("dossier.edit")
def start(request: OrgRequest, dossier_id: int) -> HttpResponse:
    dossier = get_object_or_404(Dossier.objects.for_org(request.organisation), pk=dossier_id)
    context = panel_context(request, dossier)
    status = 200
    if request.method == "POST":
        file_id = request.POST.get("file", "")
        item = None
        if file_id.isdigit():
            item = (
                DossierFile.objects.for_org(request.organisation)
                .filter(pk=int(file_id), dossier=dossier)
                .first()
            )
        try:
            if item is None:
                raise services.CircuitError("Choisissez le document à faire viser ou signer.")
            circuit = services.start_circuit(
                dossier=dossier, file=item, steps=_steps_from_post(request.POST), actor=request.user
            )
        except (ValidationError, PermissionDenied) as exc:
            context["error"] = _message(exc)
            status = 400
        else:
            messages.success(request, f"Circuit lancé sur « {item.title} ».")
            return redirect(
                reverse(
                    "circuits:circuit", kwargs={"slug": request.organisation.slug, "circuit_id": circuit.pk}
                )
            )
    return render(request, "circuits/start.html", context, status=status)
