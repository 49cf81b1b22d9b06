"""Saving makes versions; the ready-made library validates and installs once; export keeps the text."""

from __future__ import annotations

import pytest

from mairie.audit.models import AuditEntry
from mairie.audit.services import verify_chain
from mairie.workflows import services
from mairie.workflows.definition import Definition, DefinitionError, parse_text, validate
from mairie.workflows.models import WorkflowDefinition

from .helpers import status, valid

SOURCE = """\
# Un commentaire qui doit survivre à l'export.
name: simple
title: Circuit simple
initial: recu
statuses:
  - id: recu
    label: Reçu
  - id: clos
    label: Clos
    final: true
transitions:
  - id: clore
    label: Clore
    from: [recu]
    to: clos
"""


def test_new_name_is_version_1_and_journaled(world):
    wd = services.save_definition(organisation=world.commune, actor=world.commune_admin, text=SOURCE)
    assert (wd.name, wd.version, wd.title, wd.is_current, wd.is_active) == (
        "simple",
        1,
        "Circuit simple",
        True,
        True,
    )
    assert wd.source == SOURCE and wd.definition == parse_text(SOURCE)
    assert wd.created_by == world.commune_admin
    entry = AuditEntry.objects.filter(organisation=world.commune, action="workflow.saved").get()
    assert "Circuit simple" in entry.summary and entry.object_id == str(wd.pk)
    assert verify_chain(world.commune).ok


def test_changed_content_makes_a_new_current_version(world):
    v1 = services.save_definition(organisation=world.commune, actor=None, text=SOURCE)
    v2 = services.save_definition(
        organisation=world.commune, actor=None, text=SOURCE.replace("label: Clore", "label: Terminer")
    )
    v1.refresh_from_db()
    assert v2.version == 2 and v2.is_current and not v1.is_current
    assert services.current_definition(world.commune, "simple") == v2
    assert list(services.versions_of(world.commune, "simple")) == [v2, v1]
    assert list(services.definitions_for(world.commune)) == [v2]
    assert "version 2" in AuditEntry.objects.filter(action="workflow.saved").order_by("-seq").first().summary


def test_same_content_is_not_a_new_version(world):
    v1 = services.save_definition(organisation=world.commune, actor=None, text=SOURCE)
    again = services.save_definition(organisation=world.commune, actor=None, text=SOURCE)
    comments_only = services.save_definition(
        organisation=world.commune, actor=None, text="# autre commentaire\n" + SOURCE
    )
    from_data = services.save_definition(organisation=world.commune, actor=None, data=parse_text(SOURCE))
    assert again.pk == comments_only.pk == from_data.pk == v1.pk
    assert WorkflowDefinition.objects.for_org(world.commune).count() == 1
    assert AuditEntry.objects.filter(action="workflow.saved").count() == 1


def test_invalid_definition_raises_every_problem_and_saves_nothing(world):
    data = valid()
    data["initial"] = "nulle_part"
    status(data, "recue")["on_enter"] = [{"action": "inconnue"}]
    with pytest.raises(DefinitionError) as exc:
        services.save_definition(organisation=world.commune, actor=None, data=data)
    assert len(exc.value.problems) == 2
    with pytest.raises(DefinitionError):
        services.save_definition(organisation=world.commune, actor=None, text="name: [")
    assert not WorkflowDefinition.objects.exists()


def test_versions_are_per_organisation(world):
    a = services.save_definition(organisation=world.commune, actor=None, text=SOURCE)
    b = services.save_definition(organisation=world.other_commune, actor=None, text=SOURCE)
    assert a.pk != b.pk and a.version == b.version == 1
    assert services.current_definition(world.other_commune, "simple") == b


def test_a_dossier_keeps_its_version(world):
    from mairie.dossiers.models import Dossier

    v1 = services.save_definition(organisation=world.commune, actor=None, text=SOURCE)
    dossier = Dossier.objects.create(
        organisation=world.commune,
        reference="D-1",
        subject="Test",
        workflow=v1,
        status="recu",
        holder=world.commune,
    )
    v2 = services.save_definition(
        organisation=world.commune, actor=None, text=SOURCE.replace("Reçu", "Arrivé")
    )
    dossier.refresh_from_db()
    assert dossier.workflow_id == v1.pk and v2.pk != v1.pk


def test_set_active(world):
    services.save_definition(organisation=world.commune, actor=None, text=SOURCE)
    wd = services.set_active(
        organisation=world.commune, actor=world.commune_admin, name="simple", active=False
    )
    assert not wd.is_active
    v2 = services.save_definition(
        organisation=world.commune, actor=None, text=SOURCE.replace("Reçu", "Arrivé")
    )
    assert not v2.is_active  # a new version does not offer a withdrawn definition again


# --- Export -----------------------------------------------------------------------------------------------


def test_export_keeps_the_source_of_the_same_version(world):
    wd = services.save_definition(organisation=world.commune, actor=None, text=SOURCE)
    assert services.export_text(wd) == SOURCE


def test_export_without_source_is_readable_yaml_in_the_documented_order(world):
    wd = services.save_definition(organisation=world.commune, actor=None, data=valid())
    wd.refresh_from_db()  # PostgreSQL's jsonb reorders keys
    text = services.export_text(wd)
    assert text.index("name:") < text.index("title:") < text.index("initial:") < text.index("statuses:")
    assert text.index("- id: demander_avis\n    label:") > 0
    assert "Reçue" in text  # not escaped
    assert parse_text(text) == wd.definition
    again = services.save_definition(organisation=world.commune, actor=None, text=text)
    assert again.pk == wd.pk


# --- Library ----------------------------------------------------------------------------------------------


def test_library_definitions_all_validate():
    texts = services.library_texts()
    assert set(texts) == {"courrier-avec-reponse", "avis-technique-decision-maire", "transmission-epci"}
    for name, text in texts.items():
        assert validate(parse_text(text)) == [], name


def test_library_uses_what_the_brief_asks():
    texts = services.library_texts()
    epci = Definition.from_text(texts["transmission-epci"])
    actions = {call.name: call.params for t in epci.transitions for call in t.actions}
    assert actions["share"]["organisation"] == "@parent" and actions["share"]["purpose"] == "handover"
    assert "hand_back" in actions
    avis = Definition.from_text(texts["avis-technique-decision-maire"])
    calls = [c for t in avis.transitions for c in t.actions] + [c for s in avis.statuses for c in s.on_enter]
    names = {c.name for c in calls}
    assert {"request_opinions", "start_circuit", "timer"} <= names
    courrier = Definition.from_text(texts["courrier-avec-reponse"])
    circuit = next(c for t in courrier.transitions for c in t.actions if c.name == "start_circuit")
    assert [s["kind"] for s in circuit.params["steps"]] == ["visa", "signature"]
    assert circuit.params["steps"][1]["role"] == "elu"
    assert courrier.transition(circuit.params["on_refuse"]).to == "redaction"


def test_install_library_is_idempotent(world):
    installed = services.install_library(world.commune)
    assert sorted(wd.name for wd in installed) == sorted(services.library_texts())
    assert services.install_library(world.commune) == []
    assert WorkflowDefinition.objects.for_org(world.commune).count() == 3
    assert all(wd.created_by is None for wd in installed)


def test_install_library_leaves_a_changed_definition_alone(world):
    services.install_library(world.commune)
    current = services.current_definition(world.commune, "transmission-epci")
    assert current is not None
    changed = services.save_definition(
        organisation=world.commune, actor=None, text=current.source.replace("Reçue en mairie", "Déposée")
    )
    assert services.install_library(world.commune) == []
    assert services.current_definition(world.commune, "transmission-epci") == changed


def test_browser_line_endings_are_normalised(world):
    wd = services.save_definition(organisation=world.commune, actor=None, text=SOURCE.replace("\n", "\r\n"))
    assert wd.source == SOURCE
    assert services.save_definition(organisation=world.commune, actor=None, text=SOURCE).pk == wd.pk
