from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from mairie.signatures.services import MAX_P12_BYTES, MIN_PIN_LENGTH

# The verification page reads the whole file in memory: a signed PDF of a dossier is a few megabytes.
MAX_VERIFY_BYTES = min(settings.MAX_UPLOAD_MB, 50) * 1024 * 1024


def _read_upload(upload: Any, limit: int, what: str) -> bytes:
    if upload.size > limit:
        raise forms.ValidationError(f"{what} trop volumineux (au plus {limit // 1024 // 1024 or 1} Mo).")
    return bytes(upload.read())


class CertificateForm(forms.Form):
    """A person's PKCS#12, its password, and the PIN chosen to unlock it at each signature."""

    file = forms.FileField(
        label="Certificat de signature (.p12 ou .pfx)",
        help_text="Le fichier exporté avec sa clé privée, tel que fourni par votre autorité de certification.",
        widget=forms.ClearableFileInput(attrs={"accept": ".p12,.pfx,application/x-pkcs12"}),
    )
    password = forms.CharField(
        label="Mot de passe du fichier",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Il sert une seule fois, pour ouvrir le fichier ; il n'est pas conservé.",
    )
    pin = forms.CharField(
        label="Code PIN de signature",
        min_length=MIN_PIN_LENGTH,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=f"Au moins {MIN_PIN_LENGTH} caractères. Il vous sera demandé à chaque signature ; "
        "la plateforme ne peut pas le retrouver.",
    )
    pin_confirmation = forms.CharField(
        label="Code PIN de signature (confirmation)",
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    def clean_file(self) -> bytes:
        return _read_upload(self.cleaned_data["file"], MAX_P12_BYTES, "Fichier")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        pin, confirmation = data.get("pin"), data.get("pin_confirmation")
        if pin and confirmation is not None and pin != confirmation:
            self.add_error("pin_confirmation", "Les deux saisies du code PIN ne sont pas identiques.")
        return data


class SealForm(forms.Form):
    file = forms.FileField(
        label="Certificat du cachet serveur (.p12 ou .pfx)",
        help_text="Le certificat de cachet de l'organisation, avec sa clé privée.",
        widget=forms.ClearableFileInput(attrs={"accept": ".p12,.pfx,application/x-pkcs12"}),
    )
    password = forms.CharField(
        label="Mot de passe du fichier",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )

    def clean_file(self) -> bytes:
        return _read_upload(self.cleaned_data["file"], MAX_P12_BYTES, "Fichier")


class VerifyForm(forms.Form):
    file = forms.FileField(
        label="PDF signé",
        help_text="Le fichier est lu pour la vérification puis oublié : il n'est pas enregistré.",
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,application/pdf"}),
    )

    def clean_file(self) -> bytes:
        data = _read_upload(self.cleaned_data["file"], MAX_VERIFY_BYTES, "PDF")
        if not data.startswith(b"%PDF"):
            raise forms.ValidationError("Ce fichier n'est pas un PDF.")
        return data
