"""The workflow engine: one function applies a transition to a dossier.

``apply_transition`` locks the dossier, checks the state and the person's rights against the dossier's own
version of its workflow, evaluates the transition's condition, moves the dossier, runs the transition's actions
and then the target status's ``on_enter`` actions, and writes the timeline and the audit journal — all in one
transaction: if an action fails, nothing happened. Effects outside the database (e-mail, webhook) are jobs
queued in that same transaction (the job table is in the database), so they run only once it has committed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from mairie.dossiers.models import Dossier, Opinion, Task, WorkflowTimer
from mairie.dossiers.timeline import record_event
from mairie.organisations.models import Membership, Organisation
from mairie.workflows.definition import ActionCall, Transition


class TransitionRefused(Exception):
    """A transition that may not be applied now; ``message`` says why, in French."""

    def __init__(self, message: str, *, code: str = "refused") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ActionFailed(TransitionRefused):
    """An action could not run (unknown service, no document to sign…): the whole transition is undone."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="action")


# --- Who acts --------------------------------------------------------------------------------------------


def membership_in(organisation: Organisation, user: Any) -> Membership | None:
    if user is None or not getattr(user, "pk", None):
        return None
    return (
        Membership.objects.filter(user=user, organisation=organisation, is_active=True)
        .prefetch_related("services")
        .first()
    )


def _allowed(dossier: Dossier, transition: Transition, membership: Membership) -> tuple[bool, Any]:
    """(allowed, on_behalf_of): may this member apply the transition? A delegate of an absent assignee may."""
    rule = transition.allowed
    if rule is None:
        return membership.can("dossier.edit"), None
    if set(rule.roles) & set(membership.roles):
        return True, None
    wanted_services = {str(s).casefold() for s in rule.services}
    if wanted_services and {s.name.casefold() for s in membership.services.all()} & wanted_services:
        return True, None
    if rule.assignee and dossier.assignee_id is not None:
        if dossier.assignee_id == membership.user_id:
            return True, None
        from mairie.dossiers.delegation import resolve_assignee

        delegate, absent = resolve_assignee(organisation=dossier.holder, user=dossier.assignee)
        if absent is not None and delegate.pk == membership.user_id:
            return True, dossier.assignee
    return False, None


def condition_context(dossier: Dossier) -> dict[str, Any]:
    contact = dossier.contact
    return {
        "data": dossier.data or {},
        "dossier": {
            "status": dossier.status,
            "reference": dossier.reference,
            "subject": dossier.subject,
            "service": dossier.service.name if dossier.service_id and dossier.service else None,
            "shared": dossier.holder_id != dossier.organisation_id,
        },
        "contact": (
            {"kind": contact.kind, "name": contact.name, "email": contact.email}
            if contact is not None
            else {}
        ),
    }


def check_transition(
    dossier: Dossier, name: str, *, actor: Any, organisation: Organisation | None = None, system: bool = False
) -> tuple[Transition, Any]:
    """The transition and the person acted for, or TransitionRefused saying why."""
    definition = dossier.workflow.parsed
    try:
        transition = definition.transition(name)
    except KeyError:
        raise TransitionRefused(
            f"Le circuit « {dossier.workflow.title} » n'a pas d'action « {name} ».", code="unknown"
        ) from None
    if dossier.closed_at is not None:
        raise TransitionRefused(f"Le dossier {dossier.reference} est clos.", code="closed")
    if dossier.status not in transition.sources:
        raise TransitionRefused(
            f"« {transition.label} » n'est pas possible à l'étape « {definition.label(dossier.status)} ».",
            code="state",
        )
    on_behalf_of = None
    if not system:
        if transition.automatic:
            raise TransitionRefused(
                f"« {transition.label} » se fait automatiquement, pas à la main.", code="automatic"
            )
        in_holder = membership_in(dossier.holder, actor) if organisation is None else None
        acting = organisation or (dossier.holder if in_holder is not None else dossier.organisation)
        if acting.pk != dossier.holder_id:
            raise TransitionRefused(
                f"Le dossier est actuellement instruit par {dossier.holder.name} : "
                "c'est à cette organisation de le faire avancer.",
                code="holder",
            )
        membership = in_holder if in_holder is not None else membership_in(acting, actor)
        if membership is None:
            raise TransitionRefused(
                "Vous n'êtes pas membre de l'organisation qui instruit ce dossier.", code="rights"
            )
        allowed, on_behalf_of = _allowed(dossier, transition, membership)
        if not allowed:
            raise TransitionRefused(
                f"Votre rôle ne permet pas « {transition.label} » sur ce dossier.", code="rights"
            )
    if not transition.condition_holds(condition_context(dossier)):
        raise TransitionRefused(
            f"« {transition.label} » n'est pas possible : la condition « {transition.condition} » "
            "n'est pas remplie.",
            code="condition",
        )
    return transition, on_behalf_of


def available_transitions(
    dossier: Dossier, *, actor: Any, organisation: Organisation | None = None
) -> list[Transition]:
    """The transitions this person may apply now (the buttons of the dossier page)."""
    result = []
    for transition in dossier.workflow.parsed.transitions_from(dossier.status):
        if transition.automatic:
            continue
        try:
            check_transition(dossier, transition.id, actor=actor, organisation=organisation)
        except TransitionRefused:
            continue
        result.append(transition)
    return result


# --- Applying a transition ------------------------------------------------------------------------------


@dataclass
class ActionContext:
    """What an action runner receives. Runners write through services and may raise ActionFailed."""

    dossier: Dossier
    params: dict[str, Any]
    actor: Any
    acting_organisation: Organisation
    transition: str = ""
    on_behalf_of: Any = None
    notes: list[str] = field(default_factory=list)


def run_actions(
    dossier: Dossier,
    actions: Iterable[ActionCall],
    *,
    actor: Any,
    acting: Organisation,
    transition: str,
    on_behalf_of: Any,
) -> None:
    from mairie.workflows.actions import runner_for

    for call in actions:
        runner_for(call.name)(
            ActionContext(
                dossier=dossier,
                params=dict(call.params),
                actor=actor,
                acting_organisation=acting,
                transition=transition,
                on_behalf_of=on_behalf_of,
            )
        )


def enter_status(
    dossier: Dossier, *, actor: Any, acting: Organisation, transition: str = "", on_behalf_of: Any = None
) -> None:
    """Run the ``on_enter`` actions of the dossier's current status (also used when a dossier is created)."""
    status = dossier.workflow.parsed.status(dossier.status)
    run_actions(
        dossier,
        status.on_enter,
        actor=actor,
        acting=acting,
        transition=transition,
        on_behalf_of=on_behalf_of,
    )
    if status.final and dossier.closed_at is None:
        close_dossier(dossier)


def close_dossier(dossier: Dossier) -> None:
    """Clos: no work left open on it (tasks, opinions and timers are cancelled)."""
    now = timezone.now()
    dossier.closed_at = now
    Dossier.objects.filter(pk=dossier.pk).update(closed_at=now)
    Task.objects.filter(dossier=dossier, status=Task.Status.OPEN).update(status=Task.Status.CANCELLED)
    Opinion.objects.filter(dossier=dossier, status=Opinion.Status.PENDING).update(
        status=Opinion.Status.CANCELLED
    )
    WorkflowTimer.objects.filter(dossier=dossier, fired_at__isnull=True).update(fired_at=now)


def apply_transition(
    *,
    dossier: Dossier,
    transition: str,
    actor: Any,
    organisation: Organisation | None = None,
    comment: str = "",
    system: bool = False,
) -> Dossier:
    """Apply one transition: rights, state, condition, move, actions, timeline and journal, in one transaction.

    ``organisation`` is the one the person acts for (default: the organisation holding the dossier).
    ``system=True`` is the platform itself (timers, opinions all given, a circuit completed): no rights check,
    and ``automatic`` transitions are allowed. Raises TransitionRefused (nothing changed) with a French reason.
    """
    with transaction.atomic():
        locked = (
            Dossier.objects.select_for_update(of=("self",))
            .select_related("workflow", "holder", "organisation", "contact", "service")
            .get(pk=dossier.pk)
        )
        spec, on_behalf_of = check_transition(
            locked, transition, actor=actor, organisation=organisation, system=system
        )
        definition = locked.workflow.parsed
        previous = locked.status
        locked.status = spec.to
        locked.save(update_fields=["status", "updated_at"])
        if previous != locked.status:
            # A timer waits for the dossier to stay where it was set; leaving the status disarms it.
            WorkflowTimer.objects.filter(dossier=locked, fired_at__isnull=True, status=previous).update(
                fired_at=timezone.now()
            )
        acting = organisation or locked.holder
        summary = f"{spec.label} : {definition.label(previous)} → {definition.label(locked.status)}"
        comment = comment.strip()
        record_event(
            dossier=locked,
            kind="transition",
            summary=summary + (f". « {comment[:1000]} »" if comment else ""),
            actor=None if system else actor,
            acting_organisation=acting,
            on_behalf_of=on_behalf_of,
            data={"transition": transition, "from": previous, "to": locked.status, "system": system},
        )
        run_actions(
            locked,
            spec.actions,
            actor=actor,
            acting=acting,
            transition=transition,
            on_behalf_of=on_behalf_of,
        )
        enter_status(locked, actor=actor, acting=acting, transition=transition, on_behalf_of=on_behalf_of)
    if locked is not dossier:  # the caller's object follows (status, holder, data, closed_at…)
        for name in ("status", "holder", "data", "closed_at", "service_id", "assignee_id", "updated_at"):
            setattr(dossier, name, getattr(locked, name))
    return locked


def try_system_transition(dossier: Dossier, transition: str, *, reason: str) -> bool:
    """Apply a transition on the platform's behalf (a timer, all opinions given, a circuit completed). When it
    cannot apply (the dossier moved meanwhile, a condition is not met), the timeline says so; never raises
    TransitionRefused."""
    try:
        apply_transition(dossier=dossier, transition=transition, actor=None, system=True)
    except TransitionRefused as exc:
        with transaction.atomic():
            record_event(
                dossier=dossier,
                kind="transition.skipped",
                summary=f"{reason} : passage automatique non effectué. {exc.message}",
                data={"transition": transition, "code": exc.code},
            )
        return False
    return True
