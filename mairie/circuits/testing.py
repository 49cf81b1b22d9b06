"""Builders for tests outside this app (the isolation test): a dossier, a PDF file and a running circuit."""

from __future__ import annotations

from typing import Any

from mairie.circuits.models import Circuit
from mairie.organisations.models import Organisation

TEST_WORKFLOW = {
    "name": "test",
    "title": "Test",
    "initial": "a",
    "statuses": [{"id": "a", "label": "A"}, {"id": "b", "label": "B", "final": True}],
    "transitions": [{"id": "t", "label": "T", "from": ["a"], "to": "b"}],
}


def circuit_for_tests(*, organisation: Organisation, actor: Any, reference: str, agent: str) -> Circuit:
    """A dossier (test workflow) with one PDF in a circuit whose single visa step awaits ``agent``."""
    from mairie.circuits.services import start_circuit
    from mairie.dossiers.files import store_file
    from mairie.dossiers.models import Dossier
    from mairie.testing.factories import text_pdf_bytes
    from mairie.workflows.models import WorkflowDefinition

    workflow = WorkflowDefinition.objects.for_org(organisation).filter(name="test", is_current=True).first()
    if workflow is None:
        workflow = WorkflowDefinition.objects.create(
            organisation=organisation, name="test", title="Test", definition=TEST_WORKFLOW
        )
    dossier = Dossier.objects.create(
        organisation=organisation,
        holder=organisation,
        reference=reference,
        subject="Dossier de test",
        workflow=workflow,
        status="a",
    )
    item = store_file(
        dossier=dossier,
        content=text_pdf_bytes("Arrêté de test"),
        name="arrete.pdf",
        title="Arrêté",
        actor=actor,
    )
    return start_circuit(dossier=dossier, file=item, steps=[{"kind": "visa", "agent": agent}], actor=actor)
