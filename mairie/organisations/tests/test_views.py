"""Organisations and people through the web interface: syndicat admins manage their member communes."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from mairie.audit.models import AuditEntry
from mairie.core.validators import luhn_ok
from mairie.courrier.services import register_courrier
from mairie.organisations.models import Membership, Organisation, Role, Service
from mairie.organisations.services import add_member, create_organisation
from mairie.testing.personas import PASSWORD


def siren_from(prefix: str) -> str:
    """A valid SIREN (Luhn key) starting with eight given digits."""
    return next(prefix + str(key) for key in range(10) if luhn_ok(prefix + str(key)))


def new_commune_form(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "Montarnaud-le-Haut",
        "slug": "montarnaud",
        "kind": "commune",
        "siren": siren_from("21340017"),
        "insee_code": "34163",
        "departement_code": "34",
        "population": "3650",
        "postal_code": "34570",
        "city": "Montarnaud",
        "email": "mairie@montarnaud.example",
    }
    data.update(overrides)
    return data


def contact_form(org: Organisation, **overrides: Any) -> dict[str, Any]:
    fields = [
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
    ]
    data = {field: getattr(org, field) if getattr(org, field) is not None else "" for field in fields}
    data.update(overrides)
    return data


def test_syndicat_admin_creates_edits_and_staffs_a_member_commune(world, as_user):
    client = as_user(world.syndicat_admin)
    page = client.get("/o/numerique-34/structures/")
    assert page.status_code == 200
    assert "Saint-Aubin-les-Vignes" in page.content.decode()  # below the syndicat through the EPCI

    response = client.post("/o/numerique-34/structures/", new_commune_form())
    assert response.status_code == 302, response.content.decode()
    commune = Organisation.objects.get(slug="montarnaud")
    assert commune.parent == world.syndicat
    assert commune.kind == "commune"
    assert commune.departement_code == "034"
    assert commune.population == 3650
    assert Service.objects.for_org(commune).filter(name="État civil").exists()
    assert AuditEntry.objects.for_org(commune).filter(action="organisation.created").exists()
    assert AuditEntry.objects.for_org(world.syndicat).filter(action="organisation.member_created").exists()
    assert "Montarnaud-le-Haut" in client.get("/o/numerique-34/structures/").content.decode()

    edit_url = f"/o/numerique-34/structures/{commune.pk}/"
    assert client.get(edit_url).status_code == 200
    response = client.post(
        edit_url,
        contact_form(commune, address_line1="1 place de la République", phone="04 67 55 00 00"),
    )
    assert response.status_code == 302
    commune.refresh_from_db()
    assert commune.address_line1 == "1 place de la République"
    assert commune.phone == "04 67 55 00 00"
    entry = AuditEntry.objects.for_org(commune).get(action="organisation.updated")
    assert "adresse" in entry.summary and "téléphone" in entry.summary

    etat_civil = Service.objects.for_org(commune).get(name="État civil")
    response = client.post(
        f"/o/numerique-34/structures/{commune.pk}/membres/ajouter/",
        {
            "username": "secretaire-montarnaud",
            "first_name": "Nadia",
            "last_name": "Garcia",
            "email": "nadia@montarnaud.example",
            "roles": [Role.COURRIER, Role.AGENT],
            "services": [etat_civil.pk],
            "password": "Secretariat-Montarnaud-1",
        },
    )
    assert response.status_code == 302
    membership = Membership.objects.get(organisation=commune, user__username="secretaire-montarnaud")
    assert sorted(membership.roles) == sorted([Role.COURRIER, Role.AGENT])
    assert list(membership.services.all()) == [etat_civil]
    assert "Nadia Garcia" in client.get(edit_url).content.decode()

    # The new secretary logs in and works in her commune, and only there.
    newcomer = get_user_model().objects.get(username="secretaire-montarnaud")
    from django.test import Client

    other = Client()
    logged_in = other.post(
        "/connexion/", {"username": newcomer.username, "password": "Secretariat-Montarnaud-1"}
    )
    assert logged_in.status_code == 302
    assert other.get("/o/montarnaud/").status_code == 200
    assert other.get("/o/saint-aubin/").status_code == 404


def test_bad_siren_is_refused_with_a_french_message(world, as_user):
    client = as_user(world.syndicat_admin)
    response = client.post("/o/numerique-34/structures/", new_commune_form(siren="213400012"))
    assert response.status_code == 200
    assert "Ce SIREN n&#x27;est pas valide" in response.content.decode()
    response = client.post("/o/numerique-34/structures/", new_commune_form(siren="2134"))
    assert "Le SIREN doit comporter exactement 9 chiffres." in response.content.decode()
    assert not Organisation.objects.filter(slug="montarnaud").exists()
    # The same check on the details of an existing commune.
    response = client.post(
        f"/o/numerique-34/structures/{world.commune.pk}/", contact_form(world.commune, siren="213400012")
    )
    assert response.status_code == 200
    assert "Ce SIREN n&#x27;est pas valide" in response.content.decode()
    world.commune.refresh_from_db()
    assert world.commune.siren == "213400013"


def test_duplicate_slug_is_refused_in_french(world, as_user):
    client = as_user(world.syndicat_admin)
    response = client.post(
        "/o/numerique-34/structures/", new_commune_form(slug="villeneuve", siren=siren_from("21340009"))
    )
    assert response.status_code == 200
    assert "déjà utilisé" in response.content.decode()


def test_syndicat_admin_manages_communes_below_it_but_not_others(world, as_user):
    unrelated = create_organisation(
        actor=None, slug="syndicat-gard", name="Syndicat numérique du Gard", kind="syndicat"
    )
    elsewhere = create_organisation(
        actor=None, slug="ailleurs", name="Ailleurs-sur-Gardon", kind="commune", parent=unrelated
    )
    client = as_user(world.syndicat_admin)
    below = f"/o/numerique-34/structures/{world.commune.pk}/"
    assert client.get(below).status_code == 200
    response = client.post(below, contact_form(world.commune, phone="04 67 11 22 33"))
    assert response.status_code == 302
    world.commune.refresh_from_db()
    assert world.commune.phone == "04 67 11 22 33"
    listing = client.get("/o/numerique-34/structures/").content.decode()
    assert "Ailleurs-sur-Gardon" not in listing
    for target in (elsewhere, unrelated):
        for suffix in ("", "membres/ajouter/"):
            url = f"/o/numerique-34/structures/{target.pk}/{suffix}"
            assert client.get(url).status_code == 404, url
            assert client.post(url, contact_form(target, name="Piratée")).status_code == 404, url
    elsewhere.refresh_from_db()
    assert elsewhere.name == "Ailleurs-sur-Gardon"

    # And the unrelated syndicat's administrator cannot manage Saint-Aubin.
    add_member(
        actor=None, organisation=unrelated, username="admin-gard", roles=[Role.ADMIN], password=PASSWORD
    )
    gard = as_user(get_user_model().objects.get(username="admin-gard"))
    assert gard.get(f"/o/syndicat-gard/structures/{elsewhere.pk}/").status_code == 200
    assert gard.get(f"/o/syndicat-gard/structures/{world.commune.pk}/").status_code == 404


def test_commune_admin_has_no_member_structures_but_edits_own_details(world, as_user):
    client = as_user(world.commune_admin)
    assert client.get("/o/saint-aubin/structures/").status_code == 404
    assert client.get(f"/o/saint-aubin/structures/{world.other_commune.pk}/").status_code == 404
    response = client.post("/o/saint-aubin/organisation/", contact_form(world.commune, city="Saint-Aubin"))
    assert response.status_code == 302
    world.commune.refresh_from_db()
    assert world.commune.city == "Saint-Aubin"


def test_non_admin_cannot_open_organisation_settings(world, as_user):
    client = as_user(world.secretary)
    assert client.get("/o/saint-aubin/organisation/").status_code == 403
    assert client.post("/o/saint-aubin/organisation/membres/ajouter/", {}).status_code == 403
    assert "Organisation</a>" not in client.get("/o/saint-aubin/").content.decode()


def test_person_of_two_communes_switches_and_sees_each_register_only(world, as_user):
    add_member(
        actor=None, organisation=world.other_commune, username=world.secretary.username, roles=["agent"]
    )
    register_courrier(organisation=world.commune, actor=world.secretary, subject="Réfection du lavoir")
    register_courrier(organisation=world.other_commune, actor=None, subject="Fête de la Saint-Jean")
    client = as_user(world.secretary)

    chooser = client.get("/")
    assert chooser.status_code == 200
    html = chooser.content.decode()
    assert "Saint-Aubin-les-Vignes" in html and "Villeneuve-sur-Lergue" in html

    response = client.get("/changer-organisation/", {"slug": "villeneuve"})
    assert response.status_code == 302
    assert response["Location"] == "/o/villeneuve/"
    assert client.get("/")["Location"] == "/o/villeneuve/"
    register = client.get("/o/villeneuve/registre/").content.decode()
    assert "Fête de la Saint-Jean" in register
    assert "Réfection du lavoir" not in register
    assert 'id="org-switch-select"' in register  # the switcher is on every page

    response = client.get("/changer-organisation/", {"slug": "saint-aubin"})
    assert response["Location"] == "/o/saint-aubin/"
    register = client.get("/o/saint-aubin/registre/").content.decode()
    assert "Réfection du lavoir" in register
    assert "Fête de la Saint-Jean" not in register

    assert client.get("/changer-organisation/", {"slug": "numerique-34"}).status_code == 404
