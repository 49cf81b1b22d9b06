"""Pages « Notifications », « Préférences de notification » and « Mes absences » (under /o/<slug>/)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from mairie.dossiers import delegation
from mairie.dossiers.models import Absence
from mairie.notifications import services
from mairie.notifications.forms import AbsenceForm, PreferenceForm
from mairie.notifications.models import Notification
from mairie.organisations.access import OrgRequest, org_view

PAGE_SIZE = 50


# --- Notifications ------------------------------------------------------------------------------------


@org_view()
def notification_list(request: OrgRequest) -> HttpResponse:
    mine = Notification.objects.for_org(request.organisation).filter(user=request.membership.user)
    page = Paginator(mine.order_by("-created_at", "-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    unread = mine.filter(read_at__isnull=True).count()
    return render(request, "notifications/list.html", {"page": page, "unread": unread})


@org_view()
@require_POST
def mark_read(request: OrgRequest, notification_id: int) -> HttpResponse:
    notification = get_object_or_404(
        Notification.objects.for_org(request.organisation).filter(user=request.membership.user),
        pk=notification_id,
    )
    services.mark_read(user=request.user, organisation=request.organisation, notification_id=notification.pk)
    target = notification.url
    if (
        request.POST.get("open")
        and target
        and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
    ):
        return redirect(target)
    return redirect("notifications:list", slug=request.organisation.slug)


@org_view()
@require_POST
def mark_all_read(request: OrgRequest) -> HttpResponse:
    count = services.mark_all_read(user=request.user, organisation=request.organisation)
    if count:
        messages.success(
            request,
            f"{count} notification{'s' if count > 1 else ''} marquée{'s' if count > 1 else ''} comme lue{'s' if count > 1 else ''}.",
        )
    return redirect("notifications:list", slug=request.organisation.slug)


@org_view()
def preferences(request: OrgRequest) -> HttpResponse:
    current = services.preference_for(request.user)
    status = 200
    if request.method == "POST":
        form = PreferenceForm(request.POST)
        if form.is_valid():
            services.set_preference(
                user=request.user,
                digest=form.cleaned_data["digest"],
                daily_hour=form.cleaned_data["daily_hour"],
            )
            messages.success(request, "Préférences de notification enregistrées.")
            return redirect("notifications:preferences", slug=request.organisation.slug)
        status = 400
    else:
        form = PreferenceForm(initial={"digest": current.digest, "daily_hour": current.daily_hour})
    return render(request, "notifications/preferences.html", {"form": form}, status=status)


# --- Absences -----------------------------------------------------------------------------------------


@org_view()
def absences(request: OrgRequest) -> HttpResponse:
    organisation = request.organisation
    is_admin = request.membership.can("org.admin")
    status = 200
    if request.method == "POST":
        form = AbsenceForm(request.POST, organisation=organisation, for_anyone=is_admin)
        if form.is_valid():
            data = form.cleaned_data
            person = data.get("user") or request.user
            try:
                delegation.set_absence(
                    organisation=organisation,
                    user=person,
                    delegate=data["delegate"],
                    starts_on=data["starts_on"],
                    ends_on=data["ends_on"],
                    reason=data["reason"],
                    actor=request.user,
                )
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    for field, errors in exc.error_dict.items():
                        for error in errors:
                            form.add_error(field if field in form.fields else None, error.messages)
                else:
                    form.add_error(None, exc.messages)
                status = 400
            else:
                messages.success(request, "Absence enregistrée.")
                return redirect("notifications:absences", slug=organisation.slug)
        else:
            status = 400
    else:
        form = AbsenceForm(
            organisation=organisation,
            for_anyone=is_admin,
            initial={"user": request.user.pk, "starts_on": timezone.localdate()},
        )
    today = timezone.localdate()
    current = (
        Absence.objects.for_org(organisation)
        .filter(ends_on__gte=today)
        .select_related("user", "delegate")
        .order_by("starts_on", "id")
    )
    return render(
        request,
        "notifications/absences.html",
        {
            "form": form,
            "is_admin": is_admin,
            "mine": [a for a in current if a.user_id == request.user.pk],
            "standing_in": [a for a in current if a.delegate_id == request.user.pk],
            "others": [a for a in current if a.user_id != request.user.pk] if is_admin else [],
            "today": today,
        },
        status=status,
    )


@org_view()
@require_POST
def absence_end(request: OrgRequest, absence_id: int) -> HttpResponse:
    absence = get_object_or_404(
        Absence.objects.for_org(request.organisation).select_related("organisation", "user"), pk=absence_id
    )
    if absence.user_id != request.user.pk and not request.membership.can("org.admin"):
        raise PermissionDenied("Seul un administrateur peut mettre fin à l'absence d'une autre personne.")
    try:
        ended = delegation.end_absence(absence=absence, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Absence terminée." if ended is not None else "Absence annulée.")
    return redirect("notifications:absences", slug=request.organisation.slug)
