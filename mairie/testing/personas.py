"""Named people and organisations used across the test suite (see STYLE.md: a few named personas)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model

from mairie.organisations.models import Membership, Organisation, Role, Service
from mairie.organisations.services import add_member, create_organisation

PASSWORD = "Motdepasse-de-test-42"


@dataclass
class World:
    syndicat: Organisation
    epci: Organisation
    commune: Organisation  # Saint-Aubin-les-Vignes, 412 inhabitants
    other_commune: Organisation  # Villeneuve-sur-Lergue
    secretary: Any  # courrier manager of the commune (and agent of the other commune? no: isolation tests)
    mayor: Any  # élu of the commune
    agent: Any  # agent of the commune's technical service
    commune_admin: Any  # administrator of the commune
    other_agent: Any  # agent of the other commune
    syndicat_admin: Any  # administrator of the syndicat

    def membership(self, user: Any, org: Organisation | None = None) -> Membership:
        return Membership.objects.get(user=user, organisation=org or self.commune)

    def service(self, name: str, org: Organisation | None = None) -> Service:
        return Service.objects.get(organisation=org or self.commune, name=name)


def build_world() -> World:
    syndicat = create_organisation(
        actor=None,
        slug="numerique-34",
        name="Syndicat mixte Hérault Numérique",
        kind="syndicat",
        siren="253400014",
        departement_code="034",
    )
    epci = create_organisation(
        actor=None,
        slug="cc-grand-pic",
        name="Communauté de communes du Grand Pic",
        kind="epci",
        siren="243400017",
        departement_code="034",
        parent=syndicat,
    )
    commune = create_organisation(
        actor=None,
        slug="saint-aubin",
        name="Saint-Aubin-les-Vignes",
        kind="commune",
        siren="213400013",
        insee_code="34250",
        departement_code="034",
        parent=epci,
        population=412,
        address_line1="Place de la Mairie",
        postal_code="34980",
        city="Saint-Aubin-les-Vignes",
        email="mairie@saint-aubin.example",
        phone="04 67 00 00 00",
    )
    other = create_organisation(
        actor=None,
        slug="villeneuve",
        name="Villeneuve-sur-Lergue",
        kind="commune",
        siren="213400021",
        insee_code="34251",
        departement_code="034",
        parent=epci,
        population=1830,
    )

    def person(
        username: str,
        first: str,
        last: str,
        org: Organisation,
        roles: list[str],
        services: tuple[str, ...] | list[str] = (),
    ) -> Any:
        add_member(
            actor=None,
            organisation=org,
            username=username,
            first_name=first,
            last_name=last,
            email=f"{username}@example.org",
            roles=roles,
            password=PASSWORD,
            services=[Service.objects.get(organisation=org, name=s) for s in services],
        )
        return get_user_model().objects.get(username=username)

    return World(
        syndicat=syndicat,
        epci=epci,
        commune=commune,
        other_commune=other,
        secretary=person(
            "secretaire",
            "Sylvie",
            "Marchand",
            commune,
            [Role.COURRIER, Role.AGENT],
            ["Accueil et secrétariat"],
        ),
        mayor=person("maire", "Hélène", "Roussel", commune, [Role.ELU]),
        agent=person("agent", "Karim", "Benali", commune, [Role.AGENT], ["Services techniques"]),
        commune_admin=person("admin-commune", "Claire", "Fabre", commune, [Role.ADMIN]),
        other_agent=person("agent-villeneuve", "Paul", "Vidal", other, [Role.AGENT, Role.COURRIER]),
        syndicat_admin=person("admin-syndicat", "Marc", "Aubert", syndicat, [Role.ADMIN]),
    )


def login(client: Any, user: Any) -> Any:
    """Log a person in for a test client, second factor already confirmed."""
    from mairie.accounts.middleware import SESSION_KEY

    client.force_login(user)
    session = client.session
    session[SESSION_KEY] = True
    session.save()
    return client
