from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from mairie.organisations import services
from mairie.organisations.access import OrgRequest, managed_organisation_ids, org_view
from mairie.organisations.forms import (
    LogoForm,
    MemberForm,
    NewOrganisationForm,
    OrganisationForm,
    ServiceEditForm,
    ServiceForm,
)
from mairie.organisations.models import Membership, Organisation, Service


def _apply_errors(form: forms.BaseForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            target = field if field in form.fields else None
            for error in errors:
                form.add_error(target, error)
    else:
        for error in exc.messages:
            form.add_error(None, error)


@org_view("org.admin")
def settings_view(request: OrgRequest) -> HttpResponse:
    org = request.organisation
    return _edit_organisation(request, org, "organisations:settings", {})


def _edit_organisation(
    request: OrgRequest,
    target: Organisation,
    back: str,
    back_kwargs: dict,
    *,
    service_form: ServiceForm | None = None,
    logo_form: LogoForm | None = None,
) -> HttpResponse:
    posted = request.method == "POST" and service_form is None and logo_form is None
    form = OrganisationForm(request.POST if posted else None, instance=Organisation.objects.get(pk=target.pk))
    if posted and form.is_valid():
        try:
            services.update_organisation(
                actor=request.user, organisation=target, **{f: form.cleaned_data[f] for f in form.fields}
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Coordonnées enregistrées.")
            return redirect(back, slug=request.organisation.slug, **back_kwargs)
    members = (
        Membership.objects.for_org(target)
        .select_related("user")
        .prefetch_related("services")
        .order_by("user__last_name")
    )
    is_own = target.pk == request.organisation.pk
    return render(
        request,
        "organisations/settings.html",
        {
            "form": form,
            "target": Organisation.objects.get(pk=target.pk),
            "members": members,
            "is_own": is_own,
            "org_services": Service.objects.for_org(target).order_by("-is_active", "name") if is_own else [],
            "service_form": service_form or ServiceForm(),
            "logo_form": logo_form or LogoForm(),
        },
    )


# --- Services and logo of one's own organisation -------------------------------------------------------


# org_view comes first: a person outside the organisation gets a 404 whatever the method.
@org_view("org.admin")
@require_POST
def service_add(request: OrgRequest) -> HttpResponse:
    org = request.organisation
    form = ServiceForm(request.POST)
    if form.is_valid():
        try:
            service = services.add_service(
                actor=request.user,
                organisation=org,
                name=form.cleaned_data["name"],
                email=form.cleaned_data["email"],
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"Service « {service.name} » créé.")
            return redirect("organisations:settings", slug=org.slug)
    return _edit_organisation(request, org, "organisations:settings", {}, service_form=form)


@org_view("org.admin")
def service_edit(request: OrgRequest, service_id: int) -> HttpResponse:
    org = request.organisation
    service = get_object_or_404(Service.objects.for_org(org), pk=service_id)
    initial = {
        "name": service.name,
        "email": service.email,
        "is_active": service.is_active,
        "head": service.head_id,
    }
    form = ServiceEditForm(request.POST or None, initial=initial, organisation=org)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_service(actor=request.user, service=service, **form.cleaned_data)
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Service enregistré.")
            return redirect("organisations:settings", slug=org.slug)
    return render(request, "organisations/service_form.html", {"form": form, "service": service})


@org_view("courrier.view")
def logo(request: OrgRequest) -> HttpResponseBase:
    """The organisation's logo, for its members' pages and the documents printed for it."""
    org = Organisation.objects.get(pk=request.organisation.pk)
    if not org.logo:
        raise Http404
    content_type = "image/png" if org.logo.name.endswith(".png") else "image/jpeg"
    try:
        handle = org.logo.open("rb")
    except FileNotFoundError as exc:  # the row names a file the storage no longer has
        raise Http404 from exc
    response = FileResponse(handle, content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@org_view("org.admin")
@require_POST
def logo_change(request: OrgRequest) -> HttpResponse:
    org = request.organisation
    form = LogoForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["logo"]
        if upload.size > services.LOGO_MAX_BYTES:  # not read into memory at all
            form.add_error(
                "logo", f"Le fichier fait {upload.size / 1_048_576:.1f} Mo. {services.LOGO_REFUSED}"
            )
        else:
            try:
                services.set_logo(actor=request.user, organisation=org, data=upload.read())
            except ValidationError as exc:
                _apply_errors(form, exc)
            else:
                messages.success(request, "Logo enregistré.")
                return redirect("organisations:settings", slug=org.slug)
    return _edit_organisation(request, org, "organisations:settings", {}, logo_form=form)


@org_view("org.admin")
@require_POST
def logo_remove(request: OrgRequest) -> HttpResponse:
    services.remove_logo(actor=request.user, organisation=request.organisation)
    messages.success(request, "Logo retiré.")
    return redirect("organisations:settings", slug=request.organisation.slug)


def _member_form_view(
    request: OrgRequest, target: Organisation, back: str, back_kwargs: dict
) -> HttpResponse:
    form = MemberForm(request.POST or None, organisation=target)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user_exists = get_user_model().objects.filter(username=data["username"].strip().lower()).exists()
        try:
            if not user_exists:
                if not data["password"]:
                    raise ValidationError(
                        {"password": "Indiquez un mot de passe initial pour une nouvelle personne."}
                    )
                validate_password(data["password"])
            services.add_member(
                actor=request.user,
                organisation=target,
                username=data["username"],
                email=data["email"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                roles=data["roles"],
                services=list(data["services"]),
                password=data["password"] or None,
                title=data["title"],
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"Accès enregistré pour {data['username']}.")
            return redirect(back, slug=request.organisation.slug, **back_kwargs)
    return render(request, "organisations/member_form.html", {"form": form, "target": target})


@org_view("org.admin")
def member_add(request: OrgRequest) -> HttpResponse:
    return _member_form_view(request, request.organisation, "organisations:settings", {})


@org_view("org.admin")
def managed_list(request: OrgRequest) -> HttpResponse:
    ids = managed_organisation_ids(request.membership)
    if request.organisation.kind == Organisation.Kind.COMMUNE:
        raise Http404
    orgs = Organisation.objects.filter(pk__in=ids).select_related("parent").order_by("name")
    form = NewOrganisationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.create_organisation(
                actor=request.user,
                parent=request.organisation,
                **form.cleaned_data,
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"« {created.name} » créée et rattachée.")
            return redirect("organisations:managed", slug=request.organisation.slug)
    return render(request, "organisations/managed_list.html", {"orgs": orgs, "form": form})


def _managed(request: OrgRequest, org_id: int) -> Organisation:
    if org_id not in managed_organisation_ids(request.membership):
        raise Http404
    return Organisation.objects.get(pk=org_id)


@org_view("org.admin")
def managed_edit(request: OrgRequest, org_id: int) -> HttpResponse:
    target = _managed(request, org_id)
    return _edit_organisation(request, target, "organisations:managed_edit", {"org_id": org_id})


@org_view("org.admin")
def managed_member_add(request: OrgRequest, org_id: int) -> HttpResponse:
    target = _managed(request, org_id)
    return _member_form_view(request, target, "organisations:managed_edit", {"org_id": org_id})
