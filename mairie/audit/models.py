from __future__ import annotations

from django.conf import settings
from django.db import models

from mairie.core.tenancy import TenantManager


class AuditHead(models.Model):
    """The last link of an organisation's chain; locked while a new entry is appended."""

    organisation = models.OneToOneField(
        "organisations.Organisation", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="")


class AuditEntry(models.Model):
    """Append-only journal: one row per change, each chained by hash to the previous one of its organisation."""

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="audit_entries"
    )
    seq = models.PositiveBigIntegerField()
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    summary = models.TextField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = TenantManager["AuditEntry"]()

    class Meta:
        ordering = ["organisation", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "seq"], name="unique_audit_seq"),
        ]
        indexes = [
            models.Index(fields=["organisation", "object_type", "object_id"], name="audit_object_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.summary}"
