"""The issue's « done when », end to end with the ready-made workflow « transmission-epci »: a courrier becomes
a dossier, is handed over to the EPCI and back, the mayor decides, the letter is generated, visaed and signed
(a real PAdES signature, checked by pyHanko's validator), then sent as an outgoing courrier — every step in the
timeline and in the audit journal."""

from __future__ import annotations

import pytest

from mairie.audit.models import AuditEntry
from mairie.audit.services import verify_chain
from mairie.circuits.models import Circuit, CircuitStep
from mairie.circuits.services import approve_step
from mairie.core.models import OutgoingMail
from mairie.courrier.models import Courrier
from mairie.dossiers import services
from mairie.dossiers.engine import apply_transition
from mairie.dossiers.files import read_file
from mairie.dossiers.models import DossierFile, Task
from mairie.organisations.models import Membership
from mairie.signatures.services import add_personal_certificate
from mairie.signatures.verify import verify_pdf
from mairie.testing.pki import TestPKI

pytestmark = pytest.mark.django_db

PIN = "135791"


def test_courrier_to_signed_decision_through_the_epci(world, incoming, epci_agent):
    # The secretary is also in the planning service (who visas the decree in this workflow).
    Membership.objects.get(user=world.secretary, organisation=world.commune).services.add(
        world.service("Urbanisme")
    )
    pki = TestPKI.create()
    mayor_certificate = pki.person("Hélène Roussel", organisation=world.commune.name)
    add_personal_certificate(
        organisation=world.commune,
        user=world.mayor,
        data=mayor_certificate.p12(),
        password=mayor_certificate.password,
        pin=PIN,
    )

    dossier = services.create_from_courrier(
        membership=world.membership(world.secretary), courrier=incoming, workflow="transmission-epci"
    )
    assert dossier.workflow.name == "transmission-epci" and dossier.status == "recue"
    apply_transition(dossier=dossier, transition="transmettre", actor=world.secretary)
    assert dossier.holder == world.epci
    apply_transition(dossier=dossier, transition="rendre", actor=epci_agent, organisation=world.epci)
    assert dossier.holder == world.commune and dossier.status == "decision"
    assert Task.objects.filter(dossier=dossier, status=Task.Status.OPEN).exists()  # « Décider au vu de… »

    apply_transition(dossier=dossier, transition="signer", actor=world.mayor)
    assert dossier.status == "arrete_en_signature"
    circuit = Circuit.objects.get(dossier=dossier)
    generated = circuit.file
    assert generated.kind == DossierFile.Kind.GENERATED and read_file(generated).startswith(b"%PDF")
    visa = CircuitStep.objects.get(circuit=circuit, kind="visa")
    approve_step(step=visa, actor=world.secretary, comment="Vu, conforme au PLU")
    signature = CircuitStep.objects.get(circuit=circuit, kind="signature")
    approve_step(step=signature, actor=world.mayor, pin=PIN)

    dossier.refresh_from_db()
    circuit.refresh_from_db()
    assert circuit.status == Circuit.Status.APPROVED
    assert dossier.status == "notifiee" and dossier.closed_at is not None
    signed = DossierFile.objects.get(dossier=dossier, kind=DossierFile.Kind.SIGNED)
    assert signed.derived_from == generated
    [report] = verify_pdf(read_file(signed), trust_roots=[pki.root])
    assert report.intact and report.valid and report.trusted and report.covers_whole_document
    assert report.signer == "Hélène Roussel"
    tampered = bytearray(read_file(signed))
    middle = len(tampered) // 3
    tampered[middle] = (tampered[middle] + 1) % 256
    broken = verify_pdf(bytes(tampered), trust_roots=[pki.root])
    assert not broken or not (broken[0].intact and broken[0].valid)

    # Sent: an outgoing courrier carrying the signed PDF, filed in the dossier, e-mailed to the usager.
    outgoing = Courrier.objects.get(organisation=world.commune, direction="depart")
    assert outgoing.contact == incoming.contact
    assert outgoing.documents.get().original.sha256 == signed.stored.sha256
    mail = OutgoingMail.objects.get(courrier=outgoing)
    assert mail.recipients == ["lucie.martin@example.org"]

    kinds = list(dossier.events.order_by("at", "id").values_list("kind", "acting_organisation__slug"))
    for expected in [
        ("created", "saint-aubin"),
        ("courrier.added", "saint-aubin"),
        ("share.handover", "saint-aubin"),
        ("share.returned", "cc-grand-pic"),
        ("transition", "cc-grand-pic"),
        ("file.generated", "saint-aubin"),
        ("circuit.started", "saint-aubin"),
        ("circuit.completed", "saint-aubin"),
        ("document.sent", "saint-aubin"),
        ("closed", "saint-aubin"),
    ]:
        assert expected in kinds, expected
    journal = set(AuditEntry.objects.filter(organisation=world.commune).values_list("action", flat=True))
    assert {
        "dossier.transition",
        "dossier.share.handover",
        "dossier.circuit.completed",
        "dossier.document.sent",
    } <= journal
    assert verify_chain(world.commune).ok

    # The dossier page shows it all, and the signed file's report (the demo CA is not trusted by the platform).
    from html import unescape

    from django.test import Client

    from mairie.testing.personas import login

    client = login(Client(), world.secretary)
    page = unescape(client.get(f"/o/saint-aubin/dossiers/{dossier.pk}/").content.decode())
    assert "Décision notifiée" in page and "Vérifier les signatures" in page and outgoing.chrono in page
    report = unescape(
        client.get(f"/o/saint-aubin/dossiers/{dossier.pk}/fichiers/{signed.pk}/signatures/").content.decode()
    )
    assert "Hélène Roussel" in report and "Intègre" in report


def test_request_with_the_technical_opinion_then_the_mayors_signed_decision(world, incoming):
    """The ready-made « avis-technique-decision-maire »: opinion asked and given, the mayor accepts, the letter
    is visaed by the secretary and signed by the mayor, sent; the dossier ends « Accordée »."""
    pki = TestPKI.create()
    issued = pki.person("Hélène Roussel", organisation=world.commune.name)
    add_personal_certificate(
        organisation=world.commune, user=world.mayor, data=issued.p12(), password=issued.password, pin=PIN
    )
    dossier = services.create_from_courrier(
        membership=world.membership(world.secretary),
        courrier=incoming,
        workflow="avis-technique-decision-maire",
    )
    apply_transition(dossier=dossier, transition="demander_avis", actor=world.secretary)
    from mairie.dossiers.models import Opinion

    opinion = Opinion.objects.get(dossier=dossier)
    assert opinion.task.service.name == "Services techniques"
    services.give_opinion(
        membership=world.membership(world.agent), opinion=opinion, verdict="favorable", text=""
    )
    dossier.refresh_from_db()
    assert dossier.status == "decision"  # the workflow moved on by itself once the opinion was in
    apply_transition(dossier=dossier, transition="accepter", actor=world.mayor)
    circuit = Circuit.objects.get(dossier=dossier)
    approve_step(step=CircuitStep.objects.get(circuit=circuit, kind="visa"), actor=world.secretary)
    approve_step(step=CircuitStep.objects.get(circuit=circuit, kind="signature"), actor=world.mayor, pin=PIN)
    dossier.refresh_from_db()
    assert dossier.status == "accordee" and dossier.closed_at is not None
    assert dossier.data["decision"] == "accord"
    signed = DossierFile.objects.get(dossier=dossier, kind=DossierFile.Kind.SIGNED)
    [report] = verify_pdf(read_file(signed), trust_roots=[pki.root])
    assert report.intact and report.trusted
    assert Courrier.objects.filter(organisation=world.commune, direction="depart").count() == 1
    kinds = set(dossier.events.values_list("kind", flat=True))
    assert {"opinion.given", "circuit.completed", "document.sent", "closed"} <= kinds
    assert verify_chain(world.commune).ok
