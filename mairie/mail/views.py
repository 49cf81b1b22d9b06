"""Mailboxes of an organisation, managed by its administrators (listed on the organisation page)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from mairie.mail import services
from mairie.mail.forms import MailboxForm
from mairie.mail.imap import MailboxError
from mairie.mail.models import Mailbox
from mairie.organisations.access import OrgRequest, org_view


def _back(request: OrgRequest) -> HttpResponse:
    response = redirect("organisations:settings", slug=request.organisation.slug)
    response["Location"] += "#boites-title"
    return response


@org_view("org.admin")
def mailbox_add(request: OrgRequest) -> HttpResponse:
    org = request.organisation
    form = MailboxForm(request.POST or None, organisation=org)
    if request.method == "POST" and form.is_valid():
        try:
            mailbox = services.create_mailbox(organisation=org, actor=request.user, **form.cleaned_data)
        except MailboxError as exc:
            form.add_error(None, f"Connexion impossible, la boîte n'est pas enregistrée. {exc}")
        else:
            messages.success(
                request, f"Boîte « {mailbox.label} » connectée : elle sera relevée automatiquement."
            )
            return _back(request)
    return render(request, "mail/mailbox_form.html", {"form": form, "mailbox": None})


@org_view("org.admin")
def mailbox_edit(request: OrgRequest, mailbox_id: int) -> HttpResponse:
    org = request.organisation
    mailbox = get_object_or_404(Mailbox.objects.for_org(org), pk=mailbox_id)
    form = MailboxForm(request.POST or None, organisation=org, mailbox=mailbox)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_mailbox(mailbox=mailbox, actor=request.user, **form.cleaned_data)
        except MailboxError as exc:
            form.add_error(None, f"Connexion impossible, les modifications ne sont pas enregistrées. {exc}")
        else:
            messages.success(request, f"Boîte « {mailbox.label} » enregistrée.")
            return _back(request)
    return render(request, "mail/mailbox_form.html", {"form": form, "mailbox": mailbox})


@org_view("org.admin")
@require_POST
def mailbox_toggle(request: OrgRequest, mailbox_id: int) -> HttpResponse:
    mailbox = get_object_or_404(Mailbox.objects.for_org(request.organisation), pk=mailbox_id)
    services.set_active(mailbox=mailbox, actor=request.user, active=not mailbox.is_active)
    messages.success(
        request, f"Boîte « {mailbox.label} » {'réactivée' if mailbox.is_active else 'désactivée'}."
    )
    return _back(request)


@org_view("org.admin")
@require_POST
def mailbox_fetch(request: OrgRequest, mailbox_id: int) -> HttpResponse:
    mailbox = get_object_or_404(Mailbox.objects.for_org(request.organisation), pk=mailbox_id)
    if not mailbox.is_active:
        messages.error(request, "Cette boîte est désactivée : réactivez-la pour la relever.")
        return _back(request)
    services.fetch_now(mailbox=mailbox, actor=request.user)
    messages.success(
        request, f"Relevé de « {mailbox.label} » demandé : les courriels arrivent dans un instant."
    )
    return _back(request)
