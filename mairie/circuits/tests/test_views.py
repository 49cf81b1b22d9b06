"""The parapheur's pages: my steps only, decisions, batch signature, the document, tenant isolation."""

from __future__ import annotations

from django.urls import reverse

from mairie.circuits import services
from mairie.circuits.models import Circuit, CircuitStep
from mairie.dossiers.files import read_file
from mairie.signatures.verify import verify_pdf
from mairie.testing.personas import login

from .conftest import PIN


def _start(world, dossier, item, steps, actor=None):
    return services.start_circuit(dossier=dossier, file=item, steps=steps, actor=actor or world.secretary)


def _url(world, name, **kwargs):
    return reverse(f"circuits:{name}", kwargs={"slug": world.commune.slug, **kwargs})


def test_parapheur_lists_only_my_steps(world, dossier, new_pdf, client):
    _start(world, dossier, new_pdf("Arrêté pour le maire"), [{"kind": "signature", "agent": "maire"}])
    _start(world, dossier, new_pdf("Note technique"), [{"kind": "visa", "agent": "agent"}])
    _start(world, dossier, new_pdf("Délibération des élus"), [{"kind": "visa", "role": "elu"}])
    login(client, world.mayor)
    page = client.get(_url(world, "parapheur")).content.decode()
    assert "Arrêté pour le maire" in page and "Délibération des élus" in page
    assert "Note technique" not in page
    assert "Signer la sélection" in page and "2026-0001" in page and "Sylvie Marchand" in page
    login(client, world.agent)
    page = client.get(_url(world, "parapheur")).content.decode()
    assert "Note technique" in page and "Arrêté pour le maire" not in page
    assert "Délibération des élus" not in page


def test_step_page_visa_and_refusal_through_the_browser(world, dossier, new_pdf, client):
    circuit = _start(
        world,
        dossier,
        new_pdf(),
        [{"kind": "visa", "agent": "maire"}, {"kind": "visa", "agent": "admin-commune"}],
    )
    first, second = circuit.steps.order_by("position")
    login(client, world.mayor)
    page = client.get(_url(world, "step", step_id=first.pk)).content.decode()
    assert "<iframe" in page and "Viser (approuver)" in page and "Refuser" in page
    response = client.post(_url(world, "approve", step_id=first.pk), {"comment": "Bon pour accord"})
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.status == "approved" and first.comment == "Bon pour accord"
    login(client, world.commune_admin)
    response = client.post(_url(world, "refuse", step_id=second.pk), {"reason": ""}, follow=True)
    assert "Indiquez le motif du refus." in response.content.decode()
    client.post(_url(world, "refuse", step_id=second.pk), {"reason": "Erreur de montant"})
    circuit.refresh_from_db()
    assert circuit.status == Circuit.Status.REFUSED
    page = client.get(_url(world, "circuit", circuit_id=circuit.pk)).content.decode()
    assert "Erreur de montant" in page and "Refusé" in page


def test_sign_on_the_step_page_and_in_batch(world, dossier, new_pdf, client, pki, mayor_certificate):
    one = _start(world, dossier, new_pdf("Arrêté 1"), [{"kind": "signature", "agent": "maire"}])
    two = _start(world, dossier, new_pdf("Arrêté 2"), [{"kind": "signature", "agent": "maire"}])
    three = _start(world, dossier, new_pdf("Arrêté 3"), [{"kind": "signature", "agent": "maire"}])
    login(client, world.mayor)
    step = one.steps.get()
    page = client.get(_url(world, "step", step_id=step.pk)).content.decode()
    assert "Code PIN" in page and ">Signer</button>" in page
    response = client.post(_url(world, "approve", step_id=step.pk), {"pin": "111111"}, follow=True)
    assert "Code PIN incorrect." in response.content.decode()
    client.post(_url(world, "approve", step_id=step.pk), {"pin": PIN})
    one.refresh_from_db()
    assert one.status == "approved"
    ids = [two.steps.get().pk, three.steps.get().pk]
    response = client.post(_url(world, "batch_sign"), {"steps": ids, "pin": PIN}, follow=True)
    assert "2 documents traités" in response.content.decode()
    for circuit in (two, three):
        circuit.refresh_from_db()
        [report] = verify_pdf(read_file(circuit.signed_file), trust_roots=[pki.root])
        assert report.intact and report.trusted
    pdf = client.get(_url(world, "document", circuit_id=two.pk))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content == read_file(two.signed_file)
    page = client.get(_url(world, "circuit", circuit_id=two.pk)).content.decode()
    assert "Signatures du document" in page and "Hélène Roussel" in page and "Intègre" in page


def test_start_a_circuit_from_the_dossier_form(world, dossier, new_pdf, client):
    item = new_pdf()
    login(client, world.secretary)
    url = _url(world, "start", dossier_id=dossier.pk)
    page = client.get(url).content.decode()
    assert "Lancer un circuit" in page and "Hélène Roussel" in page and "Services techniques" in page
    response = client.post(
        url,
        {
            "file": item.pk,
            "kind_1": "visa",
            "target_1": "agent:secretaire",
            "kind_2": "visa",
            "target_2": f"service:{world.service('Services techniques').pk}",
            "parallel_2": "1",
            "kind_3": "signature",
            "target_3": "role:elu",
        },
    )
    assert response.status_code == 302
    circuit = Circuit.objects.get()
    steps = list(circuit.steps.order_by("position"))
    assert [(s.kind, s.group) for s in steps] == [("visa", 1), ("visa", 1), ("signature", 2)]
    assert steps[2].role == "elu" and steps[1].service == world.service("Services techniques")
    other = new_pdf("Autre arrêté")
    response = client.post(url, {"file": other.pk, "kind_1": "visa", "target_1": "agent:personne"})
    assert response.status_code == 400 and "Personne inconnue" in response.content.decode()


def test_another_commune_gets_404(world, dossier, new_pdf, client):
    circuit = _start(world, dossier, new_pdf(), [{"kind": "visa", "agent": "maire"}])
    step = circuit.steps.get()
    login(client, world.other_agent)
    own = world.other_commune.slug
    for name, kwargs in (
        ("step", {"step_id": step.pk}),
        ("circuit", {"circuit_id": circuit.pk}),
        ("document", {"circuit_id": circuit.pk}),
    ):
        assert client.get(reverse(f"circuits:{name}", kwargs={"slug": own, **kwargs})).status_code == 404
        assert client.get(_url(world, name, **kwargs)).status_code == 404
    response = client.post(reverse("circuits:approve", kwargs={"slug": own, "step_id": step.pk}))
    assert response.status_code == 404
    response = client.post(
        reverse("circuits:batch_sign", kwargs={"slug": own}), {"steps": [step.pk], "pin": PIN}
    )
    assert response.status_code == 404
    step.refresh_from_db()
    assert step.status == CircuitStep.Status.PENDING


def test_dossier_panel_tag_shows_circuits_and_the_start_form(world, dossier, new_pdf, rf):
    from django.template import Context, Template

    circuit = _start(world, dossier, new_pdf("Arrêté du marché"), [{"kind": "visa", "agent": "maire"}])
    services.approve_step(step=circuit.steps.get(), actor=world.mayor, comment="D'accord")
    request = rf.get("/")
    request.user = world.secretary
    request.membership = world.membership(world.secretary)
    request.organisation = world.commune
    html = Template("{% load circuits %}{% circuits_panel dossier %}").render(
        Context({"request": request, "dossier": dossier})
    )
    assert "Arrêté du marché" in html and "Terminé" in html and "Visée" in html
    assert "Par Hélène Roussel" in html and "Lancer un circuit de visa et signature" in html


def test_the_delegate_sees_the_step_in_their_parapheur(world, dossier, new_pdf, client):
    import datetime as dt

    from django.utils import timezone

    from mairie.dossiers.delegation import set_absence

    today = timezone.localdate()
    set_absence(
        organisation=world.commune,
        user=world.mayor,
        delegate=world.commune_admin,
        starts_on=today,
        ends_on=today + dt.timedelta(days=2),
        actor=world.mayor,
    )
    _start(world, dossier, new_pdf("Arrêté de circulation"), [{"kind": "visa", "agent": "maire"}])
    login(client, world.commune_admin)
    page = client.get(_url(world, "parapheur")).content.decode()
    assert "Arrêté de circulation" in page and "En remplacement de" in page and "Hélène Roussel" in page
