from __future__ import annotations

from django.conf import settings
from django.db import models

from mairie.core.crypto import EncryptedTextField
from mairie.core.tenancy import TenantManager


class Mailbox(models.Model):
    """An IMAP mailbox whose messages become incoming courriers (see mairie.mail.fetch).

    The secrets (password, OAuth2 client secret and refresh token) are stored encrypted and never shown
    again once saved.
    """

    class Security(models.TextChoices):
        TLS = "tls", "TLS (port 993)"
        STARTTLS = "starttls", "STARTTLS (port 143)"
        PLAIN = "plain", "Sans chiffrement (réseau local uniquement)"

    class Auth(models.TextChoices):
        PASSWORD = "password", "Mot de passe"
        XOAUTH2 = "xoauth2", "OAuth2 (XOAUTH2 : Gmail, Microsoft 365)"

    class LastStatus(models.TextChoices):
        NEVER = "", "Jamais relevée"
        OK = "ok", "Relevée"
        WARNING = "warning", "Relevée avec des avertissements"
        ERROR = "error", "En erreur"

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.CASCADE, related_name="+")
    service = models.ForeignKey(
        "organisations.Service",
        verbose_name="service destinataire",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Les courriels relevés sont attribués à ce service (facultatif).",
    )
    label = models.CharField("nom", max_length=120, help_text="Par exemple « Boîte de la mairie ».")
    host = models.CharField("serveur IMAP", max_length=255)
    port = models.PositiveIntegerField("port", default=993)
    security = models.CharField("sécurité", max_length=10, choices=Security.choices, default=Security.TLS)
    username = models.CharField("identifiant", max_length=255)
    auth = models.CharField("authentification", max_length=10, choices=Auth.choices, default=Auth.PASSWORD)
    password = EncryptedTextField("mot de passe", blank=True, default="")
    client_id = models.CharField("identifiant client OAuth2", max_length=255, blank=True, default="")
    client_secret = EncryptedTextField("secret client OAuth2", blank=True, default="")
    refresh_token = EncryptedTextField("jeton de renouvellement OAuth2", blank=True, default="")
    token_url = models.URLField("adresse du jeton OAuth2", max_length=500, blank=True, default="")
    folder = models.CharField("dossier à relever", max_length=200, default="INBOX")
    done_folder = models.CharField("dossier des courriels traités", max_length=200, default="Traités")
    quarantine_folder = models.CharField("dossier de quarantaine", max_length=200, default="Quarantaine")
    is_active = models.BooleanField("active", default=True)

    last_uidvalidity = models.BigIntegerField(null=True, blank=True, editable=False)
    last_fetch_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_status = models.CharField(max_length=10, choices=LastStatus.choices, default="", blank=True)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    # One pass at a time per mailbox: a worker takes the lease with one conditional UPDATE (mairie.mail.fetch).
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    lease_owner = models.CharField(max_length=100, blank=True, default="", editable=False)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager["Mailbox"]()

    class Meta:
        ordering = ["label", "pk"]
        indexes = [models.Index(fields=["organisation", "is_active"], name="mailbox_org_active")]

    def __str__(self) -> str:
        return f"{self.label} ({self.username}@{self.host})"

    @property
    def address(self) -> str:
        return f"{self.username} sur {self.host}:{self.port}"
