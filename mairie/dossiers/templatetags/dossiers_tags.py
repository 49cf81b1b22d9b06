from __future__ import annotations

from typing import Any

from django import template

from mairie.dossiers.models import DossierCourrier

register = template.Library()


@register.simple_tag
def dossier_panel(courrier: Any, membership: Any) -> dict[str, Any]:
    """What the courrier page shows of dossiers: the courrier's dossier, or the workflows to create one."""
    link = DossierCourrier.objects.filter(courrier=courrier).select_related("dossier").first()
    can_create = bool(membership and membership.can("dossier.edit"))
    workflows: list[Any] = []
    if link is None and can_create:
        from mairie.dossiers.views import workflows_offered

        workflows = workflows_offered(courrier.organisation)
    return {
        "dossier": link.dossier if link else None,
        "can_create": can_create and bool(workflows),
        "workflows": workflows,
    }


@register.inclusion_tag("dossiers/_tasks_panel.html", takes_context=True)
def tasks_panel(context: Any) -> dict[str, Any]:
    """The agent's open tasks (theirs, their services', as a delegate) at the top of the inbox: one query."""
    from django.utils import timezone

    from mairie.dossiers.services import tasks_for

    membership = context.get("current_membership")
    if membership is None:
        return {"tasks": [], "more": False}
    tasks = list(tasks_for(membership)[:6])
    now = timezone.now()
    for task in tasks:
        task.is_late = bool(task.due_at and task.due_at < now)  # type: ignore[attr-defined]
    return {"tasks": tasks[:5], "more": len(tasks) > 5, "current_org": context.get("current_org")}
