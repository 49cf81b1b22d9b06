"""Resolve the organisation of a request from the URL and check the person's membership.

Every agent URL starts with ``/o/<slug>/``. A person without an active membership in that organisation
gets a 404, exactly as if the organisation did not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase

from mairie.organisations.models import Membership, Organisation

LAST_ORG_SESSION_KEY = "mairie_last_org"


class OrgRequest(HttpRequest):
    """The request a view under /o/<slug>/ receives: organisation and membership are resolved."""

    organisation: Organisation
    membership: Membership


def membership_for(user: Any, slug: str) -> Membership:
    membership = (
        Membership.objects.select_related("organisation", "user")
        .filter(user=user, organisation__slug=slug, is_active=True, organisation__is_active=True)
        .first()
    )
    if membership is None:
        raise Http404("Organisation introuvable.")
    return membership


def org_view(
    capability: str = "courrier.view",
) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """Decorator for views under /o/<slug>/: sets request.organisation and request.membership."""

    def decorator(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponseBase:
            membership = membership_for(request.user, slug)
            if not membership.can(capability):
                raise PermissionDenied("Votre rôle ne permet pas cette action.")
            request.membership = membership  # type: ignore[attr-defined]
            request.organisation = membership.organisation  # type: ignore[attr-defined]
            if request.session.get(LAST_ORG_SESSION_KEY) != slug:
                request.session[LAST_ORG_SESSION_KEY] = slug
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def memberships_of(user: Any) -> list[Membership]:
    return list(
        Membership.objects.select_related("organisation")
        .filter(user=user, is_active=True, organisation__is_active=True)
        .order_by("organisation__name")
    )


def managed_organisation_ids(membership: Membership) -> set[int]:
    """Organisations an administrator of an EPCI, syndicat or département manages: all below it."""
    if not membership.can("org.admin"):
        return set()
    if membership.organisation.kind == Organisation.Kind.COMMUNE:
        return set()
    return membership.organisation.descendant_ids()
