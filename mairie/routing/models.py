"""What the platform suggests for an incoming courrier, and the classifier each organisation learns."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from mairie.core.tenancy import TenantManager


class Suggestion(models.Model):
    """The suggestions for one incoming courrier (service, type, contact, due date, deadline, duplicates).

    Computed by a job at registration (what needs no text: same file, sender's e-mail) and again once the
    documents' text is read. Nothing is applied to the courrier until an agent accepts or corrects it.
    """

    class State(models.TextChoices):
        PENDING = "pending", "À confirmer"
        ACCEPTED = "accepted", "Acceptées"
        CORRECTED = "corrected", "Corrigées par un agent"

    class Source(models.TextChoices):
        RULES = "rules", "règles"
        MODEL = "model", "modèle appris"

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.CASCADE, related_name="+")
    courrier = models.OneToOneField(
        "courrier.Courrier", on_delete=models.CASCADE, related_name="routing_suggestion"
    )
    service = models.ForeignKey(
        "organisations.Service", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The three best services: [{"id": 3, "name": "Urbanisme", "score": 0.82}, …]
    service_choices = models.JSONField(default=list)
    kind = models.CharField(max_length=12, blank=True)
    contact = models.ForeignKey(
        "courrier.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    contact_reason = models.CharField(max_length=200, blank=True)
    # A sender found in the letter but unknown to the register: {"name", "address_line1", "postal_code", …}
    new_contact = models.JSONField(default=dict, blank=True)
    due_date = models.DateField(null=True, blank=True)
    due_reason = models.CharField(max_length=300, blank=True)
    deadline_kind = models.CharField(max_length=40, blank=True)
    deadline_date = models.DateField(null=True, blank=True)
    deadline_basis = models.TextField(blank=True)
    urgent = models.BooleanField(default=False)
    urgent_reason = models.CharField(max_length=300, blank=True)
    # [{"id": 12, "chrono": "2026-A-000123", "reason": "même fichier"}, …]
    duplicates = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.RULES)
    model_samples = models.PositiveIntegerField(default=0)
    with_text = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField()

    objects = TenantManager["Suggestion"]()

    class Meta:
        indexes = [
            models.Index(fields=["organisation", "state", "decided_at"], name="suggestion_org_state_idx"),
        ]

    def __str__(self) -> str:
        return f"Suggestions pour {self.courrier_id}"

    @property
    def source_label(self) -> str:
        if self.source == self.Source.MODEL:
            return f"modèle appris sur {self.model_samples} courriers"
        return "règles"

    @property
    def has_deadline(self) -> bool:
        return bool(self.deadline_kind)


class RoutingModel(models.Model):
    """The classifier of one organisation, learned only from its own agents' routing."""

    organisation = models.OneToOneField(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="+"
    )
    # A pickled scikit-learn pipeline (see routing.classifier): written and read by this platform only.
    blob = models.BinaryField()
    trained_at = models.DateTimeField()
    samples = models.PositiveIntegerField()
    # Labelled courriers of the organisation when it was trained (how many are new is counted from it).
    labelled_count = models.PositiveIntegerField(default=0)
    classes = models.JSONField(default=list)  # [{"id": 3, "name": "Urbanisme", "count": 41}, …]
    kinds = models.JSONField(default=list)
    sklearn_version = models.CharField(max_length=20, blank=True)

    objects = TenantManager["RoutingModel"]()

    def __str__(self) -> str:
        return f"Modèle de {self.organisation_id} ({self.samples} courriers)"
