from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from mairie.organisations.access import memberships_of


def organisation(request: HttpRequest) -> dict[str, Any]:
    """The current organisation and, lazily, the others the person belongs to (organisation switcher)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def others() -> list[Any]:
        return memberships_of(user)

    return {
        "current_org": getattr(request, "organisation", None),
        "current_membership": getattr(request, "membership", None),
        "my_memberships": others,
    }
