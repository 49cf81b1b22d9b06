"""The runners of workflow actions, registered under the names ``workflows.actions`` declares.

Each runner receives an ``engine.ActionContext`` and works inside the transition's transaction; it raises
``ActionFailed`` (French message) when it cannot do its work, which undoes the whole transition.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from mairie.dossiers import services
from mairie.dossiers.engine import ActionContext, ActionFailed, close_dossier
from mairie.dossiers.models import Dossier, DossierFile, WorkflowTimer
from mairie.dossiers.timeline import person_label, record_event
from mairie.workflows.actions import register_runner


def _fail_on_value_error(func: Any) -> Any:
    def run(ctx: ActionContext) -> None:
        try:
            func(ctx)
        except ValueError as exc:
            raise ActionFailed(str(exc)) from exc

    run.__name__ = func.__name__
    return run


def runner(name: str) -> Any:
    def register(func: Any) -> Any:
        wrapped = _fail_on_value_error(func)
        register_runner(name, wrapped)
        return wrapped

    return register


@runner("assign")
def assign(ctx: ActionContext) -> None:
    dossier = ctx.dossier
    parts = []
    fields = ["updated_at"]
    if ctx.params.get("service"):
        dossier.service = services.find_service(dossier.holder, ctx.params["service"])
        fields.append("service")
        parts.append(f"au service {dossier.service.name}")
    if ctx.params.get("agent"):
        from mairie.dossiers.delegation import resolve_assignee

        wanted = services.find_member(dossier.holder, ctx.params["agent"])
        dossier.assignee, absent = resolve_assignee(organisation=dossier.holder, user=wanted)
        fields.append("assignee")
        who = person_label(dossier.assignee)
        if absent is not None:
            who = f"{who} (en remplacement de {person_label(absent)})"
        parts.append(f"à {who}")
    dossier.save(update_fields=fields)
    record_event(
        dossier=dossier,
        kind="assigned",
        summary="Dossier confié " + " et ".join(parts) + ".",
        actor=ctx.actor,
        acting_organisation=ctx.acting_organisation,
    )


@runner("create_task")
def create_task(ctx: ActionContext) -> None:
    dossier = ctx.dossier
    params = ctx.params
    service = services.find_service(dossier.holder, params["service"]) if params.get("service") else None
    assignee = None
    if params.get("agent"):
        assignee = services.find_member(dossier.holder, params["agent"])
    elif params.get("assignee"):
        assignee = dossier.assignee
        if assignee is None and service is None:
            service = dossier.service
    delay = params.get("delay_days")
    services.create_task(
        dossier=dossier,
        title=str(params["title"]),
        description=str(params.get("description") or ""),
        actor=ctx.actor,
        service=service,
        assignee=assignee,
        due_at=timezone.now() + dt.timedelta(days=int(delay)) if delay is not None else None,
    )


@runner("request_opinions")
def request_opinions(ctx: ActionContext) -> None:
    services.request_opinions(
        dossier=ctx.dossier,
        targets=list(ctx.params["from"]),
        actor=ctx.actor,
        delay_days=int(ctx.params["delay_days"]),
        question=str(ctx.params.get("question") or ""),
        then=str(ctx.params.get("then") or ""),
    )


def pick_file(dossier: Dossier, which: str) -> DossierFile:
    files = DossierFile.objects.filter(dossier=dossier, mime_type="application/pdf").order_by(
        "-created_at", "-id"
    )
    if which == "last_generated":
        files = files.filter(kind=DossierFile.Kind.GENERATED)
    item = files.first()
    if item is None:
        what = "document généré" if which == "last_generated" else "document PDF"
        raise ActionFailed(f"Le dossier n'a encore aucun {what} à faire viser ou signer.")
    return item


@runner("start_circuit")
def start_circuit(ctx: ActionContext) -> None:
    from mairie.circuits.services import start_circuit as start

    item = pick_file(ctx.dossier, str(ctx.params.get("file") or "last_generated"))
    try:
        start(
            dossier=ctx.dossier,
            file=item,
            steps=list(ctx.params["steps"]),
            actor=ctx.actor,
            then=str(ctx.params.get("then") or ""),
            on_refuse=str(ctx.params.get("on_refuse") or ""),
            authorised=True,
        )
    except Exception as exc:  # the circuit app's own French errors (unknown agent, no member of a role…)
        message = getattr(exc, "message", None) or "; ".join(getattr(exc, "messages", []) or [str(exc)])
        if isinstance(exc, ActionFailed):
            raise
        from django.core.exceptions import ValidationError

        if isinstance(exc, (ValidationError, ValueError)) or exc.__class__.__name__ == "CircuitError":
            raise ActionFailed(f"Parapheur non lancé : {message}") from exc
        raise


@runner("generate_document")
def generate_document(ctx: ActionContext) -> None:
    from mairie.dossiers.documents import generate

    generate(
        dossier=ctx.dossier,
        template=str(ctx.params["template"]),
        actor=ctx.actor,
        title=ctx.params.get("title"),
    )


@runner("send_email")
def send_email(ctx: ActionContext) -> None:
    from mairie.core.mailer import queue_mail
    from mairie.dossiers.documents import merge_text

    dossier = ctx.dossier
    to = ctx.params["to"]
    addresses: list[str] = []
    targets = to if isinstance(to, list) else [to]
    for target in targets:
        if target == "usager":
            if dossier.contact and dossier.contact.email:
                addresses.append(dossier.contact.email)
        elif target == "assignee":
            if dossier.assignee and dossier.assignee.email:
                addresses.append(dossier.assignee.email)
        elif target == "service":
            if dossier.service:
                if dossier.service.email:
                    addresses.append(dossier.service.email)
                else:
                    addresses += list(
                        dossier.service.members.filter(is_active=True).values_list("user__email", flat=True)
                    )
        elif "@" in str(target):
            addresses.append(str(target))
    addresses = sorted({a for a in addresses if a})
    if not addresses:
        record_event(
            dossier=dossier,
            kind="email.skipped",
            summary=f"Courriel « {ctx.params.get('subject', '')} » non envoyé : aucune adresse pour {', '.join(map(str, targets))}.",
            actor=ctx.actor,
            acting_organisation=ctx.acting_organisation,
        )
        return
    subject = merge_text(dossier, str(ctx.params.get("subject") or ""), actor=ctx.actor)
    body = merge_text(dossier, str(ctx.params.get("body") or ""), actor=ctx.actor)
    queue_mail(organisation=dossier.organisation, to=addresses, subject=subject, body=body, actor=ctx.actor)
    record_event(
        dossier=dossier,
        kind="email.queued",
        summary=f"Courriel « {subject} » envoyé à {', '.join(addresses)}.",
        actor=ctx.actor,
        acting_organisation=ctx.acting_organisation,
    )


@runner("send_document")
def send_document(ctx: ActionContext) -> None:
    from mairie.dossiers.documents import send_document as send

    which = str(ctx.params.get("file") or "last_signed")
    files = DossierFile.objects.filter(dossier=ctx.dossier, mime_type="application/pdf").order_by(
        "-created_at", "-id"
    )
    kind = DossierFile.Kind.SIGNED if which == "last_signed" else DossierFile.Kind.GENERATED
    item = files.filter(kind=kind).first()
    if item is None:
        what = "signé" if which == "last_signed" else "généré"
        raise ActionFailed(f"Le dossier n'a aucun document {what} à envoyer.")
    send(
        dossier=ctx.dossier,
        item=item,
        actor=ctx.actor,
        subject=str(ctx.params.get("subject") or ""),
        body=str(ctx.params.get("body") or ""),
        by_email=bool(ctx.params.get("by_email", True)),
    )


@runner("share")
def share(ctx: ActionContext) -> None:
    organisation = services.resolve_organisation(ctx.dossier, str(ctx.params["organisation"]))
    services.share_dossier(
        dossier=ctx.dossier,
        organisation=organisation,
        purpose=str(ctx.params.get("purpose") or "view"),
        actor=ctx.actor,
        note=str(ctx.params.get("note") or ""),
    )


@runner("hand_back")
def hand_back(ctx: ActionContext) -> None:
    if ctx.dossier.holder_id == ctx.dossier.organisation_id:
        raise ActionFailed("Le dossier n'est pas transmis à une autre organisation : rien à rendre.")
    services.hand_back(dossier=ctx.dossier, actor=ctx.actor, acting=ctx.acting_organisation)


@runner("timer")
def timer(ctx: ActionContext) -> None:
    if ctx.params.get("after_days") is not None:
        delta = dt.timedelta(days=float(ctx.params["after_days"]))
        what = f"{ctx.params['after_days']} jour(s)"
    else:
        delta = dt.timedelta(hours=float(ctx.params["after_hours"]))
        what = f"{ctx.params['after_hours']} heure(s)"
    due = timezone.now() + delta
    WorkflowTimer.objects.create(
        organisation=ctx.dossier.organisation,
        dossier=ctx.dossier,
        status=ctx.dossier.status,
        transition=str(ctx.params["transition"]),
        due_at=due,
    )
    record_event(
        dossier=ctx.dossier,
        kind="timer.set",
        summary=f"Relance programmée dans {what} (le {timezone.localtime(due):%d/%m/%Y à %H:%M}) si le dossier "
        "n'a pas avancé.",
        actor=ctx.actor,
        acting_organisation=ctx.acting_organisation,
        data={"transition": ctx.params["transition"]},
    )


@runner("webhook")
def webhook(ctx: ActionContext) -> None:
    from mairie.dossiers.tasks import call_webhook

    event = record_event(
        dossier=ctx.dossier,
        kind="webhook.queued",
        summary=f"Appel du service externe {ctx.params['url']} programmé.",
        actor=ctx.actor,
        acting_organisation=ctx.acting_organisation,
    )
    call_webhook.enqueue(event.pk, str(ctx.params["url"]), dict(ctx.params.get("payload") or {}))


@runner("close")
def close(ctx: ActionContext) -> None:
    if ctx.dossier.closed_at is None:
        close_dossier(ctx.dossier)
        record_event(
            dossier=ctx.dossier,
            kind="closed",
            summary="Dossier clos.",
            actor=ctx.actor,
            acting_organisation=ctx.acting_organisation,
        )


@runner("set_data")
def set_data(ctx: ActionContext) -> None:
    values = dict(ctx.params.get("values") or {})
    ctx.dossier.data = {**(ctx.dossier.data or {}), **values}
    Dossier.objects.filter(pk=ctx.dossier.pk).update(data=ctx.dossier.data)
