"""The parapheur's services: visas, real PAdES signatures, parallel groups, roles, refusal, batch, delegation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from mairie.circuits import services
from mairie.circuits.models import Circuit, CircuitStep, StepAnnotation
from mairie.dossiers.files import read_file
from mairie.dossiers.models import DossierEvent, DossierFile, Task
from mairie.notifications.models import Notification
from mairie.organisations.models import Role
from mairie.organisations.services import add_member
from mairie.signatures.services import SignatureError
from mairie.signatures.verify import verify_pdf

from .conftest import PIN


def _steps(circuit: Circuit) -> list[CircuitStep]:
    return list(circuit.steps.select_related("task").order_by("position"))


def test_visa_then_signature_with_a_personal_certificate_gives_a_valid_signed_pdf(
    world, dossier, new_pdf, pki, mayor_certificate
):
    original = new_pdf()
    circuit = services.start_circuit(
        dossier=dossier,
        file=original,
        steps=[{"kind": "visa", "agent": "secretaire"}, {"kind": "signature", "agent": "maire@example.org"}],
        actor=world.agent,
    )
    visa, signature = _steps(circuit)
    assert (visa.status, signature.status) == ("pending", "waiting")
    assert visa.task.kind == "circuit_step" and visa.task.assignee == world.secretary
    assert visa.task.status == Task.Status.OPEN and signature.task is None
    assert Notification.objects.filter(user=world.secretary, kind="circuit.step").exists()

    services.approve_step(step=visa, actor=world.secretary, comment="Vu, conforme.")
    visa.refresh_from_db()
    signature.refresh_from_db()
    assert visa.status == "approved" and visa.acted_by == world.secretary and visa.comment == "Vu, conforme."
    assert visa.task.status == Task.Status.DONE
    assert signature.status == "pending" and signature.task.assignee == world.mayor
    assert Notification.objects.filter(user=world.mayor, kind="circuit.step").exists()

    circuit = services.approve_step(step=signature, actor=world.mayor, pin=PIN)
    circuit.refresh_from_db()
    assert circuit.status == Circuit.Status.APPROVED and circuit.completed_at is not None
    signed = circuit.signed_file
    assert signed is not None and signed.kind == DossierFile.Kind.SIGNED and signed.derived_from == original
    assert signed.mime_type == "application/pdf"
    reports = verify_pdf(read_file(signed), trust_roots=[pki.root])
    assert len(reports) == 1
    report = reports[0]
    assert report.intact and report.valid and report.trusted and report.covers_whole_document
    assert "Hélène Roussel" in report.signer
    # The original is untouched; the drafter is told the circuit is over; the timeline tells the story.
    assert verify_pdf(read_file(original), trust_roots=[pki.root]) == []
    assert Notification.objects.filter(user=world.agent, text__startswith="Circuit terminé").exists()
    kinds = list(DossierEvent.objects.filter(dossier=dossier).values_list("kind", flat=True))
    for kind in (
        "circuit.started",
        "circuit.step.approved",
        "file.signed",
        "circuit.step.signed",
        "circuit.completed",
    ):
        assert kind in kinds


def test_two_signatures_in_sequence_are_both_valid(
    world, dossier, new_pdf, pki, mayor_certificate, admin_certificate
):
    circuit = services.start_circuit(
        dossier=dossier,
        file=new_pdf(),
        steps=[{"kind": "signature", "agent": "admin-commune"}, {"kind": "signature", "agent": "maire"}],
        actor=world.secretary,
    )
    first, second = _steps(circuit)
    services.approve_step(step=first, actor=world.commune_admin, pin=PIN)
    circuit.refresh_from_db()
    first_signed = circuit.signed_file
    second.refresh_from_db()
    services.approve_step(step=second, actor=world.mayor, pin=PIN)
    circuit.refresh_from_db()
    assert circuit.status == "approved"
    assert circuit.signed_file.derived_from == first_signed
    reports = verify_pdf(read_file(circuit.signed_file), trust_roots=[pki.root])
    assert [r.signer for r in reports] == ["Claire Fabre", "Hélène Roussel"]
    assert all(r.intact and r.valid and r.trusted for r in reports)
    assert reports[-1].covers_whole_document and not reports[0].covers_whole_document


def test_a_parallel_group_needs_every_step_before_the_next(world, dossier, new_pdf):
    circuit = services.start_circuit(
        dossier=dossier,
        file=new_pdf(),
        steps=[
            {"kind": "visa", "agent": "secretaire"},
            {"kind": "visa", "service": "Services techniques", "parallel": True},
            {"kind": "visa", "agent": "maire"},
        ],
        actor=world.commune_admin,
    )
    a, b, c = _steps(circuit)
    assert (a.group, b.group, c.group) == (1, 1, 2)
    assert (a.status, b.status, c.status) == ("pending", "pending", "waiting")
    assert b.task.service == world.service("Services techniques") and b.task.assignee is None
    services.approve_step(step=a, actor=world.secretary)
    c.refresh_from_db()
    assert c.status == "waiting"
    # The secretary is not in the technical service: she cannot approve its step.
    b.refresh_from_db()
    with pytest.raises(PermissionDenied):
        services.approve_step(step=b, actor=world.secretary)
    services.approve_step(step=b, actor=world.agent)
    c.refresh_from_db()
    assert c.status == "pending"
    services.approve_step(step=c, actor=world.mayor)
    circuit.refresh_from_db()
    assert circuit.status == "approved" and circuit.signed_file is None


def test_a_role_step_is_for_any_member_with_the_role(world, dossier, new_pdf):
    add_member(
        actor=None,
        organisation=world.commune,
        username="adjoint",
        first_name="Louis",
        last_name="Garcia",
        roles=[Role.ELU],
    )
    circuit = services.start_circuit(
        dossier=dossier, file=new_pdf(), steps=[{"kind": "visa", "role": "elu"}], actor=world.secretary
    )
    [step] = _steps(circuit)
    assert {n.user.username for n in Notification.objects.filter(kind="circuit.step")} == {"maire", "adjoint"}
    for outsider in (world.agent, world.secretary, world.other_agent):
        with pytest.raises(PermissionDenied):
            services.approve_step(step=step, actor=outsider)
    step.refresh_from_db()
    assert step.status == "pending"
    from django.contrib.auth import get_user_model

    adjoint = get_user_model().objects.get(username="adjoint")
    services.approve_step(step=step, actor=adjoint)
    step.refresh_from_db()
    assert step.status == "approved" and step.acted_by == adjoint


def test_unknown_targets_are_refused_in_french(world, dossier, new_pdf):
    item = new_pdf()
    cases = [
        ([{"kind": "visa", "agent": "inconnu"}], "Personne inconnue"),
        ([{"kind": "visa", "agent": "agent-villeneuve"}], "Personne inconnue"),
        ([{"kind": "visa", "role": "pape"}], "Rôle inconnu"),
        ([{"kind": "visa", "service": "Cantine de Villeneuve"}], "Service inconnu"),
        ([{"kind": "tampon", "agent": "maire"}], "visa"),
        ([], "au moins une étape"),
    ]
    for steps, words in cases:
        with pytest.raises(services.CircuitError) as info:
            services.start_circuit(dossier=dossier, file=item, steps=steps, actor=world.secretary)
        assert words in " ".join(info.value.messages)
    assert not Circuit.objects.exists()


def test_refusal_needs_a_reason_and_ends_the_circuit(world, dossier, new_pdf):
    circuit = services.start_circuit(
        dossier=dossier,
        file=new_pdf(),
        steps=[
            {"kind": "visa", "agent": "secretaire"},
            {"kind": "visa", "agent": "agent", "parallel": True},
            {"kind": "signature", "agent": "maire"},
        ],
        actor=world.commune_admin,
        on_refuse="t",
    )
    a, b, c = _steps(circuit)
    with pytest.raises(services.CircuitError, match="motif"):
        services.refuse_step(step=a, actor=world.secretary, reason="  ")
    a.refresh_from_db()
    assert a.status == "pending"
    services.refuse_step(step=a, actor=world.secretary, reason="Il manque la date d'effet.")
    circuit.refresh_from_db()
    a, b, c = _steps(circuit)
    assert circuit.status == Circuit.Status.REFUSED and circuit.reason == "Il manque la date d'effet."
    assert a.status == "refused" and a.comment == "Il manque la date d'effet."
    assert (b.status, c.status) == ("skipped", "skipped")
    assert b.task.status == Task.Status.CANCELLED and a.task.status == Task.Status.DONE
    assert c.task is None
    event = DossierEvent.objects.get(dossier=dossier, kind="circuit.refused")
    assert "Il manque la date d'effet." in event.summary
    assert Notification.objects.filter(user=world.commune_admin, text__contains="refusé").exists()
    # The on_refuse transition was applied by the workflow engine.
    dossier.refresh_from_db()
    assert dossier.status == "b"
    with pytest.raises(services.CircuitError):
        services.approve_step(step=b, actor=world.agent)


def test_completion_applies_the_then_transition(world, dossier, new_pdf):
    circuit = services.start_circuit(
        dossier=dossier,
        file=new_pdf(),
        steps=[{"kind": "visa", "agent": "maire"}],
        actor=world.secretary,
        then="t",
    )
    services.approve_step(step=_steps(circuit)[0], actor=world.mayor)
    dossier.refresh_from_db()
    assert dossier.status == "b"


def test_wrong_pin_changes_nothing(world, dossier, new_pdf, mayor_certificate):
    circuit = services.start_circuit(
        dossier=dossier,
        file=new_pdf(),
        steps=[{"kind": "signature", "agent": "maire"}],
        actor=world.secretary,
    )
    [step] = _steps(circuit)
    events = DossierEvent.objects.count()
    files = DossierFile.objects.count()
    with pytest.raises(SignatureError, match="PIN incorrect"):
        services.approve_step(step=step, actor=world.mayor, pin="000000")
    step.refresh_from_db()
    circuit.refresh_from_db()
    assert step.status == "pending" and step.task.status == Task.Status.OPEN
    assert circuit.status == "in_progress" and circuit.signed_file is None
    assert (DossierEvent.objects.count(), DossierFile.objects.count()) == (events, files)


@pytest.mark.django_db(transaction=True)
def test_wrong_pins_in_the_parapheur_lock_the_key(world, dossier, new_pdf, mayor_certificate):
    """The wrong-PIN count survives the refused approval (the key is unlocked before its transaction)."""
    from .conftest import PIN

    circuit = services.start_circuit(
        dossier=dossier,
        file=new_pdf(),
        steps=[{"kind": "signature", "agent": "maire"}],
        actor=world.secretary,
    )
    [step] = _steps(circuit)
    for _ in range(5):
        with pytest.raises(SignatureError, match="PIN incorrect"):
            services.approve_step(step=step, actor=world.mayor, pin="000000")
    with pytest.raises(SignatureError, match="Trop de codes PIN erronés"):
        services.approve_step(step=step, actor=world.mayor, pin=PIN)
    step.refresh_from_db()
    assert step.status == "pending"


def test_steps_are_due_in_a_few_days_and_role_steps_stay_in_the_parapheur(world, dossier, new_pdf, settings):
    import datetime as dt

    from django.utils import timezone

    from mairie.dossiers.services import tasks_for

    settings.CIRCUIT_STEP_DAYS = 3
    circuit = services.start_circuit(
        dossier=dossier, file=new_pdf(), steps=[{"kind": "visa", "role": "elu"}], actor=world.secretary
    )
    [step] = _steps(circuit)
    due = step.task.due_at
    assert timezone.now() + dt.timedelta(days=2, hours=23) < due <= timezone.now() + dt.timedelta(days=3)
    # A step for « any élu » is not in every agent's task list; it is in the élus' parapheur.
    assert step.task not in tasks_for(world.membership(world.secretary))
    assert step in services.pending_steps_for(organisation=world.commune, user=world.mayor)


def test_a_signature_needs_the_right_to_sign(world, dossier, new_pdf):
    circuit = services.start_circuit(
        dossier=dossier,
        file=new_pdf(),
        steps=[{"kind": "signature", "service": "Services techniques"}],
        actor=world.secretary,
    )
    [step] = _steps(circuit)
    with pytest.raises(PermissionDenied, match="habilité"):
        services.approve_step(step=step, actor=world.agent, pin=PIN)


def test_batch_signature_signs_what_it_can_and_says_why_not(world, dossier, new_pdf, pki, mayor_certificate):
    circuits = []
    for title in ("Arrêté 1", "Arrêté 2", "Arrêté 3"):
        circuits.append(
            services.start_circuit(
                dossier=dossier,
                file=new_pdf(title),
                steps=[
                    {"kind": "signature", "agent": "maire"},
                    {"kind": "visa", "agent": "secretaire", "parallel": True},
                ],
                actor=world.agent,
            )
        )
    # The secretary refuses the second one before the mayor signs.
    services.refuse_step(step=_steps(circuits[1])[1], actor=world.secretary, reason="Mauvaise version.")
    steps = [_steps(c)[0] for c in circuits]
    results = services.sign_batch(steps=steps, actor=world.mayor, pin=PIN)
    assert [r.ok for r in results] == [True, False, True]
    assert "Arrêté 2" in results[1].message and "refusé" in results[1].message
    for circuit in (circuits[0], circuits[2]):
        circuit.refresh_from_db()
        [report] = verify_pdf(read_file(circuit.signed_file), trust_roots=[pki.root])
        assert report.intact and report.trusted
        assert circuit.status == "in_progress"  # the secretary's visa is still awaited
    circuits[1].refresh_from_db()
    assert circuits[1].signed_file is None


def test_batch_with_a_wrong_pin_signs_nothing(world, dossier, new_pdf, mayor_certificate):
    steps = []
    for title in ("Arrêté 1", "Arrêté 2"):
        circuit = services.start_circuit(
            dossier=dossier,
            file=new_pdf(title),
            steps=[{"kind": "signature", "agent": "maire"}],
            actor=world.agent,
        )
        steps.append(_steps(circuit)[0])
    results = services.sign_batch(steps=steps, actor=world.mayor, pin="999999")
    assert [r.ok for r in results] == [False, False]
    assert all("PIN incorrect" in r.message for r in results)
    assert not DossierFile.objects.filter(kind="signed").exists()


def test_the_seal_signs_for_the_organisation(world, dossier, new_pdf, pki):
    from mairie.signatures.services import set_server_seal

    seal = pki.seal("Saint-Aubin-les-Vignes")
    set_server_seal(organisation=world.commune, data=seal.p12(), password=seal.password)
    circuit = services.start_circuit(
        dossier=dossier, file=new_pdf(), steps=[{"kind": "signature", "role": "elu"}], actor=world.secretary
    )
    [step] = _steps(circuit)
    services.approve_step(step=step, actor=world.mayor, use_seal=True)
    circuit.refresh_from_db()
    [report] = verify_pdf(read_file(circuit.signed_file), trust_roots=[pki.root])
    assert "Cachet serveur" in report.signer and report.trusted


def test_delegation_sends_the_step_to_the_delegate_who_acts_for_the_absent(world, dossier, new_pdf):
    from mairie.dossiers.delegation import set_absence

    today = timezone.localdate()
    set_absence(
        organisation=world.commune,
        user=world.mayor,
        delegate=world.commune_admin,
        starts_on=today,
        ends_on=today + dt.timedelta(days=7),
        actor=world.mayor,
    )
    circuit = services.start_circuit(
        dossier=dossier, file=new_pdf(), steps=[{"kind": "visa", "agent": "maire"}], actor=world.secretary
    )
    [step] = _steps(circuit)
    assert step.task.assignee == world.commune_admin and step.task.delegated_from == world.mayor
    assert Notification.objects.filter(
        user=world.commune_admin, text__contains="pour Hélène Roussel"
    ).exists()
    assert step in services.pending_steps_for(organisation=world.commune, user=world.commune_admin)
    with pytest.raises(PermissionDenied):
        services.approve_step(step=step, actor=world.secretary)
    services.approve_step(step=step, actor=world.commune_admin)
    step.refresh_from_db()
    assert step.acted_by == world.commune_admin and step.on_behalf_of == world.mayor
    assert services.actor_label(step) == "Claire Fabre pour Hélène Roussel"
    event = DossierEvent.objects.get(dossier=dossier, kind="circuit.step.approved")
    assert event.on_behalf_of == world.mayor and "Claire Fabre pour Hélène Roussel" in event.summary


def test_annotation_and_cancellation(world, dossier, new_pdf):
    circuit = services.start_circuit(
        dossier=dossier, file=new_pdf(), steps=[{"kind": "visa", "agent": "maire"}], actor=world.secretary
    )
    [step] = _steps(circuit)
    note = services.annotate(step_or_circuit=step, actor=world.mayor, text="Vérifier l'article 2.")
    assert note.step == step and StepAnnotation.objects.for_org(world.commune).count() == 1
    step.refresh_from_db()
    assert step.status == "pending"  # an annotation decides nothing
    with pytest.raises(services.CircuitError):
        services.annotate(step_or_circuit=circuit, actor=world.mayor, text=" ")
    with pytest.raises(PermissionDenied):
        services.annotate(step_or_circuit=circuit, actor=world.other_agent, text="Intrus")
    with pytest.raises(services.CircuitError, match="motif"):
        services.cancel_circuit(circuit=circuit, actor=world.secretary, reason="")
    services.cancel_circuit(circuit=circuit, actor=world.secretary, reason="Document remplacé.")
    circuit.refresh_from_db()
    step.refresh_from_db()
    assert circuit.status == "cancelled" and step.status == "skipped"
    assert step.task.status == Task.Status.CANCELLED
    assert DossierEvent.objects.filter(dossier=dossier, kind="circuit.cancelled").exists()


def test_a_transition_that_cannot_apply_does_not_undo_the_circuit(world, dossier, new_pdf):
    circuit = services.start_circuit(
        dossier=dossier,
        file=new_pdf(),
        steps=[{"kind": "visa", "agent": "maire"}],
        actor=world.secretary,
        then="inexistante",
    )
    services.approve_step(step=_steps(circuit)[0], actor=world.mayor)
    circuit.refresh_from_db()
    dossier.refresh_from_db()
    assert circuit.status == "approved" and dossier.status == "a"
    event = DossierEvent.objects.filter(dossier=dossier, kind__startswith="transition.").get()
    assert "non effectué" in event.summary


def test_one_running_circuit_per_document_and_none_on_a_closed_dossier(world, dossier, new_pdf):
    item = new_pdf()
    steps = [{"kind": "visa", "agent": "maire"}]
    services.start_circuit(dossier=dossier, file=item, steps=steps, actor=world.secretary)
    with pytest.raises(services.CircuitError, match="déjà dans un circuit en cours"):
        services.start_circuit(dossier=dossier, file=item, steps=steps, actor=world.secretary)
    dossier.closed_at = timezone.now()
    dossier.save(update_fields=["closed_at"])
    with pytest.raises(services.CircuitError, match="clos"):
        services.start_circuit(dossier=dossier, file=new_pdf("Autre"), steps=steps, actor=world.secretary)
    with pytest.raises(PermissionDenied):
        services.start_circuit(dossier=dossier, file=item, steps=steps, actor=world.mayor)


def test_a_delegate_signs_with_their_own_certificate_for_the_absent(
    world, dossier, new_pdf, pki, admin_certificate
):
    from mairie.dossiers.delegation import set_absence

    today = timezone.localdate()
    set_absence(
        organisation=world.commune,
        user=world.mayor,
        delegate=world.commune_admin,
        starts_on=today,
        ends_on=today,
        actor=world.mayor,
    )
    circuit = services.start_circuit(
        dossier=dossier,
        file=new_pdf(),
        steps=[{"kind": "signature", "agent": "maire"}],
        actor=world.secretary,
    )
    [step] = _steps(circuit)
    services.approve_step(step=step, actor=world.commune_admin, pin=PIN)
    step.refresh_from_db()
    circuit.refresh_from_db()
    assert step.on_behalf_of == world.mayor and step.signed_file == circuit.signed_file
    [report] = verify_pdf(read_file(circuit.signed_file), trust_roots=[pki.root])
    assert report.signer == "Claire Fabre" and report.intact and report.trusted
