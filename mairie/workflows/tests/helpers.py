"""A small valid definition the tests change one thing at a time."""

from __future__ import annotations

import copy
from typing import Any

BASE: dict[str, Any] = {
    "name": "demande-avis-technique",
    "title": "Demande avec avis du service technique et décision du maire",
    "initial": "recue",
    "statuses": [
        {
            "id": "recue",
            "label": "Reçue",
            "on_enter": [{"action": "assign", "service": "Accueil et secrétariat"}],
        },
        {"id": "avis_en_cours", "label": "Avis en cours"},
        {"id": "decision", "label": "Décision du maire"},
        {"id": "cloturee", "label": "Clôturée", "final": True},
    ],
    "transitions": [
        {
            "id": "demander_avis",
            "label": "Demander l'avis technique",
            "from": ["recue"],
            "to": "avis_en_cours",
            "allowed": {
                "roles": ["admin", "courrier", "agent"],
                "services": ["Services techniques"],
                "assignee": True,
            },
            "condition": "data.montant > 5000 and not data.urgent",
            "actions": [
                {
                    "action": "request_opinions",
                    "from": [{"service": "Services techniques"}],
                    "delay_days": 15,
                    "then": "decider",
                }
            ],
        },
        {
            "id": "decider",
            "label": "Passer à la décision",
            "from": ["avis_en_cours"],
            "to": "decision",
            "automatic": True,
        },
        {"id": "refaire", "label": "Redemander l'avis", "from": ["decision"], "to": "avis_en_cours"},
        {"id": "clore", "label": "Clore", "from": "*", "to": "cloturee", "actions": [{"action": "close"}]},
    ],
}


def valid() -> dict[str, Any]:
    return copy.deepcopy(BASE)


def transition(data: dict[str, Any], ident: str) -> dict[str, Any]:
    return next(t for t in data["transitions"] if t["id"] == ident)


def status(data: dict[str, Any], ident: str) -> dict[str, Any]:
    return next(s for s in data["statuses"] if s["id"] == ident)
