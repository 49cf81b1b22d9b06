"""The parapheur's use cases: start a circuit, approve (visa or signature), refuse, annotate, sign in batch,
cancel. Each one is a transaction that writes the dossier's timeline (and so the audit journal)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from mairie.circuits.models import Circuit, CircuitStep, StepAnnotation
from mairie.dossiers.models import Dossier, DossierFile, Task
from mairie.dossiers.timeline import person_label, record_event
from mairie.organisations.models import Membership, Organisation, Role, Service

logger = logging.getLogger("mairie.circuits")

PDF = "application/pdf"
MAX_STEPS = 30
SEAL_CAPABILITY = "circuit.sign"


class CircuitError(ValidationError):
    """A circuit operation that cannot be done; the message is French and meant for the person."""


# --- Labels --------------------------------------------------------------------------------------------------


def role_label(role: str) -> str:
    return str(dict(Role.choices).get(role, role))


def target_label(step: CircuitStep) -> str:
    if step.user_id:
        return person_label(step.user)
    if step.role:
        return f"rôle « {role_label(step.role)} »"
    if step.service_id:
        return f"service « {step.service.name} »"  # type: ignore[union-attr]
    return "?"


def actor_label(step: CircuitStep) -> str:
    """« Paul Martin pour Hélène Roussel » when a delegate acted, the person's name otherwise."""
    if step.acted_by_id is None:
        return ""
    label = person_label(step.acted_by)
    if step.on_behalf_of_id and step.on_behalf_of_id != step.acted_by_id:
        label = f"{label} pour {person_label(step.on_behalf_of)}"
    return label


def step_rows(steps: Iterable[CircuitStep], current: CircuitStep | None = None) -> list[dict[str, Any]]:
    """What a page shows of each step: its target, who acted (and for whom), whether it runs in parallel."""
    items = list(steps)
    sizes: dict[int, int] = {}
    for step in items:
        sizes[step.group] = sizes.get(step.group, 0) + 1
    return [
        {
            "step": step,
            "target": target_label(step),
            "actor": actor_label(step),
            "parallel": sizes[step.group] > 1,
            "current": current is not None and step.pk == current.pk,
        }
        for step in items
    ]


def step_url(step: CircuitStep) -> str:
    return reverse("circuits:step", kwargs={"slug": step.organisation.slug, "step_id": step.pk})


def circuit_url(circuit: Circuit) -> str:
    return reverse("circuits:circuit", kwargs={"slug": circuit.organisation.slug, "circuit_id": circuit.pk})


def _verb(step: CircuitStep) -> str:
    return "Signer" if step.kind == CircuitStep.Kind.SIGNATURE else "Viser"


# --- Who may act ---------------------------------------------------------------------------------------------


def _membership(organisation: Organisation, user: Any) -> Membership | None:
    if user is None or not getattr(user, "pk", None) or not user.is_active:
        return None
    return Membership.objects.filter(organisation=organisation, user=user, is_active=True).first()


def _delegate_of(step: CircuitStep, user: Any) -> bool:
    """Whether ``user`` stands in for the step's person (the task went to them, or an absence now says so)."""
    from mairie.dossiers.delegation import resolve_assignee

    if step.user_id is None:
        return False
    task = step.task
    if task is not None and task.assignee_id == user.pk and task.delegated_from_id == step.user_id:
        return True
    assignee, delegated_from = resolve_assignee(organisation=step.organisation, user=step.user)
    return delegated_from is not None and assignee is not None and assignee.pk == user.pk


def acting_for(step: CircuitStep, user: Any) -> tuple[bool, Any]:
    """``(may_act, on_behalf_of)``: whether ``user`` may decide ``step``, and for whom when a delegate.

    The person named by the step, their delegate during an absence, any active member holding the step's
    role, any member of its service. A signature also needs the right to sign (``circuit.sign``), except
    for the person the circuit names.
    """
    membership = _membership(step.organisation, user)
    if membership is None:
        return False, None
    on_behalf_of = None
    if step.user_id is not None:
        if step.user_id == user.pk:
            return True, None
        if not _delegate_of(step, user):
            return False, None
        on_behalf_of = step.user
    elif step.role:
        if not membership.has_role(step.role):
            return False, None
    elif step.service_id is not None:
        if not membership.services.filter(pk=step.service_id).exists():
            return False, None
    else:
        return False, None
    if step.kind == CircuitStep.Kind.SIGNATURE and not membership.can("circuit.sign"):
        return False, None
    return True, on_behalf_of


def may_use_seal(organisation: Organisation, user: Any) -> bool:
    membership = _membership(organisation, user)
    return membership is not None and membership.can(SEAL_CAPABILITY)


def pending_steps_for(*, organisation: Organisation, user: Any) -> QuerySet[CircuitStep]:
    """Steps waiting for ``user``: named, as a delegate, through a role or a service (not yet filtered by the
    right to sign: ``acting_for`` decides)."""
    membership = _membership(organisation, user)
    if membership is None:
        return CircuitStep.objects.none()
    service_ids = list(membership.services.values_list("pk", flat=True))
    return (
        CircuitStep.objects.for_org(organisation)
        .filter(status=CircuitStep.Status.PENDING, circuit__status=Circuit.Status.IN_PROGRESS)
        .filter(
            Q(user=user)
            | Q(task__assignee=user)
            | Q(role__in=list(membership.roles), user__isnull=True)
            | Q(service_id__in=service_ids, user__isnull=True)
        )
        .select_related(
            "circuit__dossier",
            "circuit__file",
            "circuit__signed_file",
            "circuit__drafter",
            "user",
            "service",
            "task",
            "organisation",
        )
        .order_by("circuit__created_at", "position")
    )


# --- Starting a circuit --------------------------------------------------------------------------------------


def _resolve_agent(organisation: Organisation, value: Any) -> Any:
    user_model = get_user_model()
    if isinstance(value, user_model):
        user = value
    else:
        text = str(value or "").strip()
        if not text:
            raise CircuitError("Indiquez la personne de chaque étape.")
        candidates = list(
            user_model.objects.filter(
                Q(username__iexact=text) | Q(email__iexact=text),
                memberships__organisation=organisation,
                memberships__is_active=True,
                is_active=True,
            ).distinct()[:2]
        )
        if len(candidates) > 1:
            exact = [u for u in candidates if u.get_username().lower() == text.lower()]
            if len(exact) != 1:
                raise CircuitError(
                    f"Plusieurs personnes correspondent à « {text} » : indiquez l'identifiant."
                )
            candidates = exact
        if not candidates:
            raise CircuitError(f"Personne inconnue dans {organisation.name} : « {text} ».")
        user = candidates[0]
    if _membership(organisation, user) is None:
        raise CircuitError(f"{person_label(user)} n'est pas membre actif de {organisation.name}.")
    return user


def _resolve_role(organisation: Organisation, value: Any) -> str:
    role = str(value or "").strip()
    if role not in Role.values:
        labels = {str(label).lower(): key for key, label in Role.choices}
        role = labels.get(role.lower(), "")
    if not role:
        raise CircuitError(f"Rôle inconnu : « {value} ».")
    members = Membership.objects.filter(organisation=organisation, is_active=True, user__is_active=True)
    if not any(role in roles for roles in members.values_list("roles", flat=True)):
        raise CircuitError(f"Aucun membre actif de {organisation.name} n'a le rôle « {role_label(role)} ».")
    return role


def _resolve_service(organisation: Organisation, value: Any) -> Service:
    if isinstance(value, Service):
        service: Service | None = value if value.organisation_id == organisation.pk else None
    elif isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        service = Service.objects.for_org(organisation).filter(pk=int(value)).first()
    else:
        service = Service.objects.for_org(organisation).filter(name__iexact=str(value or "").strip()).first()
    if service is None or not service.is_active:
        raise CircuitError(f"Service inconnu dans {organisation.name} : « {value} ».")
    return service


def _parse_steps(organisation: Organisation, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not steps:
        raise CircuitError("Un circuit doit compter au moins une étape.")
    if len(steps) > MAX_STEPS:
        raise CircuitError(f"Un circuit compte au plus {MAX_STEPS} étapes.")
    parsed: list[dict[str, Any]] = []
    group = 0
    for index, raw in enumerate(steps, start=1):
        kind = str(raw.get("kind") or "").strip().lower()
        if kind not in CircuitStep.Kind.values:
            raise CircuitError(f"Étape {index} : choisissez « visa » ou « signature ».")
        targets = [key for key in ("agent", "role", "service") if raw.get(key) not in (None, "")]
        if len(targets) != 1:
            raise CircuitError(f"Étape {index} : indiquez une personne, un rôle ou un service (un seul).")
        item: dict[str, Any] = {"kind": kind, "user": None, "role": "", "service": None}
        target = targets[0]
        if target == "agent":
            item["user"] = _resolve_agent(organisation, raw["agent"])
        elif target == "role":
            item["role"] = _resolve_role(organisation, raw["role"])
        else:
            item["service"] = _resolve_service(organisation, raw["service"])
        if not (raw.get("parallel") and parsed):
            group += 1
        item["group"] = group
        item["position"] = index
        parsed.append(item)
    return parsed


def start_circuit(
    *,
    dossier: Dossier,
    file: DossierFile,
    steps: list[dict[str, Any]],
    actor: Any,
    then: str = "",
    on_refuse: str = "",
    authorised: bool = False,
) -> Circuit:
    """Put ``file`` (a file of ``dossier``) in a circuit of ``steps``; the first group becomes pending.

    ``authorised=True``: a workflow action, whose transition the engine already allowed this person to make
    (the mayor deciding starts the circuit of the decision although an élu does not edit dossiers).

    ``steps``: ``{"kind": "visa"|"signature", "agent": username or e-mail | "role": "elu" | "service": name
    or id, "parallel": bool}`` (``parallel`` joins the previous step's group). ``actor`` is the drafter
    (``None``: the platform, from a workflow action). ``then`` / ``on_refuse``: transitions applied when the
    circuit completes / is refused. Raises ``CircuitError`` (French) when something is unknown.
    """
    organisation = dossier.organisation
    if actor is not None and not authorised:
        membership = _membership(organisation, actor)
        if membership is None or not membership.can("dossier.edit"):
            raise PermissionDenied("Votre rôle ne permet pas de lancer un circuit de visa ou de signature.")
    if file.dossier_id != dossier.pk or file.organisation_id != organisation.pk:
        raise CircuitError("Ce document n'appartient pas au dossier.")
    if dossier.closed_at is not None:
        raise CircuitError(f"Le dossier {dossier.reference} est clos.")
    if Circuit.objects.for_org(organisation).filter(file=file, status=Circuit.Status.IN_PROGRESS).exists():
        raise CircuitError(f"« {file.title} » est déjà dans un circuit en cours.")
    parsed = _parse_steps(organisation, steps)
    if any(s["kind"] == CircuitStep.Kind.SIGNATURE for s in parsed) and file.mime_type != PDF:
        raise CircuitError(f"« {file.title} » n'est pas un PDF : seul un PDF peut être signé.")
    with transaction.atomic():
        circuit = Circuit.objects.create(
            organisation=organisation,
            dossier=dossier,
            file=file,
            drafter=actor,
            then_transition=(then or "")[:80],
            on_refuse_transition=(on_refuse or "")[:80],
        )
        for item in parsed:
            CircuitStep.objects.create(organisation=organisation, circuit=circuit, **item)
        count = len(parsed)
        record_event(
            dossier=dossier,
            kind="circuit.started",
            summary=f"Circuit de visa et signature lancé sur « {file.title} » ({count} étape{'s' * (count > 1)})",
            actor=actor,
            data={"circuit_id": circuit.pk, "file_id": file.pk},
        )
        _activate_next_group(circuit)
    return circuit


def _members_to_notify(step: CircuitStep) -> list[Any]:
    memberships = Membership.objects.filter(
        organisation=step.organisation, is_active=True, user__is_active=True
    ).select_related("user")
    if step.service_id is not None:
        return [m.user for m in memberships.filter(services=step.service_id)]
    if step.role:
        return [m.user for m in memberships if m.has_role(step.role)]
    return []


def _notify(*, user: Any, circuit: Circuit, text: str, url: str) -> None:
    from mairie.notifications.services import notify

    if user is None:
        return
    notify(
        user=user,
        organisation=circuit.organisation,
        kind="circuit.step",
        text=text,
        url=url,
        dossier=circuit.dossier,
    )


def _activate_next_group(circuit: Circuit) -> bool:
    """Make the next waiting group pending (tasks, notifications). ``False`` when no step waits any more."""
    from mairie.dossiers.delegation import resolve_assignee

    waiting = list(
        circuit.steps.filter(status=CircuitStep.Status.WAITING)
        .select_related("user", "service", "organisation")
        .order_by("group", "position")
    )
    if not waiting:
        return False
    group = waiting[0].group
    dossier = circuit.dossier
    for step in (s for s in waiting if s.group == group):
        assignee, delegated_from = resolve_assignee(organisation=circuit.organisation, user=step.user)
        title = f"{_verb(step)} « {circuit.file.title} » ({dossier.reference})"
        step.task = Task.objects.create(
            organisation=circuit.organisation,
            dossier=dossier,
            kind="circuit_step",
            title=title[:300],
            description=f"Circuit lancé par {person_label(circuit.drafter)}.",
            service=step.service,
            assignee=assignee,
            delegated_from=delegated_from,
            created_by=circuit.drafter,
            # A step waits a few days at most: reminded before, escalated after, like any task.
            due_at=timezone.now() + dt.timedelta(days=settings.CIRCUIT_STEP_DAYS),
        )
        step.status = CircuitStep.Status.PENDING
        step.save(update_fields=["task", "status"])
        url = step_url(step)
        if assignee is not None:
            text = f"À {_verb(step).lower()} : « {circuit.file.title} » ({dossier.reference})"
            if delegated_from is not None:
                text += f", pour {person_label(delegated_from)}"
            _notify(user=assignee, circuit=circuit, text=text, url=url)
        else:
            for member in _members_to_notify(step):
                _notify(
                    user=member,
                    circuit=circuit,
                    text=f"À {_verb(step).lower()} ({target_label(step)}) : « {circuit.file.title} » "
                    f"({dossier.reference})",
                    url=url,
                )
    return True


# --- Deciding a step -----------------------------------------------------------------------------------------


def _locked(step: CircuitStep) -> tuple[CircuitStep, Circuit]:
    """Lock the circuit (one decision at a time per circuit) and re-read the step under the lock."""
    circuit = (
        Circuit.objects.select_for_update(of=("self",))
        .select_related("organisation", "dossier__organisation", "file", "signed_file", "drafter")
        .get(pk=step.circuit_id)
    )
    fresh = CircuitStep.objects.select_related("user", "service", "task", "organisation").get(pk=step.pk)
    fresh.circuit = circuit
    if circuit.status != Circuit.Status.IN_PROGRESS:
        raise CircuitError(f"Ce circuit est {circuit.get_status_display().lower()} : plus rien à décider.")
    if fresh.status != CircuitStep.Status.PENDING:
        raise CircuitError("Cette étape n'est pas en attente de décision.")
    return fresh, circuit


def _check_may_act(step: CircuitStep, actor: Any) -> Any:
    allowed, on_behalf_of = acting_for(step, actor)
    if not allowed:
        if step.kind == CircuitStep.Kind.SIGNATURE and _membership(step.organisation, actor) is not None:
            raise PermissionDenied("Vous n'êtes pas habilité(e) à signer cette étape.")
        raise PermissionDenied("Cette étape ne vous est pas adressée.")
    return on_behalf_of


def _close_task(task: Task | None, *, actor: Any, status: str = Task.Status.DONE) -> None:
    if task is None or task.status != Task.Status.OPEN:
        return
    task.status = status
    task.done_at = timezone.now()
    task.done_by = actor if getattr(actor, "pk", None) else None
    task.save(update_fields=["status", "done_at", "done_by"])


def _signer_identity(circuit: Circuit, actor: Any, use_seal: bool) -> tuple[str, str]:
    organisation = circuit.organisation
    if use_seal:
        return organisation.name, "Cachet de l'organisation"
    membership = _membership(organisation, actor)
    role = ""
    if membership is not None:
        role = membership.title or ", ".join(membership.role_labels)
    return person_label(actor), role


def _sign(
    circuit: Circuit,
    *,
    actor: Any,
    pin: str | None,
    use_seal: bool,
    signer: Any = None,
    on_behalf_of: Any = None,
) -> DossierFile:
    from mairie.dossiers.files import read_file
    from mairie.signatures.pades import sign_pdf
    from mairie.signatures.services import load_signer

    organisation = circuit.organisation
    if use_seal and not may_use_seal(organisation, actor):
        raise PermissionDenied("Vous n'êtes pas habilité(e) à utiliser le cachet de l'organisation.")
    previous = circuit.signed_file or circuit.file
    if previous.mime_type != PDF:
        raise CircuitError(f"« {previous.title} » n'est pas un PDF : il ne peut pas être signé.")
    if signer is None:
        signer = load_signer(organisation=organisation, user=None if use_seal else actor, pin=pin)
    name, role = _signer_identity(circuit, actor, use_seal)
    if on_behalf_of is not None and not use_seal:
        # A delegate signs with their own certificate; the visible block says for whom.
        role = f"{role} — pour {person_label(on_behalf_of)}" if role else f"Pour {person_label(on_behalf_of)}"
    signed = sign_pdf(
        read_file(previous),
        signer=signer,
        signer_name=name,
        signer_role=role,
        reason=f"Signature — dossier {circuit.dossier.reference}",
        location=organisation.city or organisation.name,
    )
    stem = Path(circuit.file.name).stem or "document"
    title = f"{circuit.file.title} (signé)"
    return store_signed(
        circuit, content=signed, name=f"{stem}-signe.pdf", title=title, previous=previous, actor=actor
    )


def store_signed(
    circuit: Circuit, *, content: bytes, name: str, title: str, previous: DossierFile, actor: Any
) -> DossierFile:
    from mairie.dossiers.files import store_file

    return store_file(
        dossier=circuit.dossier,
        content=content,
        name=name,
        title=title,
        kind=DossierFile.Kind.SIGNED,
        derived_from=previous,
        actor=actor,
        event_summary=f"Version signée enregistrée : {title}",
    )


def _approve(
    *, step: CircuitStep, actor: Any, comment: str, pin: str | None, use_seal: bool, signer: Any = None
) -> Circuit:
    with transaction.atomic():
        step, circuit = _locked(step)
        on_behalf_of = _check_may_act(step, actor)
        now = timezone.now()
        title = circuit.file.title
        if step.kind == CircuitStep.Kind.SIGNATURE:
            signed = _sign(
                circuit, actor=actor, pin=pin, use_seal=use_seal, signer=signer, on_behalf_of=on_behalf_of
            )
            circuit.signed_file = signed
            circuit.save(update_fields=["signed_file"])
            step.signed_file = signed
            how = " avec le cachet de l'organisation" if use_seal else ""
            summary = f"« {title} » signé par {person_label(actor)}{how}"
            kind = "circuit.step.signed"
        else:
            summary = f"Visa de {person_label(actor)} sur « {title} »"
            kind = "circuit.step.approved"
        comment = (comment or "").strip()
        if comment:
            summary += f" : {comment}"
        step.status = CircuitStep.Status.APPROVED
        step.acted_by = actor
        step.on_behalf_of = on_behalf_of
        step.acted_at = now
        step.comment = comment
        step.save(update_fields=["status", "acted_by", "on_behalf_of", "acted_at", "comment", "signed_file"])
        _close_task(step.task, actor=actor)
        record_event(
            dossier=circuit.dossier,
            kind=kind,
            summary=summary,
            actor=actor,
            on_behalf_of=on_behalf_of,
            data={"circuit_id": circuit.pk, "step_id": step.pk},
        )
        group_done = (
            not circuit.steps.filter(group=step.group).exclude(status=CircuitStep.Status.APPROVED).exists()
        )
        if group_done and not _activate_next_group(circuit):
            _complete(circuit)
    return circuit


def approve_step(
    *, step: CircuitStep, actor: Any, comment: str = "", pin: str | None = None, use_seal: bool = False
) -> Circuit:
    """Approve a pending step: a visa approves; a signature signs the circuit's current PDF (the latest signed
    version, else the file) with the actor's certificate unlocked by ``pin`` (or the organisation's seal with
    ``use_seal``) and stores the signed version. The next group becomes pending; after the last one, the
    circuit is approved and its ``then`` transition applied. Raises ``PermissionDenied`` (not for this
    person), ``CircuitError`` (not pending…) or ``SignatureError`` (wrong PIN…): nothing changed then."""
    signer = None
    if step.kind == CircuitStep.Kind.SIGNATURE and not use_seal and transaction.get_autocommit():
        # The key is unlocked before the transaction: a wrong PIN is counted (and locks the key after a few)
        # even though the approval itself does not happen.
        from mairie.signatures.services import load_signer

        signer = load_signer(organisation=step.organisation, user=actor, pin=pin)
    return _approve(step=step, actor=actor, comment=comment, pin=pin, use_seal=use_seal, signer=signer)


def _apply(circuit: Circuit, transition: str, reason: str) -> None:
    if not transition:
        return
    from mairie.dossiers.engine import try_system_transition

    # The engine's apply_transition(..., actor=None, system=True); a transition that cannot apply any more
    # (the dossier moved meanwhile) is written in the timeline instead of undoing the decision. The
    # signature has happened: an unexpected error of the transition is logged and written in the timeline
    # too, in its own savepoint, rather than losing the decision.
    try:
        with transaction.atomic():
            try_system_transition(circuit.dossier, transition, reason=reason)
    except Exception:
        logger.exception("Transition « %s » après le circuit %s non appliquée", transition, circuit.pk)
        record_event(
            dossier=circuit.dossier,
            kind="transition.failed",
            summary=f"{reason} : passage automatique « {transition} » non effectué (erreur technique).",
            data={"transition": transition, "circuit_id": circuit.pk},
        )


def _complete(circuit: Circuit) -> None:
    circuit.status = Circuit.Status.APPROVED
    circuit.completed_at = timezone.now()
    circuit.save(update_fields=["status", "completed_at"])
    title = circuit.file.title
    record_event(
        dossier=circuit.dossier,
        kind="circuit.completed",
        summary=f"Circuit terminé : « {title} » visé et signé par toutes les étapes",
        actor=None,
        data={"circuit_id": circuit.pk, "signed_file_id": circuit.signed_file_id},
    )
    _notify(
        user=circuit.drafter,
        circuit=circuit,
        text=f"Circuit terminé : « {title} » ({circuit.dossier.reference})",
        url=circuit_url(circuit),
    )
    _apply(circuit, circuit.then_transition, "Circuit de visa et signature terminé")


def _end_open_steps(circuit: Circuit, *, actor: Any) -> None:
    for other in circuit.steps.filter(
        status__in=[CircuitStep.Status.PENDING, CircuitStep.Status.WAITING]
    ).select_related("task"):
        other.status = CircuitStep.Status.SKIPPED
        other.save(update_fields=["status"])
        _close_task(other.task, actor=actor, status=Task.Status.CANCELLED)


def refuse_step(*, step: CircuitStep, actor: Any, reason: str) -> Circuit:
    """Refuse a pending step with a reason (required): the circuit ends as refused, the other steps are
    cancelled (their tasks too), the drafter is notified and the ``on_refuse`` transition applied."""
    reason = (reason or "").strip()
    if not reason:
        raise CircuitError("Indiquez le motif du refus.")
    with transaction.atomic():
        step, circuit = _locked(step)
        on_behalf_of = _check_may_act(step, actor)
        step.status = CircuitStep.Status.REFUSED
        step.acted_by = actor
        step.on_behalf_of = on_behalf_of
        step.acted_at = timezone.now()
        step.comment = reason
        step.save(update_fields=["status", "acted_by", "on_behalf_of", "acted_at", "comment"])
        _close_task(step.task, actor=actor)
        _end_open_steps(circuit, actor=actor)
        circuit.status = Circuit.Status.REFUSED
        circuit.reason = reason
        circuit.completed_at = step.acted_at
        circuit.save(update_fields=["status", "reason", "completed_at"])
        title = circuit.file.title
        what = "Signature refusée" if step.kind == CircuitStep.Kind.SIGNATURE else "Visa refusé"
        record_event(
            dossier=circuit.dossier,
            kind="circuit.refused",
            summary=f"{what} par {person_label(actor)} sur « {title} » : {reason}",
            actor=actor,
            on_behalf_of=on_behalf_of,
            data={"circuit_id": circuit.pk, "step_id": step.pk},
        )
        _notify(
            user=circuit.drafter,
            circuit=circuit,
            text=f"{what} par {person_label(actor)} : « {title} » ({circuit.dossier.reference}) — {reason}",
            url=circuit_url(circuit),
        )
        _apply(circuit, circuit.on_refuse_transition, "Circuit de visa et signature refusé")
    return circuit


def annotate(*, step_or_circuit: CircuitStep | Circuit, actor: Any, text: str) -> StepAnnotation:
    """A comment on a circuit or a step, by any active member of the organisation: it decides nothing."""
    text = (text or "").strip()
    if not text:
        raise CircuitError("L'annotation est vide.")
    if isinstance(step_or_circuit, CircuitStep):
        step: CircuitStep | None = step_or_circuit
        circuit = step_or_circuit.circuit
    else:
        step, circuit = None, step_or_circuit
    if _membership(circuit.organisation, actor) is None:
        raise PermissionDenied("Vous n'êtes pas membre de cette organisation.")
    with transaction.atomic():
        note = StepAnnotation.objects.create(
            organisation=circuit.organisation, circuit=circuit, step=step, author=actor, text=text
        )
        where = f" (étape {step.position})" if step is not None else ""
        record_event(
            dossier=circuit.dossier,
            kind="circuit.annotated",
            summary=f"Annotation de {person_label(actor)} sur « {circuit.file.title} »{where} : {text}",
            actor=actor,
            data={"circuit_id": circuit.pk, "step_id": step.pk if step else None, "annotation_id": note.pk},
        )
        if circuit.drafter_id and circuit.drafter_id != actor.pk:
            _notify(
                user=circuit.drafter,
                circuit=circuit,
                text=f"Annotation de {person_label(actor)} sur « {circuit.file.title} » : {text}"[:500],
                url=circuit_url(circuit),
            )
    return note


def cancel_circuit(*, circuit: Circuit, actor: Any, reason: str) -> Circuit:
    """Cancel a running circuit (its drafter, an administrator, or the platform with ``actor=None``)."""
    reason = (reason or "").strip()
    if not reason:
        raise CircuitError("Indiquez le motif de l'annulation.")
    if actor is not None:
        membership = _membership(circuit.organisation, actor)
        allowed = membership is not None and (
            circuit.drafter_id == actor.pk or membership.can("org.admin") or membership.can("dossier.edit")
        )
        if not allowed:
            raise PermissionDenied("Vous ne pouvez pas annuler ce circuit.")
    with transaction.atomic():
        locked = (
            Circuit.objects.select_for_update(of=("self",))
            .select_related("file", "dossier")
            .get(pk=circuit.pk)
        )
        if locked.status != Circuit.Status.IN_PROGRESS:
            raise CircuitError(f"Ce circuit est déjà {locked.get_status_display().lower()}.")
        _end_open_steps(locked, actor=actor)
        locked.status = Circuit.Status.CANCELLED
        locked.reason = reason
        locked.completed_at = timezone.now()
        locked.save(update_fields=["status", "reason", "completed_at"])
        record_event(
            dossier=locked.dossier,
            kind="circuit.cancelled",
            summary=f"Circuit sur « {locked.file.title} » annulé : {reason}",
            actor=actor,
            data={"circuit_id": locked.pk},
        )
    return locked


# --- Batch signature -----------------------------------------------------------------------------------------


@dataclass
class BatchResult:
    step: CircuitStep
    ok: bool
    message: str

    @property
    def title(self) -> str:
        return self.step.circuit.file.title


def _error_message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    message = getattr(exc, "message", None)
    return str(message or exc) or "Erreur inattendue."


def sign_batch(
    *, steps: Iterable[CircuitStep], actor: Any, pin: str | None = None, use_seal: bool = False
) -> list[BatchResult]:
    """Approve several steps at once (the mayor's batch signature), each in its own transaction: one that
    fails does not stop the others. The certificate is unlocked once for the batch. Each result says whether
    the document was signed (or visé) and, if not, why, in French."""
    from mairie.documents.checks import FileRefused
    from mairie.signatures.services import SignatureError, load_signer

    results: list[BatchResult] = []
    signers: dict[int, Any] = {}
    signer_errors: dict[int, str] = {}
    for step in steps:
        title = step.circuit.file.title
        try:
            signer = None
            if step.kind == CircuitStep.Kind.SIGNATURE:
                org_id = step.organisation_id
                if org_id in signer_errors:
                    raise CircuitError(signer_errors[org_id])
                if org_id not in signers:
                    # Rights first, so that a step not addressed to the actor does not spend a PIN attempt.
                    _check_may_act(step, actor)
                    if use_seal and not may_use_seal(step.organisation, actor):
                        raise PermissionDenied(
                            "Vous n'êtes pas habilité(e) à utiliser le cachet de l'organisation."
                        )
                    try:
                        signers[org_id] = load_signer(
                            organisation=step.organisation, user=None if use_seal else actor, pin=pin
                        )
                    except SignatureError as exc:
                        signer_errors[org_id] = _error_message(exc)
                        raise
                signer = signers[org_id]
            _approve(step=step, actor=actor, comment="", pin=pin, use_seal=use_seal, signer=signer)
        except (CircuitError, ValidationError, PermissionDenied, SignatureError, FileRefused) as exc:
            results.append(BatchResult(step=step, ok=False, message=f"« {title} » : {_error_message(exc)}"))
        except Exception:  # one document's unexpected failure must not stop the others
            logger.exception("Signature par lot : étape %s non traitée", step.pk)
            results.append(
                BatchResult(
                    step=step, ok=False, message=f"« {title} » : erreur technique inattendue, réessayez."
                )
            )
        else:
            done = "signé" if step.kind == CircuitStep.Kind.SIGNATURE else "visé"
            results.append(BatchResult(step=step, ok=True, message=f"« {title} » : {done}."))
    return results
