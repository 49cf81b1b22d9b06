from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from mairie.core.tenancy import TenantManager


class Contact(models.Model):
    """A sender or recipient, person or body, reused across courriers."""

    class Kind(models.TextChoices):
        PERSON = "person", "Particulier"
        BODY = "body", "Organisme ou entreprise"

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField("type", max_length=8, choices=Kind.choices, default=Kind.PERSON)
    name = models.CharField("nom", max_length=200)
    first_name = models.CharField("prénom", max_length=120, blank=True)
    body_name = models.CharField("organisme", max_length=200, blank=True)
    email = models.EmailField("adresse électronique", blank=True)
    phone = models.CharField("téléphone", max_length=30, blank=True)
    address_line1 = models.CharField("adresse", max_length=200, blank=True)
    address_line2 = models.CharField("complément d'adresse", max_length=200, blank=True)
    postal_code = models.CharField("code postal", max_length=10, blank=True)
    city = models.CharField("commune", max_length=120, blank=True)
    match_key = models.CharField(max_length=200, db_index=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantManager["Contact"]()

    class Meta:
        ordering = ["name", "first_name"]
        indexes = [models.Index(fields=["organisation", "match_key"], name="contact_match_idx")]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        if self.kind == self.Kind.PERSON:
            return " ".join(part for part in (self.first_name, self.name) if part)
        return self.name

    @property
    def postal_address(self) -> str:
        lines = [self.address_line1, self.address_line2, f"{self.postal_code} {self.city}".strip()]
        return "\n".join(line for line in lines if line)


class Direction(models.TextChoices):
    ARRIVEE = "arrivee", "Arrivée"
    DEPART = "depart", "Départ"


class Channel(models.TextChoices):
    SCAN = "scan", "Numérisation / dépôt de fichier"
    EMAIL = "email", "Courriel"
    WEB_FORM = "web", "Formulaire en ligne"
    COUNTER = "counter", "Accueil (guichet)"
    PHONE = "phone", "Téléphone"
    POST = "post", "Courrier postal"
    ORGANISATION = "organisation", "Autre collectivité"


class Kind(models.TextChoices):
    LETTER = "letter", "Lettre"
    INVOICE = "invoice", "Facture"
    REQUEST = "request", "Demande"
    COMPLAINT = "complaint", "Réclamation ou recours"
    INVITATION = "invitation", "Invitation"
    OTHER = "other", "Autre"


class Status(models.TextChoices):
    A_ENREGISTRER = "a_enregistrer", "À enregistrer"
    A_TRAITER = "a_traiter", "À traiter"
    EN_COURS = "en_cours", "En cours"
    TRAITE = "traite", "Traité"
    CLASSE = "classe", "Classé"


# The only status changes the register allows (the state machine of a courrier).
TRANSITIONS: dict[str, set[str]] = {
    Status.A_ENREGISTRER: {Status.A_TRAITER, Status.CLASSE},
    Status.A_TRAITER: {Status.EN_COURS, Status.TRAITE, Status.CLASSE},
    Status.EN_COURS: {Status.A_TRAITER, Status.TRAITE, Status.CLASSE},
    Status.TRAITE: {Status.EN_COURS, Status.CLASSE},
    Status.CLASSE: {Status.EN_COURS},
}
OPEN_STATUSES = (Status.A_ENREGISTRER, Status.A_TRAITER, Status.EN_COURS)


class ChronoCounter(models.Model):
    """Last number given per organisation, direction and year; updated in the registering transaction."""

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.CASCADE, related_name="+")
    direction = models.CharField(max_length=8, choices=Direction.choices)
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "direction", "year"], name="unique_chrono_counter"
            ),
        ]


class Courrier(models.Model):
    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="courriers"
    )
    direction = models.CharField("sens", max_length=8, choices=Direction.choices, default=Direction.ARRIVEE)
    year = models.PositiveSmallIntegerField()
    # Empty only inside the registering transaction: the number is taken last, to hold the counter's
    # lock as briefly as possible (see services.register_courrier); a committed courrier always has both.
    number = models.PositiveIntegerField(null=True)
    chrono = models.CharField("numéro chrono", max_length=20, null=True)
    received_at = models.DateTimeField("reçu le", default=timezone.now)
    channel = models.CharField("canal", max_length=12, choices=Channel.choices, default=Channel.SCAN)
    contact = models.ForeignKey(
        Contact,
        verbose_name="expéditeur ou destinataire",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="courriers",
    )
    subject = models.CharField("objet", max_length=500, blank=True)
    kind = models.CharField("type", max_length=12, choices=Kind.choices, default=Kind.LETTER)
    service = models.ForeignKey(
        "organisations.Service",
        verbose_name="service",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="courriers",
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="agent",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_courriers",
    )
    due_date = models.DateField("échéance", null=True, blank=True)
    status = models.CharField("statut", max_length=16, choices=Status.choices, default=Status.A_TRAITER)
    # What an intake channel could not read or keep (a refused attachment, a broken header…), in French,
    # shown to the agent on the courrier's page.
    intake_warnings = models.JSONField("avertissements de réception", default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager["Courrier"]()

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "direction", "year", "number"], name="unique_chrono_number"
            ),
            models.UniqueConstraint(fields=["organisation", "chrono"], name="unique_chrono"),
        ]
        indexes = [
            models.Index(fields=["organisation", "received_at"], name="courrier_org_received_idx"),
            models.Index(fields=["organisation", "status", "received_at"], name="courrier_org_status_idx"),
            models.Index(fields=["organisation", "assigned_to", "status"], name="courrier_org_agent_idx"),
            models.Index(fields=["organisation", "service", "status"], name="courrier_org_service_idx"),
            models.Index(fields=["organisation", "due_date"], name="courrier_org_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.chrono} {self.subject}"

    @property
    def is_overdue(self) -> bool:
        return (
            self.due_date is not None
            and self.status in OPEN_STATUSES
            and self.due_date < timezone.localdate()
        )

    @property
    def display_subject(self) -> str:
        return self.subject or "(objet à compléter)"


class CourrierLink(models.Model):
    class Kind(models.TextChoices):
        REPLY_TO = "reply_to", "Réponse à"
        RELATED = "related", "Lié à"

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.CASCADE, related_name="+")
    source = models.ForeignKey(Courrier, on_delete=models.CASCADE, related_name="links_out")
    target = models.ForeignKey(Courrier, on_delete=models.CASCADE, related_name="links_in")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.RELATED)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = TenantManager["CourrierLink"]()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "target", "kind"], name="unique_courrier_link"),
        ]


class Comment(models.Model):
    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.CASCADE, related_name="+")
    courrier = models.ForeignKey(Courrier, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField("commentaire")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantManager["Comment"]()

    class Meta:
        ordering = ["created_at", "id"]


class IntakeKey(models.Model):
    """Remembers what an intake channel already registered (a scanned file, later an e-mail UID).

    Registering and remembering happen in one transaction, so a crash between "registered" and "moved
    away" never produces a second courrier for the same source.
    """

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=20)
    key = models.CharField(max_length=300)
    courrier = models.ForeignKey(Courrier, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantManager["IntakeKey"]()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "source", "key"], name="unique_intake_key"),
        ]
