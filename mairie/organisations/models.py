from __future__ import annotations

from django.conf import settings
from django.db import models

from mairie.core.tenancy import TenantManager
from mairie.core.validators import validate_departement_code, validate_insee_code, validate_siren


class Organisation(models.Model):
    class Kind(models.TextChoices):
        COMMUNE = "commune", "Commune"
        EPCI = "epci", "EPCI (intercommunalité)"
        SYNDICAT = "syndicat", "Syndicat"
        DEPARTEMENT = "departement", "Département"

    kind = models.CharField("type", max_length=16, choices=Kind.choices, default=Kind.COMMUNE)
    name = models.CharField("nom", max_length=200)
    slug = models.SlugField("identifiant court", max_length=60, unique=True)
    siren = models.CharField("SIREN", max_length=9, blank=True, validators=[validate_siren])
    insee_code = models.CharField("code INSEE", max_length=5, blank=True, validators=[validate_insee_code])
    departement_code = models.CharField(
        "code du département", max_length=3, blank=True, validators=[validate_departement_code]
    )
    parent = models.ForeignKey(
        "self",
        verbose_name="structure de rattachement",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    population = models.PositiveIntegerField("population", null=True, blank=True)
    address_line1 = models.CharField("adresse", max_length=200, blank=True)
    address_line2 = models.CharField("complément d'adresse", max_length=200, blank=True)
    postal_code = models.CharField("code postal", max_length=5, blank=True)
    city = models.CharField("commune (adresse)", max_length=120, blank=True)
    phone = models.CharField("téléphone", max_length=30, blank=True)
    email = models.EmailField("adresse électronique", blank=True)
    website = models.URLField("site internet", blank=True)
    logo = models.ImageField("logo", upload_to="logos/", blank=True)
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "organisation"
        constraints = [
            models.UniqueConstraint(fields=["siren"], condition=~models.Q(siren=""), name="unique_siren"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def postal_address(self) -> str:
        lines = [self.address_line1, self.address_line2, f"{self.postal_code} {self.city}".strip()]
        return "\n".join(line for line in lines if line)

    def ancestors(self) -> list[Organisation]:
        chain: list[Organisation] = []
        node = self.parent
        while node is not None and node not in chain:
            chain.append(node)
            node = node.parent
        return chain

    def descendant_ids(self) -> set[int]:
        """Ids of every organisation below this one (children, grand-children…), one query per level."""
        found: set[int] = set()
        frontier = {self.pk}
        while frontier:
            level = set(Organisation.objects.filter(parent_id__in=frontier).values_list("pk", flat=True))
            frontier = level - found
            found |= level
        return found


class Service(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="services")
    name = models.CharField("nom", max_length=120)
    email = models.EmailField("adresse électronique", blank=True)
    is_active = models.BooleanField("actif", default=True)
    # The service head: overdue tasks of the service are escalated to them (else to the administrators).
    head = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="responsable du service",
    )

    objects = TenantManager["Service"]()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"], name="unique_service_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Administrateur"
    COURRIER = "courrier", "Gestionnaire du courrier"
    AGENT = "agent", "Agent"
    ELU = "elu", "Élu"
    LECTURE = "lecture", "Lecture seule"


# What each role may do. Object-level rules (an agent edits the courriers of their services) live in the
# services that use these capabilities.
CAPABILITIES: dict[str, set[str]] = {
    "courrier.view": {Role.ADMIN, Role.COURRIER, Role.AGENT, Role.ELU, Role.LECTURE},
    "courrier.register": {Role.ADMIN, Role.COURRIER, Role.AGENT},
    "courrier.edit": {Role.ADMIN, Role.COURRIER, Role.AGENT},
    "courrier.edit_any": {Role.ADMIN, Role.COURRIER},
    "courrier.comment": {Role.ADMIN, Role.COURRIER, Role.AGENT, Role.ELU},
    "courrier.export": {Role.ADMIN, Role.COURRIER},
    "dossier.view": {Role.ADMIN, Role.COURRIER, Role.AGENT, Role.ELU, Role.LECTURE},
    "dossier.edit": {Role.ADMIN, Role.COURRIER, Role.AGENT},
    # Visa and signature in the parapheur: elected members and administrators (and anyone a circuit names).
    "circuit.sign": {Role.ADMIN, Role.ELU},
    "org.admin": {Role.ADMIN},
    "jobs.admin": {Role.ADMIN},
}


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="memberships")
    roles = models.JSONField("rôles", default=list)
    services = models.ManyToManyField(Service, blank=True, related_name="members", verbose_name="services")
    title = models.CharField("fonction", max_length=120, blank=True)
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantManager["Membership"]()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organisation"], name="unique_membership"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organisation}"

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def can(self, capability: str) -> bool:
        allowed = CAPABILITIES[capability]
        return any(role in allowed for role in self.roles)

    @property
    def role_labels(self) -> list[str]:
        labels = dict(Role.choices)
        return [str(labels.get(role, role)) for role in self.roles]
