"""Dossiers: one matter, its courriers, files, tasks, opinions and one timeline, moved by a workflow."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from mairie.core.tenancy import TenantManager


class DossierCounter(models.Model):
    """Last dossier number given per organisation and year (advanced in the creating transaction)."""

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.CASCADE, related_name="+")
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "year"], name="unique_dossier_counter"),
        ]


class Dossier(models.Model):
    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    reference = models.CharField("référence", max_length=32)
    subject = models.CharField("objet", max_length=300)
    contact = models.ForeignKey(
        "courrier.Contact",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="usager",
    )
    workflow = models.ForeignKey("workflows.WorkflowDefinition", on_delete=models.PROTECT, related_name="+")
    status = models.CharField("étape", max_length=80)
    # Data the workflow's conditions read (« data.montant > 5000 »), filled by forms and actions.
    data = models.JSONField(default=dict, blank=True)
    service = models.ForeignKey(
        "organisations.Service", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The organisation whose agents move the workflow: the owner, or the one it was handed over to.
    holder = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager["Dossier"]()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "reference"], name="unique_dossier_reference"),
        ]
        indexes = [models.Index(fields=["organisation", "status"], name="dossier_org_status")]

    def __str__(self) -> str:
        return f"{self.reference} — {self.subject}"


class DossierCourrier(models.Model):
    """A courrier (incoming or outgoing) filed in a dossier; a courrier is in one dossier at most."""

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.CASCADE, related_name="+")
    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="courrier_links")
    courrier = models.OneToOneField(
        "courrier.Courrier", on_delete=models.PROTECT, related_name="dossier_link"
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    objects = TenantManager["DossierCourrier"]()


class DossierFile(models.Model):
    """A file of the dossier that is not a registered courrier: a draft, a generated letter, its signed
    version. Bytes are content-addressed (``documents.StoredFile``), never modified: signing makes a new file
    that points at the one it was made from."""

    class Kind(models.TextChoices):
        UPLOADED = "uploaded", "Pièce ajoutée"
        GENERATED = "generated", "Document généré"
        SIGNED = "signed", "Document signé"

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="files")
    title = models.CharField("titre", max_length=200)
    name = models.CharField("nom du fichier", max_length=255)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.UPLOADED)
    stored = models.ForeignKey("documents.StoredFile", on_delete=models.PROTECT, related_name="+")
    mime_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    derived_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="derivatives"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantManager["DossierFile"]()

    class Meta:
        ordering = ["created_at", "id"]


class DossierEvent(models.Model):
    """One line of the dossier's timeline: who (for whom), which organisation, when, what."""

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.CASCADE, related_name="+")
    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Set when the actor acted as someone's delegate (absence) : « Paul Martin pour Marie Dupont ».
    on_behalf_of = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acting_organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=40)
    summary = models.TextField()
    data = models.JSONField(default=dict, blank=True)

    objects = TenantManager["DossierEvent"]()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["dossier", "at"], name="dossier_event_timeline")]


class Task(models.Model):
    """Work asked of an agent or of a service (of the owner, or of an organisation the dossier is shared
    with: ``organisation`` is the one whose agents see it)."""

    class Status(models.TextChoices):
        OPEN = "open", "À faire"
        DONE = "done", "Faite"
        CANCELLED = "cancelled", "Annulée"

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="tasks")
    kind = models.CharField(max_length=20, default="task")  # task, opinion, circuit_step
    title = models.CharField("intitulé", max_length=300)
    description = models.TextField(blank=True)
    service = models.ForeignKey(
        "organisations.Service", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The person the task was meant for when it went to their delegate.
    delegated_from = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_at = models.DateTimeField("échéance", null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager["Task"]()

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [models.Index(fields=["organisation", "status", "due_at"], name="task_org_status_due")]

    def __str__(self) -> str:
        return self.title


class Opinion(models.Model):
    """An opinion (avis) asked of an agent, a service or another organisation, with a deadline. Opinions asked
    together share a ``batch``; when the last of a batch is given (or its deadline passes), the workflow may
    move on by itself (the action's ``then`` transition)."""

    class Status(models.TextChoices):
        PENDING = "pending", "En attente"
        GIVEN = "given", "Rendu"
        EXPIRED = "expired", "Non rendu dans le délai"
        CANCELLED = "cancelled", "Annulé"

    class Verdict(models.TextChoices):
        FAVORABLE = "favorable", "Favorable"
        RESERVES = "reserves", "Favorable avec réserves"
        DEFAVORABLE = "defavorable", "Défavorable"

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="opinions")
    batch = models.CharField(max_length=40)
    then_transition = models.CharField(max_length=80, blank=True)
    task = models.OneToOneField(Task, on_delete=models.PROTECT, related_name="opinion")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    verdict = models.CharField(max_length=12, choices=Verdict.choices, blank=True)
    text = models.TextField("avis", blank=True)
    given_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    given_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager["Opinion"]()

    class Meta:
        ordering = ["id"]


class DossierShare(models.Model):
    """The dossier shared with another organisation: for an opinion, for a task, or handed over."""

    class Purpose(models.TextChoices):
        OPINION = "opinion", "Pour avis"
        TASK = "task", "Pour action"
        HANDOVER = "handover", "Transmis pour instruction"
        VIEW = "view", "Pour information"

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="shares")
    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    note = models.TextField(blank=True)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    granted_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager["DossierShare"]()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dossier", "organisation"],
                condition=models.Q(ended_at__isnull=True),
                name="one_open_share_per_organisation",
            ),
        ]


class Absence(models.Model):
    """An agent's absence with a delegate: meanwhile new tasks and circuit steps go to the delegate."""

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    delegate = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    starts_on = models.DateField("du")
    ends_on = models.DateField("au")
    reason = models.CharField("motif", max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantManager["Absence"]()

    class Meta:
        indexes = [models.Index(fields=["organisation", "user", "ends_on"], name="absence_lookup")]


class WorkflowTimer(models.Model):
    """« Wait a delay, then jump »: fires ``transition`` at ``due_at`` if the dossier is still in ``status``."""

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.CASCADE, related_name="+")
    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="timers")
    status = models.CharField(max_length=80)
    transition = models.CharField(max_length=80)
    due_at = models.DateTimeField()
    fired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["fired_at", "due_at"], name="workflow_timer_due")]
