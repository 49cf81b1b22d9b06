"""In-app notifications (the bell) and each person's choice of e-mail: at once, a daily digest, or none."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from mairie.core.tenancy import TenantManager


class Notification(models.Model):
    """Something a person should know about, in one organisation: a new task, a circuit step, a reply…"""

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # Dotted name: task.new, task.reminder, task.overdue, circuit.step, opinion.reply, dossier.reply…
    kind = models.CharField("type", max_length=40)
    text = models.CharField("texte", max_length=500)
    url = models.CharField("lien", max_length=500, blank=True)
    dossier = models.ForeignKey(
        "dossiers.Dossier", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField("créée le", auto_now_add=True)
    read_at = models.DateTimeField("lue le", null=True, blank=True)
    # Set when an e-mail carrying it was queued (immediately, or in a digest): never e-mailed twice.
    emailed_at = models.DateTimeField("envoyée par courriel le", null=True, blank=True)

    objects = TenantManager["Notification"]()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "read_at"], name="notification_user_unread"),
            models.Index(fields=["emailed_at", "read_at"], name="notification_digest"),
        ]

    def __str__(self) -> str:
        return self.text


class NotificationPreference(models.Model):
    class Digest(models.TextChoices):
        IMMEDIATE = "immediate", "Un courriel à chaque notification"
        DAILY = "daily", "Un récapitulatif quotidien"
        NONE = "none", "Aucun courriel"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    digest = models.CharField("courriels", max_length=10, choices=Digest.choices, default=Digest.DAILY)
    daily_hour = models.PositiveSmallIntegerField("heure du récapitulatif", default=8)
    # The day the last digest was taken (claimed by a conditional update: one digest a day at most).
    last_digest_on = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user} : {self.get_digest_display()}"
