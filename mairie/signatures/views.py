"""Pages of electronic signatures: my certificates, the organisation's server seal, verify a signed PDF."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from mairie.organisations.access import OrgRequest, org_view
from mairie.signatures import services
from mairie.signatures.forms import CertificateForm, SealForm, VerifyForm
from mairie.signatures.models import SigningCertificate
from mairie.signatures.services import SignatureError
from mairie.signatures.verify import report_context, verify_pdf


@org_view()
def certificates(request: OrgRequest) -> HttpResponse:
    """« Mes certificats de signature »: upload one (password, PIN twice), list mine, deactivate."""
    org = request.organisation
    form = CertificateForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            stored = services.add_personal_certificate(
                organisation=org,
                user=request.user,
                data=form.cleaned_data["file"],
                password=form.cleaned_data["password"],
                pin=form.cleaned_data["pin"],
                actor=request.user,
            )
        except SignatureError as exc:
            form.add_error("file", str(exc))
        else:
            messages.success(
                request,
                f"Certificat « {stored.subject_cn} » enregistré : votre code PIN vous sera demandé à chaque "
                "signature.",
            )
            return redirect("signatures:certificates", slug=org.slug)
    return render(
        request,
        "signatures/certificates.html",
        {
            "form": form,
            "certificates": services.personal_certificates(org, request.user),
            "current": services.current_certificate(org, request.user),
            "now": timezone.now(),
        },
    )


@org_view()
@require_POST
def certificate_deactivate(request: OrgRequest, certificate_id: int) -> HttpResponse:
    """A person deactivates one of their certificates; an administrator, any of the organisation's."""
    org = request.organisation
    certificate = get_object_or_404(SigningCertificate.objects.for_org(org), pk=certificate_id)
    is_admin = request.membership.can("org.admin")
    if certificate.user_id != request.user.pk and not is_admin:
        raise Http404("Certificat introuvable.")
    services.deactivate_certificate(certificate=certificate, actor=request.user)
    what = "Cachet serveur" if certificate.is_seal else "Certificat"
    messages.success(request, f"{what} « {certificate.subject_cn} » désactivé : il ne servira plus à signer.")
    if certificate.is_seal:
        return redirect("signatures:seal", slug=org.slug)
    return redirect("signatures:certificates", slug=org.slug)


@org_view("org.admin")
def seal(request: OrgRequest) -> HttpResponse:
    """The organisation's server seal (cachet serveur): upload or replace it."""
    org = request.organisation
    form = SealForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            stored = services.set_server_seal(
                organisation=org,
                data=form.cleaned_data["file"],
                password=form.cleaned_data["password"],
                actor=request.user,
            )
        except SignatureError as exc:
            form.add_error("file", str(exc))
        else:
            messages.success(request, f"Cachet serveur « {stored.subject_cn} » enregistré.")
            return redirect("signatures:seal", slug=org.slug)
    history = SigningCertificate.objects.for_org(org).filter(user__isnull=True).order_by("-created_at", "-pk")
    return render(
        request,
        "signatures/seal.html",
        {"form": form, "current": services.current_seal(org), "history": list(history[:10])},
    )


@org_view()
def verify(request: OrgRequest) -> HttpResponse:
    """« Vérifier un PDF signé »: any PDF, checked by its content; the report per signature."""
    form = VerifyForm(request.POST or None, request.FILES or None)
    context: dict[str, object] = {"form": form}
    if request.method == "POST" and form.is_valid():
        try:
            reports = verify_pdf(form.cleaned_data["file"])
        except SignatureError as exc:
            form.add_error("file", str(exc))
        else:
            context.update(report_context(reports))
            context["checked_name"] = getattr(request.FILES.get("file"), "name", "")
            context["checked"] = True
    return render(request, "signatures/verify.html", context)
