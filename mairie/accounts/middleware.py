"""Second factor: a person with an authenticator must confirm a code; administrators must have one."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from mairie.organisations.models import Membership, Role

SESSION_KEY = "mairie_otp_ok"
OPEN_PREFIXES = ("/static/", "/healthz", "/connexion/", "/deconnexion/")


def requires_two_factor(user) -> bool:  # type: ignore[no-untyped-def]
    if user.is_superuser or user.is_staff:
        return True
    return any(
        Role.ADMIN in m.roles for m in Membership.objects.filter(user=user, is_active=True).only("roles")
    )


class TwoFactorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        needs_check = user is not None and user.is_authenticated and not request.session.get(SESSION_KEY)
        if needs_check and not request.path.startswith(OPEN_PREFIXES):
            device = getattr(user, "totp_device", None)
            if device is not None and device.confirmed:
                return redirect(f"{reverse('accounts:verify')}?next={request.get_full_path()}")
            if not requires_two_factor(user):
                # Checked once per session: later requests cost no query.
                request.session[SESSION_KEY] = True
            elif request.path not in (reverse("accounts:totp_setup"), reverse("accounts:logout")):
                return redirect("accounts:totp_setup")
        return self.get_response(request)
