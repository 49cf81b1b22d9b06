"""Fixtures of the parapheur tests: a dossier with PDF files, a test PKI and the mayor's certificate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mairie.dossiers.files import store_file
from mairie.dossiers.models import Dossier, DossierFile
from mairie.organisations.models import Organisation
from mairie.testing.factories import text_pdf_bytes
from mairie.testing.pki import Issued, TestPKI
from mairie.workflows.models import WorkflowDefinition

PIN = "246810"
DEFINITION = {
    "name": "test",
    "title": "Test",
    "initial": "a",
    "statuses": [{"id": "a", "label": "A"}, {"id": "b", "label": "B", "final": True}],
    "transitions": [{"id": "t", "label": "T", "from": ["a"], "to": "b"}],
}


def make_dossier(
    organisation: Organisation, reference: str = "2026-0001", subject: str = "Arrêté"
) -> Dossier:
    workflow = WorkflowDefinition.objects.for_org(organisation).filter(
        name="test"
    ).first() or WorkflowDefinition.objects.create(
        organisation=organisation, name="test", title="Test", definition=DEFINITION
    )
    return Dossier.objects.create(
        organisation=organisation,
        holder=organisation,
        reference=reference,
        subject=subject,
        workflow=workflow,
        status="a",
    )


def pdf_file(dossier: Dossier, title: str = "Arrêté de voirie", actor: Any = None) -> DossierFile:
    content = text_pdf_bytes(f"{title}\nLe maire de la commune arrête :\nArticle 1er : la rue est fermée.")
    return store_file(dossier=dossier, content=content, name="arrete.pdf", title=title, actor=actor)


@pytest.fixture(scope="session")
def pki() -> TestPKI:
    return TestPKI.create()


@pytest.fixture(scope="session")
def mayor_p12(pki: TestPKI) -> Issued:
    return pki.person("Hélène Roussel", organisation="Saint-Aubin-les-Vignes")


@pytest.fixture(scope="session")
def admin_p12(pki: TestPKI) -> Issued:
    return pki.person("Claire Fabre", organisation="Saint-Aubin-les-Vignes")


@pytest.fixture
def dossier(world: Any) -> Dossier:
    return make_dossier(world.commune)


@pytest.fixture
def new_pdf(dossier: Dossier, world: Any) -> Callable[..., DossierFile]:
    def _make(title: str = "Arrêté de voirie") -> DossierFile:
        return pdf_file(dossier, title, actor=world.secretary)

    return _make


@pytest.fixture
def mayor_certificate(world: Any, mayor_p12: Issued) -> Any:
    from mairie.signatures.services import add_personal_certificate

    return add_personal_certificate(
        organisation=world.commune,
        user=world.mayor,
        data=mayor_p12.p12(),
        password=mayor_p12.password,
        pin=PIN,
    )


@pytest.fixture
def admin_certificate(world: Any, admin_p12: Issued) -> Any:
    from mairie.signatures.services import add_personal_certificate

    return add_personal_certificate(
        organisation=world.commune,
        user=world.commune_admin,
        data=admin_p12.p12(),
        password=admin_p12.password,
        pin=PIN,
    )
