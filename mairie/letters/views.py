from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from mairie.courrier.models import Courrier, Direction
from mairie.courrier.services import can_edit
from mairie.letters import merge, services
from mairie.letters.forms import LetterTemplateForm, ReplyForm
from mairie.letters.models import LetterTemplate
from mairie.organisations.access import OrgRequest, org_view


def _pdf_response(content: bytes, name: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{name}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


def _apply_errors(form: ReplyForm | LetterTemplateForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            for error in errors:
                visible = field in form.fields and not form.fields[field].widget.is_hidden
                form.add_error(field if visible else None, error.messages)
    else:
        form.add_error(None, exc.messages)


# --- Reply to a courrier ---------------------------------------------------------------------------------


def _incoming(request: OrgRequest, chrono: str) -> Courrier:
    courrier = get_object_or_404(
        Courrier.objects.for_org(request.organisation).select_related("contact", "service", "organisation"),
        chrono=chrono,
    )
    if not can_edit(request.membership, courrier):
        raise PermissionDenied("Vous ne pouvez pas répondre à ce courrier.")
    if courrier.direction != Direction.ARRIVEE:
        raise Http404("On ne répond qu'à un courrier arrivé.")
    return courrier


def _merge_into(
    request: OrgRequest, courrier: Courrier, template: LetterTemplate | None, data: dict[str, object]
) -> None:
    data["template"] = template.pk if template else None
    if template is None:
        return
    try:
        data["subject"], data["body"] = services.merged(
            membership=request.membership, courrier=courrier, template=template
        )
    except merge.MergeError as exc:
        messages.error(request, f"Le modèle « {template.name} » ne peut pas être utilisé : {exc}")


def _chosen_template(request: OrgRequest, value: str) -> LetterTemplate | None:
    if not value.isdigit():
        return None
    return services.templates_for(request.organisation, active_only=True).filter(pk=int(value)).first()


@org_view("courrier.edit")
def reply(request: OrgRequest, chrono: str) -> HttpResponse:
    courrier = _incoming(request, chrono)
    org = request.organisation
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "send")
        form = ReplyForm(request.POST, organisation=org)
        if action == "load":
            # Another template chosen: its merge replaces subject and body; the rest of the form stays.
            data: dict[str, object] = {
                k: request.POST.get(k, "")
                for k in ("delivery", "recipient_email", "token", "subject", "body")
            }
            _merge_into(request, courrier, _chosen_template(request, request.POST.get("template", "")), data)
            form = ReplyForm(initial=data, organisation=org)
        elif form.is_valid():
            cleaned = form.cleaned_data
            if action == "preview":
                letter = services.reply_letter(
                    membership=request.membership,
                    courrier=courrier,
                    subject=cleaned["subject"],
                    body=cleaned["body"],
                )
                from mairie.letters import pdf

                return _pdf_response(pdf.render_pdf(letter), f"apercu-reponse-{courrier.chrono}.pdf")
            try:
                result = services.send_reply(
                    membership=request.membership,
                    incoming=courrier,
                    token=cleaned["token"],
                    subject=cleaned["subject"],
                    body=cleaned["body"],
                    by_email=cleaned["delivery"] == "email",
                    recipient_email=cleaned.get("recipient_email") or "",
                    template=cleaned.get("template"),
                )
            except ValidationError as exc:
                _apply_errors(form, exc)
                status = 400
            else:
                outgoing = result.outgoing
                if result.mail_id:
                    messages.success(
                        request,
                        f"Réponse {outgoing.chrono} enregistrée ; le courriel part en arrière-plan "
                        "(son état est indiqué ci-dessous).",
                    )
                else:
                    messages.success(
                        request,
                        f"Réponse {outgoing.chrono} enregistrée : imprimez la lettre (PDF ci-dessous).",
                    )
                return redirect("courrier:detail", slug=org.slug, chrono=outgoing.chrono)
        else:
            status = 400
    else:
        templates = services.templates_for(org, active_only=True)
        chosen = _chosen_template(request, request.GET.get("modele", ""))
        chosen = chosen or templates.filter(key="reponse-simple").first() or templates.first()
        contact = courrier.contact
        initial: dict[str, object] = {
            "delivery": "email" if contact and contact.email else "print",
            "recipient_email": contact.email if contact else "",
            "token": services.new_reply_token(),
        }
        _merge_into(request, courrier, chosen, initial)
        form = ReplyForm(initial=initial, organisation=org)
    return render(
        request,
        "letters/reply.html",
        {"courrier": courrier, "form": form, "fields": merge.FIELDS},
        status=status,
    )


# --- Templates -------------------------------------------------------------------------------------------


@org_view("org.admin")
def template_list(request: OrgRequest) -> HttpResponse:
    templates = services.templates_for(request.organisation)
    return render(request, "letters/template_list.html", {"templates": templates})


def _template_form_page(request: OrgRequest, template: LetterTemplate | None) -> HttpResponse:
    status = 200
    if request.method == "POST":
        form = LetterTemplateForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                if request.POST.get("action") == "preview":
                    content = services.template_preview_pdf(
                        membership=request.membership,
                        subject_template=data["subject_template"],
                        body_template=data["body_template"],
                        body_format=data["body_format"],
                        css=data["css"],
                    )
                    return _pdf_response(content, "apercu-modele.pdf")
                saved = services.save_template(membership=request.membership, template=template, **data)
            except ValidationError as exc:
                _apply_errors(form, exc)
                status = 400
            else:
                messages.success(request, f"Modèle « {saved.name} » enregistré.")
                return redirect("letters:templates", slug=request.organisation.slug)
        else:
            status = 400
    elif template is not None:
        form = LetterTemplateForm(
            initial={
                "name": template.name,
                "subject_template": template.subject_template,
                "body_template": template.body_template,
                "body_format": template.body_format,
                "css": template.css,
                "is_active": template.is_active,
            }
        )
    else:
        form = LetterTemplateForm()
    return render(
        request,
        "letters/template_form.html",
        {
            "form": form,
            "template": template,
            "fields": merge.FIELDS,
            "filters": sorted(merge.ALLOWED_FILTERS),
        },
        status=status,
    )


@org_view("org.admin")
def template_add(request: OrgRequest) -> HttpResponse:
    return _template_form_page(request, None)


def _template(request: OrgRequest, template_id: int) -> LetterTemplate:
    return get_object_or_404(LetterTemplate.objects.for_org(request.organisation), pk=template_id)


@org_view("org.admin")
def template_edit(request: OrgRequest, template_id: int) -> HttpResponse:
    return _template_form_page(request, _template(request, template_id))


@org_view("org.admin")
def template_preview(request: OrgRequest, template_id: int) -> HttpResponse:
    template = _template(request, template_id)
    try:
        content = services.template_preview_pdf(
            membership=request.membership,
            subject_template=template.subject_template,
            body_template=template.body_template,
            body_format=template.body_format,
            css=template.css,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("letters:template_edit", slug=request.organisation.slug, template_id=template.pk)
    return _pdf_response(content, f"apercu-modele-{template.pk}.pdf")
