"""Use cases of dossiers: create (by hand or from a courrier), file courriers, tasks, opinions, comments,
sharing with another organisation and handing over. Each writes in one transaction with its timeline event
(and audit entry, see ``timeline.record_event``)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from mairie.courrier.models import Contact, Courrier
from mairie.dossiers.engine import enter_status, membership_in, try_system_transition
from mairie.dossiers.models import Dossier, DossierCounter, DossierCourrier, DossierShare, Opinion, Task
from mairie.dossiers.timeline import person_label, record_event
from mairie.organisations.models import Membership, Organisation, Service
from mairie.workflows.models import WorkflowDefinition

# --- Reading: what an organisation's agents may see -----------------------------------------------------


def visible_dossiers(organisation: Organisation) -> QuerySet[Dossier]:
    """The organisation's own dossiers and those another organisation shares with it (open shares)."""
    shared = DossierShare.objects.filter(organisation=organisation, ended_at__isnull=True).values(
        "dossier_id"
    )
    return Dossier.objects.filter(Q(organisation=organisation) | Q(pk__in=shared)).select_related(
        "organisation", "holder", "workflow", "contact", "service", "assignee"
    )


def dossier_for(organisation: Organisation, dossier_id: int) -> Dossier:
    """One dossier as an organisation's agent may see it; Dossier.DoesNotExist (→ 404) otherwise."""
    return visible_dossiers(organisation).get(pk=dossier_id)


def share_of(dossier: Dossier, organisation: Organisation) -> DossierShare | None:
    if dossier.organisation_id == organisation.pk:
        return None
    return DossierShare.objects.filter(
        dossier=dossier, organisation=organisation, ended_at__isnull=True
    ).first()


def can_edit(dossier: Dossier, membership: Membership) -> bool:
    """May this member add files, comments and tasks? Owner's editors, or a guest organisation's editors."""
    if not membership.can("dossier.edit"):
        return False
    if dossier.organisation_id == membership.organisation_id:
        return True
    share = share_of(dossier, membership.organisation)
    return share is not None and share.purpose != DossierShare.Purpose.VIEW


# --- Creating ---------------------------------------------------------------------------------------------


def _next_reference(organisation: Organisation, year: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            'INSERT INTO "dossiers_dossiercounter" ("organisation_id", "year", "last") VALUES (%s, %s, 0) '
            "ON CONFLICT DO NOTHING",
            [organisation.pk, year],
        )
    counter = DossierCounter.objects.select_for_update().get(organisation=organisation, year=year)
    counter.last += 1
    counter.save(update_fields=["last"])
    return f"DOS-{year}-{counter.last:05d}"


def current_workflow(organisation: Organisation, name: str) -> WorkflowDefinition:
    wd = WorkflowDefinition.objects.for_org(organisation).filter(name=name, is_current=True).first()
    if wd is None:
        from mairie.workflows.services import install_library

        install_library(organisation)
        wd = WorkflowDefinition.objects.for_org(organisation).filter(name=name, is_current=True).first()
    if wd is None:
        raise ValidationError({"workflow": f"Circuit de traitement inconnu : « {name} »."})
    return wd


def create_dossier(
    *,
    organisation: Organisation,
    actor: Any,
    subject: str,
    workflow: WorkflowDefinition | str,
    contact: Contact | None = None,
    service: Service | None = None,
    data: dict[str, Any] | None = None,
    courrier: Courrier | None = None,
) -> Dossier:
    """A new dossier, numbered DOS-<year>-<n>, at its workflow's initial status (whose actions run)."""
    subject = " ".join((subject or "").split())
    if not subject:
        raise ValidationError({"subject": "Indiquez l'objet du dossier."})
    if isinstance(workflow, str):
        workflow = current_workflow(organisation, workflow)
    if workflow.organisation_id != organisation.pk:
        raise PermissionDenied
    if not workflow.is_active:
        raise ValidationError({"workflow": f"Le circuit « {workflow.title} » n'est plus proposé."})
    if contact is not None and contact.organisation_id != organisation.pk:
        raise PermissionDenied
    if service is not None and service.organisation_id != organisation.pk:
        raise PermissionDenied
    with transaction.atomic():
        dossier = Dossier.objects.create(
            organisation=organisation,
            holder=organisation,
            reference=_next_reference(organisation, timezone.localdate().year),
            subject=subject[:300],
            contact=contact,
            workflow=workflow,
            status=workflow.definition["initial"],
            data=data or {},
            service=service,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        record_event(
            dossier=dossier,
            kind="created",
            summary=f"Dossier créé (circuit « {workflow.title} », version {workflow.version}).",
            actor=actor,
            data={"workflow": workflow.name, "version": workflow.version},
        )
        if courrier is not None:
            _attach_courrier(dossier, courrier, actor)
        enter_status(dossier, actor=actor, acting=organisation)
    return dossier


def _attach_courrier(dossier: Dossier, courrier: Courrier, actor: Any) -> None:
    if courrier.organisation_id != dossier.organisation_id:
        raise PermissionDenied
    DossierCourrier.objects.create(
        organisation=dossier.organisation,
        dossier=dossier,
        courrier=courrier,
        added_by=actor if getattr(actor, "pk", None) else None,
    )
    record_event(
        dossier=dossier,
        kind="courrier.added",
        summary=f"Courrier {courrier.chrono} classé au dossier : « {courrier.subject or 'sans objet'} ».",
        actor=actor,
        data={"courrier_id": courrier.pk, "chrono": courrier.chrono},
    )


def create_from_courrier(
    *, membership: Membership, courrier: Courrier, workflow: WorkflowDefinition | str
) -> Dossier:
    """One click on a courrier: a dossier with its subject, sender and service; the courrier filed in it.
    A courrier already in a dossier gives that dossier (two clicks, two tabs: one dossier)."""
    if not membership.can("dossier.edit"):
        raise PermissionDenied("Votre rôle ne permet pas de créer un dossier.")
    if courrier.organisation_id != membership.organisation_id:
        raise PermissionDenied
    existing = DossierCourrier.objects.filter(courrier=courrier).select_related("dossier").first()
    if existing is not None:
        return existing.dossier
    try:
        with transaction.atomic():
            Courrier.objects.select_for_update().filter(pk=courrier.pk).first()
            again = DossierCourrier.objects.filter(courrier=courrier).select_related("dossier").first()
            if again is not None:
                return again.dossier
            return create_dossier(
                organisation=membership.organisation,
                actor=membership.user,
                subject=courrier.subject or f"Courrier {courrier.chrono}",
                workflow=workflow,
                contact=courrier.contact,
                service=courrier.service,
                courrier=courrier,
            )
    except IntegrityError:
        existing = DossierCourrier.objects.filter(courrier=courrier).select_related("dossier").first()
        if existing is None:
            raise
        return existing.dossier


def file_courrier(*, membership: Membership, dossier: Dossier, courrier: Courrier) -> None:
    if not can_edit(dossier, membership) or dossier.organisation_id != membership.organisation_id:
        raise PermissionDenied
    if DossierCourrier.objects.filter(courrier=courrier).exists():
        raise ValidationError(f"Le courrier {courrier.chrono} est déjà classé dans un dossier.")
    try:
        with transaction.atomic():
            _attach_courrier(dossier, courrier, membership.user)
    except IntegrityError:  # filed at the same moment by another request
        raise ValidationError(f"Le courrier {courrier.chrono} est déjà classé dans un dossier.") from None


def add_comment(*, membership: Membership, dossier: Dossier, text: str) -> None:
    text = text.strip()
    if not text:
        raise ValidationError({"text": "Le commentaire est vide."})
    if not (membership.can("courrier.comment") or can_edit(dossier, membership)):
        raise PermissionDenied
    with transaction.atomic():
        record_event(
            dossier=dossier,
            kind="comment",
            summary=f"Commentaire : « {text[:4000]} »",
            actor=membership.user,
            acting_organisation=membership.organisation,
        )


# --- Tasks ------------------------------------------------------------------------------------------------


def find_member(organisation: Organisation, who: str) -> Any:
    """An active member of the organisation named by username or e-mail; ActionFailed-friendly ValueError."""
    who = str(who).strip()
    membership = (
        Membership.objects.filter(organisation=organisation, is_active=True)
        .filter(Q(user__username__iexact=who) | Q(user__email__iexact=who))
        .select_related("user")
        .first()
    )
    if membership is None:
        raise ValueError(f"Aucun membre actif de {organisation.name} ne s'appelle « {who} ».")
    return membership.user


def find_service(organisation: Organisation, name: str) -> Service:
    service = (
        Service.objects.for_org(organisation).filter(name__iexact=str(name).strip(), is_active=True).first()
    )
    if service is None:
        raise ValueError(f"{organisation.name} n'a pas de service « {name} ».")
    return service


def create_task(
    *,
    dossier: Dossier,
    title: str,
    actor: Any,
    organisation: Organisation | None = None,
    description: str = "",
    service: Service | None = None,
    assignee: Any = None,
    due_at: dt.datetime | None = None,
    kind: str = "task",
) -> Task:
    """A task for a person (their delegate while they are absent) or a service; the person is notified."""
    from mairie.dossiers.delegation import resolve_assignee

    organisation = organisation or dossier.holder
    delegated_from = None
    if assignee is not None:
        assignee, delegated_from = resolve_assignee(organisation=organisation, user=assignee)
    task = Task.objects.create(
        organisation=organisation,
        dossier=dossier,
        kind=kind,
        title=title[:300],
        description=description,
        service=service,
        assignee=assignee,
        delegated_from=delegated_from,
        due_at=due_at,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    who = person_label(assignee) if assignee is not None else (service.name if service else organisation.name)
    if delegated_from is not None:
        who = f"{who} (en remplacement de {person_label(delegated_from)})"
    due = f", échéance le {timezone.localtime(due_at):%d/%m/%Y}" if due_at else ""
    record_event(
        dossier=dossier,
        kind="task.created",
        summary=f"Tâche « {task.title} » confiée à {who}{due}.",
        actor=actor,
        acting_organisation=organisation,
        data={"task_id": task.pk},
    )
    notify_task(task)
    return task


def task_recipients(task: Task) -> list[Any]:
    if task.assignee_id is not None:
        return [task.assignee]
    if task.service_id is not None:
        return [
            m.user
            for m in Membership.objects.filter(services=task.service, is_active=True).select_related("user")
        ]
    return [
        m.user
        for m in Membership.objects.filter(organisation=task.organisation, is_active=True).select_related(
            "user"
        )
        if m.can("dossier.edit")
    ]


def notify_task(task: Task) -> None:
    from django.urls import reverse

    from mairie.notifications.services import notify

    url = reverse("dossiers:detail", kwargs={"slug": task.organisation.slug, "dossier_id": task.dossier_id})
    for user in task_recipients(task):
        notify(
            user=user,
            organisation=task.organisation,
            kind="task.new",
            text=f"Nouvelle tâche sur le dossier {task.dossier.reference} : {task.title}",
            url=url,
            dossier=task.dossier,
        )


def may_do_task(task: Task, membership: Membership) -> bool:
    if task.organisation_id != membership.organisation_id or not membership.can("dossier.edit"):
        return False
    if task.assignee_id is not None:
        if task.assignee_id == membership.user_id:
            return True
        from mairie.dossiers.delegation import resolve_assignee

        delegate, absent = resolve_assignee(organisation=task.organisation, user=task.assignee)
        return absent is not None and delegate.pk == membership.user_id
    if task.service_id is not None:
        return membership.services.filter(pk=task.service_id).exists() or membership.can("courrier.edit_any")
    return True


def complete_task(*, membership: Membership, task: Task, comment: str = "") -> Task:
    if not may_do_task(task, membership):
        raise PermissionDenied("Cette tâche n'est pas pour vous.")
    with transaction.atomic():
        done = Task.objects.filter(pk=task.pk, status=Task.Status.OPEN).update(
            status=Task.Status.DONE, done_at=timezone.now(), done_by=membership.user
        )
        if not done:
            raise ValidationError("Cette tâche est déjà faite ou annulée.")
        task.refresh_from_db()
        on_behalf = task.assignee if task.assignee_id and task.assignee_id != membership.user_id else None
        comment = comment.strip()
        record_event(
            dossier=task.dossier,
            kind="task.done",
            summary=f"Tâche « {task.title} » faite" + (f" : « {comment[:2000]} »" if comment else "."),
            actor=membership.user,
            acting_organisation=membership.organisation,
            on_behalf_of=on_behalf,
            data={"task_id": task.pk},
        )
    return task


def tasks_for(membership: Membership) -> QuerySet[Task]:
    """Open tasks of this person (and those they do as a delegate) and of their services, soonest first."""
    from mairie.dossiers.models import Absence

    today = timezone.localdate()
    absent_for = Absence.objects.filter(
        organisation=membership.organisation,
        delegate=membership.user,
        starts_on__lte=today,
        ends_on__gte=today,
    ).values("user_id")
    services = membership.services.values("pk")
    return (
        Task.objects.for_org(membership.organisation)
        .filter(status=Task.Status.OPEN)
        .filter(
            Q(assignee=membership.user)
            | Q(assignee__in=absent_for)
            | Q(assignee__isnull=True, service__in=services)
            # A task for the whole organisation (e.g. a dossier handed over to it): every editor's list. A
            # parapheur step for a role (« any élu ») is in the parapheur of that role's members instead.
            | (Q(assignee__isnull=True, service__isnull=True) & ~Q(kind="circuit_step"))
        )
        .select_related("dossier", "service", "assignee", "delegated_from")
        .order_by("due_at", "id")
    )


# --- Opinions (avis) --------------------------------------------------------------------------------------


def request_opinions(
    *,
    dossier: Dossier,
    targets: list[dict[str, Any]],
    actor: Any,
    delay_days: int,
    question: str = "",
    then: str = "",
) -> list[Opinion]:
    """Ask several opinions at once (in parallel), each a task with a deadline; ``then`` is applied by the
    platform when the last one is given or the deadline passes."""
    batch = uuid.uuid4().hex[:16]
    due = timezone.now() + dt.timedelta(days=int(delay_days))
    opinions = []
    for target in targets:
        organisation = dossier.holder
        service = None
        assignee = None
        if "organisation" in target:
            organisation = resolve_organisation(dossier, str(target["organisation"]))
            share_dossier(
                dossier=dossier, organisation=organisation, purpose="opinion", actor=actor, note=question
            )
        elif "service" in target:
            service = find_service(dossier.holder, target["service"])
        elif "agent" in target:
            assignee = find_member(dossier.holder, target["agent"])
        title = f"Avis demandé : {dossier.subject}"[:300]
        task = create_task(
            dossier=dossier,
            title=title,
            actor=actor,
            organisation=organisation,
            description=question,
            service=service,
            assignee=assignee,
            due_at=due,
            kind="opinion",
        )
        opinions.append(
            Opinion.objects.create(
                organisation=organisation, dossier=dossier, batch=batch, then_transition=then or "", task=task
            )
        )
    return opinions


def give_opinion(*, membership: Membership, opinion: Opinion, verdict: str, text: str) -> Opinion:
    if verdict not in Opinion.Verdict.values:
        raise ValidationError({"verdict": "Choisissez : favorable, favorable avec réserves ou défavorable."})
    text = text.strip()
    if verdict != Opinion.Verdict.FAVORABLE and not text:
        raise ValidationError({"text": "Motivez un avis défavorable ou avec réserves."})
    if not may_do_task(opinion.task, membership):
        raise PermissionDenied("Cet avis n'est pas demandé à vous.")
    with transaction.atomic():
        updated = Opinion.objects.filter(pk=opinion.pk, status=Opinion.Status.PENDING).update(
            status=Opinion.Status.GIVEN,
            verdict=verdict,
            text=text,
            given_by=membership.user,
            given_at=timezone.now(),
        )
        if not updated:
            raise ValidationError("Cet avis a déjà été rendu, ou n'est plus attendu.")
        Task.objects.filter(pk=opinion.task_id, status=Task.Status.OPEN).update(
            status=Task.Status.DONE, done_at=timezone.now(), done_by=membership.user
        )
        opinion.refresh_from_db()
        label = Opinion.Verdict(verdict).label
        record_event(
            dossier=opinion.dossier,
            kind="opinion.given",
            summary=f"Avis {label.lower()} rendu" + (f" : « {text[:4000]} »" if text else "."),
            actor=membership.user,
            acting_organisation=membership.organisation,
            data={"opinion_id": opinion.pk, "verdict": verdict},
        )
        _notify_reply(opinion, label)
    _after_opinion(opinion)
    return opinion


def _notify_reply(opinion: Opinion, label: str) -> None:
    """The person who asked (and the person in charge of the dossier) hear that the opinion is in."""
    from django.urls import reverse

    from mairie.notifications.services import notify

    dossier = opinion.dossier
    wanted = {u.pk: u for u in (opinion.task.created_by, dossier.assignee) if u is not None}
    if opinion.given_by_id is not None:
        wanted.pop(opinion.given_by_id, None)
    url = reverse("dossiers:detail", kwargs={"slug": dossier.organisation.slug, "dossier_id": dossier.pk})
    for user in wanted.values():
        if membership_in(dossier.organisation, user) is None:
            continue
        notify(
            user=user,
            organisation=dossier.organisation,
            kind="opinion.reply",
            text=f"Avis {label.lower()} rendu sur le dossier {dossier.reference} ({opinion.organisation.name}).",
            url=url,
            dossier=dossier,
        )


def _after_opinion(opinion: Opinion) -> None:
    """When the last opinion of a batch is in (given or expired), apply the batch's ``then`` transition."""
    batch = Opinion.objects.filter(dossier=opinion.dossier, batch=opinion.batch)
    if batch.filter(status=Opinion.Status.PENDING).exists() or not opinion.then_transition:
        return
    try_system_transition(opinion.dossier, opinion.then_transition, reason="Tous les avis sont rendus")


def expire_opinions(now: dt.datetime | None = None) -> int:
    """Opinions past their deadline are recorded as not given; their batch may then move on."""
    now = now or timezone.now()
    count = 0
    for opinion in Opinion.objects.filter(status=Opinion.Status.PENDING, task__due_at__lt=now).select_related(
        "task", "dossier"
    ):
        with transaction.atomic():
            if not Opinion.objects.filter(pk=opinion.pk, status=Opinion.Status.PENDING).update(
                status=Opinion.Status.EXPIRED
            ):
                continue
            Task.objects.filter(pk=opinion.task_id, status=Task.Status.OPEN).update(
                status=Task.Status.CANCELLED
            )
            record_event(
                dossier=opinion.dossier,
                kind="opinion.expired",
                summary=f"Avis non rendu dans le délai ({opinion.organisation.name}) : réputé sans observation.",
                acting_organisation=opinion.organisation,
                data={"opinion_id": opinion.pk},
            )
        count += 1
        _after_opinion(opinion)
    return count


# --- Across organisations ---------------------------------------------------------------------------------


def resolve_organisation(dossier: Dossier, name: str) -> Organisation:
    """``@parent`` (the owner's parent, e.g. the commune's EPCI) or an organisation's slug."""
    if name == "@parent":
        parent = dossier.organisation.parent
        if parent is None:
            raise ValueError(f"{dossier.organisation.name} n'a pas d'organisation de rattachement.")
        return parent
    org = Organisation.objects.filter(slug=name, is_active=True).first()
    if org is None:
        raise ValueError(f"Organisation inconnue : « {name} ».")
    return org


def share_dossier(
    *, dossier: Dossier, organisation: Organisation, purpose: str, actor: Any, note: str = ""
) -> DossierShare:
    """Share with another organisation (for an opinion, a task, information) or hand it over (its agents then
    move the workflow). Sharing again with an organisation that already has it keeps one open share (a
    hand-over upgrades it)."""
    if purpose not in DossierShare.Purpose.values:
        raise ValidationError({"purpose": "Motif de partage inconnu."})
    if organisation.pk == dossier.organisation_id:
        raise ValidationError({"organisation": "Le dossier appartient déjà à cette organisation."})
    with transaction.atomic():
        share = DossierShare.objects.filter(
            dossier=dossier, organisation=organisation, ended_at__isnull=True
        ).first()
        if share is None:
            share = DossierShare.objects.create(
                organisation=organisation,
                dossier=dossier,
                purpose=purpose,
                note=note,
                granted_by=actor if getattr(actor, "pk", None) else None,
            )
        elif purpose == DossierShare.Purpose.HANDOVER and share.purpose != purpose:
            share.purpose = purpose
            share.save(update_fields=["purpose"])
        if purpose == DossierShare.Purpose.HANDOVER:
            if dossier.holder_id != dossier.organisation_id and dossier.holder_id != organisation.pk:
                raise ValidationError("Le dossier est déjà transmis à une autre organisation.")
            Dossier.objects.filter(pk=dossier.pk).update(holder=organisation)
            dossier.holder = organisation
        label = DossierShare.Purpose(purpose).label.lower()
        record_event(
            dossier=dossier,
            kind="share.handover" if purpose == DossierShare.Purpose.HANDOVER else "share",
            summary=f"Dossier partagé avec {organisation.name} ({label})"
            + (f" : « {note[:1000]} »" if note else "."),
            actor=actor,
            data={"organisation": organisation.slug, "purpose": purpose},
        )
        _notify_organisation(
            dossier,
            organisation,
            f"Dossier {dossier.reference} partagé avec vous ({label}) : {dossier.subject}",
        )
    return share


def _notify_organisation(dossier: Dossier, organisation: Organisation, text: str) -> None:
    from django.urls import reverse

    from mairie.notifications.services import notify

    url = reverse("dossiers:detail", kwargs={"slug": organisation.slug, "dossier_id": dossier.pk})
    for membership in Membership.objects.filter(organisation=organisation, is_active=True).select_related(
        "user"
    ):
        if membership.can("courrier.edit_any") or membership.can("org.admin"):
            notify(
                user=membership.user,
                organisation=organisation,
                kind="dossier.shared",
                text=text,
                url=url,
                dossier=dossier,
            )


def hand_back(*, dossier: Dossier, actor: Any, acting: Organisation | None = None, note: str = "") -> None:
    """End a hand-over: the dossier returns to its owner (the guest keeps nothing open but its history)."""
    with transaction.atomic():
        if dossier.holder_id == dossier.organisation_id:
            raise ValidationError("Le dossier n'est pas transmis à une autre organisation.")
        guest = dossier.holder
        now = timezone.now()
        DossierShare.objects.filter(dossier=dossier, organisation=guest, ended_at__isnull=True).update(
            ended_at=now
        )
        Task.objects.filter(dossier=dossier, organisation=guest, status=Task.Status.OPEN).update(
            status=Task.Status.CANCELLED
        )
        Dossier.objects.filter(pk=dossier.pk).update(holder=dossier.organisation)
        dossier.holder = dossier.organisation
        record_event(
            dossier=dossier,
            kind="share.returned",
            summary=f"Dossier rendu par {guest.name} à {dossier.organisation.name}"
            + (f" : « {note[:1000]} »" if note else "."),
            actor=actor,
            acting_organisation=acting or guest,
            data={"organisation": guest.slug},
        )
        _notify_organisation(
            dossier, dossier.organisation, f"Dossier {dossier.reference} rendu par {guest.name}."
        )


def end_share(*, membership: Membership, share: DossierShare) -> None:
    if share.dossier.organisation_id != membership.organisation_id or not membership.can("dossier.edit"):
        raise PermissionDenied
    if share.purpose == DossierShare.Purpose.HANDOVER and share.dossier.holder_id == share.organisation_id:
        raise ValidationError("Le dossier est transmis à cette organisation : elle doit le rendre.")
    with transaction.atomic():
        DossierShare.objects.filter(pk=share.pk, ended_at__isnull=True).update(ended_at=timezone.now())
        record_event(
            dossier=share.dossier,
            kind="share.ended",
            summary=f"Partage avec {share.organisation.name} terminé.",
            actor=membership.user,
        )


# --- The dossier's data (read by the workflow's conditions) ------------------------------------------------

_DATA_NAME = re.compile(r"""\bdata\.([A-Za-z_][A-Za-z0-9_]*)|\bdata\[\s*["']([^"']+)["']\s*\]""")


def condition_fields(definition: dict[str, Any]) -> list[str]:
    """The names of the dossier data the workflow's conditions read, in order of appearance."""
    names: list[str] = []
    for transition in definition.get("transitions", []):
        for match in _DATA_NAME.finditer(str(transition.get("condition") or "")):
            name = match.group(1) or match.group(2)
            if name not in names:
                names.append(name)
    return names


def parse_value(text: str) -> Any:
    """A value typed by an agent: a number, yes/no, or text."""
    text = text.strip()
    lowered = text.casefold()
    if lowered in ("oui", "vrai", "true"):
        return True
    if lowered in ("non", "faux", "false"):
        return False
    number = text.replace("\u202f", "").replace(" ", "").replace(",", ".")
    try:
        return int(number)
    except ValueError:
        pass
    try:
        return float(number)
    except ValueError:
        return text


def set_data(*, membership: Membership, dossier: Dossier, values: dict[str, str]) -> dict[str, Any]:
    """Change the dossier's data (an empty value removes the key), journaled with what changed."""
    if not can_edit(dossier, membership):
        raise PermissionDenied("Votre rôle ne permet pas de modifier ce dossier.")
    with transaction.atomic():
        locked = Dossier.objects.select_for_update(of=("self",)).get(pk=dossier.pk)
        data = dict(locked.data or {})
        changes = []
        for name, raw in values.items():
            name = name.strip()[:80]
            if not name:
                continue
            if raw.strip() == "":
                if name in data:
                    del data[name]
                    changes.append(f"{name} effacé")
                continue
            value = parse_value(raw)
            if data.get(name) != value:
                data[name] = value
                shown = {True: "oui", False: "non"}.get(value, value) if isinstance(value, bool) else value
                changes.append(f"{name} = {shown}")
        if not changes:
            return data
        locked.data = data
        locked.save(update_fields=["data", "updated_at"])
        record_event(
            dossier=locked,
            kind="data",
            summary="Données du dossier : " + ", ".join(changes) + ".",
            actor=membership.user,
            acting_organisation=membership.organisation,
        )
    dossier.data = data
    return data
