from __future__ import annotations

from typing import Any

from django import template

from mairie.courrier.models import Kind
from mairie.routing.models import Suggestion

register = template.Library()


@register.inclusion_tag("routing/_box.html", takes_context=True)
def suggestions_box(context: Any) -> dict[str, Any]:
    """The « Suggestions » box of a courrier page, for the agents who may edit the courrier."""
    courrier = context.get("courrier")
    membership = context.get("current_membership")
    shown = bool(courrier is not None and membership is not None and context.get("can_edit"))
    suggestion = None
    if shown and courrier.direction == "arrivee":
        from mairie.routing.services import preview, suggestion_for

        suggestion = suggestion_for(membership, courrier)
        if suggestion is None and not context.get("documents"):
            suggestion = preview(courrier)
    linked: set[int] = set()
    if suggestion is not None and suggestion.duplicates:
        from mairie.courrier.models import CourrierLink

        linked = set(
            CourrierLink.objects.for_org(courrier.organisation)
            .filter(source=courrier)
            .values_list("target_id", flat=True)
        )
    return {
        "linked": linked,
        "shown": shown and courrier.direction == "arrivee",
        "suggestion": suggestion,
        "courrier": courrier,
        "current_org": context.get("current_org"),
        "csrf_token": context.get("csrf_token"),
        "pending": context.get("pending"),
        "kind_label": str(Kind(suggestion.kind).label) if suggestion and suggestion.kind else "",
        "State": Suggestion.State,
    }


@register.filter
def percent(value: Any) -> str:
    try:
        return f"{float(value) * 100:.0f} %"
    except (TypeError, ValueError):
        return ""


@register.simple_tag
def routing_badges(courrier: Any) -> str:
    """« délai légal » and « urgent » badges for a row of a courrier list.

    Reads only a suggestion the list loaded with its courriers (``select_related("routing_suggestion")``):
    a list that did not ask for it shows no badge rather than one query per row.
    """
    from django.utils.html import format_html_join

    from mairie.courrier.models import OPEN_STATUSES

    descriptor = type(courrier).routing_suggestion
    if not descriptor.related.is_cached(courrier) or courrier.status not in OPEN_STATUSES:
        return ""
    suggestion = descriptor.related.get_cached_value(courrier)
    if suggestion is None:
        return ""
    badges = []
    if suggestion.deadline_kind and suggestion.deadline_date:
        badges.append((f"délai légal {suggestion.deadline_date:%d/%m}", suggestion.deadline_basis[:200]))
    if suggestion.urgent:
        badges.append(("urgent", suggestion.urgent_reason))
    return format_html_join("", ' <span class="badge late" title="{1}">{0}</span>', badges)
