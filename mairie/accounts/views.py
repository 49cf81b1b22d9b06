from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters

from mairie.accounts import totp
from mairie.accounts.middleware import SESSION_KEY, requires_two_factor
from mairie.accounts.models import TOTPDevice


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code à 6 chiffres de votre application d'authentification",
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class RecoveryForm(forms.Form):
    recovery = forms.CharField(label="Code de secours", max_length=20)


class LoginForm(AuthenticationForm):
    error_messages = {
        "invalid_login": "Identifiant ou mot de passe incorrect. Les majuscules comptent.",
        "inactive": "Ce compte est désactivé. Adressez-vous à l'administrateur de votre organisation.",
    }


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


def _user_id(request: HttpRequest) -> int:
    assert request.user.pk is not None  # views below are login_required
    return int(request.user.pk)


def _safe_next(request: HttpRequest, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or default
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


@sensitive_post_parameters()
@login_required
def verify(request: HttpRequest) -> HttpResponse:
    """Second step of the login for people who have an authenticator."""
    device = TOTPDevice.objects.filter(user_id=_user_id(request), confirmed_at__isnull=False).first()
    if device is None or request.session.get(SESSION_KEY):
        return redirect(_safe_next(request))
    form = CodeForm(request.POST or None)
    recovery_form = RecoveryForm(request.POST or None, prefix="secours")
    if request.method == "POST":
        if "code" in request.POST and form.is_valid() and totp.verify(device, form.cleaned_data["code"]):
            request.session[SESSION_KEY] = True
            request.session.cycle_key()
            return redirect(_safe_next(request))
        if request.POST.get("secours-recovery") and totp.use_recovery_code(
            request.user, request.POST["secours-recovery"]
        ):
            request.session[SESSION_KEY] = True
            request.session.cycle_key()
            messages.warning(request, "Code de secours utilisé. Pensez à en générer de nouveaux.")
            return redirect(_safe_next(request))
        messages.error(request, "Code incorrect ou déjà utilisé. Vérifiez l'heure de votre téléphone.")
    return render(
        request,
        "accounts/verify.html",
        {"form": form, "recovery_form": recovery_form, "next": _safe_next(request)},
        status=200 if request.method == "GET" else 400,
    )


@sensitive_post_parameters()
@login_required
def totp_setup(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: scan the QR code, type one code to confirm."""
    device = TOTPDevice.objects.filter(user_id=_user_id(request)).first()
    if device is not None and device.confirmed and request.session.get(SESSION_KEY):
        return render(request, "accounts/totp_done.html", {"device": device})
    if device is None or device.confirmed:
        device = totp.new_device(request.user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if totp.verify(device, form.cleaned_data["code"]):
            device.confirmed_at = timezone.now()
            device.save(update_fields=["confirmed_at"])
            request.session[SESSION_KEY] = True
            codes = totp.new_recovery_codes(request.user)
            return render(request, "accounts/totp_done.html", {"device": device, "codes": codes})
        messages.error(request, "Code incorrect. Saisissez le code affiché à l'instant par l'application.")
    return render(
        request,
        "accounts/totp_setup.html",
        {
            "form": form,
            "qr_svg": totp.qr_svg(device),
            "secret": device.secret,
            "mandatory": requires_two_factor(request.user),
        },
    )


class LogoutView(auth_views.LogoutView):
    pass
