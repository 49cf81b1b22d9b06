"""The demo: a syndicat, an EPCI, three communes, their people and about thirty scanned courriers.

Idempotent: running it again changes nothing. The scans are generated images sent through the real
intake pipeline (registration now, OCR by the worker).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from mairie.courrier.models import Channel, Kind, Status
from mairie.courrier.services import IncomingFile, find_or_create_contact, register_courrier
from mairie.demo.letters import make_letter
from mairie.demo.scans import scanned_letter_pdf
from mairie.organisations.models import Organisation, Role, Service
from mairie.organisations.services import add_member, create_organisation

DEMO_PASSWORD = "Mairie-demo-2026"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    who: str
    organisation: str
    roles: str


LOGINS = [
    DemoLogin(
        "secretaire",
        "Sylvie Marchand, secrétaire de mairie",
        "Saint-Aubin-les-Vignes (et Montbrun-le-Haut)",
        "courrier, agent",
    ),
    DemoLogin("maire", "Hélène Roussel, maire", "Saint-Aubin-les-Vignes", "élue"),
    DemoLogin("agent", "Karim Benali, services techniques", "Saint-Aubin-les-Vignes", "agent"),
    DemoLogin(
        "admin-commune",
        "Claire Fabre, administratrice (double authentification)",
        "Saint-Aubin-les-Vignes",
        "administratrice",
    ),
    DemoLogin(
        "agent-villeneuve",
        "Paul Vidal, agent d'une autre commune",
        "Villeneuve-sur-Lergue",
        "agent, courrier",
    ),
    DemoLogin(
        "instructrice-epci",
        "Nadia Rey, instructrice du droit des sols",
        "Communauté de communes du Grand Pic",
        "agent, courrier",
    ),
    DemoLogin(
        "admin-syndicat",
        "Marc Aubert, informaticien (double authentification)",
        "Syndicat mixte Hérault Numérique",
        "administrateur",
    ),
]


def _org(slug: str, **kwargs: object) -> Organisation:
    existing = Organisation.objects.filter(slug=slug).first()
    return existing or create_organisation(actor=None, slug=slug, **kwargs)  # type: ignore[arg-type]


def _person(
    username: str, first: str, last: str, org: Organisation, roles: list[str], services: list[str]
) -> None:
    user = get_user_model().objects.filter(username=username).first()
    if user is not None and user.memberships.filter(organisation=org).exists():
        return
    add_member(
        actor=None,
        organisation=org,
        username=username,
        first_name=first,
        last_name=last,
        email=f"{username}@demo.mairie.example",
        roles=roles,
        services=list(Service.objects.filter(organisation=org, name__in=services)),
        password=DEMO_PASSWORD,
    )


def create_demo(*, letters: int = 30) -> dict[str, object]:
    syndicat = _org(
        "numerique-34",
        name="Syndicat mixte Hérault Numérique",
        kind="syndicat",
        siren="253400014",
        departement_code="034",
    )
    epci = _org(
        "cc-grand-pic",
        name="Communauté de communes du Grand Pic",
        kind="epci",
        siren="243400017",
        departement_code="034",
        parent=syndicat,
        address_line1="1 avenue des Garrigues",
        postal_code="34980",
        city="Saint-Gély-du-Fesc",
    )
    commune = _org(
        "saint-aubin",
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
        phone="04 67 00 00 00",
        email="mairie@saint-aubin.example",
    )
    montbrun = _org(
        "montbrun",
        name="Montbrun-le-Haut",
        kind="commune",
        siren="213400039",
        insee_code="34252",
        departement_code="034",
        parent=epci,
        population=236,
        address_line1="Le Village",
        postal_code="34980",
        city="Montbrun-le-Haut",
    )
    villeneuve = _org(
        "villeneuve",
        name="Villeneuve-sur-Lergue",
        kind="commune",
        siren="213400021",
        insee_code="34251",
        departement_code="034",
        parent=epci,
        population=1830,
        address_line1="2 place de la République",
        postal_code="34700",
        city="Villeneuve-sur-Lergue",
    )
    _person(
        "secretaire",
        "Sylvie",
        "Marchand",
        commune,
        [Role.COURRIER, Role.AGENT],
        ["Accueil et secrétariat", "État civil"],
    )
    _person(
        "secretaire", "Sylvie", "Marchand", montbrun, [Role.COURRIER, Role.AGENT], ["Accueil et secrétariat"]
    )
    _person("maire", "Hélène", "Roussel", commune, [Role.ELU], [])
    _person("agent", "Karim", "Benali", commune, [Role.AGENT], ["Services techniques"])
    _person("admin-commune", "Claire", "Fabre", commune, [Role.ADMIN, Role.COURRIER], [])
    _person(
        "agent-villeneuve",
        "Paul",
        "Vidal",
        villeneuve,
        [Role.AGENT, Role.COURRIER],
        ["Accueil et secrétariat"],
    )
    _person("admin-syndicat", "Marc", "Aubert", syndicat, [Role.ADMIN], [])
    _person("instructrice-epci", "Nadia", "Rey", epci, [Role.AGENT, Role.COURRIER], ["Urbanisme (ADS)"])

    created = 0
    if not commune.courriers.exists():
        created += _demo_courriers(commune, letters - 4)
        created += _demo_emails(commune)
    if not montbrun.courriers.exists():
        created += _demo_courriers(montbrun, 2, offset=100)
    if not villeneuve.courriers.exists():
        created += _demo_courriers(villeneuve, 2, offset=200)
    from mairie.demo.dossiers import demo_dossiers

    dossiers = demo_dossiers(commune, [montbrun, villeneuve])
    return {"organisations": 5, "courriers_created": created, "dossiers_created": dossiers}


def _demo_courriers(org: Organisation, count: int, offset: int = 0) -> int:
    services = {s.name: s for s in Service.objects.filter(organisation=org)}
    technique = services.get("Services techniques")
    etat_civil = services.get("État civil")
    secretariat = services.get("Accueil et secrétariat")
    route: dict[str, Service | None] = {
        Kind.COMPLAINT: technique,
        Kind.INVOICE: secretariat,
        Kind.REQUEST: etat_civil,
    }
    agent = get_user_model().objects.filter(username="secretaire").first()
    now = timezone.now()
    with tempfile.TemporaryDirectory(prefix="mairie-demo-") as tmp:
        for i in range(count):
            index = offset + i
            received = now - dt.timedelta(days=count - i, hours=i % 7)
            # Written a couple of days before it arrived, as a real letter is.
            written = timezone.localtime(received).date() - dt.timedelta(days=2 + i % 3)
            kind, letter = make_letter(index, commune=org.name, written=written)
            path = Path(tmp) / f"scan-{index:03d}.pdf"
            path.write_bytes(scanned_letter_pdf(letter, seed=index))
            contact = find_or_create_contact(
                organisation=org,
                name=letter.sender[0].split(" ", 1)[1],
                first_name=letter.sender[0].split(" ", 1)[0],
                address_line1=letter.sender[1],
                postal_code=letter.sender[2][:5],
                city=letter.sender[2][6:],
            )
            # The last few wait in the "to register" tray, as if just dropped by the scanner.
            waiting = i >= count - 3
            with transaction.atomic():
                register_courrier(
                    organisation=org,
                    actor=None if waiting else agent,
                    files=[IncomingFile(path, path.name)],
                    channel=Channel.SCAN,
                    subject="" if waiting else letter.subject,
                    contact=None if waiting else contact,
                    kind=kind,
                    service=None if waiting else route.get(kind),
                    assigned_to=agent if (not waiting and i % 3 == 0) else None,
                    due_date=(received + dt.timedelta(days=15 if i % 4 else 3)).date()
                    if kind in (Kind.REQUEST, Kind.COMPLAINT)
                    else None,
                    received_at=received,
                    status=Status.A_ENREGISTRER
                    if waiting
                    else (Status.TRAITE if i < count // 3 else Status.A_TRAITER),
                )
    return count


def _demo_emails(org: Organisation) -> int:
    """A few e-mails as the mailbox would bring them in: one with attachments, one in HTML with a logo, one
    whose attachments could not all be kept (its warnings show on the courrier's page)."""
    from mairie.mail.intake import register_message
    from mairie.mail.tests.corpus import CORPUS  # the generated corpus the tests and benchmarks also use

    count = 0
    for name in ("mixed_alternative", "html_inline_images", "latin1_qp", "refused_attachments"):
        result = register_message(organisation=org, raw=CORPUS[name])
        count += result.courrier is not None and result.status != "duplicate"
    return count
