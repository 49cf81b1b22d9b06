"""Use cases of letters: templates (with the defaults every organisation gets) and replies to a courrier."""

from __future__ import annotations

import datetime as dt
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from mairie.audit.services import record
from mairie.core.mailer import Attachment, queue_mail
from mairie.courrier.models import Channel, Courrier, CourrierLink, Direction, IntakeKey, Kind, Status
from mairie.courrier.services import IncomingFile, can_edit, link_courriers, register_courrier
from mairie.letters import merge, pdf
from mairie.letters.models import LetterTemplate, Reply
from mairie.organisations.models import Membership, Organisation

# The templates every organisation has from the start (created the first time they are needed).
DEFAULT_TEMPLATES: list[dict[str, str]] = [
    {
        "key": "accuse-reception",
        "name": "Accusé de réception",
        "subject_template": "Accusé de réception — {{ courrier.objet }}",
        "body_template": (
            "{{ contact.civilite_complete }},\n\n"
            "Nous accusons réception de votre courrier reçu le {{ courrier.date_reception }}, enregistré sous "
            "le numéro {{ courrier.chrono }}, au sujet de : {{ courrier.objet }}.\n\n"
            "Il a été transmis au service chargé de l'instruire, qui vous répondra dans les meilleurs délais. "
            "Merci de rappeler ce numéro dans vos échanges à ce sujet.\n\n"
            "Nous vous prions d'agréer, {{ contact.civilite_complete }}, l'expression de nos salutations "
            "distinguées."
        ),
    },
    {
        "key": "reponse-simple",
        "name": "Réponse simple",
        "subject_template": "Votre courrier du {{ courrier.date_reception }} — {{ courrier.objet }}",
        "body_template": (
            "{{ contact.civilite_complete }},\n\n"
            "Par votre courrier reçu le {{ courrier.date_reception }} (numéro {{ courrier.chrono }}), vous "
            "nous avez écrit au sujet de : {{ courrier.objet }}.\n\n"
            "[Écrivez ici la réponse.]\n\n"
            "Nous restons à votre disposition pour tout renseignement complémentaire et vous prions "
            "d'agréer, {{ contact.civilite_complete }}, l'expression de nos salutations distinguées."
        ),
    },
]

REPLY_INTAKE_SOURCE = "reply"
MESSAGE_ID_SOURCE = "message-id"  # what the e-mail intake records for a courrier that came by e-mail


# --- Templates ---------------------------------------------------------------------------------------


def ensure_default_templates(organisation: Organisation) -> None:
    """Give the organisation the default templates it does not have yet (once: they carry a key)."""
    existing = set(LetterTemplate.objects.for_org(organisation).exclude(key="").values_list("key", flat=True))
    for default in DEFAULT_TEMPLATES:
        if default["key"] in existing:
            continue
        try:
            with transaction.atomic():
                LetterTemplate.objects.create(organisation=organisation, **default)
                record(
                    organisation=organisation,
                    actor=None,
                    action="letters.template.default",
                    summary=f"Modèle de lettre « {default['name']} » fourni par défaut.",
                )
        except IntegrityError:
            pass  # created meanwhile by another request, or a template of the same name exists


def templates_for(organisation: Organisation, *, active_only: bool = False) -> Any:
    ensure_default_templates(organisation)
    templates = LetterTemplate.objects.for_org(organisation)
    return templates.filter(is_active=True) if active_only else templates


def _require_admin(membership: Membership) -> None:
    if not membership.can("org.admin"):
        raise PermissionDenied("Seuls les administrateurs gèrent les modèles de lettres.")


def check_template(
    *, subject_template: str, body_template: str, body_format: str = "text", css: str = ""
) -> None:
    """ValidationError (French, per field) when a template uses anything but the letter's fields, or (HTML
    templates) when its CSS could fetch something."""
    errors: dict[str, str] = {}
    for field, source in (("subject_template", subject_template), ("body_template", body_template)):
        try:
            merge.compile_template(source)
        except merge.MergeError as exc:
            errors[field] = str(exc)
    if body_format not in ("text", "html"):
        errors["body_format"] = "Format inconnu."
    if css.strip() and body_format != "html":
        errors["css"] = "Une feuille de style ne sert qu'aux modèles au format HTML."
    try:
        merge.check_css(css)
    except merge.MergeError as exc:
        errors["css"] = str(exc)
    if errors:
        raise ValidationError(errors)


def save_template(
    *,
    membership: Membership,
    template: LetterTemplate | None = None,
    name: str,
    subject_template: str,
    body_template: str,
    is_active: bool = True,
    body_format: str = "text",
    css: str = "",
) -> LetterTemplate:
    _require_admin(membership)
    organisation = membership.organisation
    if template is not None and template.organisation_id != organisation.pk:
        raise PermissionDenied
    name = " ".join(name.split())
    check_template(
        subject_template=subject_template, body_template=body_template, body_format=body_format, css=css
    )
    clash = LetterTemplate.objects.for_org(organisation).filter(name__iexact=name)
    if template is not None:
        clash = clash.exclude(pk=template.pk)
    if clash.exists():
        raise ValidationError({"name": "Un autre modèle porte déjà ce nom."})
    with transaction.atomic():
        if template is None:
            template = LetterTemplate(organisation=organisation)
            verb = "créé"
        else:
            template = LetterTemplate.objects.select_for_update().get(pk=template.pk)
            verb = "modifié"
        template.name = name
        template.subject_template = subject_template.strip()
        template.body_template = body_template.replace("\r\n", "\n").strip()
        template.is_active = is_active
        template.body_format = body_format
        template.css = merge.check_css(css)
        template.updated_by = membership.user
        template.save()
        record(
            organisation=organisation,
            actor=membership.user,
            action="letters.template.saved",
            summary=f"Modèle de lettre « {name} » {verb}{'' if is_active else ' (non proposé)'}.",
            obj=template,
        )
    return template


# --- Merging and rendering -----------------------------------------------------------------------------


def signer_of(membership: Membership) -> merge.Signer:
    user = membership.user
    return merge.Signer(name=user.get_full_name() or user.get_username(), title=membership.title or "")


def merged(*, membership: Membership, courrier: Courrier, template: LetterTemplate) -> tuple[str, str]:
    """(subject, body) of a template merged for a reply to ``courrier``; MergeError if the template is bad."""
    context = merge.letter_context(
        organisation=membership.organisation, courrier=courrier, signer=signer_of(membership)
    )
    return merge.render(template.subject_template, context), merge.render(template.body_template, context)


def reply_letter(*, membership: Membership, courrier: Courrier, subject: str, body: str) -> pdf.Letter:
    contact = courrier.contact
    return pdf.Letter(
        organisation=membership.organisation,
        recipient_name=contact.display_name if contact else "",
        recipient_address=contact.postal_address if contact else "",
        subject=" ".join(subject.split()),
        body=body,
        signer=signer_of(membership),
        date=timezone.localdate(),
        reference_chrono=courrier.chrono or "",
        reference_date=courrier.received_at,
    )


@dataclass
class _SampleContact:
    name: str = "Exemple"
    first_name: str = "Jeanne"
    body_name: str = ""
    email: str = "jeanne.exemple@example.org"
    display_name: str = "Jeanne Exemple"
    postal_address: str = "12 rue des Écoles\n34000 Exempleville"


@dataclass
class _SampleCourrier:
    chrono: str
    subject: str
    received_at: dt.datetime
    contact: _SampleContact


def template_preview_pdf(
    *,
    membership: Membership,
    subject_template: str,
    body_template: str,
    body_format: str = "text",
    css: str = "",
) -> bytes:
    """A template's letter for a fictitious correspondent (the administrator's preview)."""
    check_template(
        subject_template=subject_template, body_template=body_template, body_format=body_format, css=css
    )
    now = timezone.now()
    sample: Any = _SampleCourrier(
        chrono=f"{timezone.localdate().year}-A-000123",
        subject="Demande de renseignements",
        received_at=now - dt.timedelta(days=3),
        contact=_SampleContact(),
    )
    context = merge.letter_context(
        organisation=membership.organisation, courrier=sample, signer=signer_of(membership)
    )
    letter = pdf.Letter(
        organisation=membership.organisation,
        recipient_name=sample.contact.display_name,
        recipient_address=sample.contact.postal_address,
        subject=merge.render(subject_template, context),
        body=merge.render(body_template, context) if body_format == "text" else "",
        signer=signer_of(membership),
        date=timezone.localdate(),
        reference_chrono=sample.chrono,
        reference_date=sample.received_at,
        html_body=merge.render_html(body_template, context) if body_format == "html" else "",
        css=merge.check_css(css) if body_format == "html" else "",
    )
    return pdf.render_pdf(letter)


# --- Replies -------------------------------------------------------------------------------------------


def new_reply_token() -> str:
    return secrets.token_urlsafe(24)


def incoming_message_id(courrier: Courrier) -> str:
    """The Message-ID of the e-mail a courrier came from (recorded by the e-mail intake), or ''."""
    key = (
        IntakeKey.objects.for_org(courrier.organisation)
        .filter(courrier=courrier, source=MESSAGE_ID_SOURCE)
        .values_list("key", flat=True)
        .first()
    )
    return key or ""


def check_can_reply(membership: Membership, courrier: Courrier) -> None:
    if not can_edit(membership, courrier):
        raise PermissionDenied("Vous ne pouvez pas répondre à ce courrier.")
    if courrier.direction != Direction.ARRIVEE:
        raise ValidationError("On ne répond qu'à un courrier arrivé.")


def _email_text(*, body: str, letter: pdf.Letter, outgoing: Courrier) -> str:
    organisation = letter.organisation
    lines = [body.replace("\r\n", "\n").strip(), "", "-- "]
    lines += [part for part in (letter.signer.name, letter.signer.title, organisation.name) if part]
    lines += [line for line in organisation.postal_address.split("\n") if line]
    contact = " · ".join(part for part in (organisation.phone, organisation.email) if part)
    if contact:
        lines.append(contact)
    lines += ["", f"La lettre est jointe au format PDF (notre référence : {outgoing.chrono})."]
    return "\n".join(lines) + "\n"


def send_reply(
    *,
    membership: Membership,
    incoming: Courrier,
    token: str,
    subject: str,
    body: str,
    by_email: bool,
    recipient_email: str = "",
    template: LetterTemplate | None = None,
) -> Reply:
    """Register the reply as an outgoing courrier carrying its letter, linked to ``incoming``; queue the e-mail.

    The letter's PDF is made first, then one transaction registers the outgoing courrier (numbered D),
    links it, keeps the e-mail and its job, and journals it all. The form's token is the courrier's intake
    key: the same form posted twice, even at the same moment, gives one reply.
    """
    check_can_reply(membership, incoming)
    organisation = membership.organisation
    subject = " ".join(subject.split())
    body = body.replace("\r\n", "\n").strip()
    errors: dict[str, str] = {}
    if not subject:
        errors["subject"] = "Indiquez l'objet de la réponse."
    if not body:
        errors["body"] = "Le texte de la lettre est vide."
    recipient_email = recipient_email.strip()
    if by_email:
        if not recipient_email:
            errors["recipient_email"] = (
                "Indiquez l'adresse électronique du destinataire, ou choisissez « Imprimer seulement »."
            )
        else:
            try:
                validate_email(recipient_email)
            except ValidationError:
                errors["recipient_email"] = "Cette adresse électronique n'est pas valide."
    if not token or len(token) > 64:
        errors["token"] = "Formulaire périmé : rechargez la page."
    if template is not None and template.organisation_id != organisation.pk:
        raise PermissionDenied
    if errors:
        raise ValidationError(errors)

    existing = Reply.objects.for_org(organisation).filter(token=token).select_related("outgoing").first()
    if existing is not None:
        return existing

    letter = reply_letter(membership=membership, courrier=incoming, subject=subject, body=body)
    content = pdf.render_pdf(letter)
    file_name = f"reponse-{incoming.chrono}.pdf"
    try:
        with tempfile.TemporaryDirectory(prefix="mairie-reply-") as tmp:
            path = Path(tmp) / file_name
            path.write_bytes(content)
            with transaction.atomic():
                outgoing = register_courrier(
                    organisation=organisation,
                    actor=membership.user,
                    files=[IncomingFile(path, file_name)],
                    direction=Direction.DEPART,
                    channel=Channel.EMAIL if by_email else Channel.POST,
                    subject=subject,
                    contact=incoming.contact,
                    kind=Kind.LETTER,
                    service=incoming.service,
                    assigned_to=membership.user,
                    status=Status.TRAITE,
                    intake_key=(REPLY_INTAKE_SOURCE, token),
                )
                already = Reply.objects.for_org(organisation).filter(token=token).first()
                if already is not None:  # the same form, registered by a request that ran just before
                    return already
                link_courriers(
                    membership=membership, source=outgoing, target=incoming, kind=CourrierLink.Kind.REPLY_TO
                )
                mail = None
                if by_email:
                    mail = queue_mail(
                        organisation=organisation,
                        to=[recipient_email],
                        subject=subject,
                        body=_email_text(body=body, letter=letter, outgoing=outgoing),
                        attachments=[Attachment(f"{outgoing.chrono}.pdf", content, "application/pdf")],
                        courrier=outgoing,
                        in_reply_to=incoming_message_id(incoming),
                        actor=membership.user,
                    )
                reply = Reply.objects.create(
                    organisation=organisation,
                    incoming=incoming,
                    outgoing=outgoing,
                    token=token,
                    template=template,
                    mail=mail,
                    created_by=membership.user,
                )
                how = f"envoyée par courriel à {recipient_email}" if by_email else "à imprimer et poster"
                record(
                    organisation=organisation,
                    actor=membership.user,
                    action="letters.reply",
                    summary=f"{incoming.chrono} : réponse {outgoing.chrono} « {subject[:200]} » {how}.",
                    obj=incoming,
                )
    except IntegrityError:
        # Two posts of the same form at the same moment (PostgreSQL): the other one registered the reply.
        existing = Reply.objects.for_org(organisation).filter(token=token).first()
        if existing is None:
            raise
        return existing
    return reply


def replies_to(courrier: Courrier) -> list[Reply]:
    return list(
        Reply.objects.for_org(courrier.organisation)
        .filter(incoming=courrier)
        .select_related("outgoing", "mail")
        .order_by("created_at", "id")
    )
