from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render

from mairie.organisations import services
from mairie.organisations.access import OrgRequest, managed_organisation_ids, org_view
from mairie.organisations.forms import MemberForm, NewOrganisationForm, OrganisationForm
from mairie.organisations.models import Membership, Organisation


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
    request: OrgRequest, target: Organisation, back: str, back_kwargs: dict
) -> HttpResponse:
    form = OrganisationForm(request.POST or None, instance=Organisation.objects.get(pk=target.pk))
    if request.method == "POST" and form.is_valid():
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
    return render(
        request,
        "organisations/settings.html",
        {"form": form, "target": target, "members": members, "is_own": target.pk == request.organisation.pk},
    )


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
