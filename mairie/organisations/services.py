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
from mairie.search.normalise import fold

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


# --- Services ----------------------------------------------------------------------------------------


def _check_service_name(organisation: Organisation, name: str, exclude_pk: int | None = None) -> str:
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"name": "Le nom du service est obligatoire."})
    if len(name) > 120:
        raise ValidationError({"name": "Le nom du service ne doit pas dépasser 120 caractères."})
    # Compared without case or accents ("ETAT CIVIL" is "État civil"), in Python: SQLite's LIKE folds ASCII only.
    others = Service.objects.for_org(organisation)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    if fold(name) in {fold(other) for other in others.values_list("name", flat=True)}:
        raise ValidationError({"name": f"Un service « {name} » existe déjà dans cette organisation."})
    return name


def add_service(*, actor: Any, organisation: Organisation, name: str, email: str = "") -> Service:
    name = _check_service_name(organisation, name)
    with transaction.atomic():
        service = Service.objects.create(organisation=organisation, name=name, email=email.strip())
        record(
            organisation=organisation,
            actor=actor,
            action="service.created",
            summary=f"Service « {name} » créé.",
            obj=service,
        )
    return service


def update_service(
    *,
    actor: Any,
    service: Service,
    name: str,
    email: str = "",
    is_active: bool = True,
    head: Any = None,
) -> Service:
    """Rename a service, change its address, deactivate or reactivate it.

    A deactivated service is no longer offered for new assignments; its courriers keep it.
    """
    organisation = service.organisation
    name = _check_service_name(organisation, name, exclude_pk=service.pk)
    with transaction.atomic():
        current = Service.objects.for_org(organisation).select_for_update().get(pk=service.pk)
        changes = []
        if current.name != name:
            changes.append(f"renommé « {current.name} » → « {name} »")
        if current.email != email.strip():
            changes.append("adresse électronique modifiée")
        if current.is_active != is_active:
            changes.append("réactivé" if is_active else "désactivé")
        head_id = getattr(head, "pk", None)
        if (
            head_id is not None
            and not Membership.objects.filter(
                organisation=organisation, user_id=head_id, is_active=True
            ).exists()
        ):
            raise ValidationError({"head": "Le responsable doit être membre de l'organisation."})
        if current.head_id != head_id:
            who = (head.get_full_name() or head.get_username()) if head is not None else "aucun"
            changes.append(f"responsable : {who}")
        if not changes:
            return current
        current.name, current.email, current.is_active = name, email.strip(), is_active
        current.head_id = head_id
        current.save(update_fields=["name", "email", "is_active", "head"])
        record(
            organisation=organisation,
            actor=actor,
            action="service.updated",
            summary=f"Service « {name} » : {', '.join(changes)}.",
            obj=current,
        )
    return current


# --- Logo --------------------------------------------------------------------------------------------

LOGO_MAX_BYTES = 2 * 1024 * 1024
LOGO_MAX_SIDE = 4000
LOGO_REFUSED = "Le logo doit être une image PNG ou JPEG de 2 Mo au plus."


def check_logo(data: bytes) -> str:
    """The logo's format (``png`` or ``jpeg``), read from its content; ValidationError in French otherwise."""
    import io

    from PIL import Image, UnidentifiedImageError

    from mairie.documents.checks import (
        strict_image_checking,  # a truncated image fails, even after WeasyPrint
    )

    if not data:
        raise ValidationError({"logo": "Le fichier est vide. " + LOGO_REFUSED})
    if len(data) > LOGO_MAX_BYTES:
        raise ValidationError({"logo": f"Le fichier fait {len(data) / 1_048_576:.1f} Mo. " + LOGO_REFUSED})
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        kind = "png"
    elif data.startswith(b"\xff\xd8\xff"):
        kind = "jpeg"
    else:
        raise ValidationError({"logo": "Ce fichier n'est pas une image PNG ou JPEG. " + LOGO_REFUSED})
    try:
        with strict_image_checking(), Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width > LOGO_MAX_SIDE or height > LOGO_MAX_SIDE:
                raise ValidationError(
                    {
                        "logo": f"L'image mesure {width} × {height} pixels ; le logo ne doit pas dépasser "
                        f"{LOGO_MAX_SIDE} × {LOGO_MAX_SIDE} pixels."
                    }
                )
            image.load()  # decodes it: a truncated or damaged image is refused here
    except ValidationError:
        raise
    except Image.DecompressionBombError as exc:  # dimensions far beyond the limit, refused before decoding
        raise ValidationError(
            {
                "logo": f"L'image est beaucoup trop grande ; le logo ne doit pas dépasser "
                f"{LOGO_MAX_SIDE} × {LOGO_MAX_SIDE} pixels."
            }
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValidationError({"logo": "L'image est endommagée ou illisible. " + LOGO_REFUSED}) from exc
    return kind


def set_logo(*, actor: Any, organisation: Organisation, data: bytes) -> Organisation:
    """Store a new logo (checked by content) and record it; the previous file is deleted afterwards."""
    import hashlib

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    kind = check_logo(data)
    extension = "png" if kind == "png" else "jpg"
    name = f"logos/{organisation.slug}-{hashlib.sha256(data).hexdigest()[:16]}.{extension}"
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(data))
    with transaction.atomic():
        org = Organisation.objects.select_for_update().get(pk=organisation.pk)
        previous = org.logo.name if org.logo else ""
        org.logo.name = name
        org.save(update_fields=["logo"])
        record(organisation=org, actor=actor, action="organisation.logo", summary="Logo remplacé.", obj=org)
    if previous and previous != name:
        transaction.on_commit(lambda: default_storage.delete(previous))
    return org


def remove_logo(*, actor: Any, organisation: Organisation) -> Organisation:
    from django.core.files.storage import default_storage

    with transaction.atomic():
        org = Organisation.objects.select_for_update().get(pk=organisation.pk)
        previous = org.logo.name if org.logo else ""
        if not previous:
            return org
        org.logo.name = ""
        org.save(update_fields=["logo"])
        record(organisation=org, actor=actor, action="organisation.logo", summary="Logo retiré.", obj=org)
    transaction.on_commit(lambda: default_storage.delete(previous))
    return org
