from __future__ import annotations

from typing import Any

import pytest

from mairie.courrier.services import register_courrier
from mairie.organisations.models import Role
from mairie.organisations.services import add_member
from mairie.testing.personas import World
from mairie.workflows.models import WorkflowDefinition
from mairie.workflows.services import save_definition

# A small workflow that exercises the engine: roles, services, assignee, a condition, an automatic transition,
# actions on a transition and on entering a status.
SIMPLE: dict[str, Any] = {
    "name": "simple",
    "title": "Demande simple",
    "initial": "recue",
    "statuses": [
        {
            "id": "recue",
            "label": "Reçue",
            "on_enter": [{"action": "assign", "service": "Accueil et secrétariat"}],
        },
        {"id": "instruction", "label": "En instruction"},
        {"id": "gros_travaux", "label": "Gros travaux"},
        {"id": "attente", "label": "En attente"},
        {"id": "close", "label": "Close", "final": True},
    ],
    "transitions": [
        {
            "id": "instruire",
            "label": "Instruire",
            "from": ["recue"],
            "to": "instruction",
            "allowed": {"roles": ["courrier", "admin"]},
            "actions": [
                {
                    "action": "create_task",
                    "title": "Étudier la demande",
                    "service": "Services techniques",
                    "delay_days": 5,
                }
            ],
        },
        {
            "id": "gros",
            "label": "Gros travaux",
            "from": ["instruction"],
            "to": "gros_travaux",
            "condition": "data.montant > 5000",
            "allowed": {"services": ["Services techniques"]},
        },
        {
            "id": "attendre",
            "label": "Mettre en attente",
            "from": ["instruction"],
            "to": "attente",
            "actions": [{"action": "timer", "after_days": 3, "transition": "relance"}],
        },
        {"id": "relance", "label": "Relance", "from": ["attente"], "to": "instruction", "automatic": True},
        {
            "id": "clore",
            "label": "Clore",
            "from": "*",
            "to": "close",
            "allowed": {"roles": ["admin", "courrier", "elu"]},
        },
    ],
}


@pytest.fixture
def simple_workflow(world: World) -> WorkflowDefinition:
    return save_definition(organisation=world.commune, actor=None, data=SIMPLE)


@pytest.fixture
def epci_agent(world: World) -> Any:
    membership = add_member(
        actor=None,
        organisation=world.epci,
        username="instructrice-epci",
        first_name="Nadia",
        last_name="Rey",
        email="ads@cc-grand-pic.example",
        roles=[Role.AGENT, Role.COURRIER],
    )
    return membership.user


@pytest.fixture
def incoming(world: World) -> Any:
    from mairie.courrier.models import Contact

    contact = Contact.objects.create(
        organisation=world.commune, name="Martin", first_name="Lucie", email="lucie.martin@example.org"
    )
    return register_courrier(
        organisation=world.commune,
        actor=world.secretary,
        subject="Demande d'abattage d'un platane dangereux",
        contact=contact,
    )
