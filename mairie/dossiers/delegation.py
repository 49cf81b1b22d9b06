"""Delegation during absences: while an agent is away, what is meant for them goes to their delegate.

An ``Absence`` (organisation, user, delegate, from, to) covers whole days, bounds included. Chains are followed
(A is away and delegates to B, who is away too and delegates to C: A's work goes to C); a cycle (A → B → A)
gives the work back to the person it was meant for, since everyone on the way is away.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from mairie.audit import services as audit
from mairie.dossiers.models import Absence
from mairie.organisations.models import Membership, Organisation


def _label(user: Any) -> str:
    return (user.get_full_name() or user.get_username()).strip()


def _covering(*, organisation: Organisation, user_id: int, on: datetime.date) -> Absence | None:
    return (
        Absence.objects.for_org(organisation)
        .filter(user_id=user_id, starts_on__lte=on, ends_on__gte=on)
        .select_related("delegate")
        .order_by("starts_on", "id")
        .first()
    )


def _is_active_member(organisation: Organisation, user: Any) -> bool:
    return Membership.objects.filter(
        organisation=organisation, user=user, is_active=True, user__is_active=True
    ).exists()


def resolve_assignee(
    *, organisation: Organisation, user: Any, on: datetime.date | None = None
) -> tuple[Any, Any | None]:
    """Who should get work meant for ``user`` in ``organisation`` on day ``on`` (today by default).

    Returns ``(delegate, user)`` when ``user`` is away (the delegate at the end of the chain), otherwise
    ``(user, None)``. A delegate who is no longer an active member of the organisation ends the chain at the
    person before them; a cycle (everyone on it away) gives ``(user, None)``.
    """
    if user is None:
        return None, None
    day = on or timezone.localdate()
    current = user
    seen = {user.pk}
    while True:
        absence = _covering(organisation=organisation, user_id=current.pk, on=day)
        if absence is None:
            break
        delegate = absence.delegate
        if delegate.pk in seen:
            # A cycle: everyone on it is away. Nobody is better placed than the person it was meant for.
            return user, None
        if not _is_active_member(organisation, delegate):
            break
        seen.add(delegate.pk)
        current = delegate
    if current.pk == user.pk:
        return user, None
    return current, user


def _check_may_manage(*, organisation: Organisation, user: Any, actor: Any) -> None:
    if actor is None or getattr(actor, "pk", None) == user.pk:
        return  # the system (commands, imports) or the person themselves
    membership = Membership.objects.filter(organisation=organisation, user=actor, is_active=True).first()
    if membership is None or not membership.can("org.admin"):
        raise PermissionDenied("Seul un administrateur peut gérer l'absence d'une autre personne.")


@transaction.atomic
def set_absence(
    *,
    organisation: Organisation,
    user: Any,
    delegate: Any,
    starts_on: datetime.date,
    ends_on: datetime.date,
    reason: str = "",
    actor: Any,
) -> Absence:
    """Declare ``user`` away from ``starts_on`` to ``ends_on`` (inclusive), ``delegate`` standing in.

    The person themselves, an administrator of the organisation or the system (``actor=None``) may do it. Raises ``ValidationError`` (in
    French) when the delegate is not an active member of the organisation, is the person themselves, when the
    dates are out of order or when the period overlaps another absence of the same person.
    """
    _check_may_manage(organisation=organisation, user=user, actor=actor)
    if not _is_active_member(organisation, user):
        raise ValidationError({"user": "Cette personne n'est pas membre active de l'organisation."})
    if delegate is None:
        raise ValidationError({"delegate": "Choisissez la personne qui vous remplace."})
    if delegate.pk == user.pk:
        raise ValidationError({"delegate": "On ne peut pas se désigner soi-même comme remplaçant."})
    if not _is_active_member(organisation, delegate):
        raise ValidationError({"delegate": "Le remplaçant doit être membre actif de l'organisation."})
    if starts_on is None or ends_on is None:
        raise ValidationError({"starts_on": "Indiquez les dates de début et de fin de l'absence."})
    if ends_on < starts_on:
        raise ValidationError(
            {"ends_on": "La date de fin doit être postérieure ou égale à la date de début."}
        )
    reason = (reason or "").strip()
    if len(reason) > 200:
        raise ValidationError({"reason": "Le motif ne doit pas dépasser 200 caractères."})
    # Lock the person's absences (PostgreSQL) so that two declarations at once cannot both pass the check.
    overlapping = (
        Absence.objects.for_org(organisation)
        .select_for_update()
        .filter(user=user, starts_on__lte=ends_on, ends_on__gte=starts_on)
        .order_by("starts_on")
        .first()
    )
    if overlapping is not None:
        raise ValidationError(
            {
                "starts_on": (
                    "Cette période chevauche une autre absence déclarée "
                    f"(du {overlapping.starts_on:%d/%m/%Y} au {overlapping.ends_on:%d/%m/%Y})."
                )
            }
        )
    absence = Absence.objects.create(
        organisation=organisation,
        user=user,
        delegate=delegate,
        starts_on=starts_on,
        ends_on=ends_on,
        reason=reason,
    )
    audit.record(
        organisation=organisation,
        actor=actor,
        action="absence.set",
        summary=(
            f"Absence de {_label(user)} du {starts_on:%d/%m/%Y} au {ends_on:%d/%m/%Y}, "
            f"remplacé(e) par {_label(delegate)}" + (f" ({reason})" if reason else "")
        ),
        obj=absence,
    )
    return absence


@transaction.atomic
def end_absence(*, absence: Absence, actor: Any, today: datetime.date | None = None) -> Absence | None:
    """End an absence now: it stops covering today. One that has not started yet is withdrawn (deleted).

    Returns the absence (ended yesterday), or ``None`` when it was withdrawn.
    """
    organisation = absence.organisation
    _check_may_manage(organisation=organisation, user=absence.user, actor=actor)
    day = today or timezone.localdate()
    yesterday = day - datetime.timedelta(days=1)
    label = _label(absence.user)
    if absence.ends_on < day:
        raise ValidationError("Cette absence est déjà terminée.")
    if absence.starts_on > yesterday:
        summary = f"Absence de {label} du {absence.starts_on:%d/%m/%Y} au {absence.ends_on:%d/%m/%Y} annulée"
        audit.record(
            organisation=organisation, actor=actor, action="absence.cancel", summary=summary, obj=absence
        )
        absence.delete()
        return None
    absence.ends_on = yesterday
    absence.save(update_fields=["ends_on"])
    audit.record(
        organisation=organisation,
        actor=actor,
        action="absence.end",
        summary=f"Fin de l'absence de {label} (retour le {day:%d/%m/%Y})",
        obj=absence,
    )
    return absence
