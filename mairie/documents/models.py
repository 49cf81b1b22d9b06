from __future__ import annotations

from django.conf import settings
from django.db import models

from mairie.core.tenancy import TenantManager


class StoredFile(models.Model):
    """One original, content-addressed by SHA-256, written once and never modified.

    A stored file belongs to no organisation: it is only ever reached through a ``Document`` (tenant-owned)
    that points to it, so identical content sent to two communes is kept once.
    """

    sha256 = models.CharField(max_length=64, unique=True)
    size = models.PositiveBigIntegerField()
    mime_type = models.CharField(max_length=100)
    path = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.sha256


class Document(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "En attente de traitement"
        PROCESSING = "processing", "Traitement en cours"
        DONE = "done", "Traité"
        FAILED = "failed", "Échec du traitement"

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="documents"
    )
    courrier = models.ForeignKey(
        "courrier.Courrier", null=True, blank=True, on_delete=models.PROTECT, related_name="documents"
    )
    position = models.PositiveSmallIntegerField(default=0)
    original = models.ForeignKey(StoredFile, on_delete=models.PROTECT, related_name="documents")
    original_name = models.CharField("nom du fichier", max_length=255)
    mime_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    page_count = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    text = models.TextField("texte", blank=True)
    text_source = models.CharField(max_length=12, blank=True)  # "text-layer", "ocr", "mixed", "none"
    processed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = TenantManager["Document"]()

    class Meta:
        ordering = ["courrier_id", "position", "id"]
        indexes = [
            models.Index(fields=["organisation", "status"], name="document_org_status_idx"),
        ]

    def __str__(self) -> str:
        return self.original_name

    @property
    def sha256(self) -> str:
        return self.original.sha256

    def rendition(self, kind: str) -> Rendition | None:
        for rendition in self.renditions.all():
            if rendition.kind == kind:
                return rendition
        return None


class Rendition(models.Model):
    class Kind(models.TextChoices):
        SEARCHABLE_PDF = "pdf", "PDF consultable"
        THUMBNAIL = "thumbnail", "Vignette"
        TEXT = "text", "Texte extrait"

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="renditions")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    path = models.CharField(max_length=200)
    mime_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantManager["Rendition"]()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["document", "kind"], name="unique_rendition_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} de {self.document_id}"
