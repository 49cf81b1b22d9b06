"""Use cases for organisations, services and memberships."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.text import slugify

from mairie.audit.services import record
from mairie.core.validators import normalise_departement
from mairie.organisations.models import Membership, Organisation, Role, Service

DEFAULT_SERVICES = {
    Organisation.Kind.COMMUNE: ["Accueil et secrétariat", "État civil", "Urbanisme", "Services techniques"],
    Organisation.Kind.EPCI: ["Direction générale", "Urbanisme (ADS)", "Déchets", "Eau et assainissement"],
    Organisation.Kind.SYNDICAT: ["Support informatique"],
    Organisation.Kind.DEPARTEMENT: ["Direction générale"],
}


def create_organisation(
    *,
    actor: Any,
    slug: str,
    name: str,
    kind: str,
    siren: str = "",
    insee_code: str = "",
    departement_code: str = "",
    parent: Organisation | None = None,
    with_default_services: bool = True,
    **fields: Any,
) -> Organisation:
    """Create an organisation after full validation; raises ValidationError with French messages."""
    if kind not in Organisation.Kind.values:
        raise ValidationError({"kind": f"Type inconnu « {kind} » : commune, epci, syndicat ou departement."})
    slug = slugify(slug)
    if not slug:
        raise ValidationError({"slug": "L'identifiant court est obligatoire (lettres, chiffres, tirets)."})
    if Organisation.objects.filter(slug=slug).exists():
        raise ValidationError(
            {"slug": f"L'identifiant « {slug} » est déjà utilisé par une autre organisation."}
        )
    if siren and Organisation.objects.filter(siren=siren).exists():
        raise ValidationError({"siren": f"Le SIREN {siren} est déjà celui d'une autre organisation."})
    if parent is not None and parent.kind == Organisation.Kind.COMMUNE:
        raise ValidationError({"parent": "Une commune ne peut pas être structure de rattachement."})
    org = Organisation(
        slug=slug,
        name=name.strip(),
        kind=kind,
        siren=siren.strip(),
        insee_code=insee_code.strip().upper(),
        departement_code=normalise_departement(departement_code) if departement_code else "",
        parent=parent,
        **fields,
    )
    org.full_clean()
    with transaction.atomic():
        org.save()
        if with_default_services:
            Service.objects.bulk_create(
                [Service(organisation=org, name=n) for n in DEFAULT_SERVICES.get(Organisation.Kind(kind), [])]
            )
        record(
            organisation=org,
            actor=actor,
            action="organisation.created",
            summary=f"Organisation « {org.name} » ({org.get_kind_display()}) créée.",
            obj=org,
        )
        if parent is not None:
            record(
                organisation=parent,
                actor=actor,
                action="organisation.member_created",
                summary=f"Membre rattaché créé : « {org.name} » ({org.slug}).",
                obj=org,
            )
    return org


def update_organisation(*, actor: Any, organisation: Organisation, **changes: Any) -> Organisation:
    editable = {
        "name",
        "siren",
        "insee_code",
        "departement_code",
        "population",
        "address_line1",
        "address_line2",
        "postal_code",
        "city",
        "phone",
        "email",
        "website",
        "logo",
    }
    unknown = set(changes) - editable
    if unknown:
        raise ValueError(f"Champs non modifiables : {', '.join(sorted(unknown))}")
    if changes.get("departement_code"):
        changes["departement_code"] = normalise_departement(changes["departement_code"])
    with transaction.atomic():
        org = Organisation.objects.select_for_update().get(pk=organisation.pk)
        changed = [f for f, v in changes.items() if getattr(org, f) != v]
        for field, value in changes.items():
            setattr(org, field, value)
        org.full_clean()
        if changed:
            org.save()
            labels = ", ".join(
                str(getattr(Organisation._meta.get_field(f), "verbose_name", f)) for f in changed
            )
            record(
                organisation=org,
                actor=actor,
                action="organisation.updated",
                summary=f"Coordonnées modifiées : {labels}.",
                obj=org,
            )
    return org


def require_manager(membership: Membership, target: Organisation) -> None:
    """An administrator manages their own organisation and, above communes, every one below it."""
    if not membership.can("org.admin"):
        raise PermissionDenied("Réservé aux administrateurs.")
    if target.pk == membership.organisation_id:
        return
    if target.pk not in membership.organisation.descendant_ids():
        raise PermissionDenied("Cette organisation n'est pas rattachée à la vôtre.")


def add_member(
    *,
    actor: Any,
    organisation: Organisation,
    username: str,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    roles: list[str],
    services: list[Service] | None = None,
    password: str | None = None,
    title: str = "",
) -> Membership:
    """Give a person (created if new) a membership with roles; one person may serve several communes."""
    bad = [r for r in roles if r not in Role.values]
    if bad or not roles:
        raise ValidationError("Choisissez au moins un rôle valide.")
    user_model = get_user_model()
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(
            username=username.strip().lower(),
            defaults={"email": email, "first_name": first_name, "last_name": last_name},
        )
        if created:
            if password:
                user.set_password(password)
            else:
                user.set_unusable_password()
            user.save()
        membership, _ = Membership.objects.update_or_create(
            user=user, organisation=organisation, defaults={"roles": roles, "is_active": True, "title": title}
        )
        if services is not None:
            if any(s.organisation_id != organisation.pk for s in services):
                raise PermissionDenied("Service d'une autre organisation.")
            membership.services.set(services)
        labels = ", ".join(str(Role(r).label) for r in roles)
        record(
            organisation=organisation,
            actor=actor,
            action="membership.set",
            summary=f"{user.get_full_name() or user.username} : rôles {labels}.",
            obj=membership,
        )
    return membership
