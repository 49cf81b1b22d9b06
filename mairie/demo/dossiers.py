"""Demo dossiers: the ready-made workflows installed, signing certificates from a demo authority, and three
dossiers in progress in Saint-Aubin — one waiting for the technical service's opinion, one handed over to the
EPCI for instruction, one whose reply waits in the mayor's parapheur. Idempotent."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from mairie.courrier.models import Courrier
from mairie.dossiers.engine import apply_transition
from mairie.dossiers.models import Dossier
from mairie.dossiers.services import create_dossier, create_from_courrier
from mairie.organisations.models import Membership, Organisation
from mairie.signatures.models import SigningCertificate
from mairie.signatures.services import add_personal_certificate, set_server_seal
from mairie.workflows.services import install_library

DEMO_PIN = "246810"


def _user(username: str) -> Any:
    return get_user_model().objects.get(username=username)


def demo_certificates(commune: Organisation) -> None:
    """A demo certification authority (not trusted by anyone: signatures show as « certificat non reconnu »
    outside the demo) issues the commune's server seal and the mayor's certificate, unlocked by DEMO_PIN."""
    if SigningCertificate.objects.for_org(commune).exists():
        return
    from mairie.testing.pki import TestPKI

    pki = TestPKI.create("Autorité de démonstration Mairie")
    seal = pki.seal(commune.name)
    set_server_seal(organisation=commune, data=seal.p12(), password=seal.password)
    mayor = _user("maire")
    person = pki.person("Hélène Roussel", organisation=commune.name)
    add_personal_certificate(
        organisation=commune, user=mayor, data=person.p12(), password=person.password, pin=DEMO_PIN
    )


def demo_dossiers(commune: Organisation, others: list[Organisation]) -> int:
    for org in [commune, *others]:
        install_library(org)
    demo_certificates(commune)
    if Dossier.objects.for_org(commune).exists():
        return 0
    secretary = _user("secretaire")
    membership = Membership.objects.get(user=secretary, organisation=commune)
    letters = list(Courrier.objects.for_org(commune).filter(direction="arrivee").order_by("number")[:3])
    created = 0
    # 1. A request waiting for the technical service's opinion (Karim has it in his tasks).
    if letters:
        first = create_from_courrier(
            membership=membership, courrier=letters[0], workflow="avis-technique-decision-maire"
        )
        apply_transition(dossier=first, transition="demander_avis", actor=secretary)
        created += 1
    # 2. A planning request handed over to the EPCI's ADS service.
    planning = create_dossier(
        organisation=commune,
        actor=secretary,
        subject="Déclaration préalable — abri de jardin, parcelle AB 112",
        workflow="transmission-epci",
    )
    apply_transition(dossier=planning, transition="transmettre", actor=secretary)
    created += 1
    # 3. A letter whose reply waits for the visa then the mayor's signature.
    if len(letters) > 1:
        reply = create_from_courrier(
            membership=membership, courrier=letters[1], workflow="courrier-avec-reponse"
        )
        for name in ("instruire", "rediger", "soumettre"):
            apply_transition(dossier=reply, transition=name, actor=secretary)
        created += 1
    return created
