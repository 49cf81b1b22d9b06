from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from mairie.courrier.models import Courrier
from mairie.organisations.access import OrgRequest, org_view
from mairie.routing import services


def _courrier(request: OrgRequest, chrono: str) -> Courrier:
    return get_object_or_404(Courrier.objects.for_org(request.organisation), chrono=chrono)


def _back(request: OrgRequest, courrier: Courrier) -> HttpResponse:
    return redirect("courrier:detail", slug=request.organisation.slug, chrono=courrier.chrono)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _error(request: OrgRequest, exc: Exception) -> None:
    text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
    messages.error(request, text or "Action non autorisée.")


# org_view comes first: a person outside the organisation gets a 404 whatever the method.
@org_view("courrier.edit")
@require_POST
def accept(request: OrgRequest, chrono: str) -> HttpResponse:
    courrier = _courrier(request, chrono)
    try:
        services.accept_suggestions(
            membership=request.membership, courrier=courrier, service_id=_int(request.POST.get("service"))
        )
    except (ValidationError, PermissionDenied) as exc:
        _error(request, exc)
    else:
        messages.success(request, "Suggestions appliquées au courrier.")
    return _back(request, courrier)


@org_view("courrier.edit")
@require_POST
def duplicate(request: OrgRequest, chrono: str) -> HttpResponse:
    courrier = _courrier(request, chrono)
    target_id = _int(request.POST.get("target"))
    close = request.POST.get("action") == "classer"
    try:
        services.link_duplicate(
            membership=request.membership, courrier=courrier, target_id=target_id or 0, close=close
        )
    except (ValidationError, PermissionDenied) as exc:
        _error(request, exc)
    else:
        messages.success(
            request, "Courrier lié à son doublon et classé." if close else "Courrier lié à son doublon."
        )
    return _back(request, courrier)
