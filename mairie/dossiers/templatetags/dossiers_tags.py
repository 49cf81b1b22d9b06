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
