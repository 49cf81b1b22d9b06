from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.inclusion_tag("circuits/_dossier_panel.html", takes_context=True)
def circuits_panel(context: Any, dossier: Any) -> dict[str, Any]:
    """The dossier page's parapheur panel: ``{% load circuits %}{% circuits_panel dossier %}``."""
    from mairie.circuits.views import panel_context

    request = context["request"]
    data = panel_context(request, dossier)
    data["current_org"] = request.organisation
    data["request"] = request
    return data
