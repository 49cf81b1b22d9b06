"""Documents from letter templates, written from a dossier: merge fields of the dossier, its usager and its
first courrier, on the organisation's letterhead (WeasyPrint, PDF/A), previewed before being generated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from mairie.dossiers.engine import ActionFailed
from mairie.dossiers.files import store_file
from mairie.dossiers.models import Dossier, DossierCourrier, DossierFile
from mairie.letters import merge, pdf
from mairie.letters.models import LetterTemplate
from mairie.letters.services import templates_for
from mairie.organisations.models import Membership


@dataclass
class _CourrierStandIn:
    chrono: str
    subject: str
    received_at: Any
    contact: Any


def first_courrier(dossier: Dossier) -> Any:
    link = (
        DossierCourrier.objects.filter(dossier=dossier)
        .select_related("courrier", "courrier__contact")
        .order_by("added_at", "id")
        .first()
    )
    if link is not None:
        return link.courrier
    return _CourrierStandIn(
        chrono="", subject=dossier.subject, received_at=dossier.created_at, contact=dossier.contact
    )


def signer_for(dossier: Dossier, actor: Any) -> merge.Signer:
    if actor is None or not getattr(actor, "pk", None):
        return merge.Signer(name=f"La mairie de {dossier.organisation.name}", title="")
    membership = Membership.objects.filter(user=actor, organisation=dossier.organisation).first()
    return merge.Signer(
        name=actor.get_full_name() or actor.get_username(), title=membership.title if membership else ""
    )


def context_for(dossier: Dossier, actor: Any) -> dict[str, Any]:
    courrier = first_courrier(dossier)
    context = merge.letter_context(
        organisation=dossier.organisation, courrier=courrier, signer=signer_for(dossier, actor)
    )
    if dossier.contact is not None and getattr(courrier, "contact", None) is None:
        context["contact"] = merge._contact_fields(dossier.contact)
    context["dossier"] = {
        "reference": dossier.reference,
        "objet": dossier.subject,
        "etape": dossier.workflow.parsed.label(dossier.status),
    }
    return context


def merge_text(dossier: Dossier, source: str, *, actor: Any) -> str:
    try:
        return merge.render(source, context_for(dossier, actor))
    except merge.MergeError as exc:
        raise ActionFailed(str(exc)) from exc


def find_template(dossier: Dossier, template: str | LetterTemplate) -> LetterTemplate:
    if isinstance(template, LetterTemplate):
        if template.organisation_id != dossier.organisation_id:
            raise ActionFailed("Ce modèle de lettre appartient à une autre organisation.")
        return template
    templates = templates_for(dossier.organisation)
    found = templates.filter(key=template).first() or templates.filter(name__iexact=template).first()
    if found is None:
        raise ActionFailed(f"Modèle de lettre introuvable : « {template} ».")
    return found


def letter_for(dossier: Dossier, template: LetterTemplate, actor: Any) -> pdf.Letter:
    context = context_for(dossier, actor)
    html = template.body_format == "html"
    try:
        subject = merge.render(template.subject_template, context)
        body = "" if html else merge.render(template.body_template, context)
        html_body = merge.render_html(template.body_template, context) if html else ""
        css = merge.check_css(template.css) if html else ""
    except merge.MergeError as exc:
        raise ActionFailed(str(exc)) from exc
    courrier = first_courrier(dossier)
    contact = dossier.contact or getattr(courrier, "contact", None)
    return pdf.Letter(
        organisation=dossier.organisation,
        recipient_name=contact.display_name if contact else "",
        recipient_address=contact.postal_address if contact else "",
        subject=" ".join(subject.split()),
        body=body,
        signer=signer_for(dossier, actor),
        date=timezone.localdate(),
        reference_chrono=courrier.chrono or "",
        reference_date=courrier.received_at if courrier.chrono else None,
        html_body=html_body,
        css=css,
    )


def preview(*, dossier: Dossier, template: str | LetterTemplate, actor: Any) -> bytes:
    """The PDF as it would be generated now (nothing stored)."""
    return pdf.render_pdf(letter_for(dossier, find_template(dossier, template), actor))


def generate(
    *, dossier: Dossier, template: str | LetterTemplate, actor: Any, title: str | None = None
) -> DossierFile:
    """Generate the letter as a PDF/A file of the dossier (kind « generated »), ready for a circuit."""
    found = find_template(dossier, template)
    content = pdf.render_pdf(letter_for(dossier, found, actor))
    label = title or found.name
    return store_file(
        dossier=dossier,
        content=content,
        name=f"{dossier.reference}-{found.key or found.pk}.pdf",
        title=label,
        kind=DossierFile.Kind.GENERATED,
        actor=actor,
        event_summary=f"Document généré depuis le modèle « {found.name} » : {label}",
    )


SEND_INTAKE_SOURCE = "dossier-file"


def send_document(
    *,
    dossier: Dossier,
    item: DossierFile,
    actor: Any,
    subject: str = "",
    body: str = "",
    by_email: bool = True,
) -> Any:
    """Send a (signed) document of the dossier to its usager: registered as an outgoing courrier (numbered D,
    filed in the dossier, replying to the dossier's first incoming courrier when there is one) and, when the
    usager has an e-mail address and ``by_email``, e-mailed with the PDF attached. Sending the same file twice
    gives the same courrier (its intake key is the file)."""
    import tempfile
    from pathlib import Path

    from django.db import transaction

    from mairie.core.mailer import Attachment, queue_mail
    from mairie.courrier.models import Channel, CourrierLink, Direction, Kind, Status
    from mairie.courrier.services import IncomingFile, register_courrier
    from mairie.dossiers.files import read_file
    from mairie.dossiers.timeline import record_event

    if item.dossier_id != dossier.pk:
        raise ActionFailed("Ce document n'appartient pas au dossier.")
    if item.mime_type != "application/pdf":
        raise ActionFailed("Seul un document PDF peut être envoyé.")
    contact = dossier.contact
    email = contact.email if contact is not None and contact.email else ""
    use_email = by_email and bool(email)
    subject = " ".join((merge_text(dossier, subject, actor=actor) if subject else item.title).split())
    content = read_file(item)
    incoming = first_courrier(dossier)
    with tempfile.TemporaryDirectory(prefix="mairie-send-") as tmp:
        path = Path(tmp) / item.name
        path.write_bytes(content)
        with transaction.atomic():
            outgoing = register_courrier(
                organisation=dossier.organisation,
                actor=actor if getattr(actor, "pk", None) else None,
                files=[IncomingFile(path, item.name)],
                direction=Direction.DEPART,
                channel=Channel.EMAIL if use_email else Channel.POST,
                subject=subject,
                contact=contact,
                kind=Kind.LETTER,
                service=dossier.service
                if dossier.service and dossier.service.organisation_id == dossier.organisation_id
                else None,
                status=Status.TRAITE,
                intake_key=(SEND_INTAKE_SOURCE, str(item.pk)),
            )
            if DossierCourrier.objects.filter(courrier=outgoing).exists():
                return outgoing  # sent before: same courrier, nothing sent again
            DossierCourrier.objects.create(
                organisation=dossier.organisation,
                dossier=dossier,
                courrier=outgoing,
                added_by=actor if getattr(actor, "pk", None) else None,
            )
            if getattr(incoming, "pk", None):
                CourrierLink.objects.get_or_create(
                    organisation=dossier.organisation,
                    source=outgoing,
                    target=incoming,
                    kind=CourrierLink.Kind.REPLY_TO,
                )
            how = "à imprimer et poster"
            if use_email:
                text = (
                    merge_text(dossier, body, actor=actor)
                    if body
                    else (
                        f"Bonjour,\n\nVeuillez trouver ci-joint le document « {item.title} » concernant votre dossier "
                        f"{dossier.reference}.\n\n{dossier.organisation.name}"
                    )
                )
                queue_mail(
                    organisation=dossier.organisation,
                    to=[email],
                    subject=subject,
                    body=text,
                    attachments=[Attachment(f"{outgoing.chrono}.pdf", content, "application/pdf")],
                    courrier=outgoing,
                    actor=actor if getattr(actor, "pk", None) else None,
                )
                how = f"envoyé par courriel à {email}"
            record_event(
                dossier=dossier,
                kind="document.sent",
                summary=f"« {item.title} » enregistré au départ sous le n° {outgoing.chrono}, {how}.",
                actor=actor,
                data={"file_id": item.pk, "courrier_id": outgoing.pk, "chrono": outgoing.chrono},
            )
    return outgoing
