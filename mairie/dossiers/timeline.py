"""The dossier's timeline: every event (who, for whom, which organisation, when, what), mirrored in the
owning organisation's audit journal in the same transaction."""

from __future__ import annotations

from typing import Any

from mairie.audit import services as audit
from mairie.dossiers.models import Dossier, DossierEvent
from mairie.organisations.models import Organisation


def person_label(user: Any) -> str:
    if user is None:
        return "Système"
    return (user.get_full_name() or user.get_username()).strip()


def record_event(
    *,
    dossier: Dossier,
    kind: str,
    summary: str,
    actor: Any = None,
    acting_organisation: Organisation | None = None,
    on_behalf_of: Any = None,
    data: dict[str, Any] | None = None,
) -> DossierEvent:
    """Append one event to the timeline and to the audit journal (call inside the service's transaction).

    ``kind`` is a dotted name (« transition », « task.created », « circuit.step.approved »…); ``summary`` is
    the French sentence shown to people. ``acting_organisation`` is the organisation the actor acted for
    (another organisation the dossier is shared with), the owner by default. A delegate acting for an absent
    colleague passes ``on_behalf_of``: both names appear.
    """
    acting = acting_organisation or dossier.organisation
    text = summary
    if on_behalf_of is not None and actor is not None and on_behalf_of.pk != actor.pk:
        text = f"{summary} ({person_label(actor)} pour {person_label(on_behalf_of)})"
    event = DossierEvent.objects.create(
        organisation=dossier.organisation,
        dossier=dossier,
        actor=actor if getattr(actor, "pk", None) else None,
        on_behalf_of=on_behalf_of,
        acting_organisation=acting,
        kind=kind,
        summary=text,
        data=data or {},
    )
    where = "" if acting.pk == dossier.organisation_id else f" [{acting.name}]"
    audit.record(
        organisation=dossier.organisation,
        actor=actor if getattr(actor, "pk", None) else None,
        action=f"dossier.{kind}",
        summary=f"{dossier.reference} : {text}{where}",
        obj=dossier,
    )
    return event
