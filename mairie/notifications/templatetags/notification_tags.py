from __future__ import annotations

from typing import Any

from django import template

from mairie.notifications.models import Notification

register = template.Library()


@register.simple_tag(takes_context=True)
def unread_notifications(context: Any) -> int:
    """Unread notifications of the person in the current organisation (one COUNT query; 0 outside one)."""
    request = context.get("request")
    organisation = getattr(request, "organisation", None)
    user = getattr(request, "user", None)
    if organisation is None or user is None or not user.is_authenticated:
        return 0
    return Notification.objects.filter(user=user, organisation=organisation, read_at__isnull=True).count()
