from __future__ import annotations

from typing import Any

from django import forms

from mairie.mail.models import Mailbox
from mairie.organisations.models import Organisation, Service

KEEP = "Enregistré — laisser vide pour conserver."


class MailboxForm(forms.Form):
    """Add or change a mailbox. Secrets are never sent back to the browser: an empty field keeps them."""

    label = forms.CharField(label="Nom", max_length=120, help_text="Par exemple « Boîte de la mairie ».")
    service = forms.ModelChoiceField(
        label="Service destinataire",
        queryset=Service.objects.none(),
        required=False,
        empty_label="Aucun (à répartir)",
        help_text="Les courriels relevés sont attribués à ce service.",
    )
    host = forms.CharField(label="Serveur IMAP", max_length=255, help_text="Par exemple imap.orange.fr")
    port = forms.IntegerField(label="Port", min_value=1, max_value=65535, initial=993)
    security = forms.ChoiceField(label="Sécurité", choices=Mailbox.Security.choices, initial="tls")
    username = forms.CharField(label="Identifiant", max_length=255, help_text="Souvent l'adresse complète.")
    auth = forms.ChoiceField(label="Authentification", choices=Mailbox.Auth.choices, initial="password")
    password = forms.CharField(
        label="Mot de passe", required=False, widget=forms.PasswordInput(render_value=False)
    )
    client_id = forms.CharField(label="Identifiant client OAuth2", max_length=255, required=False)
    client_secret = forms.CharField(
        label="Secret client OAuth2", required=False, widget=forms.PasswordInput(render_value=False)
    )
    refresh_token = forms.CharField(
        label="Jeton de renouvellement OAuth2", required=False, widget=forms.PasswordInput(render_value=False)
    )
    token_url = forms.URLField(
        label="Adresse du jeton OAuth2",
        max_length=500,
        required=False,
        assume_scheme="https",
        help_text="Par exemple https://oauth2.googleapis.com/token",
    )
    folder = forms.CharField(label="Dossier à relever", max_length=200, initial="INBOX")
    done_folder = forms.CharField(
        label="Dossier des courriels traités",
        max_length=200,
        initial="Traités",
        help_text="Créé s'il n'existe pas ; un courriel n'y est déplacé qu'une fois enregistré.",
    )
    quarantine_folder = forms.CharField(
        label="Dossier de quarantaine",
        max_length=200,
        initial="Quarantaine",
        help_text="Reçoit les courriels refusés par l'antivirus.",
    )

    def __init__(self, *args: Any, organisation: Organisation, mailbox: Mailbox | None = None, **kwargs: Any):
        if mailbox is not None:
            kwargs.setdefault(
                "initial",
                {
                    "label": mailbox.label,
                    "service": mailbox.service_id,
                    "host": mailbox.host,
                    "port": mailbox.port,
                    "security": mailbox.security,
                    "username": mailbox.username,
                    "auth": mailbox.auth,
                    "client_id": mailbox.client_id,
                    "token_url": mailbox.token_url,
                    "folder": mailbox.folder,
                    "done_folder": mailbox.done_folder,
                    "quarantine_folder": mailbox.quarantine_folder,
                },
            )
        super().__init__(*args, **kwargs)
        self.mailbox = mailbox
        self.fields["service"].queryset = Service.objects.for_org(organisation).filter(is_active=True)  # type: ignore[attr-defined]
        if mailbox is not None:
            for name in ("password", "client_secret", "refresh_token"):
                if getattr(mailbox, name):
                    self.fields[name].help_text = KEEP

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        saved = self.mailbox

        def present(name: str) -> bool:
            return bool(data.get(name)) or (saved is not None and bool(getattr(saved, name)))

        if data.get("auth") == Mailbox.Auth.XOAUTH2:
            for name in ("client_id", "refresh_token", "token_url"):
                if not present(name):
                    self.add_error(name, "Nécessaire pour une connexion OAuth2.")
        elif data.get("auth") == Mailbox.Auth.PASSWORD and not present("password"):
            self.add_error("password", "Indiquez le mot de passe de la boîte.")
        return data
