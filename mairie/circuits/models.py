"""The parapheur: visa and signature circuits on one document of a dossier.

A circuit is an ordered list of steps; steps sharing a ``group`` run in parallel, groups run one after the
other. Each step is a visa or a signature, meant for a person, for any member of a role or of a service.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from mairie.core.tenancy import TenantManager


class Circuit(models.Model):
    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", "En cours"
        APPROVED = "approved", "Terminé"
        REFUSED = "refused", "Refusé"
        CANCELLED = "cancelled", "Annulé"

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    dossier = models.ForeignKey("dossiers.Dossier", on_delete=models.CASCADE, related_name="circuits")
    # The document put in the circuit, and its latest signed version (each signature makes a new file).
    file = models.ForeignKey("dossiers.DossierFile", on_delete=models.PROTECT, related_name="+")
    signed_file = models.ForeignKey(
        "dossiers.DossierFile", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.IN_PROGRESS)
    drafter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    then_transition = models.CharField(max_length=80, blank=True)
    on_refuse_transition = models.CharField(max_length=80, blank=True)
    # Why it was refused or cancelled.
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager["Circuit"]()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organisation", "status"], name="circuit_org_status")]

    def __str__(self) -> str:
        return f"Circuit n° {self.pk} — {self.file_id}"

    @property
    def current_file_id(self) -> int:
        return self.signed_file_id or self.file_id


class CircuitStep(models.Model):
    class Kind(models.TextChoices):
        VISA = "visa", "Visa"
        SIGNATURE = "signature", "Signature"

    class Status(models.TextChoices):
        WAITING = "waiting", "À venir"
        PENDING = "pending", "En attente"
        APPROVED = "approved", "Approuvée"
        REFUSED = "refused", "Refusée"
        SKIPPED = "skipped", "Sans objet"

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    circuit = models.ForeignKey(Circuit, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    # Steps of one group run in parallel; groups run in order.
    group = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The target: exactly one of a person, a role (any member with it) or a service (any member of it).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    role = models.CharField(max_length=20, blank=True)
    service = models.ForeignKey(
        "organisations.Service", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    acted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Set when a delegate acted for the person the step was meant for.
    on_behalf_of = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acted_at = models.DateTimeField(null=True, blank=True)
    # The comment given with the approval, or the reason of a refusal.
    comment = models.TextField(blank=True)
    # The signed version this step produced (signature steps).
    signed_file = models.ForeignKey(
        "dossiers.DossierFile", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    task = models.OneToOneField(
        "dossiers.Task", null=True, blank=True, on_delete=models.SET_NULL, related_name="circuit_step"
    )

    objects = TenantManager["CircuitStep"]()

    class Meta:
        ordering = ["circuit", "position"]
        constraints = [
            models.UniqueConstraint(fields=["circuit", "position"], name="unique_circuit_step_position"),
        ]
        indexes = [models.Index(fields=["organisation", "status"], name="circuit_step_org_status")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} n° {self.position}"


class StepAnnotation(models.Model):
    """A comment on a circuit or one of its steps: it does not decide anything."""

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    circuit = models.ForeignKey(Circuit, on_delete=models.CASCADE, related_name="annotations")
    step = models.ForeignKey(
        CircuitStep, null=True, blank=True, on_delete=models.CASCADE, related_name="annotations"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField("annotation")
    at = models.DateTimeField(auto_now_add=True)

    objects = TenantManager["StepAnnotation"]()

    class Meta:
        ordering = ["at", "id"]
