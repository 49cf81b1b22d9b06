"""The actions registry: stable names, French labels, runners registered by the dossiers app."""

from __future__ import annotations

import pytest

from mairie.workflows.actions import ACTIONS, MissingRunner, register_runner, runner_for

NAMES = {
    "assign",
    "create_task",
    "request_opinions",
    "start_circuit",
    "generate_document",
    "send_email",
    "send_document",
    "share",
    "hand_back",
    "timer",
    "webhook",
    "close",
    "set_data",
}


def test_registry_names_and_labels():
    assert set(ACTIONS) == NAMES
    for name, spec in ACTIONS.items():
        assert spec.name == name and spec.label and spec.description.endswith(".")
    assert ACTIONS["request_opinions"].transition_params == ("then",)
    assert ACTIONS["start_circuit"].transition_params == ("then", "on_refuse")
    assert ACTIONS["timer"].transition_params == ("transition",)


def test_validate_never_raises_on_odd_parameters():
    for spec in ACTIONS.values():
        for params in ({}, {"x": None}, {"from": "x", "steps": 3, "to": 1, "values": None, "url": 5}, []):
            assert isinstance(spec.validate(params, "ici"), list)  # type: ignore[arg-type]


@pytest.fixture
def restore_runner():
    saved = ACTIONS["webhook"].runner
    yield
    ACTIONS["webhook"].runner = saved


def test_register_and_find_a_runner(restore_runner):
    ACTIONS["webhook"].runner = None
    with pytest.raises(MissingRunner, match="Aucune exécution n'est enregistrée pour l'action « webhook »"):
        runner_for("webhook")

    def run(**kwargs):
        return "fait"

    register_runner("webhook", run)
    assert runner_for("webhook") is run
    with pytest.raises(MissingRunner, match="Action inconnue « voler »"):
        runner_for("voler")
    with pytest.raises(KeyError):
        register_runner("voler", run)
