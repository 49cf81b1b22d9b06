from __future__ import annotations

from django.conf import settings
from django.db import models

from mairie.core.tenancy import TenantManager


class OutgoingMail(models.Model):
    """One e-mail the platform sends, kept whole (the .eml) from the moment it is decided until it left.

    The row and its message are committed with what caused them (an outgoing courrier…); a job sends it
    afterwards (see ``mairie.core.mailer``). The Message-ID is chosen once, here, so that a message sent
    again after an unknown outcome is recognisable as the same one by the recipient's mail software.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "En attente d'envoi"
        SENT = "sent", "Envoyé"
        FILED = "filed", "Déposé dans la boîte d'envoi locale"
        FAILED = "failed", "Envoi abandonné"

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.CASCADE, related_name="+")
    courrier = models.ForeignKey(
        "courrier.Courrier", null=True, blank=True, on_delete=models.PROTECT, related_name="outgoing_mails"
    )
    message_id = models.CharField(max_length=250, unique=True)
    sender = models.CharField("expéditeur", max_length=320)
    recipients = models.JSONField("destinataires", default=list)
    subject = models.CharField("objet", max_length=500, blank=True)
    raw = models.BinaryField("message complet (.eml)")
    status = models.CharField("état", max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField("essais", default=0)
    last_error = models.TextField("dernière erreur", blank=True)
    next_attempt_at = models.DateTimeField("prochain essai", null=True, blank=True)
    # Set while a job is talking to the server: another job leaves the message alone until it is stale.
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField("envoyé le", null=True, blank=True)
    outbox_path = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantManager["OutgoingMail"]()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organisation", "courrier"], name="outgoingmail_org_courrier_idx"),
            models.Index(fields=["status", "next_attempt_at"], name="outgoingmail_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} → {', '.join(self.recipients)}"

    @property
    def raw_bytes(self) -> bytes:
        return bytes(self.raw)
